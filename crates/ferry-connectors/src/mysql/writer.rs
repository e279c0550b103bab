//! The open write of the MySQL/MariaDB sink: one session holding the
//! writer lock and the load's transaction, from `prepare` to `commit` (the
//! merge and the checkpoint, `COMMIT`, then the swap of a staging table) or
//! `abort` (`ROLLBACK` and clean-up).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::connector::{Checkpoint, PublishReport, SinkWriter, TargetPlan};
use ferry_core::{BatchStream, ColumnType, Error, Rejects, Result};
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tokio::sync::mpsc;

use super::conn::{Endpoint, number, quote, text};
use super::encode::{RowEncoder, produce};
use super::enum_error;
use super::isolate::SegmentedLoad;
use super::merge;
use super::screen::screen;
use super::sink::{CHANNEL_DEPTH, DATA_ERRORS, LOCK_WAIT_SECS, WARNINGS_SHOWN};
use super::source::kill;

/// An open write: the session holds the writer lock and an open transaction.
pub(super) struct MysqlWriter {
    /// The existing target's column types, for the engine's value checks.
    pub(super) target_types: Option<Vec<ColumnType>>,
    pub(super) plan: TargetPlan,
    pub(super) ep: Endpoint,
    pub(super) conn: Conn,
    pub(super) conn_id: u32,
    pub(super) lock: String,
    /// The staging table loaded and renamed into place, if any.
    pub(super) staging: Option<String>,
    /// Name the old target takes during the swap.
    pub(super) old: String,
    pub(super) target_exists: bool,
    /// `prepare` created the target (an incremental run into a missing
    /// table); `abort` drops it again while it is empty.
    pub(super) created_target: bool,
    pub(super) key_columns: Vec<String>,
    pub(super) columns: Vec<String>,
    pub(super) encoder: Arc<RowEncoder>,
    pub(super) load_sql: String,
    /// The table the `LOAD` fills: the target, a staging table to swap in,
    /// or a merge's temporary staging table.
    pub(super) loaded_table: String,
    /// Set for `incremental_merge`: applied from the staging table at commit.
    pub(super) merge_into: Option<merge::MergeInto>,
    /// Whether `prepare` made sure the checkpoint table exists (incremental modes).
    pub(super) checkpoints: bool,
    /// The checkpoint to store at commit, and the run whose checkpoint must still be there.
    pub(super) checkpoint: Option<(Checkpoint, Option<String>)>,
    pub(super) chunk_bytes: usize,
    pub(super) rows_loaded: u64,
    /// Rows taken from the input, refused ones included (row numbers).
    pub(super) rows_seen: u64,
    /// A `LOAD` was cut off mid-stream (its future dropped): the session is unusable.
    pub(super) interrupted: bool,
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

    fn set_checkpoint(&mut self, checkpoint: Checkpoint, expected: Option<String>) -> Result<()> {
        if !self.checkpoints {
            return Err(Error::Internal(format!(
                "the write to {} was prepared without a checkpoint table; only incremental modes keep checkpoints",
                self.ep.display()
            )));
        }
        self.checkpoint = Some((checkpoint, expected));
        Ok(())
    }

    async fn write_all(&mut self, input: BatchStream, rejects: &Rejects) -> Result<u64> {
        if self.interrupted {
            return Err(Error::Internal(format!(
                "an earlier write to {} was interrupted; abort this write",
                self.ep.display()
            )));
        }
        // A value the encoder would refuse is a dirty row, not a failed load.
        let input = screen(
            input,
            self.encoder.clone(),
            rejects.clone(),
            self.key_columns.clone(),
            self.rows_seen,
        );
        if rejects.accepts_rows() {
            return self.write_isolating(input, rejects).await;
        }
        // No dirty rows allowed: one LOAD for the whole write; any warning
        // or refused row fails it (and the run).
        let failure: Arc<Mutex<Option<Error>>> = Arc::default();
        let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_DEPTH);
        // The warnings the ENUM error values sent will give (see `enum_error`).
        let error_values = Arc::new(AtomicU64::new(0));
        let (counter, encoder) = (error_values.clone(), self.encoder.clone());
        let input = input
            .map(move |batch| {
                let batch = batch?;
                counter.fetch_add(encoder.error_values(&batch)?, Ordering::Relaxed);
                Ok(batch)
            })
            .boxed();
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
            return Err(load_error(&self.ep, &self.loaded_table, e));
        }
        let sent = producer.join().await?.ok_or_else(|| {
            Error::Internal("the LOAD finished before the encoder sent every row".into())
        })?;
        let stored = self.conn.affected_rows();
        let expected = error_values.load(Ordering::Relaxed);
        if !enum_error::only_error_values(&mut self.conn, expected).await? {
            return Err(self.warnings_error(self.conn.get_warnings()).await);
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
        Ok(self.commit_reporting().await?.0)
    }

    async fn commit_reporting(self: Box<Self>) -> Result<(u64, Option<PublishReport>)> {
        let mut w = *self;
        let mut report = None;
        if w.interrupted {
            return Err(Error::Internal(format!(
                "an earlier write to {} was interrupted; it cannot be committed",
                w.ep.display()
            )));
        }
        let ep = w.ep.clone();
        // The merge and the checkpoint are part of the load's transaction:
        // if either fails, nothing of this run is published.
        if let Err(e) = w.finish_transaction().await {
            let _ = Box::new(w).abort().await;
            return Err(e);
        }
        w.conn
            .query_drop("COMMIT")
            .await
            .map_err(|e| ep.error("committing the load", e))?;
        if let Some(m) = &w.merge_into {
            let _ = w
                .conn
                .query_drop(format!(
                    "DROP TEMPORARY TABLE IF EXISTS {}",
                    ep.qualified(&m.stage)
                ))
                .await;
        }
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
            let renaming = std::time::Instant::now();
            if let Err(e) = w.conn.query_drop(swap.as_str()).await {
                let _ = w
                    .conn
                    .query_drop(format!("DROP TABLE IF EXISTS {stg}"))
                    .await;
                return Err(ep.error("publishing (RENAME TABLE)", e));
            }
            // RENAME TABLE waits for and holds the exclusive metadata lock
            // of the target: readers wait for that statement only.
            report = Some(PublishReport {
                strategy: if w.target_exists { "rename" } else { "create" }.into(),
                note: None,
                lock: "exclusive metadata lock, for RENAME TABLE only".into(),
                blocks_readers: w.target_exists,
                lock_wait_ms: None,
                lock_held_ms: renaming.elapsed().as_millis() as u64,
            });
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
        Ok((w.rows_loaded, report))
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        let mut w = *self;
        let ep = w.ep.clone();
        if !w.interrupted {
            let mut undo = w.conn.query_drop("ROLLBACK").await;
            if undo.is_ok() {
                undo = clean_up(&mut w.conn, &ep, w.staging.as_deref(), w.created_target).await;
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
        if w.staging.is_some() || w.created_target {
            let mut side = ep.connect().await?;
            let got: Option<Row> = side
                .exec_first("SELECT GET_LOCK(?, ?)", (w.lock.as_str(), LOCK_WAIT_SECS))
                .await
                .map_err(|e| ep.error("taking the writer lock to clean up", e))?;
            if got.as_ref().and_then(|r| number(r, 0)) == Some(1) {
                clean_up(&mut side, &ep, w.staging.as_deref(), w.created_target)
                    .await
                    .map_err(|e| ep.error("cleaning up after the run", e))?;
            }
            let _ = side.disconnect().await;
        }
        Ok(())
    }
}

/// After a rolled-back run: drops its staging table, and the target it
/// created up front if that is still empty (so a failed first incremental
/// run leaves no table behind).
pub(super) async fn clean_up(
    conn: &mut Conn,
    ep: &Endpoint,
    staging: Option<&str>,
    created_target: bool,
) -> std::result::Result<(), mysql_async::Error> {
    if let Some(staging) = staging {
        conn.query_drop(format!("DROP TABLE IF EXISTS {}", ep.qualified(staging)))
            .await?;
    }
    if created_target {
        let target = ep.qualified(&ep.table);
        let any: Option<Row> = conn
            .query_first(format!("SELECT 1 FROM {target} LIMIT 1"))
            .await?;
        if any.is_none() {
            conn.query_drop(format!("DROP TABLE IF EXISTS {target}"))
                .await?;
        }
    }
    Ok(())
}

impl MysqlWriter {
    /// The statements that publish with the load, before its `COMMIT`: the
    /// merge of the staged rows, then the checkpoint.
    async fn finish_transaction(&mut self) -> Result<()> {
        if let Some(m) = &self.merge_into {
            let merged = m.apply(&mut self.conn, &self.ep).await?;
            tracing::info!(table = %self.ep.display(), upserted = merged.upserted, deleted = merged.deleted, "merged the staged rows");
        }
        if let Some((cp, expected)) = &self.checkpoint {
            merge::write_checkpoint(&mut self.conn, &self.ep, cp, expected.as_deref()).await?;
        }
        Ok(())
    }

    /// Loads in segments under savepoints, isolating refused rows (see [`isolate`]).
    async fn write_isolating(&mut self, mut input: BatchStream, rejects: &Rejects) -> Result<u64> {
        // A merge's temporary staging table is not in information_schema;
        // it is made LIKE the target, so it has the target's engine.
        let engine_table = match &self.merge_into {
            Some(m) => m.into.clone(),
            None => self.loaded_table.clone(),
        };
        let table = self.loaded_table.clone();
        let mut load = SegmentedLoad {
            conn: &mut self.conn,
            interrupted: &mut self.interrupted,
            ep: &self.ep,
            table: &table,
            engine_table: &engine_table,
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
        let others = enum_error::other_warnings(&messages, &self.encoder.error_value_columns());
        Error::DirtyData {
            column: culprit(&self.columns, &self.key_columns, &others)
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
