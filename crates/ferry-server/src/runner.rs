//! Runs one task with its state: the saved watermark in, the run recorded,
//! the new watermark saved only once the publish committed.
//!
//! ```text
//!  repair  a run left 'publishing' by a crash: the sink's checkpoint says
//!          whether its publish committed → store it as succeeded (with its
//!          watermark) or leave it
//!  begin   ferry_runs: running, watermark_from
//!  execute read (after, high] … write … before_publish: ferry_runs → publishing(high)
//!          sink COMMIT (data + checkpoint in one transaction)
//!  finish  one store transaction: run → succeeded, ferry_watermarks = high
//! ```
//!
//! The `ferry run` CLI and the server's runner share this path, so both
//! keep the same guarantees. `FERRY_FAILPOINT=after_publish` aborts the
//! process between the sink's commit and the store's update, for the crash
//! tests.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferry_core::pushdown::RunParams;
use ferry_core::{Error, Result, ValidatedTask};
use ferry_engine::{CancellationToken, ProgressFn, RunInput, RunOptions, RunSummary};
use ferry_store::{NewRun, RunCounts, RunStatus, Store, Watermark, format_timestamp};

/// Environment variable naming a fault-injection point (tests only).
pub const FAILPOINT_ENV: &str = "FERRY_FAILPOINT";

/// One run of a task.
pub struct RunRequest<'a> {
    /// The task.
    pub task: &'a ValidatedTask,
    /// Where watermarks and run history live; required by incremental modes.
    pub store: Option<Arc<Store>>,
    /// Logical time and window.
    pub params: RunParams,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
    /// Stops the run (target unchanged).
    pub cancel: CancellationToken,
    /// The run's id; default: a new one.
    pub run_id: Option<String>,
}

/// Runs the task; see the module docs for the order of events.
pub async fn run_task(req: RunRequest<'_>) -> Result<RunSummary> {
    let task = req.task;
    let name = &task.spec.name;
    if task.spec.mode.is_incremental() && req.store.is_none() {
        return Err(Error::invalid(
            "state",
            format!(
                "mode {} keeps its watermark in a state store: pass --state PATH (a SQLite file, created if missing)",
                task.spec.mode
            ),
        ));
    }
    let source = task.source.open()?;
    let sink = task.sink.open()?;
    let dirty_table = task.dirty_table.as_ref().map(|d| d.open()).transpose()?;
    let Some(store) = req.store else {
        let options = RunOptions {
            input: RunInput {
                params: req.params,
                watermark: None,
            },
            run_id: req.run_id.clone(),
            ..RunOptions::default()
        };
        return ferry_engine::execute_run(
            task,
            source.as_ref(),
            sink.as_ref(),
            dirty_table.as_deref(),
            options,
            req.progress,
            req.cancel,
        )
        .await;
    };
    repair(&store, name, sink.as_ref()).await?;
    let saved = store.watermark(name).await?;
    let run_id = req
        .run_id
        .clone()
        .unwrap_or_else(|| ferry_engine::new_run_id(name));
    let from = saved.map(|s| s.watermark);
    let instant = |t: Option<DateTime<Utc>>| t.map(format_timestamp);
    store
        .begin_run(&NewRun {
            run_id: run_id.clone(),
            task: name.clone(),
            mode: task.spec.mode.to_string(),
            logical_time: instant(req.params.logical_time),
            window_start: instant(req.params.window.map(|w| w.0)),
            window_end: instant(req.params.window.map(|w| w.1)),
            watermark_from: from.clone(),
        })
        .await?;
    let hook_store = store.clone();
    let options = RunOptions {
        input: RunInput {
            params: req.params,
            watermark: from.map(|w| (w.columns, w.values)),
        },
        run_id: Some(run_id.clone()),
        before_publish: Some(Box::new(move |run_id, watermark| {
            Box::pin(async move {
                let bound = watermark.as_ref().and_then(|w| w.bound.clone());
                let to = watermark.and_then(|w| {
                    w.to.map(|values| Watermark {
                        columns: w.columns,
                        values,
                    })
                });
                hook_store
                    .mark_publishing_bounded(&run_id, to.as_ref(), bound.as_deref())
                    .await
            })
        })),
    };
    let result = ferry_engine::execute_run(
        task,
        source.as_ref(),
        sink.as_ref(),
        dirty_table.as_deref(),
        options,
        req.progress,
        req.cancel,
    )
    .await;
    match &result {
        Ok(summary) => {
            if std::env::var(FAILPOINT_ENV).as_deref() == Ok("after_publish") {
                eprintln!("{FAILPOINT_ENV}=after_publish: aborting after the publish of {run_id}");
                std::process::abort();
            }
            let counts = RunCounts {
                rows_read: summary.rows_read,
                rows_written: summary.rows_written,
                rows_dirty: summary.rows_dirty,
            };
            store.finish_run(&run_id, true, Some(counts), None).await?;
        }
        Err(e) => {
            if let Err(store_err) = store
                .finish_run(&run_id, false, None, Some(&e.to_string()))
                .await
            {
                tracing::warn!(run = %run_id, error = %store_err, "could not record the failed run");
            }
        }
    }
    result
}

/// Settles runs a crash left in `publishing`: if the sink's checkpoint
/// carries the run, its publish committed, so the store takes its watermark.
async fn repair(store: &Store, task: &str, sink: &dyn ferry_core::Sink) -> Result<()> {
    let pending: Vec<_> = store
        .unfinished_runs(task)
        .await?
        .into_iter()
        .filter(|r| r.status == RunStatus::Publishing)
        .collect();
    if pending.is_empty() || !sink.keeps_checkpoints() {
        return Ok(());
    }
    let committed = sink.checkpoint(task).await?.map(|c| c.run_id);
    for run in pending {
        if committed.as_deref() == Some(run.run_id.as_str()) {
            tracing::warn!(task, run = %run.run_id, "repairing: the run's publish committed but the state store was not updated; taking its watermark from the sink's checkpoint");
            store.resolve_publishing(&run.run_id, true).await?;
        }
    }
    Ok(())
}
