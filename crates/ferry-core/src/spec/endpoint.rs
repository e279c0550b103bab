//! Source and sink endpoints: one variant per connector, tagged by `type`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ident::TableName;
use crate::{Error, Result};

/// Where a task reads from. `type` picks the connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceSpec {
    /// A PostgreSQL table, read with binary `COPY` in parallel key-range splits.
    Postgres(SqlEndpoint),
    /// A MySQL or MariaDB table, read with streaming result sets.
    #[serde(alias = "mariadb")]
    Mysql(SqlEndpoint),
    /// A table in a SQLite database file.
    Sqlite(SqliteEndpoint),
}

/// Where a task writes to. `type` picks the connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkSpec {
    /// A PostgreSQL table, written with binary `COPY … FROM STDIN`.
    Postgres(SqlEndpoint),
    /// A MySQL or MariaDB table, written with `LOAD DATA LOCAL INFILE` from a stream.
    #[serde(alias = "mariadb")]
    Mysql(SqlEndpoint),
    /// A table in a SQLite database file (created if missing).
    Sqlite(SqliteEndpoint),
}

/// A table on a database server reached by URL.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlEndpoint {
    /// Connection URL, e.g. `postgresql://user@host:5432/db` or
    /// `mysql://user@host:3306/db`. Prefer `password_env` to a password in the URL;
    /// either way it is never printed. Give either `url` or `connection`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Name of a connection kept by `ferry server` (which fills in its URL
    /// and password at run time); instead of `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Name of an environment variable holding the password (overrides one in `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Table name: `table` or `schema.table` (PostgreSQL; default schema `public`)
    /// or `database.table` (MySQL; default: the URL's database).
    pub table: String,
}

/// A table in a SQLite database file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteEndpoint {
    /// Path of the database file. Give either `path` or `connection`.
    #[serde(default, skip_serializing_if = "path_is_empty")]
    pub path: PathBuf,
    /// Name of a SQLite connection kept by `ferry server`; instead of `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Table name.
    pub table: String,
}

impl SourceSpec {
    /// The connector's name.
    pub fn connector(&self) -> &'static str {
        match self {
            SourceSpec::Postgres(_) => "postgres",
            SourceSpec::Mysql(_) => "mysql",
            SourceSpec::Sqlite(_) => "sqlite",
        }
    }

    pub(crate) fn validate(&self, field: &str) -> Result<TableName> {
        match self {
            SourceSpec::Postgres(e) => e.validate(field, &["postgres", "postgresql"]),
            SourceSpec::Mysql(e) => e.validate(field, &["mysql", "mariadb"]),
            SourceSpec::Sqlite(e) => e.validate(field),
        }
    }

    pub(crate) fn same_table_as(&self, sink: &SinkSpec) -> bool {
        let norm = |t: &str, default: Option<&str>| {
            TableName::parse("", t).ok().map(|mut n| {
                if n.schema.is_none() {
                    n.schema = default.map(str::to_string);
                }
                n
            })
        };
        match (self, sink) {
            (SourceSpec::Postgres(a), SinkSpec::Postgres(b)) => {
                a.url == b.url && norm(&a.table, Some("public")) == norm(&b.table, Some("public"))
            }
            (SourceSpec::Mysql(a), SinkSpec::Mysql(b)) => {
                a.url == b.url && norm(&a.table, None) == norm(&b.table, None)
            }
            (SourceSpec::Sqlite(a), SinkSpec::Sqlite(b)) => a.path == b.path && a.table == b.table,
            _ => false,
        }
    }
}

impl SinkSpec {
    /// The connector's name.
    pub fn connector(&self) -> &'static str {
        match self {
            SinkSpec::Postgres(_) => "postgres",
            SinkSpec::Mysql(_) => "mysql",
            SinkSpec::Sqlite(_) => "sqlite",
        }
    }

    pub(crate) fn validate(&self, field: &str) -> Result<TableName> {
        match self {
            SinkSpec::Postgres(e) => e.validate(field, &["postgres", "postgresql"]),
            SinkSpec::Mysql(e) => e.validate(field, &["mysql", "mariadb"]),
            SinkSpec::Sqlite(e) => e.validate(field),
        }
    }
}

fn path_is_empty(p: &std::path::Path) -> bool {
    p.as_os_str().is_empty()
}

/// A `connection:` the server has not resolved (`ferry run` cannot).
fn unresolved(field: &str, name: &str) -> Error {
    Error::invalid(
        format!("{field}.connection"),
        format!(
            "names the connection `{name}`, which only `ferry server` can resolve; \
             in a job file run by `ferry run`, give the `url` (or `path`) instead"
        ),
    )
}

impl SqlEndpoint {
    fn validate(&self, field: &str, schemes: &[&str]) -> Result<TableName> {
        if let Some(name) = &self.connection {
            return Err(unresolved(field, name));
        }
        if self.url.is_empty() {
            return Err(Error::invalid(
                format!("{field}.url"),
                "is required: give `url` (or `connection`, with `ferry server`)",
            ));
        }
        let scheme = self.url.split("://").next().unwrap_or_default();
        if !self.url.contains("://") || !schemes.contains(&scheme) {
            return Err(wrong_scheme(&format!("{field}.url"), &self.url, schemes));
        }
        if let Some(var) = &self.password_env
            && (var.is_empty() || var.contains('='))
        {
            return Err(Error::invalid(
                format!("{field}.password_env"),
                "must name an environment variable",
            ));
        }
        TableName::parse(&format!("{field}.table"), &self.table)
    }
}

impl SqliteEndpoint {
    fn validate(&self, field: &str) -> Result<TableName> {
        if let Some(name) = &self.connection {
            return Err(unresolved(field, name));
        }
        if self.path.as_os_str().is_empty() {
            return Err(Error::invalid(format!("{field}.path"), "must name a file"));
        }
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

/// The error for a URL whose scheme the connector does not take.
pub(crate) fn wrong_scheme(field: &str, url: &str, schemes: &[&str]) -> Error {
    Error::invalid(
        field,
        format!(
            "{} is not a valid URL for this connector; it must start with {}",
            redact_url(url),
            schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    )
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let host = &authority[at + 1..];
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                format!("{scheme}://{user}@{host}{tail}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgresql://bob:s3cr@t@h:5432/db?x=1"),
            "postgresql://bob:***@h:5432/db?x=1"
        );
        assert_eq!(redact_url("mysql://root@h/db"), "mysql://root@h/db");
        assert_eq!(redact_url("mysql://h/db"), "mysql://h/db");
    }

    #[test]
    fn wrong_scheme_is_named() {
        let e = SqlEndpoint {
            connection: None,
            url: "mysql://root:pw@h/db".into(),
            password_env: None,
            table: "t".into(),
        };
        let err = e
            .validate("source", &["postgres", "postgresql"])
            .expect_err("scheme");
        let msg = err.to_string();
        assert!(
            msg.contains("source.url") && msg.contains("postgresql://"),
            "{msg}"
        );
        assert!(!msg.contains("pw"), "password leaked: {msg}");
    }
}
