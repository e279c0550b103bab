//! SQLite: the file opened read-only by the connector's own helper (a
//! missing file is `NotFound` and is never created), on a blocking thread;
//! discovery from `sqlite_schema` and `pragma_table_xinfo`.

use std::path::PathBuf;

use super::spec::FileConnection;
use ferry_core::{Error, Result};

use crate::catalog::{ColumnInfo, DatasetInfo};
use crate::sqlite::{open_read_only, sql_error, table_info};

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("sqlite worker thread failed: {e}")))?
}

/// `sqlite_version()` of the library that opened the file (the file is
/// read once, so one that is not a database fails here).
pub(super) async fn version(f: &FileConnection) -> Result<String> {
    let path = f.path.clone();
    blocking(move || {
        let conn = open_read_only(&path)?;
        conn.query_row(
            "SELECT sqlite_version(), (SELECT count(*) FROM main.sqlite_schema)",
            [],
            |r| r.get(0),
        )
        .map_err(|e| sql_error(&path, "read the schema", e))
    })
    .await
}

pub(super) async fn list_tables(
    f: &FileConnection,
    schema: Option<&str>,
) -> Result<Vec<DatasetInfo>> {
    if let Some(s) = schema
        && !s.eq_ignore_ascii_case("main")
    {
        return Err(Error::invalid(
            "schema",
            format!("SQLite has no schema `{s}`: a SQLite file's tables are in `main`"),
        ));
    }
    let path: PathBuf = f.path.clone();
    blocking(move || {
        let conn = open_read_only(&path)?;
        let err = |e| sql_error(&path, "read the schema", e);
        let names: Vec<String> = conn
            .prepare(
                "SELECT name FROM main.sqlite_schema WHERE type IN ('table', 'view') \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(err)?;
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            // Dropped meanwhile by another connection: left out.
            let Some(info) = table_info(&conn, &path, &name)? else {
                continue;
            };
            tables.push(DatasetInfo {
                schema: None,
                name: info.name,
                kind: info.kind,
                columns: info
                    .columns
                    .into_iter()
                    .map(|c| ColumnInfo {
                        name: c.name,
                        data_type: c.declared,
                        nullable: !c.not_null,
                    })
                    .collect(),
            });
        }
        Ok(tables)
    })
    .await
}
