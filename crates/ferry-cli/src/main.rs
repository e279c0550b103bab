//! The `ferry` binary.
//!
//! * `ferry run JOB.yaml` — one-shot sync, no server needed, with a progress
//!   bar (plain lines when stdout is not a terminal) and `--json` summary.
//! * `ferry validate JOB.yaml` — parse and validate without any I/O.
//! * `ferry connectors` — the connector registry.
//! * `ferry schema` — the JSON Schema of job files.
//! * `ferry types` — the type-mapping matrix (`docs/type-matrix.md`).
//! * `ferry state show|set|reset JOB --state PATH` — a task's watermark and runs.

mod job;
mod progress;
mod remote;
mod server_cmd;
mod state;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_core::ErrorKind;
use ferry_engine::CancellationToken;

/// mimalloc keeps peak memory flat over long runs: with glibc's allocator,
/// batches allocated on reader threads and freed on the writer thread
/// fragment the heap, so peak RSS crept up with the table size.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Scheduled batch data synchronization"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sync described by a job file, once.
    Run {
        /// Path of the YAML job file.
        job: PathBuf,
        /// Print the run summary as JSON on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Show, set or reset the watermark of an incremental task.
    State {
        #[command(subcommand)]
        command: state::StateCommand,
    },
    /// Check a job file without connecting anywhere.
    Validate {
        /// Path of the YAML job file.
        job: PathBuf,
    },
    /// List the connectors this binary knows.
    Connectors {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of job files.
    Schema,
    /// Print the type-mapping matrix (Markdown, as published in docs/type-matrix.md).
    Types,
    /// Serve the REST API and run instances (`ferry server init` creates
    /// the first admin).
    Server(Box<server_cmd::ServerArgs>),
    /// Tasks on a server: create, review, run.
    Task {
        #[command(subcommand)]
        command: remote::TaskCommand,
        #[command(flatten)]
        remote: remote::Remote,
    },
    /// Instances on a server: list, show, logs, rerun, stop.
    Instance {
        #[command(subcommand)]
        command: remote::InstanceCommand,
        #[command(flatten)]
        remote: remote::Remote,
    },
    /// Ask a server whether it is alive (`GET /healthz`; prints `ok`).
    Health {
        #[command(flatten)]
        remote: remote::Remote,
    },
    /// Create the missing instances of a task's logical times in a range.
    Backfill {
        #[command(flatten)]
        args: remote::BackfillArgs,
        #[command(flatten)]
        remote: remote::Remote,
    },
}

/// Where a run keeps its state, and the instants of the run.
#[derive(clap::Args, Debug, Clone, Default)]
struct RunArgs {
    /// The state store: a SQLite file (created if missing) or a PostgreSQL
    /// URL. Required by the incremental modes; records every run.
    #[arg(long, env = "FERRY_STATE")]
    state: Option<String>,
    /// Start of the run's window (RFC 3339, e.g. 2026-01-01T00:00:00Z): inclusive.
    #[arg(long, requires = "window_end")]
    window_start: Option<String>,
    /// End of the run's window (RFC 3339): exclusive.
    #[arg(long, requires = "window_start")]
    window_end: Option<String>,
    /// The run's logical time (RFC 3339); default: the window's end.
    #[arg(long)]
    logical_time: Option<String>,
}

impl RunArgs {
    fn params(&self) -> anyhow::Result<ferry_core::pushdown::RunParams> {
        let instant = |flag: &str, v: &Option<String>| -> anyhow::Result<_> {
            v.as_deref()
                .map(|t| {
                    chrono::DateTime::parse_from_rfc3339(t)
                        .map(|d| d.with_timezone(&chrono::Utc))
                        .map_err(|e| anyhow::anyhow!("--{flag} {t:?} is not an RFC 3339 instant like 2026-01-01T00:00:00Z: {e}"))
                })
                .transpose()
        };
        let start = instant("window-start", &self.window_start)?;
        let end = instant("window-end", &self.window_end)?;
        let window = start.zip(end);
        let params = ferry_core::pushdown::RunParams {
            logical_time: instant("logical-time", &self.logical_time)?.or(end),
            window,
        };
        params.validate()?;
        Ok(params)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        Command::Server(args) => return server_cmd::main(*args),
        Command::Task { command, remote } => return remote::task(remote, command),
        Command::Instance { command, remote } => return remote::instance(remote, command),
        Command::Backfill { args, remote } => return remote::backfill(remote, args),
        Command::Health { remote } => return remote::health(remote),
        other => Cli { command: other },
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Run {
            job,
            json,
            quiet,
            run: args,
        } => run(job, json, quiet, args),
        Command::State { command } => state::main(command),
        Command::Validate { job } => match job::load(&job) {
            Ok(task) => {
                println!(
                    "{}: ok (task {}, {} {} -> {} {}, {})",
                    job.display(),
                    task.spec.name,
                    task.source.connector(),
                    task.source.dataset(),
                    task.sink.connector(),
                    task.sink.dataset(),
                    task.spec.mode
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Connectors { json } => {
            let reg = ferry_connectors::info();
            if json {
                println!("{}", serde_json::to_string_pretty(&reg).unwrap_or_default());
            } else {
                for c in reg {
                    let roles = match (c.source, c.sink) {
                        (true, true) => "source, sink",
                        (true, false) => "source",
                        (false, true) => "sink",
                        (false, false) => "-",
                    };
                    let aliases = if c.aliases.is_empty() {
                        String::new()
                    } else {
                        format!(" (also: {})", c.aliases.join(", "))
                    };
                    println!("{:<10} {:<13} {}{aliases}", c.name, roles, c.description);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Schema => {
            let s = ferry_connectors::schema::task_json_schema();
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::Types => {
            print!("{}", ferry_connectors::matrix::type_matrix_markdown());
            ExitCode::SUCCESS
        }
        Command::Server(_)
        | Command::Task { .. }
        | Command::Instance { .. }
        | Command::Backfill { .. }
        | Command::Health { .. } => {
            unreachable!("handled above")
        }
    }
}

fn run(job: PathBuf, json: bool, quiet: bool, args: RunArgs) -> ExitCode {
    let task = match job::load(&job) {
        Ok(t) => t,
        Err(e) => {
            report_error(json, ErrorKind::InvalidConfig, &format!("{e:#}"));
            return ExitCode::from(2);
        }
    };
    let params = match args.params() {
        Ok(p) => p,
        Err(e) => {
            report_error(json, ErrorKind::InvalidConfig, &format!("{e:#}"));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            report_error(
                json,
                ErrorKind::Internal,
                &format!("starting the runtime: {e}"),
            );
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let store = match &args.state {
            Some(s) => Some(std::sync::Arc::new(ferry_store::Store::open(s).await?)),
            None => None,
        };
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        let signals = tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("stopping: the target is left as it was");
            on_signal.cancel();
        });
        let reporter = progress::Reporter::start(quiet || json, std::io::stdout().is_terminal());
        let res = ferry_server::runner::run_task(ferry_server::runner::RunRequest {
            task: &task,
            store,
            params,
            progress: Some(reporter.callback()),
            cancel,
            run_id: None,
        })
        .await;
        reporter.finish().await;
        signals.abort();
        res
    });
    match result {
        Ok(summary) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).unwrap_or_default()
                );
            } else {
                let secs = summary.duration_ms as f64 / 1000.0;
                println!(
                    "{}: {} rows from {} into {} ({}) in {:.2} s, {:.0} rows/s",
                    summary.task,
                    summary.rows_committed,
                    summary.source,
                    summary.target.table,
                    summary.mode,
                    secs,
                    summary.rows_committed as f64 / secs.max(0.001)
                );
                for s in &summary.splits {
                    println!(
                        "  split {:>3}: {:>12} rows  {}",
                        s.index, s.rows, s.description
                    );
                }
                // Rows read that were not written: dirty (source, conform or
                // sink rejects) or left out by the filter.
                let mut not_written = String::new();
                if summary.rows_dirty > 0 {
                    not_written.push_str(&format!(" + {} dirty", summary.rows_dirty));
                }
                if summary.rows_filtered > 0 {
                    not_written.push_str(&format!(" + {} filtered", summary.rows_filtered));
                }
                if let Some(w) = &summary.watermark {
                    let show = |v: &Option<Vec<String>>| {
                        v.as_ref()
                            .map_or("(none)".to_string(), |v| format!("({})", v.join(", ")))
                    };
                    println!(
                        "watermark ({}): {} -> {}",
                        w.columns.join(", "),
                        show(&w.from),
                        show(&w.to)
                    );
                    if let Some(b) = &w.bound {
                        println!("  bound: {b}");
                    }
                }
                if let Some([start, end]) = &summary.window {
                    println!("window: [{start}, {end})");
                }
                if let Some(p) = &summary.publish {
                    println!("publish: {}", p.describe());
                }
                println!(
                    "verified: {} rows read = {} rows written{not_written}; {} rows committed{}",
                    summary.rows_read,
                    summary.rows_written,
                    summary.rows_committed,
                    if summary.target.creates_table {
                        " (target created)"
                    } else {
                        ""
                    }
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            report_error(json, e.kind(), &format!("{}: {e}", job.display()));
            ExitCode::FAILURE
        }
    }
}

fn report_error(json: bool, kind: ErrorKind, message: &str) {
    if json {
        println!(
            "{}",
            serde_json::json!({"error": {"kind": kind, "message": message}})
        );
    }
    eprintln!("error ({kind}): {message}");
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
