//! Progress reporting: cumulative counters handed to a callback after each batch.

use std::sync::Arc;

/// A snapshot of a run's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// Rows read so far.
    pub rows: u64,
    /// Bytes of Arrow data read so far.
    pub bytes: u64,
    /// Estimated total rows, when the source could estimate it.
    pub estimated_rows: Option<u64>,
    /// Splits finished so far.
    pub splits_done: u32,
    /// Splits planned.
    pub splits_total: u32,
}

/// Receives progress updates; must be cheap (it runs on the reader tasks).
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;
