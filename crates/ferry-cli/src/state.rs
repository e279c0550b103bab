//! `ferry state show|set|reset JOB --state PATH`: a task's watermark and
//! recent runs, read from and written to the same store `ferry run` uses.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use ferry_store::{RunRecord, Store};

/// What to do with the state of a task.
#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// Print the task's watermark, unfinished runs and recent runs.
    Show {
        /// The task's job file.
        job: PathBuf,
        /// The state store (SQLite file or PostgreSQL URL).
        #[arg(long, env = "FERRY_STATE")]
        state: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
        /// How many recent runs to list.
        #[arg(long, default_value_t = 10)]
        runs: u32,
    },
    /// Set the watermark: the next run reads the rows after it. Every
    /// watermark column (cursor, then tie-breaker) needs a value, checked
    /// against the source column's type.
    Set {
        /// The task's job file.
        job: PathBuf,
        /// The state store (SQLite file or PostgreSQL URL).
        #[arg(long, env = "FERRY_STATE")]
        state: String,
        /// `COLUMN=VALUE`, once per watermark column, in order.
        #[arg(long = "value", required = true)]
        values: Vec<String>,
    },
    /// Forget the watermark: the next run reads every row again.
    Reset {
        /// The task's job file.
        job: PathBuf,
        /// The state store (SQLite file or PostgreSQL URL).
        #[arg(long, env = "FERRY_STATE")]
        state: String,
    },
}

/// Runs a `ferry state` command.
pub fn main(command: StateCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let invalid = e
                .downcast_ref::<ferry_core::Error>()
                .is_some_and(|e| e.kind() == ferry_core::ErrorKind::InvalidConfig);
            eprintln!("error: {e:#}");
            if invalid {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn dispatch(command: StateCommand) -> anyhow::Result<()> {
    match command {
        StateCommand::Show {
            job,
            state,
            json,
            runs,
        } => {
            let task = crate::job::load(&job)?;
            let store = Store::open(&state).await?;
            let name = &task.spec.name;
            let watermark = store.watermark(name).await?;
            let unfinished = store.unfinished_runs(name).await?;
            let recent = store.runs(name, runs).await?;
            if json {
                let out = serde_json::json!({
                    "task": name,
                    "watermark": watermark.as_ref().map(|w| serde_json::json!({
                        "columns": w.watermark.columns,
                        "values": w.watermark.values,
                        "run_id": w.run_id,
                        "set_by": w.set_by,
                        "updated_at": w.updated_at,
                    })),
                    "unfinished_runs": unfinished.iter().map(run_json).collect::<Vec<_>>(),
                    "runs": recent.iter().map(run_json).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(());
            }
            match &watermark {
                Some(w) => println!(
                    "task {name}: watermark ({}) = ({}), set by {}{} at {}",
                    w.watermark.columns.join(", "),
                    w.watermark.values.join(", "),
                    w.set_by,
                    w.run_id
                        .as_deref()
                        .map(|r| format!(" {r}"))
                        .unwrap_or_default(),
                    w.updated_at
                ),
                None => println!("task {name}: no watermark (the next run reads every row)"),
            }
            for r in &unfinished {
                println!(
                    "  unfinished: {} {} since {}",
                    r.run_id, r.status, r.started_at
                );
            }
            for r in &recent {
                println!(
                    "  {} {:<10} {} read={} written={} dirty={}{}",
                    r.started_at,
                    r.status.to_string(),
                    r.run_id,
                    opt(r.rows_read),
                    opt(r.rows_written),
                    opt(r.rows_dirty),
                    r.error
                        .as_deref()
                        .map(|e| format!("  ({e})"))
                        .unwrap_or_default()
                );
                if let Some(b) = &r.bound {
                    println!("      bound: {b}");
                }
            }
            Ok(())
        }
        StateCommand::Set { job, state, values } => {
            let task = crate::job::load(&job)?;
            let pairs = values
                .iter()
                .map(|v| {
                    v.split_once('=')
                        .map(|(c, v)| (c.trim().to_string(), v.to_string()))
                        .with_context(|| format!("--value {v:?}: write COLUMN=VALUE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let store = Store::open(&state).await?;
            let w = ferry_server::state::set_watermark(&task, &store, &pairs).await?;
            println!(
                "task {}: watermark ({}) = ({})",
                task.spec.name,
                w.columns.join(", "),
                w.values.join(", ")
            );
            Ok(())
        }
        StateCommand::Reset { job, state } => {
            let task = crate::job::load(&job)?;
            let store = Store::open(&state).await?;
            if store.reset_watermark(&task.spec.name).await? {
                println!(
                    "task {}: watermark reset; the next run reads every row",
                    task.spec.name
                );
            } else {
                println!("task {}: had no watermark", task.spec.name);
            }
            Ok(())
        }
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn run_json(r: &RunRecord) -> serde_json::Value {
    serde_json::json!({
        "run_id": r.run_id,
        "status": r.status.to_string(),
        "mode": r.mode,
        "logical_time": r.logical_time,
        "window_start": r.window_start,
        "window_end": r.window_end,
        "watermark_from": r.watermark_from,
        "watermark_to": r.watermark_to,
        "bound": r.bound,
        "rows_read": r.rows_read,
        "rows_written": r.rows_written,
        "rows_dirty": r.rows_dirty,
        "error": r.error,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
    })
}
