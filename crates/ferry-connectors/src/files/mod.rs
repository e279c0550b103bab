//! Files: Parquet datasets in a local directory or an S3-compatible bucket
//! (through `object_store`), in Hive-style partition directories, written
//! with an atomic publish per partition and read file by file.
//!
//! ```text
//!  sink:   batches ─▶ Parquet files (a row group per `row_group_bytes`, a file per
//!          `file_bytes`) under <dataset>/_ferry/staging/<attempt>/<partition>/
//!          commit: publish into <dataset>/<partition>/ — intent, unmark, move, sweep,
//!          manifest (files, rows, bytes, SHA-256), _SUCCESS (see [`publish`])
//!  source: list <dataset>/ ─ a partition's manifest files (or every data file of a
//!          dataset Ferry never wrote) ─ with `hive:`, only the partitions the metastore
//!          lists ─ pruned by the run's window ─ one split per file (or group of row groups)
//! ```
//!
//! # Why staging, a manifest and a marker
//! Object stores have no transactions and S3 has no rename: a reader listing
//! a prefix while a run writes would see some files of the run. So a run's
//! files are written under a hidden staging prefix (`_ferry/`: every
//! engine skips paths starting with `_`), and only the publish puts them in
//! the partition, between removing and rewriting the partition's
//! `_SUCCESS` marker and manifest. Spark, Hive and Ferry's own source honour
//! them; a reader that lists files blindly can see a partition mid-publish
//! (the metastore registration of the Hive step closes that gap by pointing
//! a partition at a complete directory).
//!
//! # Partitions
//! `partition: {window: "dt=%Y-%m-%d"}` puts a run's rows into the
//! directory of its window (`dt=2026-11-25`); a run's window must lie in one
//! partition. `full_overwrite` replaces that partition (the whole dataset
//! when unpartitioned), `full_append` adds files to it. A rerun of a window
//! replaces exactly its partition. One run at a time publishes into a
//! partition ([`lock`]).

mod columns;
mod connector;
mod hive;
mod lock;
mod matrix;
mod metastore;
mod partition;
mod publish;
mod schema;
mod sink;
mod source;
mod spec;
mod store;
mod stored;
mod text;
mod thrift;
mod write;

pub use connector::FilesConnector;
pub use spec::{Compression, S3Options};

pub(crate) use connector::{put_s3_secret, s3_secret_audience, take_s3_secret};
pub(crate) use schema::column_type;
pub(crate) use spec::{FilesEndpoint, check_url};
pub(crate) use store::Storage;
pub(crate) use write::properties as parquet_properties;

/// The connector's name.
pub(crate) const CONNECTOR: &str = "files";
