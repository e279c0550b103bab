//! The pure planning step: from a validated task, the discovered source
//! schema and the run's inputs (window, saved watermark) to the projected
//! schema, the read options with what the source filters on, and how the
//! sink writes. No I/O.

use ferry_core::connector::{ReadOptions, WriteSpec};
use ferry_core::pushdown::{CursorRange, ReadFilter, RunParams, SourcePredicate, WindowRange};
use ferry_core::spec::{AUTO_LAG, CursorOffset, NO_LAG, NullCursor, XMIN_CURSOR};
use ferry_core::{ColumnType, Error, Result, SyncMode, TableSchema, ValidatedTask};

use crate::transform::{TransformPlan, plan_transform};

/// What a run brings besides the task: its instants and the saved watermark.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInput {
    /// Logical time and window of the run.
    pub params: RunParams,
    /// The saved watermark of an incremental task: its columns and values.
    pub watermark: Option<(Vec<String>, Vec<String>)>,
}

/// The cursor of an incremental run, as planned.
#[derive(Debug, Clone, PartialEq)]
pub struct CursorPlan {
    /// Cursor then tie-breaker columns: the watermark's columns.
    pub columns: Vec<String>,
    /// How many of `columns` are the cursor.
    pub cursor_len: usize,
    /// What happens to rows with a NULL cursor.
    pub null_cursor: NullCursor,
    /// The watermark the run starts from.
    pub after: Option<Vec<String>>,
}

/// What a run will read and write.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The schema of the batches (the source's, projected to the task's columns).
    pub schema: TableSchema,
    /// How the source reads.
    pub read: ReadOptions,
    /// Split readers running at once.
    pub parallelism: usize,
    /// Batches buffered between readers and the writer.
    pub channel_depth: usize,
    /// The mapping/filter/SQL transform between readers and the writer, if any.
    pub transform: Option<TransformPlan>,
    /// The schema the sink receives: the transform's output, or `schema`.
    pub output_schema: TableSchema,
    /// How the sink writes.
    pub write: WriteSpec,
    /// The incremental cursor, if the mode has one.
    pub cursor: Option<CursorPlan>,
}

/// Plans a full run of `task` (no window, no watermark).
pub fn plan(task: &ValidatedTask, source_schema: &TableSchema) -> Result<Plan> {
    plan_run(task, source_schema, &RunInput::default())
}

/// Plans a run of `task` over a source with `source_schema`; errors name
/// missing columns and list the ones that exist.
pub fn plan_run(
    task: &ValidatedTask,
    source_schema: &TableSchema,
    input: &RunInput,
) -> Result<Plan> {
    input.params.validate()?;
    let spec = &task.spec;
    let schema = match spec.column_names() {
        Some(cols) => source_schema.project(&cols)?,
        None => source_schema.clone(),
    };
    let transform = plan_transform(spec, &schema)?;
    let output_schema = transform
        .as_ref()
        .map_or_else(|| schema.clone(), |t| t.output().clone());
    let e = &spec.engine;
    let (cursor, cursor_range) = plan_cursor(task, &schema, input)?;
    let window = plan_window(task, &schema, &output_schema, &input.params)?;
    let predicate = spec
        .source_filter
        .as_deref()
        .map(|f| SourcePredicate::parse("source_filter", f, &input.params))
        .transpose()?;
    let write = plan_write(task, &schema, &output_schema, window.clone(), input.params)?;
    Ok(Plan {
        read: ReadOptions {
            columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
            max_splits: e.parallelism.saturating_mul(e.splits_per_reader),
            readers: e.parallelism,
            min_rows_per_split: e.min_rows_per_split,
            batch_bytes: e.batch_bytes as usize,
            filter: ReadFilter {
                cursor: cursor_range,
                window,
                predicate,
            },
            params: input.params,
        },
        parallelism: e.parallelism as usize,
        channel_depth: e.channel_depth as usize,
        transform,
        output_schema,
        schema,
        write,
        cursor,
    })
}

impl Plan {
    /// Whether the incremental cursor is PostgreSQL's `xmin` snapshot.
    pub fn is_xmin(&self) -> bool {
        self.read.filter.cursor.as_ref().is_some_and(|c| c.xmin)
    }

    /// Columns whose values the engine or the sink looks at (cursor and
    /// tie-breakers, window, merge key, delete marker): they keep their Arrow
    /// type on a same-dialect exact path
    /// ([`ferry_core::Source::same_dialect_schema`]).
    pub fn columns_needing_values(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        if let Some(c) = self.cursor.as_ref().filter(|_| !self.is_xmin()) {
            names.extend(c.columns.iter().cloned());
        }
        if let Some(w) = &self.read.filter.window {
            names.push(w.column.clone());
        }
        names.extend(self.write.merge_key.iter().cloned());
        names.extend(self.write.delete_column.iter().cloned());
        names.sort();
        names.dedup();
        names
    }
}

fn require<'a>(schema: &'a TableSchema, field: &str, name: &str) -> Result<&'a ColumnType> {
    schema.column(name).map(|c| &c.ty).ok_or_else(|| {
        Error::invalid(
            field,
            format!(
                "column `{name}` is not among the columns {} has ({})",
                if field.starts_with("merge") {
                    "the target receives"
                } else {
                    "read from the source"
                },
                schema
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

fn is_temporal(ty: &ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::Date | ColumnType::Timestamp | ColumnType::TimestampTz
    )
}

fn plan_cursor(
    task: &ValidatedTask,
    schema: &TableSchema,
    input: &RunInput,
) -> Result<(Option<CursorPlan>, Option<CursorRange>)> {
    let Some(inc) = task
        .spec
        .incremental
        .as_ref()
        .filter(|_| task.spec.mode.is_incremental())
    else {
        return Ok((None, None));
    };
    if inc.is_xmin() {
        return plan_xmin(input);
    }
    let cursor = inc.cursor.names();
    let tie = match &inc.tie_breaker {
        Some(t) => t.names(),
        None => schema
            .primary_key
            .iter()
            .filter(|k| !cursor.contains(k))
            .cloned()
            .collect(),
    };
    for (i, c) in cursor.iter().enumerate() {
        let ty = require(schema, &format!("incremental.cursor[{i}]"), c)?;
        if matches!(
            ty,
            ColumnType::Json
                | ColumnType::List(_)
                | ColumnType::Interval
                | ColumnType::Binary
                | ColumnType::Bool
        ) {
            return Err(Error::invalid(
                format!("incremental.cursor[{i}]"),
                format!(
                    "`{c}` is {ty}, which has no order usable as a cursor; use a timestamp, date, integer, decimal or text column"
                ),
            ));
        }
    }
    for (i, c) in tie.iter().enumerate() {
        require(schema, &format!("incremental.tie_breaker[{i}]"), c)?;
    }
    let first = require(schema, "incremental.cursor[0]", &cursor[0])?;
    let offset = |field: &str, text: &Option<String>| -> Result<Option<CursorOffset>> {
        let Some(text) = text.as_deref().filter(|t| *t != AUTO_LAG && *t != NO_LAG) else {
            return Ok(None);
        };
        let off = match CursorOffset::parse(field, text)? {
            // "0" is no margin, whatever the cursor's type.
            CursorOffset::Units(0) if is_temporal(first) => CursorOffset::Micros(0),
            off => off,
        };
        let fits = match off {
            CursorOffset::Micros(_) => is_temporal(first),
            CursorOffset::Units(_) => matches!(
                first,
                ColumnType::Int16
                    | ColumnType::Int32
                    | ColumnType::Int64
                    | ColumnType::Decimal { .. }
            ),
        };
        if !fits {
            return Err(Error::invalid(
                field,
                format!(
                    "{text:?} does not fit the cursor `{}` ({first}): use a duration like \"30s\" for a date or \
                     timestamp cursor, an integer for an integer or decimal cursor",
                    cursor[0]
                ),
            ));
        }
        Ok(Some(off))
    };
    let lag = offset("incremental.lag", &inc.lag)?;
    let auto_lag = lag.is_none() && inc.lag.as_deref() != Some(NO_LAG);
    let lookback = offset("incremental.lookback", &inc.lookback)?;
    let columns: Vec<String> = cursor.iter().chain(&tie).cloned().collect();
    let after = match &input.watermark {
        None => None,
        Some((cols, values)) => {
            if cols != &columns || values.len() != columns.len() {
                return Err(Error::invalid(
                    "incremental",
                    format!(
                        "the saved watermark is over ({}) but the task now compares ({}); \
                         reset it (`ferry state reset`) or set one for the new columns (`ferry state set`)",
                        cols.join(", "),
                        columns.join(", ")
                    ),
                ));
            }
            Some(values.clone())
        }
    };
    let nulls = match inc.null_cursor {
        NullCursor::Dirty => true,
        NullCursor::Oldest => after.is_none(),
    };
    let range = CursorRange {
        columns: columns.clone(),
        cursor_len: cursor.len(),
        after: after.clone(),
        lag,
        auto_lag,
        lookback,
        nulls,
        xmin: false,
    };
    let plan = CursorPlan {
        columns,
        cursor_len: cursor.len(),
        null_cursor: inc.null_cursor,
        after,
    };
    Ok((Some(plan), Some(range)))
}

/// `cursor: xmin`: the watermark is one value, the previous run's snapshot
/// (checked by the source, which casts it to `pg_snapshot`); a saved
/// watermark over columns is refused like any change of cursor.
fn plan_xmin(input: &RunInput) -> Result<(Option<CursorPlan>, Option<CursorRange>)> {
    let columns = vec![XMIN_CURSOR.to_string()];
    let after = match &input.watermark {
        None => None,
        Some((cols, values)) if cols == &columns && values.len() == 1 => Some(values.clone()),
        Some((cols, _)) => {
            return Err(Error::invalid(
                "incremental",
                format!(
                    "the saved watermark is over ({}) but the task now reads by `xmin` (a snapshot); \
                     reset it (`ferry state reset`) or set the snapshot to start from (`ferry state set`)",
                    cols.join(", ")
                ),
            ));
        }
    };
    let range = CursorRange {
        columns: columns.clone(),
        cursor_len: 1,
        after: after.clone(),
        lag: None,
        auto_lag: false,
        lookback: None,
        nulls: false,
        xmin: true,
    };
    let plan = CursorPlan {
        columns,
        cursor_len: 1,
        // `xmin` is never NULL: nothing for the NULL-cursor filter to do.
        null_cursor: NullCursor::Oldest,
        after,
    };
    Ok((Some(plan), Some(range)))
}

fn plan_window(
    task: &ValidatedTask,
    schema: &TableSchema,
    output: &TableSchema,
    params: &RunParams,
) -> Result<Option<WindowRange>> {
    let Some(w) = task
        .spec
        .window
        .as_ref()
        .filter(|_| task.spec.mode == SyncMode::WindowOverwrite)
    else {
        return Ok(None);
    };
    let ty = require(schema, "window.column", &w.column)?;
    if !is_temporal(ty) {
        return Err(Error::invalid(
            "window.column",
            format!(
                "`{}` is {ty}; a window column must be a date or timestamp",
                w.column
            ),
        ));
    }
    if output.column(&w.column).map(|c| &c.ty) != Some(ty) {
        return Err(Error::invalid(
            "window.column",
            format!(
                "`{}` must reach the target under the same name and type, so the target rows of a window can be found",
                w.column
            ),
        ));
    }
    let (start, end) = params.window.ok_or_else(|| {
        Error::invalid(
            "window",
            "mode window_overwrite needs the run's window: pass --window-start and --window-end, or run it from a schedule",
        )
    })?;
    Ok(Some(WindowRange {
        column: w.column.clone(),
        start,
        end,
    }))
}

fn plan_write(
    task: &ValidatedTask,
    schema: &TableSchema,
    output: &TableSchema,
    window: Option<WindowRange>,
    params: RunParams,
) -> Result<WriteSpec> {
    let mut write = WriteSpec::plain(task.spec.mode);
    write.window = window;
    write.run = params;
    write.task = task.spec.name.clone();
    if task.spec.mode != SyncMode::IncrementalMerge {
        return Ok(write);
    }
    let merge = task.spec.merge.clone().unwrap_or_default();
    let key = match &merge.key {
        Some(k) => k.names(),
        None if !schema.primary_key.is_empty() => schema.primary_key.clone(),
        None => {
            return Err(Error::invalid(
                "merge.key",
                format!(
                    "{} has no primary key; name the columns that identify a row in `merge.key`",
                    schema.table
                ),
            ));
        }
    };
    for (i, k) in key.iter().enumerate() {
        require(output, &format!("merge.key[{i}]"), k)?;
    }
    if let Some(d) = &merge.delete_column {
        let ty = require(output, "merge.delete_column", d)?;
        if *ty != ColumnType::Bool {
            return Err(Error::invalid(
                "merge.delete_column",
                format!(
                    "`{d}` is {ty}; it must be a boolean column (an integer flag such as \
                     MariaDB's tinyint(1) becomes one with `mapping.cast: {{{d}: bool}}`)"
                ),
            ));
        }
        if key.contains(d) {
            return Err(Error::invalid(
                "merge.delete_column",
                format!("`{d}` is part of the merge key"),
            ));
        }
    }
    write.merge_key = key;
    write.delete_column = merge.delete_column;
    Ok(write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::{ColumnDef, ColumnType, TaskSpec};

    fn task(columns: Option<Vec<&str>>) -> ValidatedTask {
        let mut v = serde_json::json!({
            "name": "t",
            "source": {"type": "postgres", "url": "postgresql://h/db", "table": "a"},
            "sink": {"type": "sqlite", "path": "/tmp/x.db", "table": "b"},
            "engine": {"parallelism": 3, "splits_per_reader": 2}
        });
        if let Some(c) = columns {
            v["columns"] = serde_json::json!(c);
        }
        ferry_connectors::validate_local(&serde_json::from_value::<TaskSpec>(v).expect("spec"))
            .expect("valid")
    }

    fn schema() -> TableSchema {
        let col = |n: &str| ColumnDef {
            name: n.into(),
            ty: ColumnType::Int64,
            nullable: false,
            native_type: "bigint".into(),
            dialect: None,
        };
        TableSchema {
            table: "public.a".into(),
            columns: vec![col("id"), col("x"), col("y")],
            primary_key: vec!["id".into()],
        }
    }

    fn incremental(extra: serde_json::Value) -> Result<Plan> {
        let mut v = serde_json::json!({
            "name": "t",
            "source": {"type": "postgres", "url": "postgresql://h/db", "table": "a"},
            "sink": {"type": "sqlite", "path": "/tmp/x.db", "table": "b"},
            "mode": "incremental_merge",
        });
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        let task =
            ferry_connectors::validate_local(&serde_json::from_value::<TaskSpec>(v).expect("spec"))
                .expect("valid");
        let mut s = schema();
        s.columns.push(ColumnDef {
            name: "at".into(),
            ty: ColumnType::TimestampTz,
            nullable: true,
            native_type: "timestamptz".into(),
            dialect: None,
        });
        plan_run(&task, &s, &RunInput::default())
    }

    #[test]
    fn cursors_get_the_key_as_tie_breaker_and_typed_offsets() {
        let p = incremental(serde_json::json!({"incremental": {"cursor": "at", "lag": "30s"}}))
            .expect("plan");
        let c = p.read.filter.cursor.expect("cursor");
        assert_eq!(
            (c.columns, c.cursor_len),
            (vec!["at".to_string(), "id".to_string()], 1)
        );
        assert_eq!(c.lag, Some(CursorOffset::Micros(30_000_000)));
        assert!(!c.auto_lag);
        for lag in [serde_json::json!(null), serde_json::json!("auto")] {
            let p = incremental(serde_json::json!({"incremental": {"cursor": "at", "lag": lag}}))
                .expect("plan");
            let c = p.read.filter.cursor.expect("cursor");
            assert!(c.auto_lag && c.lag.is_none(), "{lag}");
        }
        let p = incremental(serde_json::json!({"incremental": {"cursor": "at", "lag": "0"}}))
            .expect("plan");
        let c = p.read.filter.cursor.expect("cursor");
        assert_eq!((c.lag, c.auto_lag), (Some(CursorOffset::Micros(0)), false));
        let p = incremental(serde_json::json!({"incremental": {"cursor": "at", "lag": "none"}}))
            .expect("plan");
        let c = p.read.filter.cursor.expect("cursor");
        assert_eq!((c.lag, c.auto_lag), (None, false));
        assert_eq!(p.write.merge_key, vec!["id"]);
        let e = incremental(serde_json::json!({"incremental": {"cursor": "at", "lag": "100"}}))
            .expect_err("units on time");
        assert!(e.to_string().contains("incremental.lag"), "{e}");
        let e = incremental(serde_json::json!({"incremental": {"cursor": "x", "lag": "1s"}}))
            .expect_err("time on int");
        assert!(e.to_string().contains("incremental.lag"), "{e}");
        let e = incremental(serde_json::json!({"incremental": {"cursor": "nope"}}))
            .expect_err("missing");
        assert!(e.to_string().contains("incremental.cursor[0]"), "{e}");
        let e = incremental(
            serde_json::json!({"incremental": {"cursor": "at"}, "merge": {"delete_column": "x"}}),
        )
        .expect_err("not bool");
        assert!(e.to_string().contains("merge.delete_column"), "{e}");
    }

    #[test]
    fn a_saved_watermark_over_other_columns_is_refused() {
        let spec = serde_json::from_value::<TaskSpec>(serde_json::json!({
            "name": "t",
            "source": {"type": "postgres", "url": "postgresql://h/db", "table": "a"},
            "sink": {"type": "sqlite", "path": "/tmp/x.db", "table": "b"},
            "mode": "incremental_append",
            "incremental": {"cursor": "x"}
        }))
        .expect("spec");
        let task = ferry_connectors::validate_local(&spec).expect("valid");
        let input = RunInput {
            params: RunParams::default(),
            watermark: Some((vec!["y".into(), "id".into()], vec!["1".into(), "2".into()])),
        };
        let e = plan_run(&task, &schema(), &input).expect_err("columns changed");
        assert!(e.to_string().contains("ferry state reset"), "{e}");
        let input = RunInput {
            params: RunParams::default(),
            watermark: Some((vec!["x".into(), "id".into()], vec!["1".into(), "2".into()])),
        };
        let p = plan_run(&task, &schema(), &input).expect("plan");
        assert_eq!(
            p.read.filter.cursor.expect("cursor").after,
            Some(vec!["1".into(), "2".into()])
        );
    }

    #[test]
    fn an_xmin_cursor_needs_no_column_and_keeps_the_snapshot() {
        let p = incremental(serde_json::json!({"incremental": {"cursor": "xmin"}})).expect("plan");
        let c = p.read.filter.cursor.clone().expect("cursor");
        assert!(c.xmin && c.after.is_none() && !c.nulls && !c.auto_lag && c.lag.is_none());
        assert_eq!(c.columns, vec!["xmin"]);
        assert_eq!(p.write.merge_key, vec!["id"]);
        assert!(!p.columns_needing_values().contains(&"xmin".to_string()));
        let spec = serde_json::from_value::<TaskSpec>(serde_json::json!({
            "name": "t",
            "source": {"type": "postgres", "url": "postgresql://h/db", "table": "a"},
            "sink": {"type": "sqlite", "path": "/tmp/x.db", "table": "b"},
            "mode": "incremental_append",
            "incremental": {"cursor": "xmin"}
        }))
        .expect("spec");
        let task = ferry_connectors::validate_local(&spec).expect("valid");
        let input = |cols: Vec<&str>, values: Vec<&str>| RunInput {
            params: RunParams::default(),
            watermark: Some((
                cols.into_iter().map(String::from).collect(),
                values.into_iter().map(String::from).collect(),
            )),
        };
        let p =
            plan_run(&task, &schema(), &input(vec!["xmin"], vec!["10:20:12,15"])).expect("plan");
        assert_eq!(
            p.read.filter.cursor.expect("cursor").after,
            Some(vec!["10:20:12,15".into()])
        );
        let e = plan_run(&task, &schema(), &input(vec!["x", "id"], vec!["1", "2"]))
            .expect_err("columns changed");
        assert!(e.to_string().contains("ferry state reset"), "{e}");
        for source in [
            serde_json::json!({"type": "sqlite", "path": "/tmp/a.db", "table": "a"}),
            serde_json::json!({"type": "mysql", "url": "mysql://h/db", "table": "a"}),
        ] {
            let spec = serde_json::json!({
                "name": "t",
                "source": source,
                "sink": {"type": "sqlite", "path": "/tmp/x.db", "table": "b"},
                "mode": "incremental_append",
                "incremental": {"cursor": "xmin"}
            });
            let e = ferry_connectors::validate_local(
                &serde_json::from_value::<TaskSpec>(spec).expect("spec"),
            )
            .expect_err("no xmin outside PostgreSQL");
            assert!(
                e.to_string().contains("incremental.cursor")
                    && e.to_string().contains("PostgreSQL"),
                "{source}: {e}"
            );
        }
    }

    #[test]
    fn plans_all_columns_and_split_budget() {
        let p = plan(&task(None), &schema()).expect("plan");
        assert_eq!(p.read.columns, vec!["id", "x", "y"]);
        assert_eq!(p.read.max_splits, 6);
        assert_eq!(p.parallelism, 3);
    }

    #[test]
    fn projects_and_names_missing_columns() {
        let p = plan(&task(Some(vec!["y", "id"])), &schema()).expect("plan");
        assert_eq!(p.read.columns, vec!["y", "id"]);
        assert_eq!(p.schema.primary_key, vec!["id"]);
        let err = plan(&task(Some(vec!["nope"])), &schema()).expect_err("missing");
        assert!(
            err.to_string().contains("`nope`") && err.to_string().contains("id, x, y"),
            "{err}"
        );
    }
}
