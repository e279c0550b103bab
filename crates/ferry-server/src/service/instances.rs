//! Instances: one per task and logical time. Starting one (now, at a
//! logical time, or idempotently by an external scheduler's run key), and
//! backfilling a range of the schedule's logical times in batches.

use chrono::{DateTime, Utc};
use ferry_core::schedule::ScheduleSpec;
use ferry_core::{Error, Result};
use ferry_scheduler::grid::{Grid, MAX_TIMES};
use ferry_store::control::{Instance, NewInstance, TaskRecord, TaskState, Trigger};

/// An RFC 3339 instant sent as `field`.
pub fn instant(field: &str, t: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            Error::invalid(
                field,
                format!("`{t}` is not an RFC 3339 instant like 2026-01-01T00:00:00Z: {e}"),
            )
        })
}

/// The approved version and its grid, for a task that may get instances.
pub async fn runnable(s: &crate::app::AppState, t: &TaskRecord) -> Result<(i64, Option<Grid>)> {
    if !matches!(t.state, TaskState::Approved | TaskState::Active) {
        return Err(Error::Conflict(format!(
            "task `{}` is {}; instances need an approved, not paused task",
            t.name, t.state
        )));
    }
    let version = t
        .approved_version
        .ok_or_else(|| Error::Conflict("the task has no approved version".into()))?;
    let v = s.store.task_version(&t.id, version).await?;
    let grid = match v.schedule.as_deref() {
        Some(text) => {
            let spec: ScheduleSpec =
                serde_json::from_str(text).map_err(|e| Error::Internal(e.to_string()))?;
            Some(Grid::new(&spec.validate()?))
        }
        None => None,
    };
    Ok((version, grid))
}

/// What to start: a logical time (default: the schedule's latest before
/// now, or now), a window (default: the schedule's), a run key.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    /// The logical time, RFC 3339.
    pub logical_time: Option<String>,
    /// The window's start, RFC 3339 (with `window_end`).
    pub window_start: Option<String>,
    /// The window's end, RFC 3339.
    pub window_end: Option<String>,
    /// Makes the call idempotent: the same key gives the same instance.
    pub run_key: Option<String>,
}

/// Creates (or, for a known run key, finds) the instance; `true` when created.
pub async fn start(
    s: &crate::app::AppState,
    t: &TaskRecord,
    req: &StartRequest,
    by: &str,
) -> Result<(Instance, bool)> {
    let (version, grid) = runnable(s, t).await?;
    let logical_time = match (&req.logical_time, &grid) {
        (Some(lt), _) => instant("logical_time", lt)?,
        (None, Some(g)) => g.at_or_before(Utc::now()).ok_or_else(|| {
            Error::invalid(
                "logical_time",
                "the schedule has no logical time before now",
            )
        })?,
        (None, None) => {
            let now = Utc::now();
            now - chrono::Duration::nanoseconds(i64::from(chrono::Timelike::nanosecond(&now)))
        }
    };
    let window = match (&req.window_start, &req.window_end) {
        (Some(a), Some(b)) => {
            let (a, b) = (instant("window_start", a)?, instant("window_end", b)?);
            if b <= a {
                return Err(Error::invalid("window_end", "must be after window_start"));
            }
            Some((a, b))
        }
        (None, None) => match &grid {
            Some(g) => Some(g.window(logical_time)?),
            None => None,
        },
        _ => {
            return Err(Error::invalid(
                "window_end",
                "give both window_start and window_end, or neither",
            ));
        }
    };
    if let Some(k) = &req.run_key
        && (k.is_empty() || k.len() > 250)
    {
        return Err(Error::invalid("run_key", "must be 1–250 characters"));
    }
    let fmt = ferry_store::format_timestamp;
    let (instance, created) = s
        .store
        .create_instance(&NewInstance {
            task_id: t.id.clone(),
            version,
            logical_time: fmt(logical_time),
            window_start: window.map(|w| fmt(w.0)),
            window_end: window.map(|w| fmt(w.1)),
            trigger: if req.run_key.is_some() {
                Trigger::External
            } else {
                Trigger::Manual
            },
            run_key: req.run_key.clone(),
            created_by: Some(by.to_string()),
        })
        .await?;
    if created {
        tracing::info!(by, task = %t.name, instance = %instance.id, logical_time = %instance.logical_time, "instance queued");
    }
    Ok((instance, created))
}

/// Polls the instance until it ends or `seconds` pass.
pub async fn wait_for_end(
    s: &crate::app::AppState,
    mut instance: Instance,
    seconds: u64,
) -> Result<Instance> {
    use ferry_store::control::InstanceState::{Queued, Running};
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while matches!(instance.state, Queued | Running) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        instance = s.store.instance(&instance.id).await?;
    }
    Ok(instance)
}

/// What a backfill did: the instances it created, and the logical times
/// that had one already.
#[derive(Debug, Clone, Default)]
pub struct Backfilled {
    /// Created and queued.
    pub created: Vec<Instance>,
    /// Logical times that already had an instance (left alone).
    pub existing: Vec<String>,
}

/// Creates the missing instances of the schedule's logical times in
/// `[from, to]` (at most `MAX_TIMES`: more is an error naming `to`), each
/// with its window, `BATCH_INSTANCES` per transaction.
pub async fn backfill(
    s: &crate::app::AppState,
    t: &TaskRecord,
    from: &str,
    to: &str,
    by: &str,
) -> Result<Backfilled> {
    let from = instant("from", from)?;
    let to = instant("to", to)?;
    if to < from {
        return Err(Error::invalid("to", "must not be before `from`"));
    }
    let (version, grid) = runnable(s, t).await?;
    let grid = grid.ok_or_else(|| {
        Error::Conflict(format!(
            "task `{}` has no schedule, so it has no logical times to backfill; start instances with explicit logical times instead",
            t.name
        ))
    })?;
    let times = grid.times_between(from - chrono::Duration::milliseconds(1), to, MAX_TIMES)?;
    let fmt = ferry_store::format_timestamp;
    let mut result = Backfilled::default();
    for chunk in times.chunks(ferry_store::control::BATCH_INSTANCES) {
        let batch = chunk
            .iter()
            .map(|&lt| {
                let (start, end) = grid.window(lt)?;
                Ok(NewInstance {
                    task_id: t.id.clone(),
                    version,
                    logical_time: fmt(lt),
                    window_start: Some(fmt(start)),
                    window_end: Some(fmt(end)),
                    trigger: Trigger::Backfill,
                    run_key: None,
                    created_by: Some(by.to_string()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let created = s.store.create_instances(&batch).await?;
        let mut created_times = std::collections::HashSet::new();
        for id in &created {
            let i = s.store.instance(id).await?;
            created_times.insert(i.logical_time.clone());
            result.created.push(i);
        }
        result.existing.extend(
            batch
                .into_iter()
                .map(|n| n.logical_time)
                .filter(|lt| !created_times.contains(lt)),
        );
    }
    tracing::info!(by, task = %t.name, created = result.created.len(), existing = result.existing.len(), "backfill");
    Ok(result)
}
