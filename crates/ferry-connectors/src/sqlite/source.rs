//! Reading a SQLite table: one session = one connection holding one read
//! transaction (the snapshot), one split, one blocking reader per stream.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::connector::{ReadOptions, ReadSession, Source, Split};
use ferry_core::pushdown::ReadFilter;
use ferry_core::spec::{DirtyReason, TableName};

use super::spec::SqliteEndpoint;
use ferry_core::{BatchStream, ColumnDef, Error, Rejects, Result, TableSchema};
use futures::Stream;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, InterruptHandle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::pushdown::{self, Param};
use super::read::{Misfit, append};
use super::types::column_type;
use super::{
    CONNECTOR, Target, open_read_only, quote_ident, sql_error, table_info, table_not_found,
};
use crate::common::BatchBuilder;
use crate::common::builder::BadValue;

/// Depth of the channel between the blocking reader and the stream.
const CHANNEL_DEPTH: usize = 2;
/// Names under which SQLite exposes the rowid, tried in order.
const ROWID_ALIASES: [&str; 3] = ["rowid", "_rowid_", "oid"];

/// Reads a table of a SQLite database file (opened read-only).
#[derive(Debug, Clone)]
pub struct SqliteSource {
    target: Target,
}

impl SqliteSource {
    /// A source for `table` in the file of `endpoint`; does no I/O.
    pub fn new(endpoint: &SqliteEndpoint, table: &TableName) -> Result<Self> {
        Ok(SqliteSource {
            target: Target::new(endpoint, table)?,
        })
    }
}

/// Runs blocking database work off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("sqlite worker thread failed: {e}")))?
}

/// Discovers the table's schema on an open connection.
fn discover(conn: &Connection, target: &Target) -> Result<TableSchema> {
    let info = table_info(conn, &target.path, &target.table)?
        .ok_or_else(|| table_not_found(conn, target))?;
    let without_rowid =
        info.kind == "table" && rowid_alias(conn, &info.name, &info.columns).is_none();
    let mut keyed: Vec<(u32, String)> = info
        .columns
        .iter()
        .filter(|c| c.pk > 0)
        .map(|c| (c.pk, c.name.clone()))
        .collect();
    keyed.sort();
    let primary_key: Vec<String> = keyed.into_iter().map(|(_, n)| n).collect();
    let columns = info
        .columns
        .iter()
        .map(|c| {
            // Key columns of a WITHOUT ROWID table, and an INTEGER PRIMARY KEY
            // (the rowid itself), can never be NULL whatever table_info says.
            let rowid_key =
                primary_key.len() == 1 && c.pk == 1 && c.declared.eq_ignore_ascii_case("INTEGER");
            let key_not_null = c.pk > 0 && (without_rowid || rowid_key);
            ColumnDef {
                name: c.name.clone(),
                ty: column_type(&c.declared),
                nullable: !(c.not_null || key_not_null),
                native_type: c.declared.clone(),
                dialect: None,
            }
        })
        .collect();
    Ok(TableSchema {
        table: info.name,
        columns,
        primary_key,
    })
}

/// The name under which this table's rowid can be selected, if it has one
/// (not a view, not WITHOUT ROWID, and not every alias shadowed by a column).
fn rowid_alias(
    conn: &Connection,
    table: &str,
    columns: &[super::TableColumn],
) -> Option<&'static str> {
    ROWID_ALIASES.into_iter().find(|alias| {
        !columns.iter().any(|c| c.name.eq_ignore_ascii_case(alias))
            && conn
                .prepare(&format!(
                    "SELECT {alias} FROM {} LIMIT 0",
                    quote_ident(table)
                ))
                .is_ok()
    })
}

#[async_trait]
impl Source for SqliteSource {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    fn supports_filter(&self) -> bool {
        true
    }

    async fn schema(&self) -> Result<TableSchema> {
        let target = self.target.clone();
        blocking(move || discover(&open_read_only(&target.path)?, &target)).await
    }

    async fn open_read(
        &self,
        schema: &TableSchema,
        options: &ReadOptions,
    ) -> Result<Box<dyn ReadSession>> {
        let target = self.target.clone();
        let schema = if options.columns.is_empty() {
            schema.clone()
        } else {
            schema.project(&options.columns)?
        };
        let batch_bytes = options.batch_bytes.max(1);
        let filter = options.filter.clone();
        blocking(move || SqliteSession::open(target, schema, batch_bytes, &filter))
            .await
            .map(|s| Box::new(s) as Box<dyn ReadSession>)
    }
}

/// What the single split reads; also the split's payload.
#[derive(Debug, Clone, serde::Serialize)]
struct ReadPlan {
    path: String,
    table: String,
    columns: Vec<String>,
    /// The rowid alias selected first (for order and for naming rows in errors).
    rowid: Option<&'static str>,
    /// `ORDER BY` columns: the rowid, or the key of a WITHOUT ROWID table.
    order_by: Vec<String>,
    /// The read filter's condition (see [`pushdown`]), reading `?1`, `?2`, …
    condition: Option<String>,
    /// The values bound to the condition's parameters.
    params: Vec<Param>,
    /// Whether the condition holds the user's `source_filter`: SQL the
    /// database refuses is then the user's error, not Ferry's.
    #[serde(default)]
    user_predicate: bool,
}

impl ReadPlan {
    fn sql(&self) -> String {
        let mut cols: Vec<String> = self.rowid.iter().map(|r| r.to_string()).collect();
        cols.extend(self.columns.iter().map(|c| quote_ident(c)));
        let mut sql = format!(
            "SELECT {} FROM {}",
            cols.join(", "),
            quote_ident(&self.table)
        );
        if let Some(c) = &self.condition {
            sql.push_str(&format!(" WHERE {c}"));
        }
        if !self.order_by.is_empty() {
            let order: Vec<String> = self.order_by.iter().map(|c| quote_ident(c)).collect();
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        sql
    }
}

/// One read transaction on one connection; serves the single split.
struct SqliteSession {
    /// `None` once the session is closed.
    conn: Arc<Mutex<Option<Connection>>>,
    interrupt: Arc<InterruptHandle>,
    target: Target,
    arrow: SchemaRef,
    /// The table's key: rejected rows are named by it.
    key: Vec<String>,
    batch_bytes: usize,
    plan: ReadPlan,
    splits: Vec<Split>,
    /// The newest cursor tuple of an incremental read.
    high: Option<Vec<String>>,
}

impl SqliteSession {
    fn open(
        target: Target,
        schema: TableSchema,
        batch_bytes: usize,
        filter: &ReadFilter,
    ) -> Result<Self> {
        let conn = open_read_only(&target.path)?;
        let err = |doing: &'static str| {
            let path = target.path.clone();
            move |e| sql_error(&path, doing, e)
        };
        // A deferred transaction takes its snapshot at the first read: do one now.
        conn.execute_batch("BEGIN")
            .map_err(err("begin a read transaction"))?;
        let info = table_info(&conn, &target.path, &target.table)?
            .ok_or_else(|| table_not_found(&conn, &target))?;
        let rowid = match info.kind.as_str() {
            "table" => rowid_alias(&conn, &info.name, &info.columns),
            _ => None,
        };
        let order_by = match rowid {
            Some(alias) => vec![alias.to_string()],
            None if info.kind == "table" => discover(&conn, &target)?.primary_key,
            None => Vec::new(),
        };
        // The filter's bounds come from this same read transaction.
        let high = match &filter.cursor {
            Some(c) => pushdown::cursor_high(&conn, &target.path, &info, filter, c)?,
            None => None,
        };
        let (condition, params) = pushdown::read_condition(&info, filter, high.as_deref())?;
        let plan = ReadPlan {
            path: target.file(),
            table: info.name.clone(),
            columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
            rowid,
            order_by,
            condition,
            user_predicate: filter.predicate.is_some(),
            params: params.values,
        };
        let mut count_sql = format!("SELECT count(*) FROM {}", quote_ident(&info.name));
        if let Some(c) = &plan.condition {
            count_sql.push_str(&format!(" WHERE {c}"));
        }
        let rows: i64 = conn
            .query_row(&count_sql, rusqlite::params_from_iter(&plan.params), |r| {
                r.get(0)
            })
            .map_err(|e| filter_or(e, plan.user_predicate, err("count the rows")))?;
        let split = Split {
            index: 0,
            description: plan.sql(),
            payload: serde_json::to_value(&plan)
                .map_err(|e| Error::Internal(format!("split payload: {e}")))?,
            estimated_rows: u64::try_from(rows).ok(),
        };
        let interrupt = Arc::new(conn.get_interrupt_handle());
        Ok(SqliteSession {
            conn: Arc::new(Mutex::new(Some(conn))),
            interrupt,
            target,
            arrow: schema.arrow_schema(),
            key: schema.primary_key.clone(),
            batch_bytes,
            plan,
            splits: vec![split],
            high,
        })
    }
}

#[async_trait]
impl ReadSession for SqliteSession {
    fn splits(&self) -> &[Split] {
        &self.splits
    }

    fn cursor_high(&self) -> Option<Vec<String>> {
        self.high.clone()
    }

    async fn read_split(&self, split: &Split, rejects: &Rejects) -> Result<BatchStream> {
        if split.index != 0 {
            return Err(Error::Internal(format!(
                "sqlite plans one split, asked for split {}",
                split.index
            )));
        }
        let mut builder = BatchBuilder::new(
            self.arrow.clone(),
            self.batch_bytes,
            &self.key,
            rejects.clone(),
        )?;
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let conn = self.conn.clone();
        let plan = self.plan.clone();
        let target = self.target.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let guard = conn
                .lock()
                .map_err(|_| Error::Internal("sqlite session connection poisoned".into()))?;
            let conn = guard
                .as_ref()
                .ok_or_else(|| Error::Internal("sqlite read session used after close".into()))?;
            read_rows(conn, &target, &plan, &mut builder, &tx)
        });
        Ok(Box::pin(ReadStream {
            rx,
            handle: Some(handle),
            interrupt: self.interrupt.clone(),
        }))
    }

    async fn close(&self) -> Result<()> {
        let (conn, path) = (self.conn.clone(), self.target.path.clone());
        blocking(move || {
            let taken = conn
                .lock()
                .map_err(|_| Error::Internal("sqlite session connection poisoned".into()))?
                .take();
            match taken {
                // Ends the read transaction; the connection closes when dropped.
                Some(conn) => conn
                    .execute_batch("COMMIT")
                    .map_err(|e| sql_error(&path, "end the read transaction", e)),
                None => Ok(()),
            }
        })
        .await
    }
}

/// The error of a query: when it holds the user's `source_filter` and SQLite
/// refuses its SQL (`SQLITE_ERROR`: a wrong function, arity, syntax), the
/// user's error naming the field; otherwise `other`'s.
fn filter_or(
    e: rusqlite::Error,
    user_predicate: bool,
    other: impl FnOnce(rusqlite::Error) -> Error,
) -> Error {
    let refused_sql = match &e {
        rusqlite::Error::SqlInputError { .. } => true,
        rusqlite::Error::SqliteFailure(f, _) => f.code == rusqlite::ErrorCode::Unknown,
        _ => false,
    };
    if user_predicate && refused_sql {
        Error::invalid(
            "source_filter",
            format!("SQLite refused the query with this filter: {e}"),
        )
    } else {
        other(e)
    }
}

/// Streams the rows of `plan` into batches sent on `tx`; returns early (Ok)
/// when the receiver is gone.
fn read_rows(
    conn: &Connection,
    target: &Target,
    plan: &ReadPlan,
    builder: &mut BatchBuilder,
    tx: &mpsc::Sender<RecordBatch>,
) -> Result<()> {
    let err = |e| sql_error(&target.path, "read the table", e);
    let mut stmt = conn
        .prepare(&plan.sql())
        .map_err(|e| filter_or(e, plan.user_predicate, err))?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(&plan.params))
        .map_err(err)?;
    let first = usize::from(plan.rowid.is_some());
    let types = builder.types().to_vec();
    let nullable: Vec<bool> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.is_nullable())
        .collect();
    let mut ordinal: u64 = 0;
    while let Some(row) = rows.next().map_err(err)? {
        if tx.is_closed() {
            return Ok(());
        }
        ordinal += 1;
        let mut variable = 0;
        for (i, ty) in types.iter().enumerate() {
            let v = row.get_ref(first + i).map_err(err)?;
            let misfit = if !nullable[i] && matches!(v, ValueRef::Null) {
                BadValue::new(
                    DirtyReason::Constraint,
                    "NULL in a column that is NOT NULL in the schema",
                )
            } else {
                match append(&mut builder.columns()[i], ty, v) {
                    Ok(n) => {
                        variable += n;
                        continue;
                    }
                    Err(Misfit::Value(bad)) => bad,
                    Err(Misfit::Internal(m)) => {
                        return Err(Error::Internal(format!(
                            "column `{}`: {m}",
                            builder.column_name(i)
                        )));
                    }
                }
            };
            // Name the row as SQLite knows it (the key or row number is the
            // record's position); the value is NULL in the batch until the
            // builder drops the row.
            let row_name = match (plan.rowid, row.get_ref(0)) {
                (Some(_), Ok(ValueRef::Integer(id))) => format!("rowid {id}"),
                _ => format!("row {ordinal}"),
            };
            let mut bad = misfit;
            bad.message = format!("{row_name} of {}: {}", plan.table, bad.message);
            builder.columns()[i].append_null();
            builder.reject_row(i, bad);
        }
        builder.end_row(variable);
        if builder.is_full()
            && let Some(batch) = builder.finish()?
            && tx.blocking_send(batch).is_err()
        {
            return Ok(());
        }
    }
    if let Some(batch) = builder.finish()? {
        let _ = tx.blocking_send(batch);
    }
    Ok(())
}

/// The batches of one split; reports the reader's error at the end, and
/// stops the reader when dropped early.
struct ReadStream {
    rx: mpsc::Receiver<RecordBatch>,
    handle: Option<JoinHandle<Result<()>>>,
    interrupt: Arc<InterruptHandle>,
}

impl Stream for ReadStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(batch) = ready!(self.rx.poll_recv(cx)) {
            return Poll::Ready(Some(Ok(batch)));
        }
        // The channel closed: the reader is done; say how it ended.
        let Some(handle) = self.handle.as_mut() else {
            return Poll::Ready(None);
        };
        let joined = ready!(Pin::new(handle).poll(cx));
        self.handle = None;
        Poll::Ready(match joined {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Err(e)),
            Err(e) => Some(Err(Error::Internal(format!(
                "sqlite reader thread failed: {e}"
            )))),
        })
    }
}

impl Drop for ReadStream {
    fn drop(&mut self) {
        if self.handle.is_some() {
            // Dropped before the end: the closed channel stops the row loop,
            // and the interrupt stops a statement busy before its next row.
            self.rx.close();
            self.interrupt.interrupt();
        }
    }
}
