//! What the server's parts share: the store, the secret box, the settings,
//! the engines. Handlers, services, the runner pool, the scheduler and the
//! engine sync all take an [`AppState`]; it lives here, outside the API, so
//! none of them reaches into a handler module for it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use ferry_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::ServerConfig;
use crate::secrets::SecretBox;

/// What every part of the server can reach.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared parts of [`AppState`].
pub struct Inner {
    /// The store.
    pub store: Store,
    /// Seals and opens connection passwords.
    pub secrets: SecretBox,
    /// The server's settings.
    pub config: ServerConfig,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// Set once the runner pool is up.
    pub ready: AtomicBool,
    /// The external schedule engines this server may use.
    pub engines: crate::engines::EngineSettings,
    /// Wakes the engine sync loop after a task change.
    pub engine_wake: tokio::sync::Notify,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
