//! What connection tests and dataset discovery return, shared by every
//! connector's [`Connection`](crate::Connection).
//!
//! A test opens one connection the way a run would (same URL parsing,
//! password handling and error mapping as the connector) and asks the
//! server its version; a listing returns the datasets a connection reaches,
//! with their columns. Both read only: catalog queries with every value
//! bound, a SQLite file opened read-only (never created).
//!
//! Errors are the connectors' own: rejected credentials are
//! [`ErrorKind::Auth`](ferry_core::ErrorKind::Auth), an unreachable server
//! is `Transient`, a missing SQLite file `NotFound`; no message carries the
//! password. Opening a server connection gives up after
//! [`CONNECT_TIMEOUT`], so a black-holed host fails in bounded time.

use std::time::{Duration, Instant};

use ferry_core::Result;

/// How long opening a server connection (TCP connect, login, session
/// set-up) may take before the attempt fails as `Transient`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One column of a discovered table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnInfo {
    /// The column's name.
    pub name: String,
    /// The server's own type name: `numeric(12,2)`, `character varying(40)`
    /// (PostgreSQL's `format_type`), `varchar(40)`, `int(11)` (MySQL's
    /// `COLUMN_TYPE`), `INTEGER` (SQLite's declared type, as written; empty
    /// when none was declared).
    pub data_type: String,
    /// Whether the column accepts NULL (no `NOT NULL` constraint).
    pub nullable: bool,
}

/// One dataset of a connection: a table or view, a file prefix, a topic.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DatasetInfo {
    /// Its namespace: the PostgreSQL schema, the MySQL database; `None` for
    /// SQLite.
    pub schema: Option<String>,
    /// The dataset's name.
    pub name: String,
    /// `table` or `view` (a materialized view is a `view`; partitioned and
    /// foreign tables, and MariaDB's system-versioned tables, are `table`s);
    /// other connectors name their own kinds.
    pub kind: String,
    /// Columns in their position order.
    pub columns: Vec<ColumnInfo>,
}

/// What a successful connection test saw.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Probe {
    /// The server's version as it reports it: PostgreSQL's `server_version`
    /// (`15.20 (Debian 15.20-0+deb12u1)`), MySQL's `VERSION()`
    /// (`10.11.19-MariaDB-0+deb12u1`), SQLite's `sqlite_version()` (`3.46.0`).
    pub server_version: String,
    /// Milliseconds from starting to connect (or to open the file) until the
    /// server answered the version query.
    pub latency_ms: u64,
}

/// Runs `version` (connect and ask the server's version) and times it.
#[allow(dead_code)] // a build may have no connector
pub(crate) async fn probe(version: impl Future<Output = Result<String>>) -> Result<Probe> {
    let start = Instant::now();
    let server_version = version.await?;
    Ok(Probe {
        server_version,
        latency_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// `connect` within [`CONNECT_TIMEOUT`]; `endpoint` (password redacted)
/// names the server in the timeout error.
#[allow(dead_code)] // a build may have no server connector
pub(crate) async fn bounded<T>(
    endpoint: &str,
    connect: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| ferry_core::Error::Transient {
            endpoint: endpoint.to_string(),
            message: format!(
                "connecting: no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ),
        })?
}

/// Groups rows of `(schema, table, kind, column)` — sorted by schema, table
/// and column position, a table without columns given once with `None` —
/// into tables.
#[allow(dead_code)] // a build may have no connector that groups catalog rows
pub(crate) fn group(
    rows: impl IntoIterator<Item = (Option<String>, String, String, Option<ColumnInfo>)>,
) -> Vec<DatasetInfo> {
    let mut tables: Vec<DatasetInfo> = Vec::new();
    for (schema, name, kind, column) in rows {
        let same = tables
            .last()
            .is_some_and(|t| t.schema == schema && t.name == name);
        if !same {
            tables.push(DatasetInfo {
                schema,
                name,
                kind,
                columns: Vec::new(),
            });
        }
        if let (Some(t), Some(c)) = (tables.last_mut(), column) {
            t.columns.push(c);
        }
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str) -> Option<ColumnInfo> {
        Some(ColumnInfo {
            name: name.into(),
            data_type: "int".into(),
            nullable: true,
        })
    }

    #[test]
    fn groups_rows_into_tables() {
        let s = || Some("s".to_string());
        let rows = vec![
            (s(), "a".to_string(), "table".to_string(), col("x")),
            (s(), "a".to_string(), "table".to_string(), col("y")),
            (s(), "empty".to_string(), "table".to_string(), None),
            (
                Some("t".into()),
                "a".to_string(),
                "view".to_string(),
                col("z"),
            ),
        ];
        let tables = group(rows);
        assert_eq!(tables.len(), 3);
        assert_eq!(tables[0].columns.len(), 2);
        assert!(tables[1].columns.is_empty());
        assert_eq!(tables[2].schema.as_deref(), Some("t"));
        assert_eq!(tables[2].kind, "view");
    }
}
