//! A stand-in for the registry in this crate's unit tests: connectors
//! `db` (a table at a `url`), `file` (a table in a file at `path`) and
//! `stream` (a topic whose columns are declared).

use super::*;
use crate::connector::{
    Capabilities, Dataset, DatasetKind, SchemaSource, Sink, SinkEndpoint, Source, SourceEndpoint,
};

pub(crate) struct Fake;

#[derive(Debug)]
pub(crate) struct FakeEndpoint(Dataset, &'static str);

pub(crate) fn local() -> Trust {
    Trust::Local
}

impl FakeEndpoint {
    fn parse(field: &str, spec: &EndpointSpec) -> Result<FakeEndpoint> {
        let text = |k: &str| spec.options.get(k).and_then(|v| v.as_str());
        let (name, place) = match spec.connector.as_str() {
            "db" => ("db", text("url")),
            "file" => ("file", text("path")),
            "stream" => ("stream", text("topic")),
            other => return Err(unknown_connector(field, other, &["db", "file", "stream"])),
        };
        let table =
            text("table").ok_or_else(|| Error::invalid(format!("{field}.table"), "is required"))?;
        Ok(FakeEndpoint(
            Dataset {
                kind: DatasetKind::Table,
                name: table.to_string(),
                location: format!("{}#{table}", place.unwrap_or_default()),
            },
            name,
        ))
    }
}

impl SourceEndpoint for FakeEndpoint {
    fn connector(&self) -> &'static str {
        self.1
    }
    fn filter_dialect(&self) -> Option<Box<dyn sqlparser::dialect::Dialect>> {
        Some(Box::new(sqlparser::dialect::PostgreSqlDialect {}))
    }
    fn dataset(&self) -> &Dataset {
        &self.0
    }
    fn open(&self) -> Result<Box<dyn Source>> {
        Err(Error::Internal("fake".into()))
    }
}

impl SinkEndpoint for FakeEndpoint {
    fn connector(&self) -> &'static str {
        self.1
    }
    fn dataset(&self) -> &Dataset {
        &self.0
    }
    fn open(&self) -> Result<Box<dyn Sink>> {
        Err(Error::Internal("fake".into()))
    }
}

impl Connectors for Fake {
    fn source(
        &self,
        field: &str,
        spec: &EndpointSpec,
        _: &Trust,
    ) -> Result<Arc<dyn SourceEndpoint>> {
        Ok(Arc::new(FakeEndpoint::parse(field, spec)?))
    }
    fn sink(&self, field: &str, spec: &EndpointSpec, _: &Trust) -> Result<Arc<dyn SinkEndpoint>> {
        Ok(Arc::new(FakeEndpoint::parse(field, spec)?))
    }
    fn capabilities(&self, connector: &str) -> Option<Capabilities> {
        Some(Capabilities {
            schema: Some(if connector == "stream" {
                SchemaSource::Declared
            } else {
                SchemaSource::Discovered
            }),
            splits: true,
            incremental: true,
            xmin_cursor: connector == "db",
            pushdown: true,
            sink_modes: SyncMode::ALL.to_vec(),
            checkpoints: true,
        })
    }
}

impl TaskSpec {
    pub(crate) fn check(&self) -> Result<ValidatedTask> {
        self.validate(&Fake, &local())
    }
}
