//! Apache Iceberg tables (through iceberg-rust) in Iceberg's SQL catalog on
//! a SQLite file, with a local warehouse: one snapshot per run.
//!
//! ```text
//!  sink:   batches ─▶ iceberg-rust's writers (Parquet data files, partitioned by the
//!          table's spec) ─▶ at publish, ONE snapshot (append or overwrite) written by
//!          Ferry ([`commit`]) and the catalog pointer swapped
//!  source: a snapshot's live data files (or those a snapshot range added), read by
//!          iceberg-rust's Arrow reader, split by groups of files
//! ```
//!
//! # Why Ferry writes the snapshot
//! iceberg-rust 0.10 commits only fast appends, and its table commit cannot
//! be built outside the crate; a window overwrite needs a snapshot that
//! deletes the window's data files and adds the run's in one step. Ferry
//! writes those manifests, the manifest list and the metadata file with
//! iceberg-rust's public writers, then moves the catalog's pointer with the
//! same compare-and-swap the SQL catalog itself uses.
//!
//! Built with the Cargo feature `iceberg` (not default).

mod catalog;
mod commit;
mod connector;
mod matrix;
mod sink;
mod source;
mod spec;
mod types;

pub use connector::IcebergConnector;
pub use spec::{CatalogSpec, IcebergEndpoint, PartitionField, PartitionTransform, SnapshotRange};

/// The connector's name.
pub(crate) const CONNECTOR: &str = "iceberg";
