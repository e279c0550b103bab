//! The Delta connector (issue 16, item 5): PostgreSQL → Delta Lake (a local
//! directory and moto S3) and back. What Ferry committed is read by the
//! Python `deltalake` package (`tests/lake/delta_peer.py`), never by Ferry:
//! row counts and the SHA-256 of the canonical rows equal PostgreSQL's own;
//! each run is exactly one commit carrying the task's transaction and the
//! run; a killed or failed run commits nothing; a window rerun replaces
//! exactly the window; a table another writer made is read by version.
//!
//! Built with `--features ferry-connectors/delta` (`scripts/test.sh` does);
//! needs `scripts/lake.sh start` (moto, pyarrow, deltalake) and its
//! `FERRY_TEST_S3_ENDPOINT`/`FERRY_TEST_LAKE_PYTHON`: without them the tests
//! fail.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

fn s3_endpoint() -> String {
    std::env::var("FERRY_TEST_S3_ENDPOINT")
        .expect("FERRY_TEST_S3_ENDPOINT is not set: run `scripts/lake.sh start` and export `scripts/lake.sh env`")
}

fn python() -> String {
    std::env::var("FERRY_TEST_LAKE_PYTHON")
        .expect("FERRY_TEST_LAKE_PYTHON is not set: run `scripts/lake.sh start` and export `scripts/lake.sh env`")
}

/// Runs `script` of `tests/lake/` with `args`; panics with its stderr if it fails.
fn lake(script: &str, args: &[&str]) -> String {
    let path = format!("{}/tests/lake/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(python())
        .arg(path)
        .args(args)
        .env("FERRY_TEST_S3_ENDPOINT", s3_endpoint())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn peer(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&lake("delta_peer.py", args)).unwrap()
}

/// A new, empty directory for a table.
fn table_dir(name: &str) -> String {
    let dir = scratch_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

fn delta(url: &str, extra: &str) -> String {
    format!("{{type: delta, url: \"{url}\"{extra}}}")
}

fn expect_digest(got: &serde_json::Value, want: &Digest256) {
    assert_eq!(got["rows"].as_u64(), Some(want.rows as u64), "{got}");
    assert_eq!(got["sha256"].as_str(), Some(want.sha256.as_str()), "{got}");
}

fn history(url: &str) -> Vec<serde_json::Value> {
    peer(&["history", url]).as_array().unwrap().clone()
}

fn version(url: &str) -> i64 {
    lake("delta_peer.py", &["version", url])
        .trim()
        .parse()
        .unwrap()
}

/// The declared types of a PostgreSQL table, as one digest.
async fn pg_types(table: &str) -> Digest256 {
    pg_digest(&format!(
        "SELECT column_name || ' ' || format_type(atttypid, atttypmod) FROM information_schema.columns c \
         JOIN pg_attribute a ON a.attrelid = '{table}'::regclass AND a.attname = c.column_name \
         WHERE c.table_name = '{table}'"
    ))
    .await
}

#[tokio::test]
async fn postgres_to_delta_and_back_one_commit_per_run() {
    let (src, back) = (unique("dl_src"), unique("dl_back"));
    make_typed_pg(&src, 3000).await;
    let all = pg_digest(&pg_canonical(&src)).await;
    let url = table_dir("delta_orders");

    let v = run_ok(&job("dl", &pg_endpoint(&src), &delta(&url, ""), ""));
    assert_eq!(v["rows_committed"].as_u64(), Some(3000), "{v}");
    expect_digest(&peer(&["digest", &url]), &all);
    let h = history(&url);
    assert_eq!(h.len(), 1, "one commit for one run: {h:?}");
    assert_eq!(h[0]["ferry"]["task"], "dl", "{h:?}");
    assert_eq!(h[0]["ferry"]["run_id"], v["run_id"], "{h:?}");
    assert_eq!(peer(&["txn", &url, "ferry:dl"]), serde_json::json!(1));

    // An append adds one commit with every row again; the overwrite after it
    // leaves exactly the source's rows.
    run_ok(&job(
        "dl",
        &pg_endpoint(&src),
        &delta(&url, ""),
        "mode: full_append\n",
    ));
    assert_eq!(peer(&["digest", &url])["rows"].as_u64(), Some(6000));
    run_ok(&job("dl", &pg_endpoint(&src), &delta(&url, ""), ""));
    expect_digest(&peer(&["digest", &url]), &all);
    assert_eq!(version(&url), 2);
    assert_eq!(peer(&["txn", &url, "ferry:dl"]), serde_json::json!(3));
    // Time travel by the peer: version 1 held both copies.
    assert_eq!(peer(&["digest", &url, "1"])["rows"].as_u64(), Some(6000));

    // Back into PostgreSQL through the Delta source: the same rows and the
    // same declared types (Ferry's types ride in the Delta schema).
    let v = run_ok(&job("dlb", &delta(&url, ""), &pg_endpoint(&back), ""));
    assert_eq!(v["rows_committed"].as_u64(), Some(3000), "{v}");
    assert_eq!(pg_digest(&pg_canonical(&back)).await, all);
    assert_eq!(pg_types(&back).await, pg_types(&src).await);
    // The key travelled with the table (column metadata `ferry.key`).
    let key = pg_digest(&format!(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
         AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '{back}'::regclass AND i.indisprimary"
    ))
    .await;
    assert_eq!(key, pg_digest("SELECT 'id'").await);
    // And as of version 1 (both copies: into a table without the key).
    let both = unique("dl_both");
    pg_exec(&format!("CREATE TABLE {both} (LIKE {src})")).await;
    let v = run_ok(&job(
        "dlb",
        &delta(&url, ", version: 1"),
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
async fn types_without_a_delta_twin_travel_as_text_and_come_back() {
    let (src, back) = (unique("dl_types"), unique("dl_types_back"));
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {src}; CREATE TABLE {src} (id int PRIMARY KEY, u uuid, t time, \
         tz timestamptz, sm smallint, big numeric(60,10), j jsonb, arr int[], us uuid[]); \
         INSERT INTO {src} VALUES \
         (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '23:59:59.999999', '2026-01-01 00:00:00+05', -32768, \
          12345678901234567890123456789012345678901234567890.0123456789, '{{\"k\": [1, 2]}}', '{{1,NULL,3}}', \
          '{{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}}'), \
         (2, NULL, '00:00:00', NULL, 32767, NULL, NULL, '{{}}', NULL), \
         (3, '00000000-0000-0000-0000-000000000000', NULL, '1970-01-01 00:00:00.000001+00', NULL, -0.5, 'null', NULL, '{{}}');"
    ))
    .await;
    let canon = |t: &str| {
        format!(
            "SELECT concat_ws('|', id, coalesce(u::text,'~'), coalesce(t::text,'~'), coalesce(tz AT TIME ZONE 'UTC','-infinity'), \
             coalesce(sm::text,'~'), coalesce(big::text,'~'), coalesce(j::text,'~'), coalesce(arr::text,'~'), coalesce(us::text,'~')) FROM {t}"
        )
    };
    let url = table_dir("delta_types");
    run_ok(&job("dlt", &pg_endpoint(&src), &delta(&url, ""), ""));
    let schema = peer(&["schema", &url]);
    let types: Vec<(String, serde_json::Value)> = schema["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["type"].clone()))
        .collect();
    let ty = |n: &str| types.iter().find(|(c, _)| c == n).unwrap().1.clone();
    assert_eq!(ty("u"), "string", "{schema}");
    assert_eq!(ty("t"), "string", "{schema}");
    assert_eq!(ty("tz"), "timestamp", "{schema}");
    assert_eq!(ty("sm"), "short", "{schema}");
    assert_eq!(ty("big"), "string", "{schema}");
    run_ok(&job("dltb", &delta(&url, ""), &pg_endpoint(&back), ""));
    assert_eq!(
        pg_digest(&canon(&back)).await,
        pg_digest(&canon(&src)).await
    );
    // Every type as it was, but the two the type matrix normalises through
    // a lake: `jsonb` comes back as `json` (Ferry's JSON text) and a decimal
    // wider than 38 digits as unconstrained `numeric` (its exact text).
    let normalised = pg_digest(&format!(
        "SELECT column_name || ' ' || replace(replace(format_type(atttypid, atttypmod), 'numeric(60,10)', 'numeric'), 'jsonb', 'json') \
         FROM information_schema.columns c JOIN pg_attribute a ON a.attrelid = '{src}'::regclass AND a.attname = c.column_name \
         WHERE c.table_name = '{src}'"
    ))
    .await;
    assert_eq!(pg_types(&back).await, normalised);
}

#[tokio::test]
async fn window_overwrite_replaces_exactly_the_window() {
    let src = unique("dl_win");
    make_typed_pg(&src, 3000).await;
    let url = table_dir("delta_win");
    let sink = delta(&url, ", partition_by: [d]");
    let yaml = job(
        "dlw",
        &pg_endpoint(&src),
        &sink,
        "mode: window_overwrite\nwindow: {column: ts}\n",
    );
    let run = |start: &str, end: &str| {
        let out = run_ferry(
            FERRY,
            &[
                "run",
                "--json",
                "--window-start",
                start,
                "--window-end",
                end,
            ],
            &yaml,
        );
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()
    };
    let week =
        |a: &str, b: &str| format!("{} WHERE ts >= '{a}' AND ts < '{b}'", pg_canonical(&src));
    run("2001-02-03T00:00:00Z", "2001-02-10T00:00:00Z");
    run("2001-02-10T00:00:00Z", "2001-02-17T00:00:00Z");
    let both = pg_digest(&week("2001-02-03", "2001-02-17")).await;
    let second = pg_digest(&week("2001-02-10", "2001-02-17")).await;
    expect_digest(&peer(&["digest", &url]), &both);

    // The source changes in both weeks; the rerun of the first week
    // replaces exactly that week, in one commit.
    pg_exec(&format!(
        "UPDATE {src} SET note = 'changed' WHERE id % 7 = 0; DELETE FROM {src} WHERE id % 10 = 0"
    ))
    .await;
    let before = version(&url);
    run("2001-02-03T00:00:00Z", "2001-02-10T00:00:00Z");
    assert_eq!(version(&url), before + 1);
    let h = history(&url);
    let last = h.last().unwrap();
    assert_eq!(last["operation"], "WRITE", "{h:?}");
    assert!(
        last["parameters"]["predicate"]
            .as_str()
            .is_some_and(|p| p.contains("ts")),
        "{h:?}"
    );
    let first = pg_digest(&week("2001-02-03", "2001-02-10")).await;
    assert_eq!(
        peer(&["digest", &url])["rows"].as_u64(),
        Some((first.rows + second.rows) as u64)
    );
    // Read back by Ferry into PostgreSQL: the first week is the changed
    // source's, the second as it was.
    let back = unique("dl_win_back");
    run_ok(&job("dlwb", &delta(&url, ""), &pg_endpoint(&back), ""));
    let back_week =
        |a: &str, b: &str| format!("{} WHERE ts >= '{a}' AND ts < '{b}'", pg_canonical(&back));
    assert_eq!(
        pg_digest(&back_week("2001-02-03", "2001-02-10")).await,
        first
    );
    assert_eq!(
        pg_digest(&back_week("2001-02-10", "2001-02-17")).await,
        second
    );
}

#[tokio::test]
async fn a_failed_or_killed_run_commits_nothing() {
    const ROWS: u64 = 1_500_000;
    let (small, big) = (unique("dl_small"), unique("dl_big"));
    make_typed_pg(&small, 10).await;
    make_wide_pg(&big, ROWS).await;
    let dir = scratch_dir().join(unique("delta_kill"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = dir.display().to_string();
    let sink = delta(&url, ", file_bytes: 1048576");
    run_ok(&job("dlk", &pg_endpoint(&small), &sink, ""));
    let held = pg_digest(&pg_canonical(&small)).await;
    assert_eq!(version(&url), 0);
    let parquet_files = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
    };
    let before = parquet_files();

    // SIGKILL once the run has written data files of its own: no new
    // version, the table reads as it was.
    let big_job = job("dlk", &pg_endpoint(&big), &sink, "");
    signal_mid_copy_when(&big_job, "KILL", ROWS, &|| parquet_files() > before);
    assert_eq!(version(&url), 0);
    expect_digest(&peer(&["digest", &url]), &held);

    // A run refused at prepare (a column Delta cannot keep) commits nothing.
    let bad = unique("dl_bad");
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {bad}; CREATE TABLE {bad} (id bigint, span interval); \
         INSERT INTO {bad} VALUES (1, '1 day')"
    ))
    .await;
    let err = run_err(&job("dlk2", &pg_endpoint(&bad), &sink, ""));
    assert!(err.contains("span") && err.contains("interval"), "{err}");
    assert_eq!(version(&url), 0);

    // The rerun commits once, with exactly the source's rows.
    run_ok(&big_job);
    assert_eq!(version(&url), 1);
    expect_digest(
        &peer(&["digest", &url]),
        &pg_digest(&pg_canonical(&big)).await,
    );
}

#[tokio::test]
async fn two_runs_of_one_task_racing_publish_once() {
    // Both runs read the task's transaction version before either commits;
    // the second commit conflicts on the transaction id and publishes
    // nothing (Delta's idempotent-writer rule, checked by delta-rs).
    let src = unique("dl_race");
    make_typed_pg(&src, 100_000).await;
    let url = table_dir("delta_race");
    let yaml = format!(
        "name: dlr\nsource: {}\nsink: {}\nmode: full_append\nengine: {{parallelism: 1, batch_bytes: 65536}}\n",
        pg_endpoint(&src),
        delta(&url, "")
    );
    let spawn = || {
        let yaml = yaml.clone();
        std::thread::spawn(move || run_ferry(FERRY, &["run", "--json"], &yaml))
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let ok = [&a, &b].iter().filter(|o| o.code == 0).count();
    let rows = peer(&["digest", &url])["rows"].as_u64().unwrap();
    // Either they did not overlap (both published, one after the other:
    // each read the other's version), or exactly one published.
    match ok {
        2 => {
            assert_eq!(rows, 200_000);
            assert_eq!(peer(&["txn", &url, "ferry:dlr"]), serde_json::json!(2));
        }
        1 => {
            let failed = if a.code == 0 { &b } else { &a };
            assert!(
                failed.stderr.contains("conflict") || failed.stderr.contains("another"),
                "{}",
                failed.stderr
            );
            assert_eq!(rows, 100_000);
            assert_eq!(history(&url).len(), 1);
        }
        _ => panic!("both failed:\n{}\n{}", a.stderr, b.stderr),
    }
}

#[tokio::test]
async fn a_retried_append_of_an_instance_is_not_applied_twice() {
    let src = unique("dl_retry");
    make_typed_pg(&src, 1000).await;
    let url = table_dir("delta_retry");
    let yaml = job(
        "dla",
        &pg_endpoint(&src),
        &delta(&url, ""),
        "mode: full_append\n",
    );
    let run = || {
        let out = run_ferry(
            FERRY,
            &[
                "run",
                "--json",
                "--window-start",
                "2026-11-25T00:00:00Z",
                "--window-end",
                "2026-11-26T00:00:00Z",
            ],
            &yaml,
        );
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    };
    run();
    run();
    assert_eq!(version(&url), 0, "the retry committed again");
    expect_digest(
        &peer(&["digest", &url]),
        &pg_digest(&pg_canonical(&src)).await,
    );
    let h = history(&url);
    assert_eq!(
        h[0]["ferry"]["instance"], "dla@2026-11-25T00:00:00+00:00/2026-11-26T00:00:00+00:00",
        "{h:?}"
    );
    // Another window is another instance: appended.
    let out = run_ferry(
        FERRY,
        &[
            "run",
            "--json",
            "--window-start",
            "2026-11-26T00:00:00Z",
            "--window-end",
            "2026-11-27T00:00:00Z",
        ],
        &yaml,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(version(&url), 1);
    assert_eq!(peer(&["digest", &url])["rows"].as_u64(), Some(2000));
}

#[tokio::test]
async fn a_table_another_writer_made_is_read_by_version_and_version_range() {
    let (src, back) = (unique("dl_peer_src"), unique("dl_peer_back"));
    make_typed_pg(&src, 3000).await;
    let url = table_dir("delta_peer");
    lake("delta_peer.py", &["append", &url, "1", "1000"]);
    lake("delta_peer.py", &["append", &url, "1001", "1000"]);
    lake("delta_peer.py", &["append", &url, "2001", "1000"]);
    assert_eq!(version(&url), 2);
    // The whole table equals PostgreSQL's typed table.
    expect_digest(
        &peer(&["digest", &url]),
        &pg_digest(&pg_canonical(&src)).await,
    );

    // Only what versions 1 and 2 appended.
    let v = run_ok(&job(
        "dlp",
        &delta(&url, ", versions: {after: 0}"),
        &pg_endpoint(&back),
        "",
    ));
    assert_eq!(v["rows_committed"].as_u64(), Some(2000), "{v}");
    assert_eq!(
        pg_digest(&pg_canonical(&back)).await,
        pg_digest(&format!("{} WHERE id > 1000", pg_canonical(&src))).await
    );
    // Version 1 only.
    let v = run_ok(&job(
        "dlp",
        &delta(&url, ", versions: {after: 0, until: 1}"),
        &pg_endpoint(&back),
        "",
    ));
    assert_eq!(v["rows_committed"].as_u64(), Some(1000), "{v}");
    assert_eq!(
        pg_digest(&pg_canonical(&back)).await,
        pg_digest(&format!(
            "{} WHERE id > 1000 AND id <= 2000",
            pg_canonical(&src)
        ))
        .await
    );
    // A log naming a data file outside the table (a crafted or foreign
    // log): refused before anything is read.
    let crafted = table_dir("delta_crafted");
    lake("delta_peer.py", &["append", &crafted, "1", "10"]);
    let outside = format!("{}/../outside.parquet", crafted);
    std::fs::write(
        format!("{crafted}/_delta_log/00000000000000000001.json"),
        format!(
            "{{\"add\":{{\"path\":\"{outside}\",\"partitionValues\":{{}},\"size\":1,\"modificationTime\":0,\"dataChange\":true}}}}\n"
        ),
    )
    .unwrap();
    let err = run_err(&job("dlp", &delta(&crafted, ""), &pg_endpoint(&back), ""));
    assert!(err.contains("outside the table"), "{err}");

    // An overwrite in the range: refused, naming the commit.
    run_ok(&job("dlp2", &pg_endpoint(&src), &delta(&url, ""), ""));
    let err = run_err(&job(
        "dlp",
        &delta(&url, ", versions: {after: 2}"),
        &pg_endpoint(&back),
        "",
    ));
    assert!(
        err.contains("commit 3") && err.contains("appended rows only"),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_to_delta_on_s3_and_bad_input() {
    let src = unique("dl_s3");
    make_typed_pg(&src, 2000).await;
    let all = pg_digest(&pg_canonical(&src)).await;
    let bucket = unique("ferry-delta").replace('_', "-").to_lowercase();
    lake("peer.py", &["mkbucket", &bucket]);
    let url = format!("s3://{bucket}/orders");
    let s3 = |endpoint: &str| {
        format!(
            ", s3: {{endpoint: \"{endpoint}\", path_style: true, access_key_id: test, secret_access_key: test}}"
        )
    };
    let sink = delta(&url, &s3(&s3_endpoint()));
    run_ok(&job("dls", &pg_endpoint(&src), &sink, ""));
    run_ok(&job(
        "dls",
        &pg_endpoint(&src),
        &sink,
        "mode: full_append\n",
    ));
    assert_eq!(version(&url), 1);
    assert_eq!(peer(&["digest", &url])["rows"].as_u64(), Some(4000));
    run_ok(&job("dls", &pg_endpoint(&src), &sink, ""));
    expect_digest(&peer(&["digest", &url]), &all);

    // Bad input: each error names what is wrong; the table is unchanged.
    let unreachable = delta(&url, &s3("http://127.0.0.1:9"));
    let err = run_err(&job("dls", &pg_endpoint(&src), &unreachable, ""));
    assert!(err.contains("127.0.0.1:9"), "{err}");
    let no_bucket = delta(
        &format!("s3://{bucket}-missing/orders"),
        &s3(&s3_endpoint()),
    );
    let err = run_err(&job("dls", &pg_endpoint(&src), &no_bucket, ""));
    assert!(
        err.contains("bucket") || err.contains("NoSuchBucket"),
        "{err}"
    );
    let other = unique("dl_s3_other");
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {other}; CREATE TABLE {other} (id bigint, extra text); \
         INSERT INTO {other} VALUES (1, 'x')"
    ))
    .await;
    let err = run_err(&job(
        "dls",
        &pg_endpoint(&other),
        &sink,
        "mode: full_append\n",
    ));
    assert!(err.contains("extra"), "{err}");
    let err = run_err(&job(
        "dls",
        &pg_endpoint(&src),
        &delta(&url, &format!("{}, partition_by: [d]", s3(&s3_endpoint()))),
        "mode: full_append\n",
    ));
    assert!(err.contains("partition"), "{err}");
    assert_eq!(version(&url), 2);
    expect_digest(&peer(&["digest", &url]), &all);
}
