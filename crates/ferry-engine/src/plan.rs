//! The pure planning step: from a validated task and the discovered source
//! schema to the projected schema and read options. No I/O.

use ferry_core::connector::ReadOptions;
use ferry_core::{Result, TableSchema, ValidatedTask};

use crate::transform::{TransformPlan, plan_transform};

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
}

/// Plans a run of `task` over a source with `source_schema`; errors name
/// missing columns and list the ones that exist.
pub fn plan(task: &ValidatedTask, source_schema: &TableSchema) -> Result<Plan> {
    let spec = &task.spec;
    let schema = match &spec.columns {
        Some(cols) => source_schema.project(cols)?,
        None => source_schema.clone(),
    };
    let transform = plan_transform(spec, &schema)?;
    let output_schema = transform
        .as_ref()
        .map_or_else(|| schema.clone(), |t| t.output().clone());
    let e = &spec.engine;
    Ok(Plan {
        read: ReadOptions {
            columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
            max_splits: e.parallelism.saturating_mul(e.splits_per_reader),
            min_rows_per_split: e.min_rows_per_split,
            batch_bytes: e.batch_bytes as usize,
        },
        parallelism: e.parallelism as usize,
        channel_depth: e.channel_depth as usize,
        transform,
        output_schema,
        schema,
    })
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
        serde_json::from_value::<TaskSpec>(v)
            .expect("spec")
            .validate()
            .expect("valid")
    }

    fn schema() -> TableSchema {
        let col = |n: &str| ColumnDef {
            name: n.into(),
            ty: ColumnType::Int64,
            nullable: false,
            native_type: "bigint".into(),
        };
        TableSchema {
            table: "public.a".into(),
            columns: vec![col("id"), col("x"), col("y")],
            primary_key: vec!["id".into()],
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
