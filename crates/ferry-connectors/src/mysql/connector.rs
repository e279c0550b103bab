//! The MySQL/MariaDB connector as the registry sees it: its spec (a table
//! reached by URL), capabilities, and named connections.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::spec::{SyncMode, Trust};
use ferry_core::{Capabilities, Result, SchemaSource, SinkEndpoint, SourceEndpoint};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

use super::{MysqlSink, MysqlSource, browse};
use crate::catalog::{DatasetInfo, Probe, probe};
use crate::common::server_spec::{ServerConnection, SqlEndpoint};
use crate::common::server_table::{
    ServerConnectionParts, ServerKind, ServerTable, parse_connection, put_url_password,
    take_url_password,
};
use super::matrix::MysqlTypes;
use crate::matrix::TypeMapping;
use crate::connector::{Connection, Connector};

static KIND: ServerKind = ServerKind {
    name: "mysql",
    schemes: &["mysql", "mariadb"],
    default_schema: None,
    source: |e, t| Ok(Box::new(MysqlSource::new(e, t)?)),
    dialect: || Box::new(sqlparser::dialect::MySqlDialect {}),
    sink: |e, t| Ok(Box::new(MysqlSink::new(e, t)?)),
};

/// MySQL and MariaDB: tables read with streaming result sets in one
/// consistent snapshot, written with `LOAD DATA LOCAL INFILE` and an atomic
/// `RENAME TABLE`.
pub struct MysqlConnector;

impl Connector for MysqlConnector {
    fn name(&self) -> &'static str {
        KIND.name
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["mariadb"]
    }

    fn description(&self) -> &'static str {
        "MySQL/MariaDB: streaming result sets in a consistent snapshot; LOAD DATA LOCAL INFILE streamed from memory into a staging table, swapped with an atomic RENAME TABLE"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            schema: Some(SchemaSource::Discovered),
            splits: false,
            incremental: true,
            pushdown: true,
            sink_modes: SyncMode::ALL.to_vec(),
            checkpoints: true,
        }
    }

    fn type_mapping(&self) -> Option<&'static dyn TypeMapping> {
        Some(&MysqlTypes)
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
        Ok(Box::new(MyConnection(parse_connection(&KIND, options, trust)?)))
    }
}

/// A named MySQL or MariaDB connection.
#[derive(Debug)]
struct MyConnection(ServerConnection);

impl ServerConnectionParts for MyConnection {
    fn spec(&self) -> &ServerConnection {
        &self.0
    }
}

#[async_trait]
impl Connection for MyConnection {
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
