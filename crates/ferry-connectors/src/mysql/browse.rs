//! MySQL/MariaDB: the connector's own endpoint, connection and error
//! mapping; discovery from `information_schema`.

use std::collections::HashMap;

use crate::common::server_spec::ServerConnection;
use ferry_core::Result;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::catalog::{ColumnInfo, DatasetInfo, bounded};
use crate::mysql::conn::{Endpoint, text};

/// The server's own databases, left out when no database is named.
const SYSTEM: &str = "('mysql', 'information_schema', 'performance_schema', 'sys')";

async fn connect(s: &ServerConnection) -> Result<(Endpoint, Conn)> {
    let ep = Endpoint::server("connection", &s.url, s.password.as_deref())?;
    let conn = bounded(&ep.url, ep.connect()).await?;
    Ok((ep, conn))
}

/// `VERSION()` of the server.
pub(super) async fn version(s: &ServerConnection) -> Result<String> {
    let (ep, mut conn) = connect(s).await?;
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(|e| ep.error("asking the server version", e))?;
    let _ = conn.disconnect().await;
    Ok(version.unwrap_or_default())
}

pub(super) async fn list_tables(
    s: &ServerConnection,
    schema: Option<&str>,
) -> Result<Vec<DatasetInfo>> {
    let (ep, mut conn) = connect(s).await?;
    let database = schema
        .map(str::to_string)
        .or_else(|| (!ep.database.is_empty()).then(|| ep.database.clone()));
    // One condition for both queries: the named database (bound), or every
    // database but the system ones.
    let (filter, params): (String, Vec<String>) = match database {
        Some(db) => ("TABLE_SCHEMA = ?".into(), vec![db]),
        None => (format!("TABLE_SCHEMA NOT IN {SYSTEM}"), Vec::new()),
    };
    let tables: Vec<Row> = conn
        .exec(
            format!(
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES \
                 WHERE {filter} AND TABLE_TYPE <> 'SEQUENCE' \
                 ORDER BY TABLE_SCHEMA, TABLE_NAME"
            ),
            params.clone(),
        )
        .await
        .map_err(|e| ep.error("reading information_schema.TABLES", e))?;
    let column_rows: Vec<Row> = conn
        .exec(
            format!(
                "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE \
                 FROM information_schema.COLUMNS WHERE {filter} \
                 ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
            ),
            params,
        )
        .await
        .map_err(|e| ep.error("reading information_schema.COLUMNS", e))?;
    let _ = conn.disconnect().await;

    let mut columns: HashMap<(String, String), Vec<ColumnInfo>> = HashMap::new();
    for r in &column_rows {
        let key = (
            text(r, 0).unwrap_or_default(),
            text(r, 1).unwrap_or_default(),
        );
        columns.entry(key).or_default().push(ColumnInfo {
            name: text(r, 2).unwrap_or_default(),
            data_type: text(r, 3).unwrap_or_default(),
            nullable: text(r, 4).as_deref() == Some("YES"),
        });
    }
    Ok(tables
        .iter()
        .map(|t| {
            let key = (
                text(t, 0).unwrap_or_default(),
                text(t, 1).unwrap_or_default(),
            );
            let columns = columns.remove(&key).unwrap_or_default();
            let kind = if text(t, 2).unwrap_or_default().contains("VIEW") {
                "view"
            } else {
                "table"
            };
            DatasetInfo {
                schema: Some(key.0),
                name: key.1,
                kind: kind.to_string(),
                columns,
            }
        })
        .collect())
}
