//! The endpoint of a table on a database server ([`SqlEndpoint`]), checked
//! once and shared by the connectors that reach a server by URL: each gives
//! a [`ServerKind`] (its name, schemes, default schema and constructors)
//! and gets the source/sink endpoints and the connection plumbing.

use std::sync::Arc;

use ferry_core::spec::{TableName, Trust};
use ferry_core::{Dataset, DatasetKind, Result, Sink, SinkEndpoint, Source, SourceEndpoint};
use serde_json::{Map, Value};

use super::server_spec::{
    Overwrite, SERVER_SECRETS, SINK_ONLY_OPTIONS, ServerConnection, SqlEndpoint, SqlSinkOptions,
};
use crate::connector::{parse_options, to_options};

/// Lists the datasets a server connection reaches, in a namespace if given.
pub type ListDatasets =
    for<'a> fn(
        &'a ServerConnection,
        Option<&'a str>,
    ) -> futures::future::BoxFuture<'a, Result<Vec<crate::catalog::DatasetInfo>>>;

/// What differs between the connectors of this shape; it is the
/// connector (see `server_connector`).
#[derive(Clone, Copy)]
pub struct ServerKind {
    /// The connector's name.
    pub name: &'static str,
    /// Other `type` values that mean it.
    pub aliases: &'static [&'static str],
    /// What it reads and writes, and how (one line).
    pub description: &'static str,
    /// Whether its reads are planned in several splits.
    pub splits: bool,
    /// Whether its source takes `incremental.cursor: xmin` (PostgreSQL's
    /// transaction snapshot as the watermark).
    pub xmin_cursor: bool,
    /// Its part of the type matrix.
    pub types: &'static dyn crate::matrix::TypeMapping,
    /// Connects and asks the server's version.
    pub version: fn(&ServerConnection) -> futures::future::BoxFuture<'_, Result<String>>,
    /// Lists the datasets a connection reaches (in a namespace).
    pub datasets: ListDatasets,
    /// URL schemes it accepts.
    pub schemes: &'static [&'static str],
    /// The schema an unqualified table is in, for comparing locations
    /// (`None`: the URL's database, already part of the location).
    pub default_schema: Option<&'static str>,
    /// Builds the source.
    pub source: fn(&SqlEndpoint, &TableName) -> Result<Box<dyn Source>>,
    /// Builds the sink.
    pub sink: fn(&SqlEndpoint, &TableName, &SqlSinkOptions) -> Result<Box<dyn Sink>>,
    /// The `overwrite` choices its sink implements.
    pub overwrites: &'static [Overwrite],
    /// The dialect a `source_filter` is checked in.
    pub dialect: fn() -> Box<dyn sqlparser::dialect::Dialect>,
}

/// A checked table endpoint.
#[derive(Debug)]
pub(crate) struct ServerTable {
    kind: ServerKind,
    endpoint: SqlEndpoint,
    table: TableName,
    dataset: Dataset,
    trust: Trust,
    field: String,
    /// The sink-only options (default for a source).
    sink_options: SqlSinkOptions,
}

impl std::fmt::Debug for ServerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl ServerTable {
    /// Parses and checks `options` as `field` (`source`, `sink`, …).
    pub(crate) fn parse(
        kind: &ServerKind,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<ServerTable>> {
        Ok(Arc::new(Self::build(kind, field, options, trust)?))
    }

    fn build(
        kind: &ServerKind,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<ServerTable> {
        let mut endpoint: SqlEndpoint = parse_options(field, options)?;
        let table = endpoint.check(field, kind.schemes, trust)?;
        endpoint.confine_files(field, trust)?;
        let mut located = table.clone();
        if located.schema.is_none() {
            located.schema = kind.default_schema.map(str::to_string);
        }
        let dataset = Dataset {
            kind: DatasetKind::Table,
            name: table.to_string(),
            location: format!("{}#{located}", endpoint.public_url()),
        };
        Ok(ServerTable {
            kind: *kind,
            endpoint,
            table,
            dataset,
            trust: trust.clone(),
            field: field.to_string(),
            sink_options: SqlSinkOptions::default(),
        })
    }

    /// Parses and checks `options` as a sink: the table endpoint and the
    /// sink-only options ([`SqlSinkOptions`]).
    pub(crate) fn parse_sink(
        kind: &ServerKind,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<ServerTable>> {
        let (own, endpoint): (Map<String, Value>, Map<String, Value>) = options
            .clone()
            .into_iter()
            .partition(|(k, _)| SINK_ONLY_OPTIONS.contains(&k.as_str()));
        let sink_options: SqlSinkOptions = parse_options(field, &own)?;
        if let Some(o) = sink_options.overwrite
            && !kind.overwrites.contains(&o)
        {
            let allowed: Vec<&str> = kind.overwrites.iter().map(|o| o.as_str()).collect();
            return Err(ferry_core::Error::invalid(
                format!("{field}.overwrite"),
                format!(
                    "`{}` is not available for {}; it overwrites by: {}",
                    o.as_str(),
                    kind.name,
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Arc::new(ServerTable {
            sink_options,
            ..Self::build(kind, field, &endpoint, trust)?
        }))
    }

    /// Checks again, at build time, what the spec's author may reach.
    fn recheck(&self) -> Result<()> {
        if let Some(var) = &self.endpoint.password_env {
            self.trust
                .check_env(&format!("{}.password_env", self.field), var)?;
        }
        Ok(())
    }
}

impl SourceEndpoint for ServerTable {
    fn connector(&self) -> &'static str {
        self.kind.name
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn filter_dialect(&self) -> Option<Box<dyn sqlparser::dialect::Dialect>> {
        Some((self.kind.dialect)())
    }
    fn open(&self) -> Result<Box<dyn Source>> {
        self.recheck()?;
        (self.kind.source)(&self.endpoint, &self.table)
    }
}

impl SinkEndpoint for ServerTable {
    fn connector(&self) -> &'static str {
        self.kind.name
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn open(&self) -> Result<Box<dyn Sink>> {
        self.recheck()?;
        (self.kind.sink)(&self.endpoint, &self.table, &self.sink_options)
    }
}

/// Parses and normalizes a server connection's settings.
pub(crate) fn parse_connection(
    kind: &ServerKind,
    options: &Map<String, Value>,
    trust: &Trust,
) -> Result<ServerConnection> {
    let mut c: ServerConnection = parse_options("", options)?;
    c.normalize(kind.schemes)?;
    c.url = super::server_spec::confine_url_files("url", &c.url, trust)?;
    Ok(c)
}

/// The pieces of [`crate::Connection`] that every server connection shares.
pub(crate) trait ServerConnectionParts {
    fn spec(&self) -> &ServerConnection;

    fn all_options(&self) -> Result<Map<String, Value>> {
        to_options(self.spec())
    }

    fn secrets(&self) -> &'static [&'static str] {
        SERVER_SECRETS
    }

    fn url_option(&self) -> Result<Map<String, Value>> {
        let url = self.spec().url_with_password("connection")?;
        Ok(Map::from_iter([("url".to_string(), Value::String(url))]))
    }
}

/// The URL option of a server endpoint, and the secret it may carry.
const URL: &str = "url";
const PASSWORD: &str = "password";

/// Moves a password out of the `url` option (user-info or a `password`
/// query parameter) and returns it as the secret `password`.
pub(crate) fn take_url_password(options: &mut Map<String, Value>) -> Result<Map<String, Value>> {
    let mut secrets = Map::new();
    let Some(text) = options.get(URL).and_then(Value::as_str) else {
        return Ok(secrets);
    };
    let mut url = url::Url::parse(text)
        .map_err(|e| super::server_spec::unchecked_url("url", text, &e.to_string()))?;
    let mut password = url.password().map(|pw| {
        percent_encoding::percent_decode_str(pw)
            .decode_utf8_lossy()
            .into_owned()
    });
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let (given, kept): (Vec<_>, Vec<_>) = pairs
        .into_iter()
        .partition(|(k, _)| k.eq_ignore_ascii_case(PASSWORD));
    if let Some((_, v)) = given.into_iter().last() {
        password.get_or_insert(v);
    }
    let Some(password) = password else {
        return Ok(secrets);
    };
    let _ = url.set_password(None);
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    options.insert(URL.into(), Value::String(url.to_string()));
    secrets.insert(PASSWORD.into(), Value::String(password));
    Ok(secrets)
}

/// Puts the secret `password` back into the `url` option's user-info.
pub(crate) fn put_url_password(
    options: &mut Map<String, Value>,
    secrets: &Map<String, Value>,
) -> Result<()> {
    let (Some(pw), Some(text)) = (
        secrets.get(PASSWORD).and_then(Value::as_str),
        options.get(URL).and_then(Value::as_str),
    ) else {
        return Ok(());
    };
    let mut url = url::Url::parse(text)
        .map_err(|e| ferry_core::Error::Internal(format!("a stored endpoint URL: {e}")))?;
    url.set_password(Some(pw)).map_err(|()| {
        ferry_core::Error::invalid("url", "has a password but names no host to use it with")
    })?;
    options.insert(URL.into(), Value::String(url.to_string()));
    Ok(())
}

#[cfg(all(test, feature = "postgres", feature = "mysql"))]
mod tests {
    use super::*;
    use crate::connector::Connector;

    fn options(json: serde_json::Value) -> Map<String, Value> {
        match json {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn overwrite_is_a_sink_option_checked_per_connector() {
        let trust = Trust::Local;
        let pg = crate::postgres::POSTGRES;
        let with = |url: &str, how: &str| {
            options(serde_json::json!({"url": url, "table": "t", "overwrite": how}))
        };
        let t = pg
            .sink("sink", &with("postgresql://h/db", "delete"), &trust)
            .expect("postgres deletes");
        assert_eq!(t.connector(), "postgres");
        let e = pg
            .sink("sink", &with("postgresql://h/db", "rename"), &trust)
            .expect_err("no such strategy")
            .to_string();
        assert!(e.contains("sink.overwrite") && e.contains("swap"), "{e}");
        let e = crate::mysql::MYSQL
            .sink("sink", &with("mysql://h/db", "truncate"), &trust)
            .expect_err("mysql only swaps")
            .to_string();
        assert!(
            e.contains("sink.overwrite") && e.contains("`truncate` is not available for mysql"),
            "{e}"
        );
        crate::mysql::MYSQL
            .sink("sink", &with("mysql://h/db", "swap"), &trust)
            .expect("mysql swaps");
        let e = pg
            .source("source", &with("postgresql://h/db", "swap"), &trust)
            .expect_err("not a source option")
            .to_string();
        assert!(e.contains("overwrite"), "{e}");
    }
}
