//! What the external schedule engines hold for each task, as the server's
//! engine reconciler last made it (`ferry_engine_sync`), and the tasks it
//! reconciles.

use ferry_core::Result;

use super::schedule::{APPROVED_TASKS, task_with_version};
use super::{Get, TaskRecord, TaskVersion};
use crate::Store;

/// One task's registration in an external engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSync {
    /// The task.
    pub task_id: String,
    /// Its name when registered (engines name their objects after it).
    pub task_name: String,
    /// `airflow` or `dolphinscheduler`.
    pub engine: String,
    /// What was registered (schedule, name and state), as a digest.
    pub fingerprint: String,
    /// Whether the engine holds the task.
    pub registered: bool,
    /// Whether it triggers there (else paused).
    pub active: bool,
    /// When the reconciler last acted on it.
    pub synced_at: String,
    /// The last attempt's error, if it failed.
    pub error: Option<String>,
}

impl Store {
    /// Every task with an approved version, deleted ones included, with that
    /// version: the reconciler's input.
    pub async fn approved_tasks(&self) -> Result<Vec<(TaskRecord, TaskVersion)>> {
        let rows = sqlx::query(&format!("{APPROVED_TASKS} ORDER BY t.created_at, t.id"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db("listing approved tasks", e))?;
        rows.iter().map(task_with_version).collect()
    }

    /// Every recorded registration.
    pub async fn engine_syncs(&self) -> Result<Vec<EngineSync>> {
        let rows = sqlx::query(&format!("{SYNC_COLUMNS} ORDER BY task_id"))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db("listing engine registrations", e))?;
        rows.iter().map(sync).collect()
    }

    /// A task's registration, if it ever had one.
    pub async fn engine_sync(&self, task_id: &str) -> Result<Option<EngineSync>> {
        let row = sqlx::query(&format!("{SYNC_COLUMNS} WHERE task_id = $1"))
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db("reading an engine registration", e))?;
        row.as_ref().map(sync).transpose()
    }

    /// Records a task's registration (insert or replace).
    pub async fn put_engine_sync(&self, s: &EngineSync) -> Result<()> {
        sqlx::query(
            "INSERT INTO ferry_engine_sync \
             (task_id, task_name, engine, fingerprint, registered, active, synced_at, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (task_id) DO UPDATE SET task_name = excluded.task_name, \
             engine = excluded.engine, fingerprint = excluded.fingerprint, \
             registered = excluded.registered, active = excluded.active, \
             synced_at = excluded.synced_at, error = excluded.error",
        )
        .bind(s.task_id.as_str())
        .bind(s.task_name.as_str())
        .bind(s.engine.as_str())
        .bind(s.fingerprint.as_str())
        .bind(i64::from(s.registered))
        .bind(i64::from(s.active))
        .bind(s.synced_at.as_str())
        .bind(s.error.clone())
        .execute(&self.pool)
        .await
        .map_err(|e| self.db("recording an engine registration", e))?;
        Ok(())
    }
}

const SYNC_COLUMNS: &str = "SELECT task_id, task_name, engine, fingerprint, registered, active, \
                            synced_at, error FROM ferry_engine_sync ";

fn sync(r: &sqlx::any::AnyRow) -> Result<EngineSync> {
    Ok(EngineSync {
        task_id: r.text("task_id")?,
        task_name: r.text("task_name")?,
        engine: r.text("engine")?,
        fingerprint: r.text("fingerprint")?,
        registered: r.int("registered")? != 0,
        active: r.int("active")? != 0,
        synced_at: r.text("synced_at")?,
        error: r.opt_text("error")?,
    })
}
