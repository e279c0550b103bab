//! The SQLite connector as the registry sees it: its spec (a table in a
//! file), capabilities, and named connections (a file).

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::spec::{SyncMode, TableName, Trust};
use ferry_core::{
    Capabilities, Dataset, DatasetKind, Result, SchemaSource, Sink, SinkEndpoint, Source,
    SourceEndpoint,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

use super::matrix::SqliteTypes;
use super::spec::{FileConnection, SqliteEndpoint};
use super::{SqliteSink, SqliteSource, browse};
use crate::catalog::{DatasetInfo, Probe, probe};
use crate::connector::{Connection, Connector, parse_options, to_options};
use crate::matrix::TypeMapping;

/// SQLite database files.
pub struct SqliteConnector;

impl Connector for SqliteConnector {
    fn name(&self) -> &'static str {
        super::CONNECTOR
    }

    fn description(&self) -> &'static str {
        "SQLite database file: read in one transaction; written in one transaction (create or delete + prepared inserts), published by COMMIT"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            schema: Some(SchemaSource::Discovered),
            splits: false,
            incremental: true,
            xmin_cursor: false,
            pushdown: true,
            sink_modes: SyncMode::ALL.to_vec(),
            checkpoints: true,
        }
    }

    fn type_mapping(&self) -> Option<&'static dyn TypeMapping> {
        Some(&SqliteTypes)
    }

    fn source_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(SqliteEndpoint::json_schema(generator))
    }

    fn sink_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(SqliteEndpoint::json_schema(generator))
    }

    fn connection_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(FileConnection::json_schema(generator))
    }

    fn source(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SourceEndpoint>> {
        Ok(Arc::new(SqliteTable::parse(field, options, trust)?))
    }

    fn sink(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SinkEndpoint>> {
        Ok(Arc::new(SqliteTable::parse(field, options, trust)?))
    }

    fn connection(
        &self,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Box<dyn Connection>> {
        let mut c: FileConnection = parse_options("", options)?;
        c.path = trust.local_path("path", &c.path)?;
        Ok(Box::new(SqliteConnection(c)))
    }
}

/// A checked table endpoint.
#[derive(Debug)]
struct SqliteTable {
    endpoint: SqliteEndpoint,
    table: TableName,
    dataset: Dataset,
}

impl SqliteTable {
    fn parse(field: &str, options: &Map<String, Value>, trust: &Trust) -> Result<SqliteTable> {
        let mut endpoint: SqliteEndpoint = parse_options(field, options)?;
        let table = endpoint.check(field, trust)?;
        let dataset = Dataset {
            kind: DatasetKind::Table,
            name: table.to_string(),
            location: format!("{}#{}", endpoint.path.display(), table.name),
        };
        Ok(SqliteTable {
            endpoint,
            table,
            dataset,
        })
    }
}

impl SourceEndpoint for SqliteTable {
    fn connector(&self) -> &'static str {
        super::CONNECTOR
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn filter_dialect(&self) -> Option<Box<dyn sqlparser::dialect::Dialect>> {
        Some(Box::new(sqlparser::dialect::SQLiteDialect {}))
    }
    fn open(&self) -> Result<Box<dyn Source>> {
        Ok(Box::new(SqliteSource::new(&self.endpoint, &self.table)?))
    }
}

impl SinkEndpoint for SqliteTable {
    fn connector(&self) -> &'static str {
        super::CONNECTOR
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn open(&self) -> Result<Box<dyn Sink>> {
        Ok(Box::new(SqliteSink::new(&self.endpoint, &self.table)?))
    }
}

/// A named SQLite connection: a file.
#[derive(Debug)]
struct SqliteConnection(FileConnection);

#[async_trait]
impl Connection for SqliteConnection {
    fn options(&self) -> Result<Map<String, Value>> {
        to_options(&self.0)
    }
    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
    fn endpoint_options(&self) -> Result<Map<String, Value>> {
        to_options(&self.0)
    }
    async fn test(&self) -> Result<Probe> {
        probe(browse::version(&self.0)).await
    }
    async fn datasets(&self, namespace: Option<&str>) -> Result<Vec<DatasetInfo>> {
        browse::list_tables(&self.0, namespace).await
    }
}
