//! Unit tests of task validation, against the stand-in connectors of `testing`.

use super::*;

fn sample() -> TaskSpec {
    serde_json::from_value(serde_json::json!({
        "name": "orders",
        "source": {"type": "db", "url": "postgresql://u:secret@127.0.0.1/db", "table": "public.orders"},
        "sink": {"type": "file", "path": "/tmp/x.db", "table": "orders"}
    }))
    .expect("valid sample")
}

#[test]
fn defaults_apply_and_validate_passes() {
    let t = sample();
    assert_eq!(t.mode, SyncMode::FullOverwrite);
    assert_eq!(t.engine, EngineOptions::default());
    let v = t.check().expect("valid");
    assert_eq!(v.source.dataset().name, "public.orders");
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
}

#[test]
fn limits_are_checked_with_the_field_name() {
    let mut t = sample();
    t.engine.parallelism = 0;
    let err = t.check().expect_err("out of range");
    assert!(err.to_string().contains("engine.parallelism"), "{err}");
    let mut t = sample();
    t.columns = Some(vec!["a".into(), "a".into()]);
    assert!(
        t.check()
            .expect_err("dup")
            .to_string()
            .contains("columns[1]")
    );
    let mut t = sample();
    t.name = "bad name".into();
    assert!(t.check().expect_err("name").to_string().contains("`name`"));
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
            .check()
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
        with(json!({"mode": "incremental_merge", "incremental": {"cursor": ["u", "v"]}})).is_ok()
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
    assert!(with(json!({"source_filter": "t >= ${window_start} AND t < ${window_end}"})).is_ok());
}

#[test]
fn declared_columns_only_where_the_source_needs_them() {
    let with = |source: serde_json::Value, columns: serde_json::Value| {
        serde_json::from_value::<TaskSpec>(serde_json::json!({
            "name": "t", "source": source, "columns": columns,
            "sink": {"type": "file", "path": "/tmp/x.db", "table": "b"}
        }))
        .expect("parses")
        .check()
    };
    let field = |r: Result<ValidatedTask>| match r {
        Err(Error::InvalidConfig { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    };
    let db = serde_json::json!({"type": "db", "url": "u", "table": "a"});
    let stream = serde_json::json!({"type": "stream", "topic": "orders", "table": "a"});
    use serde_json::json;
    assert_eq!(
        field(with(
            db.clone(),
            json!(["id", {"name": "v", "type": "text"}])
        )),
        "columns[1]"
    );
    assert!(
        with(db, json!(["id", "v"]))
            .expect("names")
            .declared_schema
            .is_none()
    );
    assert_eq!(field(with(stream.clone(), json!(null))), "columns");
    assert_eq!(
        field(with(
            stream.clone(),
            json!([{"name": "id", "type": "int64"}, "v"])
        )),
        "columns[1]"
    );
    assert_eq!(
        field(with(
            stream.clone(),
            json!([{"name": "id", "type": "int65"}])
        )),
        "columns[0].type"
    );
    let v = with(
        stream,
        json!([{"name": "id", "type": "int64", "nullable": false}, {"name": "amount", "type": "decimal(12,2)"}]),
    )
    .expect("declared");
    let s = v.declared_schema.expect("schema");
    assert_eq!(s.columns.len(), 2);
    assert_eq!(s.columns[0].ty, crate::ColumnType::Int64);
    assert!(!s.columns[0].nullable && s.columns[1].nullable);
    assert_eq!(s.columns[1].ty.to_string(), "decimal(12,2)");
}

#[test]
fn same_table_is_rejected() {
    let t: TaskSpec = serde_json::from_value(serde_json::json!({
        "name": "loop",
        "source": {"type": "db", "url": "postgresql://h/db", "table": "t"},
        "sink": {"type": "db", "url": "postgresql://h/db", "table": "t"}
    }))
    .expect("parses");
    assert!(t.check().expect_err("same").to_string().contains("`sink`"));
}

#[test]
fn json_schema_documents_every_field() {
    let s = task_json_schema().to_string();
    for needle in [
        "parallelism",
        "batch_bytes",
        "full_overwrite",
        "SourceSpec",
        "SinkSpec",
    ] {
        assert!(s.contains(needle), "schema lacks {needle}");
    }
    assert!(s.contains("additionalProperties"));
}

#[test]
fn xmin_cursor_needs_a_source_that_declares_it() {
    let with = |source: serde_json::Value, mode: &str| {
        let mut v = serde_json::to_value(sample()).expect("json");
        v["source"] = source;
        v["mode"] = serde_json::json!(mode);
        v["incremental"] = serde_json::json!({"cursor": "xmin"});
        serde_json::from_value::<TaskSpec>(v)
            .expect("parses")
            .check()
    };
    let db = serde_json::json!({"type": "db", "url": "postgresql://h/db", "table": "t"});
    with(db.clone(), "incremental_append").expect("db takes xmin");
    with(db, "incremental_merge").expect("db takes xmin");
    let file = serde_json::json!({"type": "file", "path": "/tmp/a.db", "table": "t"});
    match with(file, "incremental_append") {
        Err(Error::InvalidConfig { field, message }) => {
            assert_eq!(field, "incremental.cursor");
            assert!(
                message.contains("PostgreSQL") && message.contains("file"),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
