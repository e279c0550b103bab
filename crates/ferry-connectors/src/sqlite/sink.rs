//! Writing a SQLite table: one connection, one `BEGIN IMMEDIATE` transaction
//! from `prepare` to `commit`/`abort`, one reused prepared INSERT.
//!
//! ```text
//!  prepare   open/create file, busy_timeout, BEGIN IMMEDIATE
//!            target exists?  yes: check each column (fits_into), overwrite: DELETE FROM target
//!                            no:  CREATE TABLE target (declared types that read back the same)
//!  write_all INSERT INTO target (cols) VALUES (?, …)   × rows, every value bound
//!            constraint failure: SQLite undoes that INSERT only → a dirty row
//!            (dirty rows allowed), else the write fails naming the column
//!  commit    COMMIT                       → rows inserted (sum of changes())
//!  abort     ROLLBACK                     → the file is as it was
//! ```

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::connector::{Sink, SinkWriter, TargetPlan};
use ferry_core::reject::{row_json, row_position};
use ferry_core::spec::DirtyReason;
use ferry_core::spec::{SqliteEndpoint, SyncMode, TableName};
use ferry_core::{BatchStream, Error, Rejected, Rejects, Result, TableSchema};
use futures::StreamExt;
use rusqlite::Connection;
use tokio::sync::mpsc;

use super::ddl::{check_existing, create_table_sql, insert_sql};
use super::types::{affinity, declared_type};
use super::write::{WriteColumn, bind};
use super::{CONNECTOR, Target, open_read_write, quote_ident, sql_error, table_info};
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

/// The statement and columns of the inserts.
#[derive(Debug)]
struct InsertPlan {
    sql: String,
    columns: Vec<WriteColumn>,
    /// Key columns naming a refused row (the target's key, else the source's).
    key: Vec<String>,
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

    async fn prepare(&self, schema: &TableSchema, mode: SyncMode) -> Result<Box<dyn SinkWriter>> {
        self.supports_mode(mode)?;
        let target = self.target.clone();
        let schema = schema.clone();
        let (conn, plan, insert) = blocking(move || -> Result<_> {
            let conn = open_read_write(&target.path)?;
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| sql_error(&target.path, "begin the write transaction", e))?;
            match prepare_target(&conn, &target, &schema, mode) {
                Ok((plan, insert)) => Ok((conn, plan, insert)),
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
            seen: 0,
            sent: 0,
            inserted: 0,
            failed: false,
        }))
    }
}

/// Checks or creates the target inside the open transaction.
fn prepare_target(
    conn: &Connection,
    target: &Target,
    schema: &TableSchema,
    mode: SyncMode,
) -> Result<(TargetPlan, InsertPlan)> {
    let schema_error = |problems: Vec<String>| Error::Schema {
        table: target.table.clone(),
        problems,
    };
    let mut problems = Vec::new();
    for (i, c) in schema.columns.iter().enumerate() {
        if let Some(other) = schema.columns[..i]
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(&c.name))
        {
            problems.push(format!(
                "columns `{}` and `{}` differ only in case, which SQLite treats as the same name",
                other.name, c.name
            ));
        }
    }
    if schema.columns.is_empty() {
        problems.push("the source has no columns to write".into());
    }
    if !problems.is_empty() {
        return Err(schema_error(problems));
    }
    let exec = |sql: &str, doing: &str| {
        conn.execute_batch(sql)
            .map_err(|e| sql_error(&target.path, doing, e))
    };
    let (plan, columns, target_key) = match table_info(conn, &target.path, &target.table)? {
        Some(info) => {
            if info.kind != "table" {
                return Err(schema_error(vec![format!(
                    "`{}` is a {}; the sink writes into tables",
                    info.name, info.kind
                )]));
            }
            let problems = check_existing(schema, &info.columns);
            if !problems.is_empty() {
                return Err(schema_error(problems));
            }
            if mode == SyncMode::FullOverwrite {
                exec(
                    &format!("DELETE FROM {}", quote_ident(&info.name)),
                    "delete the old rows",
                )?;
            }
            let columns = schema
                .columns
                .iter()
                .map(|c| {
                    let declared = info
                        .columns
                        .iter()
                        .find(|t| t.name.eq_ignore_ascii_case(&c.name))
                        .map(|t| t.declared.as_str())
                        .unwrap_or_default();
                    WriteColumn {
                        name: c.name.clone(),
                        ty: c.ty.clone(),
                        affinity: affinity(declared),
                    }
                })
                .collect::<Vec<_>>();
            let mut key: Vec<&super::TableColumn> =
                info.columns.iter().filter(|t| t.pk > 0).collect();
            key.sort_by_key(|t| t.pk);
            // In the source's spelling: SQLite matches names case-insensitively.
            let key = key
                .iter()
                .map(|t| {
                    schema
                        .columns
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(&t.name))
                        .map_or_else(|| t.name.clone(), |c| c.name.clone())
                })
                .collect::<Vec<_>>();
            let plan = TargetPlan {
                table: info.name,
                creates_table: false,
                ddl: info.sql,
            };
            (plan, columns, key)
        }
        None => {
            let ddl = create_table_sql(&target.table, schema);
            exec(&ddl, "create the target table")?;
            let columns = schema
                .columns
                .iter()
                .map(|c| WriteColumn {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                    affinity: affinity(&declared_type(&c.ty)),
                })
                .collect::<Vec<_>>();
            let plan = TargetPlan {
                table: target.table.clone(),
                creates_table: true,
                ddl: Some(ddl),
            };
            (plan, columns, Vec::new())
        }
    };
    let insert = InsertPlan {
        sql: insert_sql(&plan.table, &columns),
        columns,
        key: if target_key.is_empty() {
            schema.primary_key.clone()
        } else {
            target_key
        },
    };
    Ok((plan, insert))
}

/// The open write: owns the connection and its transaction.
struct SqliteWriter {
    /// `None` only while a blocking call owns it, or after it was lost.
    conn: Option<Connection>,
    target: Target,
    plan: TargetPlan,
    insert: Arc<InsertPlan>,
    /// Rows received from the input, refused ones included (row numbers).
    seen: u64,
    /// Rows received from the input and not refused.
    sent: u64,
    /// Rows SQLite reported as inserted (sum of `changes()`).
    inserted: u64,
    /// A write failed: the transaction may be gone, only `abort` is allowed.
    failed: bool,
}

#[async_trait]
impl SinkWriter for SqliteWriter {
    fn target_plan(&self) -> &TargetPlan {
        &self.plan
    }

    fn float_specials(&self) -> ferry_core::connector::FloatSpecials {
        ferry_core::connector::FloatSpecials::NO_NAN
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

    async fn commit(mut self: Box<Self>) -> Result<u64> {
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
            match conn.execute_batch("COMMIT") {
                Ok(()) => Ok(inserted),
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
    /// Rows SQLite reported inserted (sum of `changes()`).
    inserted: u64,
}

/// Inserts every row of every batch received. A row whose INSERT breaks a
/// constraint goes to `rejects` when it accepts rows: SQLite rolls back
/// only that statement, the transaction goes on. `first_row` counts rows of
/// earlier calls.
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
            for (i, (v, c)) in values.iter().zip(&insert.columns).enumerate() {
                bind(&mut stmt, i + 1, c, v, row, row_no, &mut buf)?;
            }
            n.seen += 1;
            match stmt.raw_execute() {
                Ok(changed) => {
                    n.sent += 1;
                    n.inserted += changed as u64;
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
