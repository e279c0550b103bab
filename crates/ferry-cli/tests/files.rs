//! The files connector (issue 16, items 1–2): PostgreSQL → Parquet on an
//! S3-compatible server (moto) and in a local directory, in Hive-style
//! partitions of the run's window, and back. What Ferry wrote is read by
//! pyarrow (`tests/lake/peer.py`), never by Ferry: row counts and the
//! SHA-256 of the canonical rows equal PostgreSQL's own; the manifest's
//! checksums equal the files' bytes; a rerun of a window replaces exactly
//! its partition; a failed run leaves the dataset as it was.
//!
//! Needs `scripts/lake.sh start` (moto and pyarrow; `scripts/test.sh` runs
//! it) and its `FERRY_TEST_S3_ENDPOINT`/`FERRY_TEST_LAKE_PYTHON`: without
//! them the tests fail.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::time::{Duration, Instant};

fn s3_endpoint() -> String {
    std::env::var("FERRY_TEST_S3_ENDPOINT")
        .expect("FERRY_TEST_S3_ENDPOINT is not set: run `scripts/lake.sh start` and export `scripts/lake.sh env`")
}

/// Runs the independent reader; panics with its stderr if it fails.
fn peer(args: &[&str]) -> String {
    let python = std::env::var("FERRY_TEST_LAKE_PYTHON")
        .expect("FERRY_TEST_LAKE_PYTHON is not set: run `scripts/lake.sh start` and export `scripts/lake.sh env`");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lake/peer.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args(args)
        .env("FERRY_TEST_S3_ENDPOINT", s3_endpoint())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "peer.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn peer_json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&peer(args)).unwrap()
}

/// A new bucket on the S3 server.
fn bucket() -> String {
    let name = unique("ferry").replace('_', "-").to_lowercase();
    peer(&["mkbucket", &name]);
    name
}

fn s3_sink(url: &str, extra: &str) -> String {
    format!(
        "{{type: files, url: \"{url}\", s3: {{endpoint: \"{}\", path_style: true, access_key_id: test, secret_access_key: test}}{extra}}}",
        s3_endpoint()
    )
}

const DAY: &str = ", partition: {window: \"dt=%Y-%m-%d\"}";

/// `ferry run --json` over the window `[start, end)` (RFC 3339).
fn run_between(yaml: &str, start: &str, end: &str) -> Output {
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

/// `ferry run --json` of a windowed run of whole days; asserts success.
fn run_window(yaml: &str, day: &str, next: &str) -> serde_json::Value {
    let out = run_between(
        yaml,
        &format!("{day}T00:00:00Z"),
        &format!("{next}T00:00:00Z"),
    );
    assert_eq!(
        out.code, 0,
        "ferry run failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    serde_json::from_str(&out.stdout).unwrap()
}

fn expect_digest(got: &serde_json::Value, want: &Digest256) {
    assert_eq!(got["rows"].as_u64(), Some(want.rows as u64), "{got}");
    assert_eq!(got["sha256"].as_str(), Some(want.sha256.as_str()), "{got}");
}

/// The manifest of `partition_url` lists exactly the partition's data
/// files, with their rows and the SHA-256 of their bytes.
fn check_manifest(partition_url: &str, rows: u64) {
    let manifest: serde_json::Value = serde_json::from_str(&peer(&[
        "cat",
        &format!("{partition_url}/_ferry_manifest.json"),
    ]))
    .unwrap();
    assert_eq!(manifest["rows"].as_u64(), Some(rows), "{manifest}");
    let files = peer_json(&["meta", partition_url]);
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(
        listed.len(),
        files.as_array().unwrap().len(),
        "{manifest} vs {files}"
    );
    for f in files.as_array().unwrap() {
        let name = f["file"].as_str().unwrap();
        let entry = listed
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the manifest {manifest}"));
        assert_eq!(entry["rows"], f["rows"], "{name}");
        assert_eq!(entry["sha256"], f["sha256"], "{name}");
    }
    let objects: Vec<String> = serde_json::from_value(peer_json(&["ls", partition_url])).unwrap();
    assert!(objects.iter().any(|o| o == "_SUCCESS"), "{objects:?}");
}

/// Every object under the dataset, hidden ones included.
fn objects(url: &str) -> Vec<String> {
    serde_json::from_value(peer_json(&["ls", url])).unwrap()
}

#[tokio::test]
async fn postgres_to_parquet_on_s3_by_window_partition_and_back() {
    let (src, back25, back26) = (unique("fs_src"), unique("fs_back25"), unique("fs_back26"));
    make_typed_pg(&src, 3000).await;
    let all = pg_digest(&pg_canonical(&src)).await;
    let upto2000 = pg_digest(&format!("{} WHERE id <= 2000", pg_canonical(&src))).await;
    let upto1000 = pg_digest(&format!("{} WHERE id <= 1000", pg_canonical(&src))).await;
    let b = bucket();
    let url = format!("s3://{b}/orders");
    let sink = s3_sink(&url, DAY);

    let v = run_window(
        &job("fs", &pg_endpoint(&src), &sink, ""),
        "2026-11-25",
        "2026-11-26",
    );
    assert_eq!(v["rows_committed"].as_u64(), Some(3000), "{v}");
    let got = peer_json(&["digest", &url]);
    expect_digest(&got, &all);
    assert_eq!(got["partitions"], serde_json::json!(["dt=2026-11-25"]));
    check_manifest(&format!("{url}/dt=2026-11-25"), 3000);
    assert!(
        !objects(&url)
            .iter()
            .any(|o| o.starts_with("_ferry/staging")),
        "{:?}",
        objects(&url)
    );

    // Back into PostgreSQL through the files source, pruned to the window.
    let v = run_window(
        &job("fsb", &s3_sink(&url, DAY), &pg_endpoint(&back25), ""),
        "2026-11-25",
        "2026-11-26",
    );
    assert_eq!(v["rows_committed"].as_u64(), Some(3000), "{v}");
    assert_eq!(pg_digest(&pg_canonical(&back25)).await, all);

    // The next day, from a smaller source: a second partition.
    pg_exec(&format!("DELETE FROM {src} WHERE id > 2000")).await;
    run_window(
        &job("fs", &pg_endpoint(&src), &sink, ""),
        "2026-11-26",
        "2026-11-27",
    );
    let got = peer_json(&["digest", &url]);
    assert_eq!(
        got["partitions"],
        serde_json::json!(["dt=2026-11-25", "dt=2026-11-26"])
    );
    assert_eq!(got["rows"].as_u64(), Some(5000), "{got}");

    // A rerun of the first day replaces exactly its partition.
    pg_exec(&format!("DELETE FROM {src} WHERE id > 1000")).await;
    run_window(
        &job("fs", &pg_endpoint(&src), &sink, ""),
        "2026-11-25",
        "2026-11-26",
    );
    expect_digest(
        &peer_json(&["digest", &format!("{url}/dt=2026-11-25")]),
        &upto1000,
    );
    expect_digest(
        &peer_json(&["digest", &format!("{url}/dt=2026-11-26")]),
        &upto2000,
    );
    check_manifest(&format!("{url}/dt=2026-11-25"), 1000);
    check_manifest(&format!("{url}/dt=2026-11-26"), 2000);

    // The source reads only the window's partition.
    let v = run_window(
        &job("fsb", &s3_sink(&url, DAY), &pg_endpoint(&back26), ""),
        "2026-11-26",
        "2026-11-27",
    );
    assert_eq!(v["rows_committed"].as_u64(), Some(2000), "{v}");
    assert_eq!(pg_digest(&pg_canonical(&back26)).await, upto2000);
    // Column types survive the round trip (Ferry's types in the files' Arrow schema).
    let types = |t: String| async move {
        pg_digest(&format!(
            "SELECT column_name || ' ' || format_type(atttypid, atttypmod) FROM information_schema.columns c \
             JOIN pg_attribute a ON a.attrelid = '{t}'::regclass AND a.attname = c.column_name \
             WHERE c.table_name = '{t}'"
        ))
        .await
    };
    assert_eq!(types(back26.clone()).await, types(src.clone()).await);
}

#[tokio::test]
async fn local_directory_append_overwrite_file_and_row_group_sizes() {
    let src = unique("fl_src");
    make_typed_pg(&src, 20_000).await;
    let want = pg_digest(&pg_canonical(&src)).await;
    let dir = scratch_dir().join(unique("fl_lake"));
    let url = dir.display().to_string();
    let sink = format!(
        "{{type: files, url: \"{url}\", row_group_bytes: 65536, file_bytes: 262144, compression: lz4}}"
    );
    for mode in ["full_append", "full_append"] {
        let v = run_ok(&job(
            "fl",
            &pg_endpoint(&src),
            &sink,
            &format!("mode: {mode}\n"),
        ));
        assert_eq!(v["rows_committed"].as_u64(), Some(20_000), "{v}");
    }
    let got = peer_json(&["digest", &url]);
    assert_eq!(got["rows"].as_u64(), Some(40_000), "{got}");
    check_manifest(&url, 40_000);
    let meta = peer_json(&["meta", &url]);
    let files = meta.as_array().unwrap();
    assert!(files.len() > 2, "file_bytes makes several files: {meta}");
    assert!(
        files.iter().any(|f| f["row_groups"].as_u64().unwrap() > 1),
        "row_group_bytes makes several row groups: {meta}"
    );

    let v = run_ok(&job(
        "fl",
        &pg_endpoint(&src),
        &sink,
        "mode: full_overwrite\n",
    ));
    assert_eq!(v["rows_committed"].as_u64(), Some(20_000), "{v}");
    expect_digest(&peer_json(&["digest", &url]), &want);
    check_manifest(&url, 20_000);

    // Read back with a split per group of row groups, in parallel.
    let one = scratch_dir().join(unique("fl_one"));
    let single = format!(
        "{{type: files, url: \"{}\", row_group_bytes: 65536}}",
        one.display()
    );
    run_ok(&job("fl1", &pg_endpoint(&src), &single, ""));
    let back = unique("fl_back");
    let source = format!("{{type: files, url: \"{}\"}}", one.display());
    let v = run_ok(&job("flb", &source, &pg_endpoint(&back), ""));
    let splits = v["splits"].as_array().unwrap();
    assert!(
        splits.len() > 1,
        "one file, several row groups, several splits: {v}"
    );
    assert!(
        splits.iter().all(|s| s["rows"].as_u64().unwrap() > 0),
        "{v}"
    );
    assert_eq!(pg_digest(&pg_canonical(&back)).await, want);
}

#[tokio::test]
async fn bad_input_names_the_problem_and_leaves_the_dataset_as_it_was() {
    let (src, other, with_interval) = (unique("fb_src"), unique("fb_other"), unique("fb_iv"));
    make_typed_pg(&src, 100).await;
    pg_exec(&format!(
        "CREATE TABLE {other} (id bigint PRIMARY KEY, x text); INSERT INTO {other} VALUES (1, 'a');
         CREATE TABLE {with_interval} (id int, iv interval); INSERT INTO {with_interval} VALUES (1, '1 day');"
    ))
    .await;

    // An endpoint nobody listens on: a clear error within the retry budget.
    let started = Instant::now();
    let err = run_err(&job(
        "fbu",
        &pg_endpoint(&src),
        "{type: files, url: \"s3://nobody/x\", s3: {endpoint: \"http://127.0.0.1:9\", path_style: true, access_key_id: a, secret_access_key: b}}",
        "",
    ));
    assert!(err.contains("s3://nobody/x"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "{:?}",
        started.elapsed()
    );

    // A bucket that does not exist.
    let missing = format!("{}-missing", unique("ferry").replace('_', "-"));
    let err = run_err(&job(
        "fbm",
        &pg_endpoint(&src),
        &s3_sink(&format!("s3://{missing}/x"), ""),
        "",
    ));
    assert!(
        err.contains(&missing) && err.to_lowercase().contains("bucket"),
        "{err}"
    );

    // An existing dataset whose columns differ: refused, nothing changed.
    let dir = scratch_dir().join(unique("fb_lake"));
    let url = dir.display().to_string();
    let sink = format!("{{type: files, url: \"{url}\"}}");
    run_ok(&job("fbs", &pg_endpoint(&src), &sink, ""));
    let before = objects(&url);
    let err = run_err(&job(
        "fbs2",
        &pg_endpoint(&other),
        &sink,
        "mode: full_append\n",
    ));
    assert!(err.contains("`x`") && err.contains("`name`"), "{err}");
    assert_eq!(objects(&url), before);

    // A partition layout that is not one, and a type Parquet cannot hold.
    let err = run_err(&job(
        "fbp",
        &pg_endpoint(&src),
        &format!("{{type: files, url: \"{url}\", partition: {{window: \"dt=../%Y\"}}}}"),
        "",
    ));
    assert!(err.contains("sink.partition.window"), "{err}");
    let err = run_err(&job(
        "fbi",
        &pg_endpoint(&with_interval),
        &format!(
            "{{type: files, url: \"{}\"}}",
            scratch_dir().join(unique("fb_iv")).display()
        ),
        "",
    ));
    assert!(err.contains("`iv`") && err.contains("cast"), "{err}");
    // A partitioned sink without a window says what it needs.
    let err = run_err(&job(
        "fbw",
        &pg_endpoint(&src),
        &s3_sink(&format!("s3://{}/x", bucket()), DAY),
        "",
    ));
    assert!(err.contains("--window-start"), "{err}");
    assert_eq!(objects(&url), before);
}

/// SIGKILL while the run's files are being written: nothing of the run is
/// visible (the dataset lists exactly what it held; its staged files stay
/// hidden under `_ferry/` until a run removes them as stale), the metastore
/// has no partition of it (PySpark lists only the earlier one), and the
/// rerun publishes every row exactly once and registers its partition.
#[tokio::test]
async fn a_killed_run_leaves_the_dataset_and_metastore_as_they_were_and_the_rerun_is_exact() {
    const ROWS: u64 = 1_500_000;
    let (small, big) = (unique("fk_small"), unique("fk_big"));
    make_typed_pg(&small, 10).await;
    make_wide_pg(&big, ROWS).await;
    let dir = scratch_dir().join(unique("fk_lake"));
    let url = dir.display().to_string();
    let (db, table) = (unique("ferry_kdb"), unique("killed"));
    let sink = format!(
        "{{type: files, url: \"{url}\", file_bytes: 1048576, row_group_bytes: 262144, \
         partition: {{window: \"dt=%Y-%m-%d\"}}, \
         hive: {{metastore: \"thrift://{}\", database: {db}, table: {table}}}}}",
        hms()
    );
    run_window(
        &job("fk", &pg_endpoint(&small), &sink, ""),
        "2026-11-25",
        "2026-11-26",
    );
    let before = objects(&url);
    let held = peer_json(&["count", &url]);
    assert_eq!(held["rows"].as_u64(), Some(10), "{held}");

    let staging = dir.join("_ferry").join("staging");
    let staged_files = || {
        walk(&staging)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "parquet"))
    };
    signal_run_when(
        &[
            "run",
            "--window-start",
            "2026-11-26T00:00:00Z",
            "--window-end",
            "2026-11-27T00:00:00Z",
        ],
        &job("fk", &pg_endpoint(&big), &sink, ""),
        "KILL",
        ROWS,
        &staged_files,
    );
    let visible = |objects: &[String]| -> Vec<String> {
        objects
            .iter()
            .filter(|o| !o.starts_with("_ferry/"))
            .cloned()
            .collect()
    };
    assert_eq!(
        visible(&objects(&url)),
        visible(&before),
        "the killed run changed the visible dataset"
    );
    assert_eq!(peer_json(&["count", &url]), held);
    let seen = spark(&format!("{db}.{table}"));
    assert_eq!(
        seen["partitions"],
        serde_json::json!(["dt=2026-11-25"]),
        "{seen}"
    );
    assert_eq!(seen["rows"].as_u64(), Some(10), "{seen}");

    let v = run_window(
        &job("fk", &pg_endpoint(&big), &sink, ""),
        "2026-11-26",
        "2026-11-27",
    );
    assert_eq!(v["rows_committed"].as_u64(), Some(ROWS), "{v}");
    let day = format!("{url}/dt=2026-11-26");
    let got = peer_json(&["count", &day]);
    assert_eq!(got["rows"].as_u64(), Some(ROWS), "{got}");
    assert_eq!(got["distinct_id"].as_u64(), Some(ROWS), "{got}");
    assert_eq!(got["sum_id"].as_u64(), Some(ROWS * (ROWS + 1) / 2), "{got}");
    check_manifest(&day, ROWS);
    let seen = spark(&format!("{db}.{table}"));
    assert_eq!(
        seen["partitions"],
        serde_json::json!(["dt=2026-11-25", "dt=2026-11-26"]),
        "{seen}"
    );
    assert_eq!(seen["rows"].as_u64(), Some(ROWS + 10), "{seen}");
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn hms() -> String {
    std::env::var("FERRY_TEST_HMS").expect(
        "FERRY_TEST_HMS is not set: run `scripts/hive.sh start` and export `scripts/hive.sh env`",
    )
}

/// PySpark's view of a Hive table (through the metastore).
fn spark(table: &str) -> serde_json::Value {
    let python = std::env::var("FERRY_TEST_SPARK_PYTHON")
        .expect("FERRY_TEST_SPARK_PYTHON is not set: run `scripts/hive.sh start` and export `scripts/hive.sh env`");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lake/spark_peer.py");
    let out = std::process::Command::new(python)
        .args([script, &hms(), table])
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "spark_peer.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The sink registers an external Parquet table and its partitions in a
/// real Hive Metastore (2.3.10); PySpark lists the partitions and reads the
/// rows through it. A rerun of a window alters its partition; a metastore
/// that is down, or a table of other columns, fails the run before anything
/// is written.
#[tokio::test]
async fn hive_metastore_registration_is_read_by_spark() {
    let src = unique("fh_src");
    make_typed_pg(&src, 2000).await;
    let (db, table) = (unique("ferry_db"), unique("orders"));
    let dir = scratch_dir().join(unique("fh_lake"));
    let url = dir.display().to_string();
    let sink = |metastore: &str, t: &str| {
        format!(
            "{{type: files, url: \"{url}\", partition: {{window: \"dt=%Y-%m-%d\"}}, \
             hive: {{metastore: \"thrift://{metastore}\", database: {db}, table: {t}}}}}"
        )
    };
    let yaml = job("fh", &pg_endpoint(&src), &sink(&hms(), &table), "");
    run_window(&yaml, "2026-11-25", "2026-11-26");
    pg_exec(&format!("DELETE FROM {src} WHERE id > 500")).await;
    run_window(&yaml, "2026-11-26", "2026-11-27");
    // A rerun of the first day: its partition now holds the 500 rows.
    run_window(&yaml, "2026-11-25", "2026-11-26");
    let seen = spark(&format!("{db}.{table}"));
    assert_eq!(
        seen["partitions"],
        serde_json::json!(["dt=2026-11-25", "dt=2026-11-26"]),
        "{seen}"
    );
    assert_eq!(seen["rows"].as_u64(), Some(1000), "{seen}");
    assert_eq!(
        seen["rows_per_partition"]["2026-11-25"].as_u64(),
        Some(500),
        "{seen}"
    );
    assert_eq!(seen["sum_id"].as_u64(), Some(2 * 500 * 501 / 2), "{seen}");
    let pg_amount: String = pg()
        .await
        .query_one(&format!("SELECT (2 * sum(amount))::text FROM {src}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        seen["sum_amount"].as_str(),
        Some(pg_amount.as_str()),
        "{seen}"
    );

    // Read back through the metastore: only its partitions, pruned by the
    // window; a directory it does not list is not read.
    let stray = dir.join("dt=2026-12-01");
    std::fs::create_dir_all(&stray).unwrap();
    let some_file = walk(&dir.join("dt=2026-11-26"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    std::fs::copy(&some_file, stray.join("part-stray.parquet")).unwrap();
    let source = format!(
        "{{type: files, url: \"{url}\", partition: {{window: \"dt=%Y-%m-%d\"}}, \
         hive: {{metastore: \"thrift://{}\", database: {db}, table: {table}}}}}",
        hms()
    );
    let (back_all, back_day) = (unique("fh_back"), unique("fh_back_day"));
    // Both days hold ids 1-500: all partitions go into a table without a key.
    pg_exec(&format!("CREATE TABLE {back_all} (LIKE {src})")).await;
    let v = run_ok(&job(
        "fhr",
        &source,
        &pg_endpoint(&back_all),
        "mode: full_append\n",
    ));
    assert_eq!(v["rows_committed"].as_u64(), Some(1000), "{v}");
    let v = run_window(
        &job("fhr", &source, &pg_endpoint(&back_day), ""),
        "2026-11-26",
        "2026-11-27",
    );
    assert_eq!(v["rows_committed"].as_u64(), Some(500), "{v}");
    assert_eq!(
        pg_digest(&pg_canonical(&back_day)).await,
        pg_digest(&pg_canonical(&src)).await
    );
    std::fs::remove_dir_all(&stray).unwrap();

    // The metastore down: refused before a file is written.
    let before = objects(&url);
    let window = [
        "run",
        "--window-start",
        "2026-11-27T00:00:00Z",
        "--window-end",
        "2026-11-28T00:00:00Z",
    ];
    let out = run_ferry(
        FERRY,
        &window,
        &job("fh2", &pg_endpoint(&src), &sink("127.0.0.1:9", &table), ""),
    );
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("Hive Metastore thrift://127.0.0.1:9"),
        "{}",
        out.stderr
    );
    // A table of other columns: refused, naming them.
    let other = unique("fh_other");
    pg_exec(&format!(
        "CREATE TABLE {other} (id bigint, x text); INSERT INTO {other} VALUES (1, 'a')"
    ))
    .await;
    let out = run_ferry(
        FERRY,
        &window,
        &job("fh3", &pg_endpoint(&other), &sink(&hms(), &table), ""),
    );
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("x string") && out.stderr.contains(&table),
        "{}",
        out.stderr
    );
    assert_eq!(objects(&url), before);
}

/// Partitions from a column after the window's (`dt=…/region=…/`), Hive
/// style: the values name the directories (escaped as Hive does, NULL as
/// `__HIVE_DEFAULT_PARTITION__`) and are not in the files; pyarrow's Hive
/// partitioning reads the same values back; an empty string is a dirty
/// row; the files source restores the column with its type; an overwrite
/// replaces only the partitions the run writes.
#[tokio::test]
async fn column_partitions_in_hive_layout() {
    let (src, back) = (unique("fc_src"), unique("fc_back"));
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY, region varchar(10), amount numeric(12,2), note text);
         INSERT INTO {src} SELECT g, (ARRAY['eu', 'us', 'a/b=c', NULL])[g % 4 + 1], g * 1.25, 'n' || g
           FROM generate_series(1, 400) g;
         INSERT INTO {src} VALUES (401, '', 1.00, 'empty region');"
    ))
    .await;
    let dir = scratch_dir().join(unique("fc_lake"));
    let url = dir.display().to_string();
    let dirty = scratch_dir().join(format!("{}.jsonl", unique("fc_dirty")));
    let sink = format!(
        "{{type: files, url: \"{url}\", partition: {{window: \"dt=%Y-%m-%d\", columns: [region]}}}}"
    );
    let policy = format!(
        "dirty: {{max_rows: 5, sink: {{type: jsonl, path: \"{}\"}}}}\n",
        dirty.display()
    );
    let v = run_window(
        &job("fc", &pg_endpoint(&src), &sink, &policy),
        "2026-11-25",
        "2026-11-26",
    );
    assert_eq!(
        (v["rows_committed"].as_u64(), v["rows_dirty"].as_u64()),
        (Some(400), Some(1)),
        "{v}"
    );
    let recs = records(&dirty);
    assert_eq!(recs[0]["column"], "region", "{recs:?}");
    assert_eq!(recs[0]["row"]["id"], 401, "{recs:?}");
    let mut partitions: Vec<String> = objects(&url)
        .into_iter()
        .filter(|o| o.ends_with("/_SUCCESS"))
        .collect();
    partitions.sort();
    assert_eq!(
        partitions,
        [
            "dt=2026-11-25/region=__HIVE_DEFAULT_PARTITION__/_SUCCESS",
            "dt=2026-11-25/region=a%2Fb%3Dc/_SUCCESS",
            "dt=2026-11-25/region=eu/_SUCCESS",
            "dt=2026-11-25/region=us/_SUCCESS",
        ]
    );
    // The files hold no region column; pyarrow's Hive partitioning gives it back.
    let meta = peer_json(&["meta", &url]);
    assert!(
        meta.as_array().unwrap().iter().all(|f| !f["schema"]
            .as_str()
            .unwrap()
            .lines()
            .any(|l| l.starts_with("region:"))),
        "{meta}"
    );
    let want = |rows: Vec<tokio_postgres::Row>| -> serde_json::Value {
        rows.iter()
            .map(|r| {
                serde_json::json!([
                    r.get::<_, i64>(0).to_string(),
                    r.get::<_, Option<String>>(1).unwrap_or_else(|| "~".into()),
                    r.get::<_, String>(2)
                ])
            })
            .collect::<Vec<_>>()
            .into()
    };
    let pg_rows = pg()
        .await
        .query(
            &format!("SELECT id, region, amount::text FROM {src} WHERE id <= 400 ORDER BY id"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        peer_json(&["rows", &url, "id,region,amount"]),
        want(pg_rows)
    );

    // Back to PostgreSQL: the region column restored, typed.
    let source = format!(
        "{{type: files, url: \"{url}\", partition: {{window: \"dt=%Y-%m-%d\", columns: [region]}}}}"
    );
    let v = run_window(
        &job("fcb", &source, &pg_endpoint(&back), ""),
        "2026-11-25",
        "2026-11-26",
    );
    assert_eq!(v["rows_committed"].as_u64(), Some(400), "{v}");
    let q = |t: &str| {
        format!(
            "SELECT concat_ws('|', id, coalesce(region, '~'), amount, note) FROM {t} WHERE id <= 400"
        )
    };
    assert_eq!(pg_digest(&q(&back)).await, pg_digest(&q(&src)).await);
    let region_type: String = pg()
        .await
        .query_one(
            &format!("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{back}'::regclass AND attname = 'region'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(region_type, "character varying(10)");

    // An overwrite from only the eu rows replaces the eu partition alone.
    pg_exec(&format!("UPDATE {src} SET amount = 0 WHERE region = 'eu'")).await;
    let eu_only = "source_filter: \"region = 'eu'\"\n";
    run_window(
        &job("fc", &pg_endpoint(&src), &sink, eu_only),
        "2026-11-25",
        "2026-11-26",
    );
    let got = peer_json(&["count", &url]);
    assert_eq!(got["rows"].as_u64(), Some(400), "{got}");
    let rows = peer_json(&["rows", &url, "id,region,amount"]);
    for r in rows.as_array().unwrap() {
        let zero = r[2] == "0.00";
        assert_eq!(zero, r[1] == "eu", "{r}");
    }
}

/// Two runs appending into one partition at the same time: the partition
/// lock makes one publish wait for the other, so the partition holds both
/// runs' rows (neither sweeps the other's files); a lock left by a run
/// that died long ago is taken over; a rerun of a window replaces its own
/// appended files.
#[tokio::test]
async fn concurrent_publishes_into_one_partition_keep_both_runs() {
    let (a, b) = (unique("fl2_a"), unique("fl2_b"));
    pg_exec(&format!(
        "CREATE TABLE {a} (id bigint PRIMARY KEY, v text);
         INSERT INTO {a} SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
         CREATE TABLE {b} (id bigint PRIMARY KEY, v text);
         INSERT INTO {b} SELECT g, md5(g::text) FROM generate_series(30001, 60000) g;"
    ))
    .await;
    let dir = scratch_dir().join(unique("fl2_lake"));
    let url = dir.display().to_string();
    let sink = format!("{{type: files, url: \"{url}\", partition: {{window: \"dt=%Y-%m-%d\"}}}}");
    // A lock a dead run left two hours ago on this partition.
    let locks = dir.join("_ferry").join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    let key = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"dt=2026-11-25"))
    };
    let stale = chrono::Utc::now() - chrono::Duration::hours(2);
    std::fs::write(
        locks.join(format!("{key}.lock")),
        format!(
            "{{\"run_id\":\"dead\",\"attempt\":\"x\",\"taken_at\":\"{}\"}}",
            stale.to_rfc3339()
        ),
    )
    .unwrap();
    let runs: Vec<_> = [(&a, "03"), (&b, "04")]
        .into_iter()
        .map(|(t, hour)| {
            let yaml = job("fl2", &pg_endpoint(t), &sink, "mode: full_append\n");
            let start = format!("2026-11-25T{hour}:00:00Z");
            let end = format!("2026-11-25T{hour}:30:00Z");
            std::thread::spawn(move || run_between(&yaml, &start, &end))
        })
        .collect();
    for r in runs {
        let out = r.join().unwrap();
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    let got = peer_json(&["count", &url]);
    assert_eq!(got["rows"].as_u64(), Some(60_000), "{got}");
    assert_eq!(got["distinct_id"].as_u64(), Some(60_000), "{got}");
    check_manifest(&format!("{url}/dt=2026-11-25"), 60_000);
    assert!(walk(&locks).is_empty(), "{:?}", walk(&locks));

    // A rerun of one of those windows (a retry, a backfill) replaces its own
    // files: appending is idempotent per window.
    let out = run_between(
        &job("fl2", &pg_endpoint(&a), &sink, "mode: full_append\n"),
        "2026-11-25T03:00:00Z",
        "2026-11-25T03:30:00Z",
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let got = peer_json(&["count", &url]);
    assert_eq!(got["rows"].as_u64(), Some(60_000), "{got}");
    assert_eq!(got["distinct_id"].as_u64(), Some(60_000), "{got}");
    check_manifest(&format!("{url}/dt=2026-11-25"), 60_000);
}

/// CSV and JSON lines: every value of the typed table in exact text (NULL
/// apart from an empty string in CSV), read by Python's own `csv` and
/// `json` modules and compared with PostgreSQL's canonical rows; the
/// same staging, manifest and `_SUCCESS` as Parquet.
#[tokio::test]
async fn csv_and_json_lines_carry_every_value_as_exact_text() {
    let src = unique("ft_src");
    make_typed_pg(&src, 3000).await;
    pg_exec(&format!(
        "INSERT INTO {src} (id, name, note) VALUES (4001, '', '')"
    ))
    .await;
    let want = pg_digest(&pg_canonical(&src)).await;
    for format in ["csv", "jsonl"] {
        let dir = scratch_dir().join(unique("ft_lake"));
        let url = dir.display().to_string();
        let sink = format!(
            "{{type: files, url: \"{url}\", format: {format}, file_bytes: 65536, partition: {{window: \"dt=%Y-%m-%d\"}}}}"
        );
        let v = run_window(
            &job("ft", &pg_endpoint(&src), &sink, ""),
            "2026-11-25",
            "2026-11-26",
        );
        assert_eq!(v["rows_committed"].as_u64(), Some(3001), "{format}: {v}");
        let got = peer_json(&["textdigest", &url, format]);
        expect_digest(&got, &want);
        assert!(got["files"].as_u64().unwrap() > 1, "{format}: {got}");
        let objects = objects(&url);
        assert!(
            objects.iter().any(|o| o == "dt=2026-11-25/_SUCCESS"),
            "{objects:?}"
        );
        let manifest: serde_json::Value = serde_json::from_str(&peer(&[
            "cat",
            &format!("{url}/dt=2026-11-25/_ferry_manifest.json"),
        ]))
        .unwrap();
        assert_eq!(manifest["rows"].as_u64(), Some(3001), "{manifest}");
    }
    // A text dataset is written only; reading it says so.
    let dir = scratch_dir().join(unique("ft_lake"));
    let sink = format!("{{type: files, url: \"{}\", format: csv}}", dir.display());
    run_ok(&job("ft2", &pg_endpoint(&src), &sink, ""));
    let err = run_err(&job("ft3", &sink, &pg_endpoint(&unique("ft_back")), ""));
    assert!(err.contains("CSV") || err.contains("Csv"), "{err}");
}
