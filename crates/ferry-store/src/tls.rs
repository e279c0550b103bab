//! `sslmode` / `sslrootcert` of a PostgreSQL store URL, with the same
//! meaning as for the PostgreSQL connector (see [`ferry_core::tls`]).
//!
//! sqlx parses both parameters itself and does TLS with rustls (ring); this
//! module makes the store behave like the connector where sqlx differs, and
//! makes its errors say what to change:
//!
//! * the parameters are checked first (mode spelling, CA file readable), so a
//!   missing CA file is an invalid config naming `sslrootcert`, not an I/O
//!   error at the first connection;
//! * libpq verifies the chain when `sslrootcert` is given even with
//!   `require`/`prefer`; sqlx would ignore the file, so those become
//!   `verify-ca` for sqlx;
//! * a certificate sqlx refuses is an `auth` error naming the CA file and the
//!   mode (sqlx reports it as a retryable I/O error).
//!
//! Known sqlx limit (0.8.6 with rustls ≥ 0.23.2x): its `verify-ca` still
//! compares the host name, so connect by a name the certificate holds.

use ferry_core::tls::{Dialect, SslMode, TlsSettings, Verify, take_tls_params};
use ferry_core::{Error, Result};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// The URL as sqlx should see it, and the settings (for messages).
pub(crate) fn prepare(url: &str, field: &str) -> Result<(String, TlsSettings)> {
    let (mut rest, tls) = take_tls_params(url, field, Dialect::Postgres, SslMode::Prefer)?;
    if let Some(path) = &tls.root_cert {
        std::fs::File::open(path).map_err(|e| {
            Error::invalid(
                field,
                format!(
                    "sslrootcert {}: cannot read the CA file: {e}",
                    path.display()
                ),
            )
        })?;
    }
    if !url.contains("://") {
        return Ok((rest, tls));
    }
    let mode = match tls.verify() {
        Verify::Chain if tls.mode != SslMode::VerifyCa => SslMode::VerifyCa,
        _ => tls.mode,
    };
    rest.push(if rest.contains('?') { '&' } else { '?' });
    rest.push_str(&format!("sslmode={mode}"));
    if let Some(path) = &tls.root_cert {
        let path = path.to_string_lossy();
        rest.push_str("&sslrootcert=");
        rest.extend(utf8_percent_encode(&path, NON_ALPHANUMERIC));
    }
    Ok((rest, tls))
}

/// A TLS reason for a failed connection, if `e` has one.
pub(crate) fn tls_error(label: &str, tls: &TlsSettings, e: &sqlx::Error) -> Option<Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let inner = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static))
            .unwrap_or(c);
        if let Some(r) = inner.downcast_ref::<rustls::Error>() {
            return Some(match r {
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. },
                ) => Error::Auth {
                    endpoint: label.to_string(),
                    message: format!(
                        "the server certificate does not name this host ({}); connect by a \
                         name the certificate holds: {r}",
                        tls.describe()
                    ),
                },
                rustls::Error::InvalidCertificate(_) => Error::Auth {
                    endpoint: label.to_string(),
                    message: format!(
                        "the server certificate was not trusted with {} (sslmode={}): {r}",
                        tls.roots_description(),
                        tls.mode
                    ),
                },
                other => Error::Server {
                    context: format!("TLS handshake with the state store {label}"),
                    message: other.to_string(),
                    transient: false,
                },
            });
        }
        cause = c.source();
    }
    if let sqlx::Error::Tls(t) = e {
        return Some(Error::Server {
            context: format!(
                "connecting to the state store {label} with TLS ({})",
                tls.describe()
            ),
            message: t.to_string(),
            transient: false,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passes_modes_to_sqlx_with_libpq_meaning() {
        let (url, _) = prepare("postgresql://u@h/db", "state_store").unwrap();
        assert_eq!(url, "postgresql://u@h/db?sslmode=prefer");
        let (url, _) = prepare(
            "postgresql://u@h/db?sslmode=verify-full&application_name=x",
            "state_store",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgresql://u@h/db?application_name=x&sslmode=verify-full"
        );
        let ca = std::env::temp_dir().join(format!("ferry store ca {}.pem", std::process::id()));
        std::fs::write(&ca, "x").unwrap();
        let (url, _) = prepare(
            &format!(
                "postgresql://u@h/db?sslmode=require&sslrootcert={}",
                ca.display()
            ),
            "state_store",
        )
        .unwrap();
        assert!(
            url.starts_with("postgresql://u@h/db?sslmode=verify-ca&sslrootcert=%2F"),
            "{url}"
        );
        assert!(url.contains("ferry%20store%20ca"), "{url}");
        std::fs::remove_file(&ca).unwrap();
    }

    #[test]
    fn a_missing_ca_file_is_invalid_config() {
        let e = prepare(
            "postgresql://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            "state_store",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ferry_core::ErrorKind::InvalidConfig);
        assert!(
            e.to_string().contains("sslrootcert /nonexistent/ca.pem"),
            "{e}"
        );
        let e = prepare("postgresql://h/db?sslmode=on", "state_store").unwrap_err();
        assert_eq!(e.kind(), ferry_core::ErrorKind::InvalidConfig);
    }
}
