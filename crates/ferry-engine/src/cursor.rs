//! Rows an incremental run cannot place because their cursor is NULL.
//!
//! With `null_cursor: dirty` the source reads them on every run (besides the
//! rows of the cursor range) and they are routed here, per split, to the
//! dirty sink with reason `null_cursor` — counted against the thresholds,
//! never written and never silently skipped. The hot path costs one null
//! count per cursor column per batch.

use arrow::array::{Array, BooleanArray, BooleanBufferBuilder};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use ferry_core::reject::{row_json, row_position};
use ferry_core::spec::{DirtyReason, NullCursor};
use ferry_core::{Error, Rejected, Rejects, Result, TableSchema};

use crate::plan::CursorPlan;

/// Splits NULL-cursor rows out of batches into dirty data.
pub(crate) struct NullCursorFilter {
    /// (index in the batch, name) of each cursor column.
    columns: Vec<(usize, String)>,
    key: Vec<String>,
}

impl NullCursorFilter {
    /// `None` when NULL cursors are not dirty (policy `oldest`).
    pub(crate) fn new(plan: &CursorPlan, schema: &TableSchema) -> Option<NullCursorFilter> {
        if plan.null_cursor != NullCursor::Dirty {
            return None;
        }
        let columns = plan.columns[..plan.cursor_len]
            .iter()
            .filter_map(|c| {
                let i = schema.columns.iter().position(|d| &d.name == c)?;
                Some((i, c.clone()))
            })
            .collect();
        Some(NullCursorFilter {
            columns,
            key: schema.primary_key.clone(),
        })
    }

    /// The batch without its NULL-cursor rows, which go to `rejects`.
    pub(crate) fn apply(&self, batch: RecordBatch, rejects: &Rejects) -> Result<RecordBatch> {
        if self
            .columns
            .iter()
            .all(|(i, _)| batch.column(*i).null_count() == 0)
        {
            return Ok(batch);
        }
        let mut keep = BooleanBufferBuilder::new(batch.num_rows());
        for row in 0..batch.num_rows() {
            let null = self
                .columns
                .iter()
                .find(|(i, _)| batch.column(*i).is_null(row));
            keep.append(null.is_none());
            if let Some((_, name)) = null {
                rejects.reject(Rejected {
                    position: row_position(&batch, row, &self.key, 0),
                    column: name.clone(),
                    reason: DirtyReason::NullCursor,
                    message: format!(
                        "the cursor column `{name}` is NULL, so no incremental run can place this row; \
                         set it, or use `incremental.null_cursor: oldest`"
                    ),
                    row: row_json(&batch, row),
                })?;
            }
        }
        let mask = BooleanArray::new(keep.finish(), None);
        filter_record_batch(&batch, &mask).map_err(|e| Error::Internal(e.to_string()))
    }
}
