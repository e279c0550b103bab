//! The spec shapes of connectors that reach a database server by URL: a
//! table endpoint ([`SqlEndpoint`]) and a named connection
//! ([`ServerConnection`]). Each such connector owns its schemes and checks;
//! these are the shared fields and rules.
//!
//! A password may be written in the URL, taken from `password_env` (job
//! files only: [`Trust`] refuses the environment to specs sent to the
//! server), or kept in a named connection, where [`ServerConnection::normalize`]
//! moves it out of the URL into the sealed `password`.

use std::fmt;

use ferry_core::spec::{REDACTED, TableName, Trust, redact_url};
use ferry_core::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connector::unresolved;

/// A table on a database server reached by URL.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
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
    /// Job files only: a task sent to the server keeps its password in a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Table name: `table` or `schema.table` (PostgreSQL; default schema `public`)
    /// or `database.table` (MySQL; default: the URL's database).
    pub table: String,
}

/// How a `full_overwrite` replaces the rows of a table that exists already.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overwrite {
    /// Load a staging table next to the target, then swap it in with a
    /// short exclusive lock at the end: readers see the old rows throughout
    /// the load and wait only for the swap. Indexes, constraints, defaults,
    /// grants, comments, owner and replica identity are carried over.
    Swap,
    /// `DELETE` the old rows and load in the same transaction: readers keep
    /// seeing the old rows (MVCC) and never wait; slower than `swap` on a
    /// large table and leaves dead rows for vacuum.
    Delete,
    /// `TRUNCATE` and load in one transaction: fastest, but every reader of
    /// the target waits for the whole load.
    Truncate,
}

impl Overwrite {
    /// The option's value as written in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Overwrite::Swap => "swap",
            Overwrite::Delete => "delete",
            Overwrite::Truncate => "truncate",
        }
    }
}

/// The options of a table endpoint that only a sink has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlSinkOptions {
    /// How `full_overwrite` replaces an existing table's rows: `swap`
    /// (default: staging table swapped in with a short lock; readers are not
    /// blocked during the load), `delete` (delete and load in one
    /// transaction; readers never wait), or `truncate` (fastest; readers
    /// wait for the whole load). Left out, PostgreSQL swaps where nothing
    /// depends on the table (views, foreign keys, triggers, …) and deletes
    /// otherwise, saying so in the run summary; given as `swap`, such a
    /// dependency fails the run instead. MySQL/MariaDB always swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<Overwrite>,
}

/// The option names of [`SqlSinkOptions`], taken out of a sink's options
/// before the rest is parsed as a [`SqlEndpoint`].
pub(crate) const SINK_ONLY_OPTIONS: &[&str] = &["overwrite"];

impl fmt::Debug for SqlEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlEndpoint")
            .field("url", &redact_url(&self.url))
            .field("connection", &self.connection)
            .field("password_env", &self.password_env)
            .field("table", &self.table)
            .finish()
    }
}

impl SqlEndpoint {
    /// Checks the endpoint (no I/O) and parses its table name.
    pub(crate) fn check(&self, field: &str, schemes: &[&str], trust: &Trust) -> Result<TableName> {
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
        if let Some(var) = &self.password_env {
            trust.check_env(&format!("{field}.password_env"), var)?;
        }
        TableName::parse(&format!("{field}.table"), &self.table)
    }

    /// Confines the URL's local files (a CA file) to what `trust` allows.
    pub(crate) fn confine_files(&mut self, field: &str, trust: &Trust) -> Result<()> {
        self.url = confine_url_files(&format!("{field}.url"), &self.url, trust)?;
        Ok(())
    }

    /// The URL without its password, for dataset locations.
    pub(crate) fn public_url(&self) -> String {
        url_without_password(&self.url)
    }
}

/// The query parameters of a database URL that name a local file (the CA
/// file of TLS): confined to what `trust` allows, relative paths resolved.
const FILE_PARAMS: &[&str] = &["sslrootcert", "ssl-ca", "ssl_ca"];

/// `url` with each file parameter ([`FILE_PARAMS`]) checked by `trust`
/// (on a server: under `--files-root`) and replaced by the path the driver
/// must use; errors name `field`'s parameter.
pub(crate) fn confine_url_files(field: &str, url: &str, trust: &Trust) -> Result<String> {
    let mut parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(_) if *trust == Trust::Local => return Ok(url.to_string()), // the driver names it
        Err(e) => return Err(unchecked_url(field, url, &e.to_string())),
    };
    if *trust != Trust::Local {
        refuse_local_sockets(field, &parsed)?;
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !pairs.iter().any(|(k, _)| FILE_PARAMS.contains(&k.as_str())) {
        return Ok(url.to_string());
    }
    let mut out = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if FILE_PARAMS.contains(&k.as_str()) {
            let path = trust.local_path(&format!("{field}.{k}"), std::path::Path::new(&v))?;
            out.push((k, path.display().to_string()));
        } else {
            out.push((k, v));
        }
    }
    parsed.query_pairs_mut().clear().extend_pairs(out);
    Ok(parsed.to_string())
}

/// A URL the server cannot check (several hosts, an odd form the driver
/// would accept): refused on a server, since its password, CA file and
/// host could not be confined.
pub(crate) fn unchecked_url(field: &str, url: &str, why: &str) -> Error {
    Error::invalid(
        field,
        format!(
            "{} is not a URL this server can check ({why}); give one host as scheme://user@host:port/database",
            redact_url(url)
        ),
    )
}

/// Refuses a URL that reaches a database through a local socket (`?host=/run/…`,
/// a percent-encoded `/` in the host, `?socket=`): on a server that would
/// log in as the server's own OS user, next to its store.
fn refuse_local_sockets(field: &str, url: &url::Url) -> Result<()> {
    let socket = |v: &str| {
        v.starts_with('/') || v.starts_with('@') || v.contains("%2F") || v.contains("%2f")
    };
    if url.host_str().is_some_and(socket) {
        return Err(Error::invalid(
            field,
            "local sockets are not available to specs sent to the server; give a host name",
        ));
    }
    for (k, v) in url.query_pairs() {
        let k = k.to_ascii_lowercase();
        if (k == "host" || k == "hostaddr") && v.split(',').any(socket)
            || k == "socket"
            || k == "unix_socket"
        {
            return Err(Error::invalid(
                format!("{field}.{k}"),
                "local sockets are not available to specs sent to the server; give a host name",
            ));
        }
    }
    Ok(())
}

/// `url` with its user-info password removed (not redacted: gone), for
/// comparing locations.
fn url_without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => redact_url(url),
    }
}

/// Reads the password of a job file's endpoint from `password_env`, if
/// set. Only local specs get here: validation refuses `password_env` to
/// specs sent to the server, and endpoints check again when they open.
pub(crate) fn password_from_env(field: &str, var: Option<&str>) -> Result<Option<String>> {
    var.map(|v| Trust::Local.read_env(&format!("{field}.password_env"), v))
        .transpose()
}

/// A database server reached by URL.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConnection {
    /// URL without the password, e.g. `postgresql://app@db.internal:5432/sales`.
    /// A password written in the URL is moved into `password`.
    pub url: String,
    /// The password (write-only: stored encrypted, shown as `***`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl fmt::Debug for ServerConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConnection")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// The secret fields of a [`ServerConnection`].
pub(crate) const SERVER_SECRETS: &[&str] = &["password"];

impl ServerConnection {
    /// Checks the URL's scheme and moves a password written in the URL into
    /// `password` (so it is stored encrypted and the URL never carries it).
    pub(crate) fn normalize(&mut self, schemes: &[&str]) -> Result<()> {
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
        if url
            .query_pairs()
            .any(|(k, _)| k.eq_ignore_ascii_case("password"))
        {
            return Err(Error::invalid(
                "url",
                "a password in the URL's query is not kept; give it in `password`",
            ));
        }
        Ok(())
    }

    /// The URL with the password put in (in memory only, for a driver).
    pub(crate) fn url_with_password(&self, field: &str) -> Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_scheme_is_named() {
        let e = SqlEndpoint {
            connection: None,
            url: "mysql://root:pw@h/db".into(),
            password_env: None,
            table: "t".into(),
        };
        let err = e
            .check("source", &["postgres", "postgresql"], &Trust::Local)
            .expect_err("scheme");
        let msg = err.to_string();
        assert!(
            msg.contains("source.url") && msg.contains("postgresql://"),
            "{msg}"
        );
        assert!(!msg.contains("pw"), "password leaked: {msg}");
    }

    #[test]
    fn moves_a_url_password_out_and_back_in() {
        let mut c = ServerConnection {
            url: "postgresql://bob:p%40ss@db:5432/sales".into(),
            password: None,
        };
        c.normalize(&["postgresql"]).expect("normalizes");
        assert_eq!(c.password.as_deref(), Some("p@ss"));
        assert_eq!(c.url, "postgresql://bob@db:5432/sales");
        assert_eq!(
            c.url_with_password("f").expect("url"),
            "postgresql://bob:p%40ss@db:5432/sales"
        );
        assert!(!format!("{c:?}").contains("p@ss"));
        let mut twice = ServerConnection {
            url: "postgresql://u:a@db/x".into(),
            password: Some("b".into()),
        };
        assert!(
            twice
                .normalize(&["postgresql"])
                .expect_err("twice")
                .to_string()
                .contains("given twice")
        );
    }
}
