//! Field mapping and transforms end to end: the real `ferry` binary between
//! the real PostgreSQL and MariaDB, checked by content. The expected rows are
//! computed by PostgreSQL applying the same transformation to the source with
//! its own SQL; the target's rows by the target database.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

/// Runs a job that must succeed; returns the JSON summary (rows may be filtered).
fn run_json(yaml: &str) -> serde_json::Value {
    let out = run_ferry(FERRY, &["run", "--json"], yaml);
    assert_eq!(
        out.code, 0,
        "ferry run failed:\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["rows_written"], v["rows_committed"], "{v}");
    let read = v["rows_read"].as_u64().unwrap();
    let filtered = v["rows_filtered"].as_u64().unwrap();
    let dirty = v["rows_dirty"].as_u64().unwrap();
    assert_eq!(
        read - filtered - dirty,
        v["rows_committed"].as_u64().unwrap(),
        "{v}"
    );
    v
}

async fn pg_count(sql: &str) -> i64 {
    pg().await.query_one(sql, &[]).await.unwrap().get(0)
}

async fn pg_exists(table: &str) -> bool {
    pg().await
        .query_one(&format!("SELECT to_regclass('{table}') IS NOT NULL"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn pg_to_mariadb_rename_drop_cast_add_filter_by_content() {
    let (src, dst) = (unique("tm_src"), unique("tm_dst"));
    make_typed_pg(&src, 3000).await;
    let mapping = r#"mapping:
  rename: {name: customer}
  drop: [note, f, flag]
  cast: {amount: "decimal(14,4)"}
  add: {region: "'eu'", double_amount: "amount * 2"}
filter: "amount > 0 AND name IS NOT NULL"
"#;
    let v = run_json(&job("tm", &pg_endpoint(&src), &my_endpoint(&dst), mapping));
    let kept = pg_count(&format!(
        "SELECT count(*) FROM {src} WHERE amount > 0 AND name IS NOT NULL"
    ))
    .await;
    assert_eq!(v["rows_read"], 3000, "{v}");
    assert_eq!(v["rows_committed"].as_i64().unwrap(), kept, "{v}");
    assert_eq!(v["rows_filtered"].as_i64().unwrap(), 3000 - kept, "{v}");
    assert!(
        kept > 1000 && kept < 3000,
        "the filter should drop some rows: {kept}"
    );

    let expected = pg_digest(&format!(
        "SELECT concat_ws('|', id::text, name, amount::numeric(14,4)::text, \
         coalesce(to_char(d,'YYYY-MM-DD'),'~'), coalesce(to_char(ts,'YYYY-MM-DD HH24:MI:SS.US'),'~'), \
         'eu', (amount * 2)::text) FROM {src} WHERE amount > 0 AND name IS NOT NULL"
    ))
    .await;
    let actual = my_digest(&format!(
        "SELECT concat_ws('|', id, customer, cast(amount as char), \
         coalesce(date_format(d,'%Y-%m-%d'),'~'), coalesce(date_format(ts,'%Y-%m-%d %H:%i:%s.%f'),'~'), \
         region, cast(double_amount as char)) FROM `{dst}`"
    ))
    .await;
    assert_eq!(actual, expected, "PG -> MariaDB mapped content differs");

    // Types: renamed varchar(100) kept its length, the cast gave decimal(14,4),
    // dropped columns are gone, the untouched key is still the key.
    let cols = my_digest(&format!(
        "SELECT concat_ws(':', column_name, column_type, column_key) FROM information_schema.columns \
         WHERE table_schema = database() AND table_name = '{dst}'"
    ))
    .await;
    let expected_cols = digest(
        [
            "id:bigint(20):PRI",
            "customer:varchar(100):",
            "amount:decimal(14,4):",
            "d:date:",
            "ts:datetime(6):",
            "region:longtext:",
            "double_amount:decimal(33,2):",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    assert_eq!(cols, expected_cols, "target columns of {dst} differ");
}

#[tokio::test]
async fn pg_to_pg_and_mariadb_sql_transform_by_content() {
    let (src, dst, mdst) = (unique("ts_src"), unique("ts_dst"), unique("ts_my"));
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY, name varchar(40), amount numeric(12,2));
         INSERT INTO {src} SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'name-' || g || '-abc' END,
                (g % 50 - 10) * 1.25 FROM generate_series(1, 4000) g;
         ANALYZE {src};"
    ))
    .await;
    let sql = "sql: \"SELECT id, upper(name) AS name, amount + 1 AS amount1 FROM input WHERE amount > 0\"\n";
    let expected = pg_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(upper(name),'~'), amount + 1) FROM {src} WHERE amount > 0"
    ))
    .await;
    let v = run_json(&job("ts", &pg_endpoint(&src), &pg_endpoint(&dst), sql));
    assert_eq!(
        v["rows_committed"].as_u64().unwrap() as usize,
        expected.rows,
        "{v}"
    );
    assert_eq!(
        v["rows_filtered"].as_u64().unwrap() as usize,
        4000 - expected.rows,
        "{v}"
    );
    let actual = pg_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(name,'~'), amount1) FROM {dst}"
    ))
    .await;
    assert_eq!(actual, expected, "PG -> PG SQL transform content differs");
    // The passthrough key is still the key of the created target.
    let pk: i64 = pg_count(&format!(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = '{dst}'::regclass AND contype = 'p'"
    ))
    .await;
    assert_eq!(pk, 1);

    run_json(&job("ts", &pg_endpoint(&src), &my_endpoint(&mdst), sql));
    let actual = my_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(name,'~'), cast(amount1 as char)) FROM `{mdst}`"
    ))
    .await;
    assert_eq!(
        actual, expected,
        "PG -> MariaDB SQL transform content differs"
    );
}

#[tokio::test]
async fn text_parses_and_zoned_timestamps_are_exact() {
    let (src, dst) = (unique("tp_src"), unique("tp_dst"));
    pg_exec(&format!(
        "CREATE TABLE {src} (id int PRIMARY KEY, code text, day text, price text, ts timestamp, small int2);
         INSERT INTO {src} SELECT g, (g::bigint * 1000003)::text, to_char(date '2020-02-28' + g, 'YYYY-MM-DD'),
                CASE WHEN g % 9 = 0 THEN NULL ELSE (g * 0.25)::text END,
                timestamp '2021-03-28 00:30:00' + g * interval '17 minutes 0.000001 seconds', g % 300
           FROM generate_series(1, 2500) g;"
    ))
    .await;
    let mapping = r#"mapping:
  cast:
    code: int64
    day: date
    price: "decimal(10,2)"
    small: int64
    ts: {to: timestamptz, time_zone: "+02:00"}
"#;
    let v = run_json(&job("tp", &pg_endpoint(&src), &pg_endpoint(&dst), mapping));
    assert_eq!(v["rows_filtered"], 0, "{v}");
    let types = pg_digest(&format!(
        "SELECT column_name || ':' || data_type FROM information_schema.columns WHERE table_name = '{dst}'"
    ))
    .await;
    let want = digest(
        [
            "id:integer",
            "code:bigint",
            "day:date",
            "price:numeric",
            "ts:timestamp with time zone",
            "small:bigint",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    assert_eq!(types, want);
    let expected = pg_digest(&format!(
        "SELECT concat_ws('|', id, code::bigint, day::date, coalesce(price::numeric(10,2)::text,'~'), \
         extract(epoch from ts AT TIME ZONE '+02:00'), small) FROM {src}"
    ))
    .await;
    // Note: PostgreSQL's POSIX-style zone '+02:00' means UTC-2, so compare with
    // the ISO offset spelled as an interval instead.
    let expected_iso = pg_digest(&format!(
        "SELECT concat_ws('|', id, code::bigint, day::date, coalesce(price::numeric(10,2)::text,'~'), \
         extract(epoch from (ts - interval '2 hours') AT TIME ZONE 'UTC'), small) FROM {src}"
    ))
    .await;
    let actual = pg_digest(&format!(
        "SELECT concat_ws('|', id, code, day, coalesce(price::text,'~'), extract(epoch from ts), small) FROM {dst}"
    ))
    .await;
    assert_eq!(actual, expected_iso, "parsed/zoned content differs");
    assert_ne!(expected, expected_iso);
}

#[tokio::test]
async fn missing_mapping_column_is_named_and_target_unchanged() {
    let (src, dst) = (unique("mm_src"), unique("mm_dst"));
    make_typed_pg(&src, 200).await;
    run_json(&job("mm", &pg_endpoint(&src), &pg_endpoint(&dst), ""));
    let q = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&q).await;
    for (extra, needle) in [
        ("mapping: {rename: {nope: x}}\n", "`nope`"),
        ("mapping: {drop: [gone]}\n", "`gone`"),
        ("mapping: {cast: {missing: int64}}\n", "`missing`"),
        ("mapping: {add: {x: \"nope_col + 1\"}}\n", "nope_col"),
        ("filter: \"absent > 1\"\n", "absent"),
        ("sql: \"SELECT id, nothere FROM input\"\n", "nothere"),
    ] {
        let err = run_err(&job("mm", &pg_endpoint(&src), &pg_endpoint(&dst), extra));
        assert!(err.contains(needle), "{extra}: {err}");
        // The error lists what the input has.
        assert!(
            err.contains("amount"),
            "{extra}: input columns not listed: {err}"
        );
        assert_eq!(pg_digest(&q).await, before, "{extra}: target changed");
    }
}

#[tokio::test]
async fn unparsable_text_fails_the_run_naming_column_and_value() {
    let (src, dst) = (unique("up_src"), unique("up_dst"));
    pg_exec(&format!(
        "CREATE TABLE {src} (id int PRIMARY KEY, code text);
         INSERT INTO {src} SELECT g, g::text FROM generate_series(1, 3000) g;"
    ))
    .await;
    let mapping = "mapping: {cast: {code: int32}}\n";
    run_json(&job("up", &pg_endpoint(&src), &pg_endpoint(&dst), mapping));
    let q = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&q).await;
    assert_eq!(before.rows, 3000);
    pg_exec(&format!("UPDATE {src} SET code = 'abc' WHERE id = 2222")).await;
    let err = run_err(&job("up", &pg_endpoint(&src), &pg_endpoint(&dst), mapping));
    assert!(
        err.contains("dirty_data") && err.contains("`code`") && err.contains("abc"),
        "{err}"
    );
    assert_eq!(pg_digest(&q).await, before, "target changed");
    // Also into a new MariaDB target: nothing is created.
    let mdst = unique("up_my");
    let err = run_err(&job("up", &pg_endpoint(&src), &my_endpoint(&mdst), mapping));
    assert!(err.contains("abc"), "{err}");
    let n = my_digest(&format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = database() AND table_name = '{mdst}'"
    ))
    .await;
    assert_eq!(n.rows, 0, "a failed run left its target");
}

#[tokio::test]
async fn values_that_do_not_cast_go_to_dirty_data_with_a_policy() {
    let (src, dst) = (unique("cd_src"), unique("cd_dst"));
    // 3,000 rows; every 100th code is not a number, every 150th has a
    // fraction the cast to decimal(8,1) would cut.
    pg_exec(&format!(
        "CREATE TABLE {src} (id int PRIMARY KEY, code text, price text);
         INSERT INTO {src}
         SELECT g,
                CASE WHEN g % 100 = 0 THEN 'x' || g ELSE g::text END,
                CASE WHEN g % 150 = 75 THEN g || '.25' ELSE g || '.5' END
           FROM generate_series(1, 3000) g;"
    ))
    .await;
    let path = scratch_dir().join(format!("{}.jsonl", unique("cast_dirty")));
    let extra = format!(
        "mapping: {{rename: {{code: code_num}}, cast: {{code_num: int32, price: \"decimal(8,1)\"}}}}\n\
         filter: \"id <= 2900\"\n\
         dirty: {{max_rows: 100, sink: {{type: jsonl, path: \"{}\"}}}}\n",
        path.display()
    );
    let v = run_json(&job("cd", &pg_endpoint(&src), &my_endpoint(&dst), &extra));
    // ids ≤ 2900: 29 not numbers, 19 with two decimals (75, 225, …, 2775).
    assert_eq!(
        (
            v["rows_read"].as_u64(),
            v["rows_filtered"].as_u64(),
            v["rows_dirty"].as_u64(),
            v["rows_committed"].as_u64()
        ),
        (Some(3000), Some(100), Some(48), Some(2900 - 48)),
        "{v}"
    );
    let recs: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 48);
    for r in &recs {
        let id: i64 = r["position"].as_str().unwrap()["id=".len()..]
            .parse()
            .unwrap();
        let (column, reason) = if id % 100 == 0 {
            ("code_num", "conversion")
        } else {
            assert_eq!(id % 150, 75, "{r}");
            ("price", "truncation")
        };
        assert_eq!(
            (r["column"].as_str().unwrap(), r["reason"].as_str().unwrap()),
            (column, reason),
            "{r}"
        );
        assert_eq!(r["row"]["id"], serde_json::json!(id));
    }
    assert_eq!(
        my_digest(&format!(
            "SELECT concat_ws('|', id, code_num, price) FROM `{dst}`"
        ))
        .await,
        pg_digest(&format!(
            "SELECT concat_ws('|', id, code, price) FROM {src} \
             WHERE id <= 2900 AND id % 100 <> 0 AND id % 150 <> 75"
        ))
        .await
    );
}

#[tokio::test]
async fn narrowing_cast_is_rejected_before_any_write() {
    let (src, dst) = (unique("nc_src"), unique("nc_dst"));
    make_typed_pg(&src, 50).await;
    let err = run_err(&job(
        "nc",
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mapping: {cast: {id: int16}}\n",
    ));
    assert!(
        err.contains("`id`") && err.contains("int64") && err.contains("int16"),
        "{err}"
    );
    let err = run_err(&job(
        "nc",
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mapping: {cast: {ts: timestamptz}}\n",
    ));
    assert!(err.contains("`ts`") && err.contains("time_zone"), "{err}");
    assert!(!pg_exists(&dst).await, "a rejected run created its target");
}

#[test]
fn invalid_sql_and_types_are_rejected_at_validate_time() {
    let base = |extra: &str| job("iv", &pg_endpoint("a"), &pg_endpoint("b"), extra);
    for (extra, needle) in [
        ("sql: \"SELEC id FROM input\"\n", "`sql`"),
        ("sql: \"DELETE FROM input\"\n", "SELECT"),
        ("filter: \"amount >\"\n", "`filter`"),
        ("mapping: {add: {x: \"1 +\"}}\n", "mapping.add.x"),
        (
            "mapping: {cast: {amount: \"decimal(99,2)\"}}\n",
            "mapping.cast.amount",
        ),
        ("mapping: {renam: {a: b}}\n", "renam"),
        (
            "sql: \"SELECT * FROM input\"\nfilter: \"id > 1\"\n",
            "either",
        ),
    ] {
        let out = run_ferry(FERRY, &["validate"], &base(extra));
        assert_eq!(out.code, 2, "{extra}: {out:?}");
        assert!(out.stderr.contains(needle), "{extra}: {}", out.stderr);
    }
    let out = run_ferry(
        FERRY,
        &["validate"],
        &base(
            "mapping: {rename: {name: customer}, cast: {amount: \"decimal(14,4)\"}}\nfilter: \"amount > 0\"\n",
        ),
    );
    assert_eq!(out.code, 0, "{out:?}");
}
