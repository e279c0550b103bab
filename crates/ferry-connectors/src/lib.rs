//! Every Ferry connector, one folder each, each behind a Cargo feature.
//!
//! A connector is a folder `src/<name>/` that owns its spec types, checks,
//! source and/or sink, type mapping and catalog, and implements
//! [`Connector`]; plus **one line** in the [`connectors!`] list below, which
//! declares the module behind its feature and puts it in [`registry()`]
//! (explicitly: no registration before `main`). Nothing else matches on
//! connector names: task validation ([`Registry`] implements
//! [`ferry_core::Connectors`]), `connection: NAME` resolution
//! ([`resolve_endpoint`]), the JSON Schemas of job files and connections
//! ([`schema`]), and `ferry connectors` all go through the registry.
//! `docs/connectors.md` is the guide to adding one.

#![deny(missing_docs)]

pub mod catalog;
pub mod common;
mod connector;
pub mod matrix;
pub mod matrix_cross;
mod registry;
mod resolve;
pub mod schema;
mod task_secrets;

pub use connector::{Connection, Connector, parse_options, to_options, unresolved};
pub use registry::{ConnectorInfo, Entry, Registry, find, info};
pub use resolve::{connection_names, open_connection, resolve_endpoint, resolve_task};
pub use task_secrets::{
    keep_stored_secrets, put_task_secrets, redacted_secrets, take_task_secrets,
};

/// Declares each connector's module behind its feature and lists it in
/// [`registry()`]: `"feature" => module::CONNECTOR`, one line each (a
/// `static` or a unit struct implementing [`Connector`]).
macro_rules! connectors {
    ($($feature:literal => $module:ident :: $connector:ident),* $(,)?) => {
        $(
            #[cfg(feature = $feature)]
            pub mod $module;
        )*

        /// Every connector Ferry knows, in one explicit list; those this
        /// binary was built without are [`Entry::NotBuilt`].
        #[allow(clippy::vec_init_then_push)] // one `push` per feature, each behind its `cfg`
        pub fn registry() -> Vec<Entry> {
            #[allow(unused_mut)]
            let mut all = Vec::new();
            $(
                #[cfg(feature = $feature)]
                all.push(Entry::Built(&$module::$connector));
                #[cfg(not(feature = $feature))]
                all.push(Entry::NotBuilt($feature));
            )*
            all
        }
    };
}

connectors! {
    "postgres" => postgres::POSTGRES,
    "mysql" => mysql::MYSQL,
    "sqlite" => sqlite::SqliteConnector,
    "files" => files::FilesConnector,
    "delta" => delta::DeltaConnector,
    "iceberg" => iceberg::IcebergConnector,
}

/// Validates a task written by the machine's own user (`ferry run`, tests):
/// [`ferry_core::TaskSpec::validate`] with this registry and local trust.
pub fn validate_local(
    spec: &ferry_core::TaskSpec,
) -> ferry_core::Result<ferry_core::ValidatedTask> {
    spec.validate(&Registry, &ferry_core::spec::Trust::Local)
}

/// Builds the source of one endpoint written by the machine's own user.
pub fn open_source(
    spec: &ferry_core::spec::EndpointSpec,
) -> ferry_core::Result<Box<dyn ferry_core::Source>> {
    use ferry_core::Connectors as _;
    Registry
        .source("source", spec, &ferry_core::spec::Trust::Local)?
        .open()
}

/// Builds the sink of one endpoint written by the machine's own user.
pub fn open_sink(
    spec: &ferry_core::spec::EndpointSpec,
) -> ferry_core::Result<Box<dyn ferry_core::Sink>> {
    use ferry_core::Connectors as _;
    Registry
        .sink("sink", spec, &ferry_core::spec::Trust::Local)?
        .open()
}
