//! Dirty-row routing: every rejected row is recorded in the dirty sink with
//! its reason, and counted against the task's thresholds.
//!
//! `max_rows` is checked on every record (crossing it stops the run at once);
//! `max_ratio` is checked when the read ends, before anything is published.
//! Records are written before the check, so a run that fails on its
//! threshold still leaves every dirty row it saw on record:
//!
//! * JSON-lines file: each record is appended as it comes (flushed at the
//!   end of the run and when the router is dropped);
//! * Parquet: records are written in row groups into one file per run,
//!   renamed into place when the run ends ([`parquet`]);
//! * table: records are buffered and appended through the table's sink in
//!   their own transaction, before the run publishes (and also when it fails).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use ferry_core::reject::RejectSink;
use ferry_core::spec::{DirtyPolicy, DirtyRecord, DirtySinkSpec};
use ferry_core::{ColumnDef, ColumnType, Error, Rejected, Result, Sink, SyncMode, TableSchema};

mod parquet;

use self::parquet::ParquetDirty;

/// Most records a table dirty sink buffers before the run fails.
const MAX_BUFFERED_RECORDS: usize = 1_000_000;

/// Counts dirty rows and writes them to the dirty sink.
pub struct DirtyRouter {
    policy: DirtyPolicy,
    count: AtomicU64,
    file: Option<Mutex<BufWriter<File>>>,
    parquet: Option<Mutex<ParquetDirty>>,
    /// Records waiting for a table dirty sink.
    buffer: Option<Mutex<Vec<DirtyRecord>>>,
    where_: String,
}

impl DirtyRouter {
    /// Opens the dirty sink of `policy` for run `run_id` (I/O: creates the
    /// file or directory).
    pub fn open(policy: &DirtyPolicy, run_id: &str) -> Result<Self> {
        let mut file = None;
        let mut buffer = None;
        let mut parquet = None;
        let where_ = match &policy.sink {
            Some(DirtySinkSpec::Jsonl { path }) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        Error::invalid(
                            "dirty.sink.path",
                            format!("cannot open {}: {e}", path.display()),
                        )
                    })?;
                file = Some(Mutex::new(BufWriter::new(f)));
                format!(" (recorded in {})", path.display())
            }
            Some(DirtySinkSpec::Parquet { dir }) => {
                let p = ParquetDirty::open(dir, run_id)?;
                let where_ = format!(" (recorded in {})", p.final_path().display());
                parquet = Some(Mutex::new(p));
                where_
            }
            Some(DirtySinkSpec::Table { target }) => {
                buffer = Some(Mutex::new(Vec::new()));
                format!(" (recorded in the {} dirty table)", target.connector())
            }
            None => String::new(),
        };
        Ok(DirtyRouter {
            policy: policy.clone(),
            count: AtomicU64::new(0),
            file,
            parquet,
            buffer,
            where_,
        })
    }

    /// Whether the policy allows any dirty row.
    pub fn accepts_rows(&self) -> bool {
        self.policy.row_limit() > 0
    }

    /// Dirty rows seen so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Records one dirty row; fails once `max_rows` is exceeded.
    pub fn report(&self, record: DirtyRecord) -> Result<()> {
        if let Some(f) = &self.file {
            let line =
                serde_json::to_string(&record).map_err(|e| Error::Internal(e.to_string()))?;
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            writeln!(f, "{line}")
                .map_err(|e| Error::Internal(format!("writing the dirty sink: {e}")))?;
        }
        if let Some(p) = &self.parquet {
            p.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(record.clone())?;
        }
        if let Some(b) = &self.buffer {
            let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
            if b.len() >= MAX_BUFFERED_RECORDS {
                return Err(Error::invalid(
                    "dirty.sink",
                    format!(
                        "more than {MAX_BUFFERED_RECORDS} dirty rows for a table dirty sink; \
                         lower the thresholds or use a jsonl sink"
                    ),
                ));
            }
            b.push(record.clone());
        }
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let limit = self.policy.row_limit();
        if n > limit {
            return Err(Error::DirtyData {
                column: record.column.clone(),
                message: format!(
                    "{} ({:?} at {}); {n} dirty rows exceed dirty.max_rows = {limit}{}",
                    record.message, record.reason, record.position, self.where_
                ),
            });
        }
        Ok(())
    }

    /// Flushes the sink and checks `max_ratio` against the rows read.
    ///
    /// The file sink is also flushed when the router is dropped, so the
    /// records of a failed run are kept.
    pub fn finish(&self, rows_read: u64) -> Result<()> {
        if let Some(f) = &self.file {
            f.lock()
                .unwrap_or_else(|e| e.into_inner())
                .flush()
                .map_err(|e| Error::Internal(format!("flushing the dirty sink: {e}")))?;
        }
        let n = self.count();
        if let Some(max) = self.policy.max_ratio
            && rows_read > 0
        {
            let ratio = n as f64 / rows_read as f64;
            if ratio > max {
                return Err(Error::DirtyData {
                    column: String::new(),
                    message: format!(
                        "{n} of {rows_read} rows are dirty ({:.2}%), above dirty.max_ratio = {max}{}",
                        ratio * 100.0,
                        self.where_
                    ),
                });
            }
        }
        Ok(())
    }

    /// Ends the run's records: closes the Parquet file, or writes the
    /// buffered records into the table dirty sink in their own transaction
    /// (append). A no-op for the JSON-lines sink or when nothing is buffered.
    pub async fn persist(&self, table: Option<&dyn Sink>) -> Result<()> {
        if let Some(p) = &self.parquet {
            p.lock().unwrap_or_else(|e| e.into_inner()).close()?;
        }
        let Some(buffer) = &self.buffer else {
            return Ok(());
        };
        let records = std::mem::take(&mut *buffer.lock().unwrap_or_else(|e| e.into_inner()));
        if records.is_empty() {
            return Ok(());
        }
        let sink =
            table.ok_or_else(|| Error::Internal("the dirty table's sink was not built".into()))?;
        let schema = record_schema();
        let batch = records_batch(&schema, &records)?;
        let n = batch.num_rows() as u64;
        let mut writer = sink.prepare(&schema, SyncMode::FullAppend).await?;
        let input: ferry_core::BatchStream = Box::pin(futures::stream::iter([Ok(batch)]));
        if let Err(e) = writer
            .write_all(input, &ferry_core::Rejects::strict())
            .await
        {
            let _ = writer.abort().await;
            return Err(e);
        }
        let committed = writer.commit().await?;
        if committed != n {
            return Err(Error::Internal(format!(
                "the dirty table stored {committed} of {n} records"
            )));
        }
        Ok(())
    }
}

impl Drop for DirtyRouter {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = f.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
    }
}

/// The rows one stage of a run (a source split, the sink) rejects, routed
/// to a [`DirtyRouter`] with the task, run and split filled in, and counted
/// for the run's verification.
pub struct StageRejects {
    router: Arc<DirtyRouter>,
    task: String,
    run_id: String,
    split: Option<u32>,
    count: Arc<AtomicU64>,
}

impl StageRejects {
    /// Routes into `router`, counting into `count`.
    pub fn new(
        router: Arc<DirtyRouter>,
        task: &str,
        run_id: &str,
        split: Option<u32>,
        count: Arc<AtomicU64>,
    ) -> Self {
        StageRejects {
            router,
            task: task.to_string(),
            run_id: run_id.to_string(),
            split,
            count,
        }
    }
}

impl RejectSink for StageRejects {
    fn reject(&self, row: Rejected) -> Result<()> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.router.report(DirtyRecord {
            task: self.task.clone(),
            run_id: self.run_id.clone(),
            split: self.split,
            position: row.position,
            column: row.column,
            reason: row.reason,
            message: row.message,
            row: row.row,
        })
    }

    fn accepts_rows(&self) -> bool {
        self.router.accepts_rows()
    }
}

/// The columns of a dirty-record table.
pub fn record_schema() -> TableSchema {
    let text = || ColumnType::Text {
        max_chars: None,
        fixed: false,
    };
    let col = |name: &str, ty: ColumnType, nullable| ColumnDef {
        name: name.into(),
        native_type: ty.to_string(),
        dialect: None,
        ty,
        nullable,
    };
    TableSchema {
        table: "dirty records".into(),
        columns: vec![
            col("task", text(), false),
            col("run_id", text(), false),
            col("split", ColumnType::Int64, true),
            col("position", text(), false),
            col("column_name", text(), false),
            col("reason", text(), false),
            col("message", text(), false),
            col("row", ColumnType::Json, false),
        ],
        primary_key: vec![],
    }
}

pub(crate) fn records_batch(schema: &TableSchema, records: &[DirtyRecord]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&DirtyRecord) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(records.iter().map(f)))
    };
    let reason = |r: &DirtyRecord| {
        serde_json::to_value(r.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|r| r.task.clone()),
        text(&|r| r.run_id.clone()),
        Arc::new(Int64Array::from_iter(
            records.iter().map(|r| r.split.map(i64::from)),
        )),
        text(&|r| r.position.clone()),
        text(&|r| r.column.clone()),
        text(&reason),
        text(&|r| r.message.clone()),
        text(&|r| r.row.to_string()),
    ];
    RecordBatch::try_new(schema.arrow_schema(), columns)
        .map_err(|e| Error::Internal(format!("building the dirty records batch: {e}")))
}
