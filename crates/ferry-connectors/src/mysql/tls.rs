//! TLS for MySQL/MariaDB connections: the URL's `sslmode` / `sslrootcert`
//! (or MySQL's `ssl-mode` / `ssl-ca`) turned into mysql_async's `SslOpts`
//! (rustls with the ring provider).
//!
//! mysql_async builds its rustls configuration itself, so the modes map to
//! its switches:
//!
//! ```text
//!  sslmode       SslOpts                                  when the server has no TLS
//!  disable       none (the default for MySQL URLs)        —
//!  prefer        any certificate (chain if sslrootcert)   connect again without TLS
//!  require       any certificate (chain if sslrootcert)   error
//!  verify-ca     chain, skip host name                    error
//!  verify-full   chain + host name                        error
//! ```
//!
//! With `sslrootcert` only that file's roots are trusted (built-in roots off),
//! as libpq does. Known driver limit: mysql_async 0.36 recognises a host-name
//! mismatch by an error text that rustls ≥ 0.23.2x no longer prints, so
//! `verify-ca` still compares the host name; the error then says so.
//!
//! Why the default stays `disable` (MySQL's client defaults to PREFERRED):
//! mysql_async has no "prefer", so it is emulated by a second connection,
//! which would cost every connection to a server without TLS a round trip.

use ferry_core::Error;
use ferry_core::tls::{SslMode, TlsSettings, Verify};
use mysql_async::{Conn, DriverError, Opts, OptsBuilder, SslOpts};

use crate::common::tls::{handshake_error, load_ca_file, rustls_cause};

/// mysql_async's TLS options for `tls` (none for `disable`).
pub(super) fn ssl_opts(tls: &TlsSettings) -> Option<SslOpts> {
    if tls.mode == SslMode::Disable {
        return None;
    }
    let mut opts = SslOpts::default();
    if let Some(path) = &tls.root_cert {
        opts = opts
            .with_root_certs(vec![path.clone().into()])
            .with_disable_built_in_roots(true);
    }
    Some(match tls.verify() {
        Verify::Nothing => opts.with_danger_accept_invalid_certs(true),
        Verify::Chain => opts.with_danger_skip_domain_validation(true),
        Verify::ChainAndName => opts,
    })
}

/// Applies `tls` to driver options (for `disable`, the URL's own driver
/// settings stay as they are).
pub(super) fn apply(builder: OptsBuilder, tls: &TlsSettings) -> OptsBuilder {
    match ssl_opts(tls) {
        Some(ssl) => builder.ssl_opts(ssl),
        None => builder,
    }
}

/// Opens a connection; `prefer` falls back to plain when the server offers
/// no TLS. The CA file is checked first, so a missing file is a config error.
pub(super) async fn connect(
    opts: &Opts,
    tls: &TlsSettings,
) -> std::result::Result<Conn, ConnectError> {
    // mysql_async takes rustls' process-wide provider; make it ring (a no-op
    // when one is installed already).
    let _ = crate::common::tls::ring_provider().install_default();
    load_ca_file(tls).await.map_err(ConnectError::Config)?;
    match Conn::new(opts.clone()).await {
        Err(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer))
            if tls.mode == SslMode::Prefer =>
        {
            let plain = OptsBuilder::from_opts(opts.clone()).ssl_opts(None::<SslOpts>);
            Conn::new(plain).await.map_err(ConnectError::Driver)
        }
        other => other.map_err(ConnectError::Driver),
    }
}

/// Why [`connect`] failed.
pub(super) enum ConnectError {
    /// The TLS settings are wrong (the CA file).
    Config(Error),
    /// The driver's error.
    Driver(mysql_async::Error),
}

/// A TLS reason for `err`, as an error the user can act on; `None` when
/// `err` has nothing to do with TLS.
pub(super) fn tls_error(
    endpoint: &str,
    tls: &TlsSettings,
    err: &mysql_async::Error,
) -> Option<Error> {
    if let mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) = err {
        return Some(Error::Server {
            context: format!("connecting to {endpoint} with TLS ({})", tls.describe()),
            message: "the server does not offer TLS: give it ssl_cert/ssl_key, or use \
                      sslmode=prefer/disable"
                .to_string(),
            transient: false,
        });
    }
    let cause = rustls_cause(err)?;
    let name_mismatch = matches!(
        cause,
        rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. }
        )
    );
    if name_mismatch && tls.verify() == Verify::Chain {
        return Some(Error::Auth {
            endpoint: endpoint.to_string(),
            message: format!(
                "the server certificate does not name this host ({}): the MySQL driver \
                 compares the host name even in this mode; connect by a name the certificate \
                 holds: {cause}",
                tls.describe()
            ),
        });
    }
    Some(handshake_error(endpoint, tls, cause))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ferry_core::tls::{Dialect, take_tls_params};

    fn settings(url: &str) -> TlsSettings {
        take_tls_params(url, "sink.url", Dialect::Mysql, SslMode::Disable)
            .unwrap()
            .1
    }

    #[test]
    fn modes_map_to_driver_switches() {
        assert!(ssl_opts(&settings("mysql://h/db")).is_none());
        assert!(ssl_opts(&settings("mysql://h/db?ssl-mode=DISABLED")).is_none());

        let o = ssl_opts(&settings("mysql://h/db?sslmode=require")).unwrap();
        assert!(o.accept_invalid_certs());
        assert!(o.root_certs().is_empty());

        let o = ssl_opts(&settings("mysql://h/db?ssl-mode=REQUIRED&ssl-ca=/ca.pem")).unwrap();
        assert!(!o.accept_invalid_certs());
        assert!(o.skip_domain_validation());
        assert!(o.disable_built_in_roots());

        let o = ssl_opts(&settings("mysql://h/db?sslmode=verify-ca")).unwrap();
        assert!(!o.accept_invalid_certs());
        assert!(o.skip_domain_validation());
        assert!(!o.disable_built_in_roots());

        let o = ssl_opts(&settings(
            "mysql://h/db?ssl-mode=VERIFY_IDENTITY&sslrootcert=/ca.pem",
        ))
        .unwrap();
        assert!(!o.accept_invalid_certs());
        assert!(!o.skip_domain_validation());
        assert!(o.disable_built_in_roots());
        assert_eq!(o.root_certs().len(), 1);
    }

    #[test]
    fn untrusted_server_is_an_auth_error() {
        let tls = settings("mysql://h/db?sslmode=verify-full&sslrootcert=/ca.pem");
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let err = mysql_async::Error::Io(mysql_async::IoError::Io(io));
        let e = tls_error("mysql://h/db", &tls, &err).unwrap();
        assert_eq!(e.kind(), ferry_core::ErrorKind::Auth);
        assert!(
            e.to_string()
                .contains("not trusted with the CA file /ca.pem"),
            "{e}"
        );
        let plain = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::other("x")));
        assert!(tls_error("mysql://h/db", &tls, &plain).is_none());
    }
}
