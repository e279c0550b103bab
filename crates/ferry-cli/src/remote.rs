//! Commands that talk to a running `ferry server` through its REST API
//! (the typed client in `ferry_server::client`): tasks, instances,
//! backfills.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_server::client::{Client, ClientError, InstanceListQuery};
use serde_json::Value;

/// Where the server is and who is calling.
#[derive(Args, Debug, Clone)]
pub struct Remote {
    /// The server's URL.
    #[arg(
        long,
        env = "FERRY_SERVER",
        default_value = "http://127.0.0.1:8090",
        global = true
    )]
    server: String,
    /// API token (prefer the environment variable to the flag).
    #[arg(long, env = "FERRY_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// A PEM file of CA certificates to trust for an https:// server with a
    /// private CA (besides the built-in public roots). Certificates are
    /// always verified.
    #[arg(long, env = "FERRY_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
}

/// `ferry task …`.
#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Create a task from a YAML file: a job file, optionally with a
    /// top-level `schedule:`.
    Create {
        /// The file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Replace a task's spec with a file's (a new version to review).
    Update {
        /// Task name or id.
        task: String,
        /// The file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Show a task with its versions' state.
    Show {
        /// Task name or id.
        task: String,
    },
    /// Submit the latest version for approval.
    Submit {
        /// Task name or id.
        task: String,
    },
    /// Approve the submitted version; this starts the task's schedule
    /// (prints the next logical time) unless `--keep-paused`.
    Approve {
        /// Task name or id.
        task: String,
        /// Why.
        #[arg(long)]
        comment: Option<String>,
        /// Approve without starting the schedule (the task stays `approved`
        /// until `ferry task resume`).
        #[arg(long)]
        keep_paused: bool,
        /// The task revision you reviewed (`ferry task show`); the server
        /// refuses to approve a task changed since (409). Default: the current
        /// revision, read just before.
        #[arg(long)]
        revision: Option<i64>,
    },
    /// Reject the submitted version.
    Reject {
        /// Task name or id.
        task: String,
        /// Why.
        #[arg(long)]
        comment: Option<String>,
        /// The task revision you reviewed (`ferry task show`); the server
        /// refuses to reject a task changed since (409). Default: the current
        /// revision, read just before.
        #[arg(long)]
        revision: Option<i64>,
    },
    /// Pause an active task.
    Pause {
        /// Task name or id.
        task: String,
    },
    /// Activate an approved or paused task.
    Resume {
        /// Task name or id.
        task: String,
    },
    /// Start an instance now (or at a logical time).
    Run {
        /// Task name or id.
        task: String,
        /// Logical time (RFC 3339).
        #[arg(long)]
        logical_time: Option<String>,
    },
}

/// `ferry instance …`.
#[derive(Subcommand, Debug)]
pub enum InstanceCommand {
    /// List instances, newest logical time first.
    List {
        /// Only this task.
        #[arg(long)]
        task: Option<String>,
        /// Only this state (queued, running, succeeded, failed, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Rows to skip.
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Show an instance with its attempts.
    Show {
        /// Instance id.
        id: String,
    },
    /// Print an attempt's log lines.
    Logs {
        /// Instance id.
        id: String,
        /// Attempt number (default: the latest).
        #[arg(long)]
        attempt: Option<i64>,
        /// Keep printing until the attempt ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Queue a finished instance again.
    Rerun {
        /// Instance id.
        id: String,
    },
    /// Stop a queued or running instance (the target is left as it was).
    Stop {
        /// Instance id.
        id: String,
    },
}

/// `ferry backfill`.
#[derive(Args, Debug)]
pub struct BackfillArgs {
    /// Task name or id.
    task: String,
    /// First logical time, inclusive (RFC 3339).
    #[arg(long)]
    from: String,
    /// Last logical time, inclusive (RFC 3339).
    #[arg(long)]
    to: String,
}

fn print(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn fail(e: ClientError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        ClientError::Api(p) if (400..500).contains(&p.status) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

fn runtime<F: std::future::Future<Output = Result<(), ClientError>>>(f: F) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => match rt.block_on(f) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `ferry health`: asks the server's `/healthz` (no token needed).
pub fn health(remote: Remote) -> ExitCode {
    runtime(async move {
        let status = client(&remote)?.health().await?;
        println!("{status}");
        Ok(())
    })
}

fn client(remote: &Remote) -> Result<Client, ClientError> {
    Client::with_ca_file(
        &remote.server,
        remote.token.clone(),
        remote.ca_file.as_deref(),
    )
}

/// A task file: the job spec, and the schedule taken out of it.
fn read_task_file(path: &PathBuf) -> Result<(Value, Option<Value>), ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Transport(format!("cannot read {}: {e}", path.display())))?;
    let mut v: Value = serde_saphyr::from_str(&text)
        .map_err(|e| ClientError::Transport(format!("{}: {e}", path.display())))?;
    let schedule = v.as_object_mut().and_then(|o| o.remove("schedule"));
    Ok((v, schedule))
}

/// Runs `ferry task …`.
pub fn task(remote: Remote, cmd: TaskCommand) -> ExitCode {
    runtime(async move {
        let c = client(&remote)?;
        let view = match cmd {
            TaskCommand::Create { file } => {
                let (spec, schedule) = read_task_file(&file)?;
                c.create_task(spec, schedule).await?
            }
            TaskCommand::Update { task, file } => {
                let (spec, schedule) = read_task_file(&file)?;
                let current = c.task(&task).await?;
                c.update_task(&task, spec, schedule, current.task.revision)
                    .await?
            }
            TaskCommand::Show { task } => c.task(&task).await?,
            TaskCommand::Submit { task } => c.task_action(&task, "submit", None, None).await?,
            TaskCommand::Approve {
                task,
                comment,
                keep_paused,
                revision,
            } => {
                let revision = match revision {
                    Some(r) => r,
                    None => c.task(&task).await?.task.revision,
                };
                let view = c
                    .approve(&task, revision, comment.as_deref(), keep_paused)
                    .await?;
                match &view.next_logical_time {
                    Some(next) => eprintln!(
                        "task {} approved and active; next logical time {next}",
                        view.task.name
                    ),
                    None => eprintln!(
                        "task {} approved; state {}",
                        view.task.name, view.task.state
                    ),
                }
                view
            }
            TaskCommand::Reject {
                task,
                comment,
                revision,
            } => {
                let revision = match revision {
                    Some(r) => r,
                    None => c.task(&task).await?.task.revision,
                };
                c.task_action(&task, "reject", Some(revision), comment.as_deref())
                    .await?
            }
            TaskCommand::Pause { task } => c.task_action(&task, "pause", None, None).await?,
            TaskCommand::Resume { task } => c.task_action(&task, "resume", None, None).await?,
            TaskCommand::Run { task, logical_time } => {
                print(&c.start(&task, logical_time.as_deref()).await?);
                return Ok(());
            }
        };
        print(&view);
        Ok(())
    })
}

/// Runs `ferry instance …`.
pub fn instance(remote: Remote, cmd: InstanceCommand) -> ExitCode {
    runtime(async move {
        let c = client(&remote)?;
        match cmd {
            InstanceCommand::List {
                task,
                state,
                limit,
                offset,
            } => {
                let page = c
                    .instances(&InstanceListQuery {
                        task,
                        state,
                        limit: Some(limit),
                        offset: Some(offset),
                    })
                    .await?;
                println!(
                    "{:<32}  {:<27}  {:<9}  {:<8}  attempts",
                    "id", "logical time", "state", "trigger"
                );
                for i in &page.items {
                    println!(
                        "{:<32}  {:<27}  {:<9}  {:<8}  {}",
                        i.id, i.logical_time, i.state, i.trigger, i.attempt_count
                    );
                }
                println!(
                    "({} of {} shown, from {})",
                    page.items.len(),
                    page.total,
                    page.offset
                );
            }
            InstanceCommand::Show { id } => print(&c.instance(&id).await?),
            InstanceCommand::Logs {
                id,
                attempt,
                follow,
            } => {
                let mut after = 0;
                loop {
                    let page = c.logs(&id, attempt, after, 1000).await?;
                    for l in &page.lines {
                        println!("{} {:<5} {}", l.at, l.level, l.message);
                    }
                    after = page.next_after;
                    if page.lines.is_empty() {
                        if !follow || page.finished {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
            InstanceCommand::Rerun { id } => print(&c.instance_action(&id, "rerun").await?),
            InstanceCommand::Stop { id } => print(&c.instance_action(&id, "stop").await?),
        }
        Ok(())
    })
}

/// Runs `ferry backfill`.
pub fn backfill(remote: Remote, args: BackfillArgs) -> ExitCode {
    runtime(async move {
        let c = client(&remote)?;
        let r = c.backfill(&args.task, &args.from, &args.to).await?;
        print(&r);
        Ok(())
    })
}
