//! TLS for PostgreSQL connections: tokio-postgres' `MakeTlsConnect` over
//! tokio-rustls, driven by the URL's `sslmode` / `sslrootcert`.
//!
//! tokio-postgres itself knows `disable`, `prefer` and `require` only (and
//! refuses `sslrootcert`), so the URL's TLS parameters are taken out before
//! the driver parses it ([`ferry_core::tls::take_tls_params`]); the driver
//! then negotiates TLS (`SSLRequest`) at the level below, and the rustls
//! configuration built in [`crate::common::tls`] decides what is verified:
//!
//! ```text
//!  sslmode       driver's SslMode   verified by rustls
//!  disable       Disable            (no TLS)
//!  prefer        Prefer             nothing (chain if sslrootcert)
//!  require       Require            nothing (chain if sslrootcert)
//!  verify-ca     Require            chain
//!  verify-full   Require            chain + host name
//! ```
//!
//! Why not a crate (tokio-postgres-rustls, postgres_rustls): the ones for
//! rustls 0.23 bring x509-cert/der and a second `sha2` for channel binding.
//! Without channel binding, SCRAM still authenticates both sides' password
//! knowledge; the certificate checks above authenticate the server.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ferry_core::tls::{SslMode, TlsSettings};
use ferry_core::{Error, Result};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::{Client, Config, Connection, Socket};

use crate::common::tls::{client_config, handshake_error, rustls_cause};

/// The driver's mode for `tls` (verification is rustls' business).
pub(super) fn driver_mode(tls: &TlsSettings) -> tokio_postgres::config::SslMode {
    use tokio_postgres::config::SslMode as Driver;
    match tls.mode {
        SslMode::Disable => Driver::Disable,
        SslMode::Prefer => Driver::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Driver::Require,
    }
}

/// The mode a key=value connection string gave the driver.
pub(super) fn mode_of_driver(mode: tokio_postgres::config::SslMode) -> SslMode {
    use tokio_postgres::config::SslMode as Driver;
    match mode {
        Driver::Disable => SslMode::Disable,
        Driver::Require => SslMode::Require,
        _ => SslMode::Prefer,
    }
}

/// Connects with `config` (whose `ssl_mode` came from [`driver_mode`]);
/// errors say what to change: the CA file, the mode, or the server.
pub(super) async fn connect(
    config: &Config,
    tls: &TlsSettings,
    display: &str,
) -> Result<(Client, Connection<Socket, RustlsStream<Socket>>)> {
    let make = MakeRustls(client_config(tls).await?);
    config.connect(make).await.map_err(|e| {
        if let Some(r) = rustls_cause(&e) {
            return handshake_error(display, tls, r);
        }
        let err = super::map_err(display, "connecting", e);
        explain(err, tls, display)
    })
}

/// Adds what the mode has to do with a refusal to the driver's error.
fn explain(err: Error, tls: &TlsSettings, display: &str) -> Error {
    match err {
        // pg_hba.conf: "… no encryption" — a hostssl-only server.
        Error::Auth { endpoint, message }
            if message.contains("no encryption")
                && matches!(tls.mode, SslMode::Disable | SslMode::Prefer) =>
        {
            Error::Auth {
                endpoint,
                message: format!(
                    "{message} (the server accepts TLS connections only and this URL has \
                     sslmode={}; use sslmode=verify-full with sslrootcert=<CA file>)",
                    tls.mode
                ),
            }
        }
        Error::Transient { message, .. } if message.contains("error performing TLS handshake") => {
            Error::Server {
                context: format!("connecting to {display} with TLS ({})", tls.describe()),
                message: format!(
                    "{message}; the server does not offer TLS: turn on `ssl` there, or use \
                     sslmode=prefer/disable"
                ),
                transient: false,
            }
        }
        other => other,
    }
}

/// tokio-postgres' TLS factory: one rustls configuration for every host.
#[derive(Clone)]
pub(super) struct MakeRustls(Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        // The name is checked in `connect`: a Unix-socket host has none and
        // never gets there.
        Ok(RustlsConnect {
            config: self.0.clone(),
            domain: domain.to_string(),
        })
    }
}

/// The TLS handshake for one host.
pub(super) struct RustlsConnect {
    config: Arc<ClientConfig>,
    domain: String,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = ServerName::try_from(self.domain.clone()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{}` is not a host name for TLS: {e}", self.domain),
                )
            })?;
            let stream = tokio_rustls::TlsConnector::from(self.config)
                .connect(name, stream)
                .await?;
            Ok(RustlsStream(stream))
        })
    }
}

/// An established TLS stream.
pub(super) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
