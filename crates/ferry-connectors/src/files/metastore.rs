//! A Hive Metastore table, reached over Thrift ([`super::thrift`]): the calls
//! the files sink and source share, with errors that name the metastore.

use std::time::Duration;

use ferry_core::{Error, Result};

use super::spec::HiveTable;
use super::thrift::{Reply, TValue, call};

/// Socket timeout of one metastore call.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One table of one metastore.
pub(crate) struct Metastore {
    pub(crate) hive: HiveTable,
}

impl Metastore {
    /// The table, or `None` if the metastore has none of that name.
    pub(crate) async fn get_table(&self) -> Result<Option<TValue>> {
        let got = self
            .call(
                "get_table",
                vec![
                    (1, TValue::str(&self.hive.database)),
                    (2, TValue::str(&self.hive.table)),
                ],
            )
            .await?;
        match got {
            Reply::Ok(t) => Ok(t),
            // 2: NoSuchObjectException.
            Reply::Thrown(2, _) => Ok(None),
            Reply::Thrown(_, m) if m.contains("not found") || m.contains("does not exist") => {
                Ok(None)
            }
            Reply::Thrown(_, m) => Err(self.refused("get_table", &m)),
        }
    }

    pub(crate) async fn call(
        &self,
        method: &'static str,
        args: Vec<(i16, TValue)>,
    ) -> Result<Reply> {
        let addr = self.hive.address().to_string();
        // The socket's timeouts bound each read; this bounds the whole call
        // (a peer trickling bytes), and lets a cancelled run go on.
        let blocking = tokio::task::spawn_blocking(move || call(&addr, TIMEOUT, method, args));
        let reply = tokio::time::timeout(TIMEOUT * 2, blocking)
            .await
            .map_err(|_| Error::Transient {
                endpoint: format!("Hive Metastore {} ({method})", self.hive.metastore),
                message: format!("no complete answer within {} s", (TIMEOUT * 2).as_secs()),
            })?
            .map_err(|e| Error::Internal(format!("metastore call: {e}")))?;
        reply.map_err(|e| {
            let endpoint = format!("Hive Metastore {} ({method})", self.hive.metastore);
            match e.kind() {
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other => Error::Server {
                    context: endpoint,
                    message: e.to_string(),
                    transient: false,
                },
                _ => Error::Transient {
                    endpoint,
                    message: e.to_string(),
                },
            }
        })
    }

    pub(crate) fn refused(&self, method: &str, message: &str) -> Error {
        Error::Server {
            context: format!(
                "Hive Metastore {} ({method} {})",
                self.hive.metastore,
                self.hive.display()
            ),
            message: message.to_string(),
            transient: false,
        }
    }

    /// The table's location and its partitions' locations (the table's
    /// own for an unpartitioned table); the table must exist.
    pub(crate) async fn locations(&self) -> Result<(String, Vec<String>)> {
        let table = self.get_table().await?.ok_or_else(|| Error::NotFound {
            what: "Hive table",
            name: self.hive.display(),
            hint: Some(format!("in the metastore {}", self.hive.metastore)),
        })?;
        let location = |sd: Option<&TValue>| {
            sd.and_then(|s| s.field(2))
                .and_then(TValue::as_str)
                .unwrap_or("")
                .to_string()
        };
        let root = location(table.field(7));
        let partitioned = !table
            .field(8)
            .map(TValue::as_list)
            .unwrap_or_default()
            .is_empty();
        if !partitioned {
            return Ok((root.clone(), vec![root]));
        }
        let got = self
            .call(
                "get_partitions",
                vec![
                    (1, TValue::str(&self.hive.database)),
                    (2, TValue::str(&self.hive.table)),
                    (3, TValue::I16(-1)),
                ],
            )
            .await?;
        match got {
            Reply::Ok(Some(list)) => Ok((
                root,
                list.as_list()
                    .iter()
                    .map(|p| location(p.field(6)))
                    .collect(),
            )),
            Reply::Ok(None) => Ok((root, Vec::new())),
            Reply::Thrown(_, m) => Err(self.refused("get_partitions", &m)),
        }
    }
}
