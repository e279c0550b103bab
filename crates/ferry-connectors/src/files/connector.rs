//! The files connector as the registry sees it: its spec (files under a
//! location), capabilities, secrets (the S3 secret key), and named
//! connections (a location and its credentials).

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::spec::{SyncMode, Trust};
use ferry_core::{
    Capabilities, Dataset, DatasetKind, Error, Result, SchemaSource, Sink, SinkEndpoint, Source,
    SourceEndpoint,
};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

use super::matrix::ParquetTypes;
use super::sink::FilesSink;
use super::source::FilesSource;
use super::spec::{FilesConnection, FilesEndpoint, check_url};
use super::store::Storage;
use crate::catalog::{DatasetInfo, Probe, probe};
use crate::connector::{Connection, Connector, parse_options, to_options};
use crate::matrix::TypeMapping;

/// The one secret option, inside `s3`.
const SECRET: &str = "secret_access_key";

/// Parquet files in a directory or an S3-compatible bucket.
pub struct FilesConnector;

impl Connector for FilesConnector {
    fn name(&self) -> &'static str {
        super::CONNECTOR
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["parquet", "s3"]
    }

    fn description(&self) -> &'static str {
        "Parquet files in a directory or S3-compatible bucket, in Hive-style partitions: staged, then published per partition with a manifest and _SUCCESS; read one split per file or per group of row groups"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            schema: Some(SchemaSource::Discovered),
            splits: true,
            incremental: false,
            xmin_cursor: false,
            pushdown: false,
            sink_modes: vec![SyncMode::FullOverwrite, SyncMode::FullAppend],
            checkpoints: false,
        }
    }

    fn type_mapping(&self) -> Option<&'static dyn TypeMapping> {
        Some(&ParquetTypes)
    }

    fn source_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(FilesEndpoint::json_schema(generator))
    }

    fn sink_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(FilesEndpoint::json_schema(generator))
    }

    fn connection_schema(&self, generator: &mut SchemaGenerator) -> Option<Schema> {
        Some(FilesConnection::json_schema(generator))
    }

    fn source(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SourceEndpoint>> {
        Ok(Arc::new(FilesDataset::parse(field, options, trust)?))
    }

    fn sink(
        &self,
        field: &str,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Arc<dyn SinkEndpoint>> {
        Ok(Arc::new(FilesDataset::parse(field, options, trust)?))
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

    /// Every option but the secret key: a stored key is kept on an edit
    /// only while the location and key id stay the same.
    fn secret_audience(&self, options: &Map<String, Value>) -> String {
        s3_secret_audience(options)
    }

    fn connection(
        &self,
        options: &Map<String, Value>,
        trust: &Trust,
    ) -> Result<Box<dyn Connection>> {
        let mut c: FilesConnection = parse_options("", options)?;
        c.url = check_url("url", &c.url, trust)?;
        let mut endpoint = c.endpoint();
        endpoint.check("", trust)?;
        let storage = Storage::open(&endpoint, trust)?;
        Ok(Box::new(FilesConnectionImpl { spec: c, storage }))
    }
}

/// Moves `s3.secret_access_key` out of endpoint options (sealed by the
/// server); shared by the connectors on this storage.
pub(crate) fn take_s3_secret(options: &mut Map<String, Value>) -> Map<String, Value> {
    let mut secrets = Map::new();
    if let Some(Value::Object(s3)) = options.get_mut("s3")
        && let Some(secret) = s3.remove(SECRET)
    {
        secrets.insert(SECRET.to_string(), secret);
    }
    secrets
}

/// Puts a secret taken by [`take_s3_secret`] back into `s3`.
pub(crate) fn put_s3_secret(
    options: &mut Map<String, Value>,
    secrets: &Map<String, Value>,
) -> Result<()> {
    if let Some(secret) = secrets.get(SECRET) {
        match options.get_mut("s3") {
            Some(Value::Object(s3)) => {
                s3.insert(SECRET.to_string(), secret.clone());
            }
            _ => {
                return Err(Error::invalid(
                    "s3",
                    "a stored secret_access_key needs the `s3` settings it belongs to",
                ));
            }
        }
    }
    Ok(())
}

/// Every option but the secret key.
pub(crate) fn s3_secret_audience(options: &Map<String, Value>) -> String {
    let mut public = options.clone();
    public.remove(SECRET);
    if let Some(Value::Object(s3)) = public.get_mut("s3") {
        s3.remove(SECRET);
    }
    Value::Object(public).to_string()
}

/// A checked endpoint: files under one location.
#[derive(Debug)]
struct FilesDataset {
    endpoint: FilesEndpoint,
    storage: Storage,
    dataset: Dataset,
}

impl FilesDataset {
    fn parse(field: &str, options: &Map<String, Value>, trust: &Trust) -> Result<FilesDataset> {
        let mut endpoint: FilesEndpoint = parse_options(field, options)?;
        endpoint.check(field, trust)?;
        let storage = Storage::open(&endpoint, trust)?;
        let location = endpoint.location();
        Ok(FilesDataset {
            dataset: Dataset {
                kind: DatasetKind::Files,
                name: location.clone(),
                location,
            },
            endpoint,
            storage,
        })
    }
}

impl SourceEndpoint for FilesDataset {
    fn connector(&self) -> &'static str {
        super::CONNECTOR
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn open(&self) -> Result<Box<dyn Source>> {
        Ok(Box::new(FilesSource {
            endpoint: self.endpoint.clone(),
            storage: self.storage.clone(),
        }))
    }
}

impl SinkEndpoint for FilesDataset {
    fn connector(&self) -> &'static str {
        super::CONNECTOR
    }
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }
    fn open(&self) -> Result<Box<dyn Sink>> {
        Ok(Box::new(FilesSink {
            endpoint: self.endpoint.clone(),
            storage: self.storage.clone(),
        }))
    }
}

/// A named files connection: a location and its credentials.
#[derive(Debug)]
struct FilesConnectionImpl {
    spec: FilesConnection,
    storage: Storage,
}

#[async_trait]
impl Connection for FilesConnectionImpl {
    fn options(&self) -> Result<Map<String, Value>> {
        to_options(&self.spec)
    }
    fn secret_fields(&self) -> &'static [&'static str] {
        &[SECRET]
    }
    fn endpoint_options(&self) -> Result<Map<String, Value>> {
        to_options(&self.spec.endpoint())
    }
    async fn test(&self) -> Result<Probe> {
        let storage = self.storage.clone();
        probe(async move {
            storage.probe().await?;
            Ok(format!("object store at {}", storage.display))
        })
        .await
    }
    async fn datasets(&self, _namespace: Option<&str>) -> Result<Vec<DatasetInfo>> {
        let listing = self
            .storage
            .store
            .list_with_delimiter(Some(&self.storage.root))
            .await
            .map_err(|e| self.storage.error("listing", e))?;
        Ok(listing
            .common_prefixes
            .iter()
            .map(|p| self.storage.relative(p))
            .filter(|rel| super::publish::is_data(rel))
            .map(|name| DatasetInfo {
                schema: None,
                name,
                kind: "prefix".into(),
                columns: Vec::new(),
            })
            .collect())
    }
}
