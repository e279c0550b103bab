//! Writing a run into a Delta table: one commit per run, made only at
//! publish.
//!
//! ```text
//!  prepare    the store answers ─ the table (or its creation) ─ an existing table's
//!             columns must take the run's ─ the task's transaction version read
//!             ─ delta-rs's write started on a stream fed by write_all
//!  write_all  batches (uuid and time as text) ─▶ the stream: delta-rs writes data
//!             files (partitioned, `file_bytes` each) as they come
//!  commit     the stream's end marker ─ delta-rs commits ONE version: add (and, for
//!             overwrite, remove) actions, a `txn` for the task, and Ferry's run in
//!             `commitInfo`
//!  abort      an error into the stream: the write stops, nothing is committed
//! ```
//!
//! # Why a stream with an end marker
//! delta-rs commits once its input ends. The input ends only on the marker
//! `commit` sends: a writer dropped (a failed or cancelled run) closes the
//! channel without it, which the stream turns into an error, so a run that
//! did not publish can never commit. Data files written before the failure
//! are not in the log, so no reader sees them (`VACUUM` removes them).
//!
//! # Modes
//! `full_overwrite` replaces the table's rows; `full_append` and
//! `incremental_append` add; `window_overwrite` replaces the rows of the
//! run's window, `column >= start AND column < end` (delta-rs's
//! `replaceWhere`: files wholly inside are removed, files partly inside are
//! rewritten without those rows, and every new row must lie in the window).
//!
//! # Idempotence
//! Every commit carries the transaction `ferry:<task>` with the next version
//! of the task's counter, and `{"ferry": {task, run_id, instance}}` in its
//! `commitInfo`. An append whose instance (the task at its window or
//! logical time) already has an append commit is not applied again: the
//! retried run reports that commit's rows and commits nothing. A concurrent commit of the same task makes delta-rs refuse
//! ours (a conflict on the transaction id); if that commit is this run's own
//! (a retried commit that had landed), the run is published exactly once.
//! Incremental runs keep their checkpoint this way: the last run committed
//! is the newest `commitInfo` of the task.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deltalake::DeltaTableError;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::common::{Column, ScalarValue};
use deltalake::datafusion::datasource::provider_as_source;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::TaskContext;
use deltalake::datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};
use deltalake::datafusion::physical_plan::SendableRecordBatchStream;
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::operations::write::WriteBuilder;
use deltalake::protocol::SaveMode;
use ferry_core::connector::{Checkpoint, Sink, SinkWriter, TargetPlan, WriteSpec, unsupported};
use ferry_core::pushdown::WindowRange;
use ferry_core::spec::SyncMode;
use ferry_core::{BatchStream, ColumnType, Error, Rejects, Result, TableSchema};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::CONNECTOR;
use super::spec::DeltaEndpoint;
use super::table::{COMMIT_INFO_KEY, FerryCommit, TableLocation, app_id, ferry_commits};
use super::types::{stored_schema, to_stored};

/// Batches in flight between `write_all` and delta-rs's writer.
const IN_FLIGHT: usize = 4;

/// Writes one commit per run into a Delta table.
#[derive(Debug)]
pub(crate) struct DeltaSink {
    pub(crate) endpoint: DeltaEndpoint,
    pub(crate) location: TableLocation,
}

/// What the stream feeding delta-rs carries.
enum Feed {
    Batch(RecordBatch),
    /// The run publishes: the input is complete.
    End,
    /// The run failed: delta-rs must not commit.
    Abort(String),
}

#[async_trait]
impl Sink for DeltaSink {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    fn supports_mode(&self, mode: SyncMode) -> Result<()> {
        match mode {
            SyncMode::FullOverwrite
            | SyncMode::FullAppend
            | SyncMode::IncrementalAppend
            | SyncMode::WindowOverwrite => Ok(()),
            SyncMode::IncrementalMerge => Err(unsupported(
                CONNECTOR,
                "mode incremental_merge (use window_overwrite or an append mode)",
            )),
        }
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
        let display = self.location.display().to_string();
        let mut stored = stored_schema(&display, schema)?;
        self.location.storage.probe().await?;
        let table = self.location.open(None).await?;
        let predicate = match (write.mode, &write.window) {
            (SyncMode::WindowOverwrite, Some(w)) => Some(window_predicate(schema, w, &display)?),
            (SyncMode::WindowOverwrite, None) => {
                return Err(Error::invalid(
                    "mode",
                    "window_overwrite needs the run's window (a scheduled or --window run)",
                ));
            }
            _ => None,
        };
        let mut already = None;
        let (snapshot, partition_by, txn_version, last_run) = match &table {
            Some(t) => {
                self.location.check_confined(t).await?;
                let state = t
                    .snapshot()
                    .map_err(|e| self.location.error("reading the snapshot", e))?;
                let existing = state.snapshot().arrow_schema();
                check_fits(&display, &existing, &stored)?;
                stored = adopt_list_fields(&existing, &stored);
                let partitions = state.metadata().partition_columns().to_vec();
                if !self.endpoint.partition_by.is_empty()
                    && self.endpoint.partition_by != partitions
                {
                    return Err(Error::invalid(
                        "sink.partition_by",
                        format!(
                            "{display} is partitioned by {partitions:?}; a run cannot change it to {:?}",
                            self.endpoint.partition_by
                        ),
                    ));
                }
                let version = state
                    .transaction_version(t.log_store().as_ref(), app_id(&write.task))
                    .await
                    .map_err(|e| self.location.error("reading the task's transaction", e))?;
                let commits = ferry_commits(&self.location, t, &write.task).await?;
                let last = commits.first().map(|c| c.commit.run_id.clone());
                let appends = matches!(
                    write.mode,
                    SyncMode::FullAppend | SyncMode::IncrementalAppend
                );
                let mine = crate::common::instance(write);
                already = commits
                    .iter()
                    .find(|c| appends && mine.is_some() && c.commit.instance == mine)
                    .and_then(|c| c.appended_rows);
                (
                    Some(state.snapshot().clone()),
                    partitions,
                    version.unwrap_or(0),
                    last,
                )
            }
            None => {
                for c in &self.endpoint.partition_by {
                    if schema.column(c).is_none() {
                        return Err(Error::invalid(
                            "sink.partition_by",
                            format!("`{c}` is not a column of the run"),
                        ));
                    }
                }
                (None, self.endpoint.partition_by.clone(), 0, None)
            }
        };
        let commit = FerryCommit {
            task: write.task.clone(),
            run_id: write.run_id.clone(),
            instance: crate::common::instance(write),
        };
        // A table this run creates is created by exactly one run: delta-rs
        // would otherwise retry a lost race for version 0 on top of the
        // winner without a conflict check.
        let retries = if table.is_some() { 15 } else { 0 };
        let properties = CommitProperties::default()
            .with_max_retries(retries)
            .with_application_transaction(Transaction::new(app_id(&write.task), txn_version + 1))
            .with_metadata([(
                COMMIT_INFO_KEY.to_string(),
                serde_json::to_value(&commit).map_err(|e| Error::Internal(e.to_string()))?,
            )]);
        let (feed, rx) = mpsc::channel::<Feed>(IN_FLIGHT);
        let input = Arc::new(FeedStream {
            schema: Arc::clone(&stored),
            rx: Mutex::new(Some(rx)),
        });
        let source = StreamingTable::try_new(Arc::clone(&stored), vec![input])
            .map_err(|e| Error::Internal(e.to_string()))?;
        let plan =
            LogicalPlanBuilder::scan("ferry_input", provider_as_source(Arc::new(source)), None)
                .and_then(LogicalPlanBuilder::build)
                .map_err(|e| Error::Internal(e.to_string()))?;
        let mut builder = WriteBuilder::new(self.location_log_store(table.as_ref())?, snapshot)
            .with_input_plan(plan)
            .with_save_mode(match write.mode {
                SyncMode::FullOverwrite | SyncMode::WindowOverwrite => SaveMode::Overwrite,
                _ => SaveMode::Append,
            })
            .with_target_file_size(std::num::NonZeroU64::new(self.endpoint.file_bytes))
            .with_writer_properties(crate::files::parquet_properties(self.endpoint.compression))
            .with_commit_properties(properties);
        if !partition_by.is_empty() {
            builder = builder.with_partition_columns(partition_by);
        }
        if let Some(p) = predicate {
            builder = builder.with_replace_where(p);
        }
        let task: JoinHandle<Result<u64, DeltaTableError>> = tokio::spawn(async move {
            let table = builder.await?;
            let rows = table
                .history(Some(1))
                .await?
                .next()
                .and_then(|i| i.info.get("operationMetrics").cloned())
                .and_then(|m| m.get("num_added_rows").and_then(|n| n.as_u64()));
            Ok(rows.unwrap_or(0))
        });
        Ok(Box::new(DeltaWriter {
            plan: TargetPlan {
                table: display,
                creates_table: table.is_none(),
                ddl: None,
            },
            location: self.location.clone(),
            stored,
            feed: Some(feed),
            task: Some(task),
            commit,
            last_run,
            already,
            rows: 0,
        }))
    }

    fn keeps_checkpoints(&self) -> bool {
        true
    }

    async fn checkpoint(&self, task: &str) -> Result<Option<Checkpoint>> {
        let Some(table) = self.location.open(None).await? else {
            return Ok(None);
        };
        Ok(ferry_commits(&self.location, &table, task)
            .await?
            .into_iter()
            .next()
            .map(|c| Checkpoint {
                task: c.commit.task,
                run_id: c.commit.run_id,
                watermark: String::new(),
            }))
    }
}

impl DeltaSink {
    fn location_log_store(
        &self,
        table: Option<&deltalake::DeltaTable>,
    ) -> Result<deltalake::logstore::LogStoreRef> {
        match table {
            Some(t) => Ok(t.log_store()),
            None => Ok(self.location.new_table()?.log_store()),
        }
    }
}

/// `column >= start AND column < end`, typed as the column.
fn window_predicate(schema: &TableSchema, w: &WindowRange, display: &str) -> Result<Expr> {
    let column = schema.column(&w.column).ok_or_else(|| Error::NotFound {
        what: "window column",
        name: w.column.clone(),
        hint: Some(format!("not a column written to {display}")),
    })?;
    let value = |t: chrono::DateTime<chrono::Utc>| -> Result<ScalarValue> {
        Ok(match &column.ty {
            ColumnType::Date => ScalarValue::Date32(Some(
                (t.date_naive() - chrono::DateTime::UNIX_EPOCH.date_naive()).num_days() as i32,
            )),
            ColumnType::Timestamp => {
                ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), None)
            }
            ColumnType::TimestampTz => {
                ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), Some("UTC".into()))
            }
            other => {
                return Err(Error::invalid(
                    "window.column",
                    format!(
                        "`{}` is {other}; a window column is a date or timestamp",
                        w.column
                    ),
                ));
            }
        })
    };
    let c = Expr::Column(Column::new_unqualified(&w.column));
    Ok(c.clone()
        .gt_eq(lit(value(w.start)?))
        .and(c.lt(lit(value(w.end)?))))
}

/// An existing table takes the run's columns: the same names, in the same
/// order, each of the same stored type.
fn check_fits(display: &str, existing: &Schema, stored: &SchemaRef) -> Result<()> {
    let mut problems = Vec::new();
    for f in stored.fields() {
        match existing.field_with_name(f.name()) {
            Ok(e) if same_type(e.data_type(), f.data_type()) => {}
            Ok(e) => problems.push(format!(
                "column `{}` is {} in the table, {} in the run",
                f.name(),
                e.data_type(),
                f.data_type()
            )),
            Err(_) => problems.push(format!("column `{}` is not in the table", f.name())),
        }
    }
    for e in existing.fields() {
        if stored.field_with_name(e.name()).is_err() {
            problems.push(format!(
                "the table's column `{}` is not written by the run",
                e.name()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Schema {
            table: display.to_string(),
            problems,
        })
    }
}

/// Equal types, a list's element field name and nullability aside (Delta
/// names it `element`, Arrow `item`).
fn same_type(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::List(x), DataType::List(y)) => same_type(x.data_type(), y.data_type()),
        _ => a == b,
    }
}

/// `stored` with the existing table's list types (its element field), so
/// the batches match the table's schema exactly.
fn adopt_list_fields(existing: &Schema, stored: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = stored
        .fields()
        .iter()
        .map(|f| match existing.field_with_name(f.name()) {
            Ok(e) if matches!(e.data_type(), DataType::List(_)) => {
                f.as_ref().clone().with_data_type(e.data_type().clone())
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The input of delta-rs's write: the batches `write_all` sends, ended by
/// the marker `commit` sends.
struct FeedStream {
    schema: deltalake::arrow::datatypes::SchemaRef,
    rx: Mutex<Option<mpsc::Receiver<Feed>>>,
}

impl std::fmt::Debug for FeedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedStream")
    }
}

impl PartitionStream for FeedStream {
    fn schema(&self) -> &deltalake::arrow::datatypes::SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rx = self.rx.lock().ok().and_then(|mut r| r.take());
        let stream = futures::stream::unfold((rx, false), |(rx, done)| async move {
            if done {
                return None;
            }
            let Some(mut rx) = rx else {
                let e = DataFusionError::Execution("the run's input was already read".into());
                return Some((Err(e), (None, true)));
            };
            match rx.recv().await {
                Some(Feed::Batch(b)) => Some((Ok(b), (Some(rx), false))),
                Some(Feed::End) => None,
                Some(Feed::Abort(why)) => {
                    Some((Err(DataFusionError::Execution(why)), (None, true)))
                }
                None => Some((
                    Err(DataFusionError::Execution(
                        "the run ended without publishing".into(),
                    )),
                    (None, true),
                )),
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}

/// An open write: delta-rs writing data files, not committed.
struct DeltaWriter {
    plan: TargetPlan,
    location: TableLocation,
    stored: deltalake::arrow::datatypes::SchemaRef,
    feed: Option<mpsc::Sender<Feed>>,
    task: Option<JoinHandle<Result<u64, DeltaTableError>>>,
    commit: FerryCommit,
    /// The task's last committed run when the write began.
    last_run: Option<String>,
    /// Rows of this instance's earlier append commit, if there is one.
    already: Option<u64>,
    rows: u64,
}

impl DeltaWriter {
    /// delta-rs's error once its write has stopped.
    async fn stopped(&mut self) -> Error {
        match self.task.take() {
            Some(task) => match task.await {
                Ok(Err(e)) => self.location.error("writing", e),
                Ok(Ok(_)) => Error::Internal("the Delta write ended before publish".into()),
                Err(e) => Error::Internal(format!("the Delta write panicked: {e}")),
            },
            None => Error::Internal("the Delta write is gone".into()),
        }
    }
}

#[async_trait]
impl SinkWriter for DeltaWriter {
    fn target_plan(&self) -> &TargetPlan {
        &self.plan
    }

    async fn write_all(&mut self, mut input: BatchStream, _rejects: &Rejects) -> Result<u64> {
        let mut rows = 0u64;
        while let Some(batch) = input.next().await {
            let batch = to_stored(&batch?, &self.stored)?;
            let n = batch.num_rows() as u64;
            let sent = match &self.feed {
                Some(feed) => feed.send(Feed::Batch(batch)).await.is_ok(),
                None => false,
            };
            if !sent {
                return Err(self.stopped().await);
            }
            rows += n;
        }
        self.rows += rows;
        Ok(rows)
    }

    fn set_checkpoint(&mut self, checkpoint: Checkpoint, expected: Option<String>) -> Result<()> {
        if checkpoint.run_id != self.commit.run_id {
            return Err(Error::Internal(
                "the checkpoint is another run's than the write's".into(),
            ));
        }
        if expected != self.last_run {
            return Err(Error::Conflict(format!(
                "another run of task {} committed to {} meanwhile ({}); nothing was published",
                self.commit.task,
                self.plan.table,
                self.last_run.as_deref().unwrap_or("none")
            )));
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<u64> {
        if let Some(rows) = self.already {
            // An earlier attempt of this instance appended already: this
            // one commits nothing.
            let table = self.plan.table.clone();
            let sent = self.rows;
            SinkWriter::abort(self).await?;
            if rows != sent {
                return Err(Error::Conflict(format!(
                    "{table}: this instance's append was committed already with {rows} rows, this attempt read {sent}; nothing was added (use window_overwrite to replace a window)"
                )));
            }
            tracing::warn!(table = %table, rows, "the instance's append was committed by an earlier attempt; not applied twice");
            return Ok(rows);
        }
        let feed = self.feed.take();
        if let Some(feed) = feed
            && feed.send(Feed::End).await.is_err()
        {
            return Err(self.stopped().await);
        }
        let Some(task) = self.task.take() else {
            return Err(Error::Internal("the Delta write is gone".into()));
        };
        match task.await {
            Ok(Ok(added)) => {
                if added != 0 && added != self.rows {
                    return Err(Error::Internal(format!(
                        "{}: sent {} rows, the commit reports {added}",
                        self.plan.table, self.rows
                    )));
                }
                Ok(self.rows)
            }
            Ok(Err(DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(c),
            })) => {
                // A conflict on the task's transaction id: if the winning
                // commit is this run's own (a retry of a commit that had
                // landed), it is published once; otherwise another run won.
                let mine = match self.location.open(None).await? {
                    Some(t) => ferry_commits(&self.location, &t, &self.commit.task)
                        .await?
                        .into_iter()
                        .any(|c| c.commit.run_id == self.commit.run_id),
                    None => false,
                };
                if mine {
                    Ok(self.rows)
                } else {
                    Err(Error::Conflict(format!(
                        "{}: another commit won ({c}); this run published nothing",
                        self.plan.table
                    )))
                }
            }
            Ok(Err(
                DeltaTableError::Transaction { .. } | DeltaTableError::VersionAlreadyExists(_),
            )) if self.plan.creates_table => Err(Error::Conflict(format!(
                "{}: another run created the table meanwhile; this run published nothing",
                self.plan.table
            ))),
            Ok(Err(e)) => Err(self.location.error("committing", e)),
            Err(e) => Err(Error::Internal(format!("the Delta write panicked: {e}"))),
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        if let Some(feed) = self.feed.take() {
            let _ = feed.send(Feed::Abort("the run was aborted".into())).await;
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        Ok(())
    }
}

impl Drop for DeltaWriter {
    fn drop(&mut self) {
        // Neither committed nor aborted: stop the write (its stream already
        // fails on the closed channel; this only stops it sooner).
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
