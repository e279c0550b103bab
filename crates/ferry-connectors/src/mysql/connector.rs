//! The MySQL/MariaDB connector as the registry sees it: a database server
//! reached by URL (the shared spec, checks and named connections of
//! `common::server_connector`), with its own reader, writer, catalog and
//! type mapping.

use futures::future::BoxFuture;

use super::matrix::MysqlTypes;
use super::{MysqlSink, MysqlSource, browse};
use crate::catalog::DatasetInfo;
use crate::common::server_spec::{Overwrite, ServerConnection};
use crate::common::server_table::ServerKind;

/// MySQL and MariaDB: tables read with streaming result sets in one
/// consistent snapshot, written with `LOAD DATA LOCAL INFILE` and an atomic
/// `RENAME TABLE`.
pub static MYSQL: ServerKind = ServerKind {
    name: "mysql",
    aliases: &["mariadb"],
    description: "MySQL/MariaDB: streaming result sets in a consistent snapshot; LOAD DATA LOCAL INFILE streamed from memory into a staging table, swapped with an atomic RENAME TABLE",
    splits: false,
    xmin_cursor: false,
    types: &MysqlTypes,
    schemes: &["mysql", "mariadb"],
    default_schema: None,
    source: |e, t| Ok(Box::new(MysqlSource::new(e, t)?)),
    sink: |e, t, _| Ok(Box::new(MysqlSink::new(e, t)?)),
    overwrites: &[Overwrite::Swap],
    dialect: || Box::new(sqlparser::dialect::MySqlDialect {}),
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
