//! The built-in engine's trigger loop, one [`tick`] at a time.
//!
//! A tick looks at every active task whose approved version has a
//! schedule, computes the logical times that have come due since the last
//! one it handled (`due = logical time + delay ≤ now`), applies the
//! misfire and overlap policies, creates the instances, and records the
//! newest logical time handled. Everything it knows lives in the store, so
//! a restarted (or another elected) scheduler continues exactly where the
//! last one stopped: instance creation is idempotent through the UNIQUE
//! `(task, logical time)`, so a crash between creating an instance and
//! recording the progress repeats nothing.
//!
//! * **Misfire**: a logical time is *on time* if it is handled within
//!   [`GRACE`] of its due time, else *missed* (the scheduler was down or
//!   the task paused). `skip` drops missed times, `run_once` runs only the
//!   newest missed time, `catch_up` runs every missed time up to
//!   `max_catch_up` (the newest ones).
//! * **Overlap**: `skip` creates no instance while one of the task is queued
//!   or running; `queue` and `parallel` create it (the runners then run one
//!   at a time, or up to `max_parallel`).
//! * **First activation**: without `start_time` the schedule starts at the
//!   first logical time after the tick that sees it (history is not
//!   backfilled; use a backfill); with a past `start_time`, the times since
//!   then are missed times under the misfire policy.

use chrono::{DateTime, Duration, Utc};
use ferry_core::Result;
use ferry_core::schedule::{Overlap, ScheduleSpec};
use ferry_store::Store;
use ferry_store::control::{NewInstance, ScheduleState, Trigger};

use crate::policy::{Misfire, Policy};
use crate::schedule::Schedule as Grid;

/// How late a due time may be handled and still count as on time.
pub const GRACE: Duration = Duration::seconds(60);

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Instances created.
    pub created: usize,
    /// Due logical times that already had an instance.
    pub existing: usize,
    /// Logical times skipped by the misfire or overlap policy.
    pub skipped: usize,
}

/// Handles every scheduled task once, at `now`.
pub async fn tick(store: &Store, now: DateTime<Utc>) -> Result<TickReport> {
    let mut report = TickReport::default();
    for (task, version) in store.scheduled_tasks().await? {
        let Some(text) = version.schedule.as_deref() else {
            continue;
        };
        let spec: ScheduleSpec = match serde_json::from_str(text) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(task = %task.name, error = %e, "unreadable stored schedule; skipped");
                continue;
            }
        };
        let valid = match spec.validate() {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(task = %task.name, error = %e, "invalid stored schedule; skipped");
                continue;
            }
        };
        if !Policy::of(&valid).triggers_builtin() {
            continue;
        }
        let r = tick_task(store, &task.id, version.version, &valid, now).await?;
        report.created += r.created;
        report.existing += r.existing;
        report.skipped += r.skipped;
    }
    Ok(report)
}

async fn tick_task(
    store: &Store,
    task_id: &str,
    version: i64,
    valid: &ferry_core::schedule::ValidSchedule,
    now: DateTime<Utc>,
) -> Result<TickReport> {
    let grid = Grid::new(valid);
    let policy = Policy::of(valid);
    let mut report = TickReport::default();
    let fmt = ferry_store::format_timestamp;
    let parse = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let state = store.schedule_state(task_id).await?;
    let horizon = now - policy.delay;
    let last = match state.as_ref().and_then(|s| s.last_logical_time.as_deref()) {
        Some(t) => parse(t),
        None => match valid.start {
            // From start_time (inclusive).
            Some(start) => Some(start - Duration::milliseconds(1)),
            // From now on.
            None => grid.at_or_before(horizon),
        },
    };
    let Some(last) = last else {
        return Ok(report);
    };
    if state.is_none() {
        store
            .set_schedule_state(
                task_id,
                &ScheduleState {
                    version,
                    last_logical_time: Some(fmt(last)),
                },
            )
            .await?;
    }
    if horizon <= last {
        return Ok(report);
    }
    let due = grid.times_between(last, horizon, crate::schedule::MAX_TIMES * 10)?;
    let Some(&newest) = due.last() else {
        return Ok(report);
    };
    let (missed, on_time): (Vec<_>, Vec<_>) =
        due.iter().partition(|&&t| now - (t + policy.delay) > GRACE);
    let mut chosen: Vec<DateTime<Utc>> = match policy.misfire {
        Misfire::Skip => Vec::new(),
        Misfire::RunOnce => missed.last().copied().into_iter().collect(),
        Misfire::CatchUp(cap) => {
            let skip = missed.len().saturating_sub(cap);
            missed[skip..].to_vec()
        }
    };
    report.skipped += missed.len() - chosen.len();
    chosen.extend(on_time);
    for t in chosen {
        if policy.overlap == Overlap::Skip && store.has_unfinished_instances(task_id).await? {
            report.skipped += 1;
            tracing::info!(task = %task_id, logical_time = %fmt(t), "overlap skip: an instance is still queued or running");
            continue;
        }
        let (start, end) = grid.window(t)?;
        match store
            .create_instance(&NewInstance {
                task_id: task_id.to_string(),
                version,
                logical_time: fmt(t),
                window_start: Some(fmt(start)),
                window_end: Some(fmt(end)),
                trigger: Trigger::Schedule,
                run_key: None,
                created_by: Some("scheduler".into()),
            })
            .await
        {
            Ok(_) => report.created += 1,
            Err(e) if e.kind() == ferry_core::ErrorKind::Conflict => report.existing += 1,
            Err(e) => return Err(e),
        }
    }
    store
        .set_schedule_state(
            task_id,
            &ScheduleState {
                version,
                last_logical_time: Some(fmt(newest)),
            },
        )
        .await?;
    Ok(report)
}
