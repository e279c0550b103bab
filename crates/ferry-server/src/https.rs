//! HTTPS for `ferry server --tls-cert FILE --tls-key FILE`: rustls (ring
//! provider) in front of the same axum router.
//!
//! Why a listener and not a TLS proxy: the API carries tokens and connection
//! passwords, so a single binary should be able to serve it encrypted.
//! The TLS handshake happens in [`TlsListener::accept`], which axum calls in
//! its accept loop; handshakes run concurrently in a bounded `JoinSet` (a
//! slow or silent client does not hold up the others, and none outlives the
//! listener) and each has a deadline:
//!
//! ```text
//!  TcpListener ─accept─► JoinSet (≤ MAX_HANDSHAKES, each ≤ HANDSHAKE_TIMEOUT)
//!                            └─ handshake ok ─► axum serves the TLS stream
//!                            └─ fails/late ─► dropped (debug log)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the
/// kernel's backlog until one ends.
const MAX_HANDSHAKES: usize = 256;
/// Largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// The certificate chain and key files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

fn read_pem(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{what} {}: cannot read it", path.display()))?;
    if meta.len() > MAX_PEM_BYTES {
        anyhow::bail!(
            "{what} {}: {} bytes is too large for a PEM file (at most {MAX_PEM_BYTES})",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("{what} {}: cannot read it", path.display()))
}

/// The rustls server configuration of `files` (HTTP/1.1 only, as the
/// router is served).
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<ServerConfig>> {
    let pem = read_pem(&files.cert, "--tls-cert")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("--tls-cert {}: not a PEM file", files.cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "--tls-cert {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            files.cert.display()
        );
    }
    let pem = read_pem(&files.key, "--tls-key")?;
    let key = PrivateKeyDer::from_pem_slice(&pem).with_context(|| {
        format!(
            "--tls-key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it",
            files.key.display()
        )
    })?;
    // ring, as the database clients (see ferry-connectors' common/tls.rs for
    // why, and why rustls 0.23.48 calls it deprecated).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS provider")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "--tls-cert {} and --tls-key {} do not make a usable pair",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener that hands axum TLS streams.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    /// Serves TLS with `config` on `tcp`.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> TlsListener {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshakes: JoinSet::new(),
        }
    }

    fn start_handshake(&mut self, stream: TcpStream, addr: SocketAddr) {
        let acceptor = self.acceptor.clone();
        self.handshakes.spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some((tls, addr)),
                Ok(Err(e)) => {
                    tracing::debug!(peer = %addr, error = %e, "tls handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(peer = %addr, "tls handshake timed out");
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            tokio::select! {
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((stream, addr)) => self.start_handshake(stream, addr),
                    Err(e) => {
                        // Out of file descriptors and the like: wait, as
                        // axum's own TCP listener does.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(ready)) = done {
                        return ready;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
