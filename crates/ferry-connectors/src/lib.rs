//! Every Ferry connector, one folder each, each behind a Cargo feature.
//!
//! [`registry()`] lists them explicitly (no registration before `main`), and
//! [`source_for`]/[`sink_for`] build a connector from a validated task.

#![deny(missing_docs)]

pub mod catalog;
pub mod common;
#[cfg(all(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub mod matrix;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use ferry_core::spec::{SinkSpec, SourceSpec, TableName};
use ferry_core::{Error, Result, Sink, Source};

/// One entry of the connector registry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectorInfo {
    /// The `type` value in a task spec.
    pub name: &'static str,
    /// Whether it can be a source.
    pub source: bool,
    /// Whether it can be a sink.
    pub sink: bool,
    /// Whether this binary was built with it.
    pub enabled: bool,
    /// What it reads and writes, and how.
    pub description: &'static str,
}

/// Every connector Ferry knows, in one explicit list.
pub fn registry() -> Vec<ConnectorInfo> {
    vec![
        ConnectorInfo {
            name: "postgres",
            source: true,
            sink: true,
            enabled: cfg!(feature = "postgres"),
            description: "PostgreSQL: binary COPY out in parallel key/ctid-range splits from one exported snapshot; binary COPY in, loaded and published in one transaction (new table, or TRUNCATE + reload: a storage-level swap at COMMIT)",
        },
        ConnectorInfo {
            name: "mysql",
            source: true,
            sink: true,
            enabled: cfg!(feature = "mysql"),
            description: "MySQL/MariaDB: streaming result sets in a consistent snapshot; LOAD DATA LOCAL INFILE streamed from memory into a staging table, swapped with an atomic RENAME TABLE",
        },
        ConnectorInfo {
            name: "sqlite",
            source: true,
            sink: true,
            enabled: cfg!(feature = "sqlite"),
            description: "SQLite database file: read in one transaction; written in one transaction (create or delete + prepared inserts), published by COMMIT",
        },
    ]
}

fn disabled(name: &'static str) -> Error {
    Error::Unsupported {
        connector: name,
        capability: "use in this build (it was compiled without this connector's feature)".into(),
    }
}

/// Builds the source connector of a validated task.
pub fn source_for(spec: &SourceSpec, table: &TableName) -> Result<Box<dyn Source>> {
    match spec {
        #[cfg(feature = "postgres")]
        SourceSpec::Postgres(e) => Ok(Box::new(postgres::PostgresSource::new(e, table)?)),
        #[cfg(feature = "mysql")]
        SourceSpec::Mysql(e) => Ok(Box::new(mysql::MysqlSource::new(e, table)?)),
        #[cfg(feature = "sqlite")]
        SourceSpec::Sqlite(e) => Ok(Box::new(sqlite::SqliteSource::new(e, table)?)),
        #[allow(unreachable_patterns)]
        other => Err(disabled(other.connector())),
    }
}

/// Builds the sink connector of a validated task.
pub fn sink_for(spec: &SinkSpec, table: &TableName) -> Result<Box<dyn Sink>> {
    match spec {
        #[cfg(feature = "postgres")]
        SinkSpec::Postgres(e) => Ok(Box::new(postgres::PostgresSink::new(e, table)?)),
        #[cfg(feature = "mysql")]
        SinkSpec::Mysql(e) => Ok(Box::new(mysql::MysqlSink::new(e, table)?)),
        #[cfg(feature = "sqlite")]
        SinkSpec::Sqlite(e) => Ok(Box::new(sqlite::SqliteSink::new(e, table)?)),
        #[allow(unreachable_patterns)]
        other => Err(disabled(other.connector())),
    }
}

/// Reads the password of an endpoint from `password_env`, if set.
pub fn password_from_env(field: &str, var: Option<&str>) -> Result<Option<String>> {
    match var {
        None => Ok(None),
        Some(v) => std::env::var(v).map(Some).map_err(|_| {
            Error::invalid(
                format!("{field}.password_env"),
                format!("environment variable {v} is not set"),
            )
        }),
    }
}
