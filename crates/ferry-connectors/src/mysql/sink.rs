//! Writing a table: `LOAD DATA LOCAL INFILE` streamed from memory, into a
//! staging table swapped in with one `RENAME TABLE` (overwrite, or a target
//! that does not exist yet) or straight into the target inside one
//! transaction (append).
//!
//! Without dirty rows allowed, one `LOAD` takes the whole input and any
//! warning fails the write. With dirty rows allowed, the input is loaded in
//! segments under savepoints and the rows behind a warning are isolated
//! (see [`super::isolate`]).

use std::io;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::connector::{Sink, SinkWriter, TargetPlan};
use ferry_core::spec::{SqlEndpoint, SyncMode, TableName};
use ferry_core::{BatchStream, ColumnType, Error, Rejects, Result, TableSchema};
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tokio::sync::mpsc;

use super::conn::{CONNECTOR, Endpoint, describe, helper_name, lock_name, number, quote, text};
use super::encode::{RowEncoder, produce};
use super::isolate::SegmentedLoad;
use super::source::kill;
use super::types::{check_target, create_table_sql};

/// Chunks of `LOAD DATA` text in flight between the encoder and the driver.
pub(super) const CHANNEL_DEPTH: usize = 2;
/// Size of one chunk of `LOAD DATA` text (one protocol packet).
const CHUNK_BYTES: usize = 1 << 20;
/// Warnings quoted in the error of a load the server altered.
pub(super) const WARNINGS_SHOWN: usize = 10;
/// How long a writer waits for a table lock or metadata lock, in seconds.
const LOCK_WAIT_SECS: u32 = 300;
/// How long a new run waits for the writer lock of an earlier run, in seconds:
/// long enough for the server to notice a killed client and roll it back.
const TAKEOVER_WAIT_SECS: u32 = 20;

/// Server errors about a value (too long, out of range, NULL in NOT NULL,
/// invalid text or date, duplicate key, failed CHECK such as `json_valid`).
const DATA_ERRORS: &[u16] = &[
    1048, 1062, 1263, 1264, 1265, 1292, 1366, 1406, 1411, 3819, 4025,
];

/// Server errors about one row: a value error, or a missing parent row of a
/// foreign key. A load refused with one of them is searched for its rows
/// when dirty rows are allowed.
pub(super) const ROW_ERRORS: &[u16] = &[
    1048, 1062, 1263, 1264, 1265, 1292, 1366, 1406, 1411, 3819, 4025, 1452,
];

/// The session every writer runs in: strict about values, UTC, and patient
/// with a source that pauses between batches.
const SESSION_SQL: &str = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,\
ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_VALUE_ON_ZERO', SESSION net_read_timeout = 3600";

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

    async fn prepare(&self, schema: &TableSchema, mode: SyncMode) -> Result<Box<dyn SinkWriter>> {
        self.supports_mode(mode)?;
        let ep = &self.ep;
        let mut conn = ep.connect().await?;
        conn.query_drop(SESSION_SQL)
            .await
            .map_err(|e| ep.error("setting up the session", e))?;
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

        let info = describe(&mut conn, ep).await?;
        if info.is_none() && !database_exists(&mut conn, ep).await? {
            return Err(super::conn::table_not_found(&mut conn, ep).await);
        }
        if let Some(info) = &info {
            check_target(&ep.display(), schema, info)?;
        }
        let encoder = RowEncoder::new(schema, info.as_ref());
        let (load_into, ddl) = match (&info, mode) {
            (Some(_), SyncMode::FullAppend | SyncMode::IncrementalAppend) => {
                (ep.table.clone(), None)
            }
            (Some(_), _) => (
                staging.clone(),
                Some(format!(
                    "CREATE TABLE {} LIKE {}",
                    ep.qualified(&staging),
                    ep.qualified(&ep.table)
                )),
            ),
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
        conn.query_drop("START TRANSACTION")
            .await
            .map_err(|e| ep.error("starting the load transaction", e))?;
        let load_sql = encoder.load_sql(&ep.qualified(&load_into));
        let target_types = info.as_ref().map(|i| super::types::target_types(schema, i));
        Ok(Box::new(MysqlWriter {
            target_types,
            plan: TargetPlan {
                table: ep.display(),
                creates_table: info.is_none(),
                ddl,
            },
            ep: ep.clone(),
            conn_id: conn.id(),
            conn,
            lock,
            staging: (load_into == staging).then_some(staging),
            old,
            target_exists: info.is_some(),
            // A refused row is named by the target's key, else the source's.
            key_columns: match &info {
                Some(i) if !i.primary_key.is_empty() => i.primary_key.clone(),
                _ => schema.primary_key.clone(),
            },
            columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
            encoder: Arc::new(encoder),
            load_sql,
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

/// An open write: the session holds the writer lock and an open transaction.
struct MysqlWriter {
    /// The existing target's column types, for the engine's value checks.
    target_types: Option<Vec<ColumnType>>,
    plan: TargetPlan,
    ep: Endpoint,
    conn: Conn,
    conn_id: u32,
    lock: String,
    /// The staging table loaded and renamed into place, if any.
    staging: Option<String>,
    /// Name the old target takes during the swap.
    old: String,
    target_exists: bool,
    key_columns: Vec<String>,
    columns: Vec<String>,
    encoder: Arc<RowEncoder>,
    load_sql: String,
    chunk_bytes: usize,
    rows_loaded: u64,
    /// Rows taken from the input, refused ones included (row numbers).
    rows_seen: u64,
    /// A `LOAD` was cut off mid-stream (its future dropped): the session is unusable.
    interrupted: bool,
}

#[async_trait]
impl SinkWriter for MysqlWriter {
    fn target_plan(&self) -> &TargetPlan {
        &self.plan
    }

    fn float_specials(&self) -> ferry_core::connector::FloatSpecials {
        ferry_core::connector::FloatSpecials::FINITE
    }

    fn target_types(&self) -> Option<Vec<ColumnType>> {
        self.target_types.clone()
    }

    async fn write_all(&mut self, input: BatchStream, rejects: &Rejects) -> Result<u64> {
        if self.interrupted {
            return Err(Error::Internal(format!(
                "an earlier write to {} was interrupted; abort this write",
                self.ep.display()
            )));
        }
        if rejects.accepts_rows() {
            return self.write_isolating(input, rejects).await;
        }
        // No dirty rows allowed: one LOAD for the whole write; any warning
        // or refused row fails it (and the run).
        let failure: Arc<Mutex<Option<Error>>> = Arc::default();
        let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_DEPTH);
        let producer = AbortOnDrop(tokio::spawn(produce(
            input,
            self.encoder.clone(),
            tx,
            failure.clone(),
            self.chunk_bytes,
        )));
        let data = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
        // The driver wants a `Sync` future; the stream is only `Send`.
        let cell = Mutex::new(Some(data));
        self.conn.set_infile_handler(async move {
            Ok(cell
                .into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| futures::stream::empty().boxed()))
        });

        self.interrupted = true;
        let loaded = self.conn.query_drop(self.load_sql.as_str()).await;
        self.interrupted = false;
        let failed = failure.lock().ok().and_then(|mut f| f.take());
        if let Some(e) = failed {
            return Err(e); // the input or its encoding failed: the root cause
        }
        if let Err(e) = loaded {
            if let mysql_async::Error::Server(s) = &e
                && DATA_ERRORS.contains(&s.code)
            {
                return Err(Error::DirtyData {
                    column: culprit(
                        &self.columns,
                        &self.key_columns,
                        std::slice::from_ref(&s.message),
                    )
                    .unwrap_or_else(|| "(see message)".into()),
                    message: format!(
                        "{} refused a value ({}, error {}); nothing is kept",
                        self.ep.display(),
                        s.message,
                        s.code
                    ),
                });
            }
            let target = self.staging.as_deref().unwrap_or(&self.ep.table);
            return Err(load_error(&self.ep, target, e));
        }
        let sent = producer.join().await?.ok_or_else(|| {
            Error::Internal("the LOAD finished before the encoder sent every row".into())
        })?;
        let stored = self.conn.affected_rows();
        let warnings = self.conn.get_warnings();
        if warnings > 0 {
            return Err(self.warnings_error(warnings).await);
        }
        if stored != sent {
            return Err(Error::Server {
                context: format!("{} ({}) loading", self.ep.display(), self.ep.url),
                message: format!("the server stored {stored} of the {sent} rows sent"),
                transient: false,
            });
        }
        self.rows_loaded += stored;
        self.rows_seen += sent;
        Ok(sent)
    }

    async fn commit(self: Box<Self>) -> Result<u64> {
        let mut w = *self;
        if w.interrupted {
            return Err(Error::Internal(format!(
                "an earlier write to {} was interrupted; it cannot be committed",
                w.ep.display()
            )));
        }
        let ep = w.ep.clone();
        w.conn
            .query_drop("COMMIT")
            .await
            .map_err(|e| ep.error("committing the load", e))?;
        if let Some(staging) = &w.staging {
            let (target, stg, old) = (
                ep.qualified(&ep.table),
                ep.qualified(staging),
                ep.qualified(&w.old),
            );
            let swap = if w.target_exists {
                format!("RENAME TABLE {target} TO {old}, {stg} TO {target}")
            } else {
                format!("RENAME TABLE {stg} TO {target}")
            };
            if let Err(e) = w.conn.query_drop(swap.as_str()).await {
                let _ = w
                    .conn
                    .query_drop(format!("DROP TABLE IF EXISTS {stg}"))
                    .await;
                return Err(ep.error("publishing (RENAME TABLE)", e));
            }
            if w.target_exists
                && let Err(e) = w.conn.query_drop(format!("DROP TABLE {old}")).await
            {
                // Published already; the next run drops the leftover.
                tracing::warn!(table = %ep.display(), error = %ep.error("dropping the replaced table", e), "mysql sink left the replaced table behind");
            }
        }
        let _ = w
            .conn
            .exec_drop("DO RELEASE_LOCK(?)", (w.lock.as_str(),))
            .await;
        let _ = w.conn.disconnect().await;
        Ok(w.rows_loaded)
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        let mut w = *self;
        let ep = w.ep.clone();
        if !w.interrupted {
            let mut undo = w.conn.query_drop("ROLLBACK").await;
            if let (Ok(()), Some(staging)) = (&undo, &w.staging) {
                undo = w
                    .conn
                    .query_drop(format!("DROP TABLE IF EXISTS {}", ep.qualified(staging)))
                    .await;
            }
            if undo.is_ok() {
                let _ = w
                    .conn
                    .exec_drop("DO RELEASE_LOCK(?)", (w.lock.as_str(),))
                    .await;
                let _ = w.conn.disconnect().await;
                return Ok(());
            }
        }
        // The session is unusable (a LOAD was cut off): the server rolls it
        // back when it is killed; then clean up from a fresh session.
        kill(&ep, w.conn_id).await?;
        drop(w.conn);
        if let Some(staging) = &w.staging {
            let mut side = ep.connect().await?;
            let got: Option<Row> = side
                .exec_first("SELECT GET_LOCK(?, ?)", (w.lock.as_str(), LOCK_WAIT_SECS))
                .await
                .map_err(|e| ep.error("taking the writer lock to clean up", e))?;
            if got.as_ref().and_then(|r| number(r, 0)) == Some(1) {
                side.query_drop(format!("DROP TABLE IF EXISTS {}", ep.qualified(staging)))
                    .await
                    .map_err(|e| ep.error("dropping the staging table", e))?;
            }
            let _ = side.disconnect().await;
        }
        Ok(())
    }
}

impl MysqlWriter {
    /// Loads in segments under savepoints, isolating refused rows (see [`isolate`]).
    async fn write_isolating(&mut self, mut input: BatchStream, rejects: &Rejects) -> Result<u64> {
        let table = self
            .staging
            .clone()
            .unwrap_or_else(|| self.ep.table.clone());
        let mut load = SegmentedLoad {
            conn: &mut self.conn,
            interrupted: &mut self.interrupted,
            ep: &self.ep,
            table: &table,
            encoder: &self.encoder,
            load_sql: &self.load_sql,
            chunk_bytes: self.chunk_bytes,
            columns: &self.columns,
            key: &self.key_columns,
        };
        load.check_engine().await?;
        let written = load.write(&mut input, rejects, self.rows_seen).await?;
        self.rows_seen += written.seen;
        self.rows_loaded += written.stored;
        Ok(written.stored)
    }

    /// The error for a load the server stored with warnings (truncated,
    /// converted or skipped values): it names the column and quotes the server.
    async fn warnings_error(&mut self, count: u16) -> Error {
        let rows: Vec<Row> = self
            .conn
            .query(format!("SHOW WARNINGS LIMIT {WARNINGS_SHOWN}"))
            .await
            .unwrap_or_default();
        let messages: Vec<String> = rows.iter().map(warning_text).collect();
        Error::DirtyData {
            column: culprit(&self.columns, &self.key_columns, &messages)
                .unwrap_or_else(|| "(see message)".into()),
            message: format!(
                "{} did not store the values exactly ({count} warning(s); nothing is kept): {}",
                self.ep.display(),
                messages.join("; ")
            ),
        }
    }
}

/// The column server messages are about: the first quoted column name, or
/// the key columns for a duplicate key.
pub(super) fn culprit(columns: &[String], key: &[String], messages: &[String]) -> Option<String> {
    messages
        .iter()
        .find_map(|m| {
            columns
                .iter()
                .find(|c| m.contains(&format!("'{c}'")) || m.contains(&format!("`{c}`")))
                .cloned()
        })
        .or_else(|| {
            messages
                .iter()
                .any(|m| m.contains("Duplicate entry"))
                .then(|| key.join(", "))
                .filter(|k| !k.is_empty())
        })
}

/// The error of a `LOAD` into `table` that failed for a reason other than a row.
pub(super) fn load_error(ep: &Endpoint, table: &str, e: mysql_async::Error) -> Error {
    let hint = match &e {
        mysql_async::Error::Server(s) if matches!(s.code, 1148 | 3948 | 4166) => {
            " (the server must allow LOAD DATA LOCAL INFILE: local_infile=ON)"
        }
        _ => "",
    };
    ep.error(format!("loading into {}{hint}", quote(table)), e)
}

/// A spawned task that is aborted when this handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T> {
        (&mut self.0)
            .await
            .map_err(|e| Error::Internal(format!("mysql sink encoder failed: {e}")))
    }
}

/// One row of `SHOW WARNINGS` as `Warning 1062: Duplicate entry …`.
pub(super) fn warning_text(r: &Row) -> String {
    format!(
        "{} {}: {}",
        text(r, 0).unwrap_or_default(),
        text(r, 1).unwrap_or_default(),
        text(r, 2).unwrap_or_default()
    )
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
