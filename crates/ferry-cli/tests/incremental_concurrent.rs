//! 100 incremental merge runs while concurrent writers insert and update
//! rows in transactions that stay open across run boundaries and commit late
//! with cursor values older than rows already committed (and already synced).
//! With `lag` above the writers' longest transaction, the target must equal
//! the source at the end: no row lost, none twice, every update's last
//! version — for a PostgreSQL and a MariaDB source.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use common::mysql_async::prelude::Queryable;
use common::*;

const RUNS: usize = 100;
/// Runs after which the writers stop (the rest catch up past the lag).
const WRITING_RUNS: usize = 95;
const WRITERS: i64 = 3;
const INITIAL_ROWS: i64 = 2000;

fn run_once(state: &std::path::Path, yaml: &str) -> serde_json::Value {
    let s = state.to_string_lossy().to_string();
    let out = run_ferry(FERRY, &["run", "--json", "--state", &s], yaml);
    assert_eq!(out.code, 0, "run failed:\n{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// Runs the task `RUNS` times while `writers` write; returns the rows moved.
async fn drive(state: &std::path::Path, yaml: &str, stop: Arc<AtomicBool>) -> u64 {
    let mut moved = 0;
    for i in 0..RUNS {
        if i == WRITING_RUNS {
            stop.store(true, Ordering::SeqCst);
            // Every open transaction ends and the source clock passes the lag.
            tokio::time::sleep(Duration::from_millis(2500)).await;
        }
        let (state, yaml) = (state.to_path_buf(), yaml.to_string());
        let v = tokio::task::spawn_blocking(move || run_once(&state, &yaml))
            .await
            .unwrap();
        moved += v["rows_committed"].as_u64().unwrap();
    }
    moved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_source_with_late_commits_and_updates_over_100_runs() {
    let (src, dst) = (unique("cw_pg_src"), unique("cw_pg_dst"));
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {src};
         CREATE TABLE {src} (id bigint PRIMARY KEY, v bigint NOT NULL, w text,
                             updated_at timestamptz(6) NOT NULL);
         CREATE INDEX ON {src} (updated_at);
         INSERT INTO {src} SELECT g, 0, 'w' || g, now() - interval '1 hour'
           FROM generate_series(1, {INITIAL_ROWS}) g;"
    ))
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicI64::new(INITIAL_ROWS + 1));
    let mut writers = Vec::new();
    for k in 0..WRITERS {
        let (src, stop, next_id) = (src.clone(), stop.clone(), next_id.clone());
        writers.push(tokio::spawn(async move {
            let c = pg().await;
            let mut n = 0u64;
            let mut step = 0i64;
            while !stop.load(Ordering::SeqCst) {
                step += 1;
                let first = next_id.fetch_add(4, Ordering::SeqCst);
                // now() is the transaction's start: rows committed at the end
                // carry a cursor value older than other writers' commits.
                c.batch_execute("BEGIN").await.unwrap();
                c.batch_execute(&format!(
                    "INSERT INTO {src} SELECT g, 0, 'new', now() FROM generate_series({first}, {}) g;
                     UPDATE {src} SET v = v + 1, w = 'upd' || v, updated_at = now()
                      WHERE id % {WRITERS} = {k} AND id % 97 = {};",
                    first + 3,
                    step % 97
                ))
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis((step as u64 * 37 + k as u64 * 101) % 450)).await;
                c.batch_execute("COMMIT").await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    let yaml = job(
        &src,
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: incremental_merge\nincremental: {cursor: updated_at, lag: 1s}\n",
    );
    let moved = drive(&state, &yaml, stop.clone()).await;
    let mut transactions = 0;
    for w in writers {
        transactions += w.await.unwrap();
    }
    let sql = |t: &str| {
        format!(
            "SELECT concat_ws('|', id, v, w, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')) FROM {t}"
        )
    };
    let (a, b) = (pg_digest(&sql(&src)).await, pg_digest(&sql(&dst)).await);
    assert!(
        transactions > 20,
        "the writers barely wrote ({transactions} transactions)"
    );
    assert_eq!(
        a, b,
        "after {RUNS} runs ({moved} rows moved, {transactions} writer transactions) the target differs from the source"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_source_with_late_commits_and_updates_over_100_runs() {
    let (src, dst) = (unique("cw_my_src"), unique("cw_my_dst"));
    my_exec(&format!("DROP TABLE IF EXISTS `{src}`")).await;
    my_exec(&format!(
        "CREATE TABLE `{src}` (id bigint PRIMARY KEY, v bigint NOT NULL, w varchar(40),
                               updated_at datetime(6) NOT NULL, KEY (updated_at))"
    ))
    .await;
    my_exec(&format!(
        "INSERT INTO `{src}` SELECT seq, 0, concat('w', seq), NOW(6) - INTERVAL 1 HOUR FROM seq_1_to_{INITIAL_ROWS}"
    ))
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicI64::new(INITIAL_ROWS + 1));
    let mut writers = Vec::new();
    for k in 0..WRITERS {
        let (src, stop, next_id) = (src.clone(), stop.clone(), next_id.clone());
        writers.push(tokio::spawn(async move {
            let mut c = my().await;
            // Row locks of the scanning UPDATE end with the statement.
            c.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                .await
                .unwrap();
            let mut n = 0u64;
            let mut step = 0i64;
            while !stop.load(Ordering::SeqCst) {
                step += 1;
                let first = next_id.fetch_add(4, Ordering::SeqCst);
                // The cursor value is taken when the transaction starts and
                // committed up to 450 ms later.
                c.query_drop("START TRANSACTION").await.unwrap();
                c.query_drop("SET @t = NOW(6)").await.unwrap();
                let wrote = async {
                    c.query_drop(format!(
                        "INSERT INTO `{src}` SELECT seq, 0, 'new', @t FROM seq_{first}_to_{}",
                        first + 3
                    ))
                    .await?;
                    c.query_drop(format!(
                        "UPDATE `{src}` SET v = v + 1, w = concat('upd', v), updated_at = @t
                          WHERE id % {WRITERS} = {k} AND id % 97 = {}",
                        step % 97
                    ))
                    .await
                }
                .await;
                if let Err(e) = wrote {
                    // A deadlock victim is rolled back whole; the next
                    // transaction goes on (like any application would).
                    assert!(e.to_string().contains("Deadlock"), "writer failed: {e}");
                    c.query_drop("ROLLBACK").await.unwrap();
                    continue;
                }
                tokio::time::sleep(Duration::from_millis(
                    (step as u64 * 37 + k as u64 * 101) % 450,
                ))
                .await;
                c.query_drop("COMMIT").await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let state = scratch_dir().join(format!("{}.db", unique("state")));
    let yaml = job(
        &src,
        &my_endpoint(&src),
        &pg_endpoint(&dst),
        "mode: incremental_merge\nincremental: {cursor: updated_at, lag: 1s}\n",
    );
    let moved = drive(&state, &yaml, stop.clone()).await;
    let mut transactions = 0;
    for w in writers {
        transactions += w.await.unwrap();
    }
    let a = my_digest(&format!(
        "SELECT concat_ws('|', id, v, w, date_format(updated_at, '%Y-%m-%d %H:%i:%s.%f')) FROM `{src}`"
    ))
    .await;
    let b = pg_digest(&format!(
        "SELECT concat_ws('|', id, v, w, to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS.US')) FROM {dst}"
    ))
    .await;
    assert!(
        transactions > 20,
        "the writers barely wrote ({transactions} transactions)"
    );
    assert_eq!(
        a, b,
        "after {RUNS} runs ({moved} rows moved, {transactions} writer transactions) the target differs from the source"
    );
}
