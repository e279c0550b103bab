//! `incremental: {cursor: xmin}` on a table with no cursor column at all:
//! four writers keep transactions open across runs (0.1–1.6 s, some rolled
//! back; their later rows written in a subtransaction) while ~20 runs go
//! on, then a last run once they stop. The target
//! must hold every committed row exactly once (append: inserts only, into a
//! target with no key, compared as a multiset of `(id, version, note)`) or
//! equal the source (merge: writers also UPDATE rows). Compared by SQL in
//! the database, not by Ferry. A source other than PostgreSQL is refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use common::*;

const RUNS: usize = 20;
/// How long the writers write, at least (about one transaction per second each).
const WRITING: Duration = Duration::from_secs(12);
const WRITERS: i64 = 4;
const INITIAL_ROWS: i64 = 3000;

/// How long writer `k`'s `step`-th transaction stays open: 100 to 1,600 ms.
fn hold(step: i64, k: i64) -> Duration {
    Duration::from_millis(100 + ((step * 373 + k * 211) % 1500) as u64)
}

/// Existing ids writer `k` updates in its `step`-th transaction (its own
/// residue class, so writers never wait on each other's row locks).
fn updated_ids(step: i64, k: i64) -> String {
    (0..2)
        .map(|j| (((step * 7 + j * 13) % (INITIAL_ROWS / WRITERS)) * WRITERS + k + 1).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes until `stop`: inserts (and with `update`, updates) in transactions
/// held open; every fifth one rolls back. Returns the commits.
async fn writer(
    src: String,
    k: i64,
    update: bool,
    stop: Arc<AtomicBool>,
    next: Arc<AtomicI64>,
) -> u64 {
    let c = pg().await;
    let (mut step, mut n) = (0i64, 0u64);
    while !stop.load(Ordering::SeqCst) {
        step += 1;
        let first = next.fetch_add(4, Ordering::SeqCst);
        c.batch_execute("BEGIN").await.unwrap();
        c.batch_execute(&format!(
            "INSERT INTO {src} SELECT g, 0, 'w{k} s{step}' FROM generate_series({first}, {}) g",
            first + 1
        ))
        .await
        .unwrap();
        if update {
            c.batch_execute(&format!(
                "UPDATE {src} SET version = version + 1, note = 'w{k} s{step}' WHERE id IN ({})",
                updated_ids(step, k)
            ))
            .await
            .unwrap();
        }
        tokio::time::sleep(hold(step, k) / 2).await;
        // A second statement late in the transaction, in a subtransaction:
        // its rows carry the subtransaction's id, which no snapshot's xip
        // lists; runs taken in the second half must still count it open.
        c.batch_execute(&format!(
            "SAVEPOINT late;
             INSERT INTO {src} SELECT g, 0, 'w{k} s{step} late' FROM generate_series({}, {}) g;
             RELEASE SAVEPOINT late;",
            first + 2,
            first + 3
        ))
        .await
        .unwrap();
        tokio::time::sleep(hold(step, k) / 2).await;
        if step % 5 == 0 {
            c.batch_execute("ROLLBACK").await.unwrap();
        } else {
            c.batch_execute("COMMIT").await.unwrap();
            n += 1;
        }
    }
    n
}

fn run_once(state: &std::path::Path, yaml: &str) -> serde_json::Value {
    let s = state.to_string_lossy().to_string();
    let out = run_ferry(FERRY, &["run", "--json", "--state", &s], yaml);
    assert_eq!(out.code, 0, "run failed:\n{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// What the runs reported.
#[derive(Debug, Default)]
struct Runs {
    bounds: Vec<String>,
    max_splits: usize,
}

async fn run_and_record(state: &std::path::Path, yaml: &str, runs: &mut Runs) {
    let (state, yaml) = (state.to_path_buf(), yaml.to_string());
    let v = tokio::task::spawn_blocking(move || run_once(&state, &yaml))
        .await
        .unwrap();
    assert_eq!(
        v["watermark"]["columns"],
        serde_json::json!(["xmin"]),
        "{v}"
    );
    runs.bounds.push(
        v["watermark"]["bound"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    runs.max_splits = runs
        .max_splits
        .max(v["splits"].as_array().map_or(0, Vec::len));
}

/// Rows of `a` not in `b`, counted with multiplicity.
async fn missing(a: &str, b: &str) -> i64 {
    pg().await
        .query_one(
            &format!(
                "SELECT count(*) FROM (SELECT id, version, note FROM {a} \
                 EXCEPT ALL SELECT id, version, note FROM {b}) d"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Count and `sum(hashtext(...))` of a table's rows.
async fn checksum(table: &str) -> (i64, i64) {
    let r = pg()
        .await
        .query_one(
            &format!(
                "SELECT count(*), coalesce(sum(hashtext(id || ':' || version || ':' || note)), 0)::bigint FROM {table}"
            ),
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

async fn scenario(merge: bool) {
    let tag = if merge { "xmin_merge" } else { "xmin_append" };
    let (src, dst) = (unique(&format!("{tag}_src")), unique(&format!("{tag}_dst")));
    // No cursor column: nothing but the key, a version and a note.
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY, version int NOT NULL, note text NOT NULL);
         INSERT INTO {src} SELECT g, 0, 'initial' FROM generate_series(1, {INITIAL_ROWS}) g;
         ANALYZE {src};"
    ))
    .await;
    // The append target has no key: a row read twice is there twice.
    if !merge {
        pg_exec(&format!(
            "CREATE TABLE {dst} (id bigint, version int, note text)"
        ))
        .await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicI64::new(INITIAL_ROWS + 1));
    let writers: Vec<_> = (0..WRITERS)
        .map(|k| tokio::spawn(writer(src.clone(), k, merge, stop.clone(), next.clone())))
        .collect();
    let mode = if merge {
        "incremental_merge"
    } else {
        "incremental_append"
    };
    let yaml = job(
        &dst,
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        &format!("mode: {mode}\nincremental: {{cursor: xmin}}\n"),
    );
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    let mut runs = Runs::default();
    // At least RUNS runs, and long enough for the writers to commit a few
    // dozen transactions however fast the runs are.
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < RUNS || started.elapsed() < WRITING {
        run_and_record(&state, &yaml, &mut runs).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        done += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let mut transactions = 0;
    for w in writers {
        transactions += w.await.unwrap();
    }
    run_and_record(&state, &yaml, &mut runs).await;

    assert!(
        transactions > 20,
        "the writers barely wrote ({transactions} transactions)"
    );
    let (lost, extra) = (missing(&src, &dst).await, missing(&dst, &src).await);
    assert_eq!(
        (lost, extra),
        (0, 0),
        "{mode}: rows lost, rows duplicated or stale after {done} runs ({transactions} writer transactions); bounds: {:#?}",
        runs.bounds
    );
    assert_eq!(checksum(&src).await, checksum(&dst).await, "{mode}");
    assert!(runs.bounds[0].contains("first run"), "{:#?}", runs.bounds);
    assert!(
        runs.bounds[1..]
            .iter()
            .all(|b| b.starts_with("snapshot ") && b.contains("previous run's snapshot")),
        "{:#?}",
        runs.bounds
    );
    // Some run's snapshot had writer transactions in progress (a non-empty
    // xip list): their rows were committed after it and read by a later run.
    let in_progress = |b: &String| {
        b.strip_prefix("snapshot ")
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.split(':').nth(2))
            .is_some_and(|xip| !xip.is_empty())
    };
    assert!(
        runs.bounds.iter().any(in_progress),
        "no run's snapshot had a transaction in progress: {:#?}",
        runs.bounds
    );
    assert!(runs.max_splits > 1, "every run read one split");
    // The state store keeps each run's snapshot and bound.
    let st = state_show(&state, &yaml);
    let last = &st["runs"][0];
    assert_eq!(
        st["watermark"]["columns"],
        serde_json::json!(["xmin"]),
        "{st}"
    );
    assert_eq!(
        last["watermark_to"]["values"], st["watermark"]["values"],
        "{st}"
    );
    assert_eq!(
        last["bound"].as_str(),
        runs.bounds.last().map(String::as_str),
        "{st}"
    );
}

fn state_show(state: &std::path::Path, yaml: &str) -> serde_json::Value {
    let s = state.to_string_lossy().to_string();
    let out = run_ferry(FERRY, &["state", "show", "--json", "--state", &s], yaml);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn xmin_append_with_open_transactions_loses_and_repeats_nothing() {
    scenario(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn xmin_merge_with_updates_ends_equal_to_the_source() {
    scenario(true).await;
}

#[test]
fn xmin_cursor_on_a_sqlite_source_is_refused() {
    let path = scratch_dir().join(format!("{}.db", unique("xmin_sqlite")));
    let yaml = job(
        "xmin_sqlite",
        &sqlite_endpoint(&path, "t"),
        &pg_endpoint(&unique("xmin_never")),
        "mode: incremental_append\nincremental: {cursor: xmin}\n",
    );
    let err = run_err(&yaml);
    assert!(
        err.contains("incremental.cursor")
            && err.contains("PostgreSQL")
            && err.contains("sqlite")
            && err.contains("cursor column"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmin_state_set_starts_from_a_given_snapshot_and_refuses_others() {
    let (src, dst) = (unique("xmin_set_src"), unique("xmin_set_dst"));
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY, note text);
         INSERT INTO {src} SELECT g, 'before' FROM generate_series(1, 10) g;"
    ))
    .await;
    let snapshot: String = pg()
        .await
        .query_one("SELECT pg_current_snapshot()::text", &[])
        .await
        .unwrap()
        .get(0);
    pg_exec(&format!(
        "INSERT INTO {src} SELECT g, 'after' FROM generate_series(11, 15) g"
    ))
    .await;
    let yaml = job(
        &dst,
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: incremental_append\nincremental: {cursor: xmin}\n",
    );
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    let s = state.to_string_lossy().to_string();
    let set = |value: &str| {
        let v = format!("xmin={value}");
        run_ferry(
            FERRY,
            &["state", "set", "--state", &s, "--value", &v],
            &yaml,
        )
    };
    let out = set("yesterday");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("value.xmin"), "{}", out.stderr);
    // Ahead of the server: refused by the run, naming the reset.
    let out = set("4000000000:4000000000:");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run_ferry(FERRY, &["run", "--state", &s], &yaml);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("ahead") && out.stderr.contains("ferry state reset"),
        "{}",
        out.stderr
    );
    let out = set(&snapshot);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = run_once(&state, &yaml);
    assert_eq!(v["rows_committed"], 5, "{v}");
    let notes: i64 = pg()
        .await
        .query_one(
            &format!("SELECT count(*) FROM {dst} WHERE note = 'after'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(notes, 5);
    // Nothing new: the next run reads nothing.
    let v = run_once(&state, &yaml);
    assert_eq!(v["rows_committed"], 0, "{v}");
}
