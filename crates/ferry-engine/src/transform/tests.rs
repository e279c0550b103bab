#![allow(clippy::unwrap_used)]

use super::*;
use arrow::array::{AsArray, Decimal128Array, Int64Array, StringArray};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use ferry_core::ErrorKind;
use futures::StreamExt;

fn input() -> TableSchema {
    let col = |n: &str, ty: ColumnType, native: &str| ColumnDef {
        name: n.into(),
        ty,
        nullable: n != "id",
        native_type: native.into(),
        dialect: None,
    };
    TableSchema {
        table: "public.src".into(),
        columns: vec![
            col("id", ColumnType::Int64, "bigint"),
            col(
                "name",
                ColumnType::Text {
                    max_chars: Some(100),
                    fixed: false,
                },
                "character varying(100)",
            ),
            col(
                "amount",
                ColumnType::Decimal {
                    precision: 12,
                    scale: 2,
                },
                "numeric(12,2)",
            ),
            col(
                "code",
                ColumnType::Text {
                    max_chars: None,
                    fixed: false,
                },
                "text",
            ),
        ],
        primary_key: vec!["id".into()],
    }
}

fn spec(extra: serde_json::Value) -> TaskSpec {
    let mut v = serde_json::json!({
        "name": "t",
        "source": {"type": "postgres", "url": "postgresql://h/db", "table": "src"},
        "sink": {"type": "postgres", "url": "postgresql://h/db", "table": "dst"}
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    let t: TaskSpec = serde_json::from_value(v).unwrap();
    ferry_connectors::validate_local(&t).unwrap();
    t
}

fn plan_of(extra: serde_json::Value) -> Result<TransformPlan> {
    plan_transform(&spec(extra), &input()).map(|p| p.unwrap())
}

fn batch() -> RecordBatch {
    RecordBatch::try_new(
        input().arrow_schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(StringArray::from(vec![
                Some("a"),
                None,
                Some("c"),
                Some("d"),
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(150), Some(-5), None, Some(1000)])
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
            Arc::new(StringArray::from(vec![
                Some("10"),
                Some("20"),
                None,
                Some("40"),
            ])),
        ],
    )
    .unwrap()
}

async fn run(
    plan: &TransformPlan,
    batches: Vec<RecordBatch>,
) -> (Result<Vec<RecordBatch>>, Arc<TransformCounts>) {
    let input: ferry_core::BatchStream =
        Box::pin(futures::stream::iter(batches.into_iter().map(Ok)));
    let (out, counts) = apply(Some(plan), input, ferry_core::Rejects::strict());
    let collected: Vec<Result<RecordBatch>> = out.collect().await;
    (collected.into_iter().collect(), counts.unwrap())
}

#[test]
fn no_transform_plans_nothing() {
    assert!(
        plan_transform(&spec(serde_json::json!({})), &input())
            .unwrap()
            .is_none()
    );
}

#[test]
fn mapping_derives_the_output_schema() {
    let p = plan_of(serde_json::json!({"mapping": {
        "rename": {"name": "customer", "id": "key"},
        "drop": ["amount"],
        "cast": {"code": "int32"},
        "add": {"region": "'eu'", "total": "amount * 2"}
    }, "filter": "amount > 0"}))
    .unwrap();
    let out = p.output();
    let names: Vec<&str> = out.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["key", "customer", "code", "region", "total"]);
    // Passthrough keeps varchar(100) and its native type; the renamed key stays the key.
    assert_eq!(out.columns[1].native_type, "character varying(100)");
    assert_eq!(out.columns[1].ty, input().columns[1].ty);
    assert_eq!(out.primary_key, vec!["key"]);
    assert_eq!(out.columns[2].ty, ColumnType::Int32);
    assert_eq!(
        out.columns[3].ty,
        ColumnType::Text {
            max_chars: None,
            fixed: false
        }
    );
    assert!(
        matches!(out.columns[4].ty, ColumnType::Decimal { scale: 2, .. }),
        "{:?}",
        out.columns[4]
    );
    assert!(p.sql().contains("WHERE (amount > 0)"), "{}", p.sql());
}

#[test]
fn casting_the_key_drops_it() {
    let p = plan_of(serde_json::json!({"mapping": {"cast": {"id": "decimal(20,0)"}}})).unwrap();
    assert!(p.output().primary_key.is_empty());
}

#[test]
fn unknown_columns_are_named_with_the_input_columns() {
    let err =
        plan_of(serde_json::json!({"mapping": {"rename": {"nope": "x"}}})).expect_err("rename");
    let msg = err.to_string();
    assert!(
        msg.contains("`nope`") && msg.contains("id, name, amount, code"),
        "{msg}"
    );
    let err =
        plan_of(serde_json::json!({"mapping": {"cast": {"nope": "int64"}}})).expect_err("cast");
    assert!(err.to_string().contains("`nope`"), "{err}");
    let err = plan_of(serde_json::json!({"mapping": {"add": {"x": "nope + 1"}}})).expect_err("add");
    let msg = err.to_string();
    assert!(
        msg.contains("mapping.add.x") && msg.contains("nope"),
        "{msg}"
    );
    let err = plan_of(serde_json::json!({"filter": "missing_col > 1"})).expect_err("filter");
    let msg = err.to_string();
    assert!(
        msg.contains("`filter`") && msg.contains("missing_col"),
        "{msg}"
    );
    let err = plan_of(serde_json::json!({"sql": "SELECT id, nope FROM input"})).expect_err("sql");
    let msg = err.to_string();
    assert!(msg.contains("`sql`") && msg.contains("nope"), "{msg}");
}

#[test]
fn narrowing_casts_are_rejected_at_plan_time() {
    let err =
        plan_of(serde_json::json!({"mapping": {"cast": {"id": "int16"}}})).expect_err("narrow");
    let msg = err.to_string();
    assert!(
        msg.contains("`id`") && msg.contains("int64") && msg.contains("int16"),
        "{msg}"
    );
    let err = plan_of(serde_json::json!({"mapping": {"cast": {"name": "varchar(5)"}}}))
        .expect_err("narrow text");
    assert!(err.to_string().contains("varchar(5)"), "{err}");
}

#[test]
fn invalid_sql_is_rejected_by_syntax_and_at_plan_time() {
    for (extra, needle) in [
        (serde_json::json!({"sql": "SELEC id FROM input"}), "sql"),
        (
            serde_json::json!({"sql": "SELECT 1; SELECT 2"}),
            "exactly one",
        ),
        (serde_json::json!({"sql": "DROP TABLE input"}), "SELECT"),
        (serde_json::json!({"filter": "amount >"}), "filter"),
        (
            serde_json::json!({"mapping": {"add": {"x": "1 AS y"}}}),
            "mapping.add.x",
        ),
    ] {
        let err = check_syntax(&spec(extra.clone())).expect_err("syntax");
        assert!(err.to_string().contains(needle), "{extra}: {err}");
        assert!(plan_of(extra).is_err());
    }
    let err = plan_of(serde_json::json!({"filter": "name"})).expect_err("not boolean");
    assert!(err.to_string().contains("filter"), "{err}");
}

#[test]
fn sql_passthrough_keeps_types_and_key() {
    let p = plan_of(serde_json::json!({"sql": "SELECT id, upper(name) AS name, amount FROM input WHERE amount > 0"}))
        .unwrap();
    let out = p.output();
    assert_eq!(out.primary_key, vec!["id"]);
    assert_eq!(out.columns[0].native_type, "bigint");
    assert_eq!(
        out.columns[1].ty,
        ColumnType::Text {
            max_chars: None,
            fixed: false
        }
    );
    assert_eq!(out.columns[2].native_type, "numeric(12,2)");
    let p =
        plan_of(serde_json::json!({"sql": "SELECT code, count(*) AS n FROM input GROUP BY code"}))
            .unwrap();
    assert!(p.output().primary_key.is_empty());
    assert_eq!(p.output().columns[1].ty, ColumnType::Int64);
}

#[tokio::test]
async fn mapping_runs_over_the_stream_and_counts() {
    let p = plan_of(serde_json::json!({"mapping": {
        "rename": {"name": "customer"},
        "cast": {"code": "int64"},
        "add": {"region": "'eu'"}
    }, "filter": "amount > 0"}))
    .unwrap();
    let (out, counts) = run(&p, vec![batch(), batch()]).await;
    let out = out.unwrap();
    assert_eq!(counts.rows_in(), 8);
    assert_eq!(counts.rows_out(), 4);
    for b in &out {
        assert_eq!(b.schema(), p.output().arrow_schema());
    }
    let b = arrow::compute::concat_batches(&p.output().arrow_schema(), &out).unwrap();
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values(),
        &[1, 4, 1, 4]
    );
    assert_eq!(b.column(3).as_primitive::<Int64Type>().value(1), 40);
    assert_eq!(b.column(4).as_string::<i32>().value(0), "eu");
}

#[tokio::test]
async fn unparsable_text_fails_with_column_and_value() {
    let p = plan_of(serde_json::json!({"mapping": {"cast": {"code": "int32"}}})).unwrap();
    let mut b = batch();
    let mut cols = b.columns().to_vec();
    cols[3] = Arc::new(StringArray::from(vec![
        Some("1"),
        Some("abc"),
        None,
        Some("2"),
    ]));
    b = RecordBatch::try_new(b.schema(), cols).unwrap();
    let (out, _) = run(&p, vec![b]).await;
    let err = out.expect_err("abc");
    assert_eq!(err.kind(), ErrorKind::DirtyData);
    let msg = err.to_string();
    assert!(msg.contains("`code`") && msg.contains("abc"), "{msg}");
}

#[tokio::test]
async fn reader_errors_pass_through_unchanged() {
    let p = plan_of(serde_json::json!({"filter": "amount > 0"})).unwrap();
    let input: ferry_core::BatchStream = Box::pin(futures::stream::iter(vec![
        Ok(batch()),
        Err(Error::Cancelled("stop".into())),
    ]));
    let (out, _) = apply(Some(&p), input, ferry_core::Rejects::strict());
    let res: Result<Vec<RecordBatch>> = out.collect::<Vec<_>>().await.into_iter().collect();
    assert_eq!(res.expect_err("cancelled").kind(), ErrorKind::Cancelled);
}
