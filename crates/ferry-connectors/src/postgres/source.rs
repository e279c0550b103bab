//! The PostgreSQL source: schema discovery, one exported snapshot, parallel
//! binary COPY split readers. Rows with a value that has no exact Arrow form
//! (see [`super::decode`]) go to the split's `Rejects`, named by their key.
//! An incremental read bounds every split by the cursor range, or with
//! `cursor: xmin` by the previous run's snapshot (see [`super::xmin`]).

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::connector::ReadOptions;
use ferry_core::relay::relay_schema;
use ferry_core::spec::TableName;

use crate::common::server_spec::SqlEndpoint;
use ferry_core::{
    BatchStream, ColumnType, Error, ReadSession, Rejects, Result, Source, Split, TableSchema,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::catalog::{PgTable, require_table};
use super::decode::CopyDecoder;
use super::types::{Wire, quote_ident, quote_literal};
use super::{
    PgEndpoint, SpareConnection, late_commits, map_err, native, pushdown, read_err, split, xmin,
};
use crate::common::BatchBuilder;
use crate::common::late_commits::bound_reason;
use crate::common::stream::spawn_batch_stream;

/// Reads one PostgreSQL table.
pub struct PostgresSource {
    ep: PgEndpoint,
    table: TableName,
    spare: SpareConnection,
    /// The table as [`Source::schema`] found it, for [`Source::same_dialect_schema`].
    described: std::sync::Mutex<Option<PgTable>>,
}

impl PostgresSource {
    /// A source for `table` at `endpoint` (no I/O yet).
    pub fn new(endpoint: &SqlEndpoint, table: &TableName) -> Result<Self> {
        Ok(PostgresSource {
            ep: PgEndpoint::new("source", endpoint)?,
            table: table.clone(),
            spare: SpareConnection::default(),
            described: std::sync::Mutex::new(None),
        })
    }
}

/// What one split reader needs: self-contained, so it can run anywhere that
/// reaches the database while the coordinator keeps the snapshot open.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SplitPayload {
    snapshot: String,
    copy_sql: String,
    wires: Vec<Wire>,
    columns: Vec<String>,
    /// Values the query reads with `current_setting` (see [`pushdown`]).
    #[serde(default)]
    params: Vec<String>,
    /// Whether the query holds the task's `source_filter` (its errors are the user's).
    #[serde(default)]
    filtered: bool,
    /// Per column, whether it travels only in the relayed tuples (see
    /// [`ferry_core::relay`]); empty: the batches do not relay.
    #[serde(default)]
    relayed: Vec<bool>,
}

#[async_trait]
impl Source for PostgresSource {
    fn connector(&self) -> &'static str {
        "postgres"
    }

    fn supports_filter(&self) -> bool {
        true
    }

    async fn schema(&self) -> Result<TableSchema> {
        let client = self.spare.take(&self.ep).await?;
        let table = require_table(&client, &self.ep, &self.table).await?;
        let schema = table.schema();
        if let Ok(mut d) = self.described.lock() {
            *d = Some(table);
        }
        self.spare.keep(client);
        Ok(schema)
    }

    fn same_dialect_schema(
        &self,
        schema: &TableSchema,
        sink: &str,
        needs_values: &[String],
    ) -> Option<TableSchema> {
        if sink != super::connector::POSTGRES.name {
            return None;
        }
        let described = self.described.lock().ok()?;
        Some(native::carry_native(
            schema,
            described.as_ref()?,
            needs_values,
        ))
    }

    async fn open_read(
        &self,
        schema: &TableSchema,
        options: &ReadOptions,
    ) -> Result<Box<dyn ReadSession>> {
        let client = self.spare.take(&self.ep).await?;
        // Before the snapshot (see `common::late_commits`).
        let auto = match &options.filter.cursor {
            Some(c) if c.auto_lag => {
                let table = require_table(&client, &self.ep, &self.table).await?;
                let first = &c.columns[0];
                let time = table
                    .column(first)
                    .is_some_and(|col| pushdown::time_kind(&col.formatted).is_some());
                let column = quote_ident(first);
                let numeric = (!time).then_some((table.quoted.as_str(), column.as_str()));
                Some(late_commits::open_writes(&client, &self.ep, numeric).await?)
            }
            _ => None,
        };
        // `cursor: xmin`: the snapshot comes with the ids then in progress
        // (see [`xmin`]).
        let (snapshot, xmin_now) = if options.filter.cursor.as_ref().is_some_and(|c| c.xmin) {
            let (exported, current) = xmin::begin(&client, &self.ep).await?;
            (exported, Some(current))
        } else {
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .map_err(|e| map_err(&self.ep.display, "starting the read transaction", e))?;
            let exported: String = client
                .query_one("SELECT pg_export_snapshot()", &[])
                .await
                .map_err(|e| map_err(&self.ep.display, "exporting a snapshot", e))?
                .get(0);
            (exported, None)
        };
        let table = require_table(&client, &self.ep, &self.table).await?;
        let mut select = Vec::with_capacity(options.columns.len());
        let mut wires = Vec::with_capacity(options.columns.len());
        let mut relayed = Vec::with_capacity(options.columns.len());
        let mut each_in_its_own_type = true;
        for name in &options.columns {
            let col = table.column(name).ok_or_else(|| Error::NotFound {
                what: "column",
                name: name.clone(),
                hint: Some(format!("in table {}", table.display)),
            })?;
            // A column carried in its binary COPY form (see [`native`]).
            let carried = schema
                .column(name)
                .is_some_and(|c| c.ty == ColumnType::Binary);
            relayed.push(schema.column(name).is_some_and(native::is_carried));
            match col.mapping().1 {
                _ if carried => {
                    select.push(quote_ident(name));
                    wires.push(Wire::Bytea);
                }
                Some(w) => {
                    select.push(quote_ident(name));
                    wires.push(w);
                }
                None => {
                    select.push(format!("{}::text", quote_ident(name)));
                    wires.push(Wire::Text);
                    each_in_its_own_type = false;
                }
            }
        }
        // Whole tuples are relayed when some column needs no decoding and
        // every field is in its column's own binary form, as a sink of the
        // same types takes it (see [`ferry_core::relay`]).
        if !each_in_its_own_type || !relayed.contains(&true) {
            relayed.clear();
        }
        // `cursor: xmin`: `Some(the previous run's snapshot, if any)`.
        let xmin_after = options
            .filter
            .cursor
            .as_ref()
            .filter(|c| c.xmin)
            .map(|c| c.after.as_ref().and_then(|a| a.first()).cloned());
        let high = match (&options.filter.cursor, &xmin_after) {
            // The watermark is this read's snapshot (see [`xmin`]).
            (Some(_), Some(after)) => {
                let current = xmin_now
                    .ok_or_else(|| Error::Internal("an xmin read without its snapshot".into()))?;
                xmin::check_after(&client, &self.ep, after.as_deref(), &current).await?;
                Some(vec![current])
            }
            (Some(c), None) => {
                pushdown::cursor_high(&client, &self.ep, &table, &options.filter, c, auto.as_ref())
                    .await?
            }
            (None, _) => None,
        };
        let bound = match (&xmin_after, &high) {
            (Some(after), Some(h)) => Some(xmin::bound(after.as_deref(), &h[0])),
            _ => options
                .filter
                .cursor
                .as_ref()
                .and_then(|c| bound_reason(c, auto)),
        };
        let (condition, params) =
            pushdown::read_condition(&table, &options.filter, high.as_deref())?;
        let rows_hint = match &condition {
            Some(c) => {
                pushdown::estimate_rows(
                    &client,
                    &self.ep,
                    &table,
                    c,
                    &params,
                    options.filter.predicate.is_some(),
                )
                .await?
            }
            None => None,
        };
        let ranges = split::plan(
            &client,
            &self.ep,
            &table,
            options.max_splits,
            options.min_rows_per_split,
            rows_hint,
            condition.is_none(),
        )
        .await?;
        let splits = ranges
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let filter = match (r.predicate.is_empty(), &condition) {
                    (true, None) => String::new(),
                    (false, None) => format!(" WHERE {}", r.predicate),
                    (true, Some(c)) => format!(" WHERE {c}"),
                    (false, Some(c)) => format!(" WHERE {} AND {c}", r.predicate),
                };
                let payload = SplitPayload {
                    snapshot: snapshot.clone(),
                    copy_sql: format!(
                        "COPY (SELECT {} FROM {}{filter}) TO STDOUT (FORMAT binary)",
                        select.join(", "),
                        table.quoted
                    ),
                    wires: wires.clone(),
                    columns: options.columns.clone(),
                    params: params.values.clone(),
                    filtered: options.filter.predicate.is_some(),
                    relayed: relayed.clone(),
                };
                Ok(Split {
                    index: i as u32,
                    description: if r.predicate.is_empty() {
                        "whole table".into()
                    } else {
                        r.predicate
                    },
                    payload: serde_json::to_value(payload)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                    estimated_rows: r.estimated_rows,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(PgReadSession {
            ep: self.ep.clone(),
            snapshot_holder: client,
            idle: Arc::default(),
            splits,
            schema: Arc::new(schema.clone()),
            batch_bytes: options.batch_bytes,
            high,
            bound,
        }))
    }
}

struct PgReadSession {
    ep: PgEndpoint,
    /// Keeps the exporting transaction open: the snapshot lives as long as it does.
    snapshot_holder: Client,
    /// Connections whose split ended cleanly, for the next split: a new one
    /// costs a TLS handshake, a backend and its cold catalog caches, while
    /// the writer drains the channel.
    idle: Arc<std::sync::Mutex<Vec<Client>>>,
    splits: Vec<Split>,
    schema: Arc<TableSchema>,
    batch_bytes: usize,
    /// The newest cursor tuple of an incremental read.
    high: Option<Vec<String>>,
    /// The upper bound put on the cursor, and why.
    bound: Option<String>,
}

#[async_trait]
impl ReadSession for PgReadSession {
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
        let payload: SplitPayload = serde_json::from_value(split.payload.clone())
            .map_err(|e| Error::Internal(format!("bad postgres split payload: {e}")))?;
        let ep = self.ep.clone();
        let arrow_schema = match payload.relayed.is_empty() {
            true => self.schema.arrow_schema(),
            false => relay_schema(&self.schema.arrow_schema(), &payload.relayed),
        };
        let types: Vec<_> = self.schema.columns.iter().map(|c| c.ty.clone()).collect();
        let batch_bytes = self.batch_bytes;
        let key = self.schema.primary_key.clone();
        let rejects = rejects.clone();
        // Connect before returning, so connection errors surface at once.
        let idle = self.idle.clone();
        let reused = idle.lock().ok().and_then(|mut v| v.pop());
        let client = match reused {
            Some(c) if !c.is_closed() => c,
            _ => ep.connect().await?,
        };
        Ok(spawn_batch_stream(1, move |tx| async move {
            client
                .batch_execute(&format!(
                    // A scan for COPY gains nothing from JIT and would pay its
                    // compile time in every split.
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}; \
                     SET LOCAL jit = off",
                    quote_literal(&payload.snapshot)
                ))
                .await
                .map_err(|e| map_err(&ep.display, "joining the read snapshot", e))?;
            pushdown::set_params(&client, &ep, &payload.params).await?;
            let copy = client
                .copy_out(payload.copy_sql.as_str())
                .await
                .map_err(|e| read_err(&ep.display, "starting COPY TO", e, payload.filtered))?;
            let mut copy = std::pin::pin!(copy);
            let mut builder = BatchBuilder::new(arrow_schema, batch_bytes, &key, rejects)?;
            let mut decoder = CopyDecoder::new(payload.wires, &types);
            if !payload.relayed.is_empty() {
                decoder = decoder.relaying(payload.relayed);
            }
            let mut ready = Vec::new();
            while let Some(chunk) = copy.next().await {
                let chunk = chunk
                    .map_err(|e| read_err(&ep.display, "reading COPY data", e, payload.filtered))?;
                decoder.feed(&chunk, &mut builder, &mut |b| {
                    ready.extend(b.finish()?);
                    Ok(())
                })?;
                for batch in ready.drain(..) {
                    if tx.send(Ok(batch)).await.is_err() {
                        return Ok(()); // consumer gone: cancelled
                    }
                }
            }
            decoder.finish()?;
            decoder.provide(&mut builder);
            if let Some(batch) = builder.finish()? {
                let _ = tx.send(Ok(batch)).await;
            }
            client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| map_err(&ep.display, "ending the read transaction", e))?;
            if let Ok(mut v) = idle.lock() {
                v.push(client);
            }
            Ok(())
        }))
    }

    async fn close(&self) -> Result<()> {
        let _ = self.snapshot_holder.batch_execute("COMMIT").await;
        Ok(())
    }
}
