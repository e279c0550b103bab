//! The PostgreSQL sink: one connection, one transaction, binary COPY in.
//!
//! The whole write — creating the target, or preparing an overwrite of it,
//! and loading it — is one transaction, so the publish is the `COMMIT` and
//! any failure (including a killed process: the server rolls back when the
//! connection drops) leaves the target exactly as it was, with nothing to
//! clean up. A `full_overwrite` of an existing table loads a staging table
//! and swaps it in under a short lock, or deletes the old rows in the same
//! transaction, or truncates (the sink option `overwrite`, see
//! [`super::overwrite`]); the first two keep readers of the target going.
//!
//! When the task allows no dirty rows, the data goes in one binary `COPY`
//! (started by the first batch, finished by `commit`); a row the target
//! refuses fails it with the server's error, naming the constraint. When
//! dirty rows are allowed, the data goes in segments under savepoints and a
//! refused segment is searched for the rows the target refuses (see
//! [`super::isolate`]); only those rows become dirty.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::connector::{Checkpoint, PublishReport, TargetPlan, WriteSpec};
use ferry_core::spec::TableName;

use crate::common::server_spec::{Overwrite, SqlEndpoint};
use ferry_core::{
    BatchStream, ColumnType, Error, Rejects, Result, Sink, SinkWriter, SyncMode, TableSchema,
};
use futures::{SinkExt, StreamExt};
use tokio_postgres::{Client, CopyInSink, Statement};

use super::catalog::{PgTable, find_table, qualify};
use super::encode::{ColumnEncoding, HEADER, TRAILER, drop_refused, encode_batch};
use super::isolate::SegmentedCopy;
use super::merge;
use super::native::{self, TypeShape};
use super::overwrite;
use super::publish::{Publish, prepare_overwrite};
use super::types::{Wire, ddl_type, encodable, quote_ident};
use super::{DIALECT, PgEndpoint, SpareConnection, map_err};

/// How long a run waits for an earlier run's writer lock, in seconds.
const TAKEOVER_WAIT_SECS: u32 = 20;
/// Size of the chunks shipped to the server.
const CHUNK_BYTES: usize = 1 << 20;

/// Writes one PostgreSQL table.
pub struct PostgresSink {
    ep: PgEndpoint,
    table: TableName,
    spare: SpareConnection,
    /// How `full_overwrite` replaces an existing table (`None`: swap where
    /// possible, else delete; see [`overwrite`]).
    overwrite: Option<Overwrite>,
}

impl PostgresSink {
    /// A sink for `table` at `endpoint` (no I/O yet).
    pub fn new(endpoint: &SqlEndpoint, table: &TableName) -> Result<Self> {
        Ok(PostgresSink {
            ep: PgEndpoint::new("sink", endpoint)?,
            table: table.clone(),
            spare: SpareConnection::default(),
            overwrite: None,
        })
    }

    /// Sets how `full_overwrite` replaces an existing table.
    pub fn overwrite(mut self, overwrite: Option<Overwrite>) -> Self {
        self.overwrite = overwrite;
        self
    }
}

#[async_trait]
impl Sink for PostgresSink {
    fn connector(&self) -> &'static str {
        "postgres"
    }

    fn supports_mode(&self, _mode: SyncMode) -> Result<()> {
        Ok(())
    }

    fn keeps_checkpoints(&self) -> bool {
        true
    }

    async fn refuses_native(&self, schema: &TableSchema) -> Result<Vec<String>> {
        let client = self.spare.take(&self.ep).await?;
        let refused = match find_table(&client, &self.ep, &self.table).await? {
            Some(t) => native::refused_columns(&client, &self.ep, schema, &t).await?,
            None => Vec::new(),
        };
        self.spare.keep(client);
        Ok(refused)
    }

    async fn checkpoint(&self, task: &str) -> Result<Option<Checkpoint>> {
        let client = self.spare.take(&self.ep).await?;
        let (sch, _) = qualify(&self.table);
        let cp = merge::read_checkpoint(&client, &self.ep, &merge::checkpoints_table(&sch), task)
            .await?;
        self.spare.keep(client);
        Ok(cp)
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
        let ep = &self.ep;
        let client = self.spare.take(ep).await?;
        let (sch, name) = qualify(&self.table);
        let quoted = format!("{}.{}", quote_ident(&sch), quote_ident(&name));
        let display = format!("{sch}.{name}");
        let checkpoints = merge::checkpoints_table(&sch);
        if mode.is_incremental() {
            merge::ensure_checkpoints(&client, ep, &checkpoints).await?;
        }
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| map_err(&ep.display, "starting the write transaction", e))?;
        // Wait a little for an earlier run's lock: a killed run's backend
        // holds it until the server notices the lost connection.
        client
            .batch_execute(&format!("SET LOCAL lock_timeout = '{TAKEOVER_WAIT_SECS}s'"))
            .await
            .map_err(|e| map_err(&ep.display, "setting the lock timeout", e))?;
        if let Err(e) = client
            .query_one(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                &[&format!("ferry:{quoted}")],
            )
            .await
        {
            if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                return Err(Error::Server {
                    context: format!("writing {display}"),
                    message: format!(
                        "another Ferry run has been writing into this table for over {TAKEOVER_WAIT_SECS} s; try again when it ends"
                    ),
                    transient: true,
                });
            }
            return Err(map_err(&ep.display, "locking the target", e));
        }
        client
            .batch_execute("SET LOCAL lock_timeout = 0")
            .await
            .map_err(|e| map_err(&ep.display, "resetting the lock timeout", e))?;
        let existing = find_table(&client, ep, &self.table).await?;
        let mut publish = Publish::default();
        let (plan, encodings, target_types) = match &existing {
            None => {
                // A merge target gets the merge key as its primary key.
                let mut created = schema.clone();
                if mode == SyncMode::IncrementalMerge {
                    created.primary_key = write.merge_key.clone();
                }
                let columns = native::plan_new_columns(&client, ep, &display, schema).await?;
                let ddl = create_ddl(&quoted, &created, &columns);
                client
                    .batch_execute(&ddl)
                    .await
                    .map_err(|e| map_err(&ep.display, &format!("creating table {display}"), e))?;
                let enc = schema
                    .columns
                    .iter()
                    .zip(columns)
                    .map(|(c, n)| ColumnEncoding {
                        name: c.name.clone(),
                        source: c.ty.clone(),
                        wire: n.wire,
                        relays: c.dialect == Some(DIALECT)
                            && n.ddl_type == c.native_type
                            && n.remap.is_none(),
                        remap: n.remap,
                        shown: n.shown,
                    })
                    .collect();
                if mode == SyncMode::FullOverwrite {
                    publish.strategy = Some(("create", None));
                    publish.lock = "none: a new table, invisible until the commit";
                }
                (
                    TargetPlan {
                        table: display.clone(),
                        creates_table: true,
                        ddl: Some(ddl),
                    },
                    enc,
                    None,
                )
            }
            Some(t) => {
                let mut carried = HashMap::new();
                for c in schema.columns.iter().filter(|c| native::is_carried(c)) {
                    if let Some(tc) = t.column(&c.name) {
                        carried.insert(
                            c.name.clone(),
                            native::fit_carried(&client, ep, c, tc).await?,
                        );
                    }
                }
                let (enc, types) = check_existing(schema, t, &carried)?;
                if mode == SyncMode::IncrementalMerge
                    && !merge::has_unique_index(&client, ep, t.oid, &write.merge_key).await?
                {
                    return Err(Error::Schema {
                        table: display.clone(),
                        problems: vec![format!(
                            "incremental_merge needs a primary key or unique index on exactly the merge key ({}); \
                             create one, or set `merge.key` to the columns of an existing one",
                            write.merge_key.join(", ")
                        )],
                    });
                }
                if let Some(w) = &write.window {
                    let zoned = t
                        .column(&w.column)
                        .is_some_and(|c| c.formatted.starts_with("timestamp with time zone"));
                    let n = merge::delete_window(&client, ep, &quoted, zoned, w).await?;
                    tracing::info!(table = %quoted, rows = n, "deleted the window's rows (inside the run's transaction)");
                }
                let mut staging_ddl = None;
                if mode == SyncMode::FullOverwrite {
                    publish =
                        prepare_overwrite(&client, ep, t, self.overwrite, &sch, &name).await?;
                    staging_ddl = publish.staging.as_ref().map(|s| s.ddl.clone());
                }
                (
                    TargetPlan {
                        table: display.clone(),
                        creates_table: false,
                        ddl: staging_ddl,
                    },
                    enc,
                    Some(types),
                )
            }
        };
        let cols: Vec<String> = schema
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect();
        let merge_into = if mode == SyncMode::IncrementalMerge {
            merge::create_stage(&client, ep, &quoted).await?;
            Some(MergeInto {
                quoted: quoted.clone(),
                columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
                key: write.merge_key.clone(),
                delete_column: write.delete_column.clone(),
            })
        } else {
            None
        };
        let copy_into = match (&merge_into, &publish.staging) {
            (Some(_), _) => merge::STAGE,
            (None, Some(staging)) => staging.quoted.as_str(),
            (None, None) => quoted.as_str(),
        };
        let copy_sql = format!(
            "COPY {copy_into} ({}) FROM STDIN (FORMAT binary)",
            cols.join(", ")
        );
        if encodings.iter().all(|c: &ColumnEncoding| c.relays) {
            tracing::info!(table = %plan.table, "every column has the source's type: relayed tuples are written as they are");
        }
        // A refused row is named by the target's key, else the source's.
        let key = match &existing {
            Some(t) if !t.primary_key.is_empty() => t.primary_key.clone(),
            _ => schema.primary_key.clone(),
        };
        Ok(Box::new(PgWriter {
            publish,
            client,
            ep: ep.clone(),
            merge_into,
            checkpoints,
            checkpoint: None,
            endpoint: ep.display.clone(),
            copy_sql,
            copy: None,
            statement: None,
            encodings,
            buf: Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
            plan,
            target_types,
            key,
            rows_sent: 0,
            rows_stored: 0,
            rows_seen: 0,
        }))
    }
}

/// The wire of a column Ferry creates from `ty`.
pub(super) fn created_wire(ty: &ColumnType, native: &str) -> Wire {
    match ty {
        ColumnType::Bool => Wire::Bool,
        ColumnType::Int16 => Wire::Int2,
        ColumnType::Int32 => Wire::Int4,
        ColumnType::Int64 => Wire::Int8,
        ColumnType::Float32 => Wire::Float4,
        ColumnType::Float64 => Wire::Float8,
        ColumnType::Decimal { .. } | ColumnType::DecimalText => Wire::Numeric,
        ColumnType::Text { .. } => Wire::Text,
        ColumnType::Json if ddl_type(ty, native) == "jsonb" => Wire::Jsonb,
        ColumnType::Json => Wire::Text,
        ColumnType::Binary => Wire::Bytea,
        ColumnType::Date => Wire::Date,
        ColumnType::Time => Wire::Time,
        ColumnType::Timestamp | ColumnType::TimestampTz => Wire::Timestamp,
        ColumnType::Uuid => Wire::Uuid,
        ColumnType::Interval => Wire::Interval,
        // Lists do not nest (`ColumnType::is_list_element`), so there is an element type.
        ColumnType::List(elem) => Wire::Array(
            super::types::ArrayElem::for_type(elem, native)
                .unwrap_or(super::types::ArrayElem::Text),
        ),
    }
}

fn create_ddl(quoted: &str, schema: &TableSchema, types: &[native::NewColumn]) -> String {
    let mut parts: Vec<String> = schema
        .columns
        .iter()
        .zip(types)
        .map(|(c, t)| {
            format!(
                "{} {}{}",
                quote_ident(&c.name),
                t.ddl_type,
                if c.nullable { "" } else { " NOT NULL" }
            )
        })
        .collect();
    if !schema.primary_key.is_empty() {
        let pk: Vec<String> = schema.primary_key.iter().map(|k| quote_ident(k)).collect();
        parts.push(format!("PRIMARY KEY ({})", pk.join(", ")));
    }
    format!("CREATE TABLE {quoted} ({})", parts.join(", "))
}

/// Checks an existing target; every column that does not fit is named.
/// Returns how each column is encoded and the target's column types (the
/// engine checks each value going into a narrower column).
fn check_existing(
    schema: &TableSchema,
    target: &PgTable,
    carried: &HashMap<String, std::result::Result<Option<Arc<TypeShape>>, String>>,
) -> Result<(Vec<ColumnEncoding>, Vec<ColumnType>)> {
    let mut problems = Vec::new();
    let mut enc = Vec::new();
    let mut types = Vec::new();
    for c in &schema.columns {
        let Some(t) = target.column(&c.name) else {
            problems.push(format!(
                "column `{}` ({}) is missing in the target",
                c.name, c.native_type
            ));
            continue;
        };
        if let Some(fit) = carried.get(&c.name) {
            match fit {
                Ok(remap) => {
                    enc.push(ColumnEncoding {
                        name: c.name.clone(),
                        source: c.ty.clone(),
                        wire: Wire::Bytea,
                        remap: remap.clone(),
                        shown: native::shown_as(t),
                        // Same type, by [`native::fit_carried`].
                        relays: remap.is_none(),
                    });
                    types.push(ColumnType::Binary);
                }
                Err(problem) => problems.push(problem.clone()),
            }
            continue;
        }
        let target_ty = t.mapping().0;
        let wire = t.write_wire();
        match wire {
            Some(w) if encodable(&c.ty, w) && c.ty.fits_with_checks(&target_ty) => {
                enc.push(ColumnEncoding {
                    name: c.name.clone(),
                    source: c.ty.clone(),
                    wire: w,
                    remap: None,
                    shown: None,
                    relays: c.dialect == Some(DIALECT) && t.formatted == c.native_type,
                });
                types.push(target_ty);
            }
            _ => problems.push(format!(
                "column `{}`: source {} ({}) does not fit target {}",
                c.name, c.native_type, c.ty, t.formatted
            )),
        }
    }
    for t in &target.columns {
        if schema.column(&t.name).is_none() && t.not_null && !t.has_default {
            problems.push(format!(
                "target column `{}` ({}) is NOT NULL without a default and the source has no such column",
                t.name, t.formatted
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Schema {
            table: target.display.clone(),
            problems,
        });
    }
    Ok((enc, types))
}

/// Where and how a merge applies its staged rows.
struct MergeInto {
    quoted: String,
    columns: Vec<String>,
    key: Vec<String>,
    delete_column: Option<String>,
}

struct PgWriter {
    /// How a `full_overwrite` publishes, and its lock times.
    publish: Publish,
    client: Client,
    ep: PgEndpoint,
    /// Set for `incremental_merge`: the COPY goes into the staging table.
    merge_into: Option<MergeInto>,
    /// The checkpoint table of the target's schema.
    checkpoints: String,
    /// The checkpoint to store at commit, and the run whose checkpoint must still be there.
    checkpoint: Option<(Checkpoint, Option<String>)>,
    endpoint: String,
    copy_sql: String,
    /// The one COPY of a write that allows no dirty rows, from its first batch to `commit`.
    copy: Option<Pin<Box<CopyInSink<Bytes>>>>,
    /// The COPY prepared for segments, when dirty rows are allowed.
    statement: Option<Statement>,
    encodings: Vec<ColumnEncoding>,
    buf: Vec<u8>,
    plan: TargetPlan,
    target_types: Option<Vec<ColumnType>>,
    /// Key columns naming a refused row.
    key: Vec<String>,
    /// Rows sent into the open COPY.
    rows_sent: u64,
    /// Rows of finished COPYs, as the server counted them.
    rows_stored: u64,
    /// Rows taken from the input, refused ones included (row numbers).
    rows_seen: u64,
}

impl PgWriter {
    async fn ship(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // Handed over, not copied: the next chunk gets a fresh buffer.
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
        ));
        let copy = self
            .copy
            .as_mut()
            .ok_or_else(|| Error::Internal("COPY already finished".into()))?;
        copy.send(chunk).await.map_err(|e| {
            map_err(
                &self.endpoint,
                &format!("writing into {}", self.plan.table),
                e,
            )
        })
    }

    /// Starts the single COPY of a write that allows no dirty rows.
    async fn start_copy(&mut self) -> Result<()> {
        let copy: CopyInSink<Bytes> =
            self.client
                .copy_in(self.copy_sql.as_str())
                .await
                .map_err(|e| {
                    map_err(
                        &self.endpoint,
                        &format!("starting COPY into {}", self.plan.table),
                        e,
                    )
                })?;
        self.copy = Some(Box::pin(copy));
        self.buf.extend_from_slice(HEADER);
        Ok(())
    }

    /// Ends the single COPY, if one is open, and checks the server's count.
    async fn finish_copy(&mut self) -> Result<()> {
        if self.copy.is_none() {
            return Ok(());
        }
        self.buf.extend_from_slice(TRAILER);
        self.ship().await?;
        let mut copy = self
            .copy
            .take()
            .ok_or_else(|| Error::Internal("COPY already finished".into()))?;
        let table = self.plan.table.clone();
        let rows = copy
            .as_mut()
            .finish()
            .await
            .map_err(|e| map_err(&self.endpoint, &format!("finishing COPY into {table}"), e))?;
        if rows != self.rows_sent {
            let _ = self.client.batch_execute("ROLLBACK").await;
            return Err(Error::Internal(format!(
                "{table}: the server counted {rows} rows but Ferry sent {}; rolled back",
                self.rows_sent
            )));
        }
        self.rows_stored += rows;
        self.rows_sent = 0;
        Ok(())
    }

    /// Writes in segments under savepoints, isolating refused rows (see [`isolate`]).
    async fn write_isolating(&mut self, mut input: BatchStream, rejects: &Rejects) -> Result<u64> {
        self.finish_copy().await?;
        if self.statement.is_none() {
            SegmentedCopy::begin(&self.client, &self.endpoint).await?;
            let statement = self.client.prepare(&self.copy_sql).await.map_err(|e| {
                map_err(
                    &self.endpoint,
                    &format!("preparing COPY into {}", self.plan.table),
                    e,
                )
            })?;
            self.statement = Some(statement);
        }
        let statement = self
            .statement
            .as_ref()
            .ok_or_else(|| Error::Internal("COPY statement not prepared".into()))?;
        let written = SegmentedCopy {
            client: &self.client,
            statement,
            encodings: &self.encodings,
            endpoint: &self.endpoint,
            table: &self.plan.table,
            key: &self.key,
            chunk_bytes: CHUNK_BYTES,
            staging: self.publish.staging.as_ref(),
        }
        .write(&mut input, rejects, self.rows_seen)
        .await?;
        self.rows_seen += written.seen;
        self.rows_stored += written.stored;
        Ok(written.stored)
    }
}

#[async_trait]
impl SinkWriter for PgWriter {
    fn target_plan(&self) -> &TargetPlan {
        &self.plan
    }

    fn target_types(&self) -> Option<Vec<ColumnType>> {
        self.target_types.clone()
    }

    async fn write_all(&mut self, input: BatchStream, rejects: &Rejects) -> Result<u64> {
        let written = self.write_all_rows(input, rejects).await;
        written.map_err(|e| self.in_target_terms(e))
    }

    fn set_checkpoint(&mut self, checkpoint: Checkpoint, expected: Option<String>) -> Result<()> {
        self.checkpoint = Some((checkpoint, expected));
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<u64> {
        Ok(self.commit_reporting().await?.0)
    }

    async fn commit_reporting(mut self: Box<Self>) -> Result<(u64, Option<PublishReport>)> {
        let published = self.finish_and_publish().await;
        published.map_err(|e| self.in_target_terms(e))
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        // Dropping the COPY sink without finishing it makes the server fail
        // the COPY; the rollback then discards everything of this run.
        drop(self.copy.take());
        let _ = self.client.batch_execute("ROLLBACK").await;
        Ok(())
    }
}

impl PgWriter {
    /// A server error about the staging table of a swap, in the target's terms.
    fn in_target_terms(&self, e: Error) -> Error {
        match (e, &self.publish.staging) {
            (
                Error::Server {
                    context,
                    message,
                    transient,
                },
                Some(s),
            ) => Error::Server {
                context: s.in_target_terms(&context),
                message: s.in_target_terms(&message),
                transient,
            },
            (e, _) => e,
        }
    }

    async fn write_all_rows(&mut self, mut input: BatchStream, rejects: &Rejects) -> Result<u64> {
        if rejects.accepts_rows() {
            return self.write_isolating(input, rejects).await;
        }
        // No dirty rows allowed: one COPY for the whole write; a refused
        // row fails it (and the run) with the server's error.
        if self.copy.is_none() {
            self.start_copy().await?;
        }
        let mut rows = 0u64;
        while let Some(batch) = input.next().await {
            let batch = batch?;
            let refused = encode_batch(&batch, &self.encodings, &mut self.buf)?;
            let taken = batch.num_rows() as u64;
            let first = self.rows_seen;
            self.rows_seen += taken;
            // Without dirty rows allowed, a refused value fails the run here,
            // naming its column.
            let batch = drop_refused(batch, refused, &self.encodings, rejects, &self.key, first)?;
            rows += batch.num_rows() as u64;
            self.rows_sent += batch.num_rows() as u64;
            if self.buf.len() >= CHUNK_BYTES {
                self.ship().await?;
            }
        }
        Ok(rows)
    }

    /// Finishes the load and publishes: merge, checkpoint, swap, `COMMIT`.
    async fn finish_and_publish(&mut self) -> Result<(u64, Option<PublishReport>)> {
        self.finish_copy().await?;
        let table = self.plan.table.clone();
        if let Some(m) = &self.merge_into {
            let merged = merge::apply_merge(
                &self.client,
                &self.ep,
                &m.quoted,
                &table,
                &m.columns,
                &m.key,
                m.delete_column.as_deref(),
            )
            .await?;
            tracing::info!(table = %table, upserted = merged.upserted, deleted = merged.deleted, "merged the staged rows");
        }
        if let Some((cp, expected)) = &self.checkpoint {
            merge::write_checkpoint(
                &self.client,
                &self.ep,
                &self.checkpoints,
                cp,
                expected.as_deref(),
            )
            .await?;
        }
        if let Some(staging) = &self.publish.staging {
            self.publish.timing = Some(overwrite::swap_in(&self.client, &self.ep, staging).await?);
        }
        self.client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| map_err(&self.endpoint, &format!("committing {table}"), e))?;
        Ok((self.rows_stored, self.publish.report()))
    }
}
