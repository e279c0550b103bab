//! Parallel MariaDB reads see one snapshot. Two writers move money between
//! accounts at the low and the high end of the key range (low − 1, high + 1)
//! and open a new, empty account (the next id), counting it on account 1 — each in one
//! transaction — while Ferry reads the table in several key-range splits on
//! two connections. Splits read in different snapshots would see a transfer
//! on one side and not the other (the balance sum moves), or a new account
//! without its count. The test checks both invariants on the target, in
//! PostgreSQL's own SQL; a control shows two snapshots taken apart do break
//! them, so the check has teeth.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::mysql_async::prelude::Queryable;
use common::*;

const ACCOUNTS: i64 = 200_000;
const BALANCE: i64 = 100;
const TOTAL: i64 = ACCOUNTS * BALANCE;

async fn accounts(table: &str) {
    my_exec(&format!(
        "CREATE TABLE `{table}` (id bigint PRIMARY KEY, balance bigint NOT NULL, \
         opened bigint NOT NULL DEFAULT 0, pad varchar(60) NOT NULL)"
    ))
    .await;
    my_exec(&format!(
        "INSERT INTO `{table}` SELECT seq, {BALANCE}, 0, REPEAT('p', 60) FROM seq_1_to_{ACCOUNTS}"
    ))
    .await;
    my_exec(&format!("ANALYZE TABLE `{table}`")).await;
}

/// Writer `k`: transfers from a low account to a high one and opens an
/// account, in one transaction, until `stop` (the lock on account 1 orders
/// the writers, so the next id is free).
async fn writer(table: String, k: u64, stop: Arc<AtomicBool>, commits: Arc<AtomicU64>) {
    let mut c = my().await;
    let mut step = 0u64;
    while !stop.load(Ordering::SeqCst) {
        step += 1;
        let low = 2 + (step * 7 + k) % 1000;
        let high = ACCOUNTS as u64 - (step * 11 + k) % 1000;
        c.query_drop(format!(
            "START TRANSACTION;
             UPDATE `{table}` SET opened = opened + 1 WHERE id = 1;
             UPDATE `{table}` SET balance = balance - 1 WHERE id = {low};
             UPDATE `{table}` SET balance = balance + 1 WHERE id = {high};
             INSERT INTO `{table}` SELECT MAX(id) + 1, 0, 0, 'new' FROM `{table}`;
             COMMIT"
        ))
        .await
        .unwrap();
        commits.fetch_add(1, Ordering::SeqCst);
    }
}

/// (sum of balances, accounts beyond the first ones, opened count on account 1).
async fn pg_invariants(table: &str) -> (i64, i64, i64) {
    let r = pg()
        .await
        .query_one(
            &format!(
                "SELECT sum(balance)::int8, count(*) - {ACCOUNTS}, \
                 (SELECT opened FROM {table} WHERE id = 1) FROM {table}"
            ),
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

struct Writers {
    stop: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn start_writers(table: &str) -> Writers {
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let tasks = (0..2)
        .map(|k| tokio::spawn(writer(table.into(), k, stop.clone(), commits.clone())))
        .collect();
    Writers {
        stop,
        commits,
        tasks,
    }
}

impl Writers {
    async fn wait_for(&self, n: u64) {
        while self.commits.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.unwrap();
        }
        self.commits.load(Ordering::SeqCst)
    }
}

fn parallel_job(name: &str, source: &str, sink: &str) -> String {
    format!(
        "name: {name}\nsource: {source}\nsink: {sink}\n\
         engine: {{parallelism: 2, splits_per_reader: 2, min_rows_per_split: 20000}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_splits_of_a_parallel_read_see_one_snapshot_while_writers_commit() {
    let (src, dst) = (unique("mp_src"), unique("mp_dst"));
    accounts(&src).await;
    let writers = start_writers(&src);
    writers.wait_for(20).await;
    let before = writers.commits.load(Ordering::SeqCst);
    let yaml = parallel_job("mp", &my_endpoint(&src), &pg_endpoint(&dst));
    let v = tokio::task::spawn_blocking(move || run_ok(&yaml))
        .await
        .unwrap();
    let during = writers.commits.load(Ordering::SeqCst) - before;
    let total = writers.stop().await;
    let splits = v["splits"].as_array().unwrap();
    assert_eq!(splits.len(), 4, "{v}");
    for s in splits {
        let d = s["description"].as_str().unwrap();
        assert!(d.contains("one snapshot on 2 connections"), "{d}");
        assert!(s["rows"].as_u64().unwrap() > 0, "{v}");
    }
    assert!(
        during > 10,
        "writers committed only {during} transactions during the run"
    );
    let (sum, opened_rows, opened) = pg_invariants(&dst).await;
    assert_eq!(sum, TOTAL, "a transfer is half in the target");
    assert_eq!(
        opened_rows, opened,
        "accounts opened vs counted on account 1 differ"
    );
    assert!(
        opened >= before as i64 && opened <= total as i64,
        "{opened}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_snapshots_taken_apart_break_the_invariants() {
    let src = unique("mp_ctl");
    accounts(&src).await;
    let writers = start_writers(&src);
    writers.wait_for(5).await;
    let (mut a, mut b) = (my().await, my().await);
    a.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .unwrap();
    let at = writers.commits.load(Ordering::SeqCst);
    writers.wait_for(at + 20).await;
    b.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .unwrap();
    let half = ACCOUNTS / 2;
    let low: Option<i64> = a
        .query_first(format!(
            "SELECT CAST(SUM(balance) AS SIGNED) FROM `{src}` WHERE id < {half}"
        ))
        .await
        .unwrap();
    let high: Option<i64> = b
        .query_first(format!(
            "SELECT CAST(SUM(balance) AS SIGNED) FROM `{src}` WHERE id >= {half}"
        ))
        .await
        .unwrap();
    writers.stop().await;
    assert!(
        low.unwrap() + high.unwrap() > TOTAL,
        "two snapshots 20 transfers apart still add up: the invariant would not catch split snapshots"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_holding_the_table_longer_than_the_lock_wait_means_one_connection() {
    let (src, dst) = (unique("mp_held"), unique("mp_held_dst"));
    accounts(&src).await;
    let mut holder = my().await;
    holder
        .query_drop(format!(
            "START TRANSACTION; UPDATE `{src}` SET balance = balance - 7 WHERE id = 5"
        ))
        .await
        .unwrap();
    let yaml = parallel_job("mph", &my_endpoint(&src), &pg_endpoint(&dst));
    let v = tokio::task::spawn_blocking(move || run_ok(&yaml))
        .await
        .unwrap();
    holder.query_drop("ROLLBACK").await.unwrap();
    let splits = v["splits"].as_array().unwrap();
    assert_eq!(splits.len(), 1, "{v}");
    let d = splits[0]["description"].as_str().unwrap();
    assert!(
        d.contains("one connection") && d.contains("held writes"),
        "{d}"
    );
    // The uncommitted update is not in the target.
    assert_eq!(pg_invariants(&dst).await, (TOTAL, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_lock_tables_privilege_the_read_uses_one_connection() {
    let (src, dst) = (unique("mp_priv"), unique("mp_priv_dst"));
    accounts(&src).await;
    let user = unique("nolock");
    let db = mysql_url().rsplit('/').next().unwrap().to_string();
    my_exec(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON `{db}`.* TO '{user}'@'%'"
    ))
    .await;
    let url = format!("mysql://{user}:pw@127.0.0.1:3306/{db}");
    let source = format!("{{type: mysql, url: \"{url}\", table: \"{src}\"}}");
    let yaml = parallel_job("mpp", &source, &pg_endpoint(&dst));
    let v = tokio::task::spawn_blocking(move || run_ok(&yaml))
        .await
        .unwrap();
    my_exec(&format!("DROP USER '{user}'@'%'")).await;
    let splits = v["splits"].as_array().unwrap();
    assert_eq!(splits.len(), 1, "{v}");
    let d = splits[0]["description"].as_str().unwrap();
    assert!(d.contains("LOCK TABLES privilege"), "{d}");
    assert_eq!(pg_invariants(&dst).await, (TOTAL, 0, 0));
}
