//! Source and sink endpoints, and named connections: `type` names the
//! connector, every other key is one of that connector's options.
//!
//! Core knows no connector. It keeps an endpoint as its `type` plus the raw
//! options, and the registry in `ferry-connectors` parses the options into
//! the connector's own typed, strict spec (unknown fields refused, a doc on
//! every field) when a task is validated ([`crate::spec::Connectors`]). So a
//! new connector is one folder there, and nothing here changes. The JSON
//! Schema of job files gets each connector's schema from the registry too;
//! the [`SourceSchema`]/[`SinkSchema`]/[`ConnectionSchema`] placeholders
//! below only mark where they go.
//!
//! `Debug` of every type here redacts secrets (see [`redact_options`]), so a
//! spec can be logged.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;

/// Where a task reads from or writes to: `type` picks the connector, the
/// other keys are its options (e.g. `url` and `table`, or `path` and
/// `format`), checked by that connector.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// The connector's name (or one of its aliases), e.g. `postgres`.
    #[serde(rename = "type")]
    pub connector: String,
    /// The connector's options, as written.
    #[serde(flatten)]
    pub options: Map<String, Value>,
}

/// A task's source endpoint.
pub type SourceSpec = EndpointSpec;
/// A task's sink endpoint.
pub type SinkSpec = EndpointSpec;

/// What a named connection reaches (a server, a file, a bucket): `type`
/// picks the connector, the other keys are its connection settings.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionSpec {
    /// The connector's name (or one of its aliases).
    #[serde(rename = "type")]
    pub connector: String,
    /// The connector's connection settings; secrets included only in memory.
    #[serde(flatten)]
    pub options: Map<String, Value>,
}

/// What the API shows in place of a secret.
pub const REDACTED: &str = "***";

/// The option by which an endpoint names a connection kept by `ferry server`.
pub const CONNECTION_OPTION: &str = "connection";

impl EndpointSpec {
    /// An endpoint of `connector` with `options` (a JSON object; anything
    /// else gives no options).
    pub fn new(connector: impl Into<String>, options: Value) -> EndpointSpec {
        EndpointSpec {
            connector: connector.into(),
            options: match options {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        }
    }

    /// The connector's name as written (it may be an alias).
    pub fn connector(&self) -> &str {
        &self.connector
    }

    /// The connection this endpoint names (`connection: NAME`), if any.
    pub fn connection_name(&self) -> Option<&str> {
        self.options.get(CONNECTION_OPTION).and_then(Value::as_str)
    }
}

impl ConnectionSpec {
    /// The connector's name as written (it may be an alias).
    pub fn connector(&self) -> &str {
        &self.connector
    }
}

impl fmt::Debug for EndpointSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointSpec")
            .field("connector", &self.connector)
            .field("options", &Value::Object(redact_options(&self.options)))
            .finish()
    }
}

impl fmt::Debug for ConnectionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSpec")
            .field("connector", &self.connector)
            .field("options", &Value::Object(redact_options(&self.options)))
            .finish()
    }
}

/// Whether an option of this name holds a secret whatever the connector:
/// the names the connectors use for secrets, so that logs and `Debug` never
/// show one even before a connector has parsed the options.
pub fn is_secret_option(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.contains("token")
        || k.ends_with("_key")
        || k == "key"
        || k.contains("credential")
}

/// The options with every secret replaced by [`REDACTED`]: options whose
/// name says secret ([`is_secret_option`]), and passwords inside URLs
/// (nested objects and arrays included).
pub fn redact_options(options: &Map<String, Value>) -> Map<String, Value> {
    options
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_option(k) && !v.is_null() {
                Value::String(REDACTED.to_string())
            } else {
                redact_value(v)
            };
            (k.clone(), v)
        })
        .collect()
}

fn redact_value(v: &Value) -> Value {
    match v {
        Value::String(s) if s.contains("://") => Value::String(redact_url(s)),
        Value::Object(m) => Value::Object(redact_options(m)),
        Value::Array(a) => Value::Array(a.iter().map(redact_value).collect()),
        other => other.clone(),
    }
}

/// The URL with any password replaced by `***` (in the user-info part and
/// in a `password=` query parameter), for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let host = &authority[at + 1..];
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{user}:{REDACTED}@{host}")
            } else {
                format!("{user}@{host}")
            }
        }
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{}", redact_query(tail))
}

/// `tail` (path and query) with the value of every secret-named query
/// parameter replaced by `***`.
fn redact_query(tail: &str) -> Cow<'_, str> {
    let Some((path, query)) = tail.split_once('?') else {
        return Cow::Borrowed(tail);
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_option(k) => format!("{k}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect();
    Cow::Owned(format!("{path}?{}", parts.join("&")))
}

/// The error for a `type` no connector of this build answers to.
pub fn unknown_connector(field: &str, name: &str, known: &[&str]) -> Error {
    Error::invalid(
        format!("{field}.type"),
        format!(
            "`{name}` is not a connector; allowed: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

fn placeholder(what: &str) -> Schema {
    json_schema!({
        "type": "object",
        "description": format!(
            "{what}: `type` names the connector, the other keys are its options (see `ferry connectors`)"
        ),
        "required": ["type"],
        "properties": {"type": {"type": "string"}}
    })
}

/// Placeholder of the source schema in the task's JSON Schema; the registry
/// replaces it with one schema per source connector.
pub struct SourceSchema;
/// Placeholder of the sink schema in the task's JSON Schema.
pub struct SinkSchema;
/// Placeholder of the connection schema.
pub struct ConnectionSchema;

impl JsonSchema for SourceSchema {
    fn schema_name() -> Cow<'static, str> {
        "SourceSpec".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        placeholder("Where the data comes from")
    }
}

impl JsonSchema for SinkSchema {
    fn schema_name() -> Cow<'static, str> {
        "SinkSpec".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        placeholder("Where the data goes")
    }
}

impl JsonSchema for ConnectionSchema {
    fn schema_name() -> Cow<'static, str> {
        "ConnectionSpec".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        placeholder("What a connection reaches")
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
        assert_eq!(
            redact_url("postgresql://h/db?user=a&password=pw1&sslmode=require"),
            "postgresql://h/db?user=a&password=***&sslmode=require"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let e = EndpointSpec::new(
            "postgres",
            serde_json::json!({"url": "postgresql://u:pw1@h/db", "password": "pw2",
                               "nested": {"secret_access_key": "pw3"}, "table": "t"}),
        );
        let d = format!("{e:?}");
        for pw in ["pw1", "pw2", "pw3"] {
            assert!(!d.contains(pw), "{d}");
        }
        assert!(d.contains("table"), "{d}");
    }

    #[test]
    fn type_and_options_round_trip() {
        let v = serde_json::json!({"type": "postgres", "url": "postgresql://h/db", "table": "t"});
        let e: EndpointSpec = serde_json::from_value(v.clone()).expect("parses");
        assert_eq!(e.connector(), "postgres");
        assert_eq!(e.options.len(), 2);
        assert_eq!(serde_json::to_value(&e).expect("json"), v);
    }
}
