//! Values a MySQL/MariaDB target cannot hold, found before they are
//! encoded: each makes its row dirty under the task's dirty policy instead
//! of failing the whole load.
//!
//! ```text
//!  batch ──▶ per fallible column: a cheap range scan ──▶ suspect value? ──▶ encode it
//!                                                            │ refused
//!                                                            ▼
//!            rows kept ◀── filter ◀── Rejects::reject (key, column, message, row JSON)
//! ```
//!
//! The encoder ([`RowEncoder`]) refuses a float that is NaN or ±Infinity, a
//! date or timestamp outside years 0000–9999, a `time` outside MariaDB's
//! `TIME` range (±838:59:59.999999; PostgreSQL's `24:00:00` is inside it), a
//! time with more fractional digits than the target column keeps, and a
//! list its JSON form cannot carry. Those checks run here first, on the
//! columns of those types only, so a refused value is one dirty row (reason
//! `conversion`) while the policy allows more; without dirty rows allowed,
//! the first one fails the run naming its column, as before.

use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use ferry_core::reject::{row_json, row_position};
use ferry_core::spec::DirtyReason;
use ferry_core::{BatchStream, Error, Rejected, Rejects, Result};
use futures::StreamExt;

use super::encode::RowEncoder;

/// Passes `input` on without the rows whose values the encoder would
/// refuse; each goes to `rejects`. `first_row` numbers rows for positions
/// of a table without a key.
pub(super) fn screen(
    input: BatchStream,
    encoder: Arc<RowEncoder>,
    rejects: Rejects,
    key: Vec<String>,
    first_row: u64,
) -> BatchStream {
    if !encoder.can_refuse() {
        return input;
    }
    let mut seen = first_row;
    input
        .map(move |batch| {
            let batch = batch?;
            let base = seen;
            seen += batch.num_rows() as u64;
            drop_refused(batch, &encoder, &rejects, &key, base)
        })
        .boxed()
}

/// `batch` without its refused rows, each reported to `rejects`.
fn drop_refused(
    batch: RecordBatch,
    encoder: &RowEncoder,
    rejects: &Rejects,
    key: &[String],
    first_row: u64,
) -> Result<RecordBatch> {
    let refused = {
        let views = encoder.views(&batch)?;
        encoder.refused_rows(&views, batch.num_rows())
    };
    if refused.is_empty() {
        return Ok(batch);
    }
    let mut keep = vec![true; batch.num_rows()];
    for (row, column, message) in refused {
        if !keep[row] {
            continue; // one record per row: its first refused value
        }
        keep[row] = false;
        rejects.reject(Rejected {
            position: row_position(&batch, row, key, first_row),
            column,
            reason: DirtyReason::Conversion,
            message,
            row: row_json(&batch, row),
        })?;
    }
    filter_record_batch(&batch, &BooleanArray::from(keep))
        .map_err(|e| Error::Internal(format!("filtering refused rows: {e}")))
}
