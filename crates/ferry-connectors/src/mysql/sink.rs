//! Writing a table: `LOAD DATA LOCAL INFILE` streamed from memory, into a
//! staging table swapped in with one `RENAME TABLE` (overwrite, or a target
//! that does not exist yet) or straight into the target inside one
//! transaction (append).
//!
//! Without dirty rows allowed, one `LOAD` takes the whole input and any
//! warning fails the write. With dirty rows allowed, the input is loaded in
//! segments under savepoints and the rows behind a warning are isolated
//! (see [`super::isolate`]).

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::connector::{Checkpoint, Sink, SinkWriter, TargetPlan, WriteSpec};
use ferry_core::spec::{SyncMode, TableName};

use crate::common::server_spec::SqlEndpoint;
use ferry_core::{Error, Result, TableSchema};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::carry;
use super::conn::{CONNECTOR, Endpoint, describe, helper_name, lock_name, number, quote, text};
use super::encode::RowEncoder;
use super::merge;
use super::types::{check_target, create_table_sql};
use super::writer::{MysqlWriter, clean_up};

/// Chunks of `LOAD DATA` text in flight between the encoder and the driver.
pub(super) const CHANNEL_DEPTH: usize = 2;
/// Size of one chunk of `LOAD DATA` text (one protocol packet).
const CHUNK_BYTES: usize = 1 << 20;
/// Warnings quoted in the error of a load the server altered.
pub(super) const WARNINGS_SHOWN: usize = 10;
/// How long a writer waits for a table lock or metadata lock, in seconds.
pub(super) const LOCK_WAIT_SECS: u32 = 300;
/// How long a new run waits for the writer lock of an earlier run, in seconds:
/// long enough for the server to notice a killed client and roll it back.
const TAKEOVER_WAIT_SECS: u32 = 20;

/// Server errors about a value (too long, out of range, NULL in NOT NULL,
/// invalid text or date, duplicate key, failed CHECK such as `json_valid`).
pub(super) const DATA_ERRORS: &[u16] = &[
    1048, 1062, 1263, 1264, 1265, 1292, 1366, 1406, 1411, 3819, 4025,
];

/// Server errors about one row: a value error, or a missing parent row of a
/// foreign key. A load refused with one of them is searched for its rows
/// when dirty rows are allowed.
pub(super) const ROW_ERRORS: &[u16] = &[
    1048, 1062, 1263, 1264, 1265, 1292, 1366, 1406, 1411, 3819, 4025, 1452,
];

/// The session every writer runs in: strict about values (zero dates as
/// the server's own `sql_mode` says, see [`carry`]), UTC, and patient with a
/// source that pauses between batches.
async fn set_up_session(conn: &mut Conn, ep: &Endpoint) -> Result<()> {
    let global: Option<String> = conn
        .query_first("SELECT @@GLOBAL.sql_mode")
        .await
        .map_err(|e| ep.error("reading the server's sql_mode", e))?;
    let mode = carry::session_sql_mode(global.as_deref().unwrap_or_default());
    conn.query_drop(format!(
        "SET SESSION sql_mode = '{mode}', SESSION net_read_timeout = 3600"
    ))
    .await
    .map_err(|e| ep.error("setting up the session", e))
}

/// A MySQL/MariaDB table written with `LOAD DATA LOCAL INFILE`.
#[derive(Debug, Clone)]
pub struct MysqlSink {
    ep: Endpoint,
}

impl MysqlSink {
    /// A sink for `table` on the server of `endpoint` (no I/O yet).
    pub fn new(endpoint: &SqlEndpoint, table: &TableName) -> Result<Self> {
        Ok(MysqlSink {
            ep: Endpoint::parse(endpoint, table, "sink")?,
        })
    }
}

#[async_trait]
impl Sink for MysqlSink {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    fn supports_mode(&self, _mode: SyncMode) -> Result<()> {
        Ok(())
    }

    fn keeps_checkpoints(&self) -> bool {
        true
    }

    async fn refuses_native(&self, schema: &TableSchema) -> Result<Vec<String>> {
        if !schema.columns.iter().any(carry::is_carried) {
            return Ok(Vec::new());
        }
        let mut conn = self.ep.connect().await?;
        let info = describe(&mut conn, &self.ep).await;
        let _ = conn.disconnect().await;
        Ok(info?
            .map(|t| carry::refused(schema, &t))
            .unwrap_or_default())
    }

    async fn checkpoint(&self, task: &str) -> Result<Option<Checkpoint>> {
        let mut conn = self.ep.connect().await?;
        let cp = merge::read_checkpoint(&mut conn, &self.ep, task).await;
        let _ = conn.disconnect().await;
        cp
    }

    async fn prepare(&self, schema: &TableSchema, mode: SyncMode) -> Result<Box<dyn SinkWriter>> {
        self.prepare_write(schema, &WriteSpec::plain(mode)).await
    }

    async fn prepare_write(
        &self,
        schema: &TableSchema,
        write: &WriteSpec,
    ) -> Result<Box<dyn SinkWriter>> {
        let mode = write.mode;
        self.supports_mode(mode)?;
        if mode == SyncMode::WindowOverwrite && write.window.is_none() {
            return Err(Error::invalid(
                "window",
                "window_overwrite needs the run's window [window_start, window_end)",
            ));
        }
        if mode == SyncMode::IncrementalMerge && write.merge_key.is_empty() {
            return Err(Error::invalid(
                "merge.key",
                "incremental_merge needs the columns that identify a row",
            ));
        }
        let ep = &self.ep;
        let mut conn = ep.connect().await?;
        set_up_session(&mut conn, ep).await?;
        conn.query_drop(format!("SET SESSION lock_wait_timeout = {LOCK_WAIT_SECS}"))
            .await
            .map_err(|e| ep.error("setting lock_wait_timeout", e))?;

        // One writer per target: later steps drop and rename helper tables.
        let lock = lock_name(&ep.database, &ep.table);
        let row: Option<Row> = conn
            .exec_first(
                "SELECT GET_LOCK(?, ?), IS_USED_LOCK(?), VERSION(), @@max_allowed_packet",
                (lock.as_str(), TAKEOVER_WAIT_SECS, lock.as_str()),
            )
            .await
            .map_err(|e| ep.error("taking the writer lock", e))?;
        let row = row.ok_or_else(|| Error::Internal("SELECT GET_LOCK returned no row".into()))?;
        if number(&row, 0) != Some(1) {
            return Err(Error::Server {
                context: format!(
                    "{} ({}) taking the writer lock `{lock}`",
                    ep.display(),
                    ep.url
                ),
                message: format!(
                    "another run (connection {}) is writing {}; try again when it has finished",
                    text(&row, 1).unwrap_or_else(|| "?".into()),
                    ep.display()
                ),
                transient: true,
            });
        }
        let has_uuid = text(&row, 2).is_some_and(|v| mariadb_has_uuid(&v));
        let max_packet = number(&row, 3).unwrap_or(CHUNK_BYTES as u64 * 4) as usize;
        let chunk_bytes = CHUNK_BYTES.min(max_packet / 2).max(1024);

        // Debris of runs that were killed before they cleaned up.
        let staging = helper_name("_ferry_stg_", &ep.table);
        let old = helper_name("_ferry_old_", &ep.table);
        conn.query_drop(format!(
            "DROP TABLE IF EXISTS {}, {}",
            ep.qualified(&staging),
            ep.qualified(&old)
        ))
        .await
        .map_err(|e| ep.error("dropping the staging tables of earlier runs", e))?;
        // DDL commits implicitly: the checkpoint table is made before the load starts.
        if mode.is_incremental() {
            merge::ensure_checkpoints(&mut conn, ep).await?;
        }

        let mut info = describe(&mut conn, ep).await?;
        if info.is_none() && !database_exists(&mut conn, ep).await? {
            return Err(super::conn::table_not_found(&mut conn, ep).await);
        }
        if let Some(info) = &info {
            check_target(&ep.display(), schema, info)?;
        }
        // An incremental run creates a missing target up front, so that its
        // rows and its checkpoint publish in one COMMIT (see [`merge`]).
        let mut created = None;
        if info.is_none() && mode.is_incremental() {
            let mut shape = schema.clone();
            if mode == SyncMode::IncrementalMerge {
                shape.primary_key = write.merge_key.clone();
            }
            let ddl = create_table_sql(&ep.qualified(&ep.table), &shape, has_uuid);
            conn.query_drop(ddl.as_str())
                .await
                .map_err(|e| ep.error(format!("creating table {}", ep.display()), e))?;
            info = describe(&mut conn, ep).await?;
            if info.is_none() {
                return Err(Error::Internal(format!(
                    "{} is missing right after its CREATE TABLE",
                    ep.display()
                )));
            }
            created = Some(ddl);
        }
        if mode == SyncMode::IncrementalMerge
            && !merge::has_unique_key(&mut conn, ep, &write.merge_key).await?
        {
            return Err(Error::Schema {
                table: ep.display(),
                problems: vec![format!(
                    "incremental_merge needs a primary key or unique index on exactly the merge key ({}); \
                     create one, or set `merge.key` to the columns of an existing one",
                    write.merge_key.join(", ")
                )],
            });
        }
        let encoder = RowEncoder::new(schema, info.as_ref());
        let (load_into, ddl) = match (&info, mode) {
            (Some(_), SyncMode::FullOverwrite) => (
                staging.clone(),
                Some(format!(
                    "CREATE TABLE {} LIKE {}",
                    ep.qualified(&staging),
                    ep.qualified(&ep.table)
                )),
            ),
            // Appends, windows and merges change the existing target in place.
            (Some(_), _) => (ep.table.clone(), None),
            (None, _) => (
                staging.clone(),
                Some(create_table_sql(&ep.qualified(&staging), schema, has_uuid)),
            ),
        };
        if let Some(ddl) = &ddl {
            conn.query_drop(ddl.as_str()).await.map_err(|e| {
                ep.error(format!("creating the staging table {}", quote(&staging)), e)
            })?;
        }
        let merge_into = if mode == SyncMode::IncrementalMerge {
            let stage = helper_name(merge::STAGE_PREFIX, &ep.table);
            Some(merge::MergeInto {
                stage,
                into: ep.table.clone(),
                columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
                key: write.merge_key.clone(),
                delete_column: write.delete_column.clone(),
            })
        } else {
            None
        };
        let started = match &merge_into {
            Some(m) => merge::create_stage(&mut conn, ep, &m.stage, &ep.table).await,
            None => Ok(()),
        };
        let started = match started {
            Ok(()) => conn
                .query_drop("START TRANSACTION")
                .await
                .map_err(|e| ep.error("starting the load transaction", e)),
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            if created.is_some() {
                let _ = clean_up(&mut conn, ep, None, true).await;
            }
            return Err(e);
        }
        if mode == SyncMode::WindowOverwrite
            && let (Some(w), Some(_), None) = (&write.window, &info, &ddl)
        {
            let n = merge::delete_window(&mut conn, ep, &load_into, w).await?;
            tracing::info!(table = %ep.display(), rows = n, "deleted the window's rows (inside the load's transaction)");
        }
        let loaded_table = merge_into
            .as_ref()
            .map_or_else(|| load_into.clone(), |m| m.stage.clone());
        let load_sql = encoder.load_sql(&ep.qualified(&loaded_table));
        let target_types = info.as_ref().map(|i| super::types::target_types(schema, i));
        let created_target = created.is_some();
        Ok(Box::new(MysqlWriter {
            target_types,
            plan: TargetPlan {
                table: ep.display(),
                creates_table: info.is_none() || created_target,
                ddl: created.or(ddl),
            },
            ep: ep.clone(),
            conn_id: conn.id(),
            conn,
            lock,
            staging: (load_into == staging).then_some(staging),
            old,
            target_exists: info.is_some(),
            created_target,
            // A refused row is named by the target's key, else the source's.
            key_columns: match &info {
                Some(i) if !i.primary_key.is_empty() => i.primary_key.clone(),
                _ => schema.primary_key.clone(),
            },
            columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
            encoder: Arc::new(encoder),
            load_sql,
            loaded_table,
            merge_into,
            checkpoints: mode.is_incremental(),
            checkpoint: None,
            chunk_bytes,
            rows_loaded: 0,
            rows_seen: 0,
            interrupted: false,
        }))
    }
}

/// Whether a `VERSION()` string is MariaDB 10.7 or later (which has `UUID`).
fn mariadb_has_uuid(version: &str) -> bool {
    if !version.contains("MariaDB") {
        return false;
    }
    let v = version.trim_start_matches("5.5.5-");
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (10, 7)
}

async fn database_exists(conn: &mut Conn, ep: &Endpoint) -> Result<bool> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (ep.database.as_str(),),
        )
        .await
        .map_err(|e| ep.error("reading information_schema.SCHEMATA", e))?;
    Ok(!rows.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_uuid_support() {
        assert!(mariadb_has_uuid("10.11.19-MariaDB-0+deb12u1"));
        assert!(mariadb_has_uuid("5.5.5-10.7.1-MariaDB"));
        assert!(!mariadb_has_uuid("10.6.12-MariaDB"));
        assert!(!mariadb_has_uuid("8.0.36"));
    }
}
