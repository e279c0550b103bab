//! Delta Lake tables (through delta-rs, `deltalake`), on a local directory
//! or an S3-compatible prefix: the files connector's storage, with Delta's
//! transaction log for atomic publish.
//!
//! ```text
//!  sink:   batches ─▶ delta-rs's writer (Parquet data files, partitioned) ─▶ at
//!          publish, ONE commit: add/remove actions, txn `ferry:<task>`, Ferry's run in
//!          commitInfo (see [`sink`])
//!  source: a version (the latest, or `version`) scanned by delta-rs, or the rows the
//!          commits of `versions: {after, until}` appended (see [`source`])
//! ```
//!
//! # Why delta-rs writes and commits
//! Delta readers trust only the log: data files not yet in a commit are
//! invisible, so a run's files can be written in place and the commit is
//! the publish. delta-rs brings what a Delta writer must do right —
//! protocol and feature checks, statistics, partition values, conflict
//! checks, `replaceWhere` — and Ferry feeds it a stream that ends only when
//! the run publishes.
//!
//! Built with the Cargo feature `delta` (not default: delta-rs and its
//! DataFusion planner add minutes to a cold build).

mod connector;
mod matrix;
mod sink;
mod source;
mod spec;
mod table;
mod types;

pub use connector::DeltaConnector;
pub use spec::{DeltaEndpoint, VersionRange};

/// The connector's name.
pub(crate) const CONNECTOR: &str = "delta";
