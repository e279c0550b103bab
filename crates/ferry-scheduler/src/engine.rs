//! The plugin framework: a [`ScheduleEngine`] turns a task's schedule into
//! instances. `builtin` is Ferry's own durable trigger loop; `airflow` and
//! `dolphinscheduler` register the schedule with that system, which then
//! calls Ferry's idempotent trigger endpoint
//! (`POST /api/v1/tasks/{id}/instances {logical_time, run_key}`) and polls
//! the instance; `none` leaves triggering to callers of that endpoint.
//! Ferry computes every window itself: an engine supplies only the logical
//! time.

use async_trait::async_trait;
use ferry_core::Result;
use ferry_core::schedule::ValidSchedule;

/// What an engine needs to know about one task.
#[derive(Debug, Clone)]
pub struct ScheduledTask {
    /// Ferry's task id.
    pub task_id: String,
    /// Ferry's task name (unique; engines derive their object names from it).
    pub name: String,
    /// The approved version's schedule.
    pub schedule: ValidSchedule,
    /// Whether the task is active (else registered paused).
    pub active: bool,
}

/// What an engine reports about a task it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineStatus {
    /// The engine's name.
    pub engine: String,
    /// Whether the engine knows the task.
    pub registered: bool,
    /// Whether it is paused there.
    pub paused: bool,
    /// The engine's own id or URL of the schedule, if any.
    pub reference: Option<String>,
}

/// A scheduler that drives a task's instances.
#[async_trait]
pub trait ScheduleEngine: Send + Sync {
    /// `builtin`, `airflow`, `dolphinscheduler`, `none`.
    fn name(&self) -> &'static str;
    /// Creates the task's schedule there, or replaces it (idempotent).
    async fn register(&self, task: &ScheduledTask) -> Result<()>;
    /// Removes it (idempotent: an unknown task is fine).
    async fn unregister(&self, task: &str) -> Result<()>;
    /// Stops triggering it.
    async fn pause(&self, task: &str) -> Result<()>;
    /// Triggers it again.
    async fn resume(&self, task: &str) -> Result<()>;
    /// What the engine holds for it.
    async fn describe(&self, task: &str) -> Result<EngineStatus>;
}
