//! The SQLite connector's spec: a table in a database file, and a named
//! connection to a file. Paths go through [`Trust::local_path`], so a spec
//! sent to the server reaches only files under its `--files-root`.

use std::path::PathBuf;

use ferry_core::spec::{TableName, Trust};
use ferry_core::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connector::unresolved;

/// A table in a SQLite database file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteEndpoint {
    /// Path of the database file. Give either `path` or `connection`. On
    /// `ferry server`, a path under its `--files-root` (relative paths are
    /// taken relative to it).
    #[serde(default, skip_serializing_if = "path_is_empty")]
    pub path: PathBuf,
    /// Name of a SQLite connection kept by `ferry server`; instead of `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Table name.
    pub table: String,
}

/// A database file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConnection {
    /// Path of the file on the server's machine, under its `--files-root`.
    pub path: PathBuf,
}

fn path_is_empty(p: &std::path::Path) -> bool {
    p.as_os_str().is_empty()
}

impl SqliteEndpoint {
    /// Checks the endpoint, resolves its path as `trust` allows, and parses
    /// its table name.
    pub(crate) fn check(&mut self, field: &str, trust: &Trust) -> Result<TableName> {
        if let Some(name) = &self.connection {
            return Err(unresolved(field, name));
        }
        if self.path.as_os_str().is_empty() {
            return Err(Error::invalid(format!("{field}.path"), "must name a file"));
        }
        self.path = trust.local_path(&format!("{field}.path"), &self.path)?;
        let t = TableName::parse(&format!("{field}.table"), &self.table)?;
        if t.schema.is_some() {
            return Err(Error::invalid(
                format!("{field}.table"),
                "SQLite tables are not schema-qualified; write just the table name",
            ));
        }
        Ok(t)
    }
}
