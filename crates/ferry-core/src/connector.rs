//! The connector traits: small, async, and exchanging Arrow batches.
//!
//! ```text
//!  Source::schema()           discover the table's columns and key
//!  Source::open_read()  ──▶   ReadSession: one consistent snapshot, planned splits
//!        ReadSession::read_split(split) ──▶ stream of RecordBatch   (× parallelism)
//!                                                │
//!  Sink::prepare(schema, mode) ──▶ SinkWriter    ▼
//!        SinkWriter::write_all(stream) ──▶ rows sent
//!        SinkWriter::commit() ──▶ rows committed, as the target counted them
//!        SinkWriter::abort()  ──▶ target left exactly as it was
//! ```
//!
//! A [`Split`] is self-contained (its payload says everything a reader needs,
//! including the snapshot to read from) so that a split can later run on a
//! distributed engine's worker.

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::pushdown::{ReadFilter, RunParams, WindowRange};
use crate::reject::Rejects;
use crate::schema::TableSchema;
use crate::spec::SyncMode;
use crate::{Error, Result};

/// A stream of Arrow batches, all with the schema fixed at plan time.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

/// One part of a source's input that one reader handles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Position of the split in the plan, from 0.
    pub index: u32,
    /// Human-readable description, e.g. `"id" >= 1000 AND "id" < 2000`.
    pub description: String,
    /// Connector-specific, self-contained description of what to read.
    pub payload: serde_json::Value,
    /// Estimated rows, for progress and ETA.
    pub estimated_rows: Option<u64>,
}

/// Limits that shape how a source reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// Columns to read, in this order (already checked against the schema).
    pub columns: Vec<String>,
    /// Upper bound on the number of splits to plan.
    pub max_splits: u32,
    /// Splits the engine reads at once: a source whose splits each need a
    /// connection holding the snapshot opens at most this many.
    pub readers: u32,
    /// Smallest split worth planning, in estimated rows.
    pub min_rows_per_split: u64,
    /// Target size of one batch in bytes.
    pub batch_bytes: usize,
    /// What the source filters on itself (incremental range, window,
    /// `source_filter`); empty for a full read.
    pub filter: ReadFilter,
    /// The run's logical time and window: a source laid out in partitions
    /// of time (Hive-style directories) reads only the window's.
    pub params: RunParams,
}

/// A connector that reads a table.
#[async_trait]
pub trait Source: Send + Sync {
    /// The connector's name (`postgres`, `mysql`, `sqlite`).
    fn connector(&self) -> &'static str;

    /// Connects and discovers the table's columns and primary key.
    async fn schema(&self) -> Result<TableSchema>;

    /// Whether `open_read` evaluates a non-empty [`ReadOptions::filter`];
    /// the engine refuses incremental and windowed runs from sources that do not.
    fn supports_filter(&self) -> bool {
        false
    }

    /// The same-dialect exact path: `schema` (as [`Source::schema`] described
    /// it, projected) re-described for a sink of connector `sink`, with
    /// columns carried in the database's own wire form (type `binary`,
    /// `dialect` and `native_type` saying what the bytes are): those whose
    /// values Arrow cannot hold exactly, and any other the source relays
    /// more cheaply so. The engine asks only when no transform
    /// touches the values; the columns in `needs_values` (cursor, window,
    /// merge key) keep their Arrow type. `None`: no such path for this pair.
    fn same_dialect_schema(
        &self,
        _schema: &TableSchema,
        _sink: &str,
        _needs_values: &[String],
    ) -> Option<TableSchema> {
        None
    }

    /// Pins one consistent snapshot and plans the splits of a read of `schema`.
    async fn open_read(
        &self,
        schema: &TableSchema,
        options: &ReadOptions,
    ) -> Result<Box<dyn ReadSession>>;
}

/// One consistent read of a source: all splits see the same snapshot.
#[async_trait]
pub trait ReadSession: Send + Sync {
    /// The planned splits.
    fn splits(&self) -> &[Split];

    /// For an incremental read: the newest cursor tuple the splits read up
    /// to (inclusive), captured in the read snapshot — the next watermark.
    /// `None` when there are no rows past the saved watermark.
    fn cursor_high(&self) -> Option<Vec<String>> {
        None
    }

    /// For an incremental read: the upper bound the source put on the
    /// cursor and why (`lag: auto`'s oldest open transaction, the clock, a
    /// fixed lag), shown with the watermark. `None` when unbounded.
    fn cursor_bound(&self) -> Option<String> {
        None
    }

    /// Reads one split as a stream of batches. A row whose value has no
    /// exact Arrow form is handed to `rejects` (and left out of the batches)
    /// instead of failing the read; if `rejects` returns an error, the stream
    /// ends with it.
    async fn read_split(&self, split: &Split, rejects: &Rejects) -> Result<BatchStream>;

    /// Releases the snapshot.
    async fn close(&self) -> Result<()>;
}

/// What a sink did to prepare the target, for the run summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetPlan {
    /// The target table as the sink names it.
    pub table: String,
    /// Whether the target did not exist and will be created.
    pub creates_table: bool,
    /// The DDL of the table the sink writes into (staging or target).
    pub ddl: Option<String>,
}

/// How a sink published into an existing target and how long it kept the
/// target locked, for the run summary: a dashboard reading the target
/// waits for at most `lock_wait_ms + lock_held_ms` when `blocks_readers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishReport {
    /// How the rows were published: `swap` (a staging table renamed into
    /// place), `delete` (old rows deleted in the load's transaction),
    /// `truncate`, `create` (a new target), `rename` (MariaDB's staging
    /// swap), `transaction` (SQLite's write transaction).
    pub strategy: String,
    /// Why the strategy differs from the one configured (an automatic
    /// fallback), if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The lock the publish took on the target, as the database names it.
    pub lock: String,
    /// Whether that lock makes readers of the target wait.
    pub blocks_readers: bool,
    /// Milliseconds spent waiting for the lock (`None`: the database does
    /// not tell waiting from holding; it is part of `lock_held_ms`).
    pub lock_wait_ms: Option<u64>,
    /// Milliseconds from taking the lock to the end of the commit.
    pub lock_held_ms: u64,
}

impl PublishReport {
    /// One line for people: `swap; target locked 12 ms (ACCESS EXCLUSIVE: 1 ms waiting, 11 ms held)`.
    pub fn describe(&self) -> String {
        let wait = self
            .lock_wait_ms
            .map_or(String::new(), |w| format!("{w} ms waiting, "));
        let total = self.lock_wait_ms.unwrap_or(0) + self.lock_held_ms;
        let readers = if self.blocks_readers {
            "readers wait"
        } else {
            "readers not blocked"
        };
        let mut line = format!(
            "{}; target locked {total} ms ({}: {wait}{} ms held; {readers})",
            self.strategy, self.lock, self.lock_held_ms
        );
        if let Some(note) = &self.note {
            line.push_str(&format!("; {note}"));
        }
        line
    }
}

/// Which IEEE 754 special values a sink's float columns store exactly.
/// The engine routes the others to dirty data (reason `conversion`) before
/// the sink sees them, so they are never silently turned into NULL or an
/// error half-way through a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatSpecials {
    /// NaN is stored as NaN.
    pub nan: bool,
    /// +Infinity and -Infinity are stored as themselves.
    pub infinity: bool,
}

impl FloatSpecials {
    /// NaN and ±Infinity are stored (PostgreSQL `real`/`double precision`).
    pub const ALL: FloatSpecials = FloatSpecials {
        nan: true,
        infinity: true,
    };
    /// ±Infinity is stored, NaN is not (SQLite `REAL`: NaN becomes NULL).
    pub const NO_NAN: FloatSpecials = FloatSpecials {
        nan: false,
        infinity: true,
    };
    /// Only finite values are stored (MySQL/MariaDB `FLOAT`/`DOUBLE`).
    pub const FINITE: FloatSpecials = FloatSpecials {
        nan: false,
        infinity: false,
    };
}

/// How a write changes the target: the mode and what it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteSpec {
    /// The sync mode.
    pub mode: SyncMode,
    /// `incremental_merge`: the upsert key (target columns).
    pub merge_key: Vec<String>,
    /// `incremental_merge`: rows where this boolean column is true delete
    /// the target row with their key.
    pub delete_column: Option<String>,
    /// `window_overwrite`: the target rows to replace.
    pub window: Option<WindowRange>,
    /// The run's logical time and window: a sink laid out in partitions of
    /// time writes the window's.
    pub run: RunParams,
    /// The run's id, for what the sink records with the data (a manifest).
    pub run_id: String,
    /// The task's name: with the run's window, what a rerun of the same
    /// window shares (a sink that appends files replaces that window's).
    pub task: String,
}

impl WriteSpec {
    /// A full or incremental append/overwrite, which needs nothing else.
    pub fn plain(mode: SyncMode) -> WriteSpec {
        WriteSpec {
            mode,
            merge_key: Vec::new(),
            delete_column: None,
            window: None,
            run: RunParams::default(),
            run_id: String::new(),
            task: String::new(),
        }
    }
}

/// A task's progress marker kept in the target database itself, written in
/// the publishing transaction: it tells which run last committed, so a crash
/// between the target's commit and the state store's update is repaired,
/// and two runs of one task cannot both publish from the same watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Task name.
    pub task: String,
    /// The run that committed it.
    pub run_id: String,
    /// The watermark that run published (JSON).
    pub watermark: String,
}

/// A connector that writes a table.
#[async_trait]
pub trait Sink: Send + Sync {
    /// The connector's name.
    fn connector(&self) -> &'static str;

    /// Whether this sink can apply `mode`; the default accepts the full modes.
    fn supports_mode(&self, mode: SyncMode) -> Result<()> {
        match mode {
            SyncMode::FullOverwrite | SyncMode::FullAppend => Ok(()),
            other => Err(unsupported(self.connector(), format!("mode {other}"))),
        }
    }

    /// Connects, checks the existing target against `schema` (or plans its
    /// creation), cleans debris of earlier failed runs, and opens the write.
    /// Nothing visible to readers of the target changes until `commit`.
    async fn prepare(&self, schema: &TableSchema, mode: SyncMode) -> Result<Box<dyn SinkWriter>>;

    /// [`Sink::prepare`] for any mode; sinks with the incremental and
    /// windowed modes override it (and `prepare` delegates to it).
    async fn prepare_write(
        &self,
        schema: &TableSchema,
        write: &WriteSpec,
    ) -> Result<Box<dyn SinkWriter>> {
        self.supports_mode(write.mode)?;
        self.prepare(schema, write.mode).await
    }

    /// On the same-dialect exact path ([`Source::same_dialect_schema`]): the
    /// columns of `schema` carried in the dialect's own wire form that the
    /// existing target cannot take as they are (another column type); they
    /// then travel as Arrow values, checked on the way. Default: none.
    async fn refuses_native(&self, _schema: &TableSchema) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Whether the sink keeps [`Checkpoint`]s in the target database.
    fn keeps_checkpoints(&self) -> bool {
        false
    }

    /// The last checkpoint a run of `task` committed into this target.
    async fn checkpoint(&self, task: &str) -> Result<Option<Checkpoint>> {
        let _ = task;
        Ok(None)
    }
}

/// An open, not yet visible write to a target.
#[async_trait]
pub trait SinkWriter: Send {
    /// What `prepare` decided about the target.
    fn target_plan(&self) -> &TargetPlan;

    /// The target's column types, aligned with the schema given to `prepare`,
    /// when the sink accepts values that must be checked on the way
    /// ([`crate::ColumnType::fits_with_checks`]); the engine then routes the
    /// values that do not fit to dirty data. `None`: the sink takes only
    /// columns that fit losslessly.
    fn target_types(&self) -> Option<Vec<crate::ColumnType>> {
        None
    }

    /// Which special float values (NaN, ±Infinity) the target stores
    /// exactly; the engine routes the others to dirty data. Default: all.
    fn float_specials(&self) -> FloatSpecials {
        FloatSpecials::ALL
    }

    /// Writes every batch of `input`; returns the rows sent (not counting
    /// rows handed to `rejects`). A sink that can tell which rows the target
    /// refused (a key, NOT NULL or CHECK violation) isolates them and hands
    /// them to `rejects` when [`Rejects::accepts_rows`]; otherwise the
    /// violation fails the write.
    async fn write_all(&mut self, input: BatchStream, rejects: &Rejects) -> Result<u64>;

    /// Makes `commit` also store `checkpoint` in the target, in the same
    /// transaction, after checking that the task's stored checkpoint is
    /// still the one of run `expected` (`None`: no checkpoint yet); if
    /// another run committed meanwhile, `commit` fails and publishes nothing.
    fn set_checkpoint(&mut self, checkpoint: Checkpoint, expected: Option<String>) -> Result<()> {
        let _ = (checkpoint, expected);
        Err(Error::Internal(
            "this sink keeps no checkpoints; check Sink::keeps_checkpoints first".into(),
        ))
    }

    /// Publishes atomically; returns the rows the target reports as written.
    async fn commit(self: Box<Self>) -> Result<u64>;

    /// Publishes like [`SinkWriter::commit`] and also says how, and how long
    /// the target was locked (`None` by default: the sink does not report it).
    async fn commit_reporting(self: Box<Self>) -> Result<(u64, Option<PublishReport>)> {
        Ok((self.commit().await?, None))
    }

    /// Discards everything written; the target stays as it was.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// The error a connector returns for a capability it lacks.
pub fn unsupported(connector: &'static str, capability: impl Into<String>) -> Error {
    Error::Unsupported {
        connector,
        capability: capability.into(),
    }
}

/// What kind of dataset an endpoint addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// A table of a database (`schema.table`).
    Table,
    /// Files under a path prefix, in one format.
    Files,
    /// A topic or stream of a message broker.
    Topic,
    /// A table of a catalog (Hive, Iceberg, Delta): an identifier, not a path.
    CatalogTable,
}

/// The dataset an endpoint addresses: named for people, located for
/// comparisons (two endpoints of one connector with the same location are
/// the same dataset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// What it is.
    pub kind: DatasetKind,
    /// How messages and summaries name it, e.g. `public.orders`.
    pub name: String,
    /// Where it is, without secrets, e.g. `postgresql://app@db:5432/sales#public.orders`.
    pub location: String,
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// How a source learns its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaSource {
    /// The source discovers them ([`Source::schema`]); a task lists column
    /// names only.
    Discovered,
    /// The task declares them (`columns:` with types): the data carries no
    /// usable schema (CSV, JSON lines, a topic).
    Declared,
}

/// What a connector can do, declared once in the registry and shown by
/// `ferry connectors`; validation refuses a task that asks for more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// How its sources learn their columns (`None`: not a source).
    pub schema: Option<SchemaSource>,
    /// Whether a read is planned in several splits read in parallel.
    pub splits: bool,
    /// Whether its sources evaluate an incremental cursor range.
    pub incremental: bool,
    /// Whether its sources take `incremental.cursor: xmin` (PostgreSQL's
    /// transaction snapshot as the watermark).
    pub xmin_cursor: bool,
    /// Whether its sources evaluate a window range and a `source_filter`.
    pub pushdown: bool,
    /// The sync modes its sinks apply (empty: not a sink).
    pub sink_modes: Vec<SyncMode>,
    /// Whether its sinks keep checkpoints in the target.
    pub checkpoints: bool,
}

/// A source endpoint its connector has validated: it knows its dataset and
/// builds the reader.
pub trait SourceEndpoint: std::fmt::Debug + Send + Sync {
    /// The connector's name (canonical, never an alias).
    fn connector(&self) -> &'static str;

    /// The dataset it reads.
    fn dataset(&self) -> &Dataset;

    /// The SQL dialect its `source_filter` is checked in (`None`: it takes
    /// no SQL filter; there is no generic fallback, since a dialect that
    /// splits text into tokens differently from the source checks nothing).
    fn filter_dialect(&self) -> Option<Box<dyn sqlparser::dialect::Dialect>> {
        None
    }

    /// Builds the source (no I/O yet).
    fn open(&self) -> Result<Box<dyn Source>>;
}

/// A sink endpoint its connector has validated.
pub trait SinkEndpoint: std::fmt::Debug + Send + Sync {
    /// The connector's name (canonical, never an alias).
    fn connector(&self) -> &'static str;

    /// The dataset it writes.
    fn dataset(&self) -> &Dataset;

    /// Builds the sink (no I/O yet).
    fn open(&self) -> Result<Box<dyn Sink>>;
}

/// The connectors a build has, as task validation sees them: implemented
/// by the registry of `ferry-connectors`.
pub trait Connectors: Send + Sync {
    /// Parses and checks a source endpoint; errors name `field`'s options.
    fn source(
        &self,
        field: &str,
        spec: &crate::spec::EndpointSpec,
        trust: &crate::spec::Trust,
    ) -> Result<std::sync::Arc<dyn SourceEndpoint>>;

    /// Parses and checks a sink endpoint.
    fn sink(
        &self,
        field: &str,
        spec: &crate::spec::EndpointSpec,
        trust: &crate::spec::Trust,
    ) -> Result<std::sync::Arc<dyn SinkEndpoint>>;

    /// The capabilities of the connector named `connector` (canonical name).
    fn capabilities(&self, connector: &str) -> Option<Capabilities>;
}
