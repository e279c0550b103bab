//! Attempts: their results, and their captured log lines.

use ferry_core::{Error, Result};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::{Attempt, AttemptState, Get, InstanceState};
use crate::Store;

const COLUMNS: &str = "SELECT id, instance_id, number, runner, run_id, state, started_at, finished_at, \
                       rows_read, rows_written, bytes, rows_dirty, duration_ms, verified, error_kind, \
                       error_message, dirty_location FROM ferry_attempts ";

/// How an attempt ended, as its runner reports it.
#[derive(Debug, Clone, Default)]
pub struct AttemptOutcome {
    /// `succeeded`, `failed` or `cancelled`.
    pub state: Option<AttemptState>,
    /// Rows read.
    pub rows_read: Option<i64>,
    /// Rows written.
    pub rows_written: Option<i64>,
    /// Bytes moved.
    pub bytes: Option<i64>,
    /// Dirty rows.
    pub rows_dirty: Option<i64>,
    /// Wall time.
    pub duration_ms: Option<i64>,
    /// Counts checked out.
    pub verified: Option<bool>,
    /// Error kind.
    pub error_kind: Option<String>,
    /// Error message.
    pub error_message: Option<String>,
    /// Where dirty rows went.
    pub dirty_location: Option<String>,
    /// For a failed attempt with retries left: when the instance may run
    /// again (it goes back to the queue instead of failing).
    pub retry_at: Option<String>,
}

/// One captured log line of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LogLine {
    /// Order within the attempt, from 1.
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG`.
    pub level: String,
    /// The message with its fields.
    pub message: String,
}

fn attempt(row: &AnyRow) -> Result<Attempt> {
    Ok(Attempt {
        id: row.text("id")?,
        instance_id: row.text("instance_id")?,
        number: row.int("number")?,
        runner: row.text("runner")?,
        run_id: row.opt_text("run_id")?,
        state: row.text("state")?.parse()?,
        started_at: row.text("started_at")?,
        finished_at: row.opt_text("finished_at")?,
        rows_read: row.opt_int("rows_read")?,
        rows_written: row.opt_int("rows_written")?,
        bytes: row.opt_int("bytes")?,
        rows_dirty: row.opt_int("rows_dirty")?,
        duration_ms: row.opt_int("duration_ms")?,
        verified: row.opt_int("verified")?.map(|v| v != 0),
        error_kind: row.opt_text("error_kind")?,
        error_message: row.opt_text("error_message")?,
        dirty_location: row.opt_text("dirty_location")?,
    })
}

impl Store {
    /// The attempts of an instance, first first.
    pub async fn attempts(&self, instance_id: &str) -> Result<Vec<Attempt>> {
        let rows = sqlx::query(&format!("{COLUMNS} WHERE instance_id = $1 ORDER BY number"))
            .bind(instance_id)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db("listing attempts", e))?;
        rows.iter().map(attempt).collect()
    }

    /// One attempt.
    pub async fn attempt(&self, id: &str) -> Result<Attempt> {
        let row = sqlx::query(&format!("{COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db("reading an attempt", e))?;
        match row {
            Some(r) => attempt(&r),
            None => Err(Error::not_found("attempt", id)),
        }
    }

    /// Records the engine's run id of an attempt.
    pub async fn set_attempt_run_id(&self, attempt_id: &str, run_id: &str) -> Result<()> {
        sqlx::query("UPDATE ferry_attempts SET run_id = $1 WHERE id = $2")
            .bind(run_id)
            .bind(attempt_id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.db("recording an attempt's run id", e))?;
        Ok(())
    }

    /// Records how an attempt ended and, if `runner` still holds the
    /// instance's lease, moves the instance to the matching state and
    /// releases the lease (one transaction). Returns whether the instance
    /// was updated: `false` when another runner took it over meanwhile.
    pub async fn finish_attempt(
        &self,
        attempt_id: &str,
        instance_id: &str,
        runner: &str,
        o: &AttemptOutcome,
    ) -> Result<bool> {
        let state = o.state.unwrap_or(AttemptState::Failed);
        // A lost attempt (its server shut down) puts the instance back in
        // the queue for another attempt.
        let instance_state = match state {
            AttemptState::Succeeded => InstanceState::Succeeded,
            AttemptState::Cancelled => InstanceState::Cancelled,
            AttemptState::Lost => InstanceState::Queued,
            AttemptState::Failed if o.retry_at.is_some() => InstanceState::Queued,
            AttemptState::Failed | AttemptState::Running => InstanceState::Failed,
        };
        let mut tx = self.begin_write().await?;
        // The store's clock, as for the start (claim) and the lease: an
        // attempt's times come from one clock, whichever node ran it.
        let at = crate::format_timestamp(self.store_now(&mut *tx).await?);
        let finished_at = (instance_state != InstanceState::Queued).then(|| at.clone());
        sqlx::query(
            "UPDATE ferry_attempts SET state = $1, finished_at = $2, rows_read = $3, \
             rows_written = $4, bytes = $5, rows_dirty = $6, duration_ms = $7, verified = $8, \
             error_kind = $9, error_message = $10, dirty_location = $11 \
             WHERE id = $12 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(at.as_str())
        .bind(o.rows_read)
        .bind(o.rows_written)
        .bind(o.bytes)
        .bind(o.rows_dirty)
        .bind(o.duration_ms)
        .bind(o.verified.map(i64::from))
        .bind(o.error_kind.clone())
        .bind(o.error_message.clone())
        .bind(o.dirty_location.clone())
        .bind(attempt_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.db("recording an attempt's result", e))?;
        let r = sqlx::query(
            "UPDATE ferry_instances SET state = $1, finished_at = $2, not_before = $3, \
             lease_owner = NULL, lease_expires_at = NULL, cancel_requested = 0, \
             revision = revision + 1 WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
        )
        .bind(instance_state.as_str())
        .bind(finished_at)
        .bind(o.retry_at.clone())
        .bind(instance_id)
        .bind(runner)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.db("recording an instance's result", e))?;
        self.commit(tx, "an attempt's result").await?;
        Ok(r.rows_affected() == 1)
    }

    /// Appends log lines to an attempt (their `seq` is set by the caller,
    /// increasing).
    pub async fn append_logs(&self, attempt_id: &str, lines: &[LogLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for l in lines {
            sqlx::query(
                "INSERT INTO ferry_attempt_logs (attempt_id, seq, at, level, message) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(attempt_id)
            .bind(l.seq)
            .bind(l.at.as_str())
            .bind(l.level.as_str())
            .bind(l.message.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db("storing log lines", e))?;
        }
        self.commit(tx, "log lines").await
    }

    /// Log lines of an attempt with `seq > after`, at most `limit`.
    pub async fn logs(&self, attempt_id: &str, after: i64, limit: i64) -> Result<Vec<LogLine>> {
        let rows = sqlx::query(
            "SELECT seq, at, level, message FROM ferry_attempt_logs \
             WHERE attempt_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(attempt_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db("reading log lines", e))?;
        rows.iter()
            .map(|r| {
                Ok(LogLine {
                    seq: r.int("seq")?,
                    at: r.text("at")?,
                    level: r.text("level")?,
                    message: r.text("message")?,
                })
            })
            .collect()
    }
}
