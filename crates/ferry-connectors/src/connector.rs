//! What a connector is to the rest of Ferry: the [`Connector`] trait each
//! connector folder implements once, and the [`Connection`] it makes of a
//! named connection's settings.
//!
//! ```text
//!  task spec  {type: postgres, url: …, table: …}
//!       │ registry: find `type` (name or alias)
//!       ▼
//!  Connector::source / ::sink (field, options, trust)
//!       │ parse into the connector's strict typed spec, check it, confine
//!       │ its environment and paths to what `trust` allows
//!       ▼
//!  Arc<dyn SourceEndpoint | SinkEndpoint>  (ferry-core) ──open()──▶ Source / Sink
//!
//!  connection settings {type: postgres, url: …, password: …}
//!       │ Connector::connection (field names, secrets declared)
//!       ▼
//!  Box<dyn Connection> ── test(), datasets(), endpoint_options() for `connection: NAME`
//! ```
//!
//! Everything has a default that refuses clearly, so a source-only
//! connector implements only the source half.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::spec::Trust;
use ferry_core::{
    Capabilities, Error, Result, SinkEndpoint, SourceEndpoint, connector::unsupported,
};
use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value};

use crate::catalog::{DatasetInfo, Probe};

/// One connector: its name, what it can do, its spec schemas, and how it
/// turns options into endpoints and connections.
pub trait Connector: Send + Sync {
    /// The `type` value in specs, e.g. `postgres`.
    fn name(&self) -> &'static str;

    /// Other `type` values that mean this connector (e.g. `mariadb`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// What it reads and writes, and how (one line).
    fn description(&self) -> &'static str;

    /// What it can do.
    fn capabilities(&self) -> Capabilities;

    /// Its part of the published type matrix (`ferry types`), if it maps types.
    fn type_mapping(&self) -> Option<&'static dyn crate::matrix::TypeMapping> {
        None
    }

    /// The JSON Schema of its source options (`None`: not a source).
    fn source_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        let _ = generator;
        None
    }

    /// The JSON Schema of its sink options (`None`: not a sink).
    fn sink_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        let _ = generator;
        None
    }

    /// The JSON Schema of its connection settings (`None`: no named connections).
    fn connection_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        let _ = generator;
        None
    }

    /// Parses and checks source options; errors name `field` and the option.
    fn source(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SourceEndpoint>> {
        let _ = (field, options, trust);
        Err(unsupported(self.name(), "use as a source"))
    }

    /// Parses and checks sink options.
    fn sink(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SinkEndpoint>> {
        let _ = (field, options, trust);
        Err(unsupported(self.name(), "use as a sink"))
    }

    /// Moves the secrets written inline in endpoint options (a password in a
    /// URL) out of them, so that the server stores them sealed; returns
    /// them by secret name. A secret given as `***` is returned as `***`
    /// (the server keeps the stored one). Default: none.
    fn take_endpoint_secrets(
        &self,
        options: &mut Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let _ = options;
        Ok(Map::new())
    }

    /// Puts secrets taken by [`Connector::take_endpoint_secrets`] back into
    /// endpoint options (in memory before a run; as `***` for views).
    fn put_endpoint_secrets(
        &self,
        options: &mut Map<String, Value>,
        secrets: &Map<String, Value>,
    ) -> Result<()> {
        let _ = (options, secrets);
        Ok(())
    }

    /// Where a secret of these endpoint or connection options goes: a
    /// secret kept by `***` on an edit is kept only while this stays the
    /// same, so an edit cannot send a stored password to another server.
    /// Default: every non-secret option.
    fn secret_audience(&self, options: &Map<String, Value>) -> String {
        let public: Map<String, Value> = options
            .iter()
            .filter(|(k, _)| !ferry_core::spec::is_secret_option(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(public).to_string()
    }

    /// Parses and normalizes connection settings (e.g. moves a password
    /// out of a URL into the secret). Errors name the setting.
    fn connection(
        &self,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Box<dyn Connection>> {
        let _ = (options, trust);
        Err(unsupported(self.name(), "named connections"))
    }
}

/// A named connection's settings, parsed by its connector.
#[async_trait]
pub trait Connection: Send + Sync + std::fmt::Debug {
    /// Every setting, secrets included (in memory only: the server seals
    /// the [`Connection::secret_fields`] before storing).
    fn options(&self) -> Result<Map<String, Value>>;

    /// The settings that are secrets: stored sealed, shown as `***`.
    fn secret_fields(&self) -> &'static [&'static str];

    /// What `connection: NAME` puts into an endpoint's options (e.g. the
    /// URL with its password, or the file's path).
    fn endpoint_options(&self) -> Result<Map<String, Value>>;

    /// Connects once and asks the server its version.
    async fn test(&self) -> Result<Probe>;

    /// The datasets it reaches, with their columns; `namespace` narrows the
    /// listing (a schema, a database, a prefix).
    async fn datasets(&self, namespace: Option<&str>) -> Result<Vec<DatasetInfo>>;
}

/// The error for `connection: NAME` left in an endpoint: only the server
/// resolves named connections (`ferry run` cannot).
pub fn unresolved(field: &str, name: &str) -> Error {
    Error::invalid(
        format!("{field}.connection"),
        format!(
            "names the connection `{name}`, which only `ferry server` can resolve; \
             in a job file run by `ferry run`, give the `url` (or `path`) instead"
        ),
    )
}

/// Parses `options` into a connector's typed spec; errors name `field`
/// and the option (`source.tabel: unknown field …`).
pub fn parse_options<T: serde::de::DeserializeOwned>(
    field: &str,
    options: &Map<String, Value>,
) -> Result<T> {
    let value = Value::Object(options.clone());
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." || path.is_empty() {
            field.to_string()
        } else if field.is_empty() {
            path
        } else {
            format!("{field}.{path}")
        };
        Error::invalid(at, e.inner().to_string())
    })
}

/// The options of a typed spec, as JSON (what [`Connection::options`] returns).
pub fn to_options(spec: &impl serde::Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(spec) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::Internal("a spec must serialize to an object".into())),
        Err(e) => Err(Error::Internal(e.to_string())),
    }
}
