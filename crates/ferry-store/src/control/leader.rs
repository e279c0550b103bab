//! Leadership for cluster-wide singletons (the scheduler).
//!
//! PostgreSQL: a session advisory lock taken with `pg_try_advisory_lock` on
//! a connection the leader keeps for as long as it leads, so the lock goes
//! away with the leader's connection. SQLite: one node per store file, so
//! the caller always leads.

use ferry_core::Result;
use sqlx::pool::PoolConnection;

use super::Get;
use crate::{Backend, Store};

/// Held while leading.
pub struct Leadership {
    conn: Option<PoolConnection<sqlx::Any>>,
    store: Store,
    key: i64,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("key", &self.key)
            .finish()
    }
}

impl Store {
    /// Becomes the leader for `key` if no one else is.
    pub async fn try_lead(&self, key: i64) -> Result<Option<Leadership>> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(Leadership {
                conn: None,
                store: self.clone(),
                key,
            }));
        }
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| self.db("taking a connection for leadership", e))?;
        let row = sqlx::query("SELECT CAST(pg_try_advisory_lock($1) AS INTEGER) AS got")
            .bind(key)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.db("trying the leader lock", e))?;
        if row.int("got")? == 1 {
            // The lock lives with this session: keep the connection out of
            // the pool for as long as this node leads.
            Ok(Some(Leadership {
                conn: Some(conn),
                store: self.clone(),
                key,
            }))
        } else {
            Ok(None)
        }
    }
}

impl Leadership {
    /// Checks the leader's connection (and so the lock) is still there.
    pub async fn check(&mut self) -> Result<()> {
        if let Some(conn) = &mut self.conn {
            sqlx::query("SELECT 1")
                .execute(&mut **conn)
                .await
                .map_err(|e| self.store.db("checking the leader's connection", e))?;
        }
        Ok(())
    }

    /// Gives the leadership up.
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut *conn)
                .await;
        }
    }
}
