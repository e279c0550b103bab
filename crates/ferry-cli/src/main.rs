//! The `ferry` binary.
//!
//! * `ferry run JOB.yaml` — one-shot sync, no server needed, with a progress
//!   bar (plain lines when stdout is not a terminal) and `--json` summary.
//! * `ferry validate JOB.yaml` — parse and validate without any I/O.
//! * `ferry connectors` — the connector registry.
//! * `ferry schema` — the JSON Schema of job files.
//! * `ferry types` — the type-mapping matrix (`docs/type-matrix.md`).

mod job;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_core::ErrorKind;
use ferry_core::spec::DirtySinkSpec;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Run { job, json, quiet } => run(job, json, quiet),
        Command::Validate { job } => match job::load(&job) {
            Ok(task) => {
                println!(
                    "{}: ok (task {}, {} {} -> {} {}, {})",
                    job.display(),
                    task.spec.name,
                    task.spec.source.connector(),
                    task.source_table,
                    task.spec.sink.connector(),
                    task.sink_table,
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
            let reg = ferry_connectors::registry();
            if json {
                println!("{}", serde_json::to_string_pretty(&reg).unwrap_or_default());
            } else {
                for c in reg {
                    let roles = match (c.source, c.sink) {
                        (true, true) => "source, sink",
                        (true, false) => "source",
                        _ => "sink",
                    };
                    let state = if c.enabled {
                        ""
                    } else {
                        " [not in this build]"
                    };
                    println!("{:<10} {:<13} {}{state}", c.name, roles, c.description);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Schema => {
            let s = ferry_core::spec::task_json_schema();
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::Types => {
            print!("{}", ferry_connectors::matrix::type_matrix_markdown());
            ExitCode::SUCCESS
        }
    }
}

fn run(job: PathBuf, json: bool, quiet: bool) -> ExitCode {
    let task = match job::load(&job) {
        Ok(t) => t,
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
        let source = ferry_connectors::source_for(&task.spec.source, &task.source_table)?;
        let sink = ferry_connectors::sink_for(&task.spec.sink, &task.sink_table)?;
        let dirty_table = match (&task.spec.dirty.sink, &task.dirty_table) {
            (Some(DirtySinkSpec::Table { target }), Some(name)) => {
                Some(ferry_connectors::sink_for(target, name)?)
            }
            _ => None,
        };
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        let signals = tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("stopping: the target is left as it was");
            on_signal.cancel();
        });
        let reporter = progress::Reporter::start(quiet || json, std::io::stdout().is_terminal());
        let res = ferry_engine::execute(
            &task,
            source.as_ref(),
            sink.as_ref(),
            dirty_table.as_deref(),
            Some(reporter.callback()),
            cancel,
        )
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

async fn wait_for_signal() {
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
