//! Iceberg's SQL catalog on a SQLite file: loading and creating tables
//! through iceberg-rust, and the one commit iceberg-rust cannot make for
//! Ferry (an overwrite snapshot) swapped in with the catalog's own
//! compare-and-swap on `iceberg_tables.metadata_location`.
//!
//! The SQL catalog is the JDBC catalog's schema: PyIceberg's `SqlCatalog`,
//! Spark's and Trino's JDBC catalogs read the same rows. A commit is one
//! `UPDATE … WHERE metadata_location = <the one the commit started from>`:
//! of two writers, exactly one moves the pointer.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_core::{Error, Result};
use iceberg::io::LocalFsStorageFactory;
use iceberg::table::Table;
use iceberg::{Catalog as _, CatalogBuilder as _, NamespaceIdent, TableIdent};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlCatalog, SqlCatalogBuilder,
};
use sqlx::ConnectOptions as _;

use super::spec::{CatalogSpec, IcebergEndpoint};

/// An open catalog and the identifier of the endpoint's table.
pub(crate) struct Catalog {
    pub(crate) inner: SqlCatalog,
    spec: CatalogSpec,
    pub(crate) ident: TableIdent,
    display: String,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// The catalog's SQLite URL for sqlx (the file created if missing).
fn sqlite_url(path: &str) -> String {
    format!("sqlite://{path}?mode=rwc")
}

impl Catalog {
    /// Opens the catalog of a checked endpoint (creating its tables).
    pub(crate) async fn open(endpoint: &IcebergEndpoint) -> Result<Catalog> {
        let display = format!("iceberg table {}", endpoint.display());
        let namespace = NamespaceIdent::from_strs(endpoint.namespace.split('.'))
            .map_err(|e| Error::invalid("namespace", e.to_string()))?;
        let ident = TableIdent::new(namespace, endpoint.table.clone());
        std::fs::create_dir_all(&endpoint.catalog.warehouse).map_err(|e| Error::Server {
            context: format!(
                "{display} (creating the warehouse {})",
                endpoint.catalog.warehouse
            ),
            message: e.to_string(),
            transient: false,
        })?;
        let inner = SqlCatalogBuilder::default()
            .with_storage_factory(Arc::new(LocalFsStorageFactory))
            .load(
                endpoint.catalog.name.clone(),
                HashMap::from([
                    (
                        SQL_CATALOG_PROP_URI.to_string(),
                        sqlite_url(&endpoint.catalog.uri),
                    ),
                    (
                        SQL_CATALOG_PROP_WAREHOUSE.to_string(),
                        endpoint.catalog.warehouse.clone(),
                    ),
                ]),
            )
            .await
            .map_err(|e| error(&display, "opening the catalog", e))?;
        Ok(Catalog {
            inner,
            spec: endpoint.catalog.clone(),
            ident,
            display,
        })
    }

    /// How messages name the table.
    pub(crate) fn display(&self) -> &str {
        &self.display
    }

    /// An iceberg-rust error as Ferry's, naming the table.
    pub(crate) fn error(&self, doing: &str, e: iceberg::Error) -> Error {
        error(&self.display, doing, e)
    }

    /// Refuses a table whose files would lie outside the warehouse: its
    /// location, its metadata and manifest lists, and any data-path property
    /// (a catalog row or metadata file can name any path, and iceberg-rust
    /// reads and writes them as they are).
    pub(crate) fn check_confined(&self, table: &Table) -> Result<()> {
        let md = table.metadata();
        let location = local(md.location());
        let warehouse = self.spec.warehouse.trim_end_matches('/').to_string();
        let mut outside: Vec<String> = Vec::new();
        if !under(&location, &warehouse) {
            outside.push(format!("table location {}", md.location()));
        }
        if let Some(m) = table.metadata_location()
            && !under(&local(m), &location)
        {
            outside.push(format!("metadata file {m}"));
        }
        for s in md.snapshots() {
            if !under(&local(s.manifest_list()), &location) {
                outside.push(format!("manifest list {}", s.manifest_list()));
            }
        }
        for key in md.properties().keys() {
            if key.starts_with("write.") && key.ends_with(".path") {
                outside.push(format!("property {key}"));
            }
        }
        if outside.is_empty() {
            Ok(())
        } else {
            Err(Error::Unsupported {
                connector: super::CONNECTOR,
                capability: format!(
                    "{}: Ferry reads and writes only tables inside the warehouse {warehouse}; this one has {}",
                    self.display,
                    outside.join(", ")
                ),
            })
        }
    }

    /// A data or delete file a scan would read: inside the table's location.
    pub(crate) fn check_file(&self, table: &Table, path: &str) -> Result<()> {
        let location = local(table.metadata().location());
        if under(&local(path), &location) {
            Ok(())
        } else {
            Err(Error::Unsupported {
                connector: super::CONNECTOR,
                capability: format!(
                    "{}: file {path} is outside the table's location; Ferry reads only files under it",
                    self.display
                ),
            })
        }
    }

    /// The table, or `None` if the catalog has none of that name.
    pub(crate) async fn load(&self) -> Result<Option<Table>> {
        let exists = self
            .inner
            .table_exists(&self.ident)
            .await
            .map_err(|e| self.error("looking the table up", e))?;
        if !exists {
            return Ok(None);
        }
        let table = self
            .inner
            .load_table(&self.ident)
            .await
            .map_err(|e| self.error("loading the table", e))?;
        self.check_confined(&table)?;
        Ok(Some(table))
    }

    /// The table, which must exist.
    pub(crate) async fn existing(&self) -> Result<Table> {
        self.load().await?.ok_or_else(|| Error::NotFound {
            what: "Iceberg table",
            name: self.ident.to_string(),
            hint: Some(format!(
                "not in catalog `{}` at {}",
                self.spec.name, self.spec.uri
            )),
        })
    }

    /// Creates the table's namespace if missing.
    pub(crate) async fn ensure_namespace(&self) -> Result<()> {
        let ns = self.ident.namespace();
        let exists = self
            .inner
            .namespace_exists(ns)
            .await
            .map_err(|e| self.error("looking the namespace up", e))?;
        if !exists {
            self.inner
                .create_namespace(ns, HashMap::new())
                .await
                .map_err(|e| self.error("creating the namespace", e))?;
        }
        Ok(())
    }

    /// Moves the table's metadata pointer from `from` to `to` if it still
    /// is `from`; `false` if another commit moved it first.
    pub(crate) async fn swap(&self, from: &str, to: &str) -> Result<bool> {
        let options: sqlx::sqlite::SqliteConnectOptions = sqlite_url(&self.spec.uri)
            .parse()
            .map_err(|e: sqlx::Error| Error::Internal(e.to_string()))?;
        let mut conn = options
            .busy_timeout(std::time::Duration::from_secs(30))
            .connect()
            .await
            .map_err(|e| self.sql_error(e))?;
        let done = sqlx::query(
            "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? \
             WHERE catalog_name = ? AND table_name = ? AND table_namespace = ? \
               AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = ?",
        )
        .bind(to)
        .bind(from)
        .bind(&self.spec.name)
        .bind(self.ident.name())
        .bind(self.ident.namespace().join("."))
        .bind(from)
        .execute(&mut conn)
        .await
        .map_err(|e| self.sql_error(e))?;
        Ok(done.rows_affected() == 1)
    }

    fn sql_error(&self, e: sqlx::Error) -> Error {
        Error::Server {
            context: format!("{} (the catalog {})", self.display, self.spec.uri),
            message: e.to_string(),
            transient: matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)),
        }
    }
}

/// A local location as a plain path (`file:///a` → `/a`).
fn local(location: &str) -> String {
    location
        .strip_prefix("file://")
        .or_else(|| location.strip_prefix("file:"))
        .unwrap_or(location)
        .to_string()
}

/// Whether `path` lies under the directory `dir` (no `..`, no other scheme).
fn under(path: &str, dir: &str) -> bool {
    path.starts_with('/')
        && !path.contains("://")
        && !path.split('/').any(|s| s == ".." || s == ".")
        && (path == dir || path.starts_with(&format!("{}/", dir.trim_end_matches('/'))))
}

fn error(display: &str, doing: &str, e: iceberg::Error) -> Error {
    Error::Server {
        context: format!("{display} ({doing})"),
        message: e.to_string(),
        transient: e.retryable(),
    }
}
