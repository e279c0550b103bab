//! The server's settings (from `ferry server` flags).

use std::net::SocketAddr;
use std::path::PathBuf;

/// How one `ferry server` process runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// Directory of the embedded store and other local files.
    pub data_dir: PathBuf,
    /// `--files-root`: the only directory whose files tasks and connections
    /// sent to this server may read or write (`None`: no local files).
    pub files_root: Option<PathBuf>,
    /// The server's own files outside the data directory (secret key,
    /// SQLite store, TLS key and certificate): no spec may reach them.
    pub protected: Vec<PathBuf>,
    /// This node's name in leases and attempts.
    pub node_id: String,
    /// Instances this server runs at once (its runner slots).
    pub runners: usize,
    /// How long a claimed instance's lease lasts without renewal.
    pub lease_secs: f64,
    /// How often an idle runner looks for work.
    pub poll_ms: u64,
    /// Whether the author of a version may approve it.
    pub allow_self_approval: bool,
    /// Whether this node takes part in the scheduler election.
    pub scheduler: bool,
    /// How often the scheduler ticks, in milliseconds.
    pub tick_ms: u64,
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// How long a request may take, in seconds (503 after it); a start
    /// that waits for its instance gets its `wait_seconds` on top.
    pub request_timeout_secs: u64,
}

/// Default of [`ServerConfig::max_body_bytes`]: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default of [`ServerConfig::request_timeout_secs`].
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;

impl ServerConfig {
    /// What specs sent to this server may reach: no environment, files
    /// only under the files root and outside the data directory.
    pub fn trust(&self) -> ferry_core::spec::Trust {
        ferry_core::spec::Trust::Server(ferry_core::spec::FileRoots {
            files_root: self.files_root.clone(),
            data_dir: Some(self.data_dir.clone()),
            protected: self.protected.clone(),
        })
    }

    /// How often a runner renews its lease (a third of it, so two renewals
    /// can fail before the lease expires).
    pub fn heartbeat(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64((self.lease_secs / 3.0).max(0.2))
    }
}
