//! Incremental, merge and windowed runs through the `ferry` binary against
//! real PostgreSQL, with the watermark kept in a SQLite state file. Every
//! check compares source and target by content (digests over every column).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// `ferry run --json --state STATE [extra…] JOB`.
fn run_state(state: &std::path::Path, extra: &[&str], yaml: &str) -> Output {
    let mut args = vec!["run", "--json", "--state"];
    let s = state.to_string_lossy().to_string();
    args.push(&s);
    args.extend_from_slice(extra);
    run_ferry(FERRY, &args, yaml)
}

fn ok(out: Output) -> serde_json::Value {
    assert_eq!(
        out.code, 0,
        "ferry run failed:\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["verified"], true, "{v}");
    v
}

fn state_json(state: &std::path::Path, yaml: &str) -> serde_json::Value {
    let s = state.to_string_lossy().to_string();
    let out = run_ferry(FERRY, &["state", "show", "--json", "--state", &s], yaml);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn rows(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

async fn pg_count(sql: &str) -> i64 {
    pg().await.query_one(sql, &[]).await.unwrap().get(0)
}

const EVENTS: &str =
    "(id bigint PRIMARY KEY, v bigint NOT NULL, note text, updated_at timestamptz(6))";

fn digest_sql(table: &str) -> String {
    format!(
        "SELECT concat_ws('|', id, v, coalesce(note, '~'), coalesce(to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '~')) FROM {table}"
    )
}

#[tokio::test]
async fn ties_on_the_cursor_are_neither_lost_nor_repeated_across_batches_and_runs() {
    let (src, dst) = (unique("inc_tie_src"), unique("inc_tie_dst"));
    // 30,000 rows over only 7 distinct cursor values: every batch boundary
    // (64 KiB batches) and every split boundary falls inside a tie.
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {src}; CREATE TABLE {src} {EVENTS};
         INSERT INTO {src} SELECT g, g * 3, repeat('n', g % 40),
                timestamptz '2020-01-01 00:00:00.000001+00' + (g % 7) * interval '1 microsecond'
           FROM generate_series(1, 30000) g; ANALYZE {src};"
    ))
    .await;
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    let yaml = job(
        &src,
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: incremental_append\nincremental: {cursor: updated_at}\nengine: {parallelism: 2, splits_per_reader: 3, min_rows_per_split: 500, batch_bytes: 65536}\n",
    )
    .replace(
        "engine: {parallelism: 2, splits_per_reader: 3, min_rows_per_split: 500}\n",
        "",
    );
    let first = ok(run_state(&state, &[], &yaml));
    assert_eq!(rows(&first, "rows_committed"), 30000, "{first}");
    assert_eq!(
        first["watermark"]["to"],
        serde_json::json!(["2020-01-01 00:00:00.000007+00", "29994"]),
        "the watermark is the last (cursor, id) tuple: {first}"
    );
    // New rows tying the watermark's cursor value with larger ids (they sort
    // after the watermark tuple, so they must arrive), and rows past it.
    pg_exec(&format!(
        "INSERT INTO {src} VALUES
           (30001, 1, 'tie after', '2020-01-01 00:00:00.000007+00'),
           (40000, 2, 'tie after', '2020-01-01 00:00:00.000007+00'),
           (30002, 3, 'newer', '2020-01-01 00:00:00.000008+00'),
           (30003, 4, 'newer', '2020-01-01 00:00:00.000008+00');"
    ))
    .await;
    let second = ok(run_state(&state, &[], &yaml));
    assert_eq!(rows(&second, "rows_committed"), 4, "{second}");
    assert_eq!(
        second["watermark"]["to"],
        serde_json::json!(["2020-01-01 00:00:00.000008+00", "30003"])
    );
    let third = ok(run_state(&state, &[], &yaml));
    assert_eq!(rows(&third, "rows_committed"), 0, "nothing new: {third}");
    assert_eq!(third["watermark"]["to"], second["watermark"]["to"]);
    assert_eq!(
        pg_count(&format!("SELECT count(*) FROM {dst}")).await,
        30004
    );
    assert_eq!(
        pg_digest(&digest_sql(&src)).await,
        pg_digest(&digest_sql(&dst)).await,
        "append target = source: nothing lost, nothing twice"
    );
    let st = state_json(&state, &yaml);
    assert_eq!(st["watermark"]["values"], second["watermark"]["to"], "{st}");
    assert_eq!(st["runs"].as_array().unwrap().len(), 3, "{st}");
}

#[tokio::test]
async fn null_cursors_go_to_dirty_data_or_count_as_oldest() {
    let (src, dst) = (unique("inc_null_src"), unique("inc_null_dst"));
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {src}; CREATE TABLE {src} {EVENTS};
         INSERT INTO {src} SELECT g, g, NULL,
                CASE WHEN g % 10 = 0 THEN NULL ELSE timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second' END
           FROM generate_series(1, 1000) g;"
    ))
    .await;
    let dir = scratch_dir();
    let dirty = dir.join(format!("{}.jsonl", unique("null_dirty")));
    let state = dir.join(format!("{}.db", unique("state")));
    let yaml = job(
        &src,
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        &format!(
            "mode: incremental_merge\nincremental: {{cursor: updated_at}}\n\
             dirty: {{max_rows: 1000, sink: {{type: jsonl, path: \"{}\"}}}}\n",
            dirty.display()
        ),
    );
    let first = ok(run_state(&state, &[], &yaml));
    assert_eq!(rows(&first, "rows_committed"), 900);
    assert_eq!(rows(&first, "rows_dirty"), 100);
    let recs = records(&dirty);
    assert_eq!(recs.len(), 100);
    assert!(
        recs.iter()
            .all(|r| r["reason"] == "null_cursor" && r["column"] == "updated_at")
    );
    let ids: std::collections::BTreeSet<String> = recs
        .iter()
        .map(|r| r["position"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.contains("id=10") && ids.contains("id=1000") && ids.len() == 100,
        "{ids:?}"
    );
    // Still NULL next run: recorded again (they are still unplaceable), nothing else moves.
    let second = ok(run_state(&state, &[], &yaml));
    assert_eq!(
        (rows(&second, "rows_committed"), rows(&second, "rows_dirty")),
        (0, 100)
    );
    // Without a dirty allowance the NULL cursor fails the run, naming the column.
    let strict = yaml.replace("max_rows: 1000, ", "");
    let out = run_state(&state, &[], &strict);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("updated_at"), "{}", out.stderr);

    // Policy `oldest`: the first run takes them, later runs never re-read them.
    let dst2 = unique("inc_null_dst2");
    let state2 = dir.join(format!("{}.db", unique("state")));
    let oldest = job(
        &format!("{src}_oldest"),
        &pg_endpoint(&src),
        &pg_endpoint(&dst2),
        "mode: incremental_append\nincremental: {cursor: updated_at, null_cursor: oldest}\n",
    );
    let first = ok(run_state(&state2, &[], &oldest));
    assert_eq!(rows(&first, "rows_committed"), 1000);
    pg_exec(&format!("INSERT INTO {src} VALUES (1001, 1, NULL, NULL)")).await;
    let second = ok(run_state(&state2, &[], &oldest));
    assert_eq!(rows(&second, "rows_committed"), 0, "{second}");
    assert_eq!(
        pg_count(&format!("SELECT count(*) FROM {dst2}")).await,
        1000
    );
}

#[tokio::test]
async fn rerunning_a_window_gives_the_same_target() {
    let (src, dst) = (unique("win_src"), unique("win_dst"));
    // Four days of events; runs replace one day at a time.
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {src}; CREATE TABLE {src} {EVENTS};
         INSERT INTO {src} SELECT g, g, 'n' || g,
                timestamptz '2020-03-01 00:00:00+00' + g * interval '1 minute'
           FROM generate_series(1, 4 * 1440 - 1) g;"
    ))
    .await;
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    let yaml = job(
        &src,
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: window_overwrite\nwindow: {column: updated_at}\n",
    );
    let day = |d: u32| {
        [
            "--window-start".to_string(),
            format!("2020-03-0{d}T00:00:00Z"),
            "--window-end".to_string(),
            format!("2020-03-0{}T00:00:00Z", d + 1),
        ]
    };
    let args = |d: u32| day(d);
    for d in [1, 2, 3] {
        let a = args(d);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let v = ok(run_state(&state, &a, &yaml));
        let expect = if d == 1 { 1439 } else { 1440 };
        assert_eq!(rows(&v, "rows_committed"), expect, "day {d}: {v}");
    }
    let in_days = |t: &str| {
        format!(
            "{} WHERE updated_at >= '2020-03-01 00:00:00+00' AND updated_at < '2020-03-04 00:00:00+00'",
            digest_sql(t)
        )
    };
    let before = pg_digest(&digest_sql(&dst)).await;
    assert_eq!(before, pg_digest(&in_days(&src)).await);
    // The same window again: the same target, byte for byte.
    let a2 = args(2);
    let a2: Vec<&str> = a2.iter().map(String::as_str).collect();
    ok(run_state(&state, &a2, &yaml));
    assert_eq!(
        pg_digest(&digest_sql(&dst)).await,
        before,
        "rerun of day 2 changed the target"
    );
    // Day 2 changes in the source (an update, a delete, an insert) and
    // other days change too: only day 2 of the target follows.
    pg_exec(&format!(
        "UPDATE {src} SET v = -1 WHERE id IN (1500, 3000);
         DELETE FROM {src} WHERE id = 2000;
         INSERT INTO {src} VALUES (99999, 5, 'late', '2020-03-02 12:00:00.123456+00');"
    ))
    .await;
    ok(run_state(&state, &a2, &yaml));
    let day_sql = |t: &str, d: u32| {
        format!(
            "{} WHERE updated_at >= '2020-03-0{d} 00:00:00+00' AND updated_at < '2020-03-0{} 00:00:00+00'",
            digest_sql(t),
            d + 1
        )
    };
    assert_eq!(
        pg_digest(&day_sql(&dst, 2)).await,
        pg_digest(&day_sql(&src, 2)).await
    );
    assert_eq!(
        pg_count(&format!(
            "SELECT count(*) FROM {dst} WHERE id = 3000 AND v = -1"
        ))
        .await,
        0,
        "day 3 is untouched by a run of day 2"
    );
    assert_eq!(
        pg_count(&format!("SELECT count(*) FROM {dst}")).await,
        3 * 1440 - 1 - 1 + 1
    );
    // A reversed window is refused before anything runs.
    let out = run_state(
        &state,
        &[
            "--window-start",
            "2020-03-02T00:00:00Z",
            "--window-end",
            "2020-03-01T00:00:00Z",
        ],
        &yaml,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("window_end"), "{}", out.stderr);
}

#[tokio::test]
async fn merge_reruns_of_a_window_and_hard_deletes_are_idempotent() {
    let (src, dst) = (unique("mrg_src"), unique("mrg_dst"));
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {src}; CREATE TABLE {src} (id bigint PRIMARY KEY, v bigint NOT NULL,
            deleted boolean NOT NULL DEFAULT false, updated_at timestamptz(6) NOT NULL);
         INSERT INTO {src} SELECT g, g, false, timestamptz '2020-05-01 00:00:00+00' + g * interval '1 minute'
           FROM generate_series(1, 2000) g;"
    ))
    .await;
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    // The source filter takes the run's window as bound parameters.
    let yaml = job(
        &src,
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: incremental_merge\nincremental: {cursor: updated_at}\nmerge: {delete_column: deleted}\n\
         source_filter: \"updated_at < ${window_end}\"\n",
    );
    let window = [
        "--window-start",
        "2020-05-01T00:00:00Z",
        "--window-end",
        "2020-05-01T20:00:00Z",
    ];
    let first = ok(run_state(&state, &window, &yaml));
    assert_eq!(rows(&first, "rows_committed"), 1199, "{first}");
    let target = pg_digest(&format!(
        "SELECT concat_ws('|', id, v, deleted, updated_at) FROM {dst}"
    ))
    .await;
    // The same window again from a reset watermark: same target.
    let s = state.to_string_lossy().to_string();
    let out = run_ferry(FERRY, &["state", "reset", "--state", &s], &yaml);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let again = ok(run_state(&state, &window, &yaml));
    assert_eq!(rows(&again, "rows_committed"), 1199);
    assert_eq!(
        pg_digest(&format!(
            "SELECT concat_ws('|', id, v, deleted, updated_at) FROM {dst}"
        ))
        .await,
        target
    );
    // Updates and soft deletes flow through as upserts and hard deletes.
    pg_exec(&format!(
        "UPDATE {src} SET v = v + 1000, updated_at = '2020-05-01 19:59:59.5+00' WHERE id IN (5, 6);
         UPDATE {src} SET deleted = true, updated_at = '2020-05-01 19:59:59.6+00' WHERE id IN (7, 8);"
    ))
    .await;
    let third = ok(run_state(&state, &window, &yaml));
    assert_eq!(rows(&third, "rows_committed"), 4, "{third}");
    let live = |t: &str| {
        format!(
            "SELECT concat_ws('|', id, v, updated_at) FROM {t} WHERE NOT deleted AND updated_at < '2020-05-01 20:00:00+00'"
        )
    };
    assert_eq!(pg_digest(&live(&dst)).await, pg_digest(&live(&src)).await);
    assert_eq!(
        pg_count(&format!("SELECT count(*) FROM {dst} WHERE id IN (7, 8)")).await,
        0
    );
    // A merge into a target without a unique key on the merge key is refused.
    let plain = unique("mrg_plain");
    pg_exec(&format!(
        "CREATE TABLE {plain} (id bigint, v bigint, deleted boolean, updated_at timestamptz(6))"
    ))
    .await;
    let bad = job(
        &format!("{src}_plain"),
        &pg_endpoint(&src),
        &pg_endpoint(&plain),
        "mode: incremental_merge\nincremental: {cursor: updated_at}\n",
    );
    let out = run_state(&state, &[], &bad);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("merge key (id)"), "{}", out.stderr);
}

#[tokio::test]
async fn a_crash_after_publish_before_the_state_update_is_repaired() {
    let (src, dst) = (unique("crash_src"), unique("crash_dst"));
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {src}; CREATE TABLE {src} {EVENTS};
         INSERT INTO {src} SELECT g, g, NULL, timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second'
           FROM generate_series(1, 500) g;"
    ))
    .await;
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    // Append mode: a repeated read would show up as duplicate rows.
    let yaml = job(
        &src,
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: incremental_append\nincremental: {cursor: updated_at}\n",
    );
    ok(run_state(&state, &[], &yaml));
    pg_exec(&format!(
        "INSERT INTO {src} SELECT g, g, NULL, timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second'
           FROM generate_series(501, 800) g;"
    ))
    .await;
    let s = state.to_string_lossy().to_string();
    let job_path = scratch_dir().join(format!("{}.yaml", unique("crash_job")));
    std::fs::write(&job_path, &yaml).unwrap();
    let crashed = std::process::Command::new(FERRY)
        .args(["run", "--json", "--state", &s])
        .arg(&job_path)
        .env("FERRY_FAILPOINT", "after_publish")
        .output()
        .unwrap();
    assert!(
        !crashed.status.success(),
        "the failpoint must abort the process"
    );
    // The publish committed; the store still holds the old watermark and a
    // run stuck in 'publishing'.
    assert_eq!(pg_count(&format!("SELECT count(*) FROM {dst}")).await, 800);
    let st = state_json(&state, &yaml);
    assert_eq!(
        st["watermark"]["values"][0], "2020-01-01 00:08:20+00",
        "{st}"
    );
    assert_eq!(st["unfinished_runs"][0]["status"], "publishing", "{st}");
    pg_exec(&format!(
        "INSERT INTO {src} VALUES (801, 801, NULL, '2020-01-01 00:13:21+00')"
    ))
    .await;
    let next = ok(run_state(&state, &[], &yaml));
    assert_eq!(rows(&next, "rows_committed"), 1, "only the new row: {next}");
    assert_eq!(pg_count(&format!("SELECT count(*) FROM {dst}")).await, 801);
    assert_eq!(
        pg_digest(&digest_sql(&src)).await,
        pg_digest(&digest_sql(&dst)).await
    );
    let st = state_json(&state, &yaml);
    assert!(st["unfinished_runs"].as_array().unwrap().is_empty(), "{st}");
    let crashed_run = st["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["error"].as_str().is_some_and(|e| e.contains("repaired")));
    assert!(
        crashed_run.is_some_and(|r| r["status"] == "succeeded"),
        "{st}"
    );
}

#[tokio::test]
async fn state_set_validates_and_moves_the_watermark() {
    let (src, dst) = (unique("st_src"), unique("st_dst"));
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {src}; CREATE TABLE {src} {EVENTS};
         INSERT INTO {src} SELECT g, g, NULL, timestamptz '2020-01-01 00:00:00+00' + g * interval '1 hour'
           FROM generate_series(1, 100) g;"
    ))
    .await;
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    let s = state.to_string_lossy().to_string();
    let yaml = job(
        &src,
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: incremental_append\nincremental: {cursor: updated_at}\n",
    );
    let set = |values: &[&str]| {
        let mut args = vec!["state", "set", "--state", s.as_str()];
        for v in values {
            args.push("--value");
            args.push(v);
        }
        run_ferry(FERRY, &args, &yaml)
    };
    let out = set(&["updated_at=yesterday", "id=1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("value.updated_at"), "{}", out.stderr);
    let out = set(&["updated_at=2020-01-03T00:00:00Z"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("(updated_at, id)"), "{}", out.stderr);
    let out = set(&["updated_at=2020-01-03T00:00:00+01:00", "id=47"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // 2020-01-02 23:00 UTC is row 47's time: the run starts after row 47.
    let v = ok(run_state(&state, &[], &yaml));
    assert_eq!(rows(&v, "rows_committed"), 53, "{v}");
    assert_eq!(pg_count(&format!("SELECT min(id) FROM {dst}")).await, 48);
    let out = run_ferry(FERRY, &["state", "reset", "--state", &s], &yaml);
    assert_eq!(out.code, 0);
    let st = state_json(&state, &yaml);
    assert!(st["watermark"].is_null(), "{st}");
    // Incremental modes need a store.
    let out = run_ferry(FERRY, &["run"], &yaml);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--state"), "{}", out.stderr);
}
