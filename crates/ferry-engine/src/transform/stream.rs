//! Running a planned transform over the engine's batch stream, streaming and
//! bounded: the stream becomes the single partition of a DataFusion
//! `StreamingTable`, handed out once; DataFusion pulls one batch at a time
//! (one partition, no repartitioning, nothing collected), and every output
//! batch is cast and re-wrapped in the exact schema the sink was prepared with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, BooleanArray};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::context::SQLOptions;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use ferry_core::reject::{row_json, row_position};
use ferry_core::{BatchStream, Error, Rejected, Rejects, Result};
use futures::{StreamExt, TryStreamExt};

use super::{INPUT_TABLE, TransformPlan, cast, context};

/// Rows into and out of a running transform, for verification.
#[derive(Debug, Default)]
pub struct TransformCounts {
    rows_in: AtomicU64,
    rows_out: AtomicU64,
}

impl TransformCounts {
    /// Rows DataFusion took from the readers.
    pub fn rows_in(&self) -> u64 {
        self.rows_in.load(Ordering::Relaxed)
    }

    /// Rows the transform handed on to the sink.
    pub fn rows_out(&self) -> u64 {
        self.rows_out.load(Ordering::Relaxed)
    }
}

/// The engine's stream as a partition that can be executed once.
struct OnceStream {
    schema: SchemaRef,
    stream: Mutex<Option<BatchStream>>,
    counts: Arc<TransformCounts>,
}

impl std::fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnceStream").finish_non_exhaustive()
    }
}

impl PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        let schema = self.schema.clone();
        match taken {
            Some(s) => {
                let counts = self.counts.clone();
                let s = s.map(move |r| match r {
                    Ok(b) => {
                        counts
                            .rows_in
                            .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                        Ok(b)
                    }
                    Err(e) => Err(DataFusionError::External(Box::new(e))),
                });
                Box::pin(RecordBatchStreamAdapter::new(schema, s))
            }
            None => Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::once(async {
                    Err(DataFusionError::Internal(
                        "the transform input can be read only once".into(),
                    ))
                }),
            )),
        }
    }
}

/// Back to Ferry's error: errors of the readers and the sink pass through
/// unchanged (so cancellation stays cancellation); errors DataFusion raises
/// while evaluating an expression are about the data.
fn from_df(e: DataFusionError) -> Error {
    match e {
        DataFusionError::External(b) => match b.downcast::<Error>() {
            Ok(e) => *e,
            Err(b) => Error::Internal(format!("transform: {b}")),
        },
        DataFusionError::Context(_, inner) => from_df(*inner),
        DataFusionError::Shared(arc) => match Arc::try_unwrap(arc) {
            Ok(e) => from_df(e),
            Err(arc) => Error::Internal(format!("transform: {arc}")),
        },
        DataFusionError::ArrowError(a, _) => Error::dirty("(transform expression)", a.to_string()),
        DataFusionError::Execution(m) => Error::dirty("(transform expression)", m),
        other => Error::Internal(format!("transform: {}", other.strip_backtrace())),
    }
}

impl TransformPlan {
    /// Casts and re-wraps one DataFusion batch in the output schema. A row
    /// with a value that does not cast exactly goes to `rejects` (with the
    /// row as DataFusion produced it) and is left out.
    fn finish(&self, batch: RecordBatch, rejects: &Rejects) -> Result<RecordBatch> {
        let fields = self.output_arrow.fields();
        if batch.num_columns() != fields.len() {
            return Err(Error::Internal(format!(
                "transform produced {} columns, planned {}",
                batch.num_columns(),
                fields.len()
            )));
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
        let mut bad: Vec<(usize, String, cast::BadValue)> = Vec::new();
        for (i, (array, field)) in batch.columns().iter().zip(fields.iter()).enumerate() {
            let array = match self.casts.iter().find(|c| c.index == i) {
                Some(op) => {
                    let (array, values) = cast::apply(op, array)?;
                    bad.extend(values.into_iter().map(|v| (v.0, op.column.clone(), v)));
                    array
                }
                None => array.clone(),
            };
            let array = if array.data_type() == field.data_type() {
                array
            } else {
                cast_with_options(&array, field.data_type(), &CastOptions::default()).map_err(
                    |e| Error::dirty(field.name(), format!("computed value does not fit: {e}")),
                )?
            };
            columns.push(array);
        }
        let out = RecordBatch::try_new(self.output_arrow.clone(), columns)?;
        if bad.is_empty() {
            return Ok(out);
        }
        let mut keep = vec![true; out.num_rows()];
        bad.sort_by_key(|b| b.0);
        for (row, column, (_, reason, message)) in bad {
            if !std::mem::replace(&mut keep[row], false) {
                continue; // one record per row: its first bad value
            }
            rejects.reject(Rejected {
                position: row_position(&batch, row, &self.output.primary_key, 0),
                column,
                reason,
                message,
                row: row_json(&batch, row),
            })?;
        }
        filter_record_batch(&out, &BooleanArray::from(keep))
            .map_err(|e| Error::Internal(format!("leaving out dirty rows: {e}")))
    }

    async fn run(
        self,
        input: BatchStream,
        counts: Arc<TransformCounts>,
        rejects: Rejects,
    ) -> Result<BatchStream> {
        let ctx = context();
        let part = OnceStream {
            schema: self.input.clone(),
            stream: Mutex::new(Some(input)),
            counts: counts.clone(),
        };
        let table = StreamingTable::try_new(self.input.clone(), vec![Arc::new(part)])
            .map_err(|e| Error::Internal(format!("transform input: {e}")))?;
        ctx.register_table(INPUT_TABLE, Arc::new(table))
            .map_err(|e| Error::Internal(format!("transform input: {e}")))?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = ctx
            .sql_with_options(&self.sql, options)
            .await
            .map_err(from_df)?;
        let stream = df.execute_stream().await.map_err(from_df)?;
        let out = stream.map(move |r| {
            let batch = self.finish(r.map_err(from_df)?, &rejects)?;
            counts
                .rows_out
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            Ok(batch)
        });
        Ok(Box::pin(out))
    }
}

/// Wraps the writer's input in the transform; without one, `input` is
/// returned as is (no DataFusion in the path). Rows with a value that does
/// not cast exactly go to `rejects`.
pub fn apply(
    transform: Option<&TransformPlan>,
    input: BatchStream,
    rejects: Rejects,
) -> (BatchStream, Option<Arc<TransformCounts>>) {
    let Some(t) = transform else {
        return (input, None);
    };
    let counts = Arc::new(TransformCounts::default());
    let run = t.clone().run(input, counts.clone(), rejects);
    let out = futures::stream::once(run).try_flatten();
    (Box::pin(out), Some(counts))
}
