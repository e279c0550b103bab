//! Named connections: a server or file a task's source or sink points at by
//! name (`connection: warehouse`) instead of carrying a URL.
//!
//! The server keeps connections in its store with the password encrypted,
//! and resolves a task's endpoints ([`resolve_endpoints`]) in memory right
//! before validating or running it, so a task definition never holds a
//! secret and one credential change reaches every task using it. Job files
//! run by `ferry run` keep using `url`/`path` directly.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::endpoint::{
    SinkSpec, SourceSpec, SqlEndpoint, SqliteEndpoint, redact_url, wrong_scheme,
};
use crate::{Error, Result};

/// What a connection reaches. `type` picks the connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConnectionSpec {
    /// A PostgreSQL server.
    Postgres(ServerConnection),
    /// A MySQL or MariaDB server.
    #[serde(alias = "mariadb")]
    Mysql(ServerConnection),
    /// A SQLite database file.
    Sqlite(FileConnection),
}

/// A database server reached by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConnection {
    /// URL without the password, e.g. `postgresql://app@db.internal:5432/sales`.
    /// A password written in the URL is moved into `password`.
    pub url: String,
    /// The password (write-only: stored encrypted, shown as `***`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A database file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConnection {
    /// Path of the file on the server's machine.
    pub path: PathBuf,
}

/// What the API shows in place of a secret.
pub const REDACTED: &str = "***";

impl ConnectionSpec {
    /// The connector's name.
    pub fn connector(&self) -> &'static str {
        match self {
            ConnectionSpec::Postgres(_) => "postgres",
            ConnectionSpec::Mysql(_) => "mysql",
            ConnectionSpec::Sqlite(_) => "sqlite",
        }
    }

    /// Checks the spec and moves a password written in the URL into
    /// `password` (so it is stored encrypted and the URL never carries it).
    pub fn normalize(mut self) -> Result<ConnectionSpec> {
        match &mut self {
            ConnectionSpec::Postgres(s) => s.normalize(&["postgres", "postgresql"])?,
            ConnectionSpec::Mysql(s) => s.normalize(&["mysql", "mariadb"])?,
            ConnectionSpec::Sqlite(f) => {
                if f.path.as_os_str().is_empty() {
                    return Err(Error::invalid("path", "must name a file"));
                }
            }
        }
        Ok(self)
    }

    /// The secret, if any.
    pub fn password(&self) -> Option<&str> {
        match self {
            ConnectionSpec::Postgres(s) | ConnectionSpec::Mysql(s) => s.password.as_deref(),
            ConnectionSpec::Sqlite(_) => None,
        }
    }

    /// Replaces the secret (after decryption, or to redact it).
    pub fn set_password(&mut self, password: Option<String>) {
        if let ConnectionSpec::Postgres(s) | ConnectionSpec::Mysql(s) = self {
            s.password = password;
        }
    }

    /// A copy fit to show: the password replaced by [`REDACTED`].
    pub fn redacted(&self) -> ConnectionSpec {
        let mut c = self.clone();
        if c.password().is_some() {
            c.set_password(Some(REDACTED.to_string()));
        }
        c
    }

    /// The URL with the password put in (in memory only, for a driver), or
    /// the file path.
    fn server_url(&self, field: &str) -> Result<String> {
        match self {
            ConnectionSpec::Postgres(s) | ConnectionSpec::Mysql(s) => s.url_with_password(field),
            ConnectionSpec::Sqlite(_) => Err(Error::Internal("not a server connection".into())),
        }
    }
}

impl ServerConnection {
    fn normalize(&mut self, schemes: &[&str]) -> Result<()> {
        let mut url = url::Url::parse(&self.url).map_err(|e| {
            Error::invalid(
                "url",
                format!("{} is not a URL: {e}", redact_url(&self.url)),
            )
        })?;
        if !schemes.contains(&url.scheme()) {
            return Err(wrong_scheme("url", &self.url, schemes));
        }
        if let Some(pw) = url.password() {
            let decoded = percent_encoding::percent_decode_str(pw)
                .decode_utf8()
                .map_err(|_| Error::invalid("url", "the password in the URL is not UTF-8"))?
                .into_owned();
            if self.password.is_some() {
                return Err(Error::invalid(
                    "password",
                    "given twice: in the URL and in `password`; keep one",
                ));
            }
            self.password = Some(decoded);
            url.set_password(None)
                .map_err(|()| Error::invalid("url", "cannot remove the password from the URL"))?;
            self.url = url.to_string();
        }
        Ok(())
    }

    fn url_with_password(&self, field: &str) -> Result<String> {
        let Some(pw) = &self.password else {
            return Ok(self.url.clone());
        };
        let mut url = url::Url::parse(&self.url)
            .map_err(|e| Error::invalid(field, format!("the connection's URL: {e}")))?;
        url.set_password(Some(pw)).map_err(|()| {
            Error::invalid(
                field,
                "the connection has a password but its URL names no host to use it with",
            )
        })?;
        Ok(url.to_string())
    }
}

/// Looks a connection up by name (the server's store).
pub trait ConnectionLookup {
    /// The connection named `name`, with its password decrypted.
    fn connection(&self, name: &str) -> Option<&ConnectionSpec>;
}

impl ConnectionLookup for std::collections::HashMap<String, ConnectionSpec> {
    fn connection(&self, name: &str) -> Option<&ConnectionSpec> {
        self.get(name)
    }
}

/// The connections a task's endpoints name (source, sink), to fetch before
/// [`resolve_endpoints`].
pub fn named_connections(source: &SourceSpec, sink: &SinkSpec) -> Vec<String> {
    let mut names = Vec::new();
    let mut add = |n: Option<&String>| {
        if let Some(n) = n
            && !names.contains(n)
        {
            names.push(n.clone());
        }
    };
    add(source_connection(source));
    add(sink_connection(sink));
    names
}

fn source_connection(s: &SourceSpec) -> Option<&String> {
    match s {
        SourceSpec::Postgres(e) | SourceSpec::Mysql(e) => e.connection.as_ref(),
        SourceSpec::Sqlite(e) => e.connection.as_ref(),
    }
}

fn sink_connection(s: &SinkSpec) -> Option<&String> {
    match s {
        SinkSpec::Postgres(e) | SinkSpec::Mysql(e) => e.connection.as_ref(),
        SinkSpec::Sqlite(e) => e.connection.as_ref(),
    }
}

/// Replaces `connection: NAME` in the source and sink by the connection's
/// URL (password included) or path. Errors name the field: an unknown
/// connection, or one of another type than the endpoint.
pub fn resolve_endpoints(
    source: &mut SourceSpec,
    sink: &mut SinkSpec,
    lookup: &dyn ConnectionLookup,
) -> Result<()> {
    let connector = source.connector();
    match source {
        SourceSpec::Postgres(e) | SourceSpec::Mysql(e) => {
            resolve_sql("source", connector, e, lookup)?
        }
        SourceSpec::Sqlite(e) => resolve_file("source", e, lookup)?,
    }
    let connector = sink.connector();
    match sink {
        SinkSpec::Postgres(e) | SinkSpec::Mysql(e) => resolve_sql("sink", connector, e, lookup)?,
        SinkSpec::Sqlite(e) => resolve_file("sink", e, lookup)?,
    }
    Ok(())
}

fn find<'a>(
    field: &str,
    connector: &str,
    name: &str,
    lookup: &'a dyn ConnectionLookup,
) -> Result<&'a ConnectionSpec> {
    let conn = lookup.connection(name).ok_or_else(|| {
        Error::invalid(
            format!("{field}.connection"),
            format!("no connection named `{name}`"),
        )
    })?;
    if conn.connector() != connector {
        return Err(Error::invalid(
            format!("{field}.connection"),
            format!(
                "connection `{name}` is a {} connection, but the {field} is {connector}",
                conn.connector()
            ),
        ));
    }
    Ok(conn)
}

fn resolve_sql(
    field: &str,
    connector: &str,
    e: &mut SqlEndpoint,
    lookup: &dyn ConnectionLookup,
) -> Result<()> {
    let Some(name) = e.connection.take() else {
        return Ok(());
    };
    if !e.url.is_empty() {
        return Err(Error::invalid(
            format!("{field}.url"),
            "set either `url` or `connection`, not both",
        ));
    }
    let conn = find(field, connector, &name, lookup)?;
    e.url = conn.server_url(&format!("{field}.connection"))?;
    Ok(())
}

fn resolve_file(field: &str, e: &mut SqliteEndpoint, lookup: &dyn ConnectionLookup) -> Result<()> {
    let Some(name) = e.connection.take() else {
        return Ok(());
    };
    if !e.path.as_os_str().is_empty() {
        return Err(Error::invalid(
            format!("{field}.path"),
            "set either `path` or `connection`, not both",
        ));
    }
    match find(field, "sqlite", &name, lookup)? {
        ConnectionSpec::Sqlite(f) => e.path = f.path.clone(),
        _ => return Err(Error::Internal("connector mismatch".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn pg(url: &str, password: Option<&str>) -> ConnectionSpec {
        ConnectionSpec::Postgres(ServerConnection {
            url: url.into(),
            password: password.map(str::to_string),
        })
    }

    #[test]
    fn moves_a_url_password_out_and_back_in() {
        let c = pg("postgresql://bob:p%40ss@db:5432/sales", None)
            .normalize()
            .unwrap();
        assert_eq!(c.password(), Some("p@ss"));
        match &c {
            ConnectionSpec::Postgres(s) => assert_eq!(s.url, "postgresql://bob@db:5432/sales"),
            _ => unreachable!(),
        }
        assert_eq!(c.redacted().password(), Some(REDACTED));
        let lookup: HashMap<String, ConnectionSpec> = [("wh".to_string(), c)].into();
        let mut source = SourceSpec::Postgres(SqlEndpoint {
            connection: Some("wh".into()),
            table: "t".into(),
            ..SqlEndpoint::default()
        });
        let mut sink = SinkSpec::Sqlite(SqliteEndpoint {
            path: "/tmp/x.db".into(),
            table: "t".into(),
            connection: None,
        });
        resolve_endpoints(&mut source, &mut sink, &lookup).unwrap();
        match source {
            SourceSpec::Postgres(e) => {
                assert_eq!(e.url, "postgresql://bob:p%40ss@db:5432/sales");
                assert!(e.connection.is_none());
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let lookup: HashMap<String, ConnectionSpec> =
            [("wh".to_string(), pg("postgresql://db/x", None))].into();
        let mut source = SourceSpec::Mysql(SqlEndpoint {
            connection: Some("wh".into()),
            table: "t".into(),
            ..SqlEndpoint::default()
        });
        let mut sink = SinkSpec::Postgres(SqlEndpoint {
            connection: Some("nope".into()),
            table: "t".into(),
            ..SqlEndpoint::default()
        });
        let e = resolve_endpoints(&mut source, &mut sink, &lookup).unwrap_err();
        assert!(e.to_string().contains("source.connection"), "{e}");
        assert!(e.to_string().contains("postgres connection"), "{e}");
        let mut source = SourceSpec::Postgres(SqlEndpoint {
            connection: Some("wh".into()),
            table: "t".into(),
            ..SqlEndpoint::default()
        });
        let e = resolve_endpoints(&mut source, &mut sink, &lookup).unwrap_err();
        assert!(e.to_string().contains("sink.connection"), "{e}");
        assert!(e.to_string().contains("no connection named `nope`"), "{e}");
        assert!(
            pg("mysql://db/x", None)
                .normalize()
                .unwrap_err()
                .to_string()
                .contains("postgresql://")
        );
        assert!(
            pg("postgresql://u:a@db/x", Some("b"))
                .normalize()
                .unwrap_err()
                .to_string()
                .contains("given twice")
        );
    }
}
