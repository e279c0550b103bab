//! `ferry server` (serve the API and run instances) and `ferry server init`
//! (create the first admin and print its token once).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ferry_scheduler::airflow::{AirflowConfig, DEFAULT_TOKEN_VARIABLE};
use ferry_scheduler::dolphin::DolphinConfig;
use ferry_server::config::ServerConfig;
use ferry_server::engines::EngineSettings;
use ferry_server::server::{ServeOptions, serve};

/// `ferry server`.
#[derive(Args, Debug)]
pub struct ServerArgs {
    #[command(subcommand)]
    command: Option<ServerCommand>,
    #[command(flatten)]
    opts: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum ServerCommand {
    /// Create the first admin user and print its API token (once).
    Init {
        /// The admin's name.
        #[arg(long, default_value = "admin")]
        name: String,
    },
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "FERRY_LISTEN",
        default_value = "127.0.0.1:8090",
        global = true
    )]
    listen: SocketAddr,
    /// Directory of the embedded store and the sample.
    #[arg(
        long,
        env = "FERRY_DATA_DIR",
        default_value = "ferry-data",
        global = true
    )]
    data_dir: PathBuf,
    /// The only directory whose files tasks and connections sent to this
    /// server may use (SQLite files, dirty-record files, later file sinks);
    /// relative paths in specs are taken relative to it. Without it, no
    /// local file may be used (with `--sample`: `ferry-files` beside the
    /// data directory). Never inside the data directory; paths into the data
    /// directory are refused even when it lies under the files root.
    #[arg(long, env = "FERRY_FILES_ROOT", global = true)]
    files_root: Option<PathBuf>,
    /// The store: a PostgreSQL URL (several servers) or a SQLite file
    /// (default: `<data-dir>/ferry.db`).
    #[arg(long, env = "FERRY_STORE", global = true)]
    store: Option<String>,
    /// File with the secret key that encrypts connection passwords (created
    /// if missing; must not be inside the data directory). Ignored when
    /// FERRY_SECRET_KEY is set.
    #[arg(long, env = "FERRY_KEY_FILE", global = true)]
    key_file: Option<PathBuf>,
    /// Instances this server runs at once.
    #[arg(long, env = "FERRY_RUNNERS", default_value_t = 2, global = true)]
    runners: usize,
    /// Seconds a claimed instance's lease lasts without renewal; another
    /// server takes the instance over after that.
    #[arg(long, env = "FERRY_LEASE_SECS", default_value_t = 30.0, global = true)]
    lease_secs: f64,
    /// This server's name in leases (default: host-pid).
    #[arg(long, env = "FERRY_NODE_ID", global = true)]
    node_id: Option<String>,
    /// Let the author of a task version approve it.
    #[arg(long, env = "FERRY_ALLOW_SELF_APPROVAL", global = true)]
    allow_self_approval: bool,
    /// Create a sample (SQLite source, connections, an approved task, one
    /// queued run) and, if the store has no admin, an admin token.
    #[arg(long, global = true)]
    sample: bool,
    /// Do not take part in the scheduler election (run instances only).
    #[arg(long, env = "FERRY_NO_SCHEDULER", global = true)]
    no_scheduler: bool,
    /// How often the scheduler ticks, in milliseconds.
    #[arg(long, env = "FERRY_TICK_MS", default_value_t = 1000, global = true)]
    tick_ms: u64,
    /// Largest API request body, in bytes (1024–268435456); larger ones get 413.
    #[arg(long, env = "FERRY_MAX_BODY_BYTES", default_value_t = ferry_server::config::DEFAULT_MAX_BODY_BYTES, global = true)]
    max_body_bytes: usize,
    /// Seconds an API request may take (1–3600) before it is answered 503
    /// (a start's `wait_seconds` comes on top; log streams are bounded by lines).
    #[arg(long, env = "FERRY_REQUEST_TIMEOUT_SECS", default_value_t = ferry_server::config::DEFAULT_REQUEST_TIMEOUT_SECS, global = true)]
    request_timeout_secs: u64,
    /// Tests only: read the scheduler's "now" from this file (one RFC 3339
    /// instant).
    #[arg(long, hide = true, global = true)]
    clock_file: Option<PathBuf>,
    /// Apache Airflow 3 base URL (its API is under /api/v2): tasks whose
    /// schedule says `engine: airflow` become DAGs there.
    #[arg(
        long,
        env = "FERRY_AIRFLOW_URL",
        global = true,
        help_heading = "Schedule engines"
    )]
    airflow_url: Option<String>,
    /// The Airflow user Ferry logs in as (may edit DAGs and variables).
    #[arg(
        long,
        env = "FERRY_AIRFLOW_USER",
        default_value = "admin",
        global = true,
        help_heading = "Schedule engines"
    )]
    airflow_user: String,
    /// Its password (prefer the environment variable to the command line).
    #[arg(
        long,
        env = "FERRY_AIRFLOW_PASSWORD",
        hide_env_values = true,
        global = true,
        help_heading = "Schedule engines"
    )]
    airflow_password: Option<String>,
    /// Airflow's dags folder, shared with this server: Ferry writes one
    /// `ferry_<task>.py` per task there.
    #[arg(
        long,
        env = "FERRY_AIRFLOW_DAGS",
        global = true,
        help_heading = "Schedule engines"
    )]
    airflow_dags: Option<PathBuf>,
    /// DolphinScheduler 3 API URL: tasks with `engine: dolphinscheduler`
    /// become workflows there.
    #[arg(
        long,
        env = "FERRY_DOLPHIN_URL",
        global = true,
        help_heading = "Schedule engines"
    )]
    dolphin_url: Option<String>,
    /// A DolphinScheduler access token (prefer the environment variable).
    #[arg(
        long,
        env = "FERRY_DOLPHIN_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = "Schedule engines"
    )]
    dolphin_token: Option<String>,
    /// The DolphinScheduler project holding Ferry's workflows.
    #[arg(
        long,
        env = "FERRY_DOLPHIN_PROJECT",
        default_value = "ferry",
        global = true,
        help_heading = "Schedule engines"
    )]
    dolphin_project: String,
    /// Ferry's URL as the engines' workers reach it (default: http:// and
    /// the listen address).
    #[arg(
        long,
        env = "FERRY_ENGINE_FERRY_URL",
        global = true,
        help_heading = "Schedule engines"
    )]
    engine_ferry_url: Option<String>,
    /// Serve HTTPS: the PEM certificate chain (server certificate first).
    /// Needs --tls-key.
    #[arg(
        long,
        env = "FERRY_TLS_CERT",
        requires = "tls_key",
        global = true,
        help_heading = "HTTPS"
    )]
    tls_cert: Option<PathBuf>,
    /// Serve HTTPS: the PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "FERRY_TLS_KEY",
        requires = "tls_cert",
        global = true,
        help_heading = "HTTPS"
    )]
    tls_key: Option<PathBuf>,
    /// A PEM file of CA certificates the engine clients trust for Airflow's
    /// or DolphinScheduler's HTTPS, besides the built-in public roots.
    #[arg(
        long,
        env = "FERRY_ENGINE_CA_FILE",
        global = true,
        help_heading = "Schedule engines"
    )]
    engine_ca_file: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, env = "FERRY_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"], global = true)]
    log_format: String,
}

impl ServeArgs {
    fn engines(&self) -> anyhow::Result<EngineSettings> {
        // Empty: the server's own address, once it listens.
        let ferry_url = self.engine_ferry_url.clone().unwrap_or_default();
        let airflow = match &self.airflow_url {
            None => None,
            Some(url) => {
                let (Some(password), Some(dags)) = (&self.airflow_password, &self.airflow_dags)
                else {
                    anyhow::bail!(
                        "--airflow-url needs --airflow-dags (Airflow's dags folder) and the \
                         Airflow password in FERRY_AIRFLOW_PASSWORD"
                    );
                };
                Some(AirflowConfig {
                    api_url: url.clone(),
                    user: self.airflow_user.clone(),
                    password: password.clone(),
                    dags_folder: dags.clone(),
                    ferry_url: ferry_url.clone(),
                    ferry_token_variable: DEFAULT_TOKEN_VARIABLE.to_string(),
                    ca_file: self.engine_ca_file.clone(),
                })
            }
        };
        let dolphin = match &self.dolphin_url {
            None => None,
            Some(url) => {
                let Some(token) = &self.dolphin_token else {
                    anyhow::bail!(
                        "--dolphin-url needs a DolphinScheduler token in FERRY_DOLPHIN_TOKEN"
                    );
                };
                let mut c = DolphinConfig::new(url.clone(), token.clone(), ferry_url.clone(), "");
                c.project.clone_from(&self.dolphin_project);
                c.ca_file.clone_from(&self.engine_ca_file);
                Some(c)
            }
        };
        Ok(EngineSettings { airflow, dolphin })
    }

    fn store(&self) -> String {
        self.store
            .clone()
            .unwrap_or_else(|| self.data_dir.join("ferry.db").display().to_string())
    }

    fn key_file(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| {
            let base = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                .unwrap_or_else(|| PathBuf::from("."));
            base.join("ferry").join("secret.key")
        })
    }

    fn config(&self) -> anyhow::Result<ServerConfig> {
        if self.runners > 256 {
            anyhow::bail!("--runners must be between 0 (schedule only) and 256");
        }
        if !(10..=3_600_000).contains(&self.tick_ms) {
            anyhow::bail!("--tick-ms must be between 10 and 3600000");
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.max_body_bytes) {
            anyhow::bail!(
                "--max-body-bytes {} is out of range; allowed: 1024 to 268435456",
                self.max_body_bytes
            );
        }
        if !(1..=3600).contains(&self.request_timeout_secs) {
            anyhow::bail!(
                "--request-timeout-secs {} is out of range; allowed: 1 to 3600",
                self.request_timeout_secs
            );
        }
        if !(1.0..=3600.0).contains(&self.lease_secs) {
            anyhow::bail!("--lease-secs must be between 1 and 3600");
        }
        let node_id = self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "node".into());
            format!("{host}-{}", std::process::id())
        });
        let files_root = match (&self.files_root, self.sample) {
            (Some(root), _) => Some(root.clone()),
            (None, true) => Some(
                self.data_dir
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join("ferry-files"),
            ),
            (None, false) => None,
        };
        if let Some(root) = &files_root {
            std::fs::create_dir_all(root)
                .with_context(|| format!("cannot create --files-root {}", root.display()))?;
            let r = root.canonicalize()?;
            let d = std::fs::canonicalize(&self.data_dir)
                .or_else(|_| std::path::absolute(&self.data_dir))?;
            if r.starts_with(&d) {
                anyhow::bail!(
                    "--files-root {} is inside --data-dir {}: \
                     tasks must not reach the store or the secret key",
                    root.display(),
                    self.data_dir.display()
                );
            }
        }
        // The server's own files, wherever they are: no task may reach them.
        let mut protected = vec![self.key_file()];
        let store = self.store();
        if !store.contains("://") {
            let store = store.strip_prefix("sqlite:").unwrap_or(&store).to_string();
            for suffix in ["", "-wal", "-shm", "-journal"] {
                protected.push(PathBuf::from(format!("{store}{suffix}")));
            }
        }
        protected.extend(self.tls_cert.iter().cloned());
        protected.extend(self.tls_key.iter().cloned());
        Ok(ServerConfig {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            files_root,
            protected,
            node_id,
            runners: self.runners,
            lease_secs: self.lease_secs,
            poll_ms: 500,
            allow_self_approval: self.allow_self_approval,
            scheduler: !self.no_scheduler,
            tick_ms: self.tick_ms,
            max_body_bytes: self.max_body_bytes,
            request_timeout_secs: self.request_timeout_secs,
        })
    }
}

fn init_logging(format: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(ferry_server::capture::CaptureLayer);
    if format == "json" {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(false)
                    .with_writer(std::io::stderr),
            )
            .init();
    } else {
        // Colours only for a terminal: a log redirected to a file (`serve.sh
        // > log`) or collected by a supervisor gets plain text.
        use std::io::IsTerminal;
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init();
    }
}

/// Runs `ferry server …`.
pub fn main(args: ServerArgs) -> ExitCode {
    init_logging(&args.opts.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            Some(ServerCommand::Init { name }) => init(&args.opts, &name).await,
            None => {
                let shutdown = ferry_engine::CancellationToken::new();
                let on_signal = shutdown.clone();
                tokio::spawn(async move {
                    crate::wait_for_signal().await;
                    tracing::info!(
                        "shutting down: running attempts are cancelled and queued again"
                    );
                    on_signal.cancel();
                });
                let opts = ServeOptions {
                    config: args.opts.config()?,
                    store: args.opts.store(),
                    key_file: args.opts.key_file(),
                    sample: args.opts.sample,
                    engines: args.opts.engines()?,
                    tls: args
                        .opts
                        .tls_cert
                        .clone()
                        .zip(args.opts.tls_key.clone())
                        .map(|(cert, key)| ferry_server::https::TlsFiles { cert, key }),
                    clock: match &args.opts.clock_file {
                        Some(p) => std::sync::Arc::new(ferry_core::clock::FileClock(p.clone())),
                        None => std::sync::Arc::new(ferry_core::clock::SystemClock),
                    },
                };
                serve(opts, shutdown).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn init(opts: &ServeArgs, name: &str) -> anyhow::Result<()> {
    let store = ferry_store::Store::open(&opts.store()).await?;
    if store.has_admin().await? {
        anyhow::bail!(
            "the store already has an admin; create more users and tokens through the API"
        );
    }
    let (user, token) = ferry_server::auth::create_user_with_token(
        &store,
        name,
        ferry_store::control::Role::Admin,
        "init",
    )
    .await?;
    println!("created admin `{}`", user.name);
    println!("token (shown once; keep it): {token}");
    store.close().await;
    Ok(())
}
