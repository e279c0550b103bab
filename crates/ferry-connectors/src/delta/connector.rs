//! The Delta connector as the registry sees it: its spec, capabilities and
//! secrets (the S3 secret key, as the files connector keeps it).

use std::sync::Arc;

use ferry_core::spec::{SyncMode, Trust};
use ferry_core::{
    Capabilities, Dataset, DatasetKind, Result, SchemaSource, Sink, SinkEndpoint, Source,
    SourceEndpoint,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

use super::matrix::DeltaTypes;
use super::sink::DeltaSink;
use super::source::DeltaSource;
use super::spec::DeltaEndpoint;
use super::table::TableLocation;
use crate::connector::{Connector, parse_options};
use crate::files::{Storage, put_s3_secret, s3_secret_audience, take_s3_secret};
use crate::matrix::TypeMapping;

/// Delta Lake tables.
pub struct DeltaConnector;

impl Connector for DeltaConnector {
    fn name(&self) -> &'static str {
        super::CONNECTOR
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["delta_lake", "deltalake"]
    }

    fn description(&self) -> &'static str {
        "Delta Lake tables on a directory or S3-compatible prefix (delta-rs): one commit per run with the task's transaction id; overwrite, append, window overwrite by replaceWhere; read a version or the rows a version range appended"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            schema: Some(SchemaSource::Discovered),
            splits: false,
            incremental: false,
            xmin_cursor: false,
            pushdown: false,
            sink_modes: vec![
                SyncMode::FullOverwrite,
                SyncMode::FullAppend,
                SyncMode::IncrementalAppend,
                SyncMode::WindowOverwrite,
            ],
            checkpoints: true,
        }
    }

    fn type_mapping(&self) -> Option<&'static dyn TypeMapping> {
        Some(&DeltaTypes)
    }

    fn source_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(DeltaEndpoint::json_schema(generator))
    }

    fn sink_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(DeltaEndpoint::json_schema(generator))
    }

    fn source(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SourceEndpoint>> {
        Ok(Arc::new(DeltaDataset::parse(field, options, trust)?))
    }

    fn sink(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SinkEndpoint>> {
        Ok(Arc::new(DeltaDataset::parse(field, options, trust)?))
    }

    fn take_endpoint_secrets(
        &self,
        options: &mut Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        Ok(take_s3_secret(options))
    }

    fn put_endpoint_secrets(
        &self,
        options: &mut Map<String, Value>,
        secrets: &Map<String, Value>,
    ) -> Result<()> {
        put_s3_secret(options, secrets)
    }

    fn secret_audience(&self, options: &Map<String, Value>) -> String {
        s3_secret_audience(options)
    }
}

/// A checked endpoint: one Delta table.
#[derive(Debug)]
struct DeltaDataset {
    endpoint: DeltaEndpoint,
    location: TableLocation,
    dataset: Dataset,
}

impl DeltaDataset {
    fn parse(field: &str, options: &Map<String, Value>, trust: &Trust) -> Result<DeltaDataset> {
        let mut endpoint: DeltaEndpoint = parse_options(field, options)?;
        let storage_endpoint = endpoint.check(field, trust)?;
        let storage = Storage::open(&storage_endpoint, trust)?;
        let location = TableLocation::new(&storage_endpoint, storage)?;
        let name = storage_endpoint.location();
        Ok(DeltaDataset {
            dataset: Dataset {
                kind: DatasetKind::CatalogTable,
                name: name.clone(),
                location: format!("delta:{name}"),
            },
            endpoint,
            location,
        })
    }
}

impl SourceEndpoint for DeltaDataset {
    fn connector(&self) -> &'static str {
        super::CONNECTOR
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn open(&self) -> Result<Box<dyn Source>> {
        Ok(Box::new(DeltaSource {
            endpoint: self.endpoint.clone(),
            location: self.location.clone(),
        }))
    }
}

impl SinkEndpoint for DeltaDataset {
    fn connector(&self) -> &'static str {
        super::CONNECTOR
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn open(&self) -> Result<Box<dyn Sink>> {
        Ok(Box::new(DeltaSink {
            endpoint: self.endpoint.clone(),
            location: self.location.clone(),
        }))
    }
}
