//! Runs one Ferry instance: a pure [`plan()`], then [`execute()`].
//!
//! ```text
//!              ┌ split reader 1 ┐
//!  Source ─────┼ split reader 2 ┼──▶ bounded channel ──▶ SinkWriter::write_all ──▶ commit
//!  (snapshot)  └ …parallelism   ┘    (channel_depth        (one transaction /         (atomic
//!   splits pulled from a queue        batches)              staging table)            publish)
//! ```
//!
//! Memory is bounded by construction: at most `parallelism` readers each hold
//! one batch being built plus a small hand-off buffer, and the channel holds
//! `channel_depth` batches of about `batch_bytes` each — whatever the table
//! size. Any reader error, sink error or cancellation aborts the sink (target
//! unchanged) and stops every reader. After a successful write the counts are
//! verified: rows read per split summed = rows sent = rows the target counted.
//!
//! A task with `mapping`, `filter` or `sql` gets a [`transform`] between the
//! channel and the writer: DataFusion runs one streaming partition over the
//! batches, and the sink is prepared with the transform's output schema. The
//! counts then read: rows read = rows into the transform; rows out of it =
//! rows written = rows committed; the difference is reported as filtered.
//!
//! Dirty rows come from three places, all routed to the task's dirty sink
//! and counted against its thresholds: split readers (a value with no exact
//! Arrow form, e.g. a zero date; counted in `rows_read`), the conform step
//! (a value the target column cannot hold: too long, out of range, a NaN
//! for MariaDB or SQLite), and the sink (a row the target refused).

#![deny(missing_docs)]

mod conform;
mod cursor;
mod dirty;
mod execute;
mod plan;
mod progress;
pub mod transform;

pub use execute::{
    PublishHook, RunOptions, RunSummary, SplitSummary, WatermarkSummary, execute, execute_run,
    new_run_id,
};
pub use plan::{CursorPlan, Plan, RunInput, plan, plan_run};
pub use progress::{Progress, ProgressFn};
pub use tokio_util::sync::CancellationToken;
