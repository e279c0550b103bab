//! `ferry server`: open the store, load the secret key, bootstrap the first
//! admin and (on request) the sample, start the runner pool and serve the
//! API until shutdown.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use ferry_engine::CancellationToken;
use ferry_store::Store;
use ferry_store::control::Role;

use crate::api::{self, AppState, Inner};
use crate::auth::{create_user_with_token, hash_token};
use crate::config::ServerConfig;
use crate::secrets::SecretBox;

/// Environment variable with a token to give the first admin (instead of
/// `ferry server init`), e.g. from a secret manager.
pub const ADMIN_TOKEN_ENV: &str = "FERRY_ADMIN_TOKEN";

/// What `ferry server` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Runtime settings.
    pub config: ServerConfig,
    /// Store URL or SQLite path.
    pub store: String,
    /// The secret key file (unless `FERRY_SECRET_KEY` is set).
    pub key_file: PathBuf,
    /// Create the sample connections and task and queue one run.
    pub sample: bool,
    /// Where the scheduler's "now" comes from.
    pub clock: std::sync::Arc<dyn ferry_core::clock::Clock>,
    /// External schedule engines (Airflow, DolphinScheduler).
    pub engines: crate::engines::EngineSettings,
    /// Serve HTTPS with this certificate and key (else plain HTTP).
    pub tls: Option<crate::https::TlsFiles>,
}

/// Opens the store, creating the first admin if there is none: with the
/// token from [`ADMIN_TOKEN_ENV`], or a new one that is returned (to be
/// printed once).
pub async fn bootstrap_admin(store: &Store, mint: bool) -> ferry_core::Result<Option<String>> {
    if store.has_admin().await? {
        return Ok(None);
    }
    if let Ok(token) = std::env::var(ADMIN_TOKEN_ENV) {
        if token.len() < 32 {
            return Err(ferry_core::Error::invalid(
                ADMIN_TOKEN_ENV,
                "must be at least 32 characters",
            ));
        }
        let user = store.create_user("admin", Role::Admin).await?;
        store
            .create_token(
                &user.id,
                &hash_token(&token),
                &token[..8.min(token.len())],
                "bootstrap",
                None,
            )
            .await?;
        tracing::info!("created the first admin `admin` with the token from {ADMIN_TOKEN_ENV}");
        return Ok(None);
    }
    if !mint {
        return Ok(None);
    }
    let (_, token) = create_user_with_token(store, "admin", Role::Admin, "bootstrap").await?;
    Ok(Some(token))
}

/// Serves until `shutdown` fires; running attempts are then cancelled and
/// queued again.
pub async fn serve(opts: ServeOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Certificate problems are reported before anything else starts.
    let tls = opts
        .tls
        .as_ref()
        .map(crate::https::server_config)
        .transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let store = Store::open(&opts.store).await?;
    let secrets = SecretBox::load(&opts.key_file, &opts.config.data_dir)?;
    let minted = bootstrap_admin(&store, opts.sample).await?;
    if !store.has_admin().await? {
        tracing::warn!(
            "the store has no admin: run `ferry server init` (prints a token) or set {ADMIN_TOKEN_ENV}"
        );
    }
    let listener = tokio::net::TcpListener::bind(opts.config.listen).await?;
    let addr = listener.local_addr()?;
    let mut engines = opts.engines.clone();
    if addr.ip().is_unspecified() && engines.needs_ferry_url() {
        anyhow::bail!(
            "listening on {addr}: give --engine-ferry-url, the address Airflow's or \
             DolphinScheduler's workers reach this server at"
        );
    }
    engines.default_ferry_url(&format!("{scheme}://{addr}"));
    engines.validate()?;
    let state = AppState::new(Inner {
        store,
        secrets,
        config: opts.config.clone(),
        metrics: crate::metrics::install(),
        ready: Default::default(),
        engines,
        engine_wake: Default::default(),
    });
    if opts.sample {
        crate::sample::ensure(&state).await?;
    }
    let pool = crate::pool::spawn(state.clone(), shutdown.clone());
    let scheduler = opts
        .config
        .scheduler
        .then(|| crate::scheduler::spawn(state.clone(), opts.clock.clone(), shutdown.clone()));
    state.ready.store(true, Ordering::Release);
    eprintln!("Ferry is serving on {scheme}://{addr}");
    eprintln!("  API document: {scheme}://{addr}/api/openapi.json");
    eprintln!("  API explorer: {scheme}://{addr}/api/docs");
    if let Some(token) = &minted {
        eprintln!("  admin token (shown once; keep it): {token}");
        eprintln!(
            "  try: curl -H 'Authorization: Bearer {token}' {scheme}://{addr}/api/v1/instances"
        );
    }
    tracing::info!(listen = %addr, node = %opts.config.node_id, runners = opts.config.runners, "serving");
    let app = api::router(state.clone());
    let stop = shutdown.clone();
    match tls {
        Some(config) => {
            axum::serve(crate::https::TlsListener::new(listener, config), app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await?
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await?
        }
    }
    for handle in pool.into_iter().chain(scheduler) {
        let _ = handle.await;
    }
    state.store.close().await;
    Ok(())
}
