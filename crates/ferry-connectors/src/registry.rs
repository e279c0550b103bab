//! Looking connectors up in [`registry()`](crate::registry): by name or
//! alias, for task validation ([`Registry`]) and for `ferry connectors`
//! ([`info`]).

use std::sync::Arc;

use ferry_core::spec::{EndpointSpec, Trust, unknown_connector};
use ferry_core::{Capabilities, Connectors, Error, Result, SinkEndpoint, SourceEndpoint};

use crate::connector::Connector;

/// One entry of the registry.
#[derive(Clone, Copy)]
pub enum Entry {
    /// Built into this binary.
    Built(&'static dyn Connector),
    /// Known, but this binary was built without its feature.
    NotBuilt(&'static str),
}

impl Entry {
    /// The connector's name.
    pub fn name(&self) -> &'static str {
        match self {
            Entry::Built(c) => c.name(),
            Entry::NotBuilt(name) => name,
        }
    }
}

/// The connector answering to `name` (its name or an alias); errors name
/// `field`'s `type` and list what is allowed, or say that this build lacks it.
pub fn find(field: &str, name: &str) -> Result<&'static dyn Connector> {
    let all = crate::registry();
    for entry in &all {
        match entry {
            Entry::Built(c) if c.name() == name || c.aliases().contains(&name) => return Ok(*c),
            Entry::NotBuilt(n) if *n == name => {
                return Err(Error::Unsupported {
                    connector: n,
                    capability:
                        "use in this build (it was compiled without this connector's feature)"
                            .into(),
                });
            }
            _ => {}
        }
    }
    let known: Vec<&str> = all
        .iter()
        .filter_map(|e| match e {
            Entry::Built(c) => Some(c.name()),
            Entry::NotBuilt(_) => None,
        })
        .collect();
    Err(unknown_connector(field, name, &known))
}

/// The registry as task validation sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Registry;

impl Connectors for Registry {
    fn source(
        &self,
        field: &str,
        spec: &EndpointSpec,
        trust: &Trust,
    ) -> Result<Arc<dyn SourceEndpoint>> {
        let c = find(field, &spec.connector)?;
        if c.capabilities().schema.is_none() {
            return Err(Error::invalid(
                format!("{field}.type"),
                format!("{} is not a source connector", c.name()),
            ));
        }
        c.source(field, &spec.options, trust)
    }

    fn sink(
        &self,
        field: &str,
        spec: &EndpointSpec,
        trust: &Trust,
    ) -> Result<Arc<dyn SinkEndpoint>> {
        let c = find(field, &spec.connector)?;
        if c.capabilities().sink_modes.is_empty() {
            return Err(Error::invalid(
                format!("{field}.type"),
                format!("{} is not a sink connector", c.name()),
            ));
        }
        c.sink(field, &spec.options, trust)
    }

    fn capabilities(&self, connector: &str) -> Option<Capabilities> {
        find("", connector).ok().map(|c| c.capabilities())
    }
}

/// What `ferry connectors` shows of one connector.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectorInfo {
    /// The `type` value in a task spec.
    pub name: &'static str,
    /// Other `type` values that mean it.
    pub aliases: &'static [&'static str],
    /// Whether it can be a source.
    pub source: bool,
    /// Whether it can be a sink.
    pub sink: bool,
    /// Whether this binary was built with it.
    pub enabled: bool,
    /// What it reads and writes, and how.
    pub description: &'static str,
    /// What it can do (`None` when not built).
    pub capabilities: Option<Capabilities>,
}

/// Every connector of the registry, for `ferry connectors`.
pub fn info() -> Vec<ConnectorInfo> {
    crate::registry()
        .into_iter()
        .map(|e| match e {
            Entry::Built(c) => {
                let caps = c.capabilities();
                ConnectorInfo {
                    name: c.name(),
                    aliases: c.aliases(),
                    source: caps.schema.is_some(),
                    sink: !caps.sink_modes.is_empty(),
                    enabled: true,
                    description: c.description(),
                    capabilities: Some(caps),
                }
            }
            Entry::NotBuilt(name) => ConnectorInfo {
                name,
                aliases: &[],
                source: false,
                sink: false,
                enabled: false,
                description: "not in this build (compiled without its feature)",
                capabilities: None,
            },
        })
        .collect()
}
