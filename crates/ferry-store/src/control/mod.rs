//! The control plane's records: users and tokens, connections, tasks with
//! their versions and approvals, instances, attempts and their logs.
//!
//! The store only keeps state and makes each change atomic and guarded
//! (`WHERE revision = …`, `WHERE state IN (…)`); the rules of who may do
//! what live in `ferry-server`'s services. A guarded change that finds the
//! row changed or in another state is [`ferry_core::ErrorKind::Conflict`];
//! a missing row is [`ferry_core::ErrorKind::NotFound`].

mod attempts;
mod connections;
mod engine_sync;
mod instances;
mod leader;
mod records;
mod schedule;
mod tasks;
mod users;

pub use attempts::{AttemptOutcome, LogLine};
pub use engine_sync::EngineSync;
pub use instances::{BATCH_INSTANCES, Claim, InstanceFilter, NewInstance};
pub use leader::Leadership;
pub use records::*;
pub use schedule::ScheduleState;
pub use tasks::{NewTask, Sealed, TaskEdit};

use rand::RngCore;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, Store};
use ferry_core::{Error, Result};

/// A new random id: 16 bytes, hex (sortable by nothing; never guessable).
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Typed column access with errors that name the column.
pub(crate) trait Get {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
}

impl Get for AnyRow {
    fn text(&self, col: &str) -> Result<String> {
        self.try_get(col).map_err(|e| column_error(col, e))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.try_get(col).map_err(|e| column_error(col, e))
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.try_get(col).map_err(|e| column_error(col, e))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        self.try_get(col).map_err(|e| column_error(col, e))
    }
}

fn column_error(col: &str, e: sqlx::Error) -> Error {
    Error::Internal(format!("reading column `{col}` of the state store: {e}"))
}

impl Store {
    /// Begins a transaction that holds the write lock from its first
    /// statement. SQLite takes the lock lazily, so a transaction that reads
    /// before it writes can fail to upgrade when another connection wrote in
    /// between; a no-op write first makes it queue on `busy_timeout` instead.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| self.db("beginning a transaction", e))?;
        if self.backend == Backend::Sqlite {
            sqlx::query("UPDATE ferry_tasks SET revision = revision WHERE 0 = 1")
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db("taking the write lock", e))?;
        }
        Ok(tx)
    }

    /// Commits `tx`, naming what it did in the error.
    pub(crate) async fn commit(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Any>,
        doing: &str,
    ) -> Result<()> {
        tx.commit()
            .await
            .map_err(|e| self.db(&format!("committing {doing}"), e))
    }
}
