//! The Iceberg connector as the registry sees it: its spec and
//! capabilities (no secrets: the catalog is a local SQLite file).

use std::sync::Arc;

use ferry_core::spec::{SyncMode, Trust};
use ferry_core::{
    Capabilities, Dataset, DatasetKind, Result, SchemaSource, Sink, SinkEndpoint, Source,
    SourceEndpoint,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

use super::matrix::IcebergTypes;
use super::sink::IcebergSink;
use super::source::IcebergSource;
use super::spec::IcebergEndpoint;
use crate::connector::{Connector, parse_options};
use crate::matrix::TypeMapping;

/// Apache Iceberg tables.
pub struct IcebergConnector;

impl Connector for IcebergConnector {
    fn name(&self) -> &'static str {
        super::CONNECTOR
    }

    fn description(&self) -> &'static str {
        "Apache Iceberg tables in Iceberg's SQL catalog (SQLite) with a local warehouse (iceberg-rust): one snapshot per run with the run in its summary; append, overwrite, window overwrite of partitions; read a snapshot or the files a snapshot range added"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            schema: Some(SchemaSource::Discovered),
            splits: true,
            incremental: false,
            xmin_cursor: false,
            pushdown: false,
            sink_modes: vec![
                SyncMode::FullOverwrite,
                SyncMode::FullAppend,
                SyncMode::IncrementalAppend,
                SyncMode::WindowOverwrite,
            ],
            checkpoints: false,
        }
    }

    fn type_mapping(&self) -> Option<&'static dyn TypeMapping> {
        Some(&IcebergTypes)
    }

    fn source_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(IcebergEndpoint::json_schema(generator))
    }

    fn sink_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(IcebergEndpoint::json_schema(generator))
    }

    fn source(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SourceEndpoint>> {
        Ok(Arc::new(IcebergDataset::parse(field, options, trust)?))
    }

    fn sink(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SinkEndpoint>> {
        Ok(Arc::new(IcebergDataset::parse(field, options, trust)?))
    }
}

/// A checked endpoint: one table of a catalog.
#[derive(Debug)]
struct IcebergDataset {
    endpoint: IcebergEndpoint,
    dataset: Dataset,
}

impl IcebergDataset {
    fn parse(field: &str, options: &Map<String, Value>, trust: &Trust) -> Result<IcebergDataset> {
        let mut endpoint: IcebergEndpoint = parse_options(field, options)?;
        endpoint.check(field, trust)?;
        Ok(IcebergDataset {
            dataset: Dataset {
                kind: DatasetKind::CatalogTable,
                name: endpoint.display(),
                location: format!(
                    "iceberg:{}#{}/{}",
                    endpoint.catalog.uri,
                    endpoint.catalog.name,
                    endpoint.display()
                ),
            },
            endpoint,
        })
    }
}

impl SourceEndpoint for IcebergDataset {
    fn connector(&self) -> &'static str {
        super::CONNECTOR
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn open(&self) -> Result<Box<dyn Source>> {
        Ok(Box::new(IcebergSource {
            endpoint: self.endpoint.clone(),
        }))
    }
}

impl SinkEndpoint for IcebergDataset {
    fn connector(&self) -> &'static str {
        super::CONNECTOR
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn open(&self) -> Result<Box<dyn Sink>> {
        Ok(Box::new(IcebergSink {
            endpoint: self.endpoint.clone(),
        }))
    }
}
