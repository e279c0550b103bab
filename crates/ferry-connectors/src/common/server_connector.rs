//! The [`Connector`] of every database server reached by URL, built from a
//! [`ServerKind`]: a connector folder of this shape declares one static
//! `ServerKind` (name, schemes, what it can do, its constructors and
//! catalog queries) and lists it in the registry; specs, secrets, named
//! connections and checks are the same for all of them.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::spec::{SyncMode, Trust};
use ferry_core::{Capabilities, Result, SchemaSource, SinkEndpoint, SourceEndpoint};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

use super::server_spec::{ServerConnection, SqlEndpoint, SqlSinkOptions};
use super::server_table::{
    ServerConnectionParts, ServerKind, ServerTable, parse_connection, put_url_password,
    take_url_password,
};
use crate::catalog::{DatasetInfo, Probe, probe};
use crate::connector::{Connection, Connector};
use crate::matrix::TypeMapping;

impl Connector for ServerKind {
    fn name(&self) -> &'static str {
        self.name
    }

    fn aliases(&self) -> &'static [&'static str] {
        self.aliases
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            schema: Some(SchemaSource::Discovered),
            splits: self.splits,
            incremental: true,
            xmin_cursor: self.xmin_cursor,
            pushdown: true,
            sink_modes: SyncMode::ALL.to_vec(),
            checkpoints: true,
        }
    }

    fn type_mapping(&self) -> Option<&'static dyn TypeMapping> {
        Some(self.types)
    }

    fn source_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(SqlEndpoint::json_schema(generator))
    }

    fn sink_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        let mut schema = SqlEndpoint::json_schema(generator);
        let own = SqlSinkOptions::json_schema(generator);
        if let (Some(props), Some(more)) = (
            schema.get_mut("properties").and_then(Value::as_object_mut),
            own.get("properties").and_then(Value::as_object),
        ) {
            for (k, v) in more {
                props.insert(k.clone(), v.clone());
            }
        }
        Some(schema)
    }

    fn connection_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(ServerConnection::json_schema(generator))
    }

    fn source(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SourceEndpoint>> {
        Ok(ServerTable::parse(self, field, options, trust)?)
    }

    fn sink(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SinkEndpoint>> {
        Ok(ServerTable::parse_sink(self, field, options, trust)?)
    }

    fn take_endpoint_secrets(
        &self,
        options: &mut Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        take_url_password(options)
    }

    fn put_endpoint_secrets(
        &self,
        options: &mut Map<String, Value>,
        secrets: &Map<String, Value>,
    ) -> Result<()> {
        put_url_password(options, secrets)
    }

    /// The URL without its password: another host, port, user, database
    /// or query parameter (`?host=` overrides the host) is another audience.
    fn secret_audience(&self, options: &Map<String, Value>) -> String {
        let mut public = options.clone();
        let _ = take_url_password(&mut public);
        public
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    fn connection(
        &self,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Box<dyn Connection>> {
        Ok(Box::new(ServerConn {
            kind: *self,
            spec: parse_connection(self, options, trust)?,
        }))
    }
}

/// A named connection to a database server.
#[derive(Debug)]
struct ServerConn {
    kind: ServerKind,
    spec: ServerConnection,
}

impl ServerConnectionParts for ServerConn {
    fn spec(&self) -> &ServerConnection {
        &self.spec
    }
}

#[async_trait]
impl Connection for ServerConn {
    fn options(&self) -> Result<Map<String, Value>> {
        self.all_options()
    }
    fn secret_fields(&self) -> &'static [&'static str] {
        self.secrets()
    }
    fn endpoint_options(&self) -> Result<Map<String, Value>> {
        self.url_option()
    }
    async fn test(&self) -> Result<Probe> {
        probe((self.kind.version)(&self.spec)).await
    }
    async fn datasets(&self, namespace: Option<&str>) -> Result<Vec<DatasetInfo>> {
        (self.kind.datasets)(&self.spec, namespace).await
    }
}
