//! TLS settings of a database URL, written the way libpq users know them:
//! `?sslmode=verify-full&sslrootcert=/etc/ferry/ca.pem`.
//!
//! Why in the URL: a connection is one string everywhere (job files, named
//! connections, the state store flag), so TLS needs no new spec fields and
//! every connector that takes a URL takes TLS the same way. Why here: the
//! parsing is pure and shared by the connectors (which do TLS with rustls)
//! and the state store (which hands the URL to sqlx); the I/O — reading the
//! CA file, the handshake — lives with each driver.
//!
//! ```text
//!  url ──take_tls_params──► (url without sslmode/sslrootcert, TlsSettings)
//!                                 │                          │
//!                          the driver parses it       mode + CA file → rustls config
//! ```
//!
//! Modes follow libpq: `disable` (no TLS), `prefer` (TLS when the server
//! offers it), `require` (TLS; the chain is verified only when `sslrootcert`
//! is given), `verify-ca` (chain verified, host name not), `verify-full`
//! (chain and host name). Without `sslrootcert`, the `verify-*` modes trust
//! the public web roots built into Ferry. MySQL spellings are accepted for
//! MySQL/MariaDB URLs: `ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY`
//! and `ssl-ca=…`.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;

use crate::error::{Error, Result};

/// The libpq parameter that selects the mode.
pub const SSLMODE: &str = "sslmode";
/// The libpq parameter that names the CA file.
pub const SSLROOTCERT: &str = "sslrootcert";

/// How much TLS a connection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, else plain.
    Prefer,
    /// TLS or fail; the certificate is checked only against a given CA file.
    Require,
    /// TLS with the certificate chain verified; the host name is not checked.
    VerifyCa,
    /// TLS with the chain verified and the host name matched.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// libpq's spellings and MySQL's (`PREFERRED`, `VERIFY_IDENTITY`…), any case.
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" | "disabled" => SslMode::Disable,
            "prefer" | "preferred" => SslMode::Prefer,
            "require" | "required" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" | "verify-identity" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a client checks of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing (the connection is encrypted, not authenticated).
    Nothing,
    /// The chain up to a trusted root, not the host name.
    Chain,
    /// The chain and the host name.
    ChainAndName,
}

/// Which parameter names a URL dialect takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `sslmode`, `sslrootcert`.
    Postgres,
    /// Also MySQL's `ssl-mode` / `ssl_mode` and `ssl-ca` / `ssl_ca`.
    Mysql,
}

impl Dialect {
    fn is_mode(self, key: &str) -> bool {
        key == SSLMODE || (self == Dialect::Mysql && matches!(key, "ssl-mode" | "ssl_mode"))
    }

    fn is_ca(self, key: &str) -> bool {
        key == SSLROOTCERT || (self == Dialect::Mysql && matches!(key, "ssl-ca" | "ssl_ca"))
    }
}

/// The TLS settings of one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The mode (given, or the connector's default).
    pub mode: SslMode,
    /// The CA file (`sslrootcert`), if given.
    pub root_cert: Option<PathBuf>,
    /// The field holding the URL, for messages (e.g. `source.url`).
    pub field: String,
}

impl TlsSettings {
    /// Settings without TLS (for URLs that are not parsed here).
    pub fn disabled(field: impl Into<String>) -> TlsSettings {
        TlsSettings {
            mode: SslMode::Disable,
            root_cert: None,
            field: field.into(),
        }
    }

    /// What the client verifies (libpq: `require` and `prefer` verify the
    /// chain when a CA file is given).
    pub fn verify(&self) -> Verify {
        match self.mode {
            SslMode::Disable => Verify::Nothing,
            SslMode::Prefer | SslMode::Require if self.root_cert.is_some() => Verify::Chain,
            SslMode::Prefer | SslMode::Require => Verify::Nothing,
            SslMode::VerifyCa => Verify::Chain,
            SslMode::VerifyFull => Verify::ChainAndName,
        }
    }

    /// `sslmode=verify-full, sslrootcert=/etc/ferry/ca.pem`, for messages.
    pub fn describe(&self) -> String {
        match &self.root_cert {
            Some(p) => format!("sslmode={}, sslrootcert={}", self.mode, p.display()),
            None => format!("sslmode={}", self.mode),
        }
    }

    /// Where the trusted roots come from, for messages.
    pub fn roots_description(&self) -> String {
        match &self.root_cert {
            Some(p) => format!("the CA file {} (sslrootcert)", p.display()),
            None => "the built-in public roots (no sslrootcert given)".to_string(),
        }
    }
}

/// Takes `sslmode` and `sslrootcert` (and, for [`Dialect::Mysql`], MySQL's
/// spellings) out of `url`'s query, returning the URL without them — for
/// the driver, which may not know them — and the settings. Pure; `field`
/// names the URL in errors and `default` is the mode when none is given.
/// URLs without `://` (key=value strings) are returned as they are.
pub fn take_tls_params(
    url: &str,
    field: &str,
    dialect: Dialect,
    default: SslMode,
) -> Result<(String, TlsSettings)> {
    let mut settings = TlsSettings {
        mode: default,
        root_cert: None,
        field: field.to_string(),
    };
    if !url.contains("://") {
        return Ok((url.to_string(), settings));
    }
    let (without_fragment, fragment) = match url.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (url, None),
    };
    let Some((base, query)) = without_fragment.split_once('?') else {
        return Ok((url.to_string(), settings));
    };
    let invalid = |message: String| Error::invalid(field, message);
    let mut kept = Vec::new();
    let mut mode_seen = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(raw_key).decode_utf8_lossy();
        if !dialect.is_mode(&key) && !dialect.is_ca(&key) {
            kept.push(pair);
            continue;
        }
        let value = percent_decode_str(raw_value)
            .decode_utf8()
            .map_err(|_| invalid(format!("the value of `{key}` is not UTF-8")))?;
        if dialect.is_mode(&key) {
            if mode_seen {
                return Err(invalid(format!("`{key}` is given twice")));
            }
            mode_seen = true;
            settings.mode = SslMode::parse(&value).ok_or_else(|| {
                invalid(format!(
                    "`{key}={value}` is not a TLS mode; use one of disable, prefer, require, \
                     verify-ca, verify-full"
                ))
            })?;
        } else {
            if settings.root_cert.is_some() {
                return Err(invalid(format!("`{key}` is given twice")));
            }
            if value.is_empty() {
                return Err(invalid(format!(
                    "`{key}` is empty; give the path of a PEM file with the CA certificates"
                )));
            }
            settings.root_cert = Some(PathBuf::from(value.into_owned()));
        }
    }
    if settings.root_cert.is_some() && settings.mode == SslMode::Disable {
        return Err(invalid(
            "`sslrootcert` is given but `sslmode=disable` turns TLS off; drop one of them"
                .to_string(),
        ));
    }
    let mut out = base.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Ok((out, settings))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pg(url: &str) -> Result<(String, TlsSettings)> {
        take_tls_params(url, "source.url", Dialect::Postgres, SslMode::Prefer)
    }

    #[test]
    fn takes_libpq_params_and_keeps_the_rest() {
        let (url, tls) = pg(
            "postgresql://u:pw@h:5433/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgresql://u:pw@h:5433/db?application_name=x&connect_timeout=5"
        );
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(tls.verify(), Verify::ChainAndName);

        let (url, tls) = pg("postgresql://h/db?sslmode=disable").unwrap();
        assert_eq!(url, "postgresql://h/db");
        assert_eq!(tls.verify(), Verify::Nothing);

        let (url, tls) = pg("postgresql://h/db").unwrap();
        assert_eq!(url, "postgresql://h/db");
        assert_eq!(tls.mode, SslMode::Prefer);
        // key=value strings are left to the driver
        let (url, _) = pg("host=h sslmode=require").unwrap();
        assert_eq!(url, "host=h sslmode=require");
    }

    #[test]
    fn require_verifies_the_chain_when_a_ca_is_given() {
        let (_, tls) = pg("postgresql://h/db?sslmode=require").unwrap();
        assert_eq!(tls.verify(), Verify::Nothing);
        let (_, tls) = pg("postgresql://h/db?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(tls.verify(), Verify::Chain);
        let (_, tls) = pg("postgresql://h/db?sslmode=verify-ca").unwrap();
        assert_eq!(tls.verify(), Verify::Chain);
        assert_eq!(tls.root_cert, None);
    }

    #[test]
    fn mysql_spellings() {
        let my = |url| take_tls_params(url, "sink.url", Dialect::Mysql, SslMode::Disable);
        for (url, mode) in [
            ("mysql://h/db?ssl-mode=VERIFY_IDENTITY", SslMode::VerifyFull),
            ("mysql://h/db?ssl_mode=verify_ca", SslMode::VerifyCa),
            ("mysql://h/db?ssl-mode=REQUIRED", SslMode::Require),
            ("mysql://h/db?ssl-mode=PREFERRED", SslMode::Prefer),
            ("mysql://h/db?sslmode=disable", SslMode::Disable),
            ("mysql://h/db", SslMode::Disable),
        ] {
            let (rest, tls) = my(url).unwrap();
            assert_eq!(tls.mode, mode, "{url}");
            assert_eq!(rest, "mysql://h/db");
        }
        let (rest, tls) = my("mysql://h/db?ssl-ca=/x.pem&sslmode=verify-full&pool_min=1").unwrap();
        assert_eq!(rest, "mysql://h/db?pool_min=1");
        assert_eq!(tls.root_cert, Some(PathBuf::from("/x.pem")));
        // PostgreSQL URLs do not take MySQL's names (the driver refuses them).
        let (rest, _) = pg("postgresql://h/db?ssl-mode=REQUIRED").unwrap();
        assert_eq!(rest, "postgresql://h/db?ssl-mode=REQUIRED");
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for bad in [
            "postgresql://h/db?sslmode=verify",
            "postgresql://h/db?sslmode=allow",
            "postgresql://h/db?sslmode=require&sslmode=disable",
            "postgresql://h/db?sslrootcert=",
            "postgresql://h/db?sslrootcert=/a&sslrootcert=/b",
            "postgresql://h/db?sslmode=disable&sslrootcert=/ca.pem",
        ] {
            let e = pg(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidConfig, "{bad}");
            assert!(e.to_string().contains("source.url"), "{e}");
        }
        let e = pg("postgresql://h/db?sslmode=verify").unwrap_err();
        assert!(e.to_string().contains("verify-full"), "{e}");
    }

    #[test]
    fn describes_itself_for_messages() {
        let (_, tls) = pg("postgresql://h/db?sslmode=verify-ca&sslrootcert=/ca.pem").unwrap();
        assert_eq!(tls.describe(), "sslmode=verify-ca, sslrootcert=/ca.pem");
        assert!(tls.roots_description().contains("/ca.pem"));
    }
}
