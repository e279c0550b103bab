//! The PostgreSQL connector as the registry sees it: a database server
//! reached by URL (the shared spec, checks and named connections of
//! `common::server_connector`), with its own reader, writer, catalog and
//! type mapping.

use futures::future::BoxFuture;

use super::matrix::PgTypes;
use super::{PostgresSink, PostgresSource, browse};
use crate::catalog::DatasetInfo;
use crate::common::server_spec::{Overwrite, ServerConnection};
use crate::common::server_table::ServerKind;

/// PostgreSQL: tables read with binary `COPY` in parallel splits from one
/// snapshot, written with binary `COPY` in one transaction.
pub static POSTGRES: ServerKind = ServerKind {
    name: "postgres",
    aliases: &[],
    description: "PostgreSQL: binary COPY out in parallel key/ctid-range splits from one exported snapshot; binary COPY in, loaded and published in one transaction (a new table; an overwrite loads a staging table swapped in under a short lock, or deletes or truncates: sink option `overwrite`)",
    splits: true,
    xmin_cursor: true,
    types: &PgTypes,
    schemes: &["postgres", "postgresql"],
    default_schema: Some("public"),
    source: |e, t| Ok(Box::new(PostgresSource::new(e, t)?)),
    sink: |e, t, o| Ok(Box::new(PostgresSink::new(e, t)?.overwrite(o.overwrite))),
    overwrites: &[Overwrite::Swap, Overwrite::Delete, Overwrite::Truncate],
    dialect: || Box::new(sqlparser::dialect::PostgreSqlDialect {}),
    version,
    datasets,
};

fn version(c: &ServerConnection) -> BoxFuture<'_, ferry_core::Result<String>> {
    Box::pin(browse::version(c))
}

fn datasets<'a>(
    c: &'a ServerConnection,
    namespace: Option<&'a str>,
) -> BoxFuture<'a, ferry_core::Result<Vec<DatasetInfo>>> {
    Box::pin(browse::list_tables(c, namespace))
}
