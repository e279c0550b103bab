//! Dirty data end to end: values the target cannot hold exactly are routed
//! to the dirty sink with their reason and key, the good rows arrive, counts
//! are exact, and crossing a threshold fails the run with the target unchanged.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

/// 2,000 rows; every 10th is dirty for the target below, in one of three ways.
async fn make_source(src: &str) {
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY, code text, qty bigint, price numeric(12,4));
         INSERT INTO {src}
         SELECT g,
                CASE WHEN g % 30 = 0 THEN 'much-too-long-code-' || g ELSE 'c' || g END,
                CASE WHEN g % 30 = 10 THEN 100000 + g ELSE g % 100 END,
                CASE WHEN g % 30 = 20 THEN g + 0.1234 ELSE g + 0.5 END
           FROM generate_series(1, 2000) g;"
    ))
    .await;
}

async fn make_target(dst: &str) {
    pg_exec(&format!(
        "CREATE TABLE {dst} (id bigint PRIMARY KEY, code varchar(8), qty smallint, price numeric(10,2));
         INSERT INTO {dst} VALUES (-1, 'old', 1, 1.00);"
    ))
    .await;
}

fn dirty_job(src: &str, dst: &str, policy: &str) -> String {
    job(
        "dirty",
        &pg_endpoint(src),
        &pg_endpoint(dst),
        &format!("dirty: {policy}\n"),
    )
}

#[tokio::test]
async fn ten_percent_bad_rows_go_to_the_dirty_sink_with_reason_and_key() {
    let (src, dst) = (unique("d_src"), unique("d_dst"));
    make_source(&src).await;
    make_target(&dst).await;
    let path = scratch_dir().join(format!("{}.jsonl", unique("dirty")));
    let v = run_ok(&dirty_job(
        &src,
        &dst,
        &format!(
            "{{max_rows: 500, sink: {{type: jsonl, path: \"{}\"}}}}",
            path.display()
        ),
    ));
    assert_eq!(
        (
            v["rows_read"].as_u64(),
            v["rows_dirty"].as_u64(),
            v["rows_committed"].as_u64()
        ),
        (Some(2000), Some(200), Some(1800)),
        "{v}"
    );
    let recs = records(&path);
    assert_eq!(recs.len(), 200);
    for r in &recs {
        let id: i64 = r["position"]
            .as_str()
            .unwrap()
            .strip_prefix("id=")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(id % 10, 0, "{r}");
        let (column, reason) = match id % 30 {
            0 => ("code", "truncation"),
            10 => ("qty", "overflow"),
            _ => ("price", "truncation"),
        };
        assert_eq!(
            (r["column"].as_str().unwrap(), r["reason"].as_str().unwrap()),
            (column, reason),
            "{r}"
        );
        assert_eq!(r["row"]["id"], serde_json::json!(id), "{r}");
        assert_eq!(r["task"], "dirty");
        assert_eq!(r["run_id"], v["run_id"]);
    }
    // The good rows arrived exactly; the old content was replaced.
    let canon = |t: &str, filter: &str| {
        format!("SELECT concat_ws('|', id, code, qty, price::numeric(12,2)) FROM {t} {filter}")
    };
    assert_eq!(
        pg_digest(&canon(&dst, "")).await,
        pg_digest(&canon(&src, "WHERE id % 10 <> 0")).await
    );
}

#[tokio::test]
async fn crossing_max_rows_fails_the_run_keeps_the_target_and_records_the_rows() {
    let (src, dst) = (unique("dm_src"), unique("dm_dst"));
    make_source(&src).await;
    make_target(&dst).await;
    let q = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&q).await;
    let path = scratch_dir().join(format!("{}.jsonl", unique("dirty")));
    let err = run_err(&dirty_job(
        &src,
        &dst,
        &format!(
            "{{max_rows: 50, sink: {{type: jsonl, path: \"{}\"}}}}",
            path.display()
        ),
    ));
    assert!(err.contains("exceed dirty.max_rows = 50"), "{err}");
    assert_eq!(pg_digest(&q).await, before, "target changed");
    assert!(
        records(&path).len() >= 51,
        "dirty rows of the failed run were not recorded"
    );
}

#[tokio::test]
async fn crossing_max_ratio_fails_before_publish() {
    let (src, dst) = (unique("dr_src"), unique("dr_dst"));
    make_source(&src).await;
    make_target(&dst).await;
    let q = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&q).await;
    let path = scratch_dir().join(format!("{}.jsonl", unique("dirty")));
    let err = run_err(&dirty_job(
        &src,
        &dst,
        &format!(
            "{{max_ratio: 0.05, sink: {{type: jsonl, path: \"{}\"}}}}",
            path.display()
        ),
    ));
    assert!(
        err.contains("200 of 2000 rows are dirty (10.00%), above dirty.max_ratio = 0.05"),
        "{err}"
    );
    assert_eq!(pg_digest(&q).await, before, "target changed");
    assert_eq!(records(&path).len(), 200);
}

#[tokio::test]
async fn without_a_policy_the_first_dirty_value_fails_the_run_naming_it() {
    let (src, dst) = (unique("d0_src"), unique("d0_dst"));
    make_source(&src).await;
    make_target(&dst).await;
    let q = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&q).await;
    let err = run_err(&job("dirty", &pg_endpoint(&src), &pg_endpoint(&dst), ""));
    assert!(err.contains("dirty data in column"), "{err}");
    assert!(err.contains("exceed dirty.max_rows = 0"), "{err}");
    assert_eq!(pg_digest(&q).await, before);
}

#[test]
fn allowing_dirty_rows_without_a_sink_is_rejected_at_validate() {
    let out = run_ferry(FERRY, &["validate"], &dirty_job("a", "b", "{max_rows: 10}"));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("dirty.sink"), "{}", out.stderr);
}

#[tokio::test]
async fn dirty_rows_can_go_to_a_table_in_another_database() {
    let (src, dst, dirty_tbl) = (unique("dt_src"), unique("dt_dst"), unique("dt_dirty"));
    make_source(&src).await;
    make_target(&dst).await;
    let policy = format!(
        "{{max_rows: 500, sink: {{type: table, target: {}}}}}",
        my_endpoint(&dirty_tbl)
    );
    let v = run_ok(&dirty_job(&src, &dst, &policy));
    assert_eq!(v["rows_dirty"], 200, "{v}");
    let by_reason = my_digest(&format!(
        "SELECT concat_ws('|', reason, column_name, count(*)) FROM `{dirty_tbl}` GROUP BY reason, column_name"
    ))
    .await;
    let expected = digest(vec![
        "truncation|code|66".into(),
        "overflow|qty|67".into(),
        "truncation|price|67".into(),
    ]);
    assert_eq!(by_reason, expected);
    let keys = my_digest(&format!(
        "SELECT concat_ws('|', position, JSON_VALUE(`row`, '$.id'), run_id) FROM `{dirty_tbl}`"
    ))
    .await;
    let run_id = v["run_id"].as_str().unwrap();
    let expected: Vec<String> = (1..=2000)
        .filter(|i| i % 10 == 0)
        .map(|i| format!("id={i}|{i}|{run_id}"))
        .collect();
    assert_eq!(keys, digest(expected));
    // A failed run records its dirty rows too, in their own transaction.
    let policy = format!(
        "{{max_rows: 5, sink: {{type: table, target: {}}}}}",
        my_endpoint(&dirty_tbl)
    );
    run_err(&dirty_job(&src, &dst, &policy));
    let total = my_digest(&format!("SELECT CAST(count(*) AS CHAR) FROM `{dirty_tbl}`")).await;
    assert_eq!(total, digest(vec!["206".into()]));
}

#[tokio::test]
async fn narrower_mariadb_columns_route_misfits_to_dirty_data() {
    let (src, dst) = (unique("dmy_src"), unique("dmy_dst"));
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY, code text, qty bigint);
         INSERT INTO {src}
         SELECT g, CASE WHEN g % 20 = 0 THEN 'much-too-long-' || g ELSE 'c' || g END,
                CASE WHEN g % 20 = 10 THEN 40000 + g ELSE g END
           FROM generate_series(1, 1000) g;"
    ))
    .await;
    my_exec(&format!(
        "CREATE TABLE `{dst}` (id bigint PRIMARY KEY, code varchar(8), qty smallint)"
    ))
    .await;
    let path = scratch_dir().join(format!("{}.jsonl", unique("dirty")));
    let v = run_ok(&job(
        "dirty_my",
        &pg_endpoint(&src),
        &my_endpoint(&dst),
        &format!(
            "dirty: {{max_rows: 100, sink: {{type: jsonl, path: \"{}\"}}}}\n",
            path.display()
        ),
    ));
    assert_eq!(
        (v["rows_dirty"].as_u64(), v["rows_committed"].as_u64()),
        (Some(100), Some(900)),
        "{v}"
    );
    let recs = records(&path);
    assert_eq!(recs.len(), 100);
    assert!(recs.iter().all(|r| {
        let id: i64 = r["position"].as_str().unwrap()[3..].parse().unwrap();
        match id % 20 {
            0 => r["column"] == "code" && r["reason"] == "truncation",
            10 => r["column"] == "qty" && r["reason"] == "overflow",
            _ => false,
        }
    }));
    assert_eq!(
        my_digest(&format!(
            "SELECT concat_ws('|', id, code, qty) FROM `{dst}`"
        ))
        .await,
        pg_digest(&format!(
            "SELECT concat_ws('|', id, code, qty) FROM {src} WHERE id % 10 <> 0"
        ))
        .await
    );
}

/// The records of every Parquet file in `dir`, as JSON objects.
fn parquet_records(dir: &std::path::Path) -> (Vec<std::path::PathBuf>, Vec<serde_json::Value>) {
    use arrow::array::{Array, AsArray};
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for f in &files {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(f).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            for i in 0..batch.num_rows() {
                let mut obj = serde_json::Map::new();
                for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                    let v = if col.is_null(i) {
                        serde_json::Value::Null
                    } else if let Some(s) = col.as_string_opt::<i32>() {
                        serde_json::Value::String(s.value(i).to_string())
                    } else {
                        let ints = col.as_primitive::<arrow::datatypes::Int64Type>();
                        serde_json::Value::from(ints.value(i))
                    };
                    obj.insert(field.name().clone(), v);
                }
                out.push(serde_json::Value::Object(obj));
            }
        }
    }
    (files, out)
}

#[tokio::test]
async fn a_parquet_dirty_sink_gets_one_file_per_run_with_every_record() {
    let (src, dst) = (unique("dp_src"), unique("dp_dst"));
    make_source(&src).await;
    make_target(&dst).await;
    let dir = scratch_dir().join(unique("dirty_parquet"));
    let policy = format!(
        "{{max_rows: 500, sink: {{type: parquet, dir: \"{}\"}}}}",
        dir.display()
    );
    let v = run_ok(&dirty_job(&src, &dst, &policy));
    assert_eq!(v["rows_dirty"].as_u64(), Some(200), "{v}");
    let (files, recs) = parquet_records(&dir);
    assert_eq!(
        files,
        vec![dir.join(format!("{}.parquet", v["run_id"].as_str().unwrap()))]
    );
    assert_eq!(recs.len(), 200);
    let mut ids: Vec<i64> = recs
        .iter()
        .map(|r| {
            assert_eq!(r["task"], "dirty");
            assert_eq!(r["run_id"], v["run_id"]);
            let id: i64 = r["position"].as_str().unwrap()[3..].parse().unwrap();
            let expected = match id % 30 {
                0 => ("code", "truncation"),
                10 => ("qty", "overflow"),
                _ => ("price", "truncation"),
            };
            assert_eq!(
                (
                    r["column_name"].as_str().unwrap(),
                    r["reason"].as_str().unwrap()
                ),
                expected,
                "{r}"
            );
            let row: serde_json::Value = serde_json::from_str(r["row"].as_str().unwrap()).unwrap();
            assert_eq!(row["id"], serde_json::json!(id));
            id
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=200).map(|i| i * 10).collect::<Vec<i64>>());

    // A second run that crosses the threshold fails, leaves the target as
    // the first run published it, and still gets its own complete file.
    let q = format!("SELECT t::text FROM {dst} t ORDER BY id");
    let before = pg_digest(&q).await;
    let policy = format!(
        "{{max_rows: 20, sink: {{type: parquet, dir: \"{}\"}}}}",
        dir.display()
    );
    let err = run_err(&dirty_job(&src, &dst, &policy));
    assert!(err.contains("dirty.max_rows = 20"), "{err}");
    assert_eq!(pg_digest(&q).await, before);
    let (files, recs) = parquet_records(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(recs.len(), 200 + 21);
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")
    }));
}
