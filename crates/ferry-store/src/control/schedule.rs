//! The built-in scheduler's durable state: which tasks it drives and the
//! newest logical time it handled for each.

use ferry_core::Result;

use super::tasks::{task, version};
use super::{Get, TaskRecord, TaskVersion};
use crate::{Store, now};

/// Where the scheduler stands with one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleState {
    /// The task version whose schedule it followed.
    pub version: i64,
    /// The newest logical time handled.
    pub last_logical_time: Option<String>,
}

/// Tasks joined with their approved version (`t.`, `v.`).
pub(super) const APPROVED_TASKS: &str = "SELECT t.id, t.name, t.state, t.latest_version, t.approved_version, t.max_parallel, \
     t.revision, t.created_by, t.created_at, t.updated_at, \
     v.task_id, v.version, v.spec, v.spec_format, v.schedule, v.secret, v.key_id, v.review, v.author, \
     v.created_at AS v_created_at \
     FROM ferry_tasks t JOIN ferry_task_versions v \
     ON v.task_id = t.id AND v.version = t.approved_version ";

/// A row of [`APPROVED_TASKS`].
pub(super) fn task_with_version(r: &sqlx::any::AnyRow) -> Result<(TaskRecord, TaskVersion)> {
    let t = task(r)?;
    let mut v = version(r)?;
    v.created_at = r.text("v_created_at")?;
    Ok((t, v))
}

impl Store {
    /// Active tasks whose approved version has a schedule, with that
    /// version.
    pub async fn scheduled_tasks(&self) -> Result<Vec<(TaskRecord, TaskVersion)>> {
        let rows = sqlx::query(&format!(
            "{APPROVED_TASKS} WHERE t.state = 'active' AND v.schedule IS NOT NULL ORDER BY t.name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db("listing scheduled tasks", e))?;
        rows.iter().map(task_with_version).collect()
    }

    /// The scheduler's state for a task.
    pub async fn schedule_state(&self, task_id: &str) -> Result<Option<ScheduleState>> {
        let row = sqlx::query(
            "SELECT version, last_logical_time FROM ferry_schedule_state WHERE task_id = $1",
        )
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db("reading the schedule state", e))?;
        row.map(|r| {
            Ok(ScheduleState {
                version: r.int("version")?,
                last_logical_time: r.opt_text("last_logical_time")?,
            })
        })
        .transpose()
    }

    /// Records the newest logical time handled for a task.
    pub async fn set_schedule_state(&self, task_id: &str, s: &ScheduleState) -> Result<()> {
        sqlx::query(
            "INSERT INTO ferry_schedule_state (task_id, version, last_logical_time, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (task_id) DO UPDATE SET \
             version = excluded.version, last_logical_time = excluded.last_logical_time, \
             updated_at = excluded.updated_at",
        )
        .bind(task_id)
        .bind(s.version)
        .bind(s.last_logical_time.clone())
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| self.db("saving the schedule state", e))?;
        Ok(())
    }

    /// Whether the task has a queued or running instance.
    pub async fn has_unfinished_instances(&self, task_id: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT count(*) AS n FROM ferry_instances WHERE task_id = $1 \
             AND state IN ('queued', 'running')",
        )
        .bind(task_id)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.db("counting unfinished instances", e))?;
        Ok(row.int("n")? > 0)
    }
}
