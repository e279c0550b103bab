//! Connections: a spec without its password, and the password sealed.

use ferry_core::{Error, Result};
use sqlx::any::AnyRow;

use super::{ConnectionRecord, Get, new_id};
use crate::db_error::is_unique_violation;
use crate::{Store, non_empty, now};

const COLUMNS: &str = "SELECT id, name, connector, spec, spec_format, secret, key_id, revision, \
                       created_by, created_at, updated_at FROM ferry_connections ";

fn record(row: &AnyRow) -> Result<ConnectionRecord> {
    crate::check_spec_format(row.int("spec_format")?, "connection")?;
    Ok(ConnectionRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        connector: row.text("connector")?,
        spec: row.text("spec")?,
        secret: row.opt_text("secret")?,
        key_id: row.opt_text("key_id")?,
        revision: row.int("revision")?,
        created_by: row.text("created_by")?,
        created_at: row.text("created_at")?,
        updated_at: row.text("updated_at")?,
    })
}

impl Store {
    /// Stores a new connection; `record.id`, revision and times are set here.
    pub async fn create_connection(&self, mut c: ConnectionRecord) -> Result<ConnectionRecord> {
        non_empty("name", &c.name)?;
        c.id = new_id();
        c.revision = 1;
        c.created_at = now();
        c.updated_at = c.created_at.clone();
        let r = sqlx::query(
            "INSERT INTO ferry_connections (id, name, connector, spec, secret, key_id, revision, \
             created_by, created_at, updated_at, spec_format) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(c.id.as_str())
        .bind(c.name.as_str())
        .bind(c.connector.as_str())
        .bind(c.spec.as_str())
        .bind(c.secret.clone())
        .bind(c.key_id.clone())
        .bind(c.revision)
        .bind(c.created_by.as_str())
        .bind(c.created_at.as_str())
        .bind(c.updated_at.as_str())
        .bind(crate::SPEC_FORMAT)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(c),
            Err(e) if is_unique_violation(&e) => Err(Error::conflict(format!(
                "a connection named `{}` already exists",
                c.name
            ))),
            Err(e) => Err(self.db("creating a connection", e)),
        }
    }

    /// Every connection, by name.
    pub async fn connections(&self) -> Result<Vec<ConnectionRecord>> {
        let rows = sqlx::query(&format!("{COLUMNS} ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db("listing connections", e))?;
        rows.iter().map(record).collect()
    }

    /// The connection with this id or name.
    pub async fn connection(&self, id_or_name: &str) -> Result<ConnectionRecord> {
        let row = sqlx::query(&format!("{COLUMNS} WHERE id = $1 OR name = $2"))
            .bind(id_or_name)
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db("reading a connection", e))?;
        match row {
            Some(r) => record(&r),
            None => Err(Error::not_found("connection", id_or_name)),
        }
    }

    /// Replaces a connection's spec and secret if its revision is still
    /// `expected_revision` (else a conflict).
    pub async fn update_connection(
        &self,
        id: &str,
        expected_revision: i64,
        spec: &str,
        secret: Option<&str>,
        key_id: Option<&str>,
    ) -> Result<ConnectionRecord> {
        let r = sqlx::query(
            "UPDATE ferry_connections SET spec = $1, secret = $2, key_id = $3, \
             revision = revision + 1, updated_at = $4, spec_format = $7 \
             WHERE id = $5 AND revision = $6",
        )
        .bind(spec)
        .bind(secret)
        .bind(key_id)
        .bind(now())
        .bind(id)
        .bind(expected_revision)
        .bind(crate::SPEC_FORMAT)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db("updating a connection", e))?;
        let current = self.connection(id).await?;
        if r.rows_affected() == 0 {
            return Err(stale("connection", expected_revision, current.revision));
        }
        Ok(current)
    }

    /// Deletes a connection no task version still names (checked by the
    /// caller, who knows how specs name connections).
    pub async fn delete_connection(&self, id: &str) -> Result<()> {
        let r = sqlx::query("DELETE FROM ferry_connections WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.db("deleting a connection", e))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found("connection", id));
        }
        Ok(())
    }
}

/// The conflict of a change made against an old revision.
pub(crate) fn stale(what: &str, expected: i64, current: i64) -> Error {
    Error::conflict(format!(
        "the {what} changed since you read it (you sent revision {expected}, it is at \
         revision {current}); read it again and retry"
    ))
}
