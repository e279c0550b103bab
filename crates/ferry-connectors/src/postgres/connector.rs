//! The PostgreSQL connector as the registry sees it: its spec (a table
//! reached by URL), capabilities, and named connections.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::spec::{SyncMode, Trust};
use ferry_core::{Capabilities, Result, SchemaSource, SinkEndpoint, SourceEndpoint};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

use super::{PostgresSink, PostgresSource, browse};
use crate::catalog::{DatasetInfo, Probe, probe};
use crate::common::server_spec::{ServerConnection, SqlEndpoint};
use crate::common::server_table::{
    ServerConnectionParts, ServerKind, ServerTable, parse_connection, put_url_password,
    take_url_password,
};
use super::matrix::PgTypes;
use crate::matrix::TypeMapping;
use crate::connector::{Connection, Connector};

static KIND: ServerKind = ServerKind {
    name: "postgres",
    schemes: &["postgres", "postgresql"],
    default_schema: Some("public"),
    source: |e, t| Ok(Box::new(PostgresSource::new(e, t)?)),
    dialect: || Box::new(sqlparser::dialect::PostgreSqlDialect {}),
    sink: |e, t| Ok(Box::new(PostgresSink::new(e, t)?)),
};

/// PostgreSQL: tables read with binary `COPY` in parallel splits from one
/// snapshot, written with binary `COPY` in one transaction.
pub struct PostgresConnector;

impl Connector for PostgresConnector {
    fn name(&self) -> &'static str {
        KIND.name
    }

    fn description(&self) -> &'static str {
        "PostgreSQL: binary COPY out in parallel key/ctid-range splits from one exported snapshot; binary COPY in, loaded and published in one transaction (new table, or TRUNCATE + reload: a storage-level swap at COMMIT)"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            schema: Some(SchemaSource::Discovered),
            splits: true,
            incremental: true,
            pushdown: true,
            sink_modes: SyncMode::ALL.to_vec(),
            checkpoints: true,
        }
    }

    fn type_mapping(&self) -> Option<&'static dyn TypeMapping> {
        Some(&PgTypes)
    }

    fn source_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(SqlEndpoint::json_schema(generator))
    }

    fn sink_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(SqlEndpoint::json_schema(generator))
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
        Ok(ServerTable::parse(&KIND, field, options, trust)?)
    }

    fn sink(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SinkEndpoint>> {
        Ok(ServerTable::parse(&KIND, field, options, trust)?)
    }

    fn take_endpoint_secrets(&self, options: &mut Map<String, Value>) -> Result<Map<String, Value>> {
        take_url_password(options)
    }

    fn put_endpoint_secrets(
        &self,
        options: &mut Map<String, Value>,
        secrets: &Map<String, Value>,
    ) -> Result<()> {
        put_url_password(options, secrets)
    }

    fn connection(&self, options: &Map<String, Value>, trust: &Trust) -> Result<Box<dyn Connection>> {
        Ok(Box::new(PgConnection(parse_connection(&KIND, options, trust)?)))
    }
}

/// A named PostgreSQL connection.
#[derive(Debug)]
struct PgConnection(ServerConnection);

impl ServerConnectionParts for PgConnection {
    fn spec(&self) -> &ServerConnection {
        &self.0
    }
}

#[async_trait]
impl Connection for PgConnection {
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
        probe(browse::version(&self.0)).await
    }
    async fn datasets(&self, namespace: Option<&str>) -> Result<Vec<DatasetInfo>> {
        browse::list_tables(&self.0, namespace).await
    }
}
