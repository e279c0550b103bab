//! Writing a SQLite table: one connection, one `BEGIN IMMEDIATE` transaction
//! from `prepare` to `commit`/`abort`, one reused prepared INSERT.
//!
//! ```text
//!  prepare   open/create file, busy_timeout, BEGIN IMMEDIATE
//!            target exists?  yes: check each column (fits_into), overwrite: DELETE FROM target,
//!                                 window_overwrite: DELETE the window's rows,
//!                                 merge: the merge key must be its key or a unique index
//!                            no:  CREATE TABLE target (declared types that read back the same;
//!                                 a merge's key as primary key)
//!  write_all INSERT INTO target (cols) VALUES (?, …)   × rows, every value bound
//!            (merge: upsert, or delete by key a row flagged by the delete column)
//!            constraint failure: SQLite undoes that INSERT only → a dirty row
//!            (dirty rows allowed), else the write fails naming the column
//!            a value SQLite cannot hold exactly (NaN, a time outside one day, a
//!            year outside 0000–9999, a number its affinity would round): not
//!            executed → a dirty row (`conversion`) likewise
//!  commit    [checkpoint: check and store it]  COMMIT    → rows written
//!  abort     ROLLBACK                     → the file is as it was
//! ```
//!
//! See [`super::prepare`] for how the target is prepared per mode, and
//! [`super::merge`] for the merge, window and checkpoint statements.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::connector::{Checkpoint, PublishReport, Sink, SinkWriter, TargetPlan, WriteSpec};
use ferry_core::reject::{row_json, row_position};
use ferry_core::spec::DirtyReason;
use ferry_core::spec::{SyncMode, TableName};

use super::spec::SqliteEndpoint;
use ferry_core::{BatchStream, Error, Rejected, Rejects, Result, TableSchema};
use futures::StreamExt;
use rusqlite::Connection;
use tokio::sync::mpsc;

use super::merge;
use super::prepare::{InsertPlan, prepare_target};
use super::write::{WriteColumn, bind};
use super::{CONNECTOR, Target, open_read_only, open_read_write, sql_error};
use crate::common::values::ColumnValues;

/// Depth of the channel between the stream and the blocking writer.
const CHANNEL_DEPTH: usize = 2;

/// Writes a table of a SQLite database file (created if missing).
#[derive(Debug, Clone)]
pub struct SqliteSink {
    target: Target,
}

impl SqliteSink {
    /// A sink for `table` in the file of `endpoint`; does no I/O.
    pub fn new(endpoint: &SqliteEndpoint, table: &TableName) -> Result<Self> {
        Ok(SqliteSink {
            target: Target::new(endpoint, table)?,
        })
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("sqlite worker thread failed: {e}")))
}

#[async_trait]
impl Sink for SqliteSink {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    fn supports_mode(&self, _mode: SyncMode) -> Result<()> {
        Ok(())
    }

    fn keeps_checkpoints(&self) -> bool {
        true
    }

    async fn checkpoint(&self, task: &str) -> Result<Option<Checkpoint>> {
        let (path, task) = (self.target.path.clone(), task.to_string());
        blocking(move || {
            if !path.is_file() {
                return Ok(None); // no file yet: nothing was ever committed
            }
            merge::read_checkpoint(&open_read_only(&path)?, &path, &task)
        })
        .await?
    }

    async fn prepare(&self, schema: &TableSchema, mode: SyncMode) -> Result<Box<dyn SinkWriter>> {
        self.prepare_write(schema, &WriteSpec::plain(mode)).await
    }

    async fn prepare_write(
        &self,
        schema: &TableSchema,
        write: &WriteSpec,
    ) -> Result<Box<dyn SinkWriter>> {
        self.supports_mode(write.mode)?;
        let target = self.target.clone();
        let schema = schema.clone();
        let write = write.clone();
        let overwrite = write.mode == SyncMode::FullOverwrite;
        let (conn, plan, insert, lock) = blocking(move || -> Result<_> {
            let conn = open_read_write(&target.path)?;
            let wal = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                .map_err(|e| sql_error(&target.path, "read the journal mode", e))?
                .eq_ignore_ascii_case("wal");
            let asked = std::time::Instant::now();
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| sql_error(&target.path, "begin the write transaction", e))?;
            let lock = WriteLock {
                wal,
                locked: std::time::Instant::now(),
                waited: asked.elapsed(),
            };
            match prepare_target(&conn, &target, &schema, &write) {
                Ok((plan, insert)) => Ok((conn, plan, insert, lock)),
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    Err(e)
                }
            }
        })
        .await??;
        Ok(Box::new(SqliteWriter {
            conn: Some(conn),
            target: self.target.clone(),
            plan,
            insert: Arc::new(insert),
            checkpoint: None,
            seen: 0,
            sent: 0,
            inserted: 0,
            failed: false,
            lock: overwrite.then_some(lock),
        }))
    }
}

/// The open write: owns the connection and its transaction.
struct SqliteWriter {
    /// `None` only while a blocking call owns it, or after it was lost.
    conn: Option<Connection>,
    target: Target,
    plan: TargetPlan,
    insert: Arc<InsertPlan>,
    /// The checkpoint to store at commit, and the run whose checkpoint must still be there.
    checkpoint: Option<(Checkpoint, Option<String>)>,
    /// Rows received from the input, refused ones included (row numbers).
    seen: u64,
    /// Rows received from the input and not refused.
    sent: u64,
    /// Rows SQLite reported as inserted (sum of `changes()`).
    inserted: u64,
    /// A write failed: the transaction may be gone, only `abort` is allowed.
    failed: bool,
    /// The write transaction's lock, reported for an overwrite.
    lock: Option<WriteLock>,
}

/// When the write transaction (`BEGIN IMMEDIATE`: SQLite's RESERVED lock)
/// began, how long it waited, and whether the file is in WAL mode. In WAL
/// mode readers keep reading the old rows until the commit; in the other
/// journal modes the commit (or a cache spill of a large load) takes the
/// EXCLUSIVE lock, which readers wait for.
struct WriteLock {
    wal: bool,
    locked: std::time::Instant,
    waited: std::time::Duration,
}

impl WriteLock {
    fn report(&self) -> PublishReport {
        PublishReport {
            strategy: "transaction".into(),
            note: None,
            lock: if self.wal {
                "RESERVED (write transaction, WAL mode)".into()
            } else {
                "RESERVED, then EXCLUSIVE at the commit or a cache spill (rollback journal)".into()
            },
            blocks_readers: !self.wal,
            lock_wait_ms: Some(self.waited.as_millis() as u64),
            lock_held_ms: self.locked.elapsed().as_millis() as u64,
        }
    }
}

#[async_trait]
impl SinkWriter for SqliteWriter {
    fn target_plan(&self) -> &TargetPlan {
        &self.plan
    }

    fn float_specials(&self) -> ferry_core::connector::FloatSpecials {
        ferry_core::connector::FloatSpecials::NO_NAN
    }

    fn set_checkpoint(&mut self, checkpoint: Checkpoint, expected: Option<String>) -> Result<()> {
        self.checkpoint = Some((checkpoint, expected));
        Ok(())
    }

    async fn write_all(&mut self, mut input: BatchStream, rejects: &Rejects) -> Result<u64> {
        if self.failed {
            return Err(Error::Internal(
                "sqlite sink: write after a failed write; abort instead".into(),
            ));
        }
        let conn = self
            .conn
            .take()
            .ok_or_else(|| Error::Internal("sqlite sink: connection lost".into()))?;
        self.failed = true; // until the write comes back whole
        let (tx, rx) = mpsc::channel::<RecordBatch>(CHANNEL_DEPTH);
        let insert = self.insert.clone();
        let target = self.target.clone();
        let first_row = self.seen;
        let rejects = rejects.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let result = insert_batches(&conn, &target, &insert, rx, first_row, &rejects);
            (conn, result)
        });
        let mut input_error = None;
        while let Some(item) = input.next().await {
            match item {
                Ok(batch) => {
                    if tx.send(batch).await.is_err() {
                        break; // the writer stopped: its error says why
                    }
                }
                Err(e) => {
                    input_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let (conn, result) = writer
            .await
            .map_err(|e| Error::Internal(format!("sqlite writer thread failed: {e}")))?;
        self.conn = Some(conn);
        let Counts {
            seen,
            sent,
            inserted,
        } = result?;
        self.seen += seen;
        self.sent += sent;
        self.inserted += inserted;
        if let Some(e) = input_error {
            return Err(e);
        }
        self.failed = false;
        Ok(sent)
    }

    async fn commit(self: Box<Self>) -> Result<u64> {
        Ok(self.commit_reporting().await?.0)
    }

    async fn commit_reporting(mut self: Box<Self>) -> Result<(u64, Option<PublishReport>)> {
        let lock = self.lock.take();
        let conn = self
            .conn
            .take()
            .ok_or_else(|| Error::Internal("sqlite sink: connection lost".into()))?;
        let (failed, sent, inserted, path) = (
            self.failed,
            self.sent,
            self.inserted,
            self.target.path.clone(),
        );
        let checkpoint = self.checkpoint.take();
        blocking(move || {
            let rollback = |e: Error| {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            };
            if failed {
                return rollback(Error::Internal(
                    "sqlite sink: commit after a failed write".into(),
                ));
            }
            if inserted != sent {
                return rollback(Error::Internal(format!(
                    "sqlite sink: {sent} rows sent but SQLite reported {inserted} inserted"
                )));
            }
            if conn.is_autocommit() {
                return Err(Error::Internal(
                    "sqlite sink: the write transaction ended before commit".into(),
                ));
            }
            if let Some((cp, expected)) = &checkpoint
                && let Err(e) = merge::write_checkpoint(&conn, &path, cp, expected.as_deref())
            {
                return rollback(e);
            }
            match conn.execute_batch("COMMIT") {
                Ok(()) => Ok((inserted, lock.as_ref().map(WriteLock::report))),
                Err(e) => rollback(sql_error(&path, "commit", e)),
            }
        })
        .await?
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        let Some(conn) = self.conn.take() else {
            return Ok(()); // the connection is gone, and its transaction with it
        };
        let path = self.target.path.clone();
        blocking(move || {
            if conn.is_autocommit() {
                return Ok(()); // SQLite already rolled back
            }
            conn.execute_batch("ROLLBACK")
                .map_err(|e| sql_error(&path, "roll back", e))
        })
        .await?
    }
}

/// What [`insert_batches`] did.
struct Counts {
    /// Rows received, refused ones included.
    seen: u64,
    /// Rows received and not refused.
    sent: u64,
    /// Rows SQLite reported inserted (sum of `changes()`); for a merge, the
    /// rows upserted or deleted (an upsert that changes nothing, or a delete
    /// of a key the target lacks, still applied its row).
    inserted: u64,
}

/// Whether row `row` of a boolean column is true (NULL is not).
fn is_true(values: &ColumnValues<'_>, row: usize) -> bool {
    matches!(values, ColumnValues::Bool(a) if !values.is_null(row) && a.value(row))
}

/// Inserts every row of every batch received. A row whose INSERT breaks a
/// constraint goes to `rejects` when it accepts rows: SQLite rolls back
/// only that statement, the transaction goes on. A row with a value the
/// binding refuses (see [`bind`]) is not executed and goes to `rejects` as
/// well (which fails the write when it accepts no rows). `first_row` counts
/// rows of earlier calls.
fn insert_batches(
    conn: &Connection,
    target: &Target,
    insert: &InsertPlan,
    mut rx: mpsc::Receiver<RecordBatch>,
    first_row: u64,
    rejects: &Rejects,
) -> Result<Counts> {
    let mut stmt = conn
        .prepare_cached(&insert.sql)
        .map_err(|e| sql_error(&target.path, "prepare the insert", e))?;
    let mut delete = match insert.merge.as_ref().and_then(|m| m.delete_sql.as_deref()) {
        Some(sql) => Some(
            conn.prepare_cached(sql)
                .map_err(|e| sql_error(&target.path, "prepare the delete", e))?,
        ),
        None => None,
    };
    let isolate = rejects.accepts_rows();
    let mut n = Counts {
        seen: 0,
        sent: 0,
        inserted: 0,
    };
    let mut buf = Vec::new();
    while let Some(batch) = rx.blocking_recv() {
        if batch.num_columns() != insert.columns.len() {
            return Err(Error::Internal(format!(
                "sqlite sink: batch has {} columns, the target plan {}",
                batch.num_columns(),
                insert.columns.len()
            )));
        }
        let values = batch
            .columns()
            .iter()
            .zip(&insert.columns)
            .map(|(a, c)| ColumnValues::new(a, &c.ty, &c.name))
            .collect::<Result<Vec<_>>>()?;
        let batch_first_row = first_row + n.seen;
        for row in 0..batch.num_rows() {
            let row_no = first_row + n.seen + 1;
            let flagged = insert
                .merge
                .as_ref()
                .and_then(|m| m.delete_flag)
                .is_some_and(|i| is_true(&values[i], row));
            let bound = match (&insert.merge, delete.as_mut()) {
                (Some(m), Some(del)) if flagged => m
                    .key
                    .iter()
                    .enumerate()
                    .try_for_each(|(j, &i)| {
                        bind(
                            del,
                            j + 1,
                            &insert.columns[i],
                            &values[i],
                            row,
                            row_no,
                            &mut buf,
                        )
                    })
                    .map(|()| Some(del)),
                _ => values
                    .iter()
                    .zip(&insert.columns)
                    .enumerate()
                    .try_for_each(|(i, (v, c))| bind(&mut stmt, i + 1, c, v, row, row_no, &mut buf))
                    .map(|()| None),
            };
            let executed = match bound {
                Ok(Some(del)) => del.raw_execute(),
                Ok(None) => stmt.raw_execute(),
                // A value SQLite cannot hold exactly (NaN, a number its
                // affinity would round, a time outside one day): the row is
                // dirty under the task's policy, not the end of the run.
                Err(Error::DirtyData { column, message }) => {
                    n.seen += 1;
                    rejects.reject(Rejected {
                        position: row_position(&batch, row, &insert.key, batch_first_row),
                        column,
                        reason: DirtyReason::Conversion,
                        message,
                        row: row_json(&batch, row),
                    })?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            n.seen += 1;
            match executed {
                Ok(changed) => {
                    n.sent += 1;
                    n.inserted += if insert.merge.is_some() {
                        1
                    } else {
                        changed as u64
                    };
                }
                Err(e) => {
                    let refused = if isolate {
                        constraint_failure(&e, &insert.columns)
                    } else {
                        None
                    };
                    let Some((column, message)) = refused else {
                        return Err(insert_error(target, &insert.columns, row_no, e));
                    };
                    if conn.is_autocommit() {
                        return Err(Error::server(
                            format!("sqlite {}: insert row {row_no}", target.path.display()),
                            format!(
                                "{message}: the constraint's ON CONFLICT ROLLBACK ended the write \
                                 transaction, so the row cannot be left out alone"
                            ),
                        ));
                    }
                    rejects.reject(Rejected {
                        position: row_position(&batch, row, &insert.key, batch_first_row),
                        column,
                        reason: DirtyReason::Constraint,
                        message,
                        row: row_json(&batch, row),
                    })?;
                }
            }
        }
    }
    Ok(n)
}

/// The columns SQLite names in a constraint failure (`UNIQUE constraint
/// failed: t.a, t.b`) that are columns of the insert, and its message;
/// `None` if `e` is not a constraint failure.
fn constraint_failure(e: &rusqlite::Error, columns: &[WriteColumn]) -> Option<(String, String)> {
    let rusqlite::Error::SqliteFailure(f, message) = e else {
        return None;
    };
    if f.code != rusqlite::ErrorCode::ConstraintViolation {
        return None;
    }
    let message = message.clone().unwrap_or_else(|| e.to_string());
    let named = message
        .rsplit_once(": ")
        .map(|(_, names)| names)
        .unwrap_or_default();
    let column = named
        .split(", ")
        .filter_map(|n| n.rsplit_once('.').map(|(_, c)| c))
        .filter_map(|n| {
            columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(n))
                .map(|c| c.name.as_str())
        })
        .collect::<Vec<_>>()
        .join(", ");
    Some((column, message))
}

/// A failed insert: constraint violations are dirty data naming the column(s)
/// SQLite names (`NOT NULL constraint failed: t.c`).
fn insert_error(
    target: &Target,
    columns: &[WriteColumn],
    row_no: u64,
    e: rusqlite::Error,
) -> Error {
    if let rusqlite::Error::SqliteFailure(f, Some(message)) = &e
        && f.code == rusqlite::ErrorCode::ConstraintViolation
    {
        let named = message
            .rsplit_once(": ")
            .map(|(_, cols)| cols)
            .unwrap_or_default();
        let column: Vec<&str> = named
            .split(", ")
            .map(|c| c.rsplit_once('.').map_or(c, |(_, n)| n))
            .filter(|c| !c.is_empty())
            .collect();
        let column = if column.is_empty() {
            columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            column.join(", ")
        };
        return Error::dirty(column, format!("row {row_no} of the input: {message}"));
    }
    sql_error(&target.path, &format!("insert row {row_no}"), e)
}
