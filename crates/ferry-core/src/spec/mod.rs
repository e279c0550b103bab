//! The task specification: what to sync, how, and with which limits.
//!
//! Users write it as a YAML job file (`ferry run job.yaml`) or send it to the
//! API. Parsing is strict (`deny_unknown_fields`); [`TaskSpec::validate`] is
//! pure and returns a [`ValidatedTask`] that the engine consumes, so I/O never
//! starts on a spec that has not been checked. [`task_json_schema`] generates
//! the JSON Schema from these same structs.

mod columns;
mod dirty;
mod endpoint;
mod ident;
mod incremental;
mod transform;
mod trust;

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::connector::Connectors;
pub use columns::{ColumnSelect, DeclaredColumn};
pub use dirty::{DirtyPolicy, DirtyReason, DirtyRecord, DirtySinkSpec};
pub use endpoint::{
    CONNECTION_OPTION, ConnectionSchema, ConnectionSpec, EndpointSpec, REDACTED, SinkSchema,
    SinkSpec, SourceSchema, SourceSpec, is_secret_option, redact_options, redact_url,
    unknown_connector,
};
pub use ident::TableName;
pub use incremental::{
    AUTO_LAG, Columns, CursorOffset, IncrementalSpec, MergeSpec, NO_LAG, NullCursor, WindowSpec,
    XMIN_CURSOR,
};
pub use transform::{CastRule, CastSpec, MappingSpec};
pub use trust::{FileRoots, Trust};

use crate::{Error, Result};

/// Default number of split readers running at once.
pub const DEFAULT_PARALLELISM: u32 = 2;
/// Default target size of one Arrow batch, in bytes.
pub const DEFAULT_BATCH_BYTES: u64 = 2 * 1024 * 1024;
/// Default depth of the channel between split readers and the writer, in batches.
pub const DEFAULT_CHANNEL_DEPTH: u32 = 2;
/// Default number of splits planned per reader (more splits balance better).
pub const DEFAULT_SPLITS_PER_READER: u32 = 4;
/// Default smallest split worth planning, in estimated rows.
pub const DEFAULT_MIN_ROWS_PER_SPLIT: u64 = 200_000;

/// One sync task: read `source`, write `sink`, the way `mode` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Name of the task: letters, digits, `_`, `-` and `.`, at most 128 characters.
    pub name: String,
    /// Where the data comes from.
    #[schemars(with = "SourceSchema")]
    pub source: SourceSpec,
    /// Where the data goes.
    #[schemars(with = "SinkSchema")]
    pub sink: SinkSpec,
    /// How the target is updated; default `full_overwrite`.
    #[serde(default)]
    pub mode: SyncMode,
    /// Source columns to copy, in this order; default: every column. A
    /// source that needs a declared schema takes `{name, type, nullable}`
    /// entries instead of names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<ColumnSelect>>,
    /// What to do with rows whose values the target cannot hold exactly.
    #[serde(default)]
    pub dirty: DirtyPolicy,
    /// Resource limits and parallelism of the run.
    #[serde(default)]
    pub engine: EngineOptions,
    /// Column mapping (rename, drop, cast, add), applied to each row read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<MappingSpec>,
    /// Row filter: a SQL boolean expression over the source columns; rows
    /// for which it is not true are left out (counted as `rows_filtered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Full SQL transform, `SELECT … FROM input`, run by DataFusion over the
    /// rows read; cannot be combined with `mapping` or `filter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// A predicate in the source's own SQL dialect, evaluated by the source
    /// (pushed down into its query). `${window_start}`, `${window_end}` and
    /// `${logical_time}` are bound as timestamp parameters, never pasted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_filter: Option<String>,
    /// The cursor of the incremental modes (required by them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<IncrementalSpec>,
    /// Options of `incremental_merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeSpec>,
    /// The window column of `window_overwrite` (required by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSpec>,
}

/// How a run updates the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Replace the whole target with the source's rows, atomically (staging table + swap).
    #[default]
    FullOverwrite,
    /// Add all source rows to the target, atomically (one transaction).
    FullAppend,
    /// Add the rows whose cursor is past the saved watermark (see `incremental`).
    IncrementalAppend,
    /// Upsert the rows whose cursor is past the saved watermark by key (see
    /// `incremental` and `merge`), deleting rows flagged by `merge.delete_column`.
    IncrementalMerge,
    /// Replace exactly the target rows of the run's window `[window_start,
    /// window_end)` on `window.column` with the source rows of that window, in
    /// one transaction: reruns of a window give the same target.
    WindowOverwrite,
}

impl SyncMode {
    /// Every mode.
    pub const ALL: [SyncMode; 5] = [
        SyncMode::FullOverwrite,
        SyncMode::FullAppend,
        SyncMode::IncrementalAppend,
        SyncMode::IncrementalMerge,
        SyncMode::WindowOverwrite,
    ];

    /// Whether the mode reads from a saved watermark.
    pub fn is_incremental(self) -> bool {
        matches!(
            self,
            SyncMode::IncrementalAppend | SyncMode::IncrementalMerge
        )
    }
}

impl std::fmt::Display for SyncMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyncMode::FullOverwrite => "full_overwrite",
            SyncMode::FullAppend => "full_append",
            SyncMode::IncrementalAppend => "incremental_append",
            SyncMode::IncrementalMerge => "incremental_merge",
            SyncMode::WindowOverwrite => "window_overwrite",
        })
    }
}

/// Parallelism and memory limits of one run. Batch data in memory is at most
/// about `batch_bytes × (3 × parallelism + channel_depth + 3)` whatever the
/// table size (each reader builds one batch and hands over up to two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineOptions {
    /// Split readers running at once (1–64).
    #[serde(default = "default_parallelism")]
    pub parallelism: u32,
    /// Splits to plan per reader (1–64); more splits balance uneven key ranges.
    #[serde(default = "default_splits_per_reader")]
    pub splits_per_reader: u32,
    /// Tables estimated below this many rows per split get fewer splits (1–1000000000).
    #[serde(default = "default_min_rows_per_split")]
    pub min_rows_per_split: u64,
    /// Target size of one Arrow batch in bytes (65536–268435456).
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: u64,
    /// Batches buffered between readers and the writer (1–64).
    #[serde(default = "default_channel_depth")]
    pub channel_depth: u32,
}

fn default_parallelism() -> u32 {
    DEFAULT_PARALLELISM
}
fn default_splits_per_reader() -> u32 {
    DEFAULT_SPLITS_PER_READER
}
fn default_min_rows_per_split() -> u64 {
    DEFAULT_MIN_ROWS_PER_SPLIT
}
fn default_batch_bytes() -> u64 {
    DEFAULT_BATCH_BYTES
}
fn default_channel_depth() -> u32 {
    DEFAULT_CHANNEL_DEPTH
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            parallelism: DEFAULT_PARALLELISM,
            splits_per_reader: DEFAULT_SPLITS_PER_READER,
            min_rows_per_split: DEFAULT_MIN_ROWS_PER_SPLIT,
            batch_bytes: DEFAULT_BATCH_BYTES,
            channel_depth: DEFAULT_CHANNEL_DEPTH,
        }
    }
}

/// A task that passed [`TaskSpec::validate`]: its endpoints checked by
/// their connectors, limits in range.
#[derive(Debug, Clone)]
pub struct ValidatedTask {
    /// The spec as written, with connector aliases replaced by their names
    /// and local paths by the ones the run uses.
    pub spec: TaskSpec,
    /// The source, checked by its connector.
    pub source: Arc<dyn crate::connector::SourceEndpoint>,
    /// The sink, checked by its connector.
    pub sink: Arc<dyn crate::connector::SinkEndpoint>,
    /// The sink of dirty records, when the dirty sink is a table.
    pub dirty_table: Option<Arc<dyn crate::connector::SinkEndpoint>>,
    /// The columns `columns:` declares, for a source that needs them
    /// declared (`None`: the source discovers its columns).
    pub declared_schema: Option<crate::schema::TableSchema>,
}

impl TaskSpec {
    /// The names `columns:` lists, if any.
    pub fn column_names(&self) -> Option<Vec<String>> {
        self.columns
            .as_ref()
            .map(|c| c.iter().map(|c| c.name().to_string()).collect())
    }
}

fn check_range(field: &str, value: u64, min: u64, max: u64) -> Result<()> {
    if value < min || value > max {
        return Err(Error::invalid(
            field,
            format!("{value} is out of range; allowed: {min} to {max}"),
        ));
    }
    Ok(())
}

impl TaskSpec {
    /// Checks every field; errors name the field and what is allowed. The
    /// endpoints are checked by their connectors (`connectors`, the registry
    /// of `ferry-connectors`), with what the spec's author may reach
    /// (`trust`). No I/O beyond resolving local paths on a server.
    pub fn validate(&self, connectors: &dyn Connectors, trust: &Trust) -> Result<ValidatedTask> {
        if self.name.is_empty()
            || self.name.len() > 128
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(Error::invalid(
                "name",
                format!(
                    "{:?} is not a valid task name; use 1 to 128 letters, digits, `_`, `-` or `.`",
                    self.name
                ),
            ));
        }
        let source = connectors.source("source", &self.source, trust)?;
        let sink = connectors.sink("sink", &self.sink, trust)?;
        if let Some(cols) = &self.columns {
            if cols.is_empty() {
                return Err(Error::invalid(
                    "columns",
                    "must list at least one column, or be left out to copy every column",
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for (i, c) in cols.iter().map(ColumnSelect::name).enumerate() {
                if c.is_empty() || c.contains('\0') {
                    return Err(Error::invalid(
                        format!("columns[{i}]"),
                        "column names must be non-empty and contain no NUL",
                    ));
                }
                if !seen.insert(c) {
                    return Err(Error::invalid(
                        format!("columns[{i}]"),
                        format!("column `{c}` is listed twice"),
                    ));
                }
            }
        }
        let (dirty, dirty_table) = self.dirty.validate(connectors, trust)?;
        let e = &self.engine;
        check_range("engine.parallelism", e.parallelism.into(), 1, 64)?;
        check_range(
            "engine.splits_per_reader",
            e.splits_per_reader.into(),
            1,
            64,
        )?;
        check_range(
            "engine.batch_bytes",
            e.batch_bytes,
            64 * 1024,
            256 * 1024 * 1024,
        )?;
        check_range("engine.channel_depth", e.channel_depth.into(), 1, 64)?;
        transform::validate(
            self.mapping.as_ref(),
            self.filter.as_deref(),
            self.sql.as_deref(),
        )?;
        self.validate_mode()?;
        self.validate_parameters(source.as_ref())?;
        self.validate_capabilities(connectors, source.connector(), sink.connector())?;
        if source.connector() == sink.connector()
            && source.dataset().location == sink.dataset().location
        {
            return Err(Error::invalid(
                "sink",
                format!(
                    "the sink is the source {} itself; choose another target",
                    source.dataset()
                ),
            ));
        }
        let schema_source = connectors
            .capabilities(source.connector())
            .and_then(|c| c.schema)
            .unwrap_or(crate::connector::SchemaSource::Discovered);
        let declared_schema =
            columns::check(self.columns.as_deref(), source.connector(), schema_source)?;
        let mut spec = self.clone();
        spec.source.connector = source.connector().to_string();
        spec.sink.connector = sink.connector().to_string();
        spec.dirty = dirty;
        Ok(ValidatedTask {
            spec,
            source,
            sink,
            dirty_table,
            declared_schema,
        })
    }
}

impl TaskSpec {
    /// Checks that the connectors declare what the mode needs.
    fn validate_capabilities(
        &self,
        connectors: &dyn Connectors,
        source: &str,
        sink: &str,
    ) -> Result<()> {
        let (Some(src), Some(snk)) = (
            connectors.capabilities(source),
            connectors.capabilities(sink),
        ) else {
            return Err(Error::Internal(format!(
                "no capabilities for {source} or {sink}"
            )));
        };
        let mode = self.mode;
        if !snk.sink_modes.contains(&mode) {
            return Err(Error::invalid(
                "mode",
                format!(
                    "the {sink} sink does not apply {mode}; allowed: {}",
                    snk.sink_modes
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if mode.is_incremental() && !src.incremental {
            return Err(Error::invalid(
                "mode",
                format!("the {source} source cannot read incrementally (no cursor range)"),
            ));
        }
        if mode.is_incremental()
            && !src.xmin_cursor
            && self
                .incremental
                .as_ref()
                .is_some_and(IncrementalSpec::is_xmin)
        {
            return Err(Error::invalid(
                "incremental.cursor",
                format!(
                    "`xmin` (transaction snapshots) is a PostgreSQL cursor; the {source} source \
                     needs a cursor column of the table, e.g. `cursor: updated_at` or `cursor: [updated_at, id]`"
                ),
            ));
        }
        let pushes_down = mode == SyncMode::WindowOverwrite || self.source_filter.is_some();
        if pushes_down && !src.pushdown {
            return Err(Error::invalid(
                if self.source_filter.is_some() {
                    "source_filter"
                } else {
                    "mode"
                },
                format!("the {source} source cannot evaluate a window or a source_filter"),
            ));
        }
        Ok(())
    }

    /// `${…}` parameters are bound by the source, so they belong in
    /// `source_filter`; their names are checked here, their values per run.
    fn validate_parameters(&self, source: &dyn crate::connector::SourceEndpoint) -> Result<()> {
        for (field, text) in [("filter", &self.filter), ("sql", &self.sql)] {
            if text.as_deref().is_some_and(|t| t.contains("${")) {
                return Err(Error::invalid(
                    field,
                    "run parameters like ${window_start} are bound by the source database; \
                     put that condition in `source_filter`",
                ));
            }
        }
        if let Some(f) = &self.source_filter {
            if f.trim().is_empty() {
                return Err(Error::invalid(
                    "source_filter",
                    "is empty; leave it out to read every row",
                ));
            }
            let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
            let every = crate::pushdown::RunParams {
                logical_time: Some(now),
                window: Some((now, now)),
            };
            crate::pushdown::SourcePredicate::parse("source_filter", f, &every)?;
            let connector = source.connector();
            let dialect = source.filter_dialect().ok_or_else(|| {
                Error::invalid(
                    "source_filter",
                    format!("source `{connector}` does not evaluate a source filter"),
                )
            })?;
            crate::pushdown::check_source_filter("source_filter", f, dialect.as_ref())?;
        }
        Ok(())
    }

    /// Checks that the options of the mode are present, and only those.
    fn validate_mode(&self) -> Result<()> {
        let mode = self.mode;
        match (&self.incremental, mode.is_incremental()) {
            (None, true) => {
                return Err(Error::invalid(
                    "incremental",
                    format!("mode {mode} needs `incremental: {{cursor: <column>}}`"),
                ));
            }
            (Some(_), false) => {
                return Err(Error::invalid(
                    "incremental",
                    format!(
                        "is only used by the modes incremental_append and incremental_merge, not {mode}"
                    ),
                ));
            }
            (Some(i), true) => {
                i.validate()?;
                if i.lookback.is_some() && mode != SyncMode::IncrementalMerge {
                    return Err(Error::invalid(
                        "incremental.lookback",
                        "re-reads rows, so it needs the idempotent mode incremental_merge",
                    ));
                }
            }
            (None, false) => {}
        }
        match (&self.merge, mode) {
            (Some(m), SyncMode::IncrementalMerge) => {
                if let Some(k) = &m.key {
                    incremental::check_columns("merge.key", &k.names(), 1)?;
                }
                if let Some(d) = &m.delete_column
                    && (d.is_empty() || d.contains('\0'))
                {
                    return Err(Error::invalid("merge.delete_column", "must name a column"));
                }
            }
            (Some(_), _) => {
                return Err(Error::invalid(
                    "merge",
                    format!("is only used by the mode incremental_merge, not {mode}"),
                ));
            }
            (None, _) => {}
        }
        match (&self.window, mode) {
            (None, SyncMode::WindowOverwrite) => Err(Error::invalid(
                "window",
                "mode window_overwrite needs `window: {column: <date or timestamp column>}`",
            )),
            (Some(w), SyncMode::WindowOverwrite) => {
                incremental::check_columns("window.column", std::slice::from_ref(&w.column), 1)
            }
            (Some(_), _) => Err(Error::invalid(
                "window",
                format!("is only used by the mode window_overwrite, not {mode}"),
            )),
            (None, _) => Ok(()),
        }
    }
}

/// The JSON Schema of [`TaskSpec`], generated from the same structs serde
/// uses, with placeholders for the endpoints: `ferry-connectors` fills them
/// with its connectors' schemas (that is the schema users see).
pub fn task_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(TaskSpec);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;
