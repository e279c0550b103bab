//! PostgreSQL source and sink.
//!
//! Reading: one coordinator transaction exports a snapshot
//! (`pg_export_snapshot()`); every split reader joins it with
//! `SET TRANSACTION SNAPSHOT` and runs `COPY (SELECT … WHERE <range>) TO STDOUT
//! (FORMAT binary)`, decoded straight into Arrow (see [`decode`]). Splits are
//! primary-key ranges (integer keys by min/max, other and composite keys by
//! sampled quantiles) or `ctid` page ranges for tables without a key.
//! A value with no exact Arrow form — `numeric` NaN (or ±Infinity) in a
//! `numeric(p,s)` column, `date`/`timestamp`/`timestamptz` ±infinity — makes
//! its row dirty (reason `conversion`, position = key) instead of failing the
//! read; an unconstrained `numeric` travels as exact text, so its NaN and
//! ±Infinity are kept (and written back as themselves by this sink).
//! Towards this sink, with no transform, the source carries its columns in
//! their binary COPY form instead: nothing is dirty, and the client relays
//! bytes rather than decoding and encoding values (the same-dialect exact
//! path, see [`native`]).
//!
//! Writing: one connection, one transaction (see [`sink`]):
//!
//! ```text
//!  BEGIN; pg_try_advisory_xact_lock(target)
//!    new target:       CREATE TABLE target (...)          ← invisible until COMMIT; a PostgreSQL
//!                                                            source's exact column types
//!    overwrite:        CREATE TABLE staging (LIKE target)   ← swap (default, see [`overwrite`]),
//!                      or DELETE FROM target / TRUNCATE target   or `overwrite: delete | truncate`
//!    no dirty rows allowed:
//!      COPY target FROM STDIN (FORMAT binary)              ← one COPY, Arrow encoded in large chunks;
//!                                                            a refused row fails it and the run
//!    dirty rows allowed (see [`isolate`]):
//!      per segment: SAVEPOINT ─ COPY ─ RELEASE             ← a refused segment is rolled back to its
//!                                                            savepoint and its rows isolated: each row
//!                                                            the target refuses (key, NOT NULL, CHECK)
//!                                                            is one dirty row, the others are stored
//!  [swap: LOCK target; RENAME target → old, staging → target; DROP old]
//!  COMMIT                                                  ← the atomic publish
//! ```
//!
//! A failed, cancelled or killed run rolls back: the target is exactly as it
//! was and nothing is left behind.

mod array;
mod browse;
mod catalog;
mod connector;
mod decode;
mod encode;
mod interval;
mod isolate;
mod late_commits;
mod matrix;
mod merge;
mod native;
mod numeric;
mod overwrite;
mod publish;
mod pushdown;
mod sink;
mod source;
mod split;
mod tls;
pub mod types;
mod xmin;

pub use connector::POSTGRES;
pub use sink::PostgresSink;
pub use source::PostgresSource;

use ferry_core::spec::redact_url;
use ferry_core::tls::{Dialect, SslMode, TlsSettings, take_tls_params};

use crate::common::server_spec::{SqlEndpoint, password_from_env};
use ferry_core::{Error, Result};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config};

/// The `dialect` of the columns this source describes (see [`ferry_core::ColumnDef::dialect`]).
pub(crate) const DIALECT: &str = "postgres";

/// How to reach one PostgreSQL database.
#[derive(Clone)]
pub(crate) struct PgEndpoint {
    config: Config,
    /// `sslmode` / `sslrootcert` from the URL (default `prefer`, as libpq).
    tls: TlsSettings,
    /// The URL with the password redacted, for messages.
    pub display: String,
}

impl PgEndpoint {
    pub(crate) fn new(field: &str, e: &SqlEndpoint) -> Result<Self> {
        let display = redact_url(&e.url);
        let (url, mut tls) = take_tls_params(
            &e.url,
            &format!("{field}.url"),
            Dialect::Postgres,
            SslMode::Prefer,
        )?;
        let mut config: Config = url.parse().map_err(|err| {
            Error::invalid(
                format!("{field}.url"),
                format!("{display} is not a valid PostgreSQL URL: {err}"),
            )
        })?;
        if let Some(pw) = password_from_env(field, e.password_env.as_deref())? {
            config.password(pw);
        }
        config.application_name("ferry");
        if e.url.contains("://") {
            config.ssl_mode(tls::driver_mode(&tls));
        } else {
            // A key=value string: the driver read its `sslmode` itself.
            tls.mode = tls::mode_of_driver(config.get_ssl_mode());
        }
        Ok(PgEndpoint {
            config,
            tls,
            display,
        })
    }

    /// The endpoint of a named connection: its URL, with the password kept
    /// apart from it (set on the driver's config, never put into a URL).
    pub(crate) fn server(field: &str, url: &str, password: Option<&str>) -> Result<Self> {
        let e = SqlEndpoint {
            url: url.to_string(),
            ..SqlEndpoint::default()
        };
        let mut ep = Self::new(field, &e)?;
        if let Some(pw) = password {
            ep.config.password(pw);
        }
        Ok(ep)
    }

    /// Opens a connection; its driver task ends when the client is dropped.
    pub(crate) async fn connect(&self) -> Result<Client> {
        let (client, connection) = tls::connect(&self.config, &self.tls, &self.display).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "postgres connection closed");
            }
        });
        client
            .batch_execute(
                "SET standard_conforming_strings = on; SET client_encoding = 'UTF8'; \
                 SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'",
            )
            .await
            .map_err(|e| map_err(&self.display, "setting up the session", e))?;
        Ok(client)
    }
}

/// One idle connection kept between two steps of a run (schema discovery
/// then the read; the checkpoint look-up then the write), so a run opens one
/// connection fewer per side. A connection whose session broke is dropped by
/// the driver and the next step connects anew.
#[derive(Default)]
pub(crate) struct SpareConnection(std::sync::Mutex<Option<Client>>);

impl SpareConnection {
    /// The kept connection if it is still open, else a new one.
    pub(crate) async fn take(&self, ep: &PgEndpoint) -> Result<Client> {
        let kept = self.0.lock().ok().and_then(|mut c| c.take());
        match kept {
            Some(c) if !c.is_closed() => Ok(c),
            _ => ep.connect().await,
        }
    }

    /// Keeps `client` (idle, outside any transaction) for the next step.
    pub(crate) fn keep(&self, client: Client) {
        if let Ok(mut c) = self.0.lock() {
            *c = Some(client);
        }
    }
}

/// Maps an error of a read whose query holds the user's `source_filter`
/// (`filtered`): a syntax, name, type or value error (SQLSTATE classes 42
/// and 22, except missing privileges and tables) is the filter's, so the
/// user's to fix, not Ferry's.
pub(crate) fn read_err(
    endpoint: &str,
    context: &str,
    e: tokio_postgres::Error,
    filtered: bool,
) -> Error {
    if filtered
        && let Some(db) = e.as_db_error()
        && let code = db.code().code()
        && (code.starts_with("42") || code.starts_with("22"))
        && *db.code() != SqlState::INSUFFICIENT_PRIVILEGE
        && *db.code() != SqlState::UNDEFINED_TABLE
    {
        return Error::invalid(
            "source_filter",
            format!(
                "{endpoint} refused the read with this filter ({context}): {} [SQLSTATE {code}]",
                db.message()
            ),
        );
    }
    map_err(endpoint, context, e)
}

/// Maps a driver error to Ferry's error, naming what was being done.
pub(crate) fn map_err(endpoint: &str, context: &str, e: tokio_postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let mut message = db.message().to_string();
        if let Some(detail) = db.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        if let Some(w) = db.where_() {
            message.push_str(&format!(" [{w}]"));
        }
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return Error::Auth {
                endpoint: endpoint.to_string(),
                message,
            };
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return Error::NotFound {
                what: "database",
                name: endpoint.to_string(),
                hint: Some(message),
            };
        }
        let transient = code.code().starts_with("08")
            || code.code().starts_with("53")
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::ADMIN_SHUTDOWN;
        return Error::Server {
            context: format!("{context} ({endpoint})"),
            message: format!("{message} [SQLSTATE {}]", code.code()),
            transient,
        };
    }
    // The driver's message ("error connecting to server") leaves the cause
    // (refused, timed out, no route) to its source chain.
    let mut message = format!("{context}: {e}");
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    Error::Transient {
        endpoint: endpoint.to_string(),
        message,
    }
}
