//! Reading a table: one consistent snapshot shared by the split connections
//! (see `snapshot`; integer-key ranges, see `split`), rows streamed
//! (unbuffered) and decoded straight into Arrow builders (see `decode`).

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::connector::{ReadOptions, ReadSession, Source, Split};
use ferry_core::spec::TableName;

use crate::common::server_spec::SqlEndpoint;
use ferry_core::{BatchStream, ColumnType, Error, Rejects, Result, TableSchema};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::conn::{CONNECTOR, Endpoint, describe, quote, table_not_found};
use super::decode::{Bad, Decode, decode};
use super::types::{refuse_unmapped, table_schema};
use super::{late_commits, pushdown, snapshot, split};
use crate::common::builder::BatchBuilder;
use crate::common::late_commits::bound_reason;
use crate::common::stream::{BatchSender, spawn_batch_stream};

/// Batches in flight between the reading task and the consumer.
const CHANNEL_DEPTH: usize = 2;

/// A MySQL/MariaDB table read through streaming result sets.
#[derive(Debug, Clone)]
pub struct MysqlSource {
    ep: Endpoint,
}

impl MysqlSource {
    /// A source for `table` on the server of `endpoint` (no I/O yet).
    pub fn new(endpoint: &SqlEndpoint, table: &TableName) -> Result<Self> {
        Ok(MysqlSource {
            ep: Endpoint::parse(endpoint, table, "source")?,
        })
    }
}

#[async_trait]
impl Source for MysqlSource {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    fn supports_filter(&self) -> bool {
        true
    }

    fn same_dialect_schema(
        &self,
        schema: &TableSchema,
        sink: &str,
        needs_values: &[String],
    ) -> Option<TableSchema> {
        (sink == CONNECTOR).then(|| super::carry::carry_dates(schema, needs_values))
    }

    async fn schema(&self) -> Result<TableSchema> {
        let mut conn = self.ep.connect().await?;
        let schema = match describe(&mut conn, &self.ep).await? {
            Some(info) => Ok(table_schema(&self.ep.display(), &info)),
            None => Err(table_not_found(&mut conn, &self.ep).await),
        };
        let _ = conn.disconnect().await;
        schema
    }

    async fn open_read(
        &self,
        schema: &TableSchema,
        options: &ReadOptions,
    ) -> Result<Box<dyn ReadSession>> {
        let schema = if options.columns.is_empty() {
            schema.clone()
        } else {
            schema.project(&options.columns)?
        };
        refuse_unmapped(&self.ep.display(), &schema)?;
        let ep = &self.ep;
        let mut conn = ep.connect().await?;
        // A slow consumer may hold the result stream for a long time. The
        // sql_mode is fixed so that the query (and a `source_filter` in it)
        // tokenises as it was checked: no ANSI_QUOTES, NO_BACKSLASH_ESCAPES,
        // ORACLE or other parser-changing modes from the server's default.
        conn.query_drop(READ_SESSION_SQL)
            .await
            .map_err(|e| ep.error("setting up the read session", e))?;
        let Some(info) = describe(&mut conn, ep).await? else {
            return Err(table_not_found(&mut conn, ep).await);
        };
        // Before the snapshot (see `common::late_commits`).
        let auto = match &options.filter.cursor {
            Some(c) if c.auto_lag => {
                let first = &c.columns[0];
                let time = info
                    .columns
                    .iter()
                    .find(|col| &col.name == first)
                    .is_some_and(|col| pushdown::time_kind(&col.column_type).is_some());
                let column = quote(first);
                let table = ep.qualified(&ep.table);
                let numeric = (!time).then_some((table.as_str(), column.as_str()));
                Some(late_commits::open_writes(&mut conn, ep, numeric).await?)
            }
            _ => None,
        };
        // Parallel splits need an integer key and a table worth cutting;
        // their connections share one snapshot (see `snapshot`).
        let wanted = match split::integer_key(&info) {
            Some(_) => split::wanted(
                info.estimated_rows,
                options.max_splits,
                options.min_rows_per_split,
            ),
            None => 1,
        };
        let readers = wanted.min(options.readers.max(1) as usize);
        let shared = snapshot::open(ep, conn, readers, READ_SESSION_SQL).await?;
        let mut conns = shared.conns;
        let connections = conns.len();
        let conn = &mut conns[0];
        // The table as the snapshot sees it (the lock kept it from changing).
        let Some(info) = describe(conn, ep).await? else {
            return Err(table_not_found(conn, ep).await);
        };
        // The filter's bounds are computed in the snapshot the splits read.
        let high = match &options.filter.cursor {
            Some(c) => {
                pushdown::cursor_high(conn, ep, &info, &options.filter, c, auto.as_ref()).await?
            }
            None => None,
        };
        let bound = options
            .filter
            .cursor
            .as_ref()
            .and_then(|c| bound_reason(c, auto));
        let (condition, params) =
            pushdown::read_condition(&info, ep, &options.filter, high.as_deref())?;
        if options.filter.predicate.is_some() {
            let select = select_sql(ep, &schema, condition.as_deref());
            single_statement(conn, ep, &select).await?;
        }
        let ranges = match split::integer_key(&info) {
            Some(key) if connections > 1 => split::ranges(conn, ep, key, wanted).await?,
            _ => vec![String::new()],
        };
        let per_split = info.estimated_rows.map(|r| r / ranges.len() as u64);
        let mut splits = Vec::with_capacity(ranges.len());
        for (index, range) in ranges.iter().enumerate() {
            let condition = match (condition.as_deref(), range.as_str()) {
                (c, "") => c.map(str::to_string),
                (None, r) => Some(r.to_string()),
                (Some(c), r) => Some(format!("({c}) AND {r}")),
            };
            let payload = SplitPayload {
                database: ep.database.clone(),
                table: ep.table.clone(),
                columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
                snapshot: shared.note.clone(),
                select: select_sql(ep, &schema, condition.as_deref()),
                params: params.values.clone(),
                filtered: options.filter.predicate.is_some(),
            };
            splits.push(Split {
                index: index as u32,
                description: match &condition {
                    None => format!("all rows of {} ({})", ep.display(), shared.note),
                    Some(c) => format!("rows of {} where {c} ({})", ep.display(), shared.note),
                },
                payload: serde_json::to_value(&payload)
                    .map_err(|e| Error::Internal(format!("mysql split payload: {e}")))?,
                estimated_rows: per_split,
            });
        }
        Ok(Box::new(MysqlReadSession {
            ep: ep.clone(),
            schema,
            batch_bytes: options.batch_bytes,
            splits,
            high,
            bound,
            conn_ids: conns.iter().map(Conn::id).collect(),
            idle: Arc::new(Mutex::new(conns)),
        }))
    }
}

/// The session of a reading connection (see `open_read`).
const READ_SESSION_SQL: &str =
    "SET SESSION net_write_timeout = 3600, SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'";

/// Has the server parse `select` as a prepared statement (and drops it):
/// the text protocol that reads rows accepts several statements at once,
/// and mysql_async 0.36 always asks for CLIENT_MULTI_STATEMENTS (its
/// capability flags are not configurable, and COM_SET_OPTION is not exposed),
/// but a prepared statement is exactly one statement. A query with a
/// `source_filter` that is more than one is refused here, by the server,
/// besides the check of the filter itself.
async fn single_statement(conn: &mut Conn, ep: &Endpoint, select: &str) -> Result<()> {
    match conn.prep(select).await {
        Ok(stmt) => conn
            .close(stmt)
            .await
            .map_err(|e| ep.error("checking the read query", e)),
        Err(e) => Err(ep.read_error("checking the read query", e, true)),
    }
}

/// What the split reads: self-contained (the query and the values it
/// binds), though the snapshot itself lives on the session's connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SplitPayload {
    database: String,
    table: String,
    columns: Vec<String>,
    snapshot: String,
    /// The `SELECT`, reading the bound values as `@ferry_pN` (see [`pushdown`]).
    select: String,
    /// The values bound to `@ferry_p0`, `@ferry_p1`, … before the `SELECT`.
    #[serde(default)]
    params: Vec<String>,
    /// Whether `select` holds the task's `source_filter` (its errors are the user's).
    #[serde(default)]
    filtered: bool,
}

/// `SELECT` with expressions that make the server send exact text: `FLOAT`
/// as the double it holds (its own text keeps only 6 digits), `BIT(n)` as
/// the unsigned number it holds (its own value is raw bytes).
fn select_sql(ep: &Endpoint, schema: &TableSchema, condition: Option<&str>) -> String {
    let cols: Vec<String> = schema
        .columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::Float32 => format!("({} * 1e0)", quote(&c.name)),
            _ if is_bit(&c.native_type) => format!("({} + 0)", quote(&c.name)),
            _ => quote(&c.name),
        })
        .collect();
    let filter = condition.map(|c| format!(" WHERE {c}")).unwrap_or_default();
    format!(
        "SELECT {} FROM {}{filter}",
        cols.join(", "),
        ep.qualified(&ep.table)
    )
}

/// Whether a native type (`COLUMN_TYPE`) is `BIT(n)`.
fn is_bit(native: &str) -> bool {
    native == "bit" || native.starts_with("bit(")
}

/// One snapshot on one or more connections (see `snapshot`). A split's read
/// takes an idle connection and gives it back when the split was read to its
/// end, so more splits (or the same again) can be read in the same snapshot;
/// a read stopped half-way loses its connection.
struct MysqlReadSession {
    ep: Endpoint,
    schema: TableSchema,
    batch_bytes: usize,
    splits: Vec<Split>,
    /// The newest cursor tuple of an incremental read.
    high: Option<Vec<String>>,
    /// The upper bound put on the cursor, and why.
    bound: Option<String>,
    /// Ids of every snapshot connection, to stop those still reading.
    conn_ids: Vec<u32>,
    /// Snapshot connections not reading a split now.
    idle: Arc<Mutex<Vec<Conn>>>,
}

#[async_trait]
impl ReadSession for MysqlReadSession {
    fn splits(&self) -> &[Split] {
        &self.splits
    }

    fn cursor_high(&self) -> Option<Vec<String>> {
        self.high.clone()
    }

    fn cursor_bound(&self) -> Option<String> {
        self.bound.clone()
    }

    async fn read_split(&self, split: &Split, rejects: &Rejects) -> Result<BatchStream> {
        if split.index as usize >= self.splits.len() {
            return Err(Error::Internal(format!(
                "mysql read of {} has {} splits, not split {}",
                self.ep.display(),
                self.splits.len(),
                split.index
            )));
        }
        let payload: SplitPayload = serde_json::from_value(split.payload.clone())
            .map_err(|e| Error::Internal(format!("bad mysql split payload: {e}")))?;
        let conn = self.idle.lock().await.pop().ok_or_else(|| Error::Transient {
            endpoint: self.ep.url.clone(),
            message: format!(
                "every connection of the snapshot of {} is busy or was lost when an earlier read stopped half-way; open a new read",
                self.ep.display()
            ),
        })?;
        let builder = BatchBuilder::new(
            self.schema.arrow_schema(),
            self.batch_bytes,
            &self.schema.primary_key,
            rejects.clone(),
        )?;
        let reader = Reader {
            ep: self.ep.clone(),
            select: payload.select,
            params: payload.params,
            filtered: payload.filtered,
            builder,
            idle: self.idle.clone(),
        };
        Ok(spawn_batch_stream(CHANNEL_DEPTH, move |tx| {
            reader.run(conn, tx)
        }))
    }

    async fn close(&self) -> Result<()> {
        let idle = std::mem::take(&mut *self.idle.lock().await);
        let mut ended = Vec::with_capacity(idle.len());
        let mut result = Ok(());
        for mut conn in idle {
            ended.push(conn.id());
            if let Err(e) = conn.query_drop("COMMIT").await {
                result = result.and(Err(self.ep.error("ending the snapshot", e)));
            }
            let _ = conn.disconnect().await;
        }
        // A read stopped half-way: the driver drains the rest of the result
        // set before it lets the connection go; stop the server.
        for id in self.conn_ids.iter().filter(|id| !ended.contains(id)) {
            kill(&self.ep, *id).await?;
        }
        result
    }
}

/// Kills connection `id` from a fresh connection (it may already be gone).
pub(crate) async fn kill(ep: &Endpoint, id: u32) -> Result<()> {
    let mut side = ep.connect().await?;
    match side.query_drop(format!("KILL CONNECTION {id}")).await {
        Ok(()) => {}
        Err(mysql_async::Error::Server(s)) if s.code == 1094 => {} // unknown thread id
        Err(e) => return Err(ep.error(format!("killing connection {id}"), e)),
    }
    let _ = side.disconnect().await;
    Ok(())
}

/// The reading task's state.
struct Reader {
    ep: Endpoint,
    select: String,
    /// Values of `@ferry_pN`, set on the connection before the `SELECT`.
    params: Vec<String>,
    /// Whether `select` holds the task's `source_filter`.
    filtered: bool,
    builder: BatchBuilder,
    idle: Arc<Mutex<Vec<Conn>>>,
}

impl Reader {
    async fn run(mut self, mut conn: Conn, tx: BatchSender) -> Result<()> {
        // Read to the end: the snapshot stays usable for another read. If the
        // consumer went away or the read failed, `close()` stops the server.
        if self.read(&mut conn, &tx).await? {
            self.idle.lock().await.push(conn);
        }
        Ok(())
    }

    /// Streams every row into batches; `false` if the receiver went away.
    async fn read(&mut self, conn: &mut Conn, tx: &BatchSender) -> Result<bool> {
        let ep = &self.ep;
        let builder = &mut self.builder;
        let decoders: Vec<Decode> = builder.types().iter().map(Decode::of).collect();
        let context = || "reading rows (SELECT)";
        pushdown::set_params(conn, ep, &self.params).await?;
        let mut result = conn
            .query_iter(self.select.as_str())
            .await
            .map_err(|e| ep.read_error(context(), e, self.filtered))?;
        while let Some(row) = result.next().await.map_err(|e| ep.error(context(), e))? {
            let mut variable = 0;
            for (i, dec) in decoders.iter().enumerate() {
                let col = &mut builder.columns()[i];
                let bad = match row.as_ref(i) {
                    Some(Value::NULL) => {
                        col.append_null();
                        continue;
                    }
                    Some(Value::Bytes(b)) => match decode(*dec, col, b) {
                        Ok(n) => {
                            variable += n;
                            continue;
                        }
                        Err(Bad::Value(bad)) => bad,
                        Err(Bad::Internal(m)) => {
                            return Err(Error::Internal(format!(
                                "column `{}`: {m}",
                                builder.column_name(i)
                            )));
                        }
                    },
                    other => {
                        return Err(Error::Internal(format!(
                            "column `{}`: the text protocol sent {other:?}",
                            builder.column_name(i)
                        )));
                    }
                };
                col.append_null();
                builder.reject_row(i, bad);
            }
            builder.end_row(variable);
            if builder.is_full()
                && let Some(batch) = builder.finish()?
                && tx.send(Ok(batch)).await.is_err()
            {
                return Ok(false);
            }
        }
        drop(result);
        if let Some(batch) = builder.finish()?
            && tx.send(Ok(batch)).await.is_err()
        {
            return Ok(false);
        }
        Ok(true)
    }
}
