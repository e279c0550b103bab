//! PostgreSQL: the connector's own endpoint, connection and error mapping;
//! discovery from `pg_class`/`pg_attribute`.

use crate::common::server_spec::ServerConnection;
use ferry_core::Result;
use tokio_postgres::Client;

use crate::catalog::{ColumnInfo, DatasetInfo, bounded, group};
use crate::postgres::{PgEndpoint, map_err};

/// Tables, views, materialized views of every schema but the system ones
/// (or of `$1` alone), left-joined to their live columns, in
/// schema/table/position order.
const LIST: &str = "
SELECT n.nspname::text, c.relname::text,
       CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END,
       a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attribute a
         ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm')
   AND CASE WHEN $1::text IS NULL
            THEN n.nspname NOT IN ('pg_catalog', 'information_schema')
                 AND n.nspname NOT LIKE 'pg\\_toast%'
                 AND n.nspname NOT LIKE 'pg\\_temp\\_%'
            ELSE n.nspname = $1
       END
 ORDER BY n.nspname, c.relname, a.attnum";

async fn connect(s: &ServerConnection) -> Result<(PgEndpoint, Client)> {
    let ep = PgEndpoint::server("connection", &s.url, s.password.as_deref())?;
    let client = bounded(&ep.display, ep.connect()).await?;
    Ok((ep, client))
}

/// `server_version` of the server.
pub(super) async fn version(s: &ServerConnection) -> Result<String> {
    let (ep, client) = connect(s).await?;
    let row = client
        .query_one("SELECT current_setting('server_version')", &[])
        .await
        .map_err(|e| map_err(&ep.display, "asking the server version", e))?;
    Ok(row.get(0))
}

pub(super) async fn list_tables(
    s: &ServerConnection,
    schema: Option<&str>,
) -> Result<Vec<DatasetInfo>> {
    let (ep, client) = connect(s).await?;
    let rows = client
        .query(LIST, &[&schema])
        .await
        .map_err(|e| map_err(&ep.display, "listing tables", e))?;
    Ok(group(rows.iter().map(|r| {
        let column = r.get::<_, Option<String>>(3).map(|name| ColumnInfo {
            name,
            data_type: r.get(4),
            nullable: r.get(5),
        });
        (Some(r.get(0)), r.get(1), r.get(2), column)
    })))
}
