//! The Iceberg connector (issue 16, item 4): PostgreSQL → Apache Iceberg
//! (Iceberg's SQL catalog on SQLite, a local warehouse) and back. What Ferry
//! committed is read by PyIceberg (`tests/lake/iceberg_peer.py`) through the
//! same catalog, never by Ferry: row counts and the SHA-256 of the canonical
//! rows equal PostgreSQL's own; each run is exactly one snapshot carrying
//! the run in its summary; a killed run adds no snapshot; a retried append of
//! an instance is not applied twice; a window rerun replaces exactly the
//! window's partitions; a table PyIceberg made is read by snapshot.
//!
//! Built with `--features ferry-cli/iceberg` (`scripts/test.sh` does); needs
//! `scripts/lake.sh start` (PyIceberg in its virtualenv) and
//! `FERRY_TEST_LAKE_PYTHON`: without it the tests fail.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

fn python() -> String {
    std::env::var("FERRY_TEST_LAKE_PYTHON")
        .expect("FERRY_TEST_LAKE_PYTHON is not set: run `scripts/lake.sh start` and export `scripts/lake.sh env`")
}

/// A catalog file and a warehouse directory of their own.
struct Lake {
    db: String,
    warehouse: String,
}

impl Lake {
    fn new() -> Lake {
        let dir = scratch_dir().join(unique("iceberg"));
        let warehouse = dir.join("warehouse");
        std::fs::create_dir_all(&warehouse).unwrap();
        Lake {
            db: dir.join("catalog.db").display().to_string(),
            warehouse: warehouse.display().to_string(),
        }
    }

    fn endpoint(&self, table: &str, extra: &str) -> String {
        format!(
            "{{type: iceberg, catalog: {{uri: \"sqlite://{}\", warehouse: \"{}\"}}, namespace: sales, table: {table}{extra}}}",
            self.db, self.warehouse
        )
    }

    /// Runs the PyIceberg peer on `sales.<table>`; panics with its stderr if it fails.
    fn peer(&self, command: &str, table: &str, args: &[&str]) -> serde_json::Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lake/iceberg_peer.py");
        let ident = format!("sales.{table}");
        let out = std::process::Command::new(python())
            .arg(script)
            .args([command, &self.db, &self.warehouse, &ident])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "iceberg_peer.py {command} {table} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    fn snapshots(&self, table: &str) -> Vec<serde_json::Value> {
        self.peer("snapshots", table, &[])["snapshots"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn expect_digest(got: &serde_json::Value, want: &Digest256) {
    assert_eq!(got["rows"].as_u64(), Some(want.rows as u64), "{got}");
    assert_eq!(got["sha256"].as_str(), Some(want.sha256.as_str()), "{got}");
}

async fn pg_types(table: &str) -> Digest256 {
    pg_digest(&format!(
        "SELECT column_name || ' ' || format_type(atttypid, atttypmod) FROM information_schema.columns c \
         JOIN pg_attribute a ON a.attrelid = '{table}'::regclass AND a.attname = c.column_name \
         WHERE c.table_name = '{table}'"
    ))
    .await
}

fn run_window(yaml: &str, start: &str, end: &str) -> Output {
    run_ferry(
        FERRY,
        &[
            "run",
            "--json",
            "--window-start",
            start,
            "--window-end",
            end,
        ],
        yaml,
    )
}

#[tokio::test]
async fn postgres_to_iceberg_and_back_one_snapshot_per_run() {
    let (src, back) = (unique("ic_src"), unique("ic_back"));
    make_typed_pg(&src, 3000).await;
    let all = pg_digest(&pg_canonical(&src)).await;
    let lake = Lake::new();
    let sink = lake.endpoint("orders", "");

    let v = run_ok(&job("ic", &pg_endpoint(&src), &sink, ""));
    assert_eq!(v["rows_committed"].as_u64(), Some(3000), "{v}");
    expect_digest(&lake.peer("digest", "orders", &[]), &all);
    let s = lake.snapshots("orders");
    assert_eq!(s.len(), 1, "one snapshot for one run: {s:?}");
    assert_eq!(s[0]["operation"], "append", "{s:?}");
    assert_eq!(s[0]["summary"]["ferry.run-id"], v["run_id"], "{s:?}");
    assert_eq!(s[0]["summary"]["ferry.task"], "ic", "{s:?}");
    assert_eq!(s[0]["summary"]["total-records"], "3000", "{s:?}");

    // Append adds one snapshot with every row again; the overwrite after it
    // leaves exactly the source's rows.
    run_ok(&job("ic", &pg_endpoint(&src), &sink, "mode: full_append\n"));
    assert_eq!(
        lake.peer("digest", "orders", &[])["rows"].as_u64(),
        Some(6000)
    );
    run_ok(&job("ic", &pg_endpoint(&src), &sink, ""));
    expect_digest(&lake.peer("digest", "orders", &[]), &all);
    let s = lake.snapshots("orders");
    assert_eq!(s.len(), 3, "{s:?}");
    assert_eq!(s[2]["operation"], "overwrite", "{s:?}");
    assert_eq!(s[2]["summary"]["deleted-data-files"], "2", "{s:?}");
    assert_eq!(s[2]["summary"]["total-records"], "3000", "{s:?}");
    assert_eq!(s[2]["summary"]["deleted-records"], "6000", "{s:?}");
    // Time travel by the peer: the second snapshot held both copies.
    let second = s[1]["id"].to_string();
    assert_eq!(
        lake.peer("digest", "orders", &[&second])["rows"].as_u64(),
        Some(6000)
    );

    // Back into PostgreSQL: the same rows and the same declared types (the
    // `ferry.types` table property).
    let v = run_ok(&job(
        "icb",
        &lake.endpoint("orders", ""),
        &pg_endpoint(&back),
        "",
    ));
    assert_eq!(v["rows_committed"].as_u64(), Some(3000), "{v}");
    assert_eq!(pg_digest(&pg_canonical(&back)).await, all);
    assert_eq!(pg_types(&back).await, pg_types(&src).await);
    // As of the second snapshot (both copies: into a table without the key).
    let both = unique("ic_both");
    pg_exec(&format!("CREATE TABLE {both} (LIKE {src})")).await;
    let v = run_ok(&job(
        "icb",
        &lake.endpoint("orders", &format!(", snapshot_id: {second}")),
        &pg_endpoint(&both),
        "",
    ));
    assert_eq!(v["rows_committed"].as_u64(), Some(6000), "{v}");
    assert_eq!(
        pg_digest(&format!(
            "SELECT DISTINCT * FROM ({}) t",
            pg_canonical(&both)
        ))
        .await,
        all
    );
}

#[tokio::test]
async fn window_overwrite_replaces_exactly_the_window_partitions() {
    let src = unique("ic_win");
    make_typed_pg(&src, 3000).await;
    let lake = Lake::new();
    let sink = lake.endpoint("events", ", partition_by: [{column: ts, transform: day}]");
    let yaml = job(
        "icw",
        &pg_endpoint(&src),
        &sink,
        "mode: window_overwrite\nwindow: {column: ts}\n",
    );
    let run = |a: &str, b: &str| {
        let out = run_window(&yaml, a, b);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    };
    let week =
        |t: &str, a: &str, b: &str| format!("{} WHERE ts >= '{a}' AND ts < '{b}'", pg_canonical(t));
    run("2001-02-03T00:00:00Z", "2001-02-10T00:00:00Z");
    run("2001-02-10T00:00:00Z", "2001-02-17T00:00:00Z");
    let second = pg_digest(&week(&src, "2001-02-10", "2001-02-17")).await;
    expect_digest(
        &lake.peer("digest", "events", &[]),
        &pg_digest(&week(&src, "2001-02-03", "2001-02-17")).await,
    );
    let schema = lake.peer("schema", "events", &[]);
    assert_eq!(
        schema["partition"],
        serde_json::json!([["ts_day", "day"]]),
        "{schema}"
    );

    // The source changes in both weeks; the first week's rerun replaces
    // exactly its partitions, in one overwrite snapshot.
    pg_exec(&format!(
        "UPDATE {src} SET note = 'changed' WHERE id % 7 = 0; DELETE FROM {src} WHERE id % 10 = 0"
    ))
    .await;
    let before = lake.snapshots("events").len();
    run("2001-02-03T00:00:00Z", "2001-02-10T00:00:00Z");
    let s = lake.snapshots("events");
    assert_eq!(s.len(), before + 1);
    assert_eq!(s.last().unwrap()["operation"], "overwrite", "{s:?}");
    let first = pg_digest(&week(&src, "2001-02-03", "2001-02-10")).await;
    let back = unique("ic_win_back");
    run_ok(&job(
        "icwb",
        &lake.endpoint("events", ""),
        &pg_endpoint(&back),
        "",
    ));
    assert_eq!(
        pg_digest(&week(&back, "2001-02-03", "2001-02-10")).await,
        first
    );
    assert_eq!(
        pg_digest(&week(&back, "2001-02-10", "2001-02-17")).await,
        second
    );

    // A window that would cut a partition in two is refused, naming it.
    let monthly = lake.endpoint(
        "monthly",
        ", partition_by: [{column: ts, transform: month}]",
    );
    let yaml_m = job(
        "icm",
        &pg_endpoint(&src),
        &monthly,
        "mode: window_overwrite\nwindow: {column: ts}\n",
    );
    let out = run_window(&yaml_m, "2001-02-01T00:00:00Z", "2001-03-01T00:00:00Z");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run_window(&yaml_m, "2001-02-03T00:00:00Z", "2001-02-10T00:00:00Z");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("straddles"), "{}", out.stderr);
    // Unpartitioned on the window column: refused before anything is written.
    let flat = lake.endpoint("flat", "");
    run_ok(&job("icf", &pg_endpoint(&src), &flat, ""));
    let out = run_window(
        &job(
            "icf",
            &pg_endpoint(&src),
            &flat,
            "mode: window_overwrite\nwindow: {column: ts}\n",
        ),
        "2001-02-03T00:00:00Z",
        "2001-02-10T00:00:00Z",
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("partitioned on `ts`"), "{}", out.stderr);
    assert_eq!(lake.snapshots("flat").len(), 1);
}

#[tokio::test]
async fn a_killed_run_adds_no_snapshot_and_a_retried_append_is_not_applied_twice() {
    const ROWS: u64 = 1_500_000;
    let (small, big) = (unique("ic_small"), unique("ic_big"));
    make_typed_pg(&small, 10).await;
    make_wide_pg(&big, ROWS).await;
    let lake = Lake::new();
    let sink = lake.endpoint("kill", ", file_bytes: 1048576");
    run_ok(&job("ick", &pg_endpoint(&small), &sink, ""));
    let held = pg_digest(&pg_canonical(&small)).await;
    let data = std::path::Path::new(&lake.warehouse).join("sales/kill/data");
    let count = |d: &std::path::Path| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    let before = count(&data);

    let big_job = job("ick", &pg_endpoint(&big), &sink, "");
    signal_mid_copy_when(&big_job, "KILL", ROWS, &|| count(&data) > before);
    assert_eq!(lake.snapshots("kill").len(), 1);
    expect_digest(&lake.peer("digest", "kill", &[]), &held);
    run_ok(&big_job);
    assert_eq!(lake.snapshots("kill").len(), 2);
    expect_digest(
        &lake.peer("digest", "kill", &[]),
        &pg_digest(&pg_canonical(&big)).await,
    );

    // An append of one instance (a window), run twice: applied once.
    let yaml = job(
        "ica",
        &pg_endpoint(&small),
        &lake.endpoint("retry", ""),
        "mode: full_append\n",
    );
    for _ in 0..2 {
        let out = run_window(&yaml, "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z");
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let s = lake.snapshots("retry");
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(
        s[0]["summary"]["ferry.instance"],
        "ica@2026-11-25T00:00:00+00:00/2026-11-26T00:00:00+00:00"
    );
    expect_digest(&lake.peer("digest", "retry", &[]), &held);
}

#[tokio::test]
async fn a_table_pyiceberg_made_is_read_by_snapshot_and_snapshot_range() {
    let (src, back) = (unique("ic_py_src"), unique("ic_py_back"));
    make_typed_pg(&src, 3000).await;
    let lake = Lake::new();
    for first in ["1", "1001", "2001"] {
        lake.peer("append", "py", &[first, "1000"]);
    }
    let s = lake.snapshots("py");
    assert_eq!(s.len(), 3, "{s:?}");
    expect_digest(
        &lake.peer("digest", "py", &[]),
        &pg_digest(&pg_canonical(&src)).await,
    );
    let (s1, s2) = (s[0]["id"].to_string(), s[1]["id"].to_string());

    // Only what the second and third snapshots added.
    let v = run_ok(&job(
        "icp",
        &lake.endpoint("py", &format!(", snapshots: {{after: {s1}}}")),
        &pg_endpoint(&back),
        "",
    ));
    assert_eq!(v["rows_committed"].as_u64(), Some(2000), "{v}");
    assert_eq!(
        pg_digest(&pg_canonical(&back)).await,
        pg_digest(&format!("{} WHERE id > 1000", pg_canonical(&src))).await
    );
    // The second snapshot as it was.
    let v = run_ok(&job(
        "icp",
        &lake.endpoint("py", &format!(", snapshot_id: {s2}")),
        &pg_endpoint(&back),
        "",
    ));
    assert_eq!(v["rows_committed"].as_u64(), Some(2000), "{v}");
    assert_eq!(
        pg_digest(&pg_canonical(&back)).await,
        pg_digest(&format!("{} WHERE id <= 2000", pg_canonical(&src))).await
    );
    // Ferry appends to PyIceberg's table; PyIceberg reads both writers' rows.
    run_ok(&job(
        "icp2",
        &pg_endpoint(&src),
        &lake.endpoint("py", ""),
        "mode: full_append\n",
    ));
    assert_eq!(lake.peer("digest", "py", &[])["rows"].as_u64(), Some(6000));
}

#[tokio::test]
async fn bad_input_names_the_problem_and_leaves_the_table_as_it_was() {
    let src = unique("ic_bad");
    make_typed_pg(&src, 100).await;
    let lake = Lake::new();
    let sink = lake.endpoint("t", "");
    run_ok(&job("icx", &pg_endpoint(&src), &sink, ""));
    let held = lake.peer("digest", "t", &[]);

    let other = unique("ic_other");
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {other}; CREATE TABLE {other} (id bigint, extra text, span interval); \
         INSERT INTO {other} VALUES (1, 'x', '1 day')"
    ))
    .await;
    // A column Iceberg cannot keep.
    let err = run_err(&job(
        "icx",
        &pg_endpoint(&other),
        &lake.endpoint("u", ""),
        "",
    ));
    assert!(err.contains("span") && err.contains("interval"), "{err}");
    // An existing table whose columns do not fit.
    let narrow = unique("ic_narrow");
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {narrow}; CREATE TABLE {narrow} (id bigint, extra text); \
         INSERT INTO {narrow} VALUES (1, 'x')"
    ))
    .await;
    let err = run_err(&job(
        "icx",
        &pg_endpoint(&narrow),
        &sink,
        "mode: full_append\n",
    ));
    assert!(err.contains("extra"), "{err}");
    // A relative catalog path.
    let err = run_err(&job(
        "icx",
        &pg_endpoint(&src),
        "{type: iceberg, catalog: {uri: \"sqlite://catalog.db\", warehouse: /tmp}, namespace: a, table: b}",
        "",
    ));
    assert!(err.contains("catalog.uri"), "{err}");
    // Encoded characters sqlx would decode into another path: refused.
    let err = run_err(&job(
        "icx",
        &pg_endpoint(&src),
        &format!(
            "{{type: iceberg, catalog: {{uri: \"sqlite://{}%2F..%2Fx.db\", warehouse: \"{}\"}}, namespace: a, table: b}}",
            lake.db, lake.warehouse
        ),
        "",
    ));
    assert!(err.contains("catalog.uri") && err.contains('%'), "{err}");
    assert_eq!(lake.snapshots("t").len(), 1);
    assert_eq!(lake.peer("digest", "t", &[]), held);
}
