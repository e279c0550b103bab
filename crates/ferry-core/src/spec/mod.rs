//! The task specification: what to sync, how, and with which limits.
//!
//! Users write it as a YAML job file (`ferry run job.yaml`) or send it to the
//! API. Parsing is strict (`deny_unknown_fields`); [`TaskSpec::validate`] is
//! pure and returns a [`ValidatedTask`] that the engine consumes, so I/O never
//! starts on a spec that has not been checked. [`task_json_schema`] generates
//! the JSON Schema from these same structs.

mod connection;
mod dirty;
mod endpoint;
mod ident;
mod incremental;
mod transform;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use connection::{
    ConnectionLookup, ConnectionSpec, FileConnection, REDACTED, ServerConnection,
    named_connections, resolve_endpoints,
};
pub use dirty::{DirtyPolicy, DirtyReason, DirtyRecord, DirtySinkSpec};
pub use endpoint::{SinkSpec, SourceSpec, SqlEndpoint, SqliteEndpoint, redact_url};
pub use ident::TableName;
pub use incremental::{Columns, CursorOffset, IncrementalSpec, MergeSpec, NullCursor, WindowSpec};
pub use transform::{CastRule, CastSpec, MappingSpec};

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
    pub source: SourceSpec,
    /// Where the data goes.
    pub sink: SinkSpec,
    /// How the target is updated; default `full_overwrite`.
    #[serde(default)]
    pub mode: SyncMode,
    /// Source columns to copy, in this order; default: every column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
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

/// A task that passed [`TaskSpec::validate`]: identifiers parsed, limits in range.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedTask {
    /// The spec as written.
    pub spec: TaskSpec,
    /// The source table, parsed.
    pub source_table: TableName,
    /// The sink table, parsed.
    pub sink_table: TableName,
    /// The dirty-record table, when the dirty sink is a table.
    pub dirty_table: Option<TableName>,
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
    /// Checks every field without I/O; errors name the field and what is allowed.
    pub fn validate(&self) -> Result<ValidatedTask> {
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
        let source_table = self.source.validate("source")?;
        let sink_table = self.sink.validate("sink")?;
        if let Some(cols) = &self.columns {
            if cols.is_empty() {
                return Err(Error::invalid(
                    "columns",
                    "must list at least one column, or be left out to copy every column",
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for (i, c) in cols.iter().enumerate() {
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
        let dirty_table = self.dirty.validate()?;
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
        self.validate_parameters()?;
        if self.source.same_table_as(&self.sink) {
            return Err(Error::invalid(
                "sink.table",
                "the sink is the source table itself; choose another target table",
            ));
        }
        Ok(ValidatedTask {
            spec: self.clone(),
            source_table,
            sink_table,
            dirty_table,
        })
    }
}

/// The SQL dialect a `source_filter` is checked in, by source connector;
/// `None` for a source that takes no SQL filter (no generic fallback: a
/// dialect that tokenises differently from the source is no check at all).
// TODO(connector model): the connector declares its dialect
fn filter_dialect(connector: &str) -> Option<Box<dyn sqlparser::dialect::Dialect>> {
    use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect, SQLiteDialect};
    match connector {
        "postgres" => Some(Box::new(PostgreSqlDialect {})),
        "mysql" => Some(Box::new(MySqlDialect {})),
        "sqlite" => Some(Box::new(SQLiteDialect {})),
        _ => None,
    }
}

impl TaskSpec {
    /// `${…}` parameters are bound by the source, so they belong in
    /// `source_filter`; their names are checked here, their values per run.
    fn validate_parameters(&self) -> Result<()> {
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
            let connector = self.source.connector();
            let dialect = filter_dialect(connector).ok_or_else(|| {
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

/// The JSON Schema of [`TaskSpec`], generated from the same structs serde uses.
pub fn task_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(TaskSpec);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TaskSpec {
        serde_json::from_value(serde_json::json!({
            "name": "orders",
            "source": {"type": "postgres", "url": "postgresql://u:secret@127.0.0.1/db", "table": "public.orders"},
            "sink": {"type": "sqlite", "path": "/tmp/x.db", "table": "orders"}
        }))
        .expect("valid sample")
    }

    #[test]
    fn defaults_apply_and_validate_passes() {
        let t = sample();
        assert_eq!(t.mode, SyncMode::FullOverwrite);
        assert_eq!(t.engine, EngineOptions::default());
        let v = t.validate().expect("valid");
        assert_eq!(v.source_table.schema.as_deref(), Some("public"));
        assert_eq!(v.source_table.name, "orders");
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_name() {
        let err = serde_json::from_value::<TaskSpec>(serde_json::json!({
            "name": "x", "colums": ["a"],
            "source": {"type": "postgres", "url": "postgresql://h/db", "table": "t"},
            "sink": {"type": "postgres", "url": "postgresql://h/db", "table": "u"}
        }))
        .expect_err("unknown field");
        assert!(err.to_string().contains("colums"), "{err}");
        let err = serde_json::from_value::<TaskSpec>(serde_json::json!({
            "name": "x",
            "source": {"type": "postgres", "url": "postgresql://h/db", "table": "t", "tabel": "u"},
            "sink": {"type": "postgres", "url": "postgresql://h/db", "table": "u"}
        }))
        .expect_err("unknown nested field");
        assert!(err.to_string().contains("tabel"), "{err}");
    }

    #[test]
    fn limits_are_checked_with_the_field_name() {
        let mut t = sample();
        t.engine.parallelism = 0;
        let err = t.validate().expect_err("out of range");
        assert!(err.to_string().contains("engine.parallelism"), "{err}");
        let mut t = sample();
        t.columns = Some(vec!["a".into(), "a".into()]);
        assert!(
            t.validate()
                .expect_err("dup")
                .to_string()
                .contains("columns[1]")
        );
        let mut t = sample();
        t.name = "bad name".into();
        assert!(
            t.validate()
                .expect_err("name")
                .to_string()
                .contains("`name`")
        );
    }

    #[test]
    fn modes_need_their_options_and_only_theirs() {
        let with = |extra: serde_json::Value| {
            let mut v = serde_json::to_value(sample()).expect("json");
            for (k, x) in extra.as_object().expect("object") {
                v[k] = x.clone();
            }
            serde_json::from_value::<TaskSpec>(v)
                .expect("parses")
                .validate()
        };
        let field = |r: Result<ValidatedTask>| match r {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        };
        use serde_json::json;
        assert_eq!(
            field(with(json!({"mode": "incremental_append"}))),
            "incremental"
        );
        assert_eq!(
            field(with(json!({"incremental": {"cursor": "u"}}))),
            "incremental"
        );
        assert!(
            with(json!({"mode": "incremental_merge", "incremental": {"cursor": ["u", "v"]}}))
                .is_ok()
        );
        assert_eq!(
            field(with(
                json!({"mode": "incremental_append", "incremental": {"cursor": "u", "lookback": "5m"}})
            )),
            "incremental.lookback"
        );
        assert_eq!(
            field(with(
                json!({"mode": "incremental_merge", "incremental": {"cursor": "u", "lag": "soon"}})
            )),
            "incremental.lag"
        );
        assert_eq!(
            field(with(
                json!({"mode": "incremental_append", "incremental": {"cursor": "u", "tie_breaker": ["u"]}})
            )),
            "incremental.tie_breaker"
        );
        assert_eq!(field(with(json!({"mode": "window_overwrite"}))), "window");
        assert!(with(json!({"mode": "window_overwrite", "window": {"column": "t"}})).is_ok());
        assert_eq!(field(with(json!({"merge": {"key": ["id"]}}))), "merge");
        assert_eq!(
            field(with(json!({"source_filter": "t < ${tomorrow}"}))),
            "source_filter"
        );
        assert_eq!(
            field(with(json!({"filter": "t < ${window_end}"}))),
            "filter"
        );
        assert!(
            with(json!({"source_filter": "t >= ${window_start} AND t < ${window_end}"})).is_ok()
        );
    }

    #[test]
    fn same_table_is_rejected() {
        let t: TaskSpec = serde_json::from_value(serde_json::json!({
            "name": "loop",
            "source": {"type": "postgres", "url": "postgresql://h/db", "table": "t"},
            "sink": {"type": "postgres", "url": "postgresql://h/db", "table": "public.t"}
        }))
        .expect("parses");
        assert!(t.validate().is_err());
    }

    #[test]
    fn json_schema_documents_every_field() {
        let s = task_json_schema().to_string();
        for needle in [
            "parallelism",
            "batch_bytes",
            "full_overwrite",
            "postgres",
            "sqlite",
            "mysql",
        ] {
            assert!(s.contains(needle), "schema lacks {needle}");
        }
        assert!(s.contains("additionalProperties"));
    }
}
