//! Late commits with the default settings (`lag: auto`): four writers keep
//! transactions open across runs (0.1–1.6 s) and commit rows whose cursor —
//! `now()`, fixed when the transaction began — is older than rows other
//! writers committed (and Ferry read) meanwhile. After 30 runs and a last
//! one once the writers stop, the target holds every row version of the
//! source: none lost, none twice (append into a target with no key, counted
//! by `(id, version)`), none stale (merge). The same with `lag: 0` is the
//! negative control: it loses rows, so the scenario does exercise late
//! commits. For a PostgreSQL and a MariaDB source; counted by this test from
//! both databases' rows, not by Ferry.
//!
//! The serial scenarios do the same with a numeric cursor: the writers
//! insert rows whose `id` the database's own sequence (identity,
//! AUTO_INCREMENT) gives, so a transaction held open holds ids below those
//! others commit meanwhile; `lag: none` is their negative control.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use common::mysql_async::prelude::Queryable;
use common::*;

const RUNS: usize = 30;
const WRITERS: i64 = 4;
const INITIAL_ROWS: i64 = 200;

#[derive(Clone, Copy, PartialEq)]
enum Db {
    Postgres,
    Mariadb,
}

#[derive(Debug, Default)]
struct Outcome {
    /// Source row versions missing from the target.
    lost: usize,
    /// Target rows beyond the first of each `(id, version)`.
    duplicated: usize,
    /// Target rows whose version is not the source's (merge).
    stale: usize,
    /// Writer transactions committed while the runs went on.
    transactions: u64,
    /// The watermark records' bounds, for messages.
    bounds: Vec<String>,
}

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

/// Which cursor the scenario's task reads by, and what the writers do.
#[derive(Clone, Copy, PartialEq)]
enum Cursor {
    /// `updated_at`: inserts and updates, `now()` at the transaction's start.
    Time,
    /// `id` from the database's sequence: inserts only.
    Serial,
}

async fn pg_writer(
    src: String,
    k: i64,
    cursor: Cursor,
    stop: Arc<AtomicBool>,
    next: Arc<AtomicI64>,
) -> u64 {
    let c = pg().await;
    let (mut step, mut n) = (0i64, 0u64);
    while !stop.load(Ordering::SeqCst) {
        step += 1;
        let first = next.fetch_add(3, Ordering::SeqCst);
        // now() is the transaction's start, whatever the statement's time.
        c.batch_execute("BEGIN").await.unwrap();
        let sql = match cursor {
            Cursor::Serial => format!(
                "INSERT INTO {src} (version, updated_at) SELECT 0, now() FROM generate_series(1, 3)"
            ),
            Cursor::Time => format!(
                "INSERT INTO {src} SELECT g, 0, now() FROM generate_series({first}, {}) g;
                 UPDATE {src} SET version = version + 1, updated_at = now() WHERE id IN ({});",
                first + 2,
                updated_ids(step, k)
            ),
        };
        c.batch_execute(&sql).await.unwrap();
        tokio::time::sleep(hold(step, k)).await;
        c.batch_execute("COMMIT").await.unwrap();
        n += 1;
    }
    n
}

async fn my_writer(
    src: String,
    k: i64,
    cursor: Cursor,
    stop: Arc<AtomicBool>,
    next: Arc<AtomicI64>,
) -> u64 {
    let mut c = my().await;
    let (mut step, mut n) = (0i64, 0u64);
    while !stop.load(Ordering::SeqCst) {
        step += 1;
        let first = next.fetch_add(3, Ordering::SeqCst);
        c.query_drop("START TRANSACTION").await.unwrap();
        if cursor == Cursor::Serial {
            c.query_drop(format!(
                "INSERT INTO `{src}` (version, updated_at) SELECT 0, NOW(6) FROM seq_1_to_3"
            ))
            .await
            .unwrap();
            tokio::time::sleep(hold(step, k)).await;
            c.query_drop("COMMIT").await.unwrap();
            n += 1;
            continue;
        }
        // NOW(6) of the first statement: the transaction's start as InnoDB
        // registers it; the update's is later.
        c.query_drop(format!(
            "INSERT INTO `{src}` SELECT seq, 0, NOW(6) FROM seq_{first}_to_{}",
            first + 2
        ))
        .await
        .unwrap();
        c.query_drop(format!(
            "UPDATE `{src}` SET version = version + 1, updated_at = NOW(6) WHERE id IN ({})",
            updated_ids(step, k)
        ))
        .await
        .unwrap();
        tokio::time::sleep(hold(step, k)).await;
        c.query_drop("COMMIT").await.unwrap();
        n += 1;
    }
    n
}

async fn pg_versions(table: &str) -> Vec<(i64, i64)> {
    pg().await
        .query(&format!("SELECT id, version::bigint FROM {table}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn my_versions(table: &str) -> Vec<(i64, i64)> {
    my().await
        .query(format!("SELECT id, CAST(version AS SIGNED) FROM `{table}`"))
        .await
        .unwrap()
}

fn run_once(state: &std::path::Path, yaml: &str) -> serde_json::Value {
    let s = state.to_string_lossy().to_string();
    let out = run_ferry(FERRY, &["run", "--json", "--state", &s], yaml);
    assert_eq!(out.code, 0, "run failed:\n{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// One `ferry run`; keeps its watermark's bound.
async fn run_and_record(state: &std::path::Path, yaml: &str, bounds: &mut Vec<String>) {
    let (state, yaml) = (state.to_path_buf(), yaml.to_string());
    let v = tokio::task::spawn_blocking(move || run_once(&state, &yaml))
        .await
        .unwrap();
    if let Some(b) = v["watermark"]["bound"].as_str() {
        bounds.push(b.to_string());
    }
}

/// One scenario: a source on `db`, a PostgreSQL target, `mode`, `lag`
/// (`None`: the default).
async fn scenario(db: Db, merge: bool, lag: Option<&str>) -> Outcome {
    scenario_by(db, Cursor::Time, merge, lag).await
}

/// [`scenario`] with the cursor chosen.
async fn scenario_by(db: Db, cursor: Cursor, merge: bool, lag: Option<&str>) -> Outcome {
    let tag = format!(
        "lc_{}_{}_{}_{}",
        if db == Db::Postgres { "pg" } else { "my" },
        if cursor == Cursor::Serial {
            "serial"
        } else {
            "time"
        },
        if merge { "merge" } else { "append" },
        if lag.is_some() { "fixed" } else { "auto" }
    );
    // The first rows have ids 1..=INITIAL_ROWS; the sequence goes on after.
    let id = match (db, cursor) {
        (_, Cursor::Time) => "id bigint PRIMARY KEY".to_string(),
        (Db::Postgres, Cursor::Serial) => format!(
            "id bigint GENERATED BY DEFAULT AS IDENTITY (START WITH {}) PRIMARY KEY",
            INITIAL_ROWS + 1
        ),
        (Db::Mariadb, Cursor::Serial) => "id bigint AUTO_INCREMENT PRIMARY KEY".to_string(),
    };
    let (src, dst) = (unique(&format!("{tag}_src")), unique(&format!("{tag}_dst")));
    let source = match db {
        Db::Postgres => {
            pg_exec(&format!(
                "CREATE TABLE {src} ({id}, version int NOT NULL, updated_at timestamptz NOT NULL);
                 CREATE INDEX ON {src} (updated_at);
                 INSERT INTO {src} SELECT g, 0, now() - interval '1 hour' FROM generate_series(1, {INITIAL_ROWS}) g;"
            ))
            .await;
            pg_endpoint(&src)
        }
        Db::Mariadb => {
            my_exec(&format!(
                "CREATE TABLE `{src}` ({id}, version int NOT NULL,
                                       updated_at datetime(6) NOT NULL, KEY (updated_at))"
            ))
            .await;
            my_exec(&format!(
                "INSERT INTO `{src}` SELECT seq, 0, NOW(6) - INTERVAL 1 HOUR FROM seq_1_to_{INITIAL_ROWS}"
            ))
            .await;
            my_endpoint(&src)
        }
    };
    // The append target has no key: a row read twice is there twice.
    if !merge {
        let at = match db {
            Db::Postgres => "timestamptz",
            Db::Mariadb => "timestamp",
        };
        pg_exec(&format!(
            "CREATE TABLE {dst} (id bigint, version int, updated_at {at})"
        ))
        .await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicI64::new(INITIAL_ROWS + 1));
    let writers: Vec<_> = (0..WRITERS)
        .map(|k| {
            let (src, stop, next) = (src.clone(), stop.clone(), next.clone());
            match db {
                Db::Postgres => tokio::spawn(pg_writer(src, k, cursor, stop, next)),
                Db::Mariadb => tokio::spawn(my_writer(src, k, cursor, stop, next)),
            }
        })
        .collect();
    let mode = if merge {
        "incremental_merge"
    } else {
        "incremental_append"
    };
    let lag = lag.map(|l| format!(", lag: {l}")).unwrap_or_default();
    let yaml = job(
        &dst,
        &source,
        &pg_endpoint(&dst),
        &format!(
            "mode: {mode}\nincremental: {{cursor: {}{lag}}}\n",
            match cursor {
                Cursor::Time => "updated_at",
                Cursor::Serial => "id",
            }
        ),
    );
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    let mut bounds = Vec::new();
    for _ in 0..RUNS {
        run_and_record(&state, &yaml, &mut bounds).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut transactions = 0;
    for w in writers {
        transactions += w.await.unwrap();
    }
    // Every transaction has ended; the clock passes the margin; a last run.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    run_and_record(&state, &yaml, &mut bounds).await;

    let source_rows = match db {
        Db::Postgres => pg_versions(&src).await,
        Db::Mariadb => my_versions(&src).await,
    };
    let target_rows = pg_versions(&dst).await;
    let mut out = Outcome {
        transactions,
        bounds,
        ..Outcome::default()
    };
    let mut seen = HashSet::new();
    for r in &target_rows {
        if !seen.insert(*r) {
            out.duplicated += 1;
        }
    }
    let latest: HashMap<i64, i64> = target_rows.iter().fold(HashMap::new(), |mut m, (id, v)| {
        let e = m.entry(*id).or_insert(*v);
        *e = (*e).max(*v);
        m
    });
    for (id, version) in &source_rows {
        match latest.get(id) {
            None => out.lost += 1,
            Some(v) if merge && v != version => out.stale += 1,
            Some(_) if !merge && !seen.contains(&(*id, *version)) => out.lost += 1,
            Some(_) => {}
        }
    }
    out
}

fn assert_exact(o: &Outcome) {
    assert_complete(o);
    assert!(
        o.bounds
            .iter()
            .any(|b| b.contains("oldest open transaction")),
        "no run was bounded by an open transaction: {:#?}",
        o.bounds
    );
}

/// [`assert_exact`] for a numeric cursor: some run waited for writers.
fn assert_exact_serial(o: &Outcome) {
    assert_complete(o);
    assert!(
        o.bounds
            .iter()
            .any(|b| b.contains("writing transaction(s) open then ended")),
        "no run waited for an open transaction: {:#?}",
        o.bounds
    );
}

fn assert_complete(o: &Outcome) {
    assert!(
        o.transactions > 20,
        "the writers barely wrote ({} transactions)",
        o.transactions
    );
    assert_eq!(
        (o.lost, o.duplicated, o.stale),
        (0, 0, 0),
        "lost, duplicated, stale after {RUNS} runs with lag: auto ({} writer transactions); bounds: {:#?}",
        o.transactions,
        o.bounds
    );
}

fn assert_loses(o: &Outcome) {
    assert!(
        o.lost + o.stale > 0,
        "lag: 0 lost nothing over {RUNS} runs ({} writer transactions): the scenario does not exercise late commits",
        o.transactions
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_append_with_the_default_lag_loses_and_repeats_nothing() {
    assert_exact(&scenario(Db::Postgres, false, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_merge_with_the_default_lag_is_complete_and_current() {
    assert_exact(&scenario(Db::Postgres, true, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_merge_with_lag_0_loses_rows() {
    assert_loses(&scenario(Db::Postgres, true, Some("0")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_append_with_the_default_lag_loses_and_repeats_nothing() {
    assert_exact(&scenario(Db::Mariadb, false, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_merge_with_the_default_lag_is_complete_and_current() {
    assert_exact(&scenario(Db::Mariadb, true, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_merge_with_lag_0_loses_rows() {
    assert_loses(&scenario(Db::Mariadb, true, Some("0")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_serial_append_with_the_default_lag_loses_and_repeats_nothing() {
    assert_exact_serial(&scenario_by(Db::Postgres, Cursor::Serial, false, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_serial_append_with_no_lag_loses_rows() {
    assert_loses(&scenario_by(Db::Postgres, Cursor::Serial, false, Some("none")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_serial_append_with_the_default_lag_loses_and_repeats_nothing() {
    assert_exact_serial(&scenario_by(Db::Mariadb, Cursor::Serial, false, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_serial_append_with_no_lag_loses_rows() {
    assert_loses(&scenario_by(Db::Mariadb, Cursor::Serial, false, Some("none")).await);
}
