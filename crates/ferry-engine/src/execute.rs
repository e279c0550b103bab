//! `execute()`: parallel split readers feeding one sink writer, then the
//! atomic publish and verification.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use ferry_core::connector::{Checkpoint, PublishReport, TargetPlan, WriteSpec, unsupported};
use ferry_core::{Error, ReadSession, Rejects, Result, Sink, Source, ValidatedTask};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::conform::{Conform, TargetChecks};
use crate::cursor::NullCursorFilter;
use crate::dirty::{DirtyRouter, StageRejects};
use crate::plan::{RunInput, plan_run};
use crate::progress::{Progress, ProgressFn};

/// The watermark of an incremental run: the tuple of `columns` it read after
/// (`from`) and up to (`to`, inclusive) — what the next run starts from.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct WatermarkSummary {
    /// Cursor then tie-breaker columns.
    pub columns: Vec<String>,
    /// The saved watermark the run started from (`None`: first run).
    pub from: Option<Vec<String>>,
    /// The watermark the run published.
    pub to: Option<Vec<String>>,
    /// The upper bound the source put on the cursor and why (see
    /// `incremental.lag`); `None` when the read was unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
}

/// Called right before the publish with the run id and the watermark the
/// publish carries (the state store records it, so that a crash between the
/// target's commit and the store's update is detected).
pub type PublishHook =
    Box<dyn FnOnce(String, Option<WatermarkSummary>) -> BoxFuture<'static, Result<()>> + Send>;

/// Everything about one run besides the task and its endpoints.
#[derive(Default)]
pub struct RunOptions {
    /// Window, logical time and saved watermark.
    pub input: RunInput,
    /// The run's id; default: task name, start time and process id.
    pub run_id: Option<String>,
    /// Called right before the publish.
    pub before_publish: Option<PublishHook>,
}

/// What one split read.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SplitSummary {
    /// Split index.
    pub index: u32,
    /// Human-readable range.
    pub description: String,
    /// Rows read.
    pub rows: u64,
}

/// The result of a successful run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Task name.
    pub task: String,
    /// This run's id (in dirty records and logs).
    pub run_id: String,
    /// Sync mode.
    pub mode: String,
    /// Source connector and table.
    pub source: String,
    /// What the sink did with the target.
    pub target: TargetPlan,
    /// Per-split row counts.
    pub splits: Vec<SplitSummary>,
    /// Rows read, summed over splits.
    pub rows_read: u64,
    /// Rows the filter or SQL transform left out (rows read − rows written).
    pub rows_filtered: u64,
    /// Rows routed to dirty data instead of the target.
    pub rows_dirty: u64,
    /// Rows handed to the sink.
    pub rows_written: u64,
    /// Rows the target reported as committed.
    pub rows_committed: u64,
    /// Bytes of Arrow data moved.
    pub bytes: u64,
    /// Whether rows read = rows into the transform, and rows out of it =
    /// rows written = rows committed (without a transform: all equal).
    pub verified: bool,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// The watermark of an incremental run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<WatermarkSummary>,
    /// The window `[start, end)` of a windowed run (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<[String; 2]>,
    /// How the sink published and how long it kept the target locked (if it says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishReport>,
}

struct Counters {
    rows: AtomicU64,
    bytes: AtomicU64,
    splits_done: AtomicU32,
    splits_total: u32,
    estimated_rows: Option<u64>,
    progress: Option<ProgressFn>,
}

impl Counters {
    fn report(&self) {
        if let Some(p) = &self.progress {
            p(Progress {
                rows: self.rows.load(Ordering::Relaxed),
                bytes: self.bytes.load(Ordering::Relaxed),
                estimated_rows: self.estimated_rows,
                splits_done: self.splits_done.load(Ordering::Relaxed),
                splits_total: self.splits_total,
            });
        }
    }
}

/// Runs `task` from `source` into `sink`. On any error or cancellation the
/// sink is aborted (the target stays as it was) and the error is returned.
///
/// `dirty_table` is the sink of the task's dirty records when its dirty sink
/// is a table; its records are written before the publish, and also when the
/// run fails.
pub async fn execute(
    task: &ValidatedTask,
    source: &dyn Source,
    sink: &dyn Sink,
    dirty_table: Option<&dyn Sink>,
    progress: Option<ProgressFn>,
    cancel: CancellationToken,
) -> Result<RunSummary> {
    execute_run(
        task,
        source,
        sink,
        dirty_table,
        RunOptions::default(),
        progress,
        cancel,
    )
    .await
}

/// [`execute`] with a window, a saved watermark, a run id and a publish hook.
pub async fn execute_run(
    task: &ValidatedTask,
    source: &dyn Source,
    sink: &dyn Sink,
    dirty_table: Option<&dyn Sink>,
    options: RunOptions,
    progress: Option<ProgressFn>,
    cancel: CancellationToken,
) -> Result<RunSummary> {
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| new_run_id(&task.spec.name));
    let dirty = Arc::new(DirtyRouter::open(&task.spec.dirty, &run_id)?);
    let result = run(
        task,
        source,
        sink,
        dirty_table,
        &dirty,
        run_id,
        options,
        progress,
        cancel,
    )
    .await;
    if result.is_err()
        && let Err(e) = dirty.persist(dirty_table).await
    {
        tracing::warn!(task = %task.spec.name, error = %e, "could not record the dirty rows of a failed run");
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn run(
    task: &ValidatedTask,
    source: &dyn Source,
    sink: &dyn Sink,
    dirty_table: Option<&dyn Sink>,
    dirty: &Arc<DirtyRouter>,
    run_id: String,
    options: RunOptions,
    progress: Option<ProgressFn>,
    cancel: CancellationToken,
) -> Result<RunSummary> {
    let started = Instant::now();
    sink.supports_mode(task.spec.mode)?;
    let source_schema = match &task.declared_schema {
        Some(declared) => declared.clone(),
        None => source.schema().await?,
    };
    let mut plan = plan_run(task, &source_schema, &options.input)?;
    // Same dialect and no transform: the source may carry the values Arrow
    // cannot hold exactly in its own wire form, for the sink to write back.
    // Columns an existing target cannot take in that form stay Arrow values.
    if plan.transform.is_none() {
        let mut needs = plan.columns_needing_values();
        if let Some(mut native) = source.same_dialect_schema(&plan.schema, sink.connector(), &needs)
        {
            let refused = sink.refuses_native(&native).await?;
            if !refused.is_empty() {
                needs.extend(refused);
                native = source
                    .same_dialect_schema(&plan.schema, sink.connector(), &needs)
                    .unwrap_or_else(|| plan.schema.clone());
            }
            plan = plan_run(task, &native, &options.input)?;
        }
    }
    if !plan.read.filter.is_empty() && !source.supports_filter() {
        return Err(unsupported(
            source.connector(),
            "filtered reads (incremental cursor, window or source_filter)",
        ));
    }
    // The sink's checkpoint as the run starts: the publish only succeeds if
    // no other run of the task committed in between.
    let keeps_checkpoint = plan.cursor.is_some() && sink.keeps_checkpoints();
    let expected_checkpoint = if keeps_checkpoint {
        sink.checkpoint(&task.spec.name).await?.map(|c| c.run_id)
    } else {
        None
    };
    let session: Arc<dyn ReadSession> =
        Arc::from(source.open_read(&plan.schema, &plan.read).await?);
    let watermark = plan.cursor.as_ref().map(|c| WatermarkSummary {
        columns: c.columns.clone(),
        from: c.after.clone(),
        to: session.cursor_high().or_else(|| c.after.clone()),
        bound: session.cursor_bound(),
    });
    let null_filter = plan
        .cursor
        .as_ref()
        .and_then(|c| NullCursorFilter::new(c, &plan.schema))
        .map(Arc::new);
    let write = WriteSpec {
        run_id: run_id.clone(),
        ..plan.write.clone()
    };
    let mut writer = match sink.prepare_write(&plan.output_schema, &write).await {
        Ok(w) => w,
        Err(e) => {
            let _ = session.close().await;
            return Err(e);
        }
    };
    let splits = session.splits().to_vec();
    let estimated_rows = splits.iter().map(|s| s.estimated_rows).sum::<Option<u64>>();
    let counters = Arc::new(Counters {
        rows: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        splits_done: AtomicU32::new(0),
        splits_total: splits.len() as u32,
        estimated_rows,
        progress,
    });
    tracing::info!(task = %task.spec.name, splits = splits.len(), parallelism = plan.parallelism, "run started");

    let (tx, mut rx) = mpsc::channel::<Result<RecordBatch>>(plan.channel_depth);
    let next = Arc::new(AtomicU32::new(0));
    let split_rows: Arc<Vec<AtomicU64>> =
        Arc::new(splits.iter().map(|_| AtomicU64::new(0)).collect());
    // Rows each split's reader rejected (no exact Arrow form) into dirty data.
    let split_rejected: Vec<Arc<AtomicU64>> =
        splits.iter().map(|_| Arc::new(AtomicU64::new(0))).collect();
    let split_rejects: Arc<Vec<Rejects>> = Arc::new(
        splits
            .iter()
            .zip(&split_rejected)
            .map(|(s, count)| {
                Rejects::new(Arc::new(StageRejects::new(
                    dirty.clone(),
                    &task.spec.name,
                    &run_id,
                    Some(s.index),
                    count.clone(),
                )))
            })
            .collect(),
    );
    let mut readers = JoinSet::new();
    let reader_cancel = cancel.child_token();
    for _ in 0..plan.parallelism.min(splits.len()).max(1) {
        let (session, splits, next, tx, counters, split_rows, split_rejects, cancel, nulls) = (
            session.clone(),
            splits.clone(),
            next.clone(),
            tx.clone(),
            counters.clone(),
            split_rows.clone(),
            split_rejects.clone(),
            reader_cancel.clone(),
            null_filter.clone(),
        );
        readers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(split) = splits.get(i) else { return Ok(()) };
                let mut stream = session.read_split(split, &split_rejects[i]).await?;
                loop {
                    let item = tokio::select! {
                        _ = cancel.cancelled() => return Err(Error::Cancelled("stopped while reading".into())),
                        item = stream.next() => item,
                    };
                    let Some(batch) = item else { break };
                    let mut batch = batch?;
                    if let Some(nulls) = &nulls {
                        batch = nulls.apply(batch, &split_rejects[i])?;
                    }
                    let n = batch.num_rows() as u64;
                    split_rows[i].fetch_add(n, Ordering::Relaxed);
                    counters.rows.fetch_add(n, Ordering::Relaxed);
                    // A relaying batch's size is its tuples' (its placeholders hold nothing).
                    let bytes = ferry_core::relay::tuple_bytes(&batch)
                        .map_or_else(|| batch.get_array_memory_size(), <[u8]>::len);
                    counters.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                    if tx.send(Ok(batch)).await.is_err() {
                        return Ok(()); // the writer stopped; its error is reported
                    }
                    counters.report();
                }
                counters.splits_done.fetch_add(1, Ordering::Relaxed);
                counters.report();
            }
        });
    }
    drop(tx);

    // Readers' errors are forwarded into the writer's stream so it stops at once.
    let (err_tx, mut err_rx) = mpsc::channel::<Error>(1);
    let input = async_stream(move |out: mpsc::Sender<Result<RecordBatch>>| async move {
        loop {
            tokio::select! {
                biased;
                Some(e) = err_rx.recv() => { let _ = out.send(Err(e)).await; return; }
                item = rx.recv() => match item {
                    Some(b) => if out.send(b).await.is_err() { return },
                    None => return,
                },
            }
        }
    });
    // The mapping/filter/SQL transform, if any, sits between readers and writer.
    // Rows the transform and the sink reject, counted per stage.
    let stage = |split: Option<u32>| {
        let count = Arc::new(AtomicU64::new(0));
        let rejects = Rejects::new(Arc::new(StageRejects::new(
            dirty.clone(),
            &task.spec.name,
            &run_id,
            split,
            count.clone(),
        )));
        (count, rejects)
    };
    let (transform_rejected, transform_rejects) = stage(None);
    let (input, transformed) =
        crate::transform::apply(plan.transform.as_ref(), input, transform_rejects);
    // Values going into narrower target columns, and floats the target
    // cannot hold (NaN, ±Infinity), are checked; misfits become dirty rows.
    let target_types = writer.target_types();
    let conform = Conform::new(
        &plan.output_schema,
        TargetChecks {
            types: target_types.as_deref(),
            float_specials: writer.float_specials(),
            connector: sink.connector(),
        },
        &task.spec.name,
        &run_id,
        dirty.clone(),
    );
    let input = match conform {
        Some(conform) => {
            let conform = Arc::new(conform);
            Box::pin(input.map(move |b| b.and_then(|b| conform.apply(b))))
                as ferry_core::BatchStream
        }
        None => input,
    };
    let (_, sink_rejects) = stage(None);
    let write = writer.write_all(input, &sink_rejects);
    let watch_readers = async {
        let mut first_err = None;
        while let Some(res) = readers.join_next().await {
            let res =
                res.unwrap_or_else(|e| Err(Error::Internal(format!("split reader panicked: {e}"))));
            if let Err(e) = res
                && first_err.is_none()
            {
                reader_cancel.cancel();
                let _ = err_tx.send(Error::Cancelled(String::new())).await;
                first_err = Some(e);
            }
        }
        first_err
    };
    let cancelled = async {
        cancel.cancelled().await;
    };
    let (write_res, reader_err) = tokio::select! {
        r = async { tokio::join!(write, watch_readers) } => r,
        _ = cancelled => (Err(Error::Cancelled("stopped by request".into())), None),
    };
    let _ = session.close().await;
    let result = match (write_res, reader_err) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(e),
        (Ok(rows), None) => Ok(rows),
    };
    let rows_written = match result {
        Ok(r) => r,
        Err(e) => {
            readers.abort_all();
            let _ = writer.abort().await;
            tracing::warn!(task = %task.spec.name, error = %e, "run failed; target left unchanged");
            return Err(e);
        }
    };
    let splits: Vec<SplitSummary> = splits
        .iter()
        .enumerate()
        .map(|(i, s)| SplitSummary {
            index: s.index,
            description: s.description.clone(),
            rows: split_rows[i].load(Ordering::Relaxed) + split_rejected[i].load(Ordering::Relaxed),
        })
        .collect();
    // Rows read = rows in batches (into the transform) + rows the readers
    // rejected; rows out of the transform = rows written + rows the conform
    // step and the sink rejected.
    let rows_rejected_at_source: u64 = split_rejected
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum();
    let rows_read: u64 = splits.iter().map(|s| s.rows).sum();
    let rows_in_batches = rows_read - rows_rejected_at_source;
    let rows_out = match &transformed {
        Some(t) if t.rows_in() != rows_in_batches => {
            let _ = writer.abort().await;
            return Err(Error::Internal(format!(
                "verification failed: read {rows_read} rows but the transform took {}; target left unchanged",
                t.rows_in()
            )));
        }
        Some(t) => t.rows_out(),
        None => rows_in_batches,
    };
    let rows_dirty = dirty.count();
    if let Err(e) = dirty.finish(rows_read) {
        let _ = writer.abort().await;
        return Err(e);
    }
    let rows_rejected_by_transform = transform_rejected.load(Ordering::Relaxed);
    if rows_out + rows_rejected_at_source + rows_rejected_by_transform != rows_written + rows_dirty
    {
        let _ = writer.abort().await;
        return Err(Error::Internal(format!(
            "verification failed: read {rows_read} rows ({rows_rejected_at_source} rejected by the source, \
             {rows_out} after the transform) but wrote {rows_written} and routed {rows_dirty} to dirty data; \
             target left unchanged"
        )));
    }
    if cancel.is_cancelled() {
        let _ = writer.abort().await;
        return Err(Error::Cancelled("stopped before publish".into()));
    }
    if let Err(e) = dirty.persist(dirty_table).await {
        let _ = writer.abort().await;
        return Err(e);
    }
    let target = writer.target_plan().clone();
    if keeps_checkpoint && let Some(w) = &watermark {
        let checkpoint = Checkpoint {
            task: task.spec.name.clone(),
            run_id: run_id.clone(),
            watermark: serde_json::to_string(w).map_err(|e| Error::Internal(e.to_string()))?,
        };
        if let Err(e) = writer.set_checkpoint(checkpoint, expected_checkpoint) {
            let _ = writer.abort().await;
            return Err(e);
        }
    }
    if let Some(hook) = options.before_publish
        && let Err(e) = hook(run_id.clone(), watermark.clone()).await
    {
        let _ = writer.abort().await;
        return Err(e);
    }
    let (rows_committed, publish) = writer.commit_reporting().await?;
    let verified = rows_committed == rows_written;
    if !verified {
        return Err(Error::Internal(format!(
            "verification failed after publish: wrote {rows_written} rows but {} reports {rows_committed}",
            target.table
        )));
    }
    tracing::info!(task = %task.spec.name, rows = rows_committed, "run committed");
    Ok(RunSummary {
        task: task.spec.name.clone(),
        mode: task.spec.mode.to_string(),
        source: format!("{} {}", task.source.connector(), task.source.dataset()),
        target,
        splits,
        rows_read,
        run_id,
        rows_filtered: rows_in_batches - rows_out - rows_rejected_by_transform,
        rows_dirty,
        rows_written,
        rows_committed,
        bytes: counters.bytes.load(Ordering::Relaxed),
        verified,
        duration_ms: started.elapsed().as_millis() as u64,
        watermark,
        window: plan.write.window.as_ref().map(|w| {
            [
                w.start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                w.end.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ]
        }),
        publish,
    })
}

/// A stream fed by a future that owns the sending side; the future runs as
/// part of polling the stream (no spawned task to leak).
fn async_stream<F, Fut>(f: F) -> ferry_core::BatchStream
where
    F: FnOnce(mpsc::Sender<Result<RecordBatch>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(1);
    let driver = f(tx);
    let recv =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    let driven = futures::stream::select(
        futures::stream::once(driver).filter_map(|_| async { None }),
        recv,
    );
    Box::pin(driven)
}

/// A run id unique enough to find a run's records: task, start time, process.
pub fn new_run_id(task: &str) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{task}-{ms}-{}", std::process::id())
}
