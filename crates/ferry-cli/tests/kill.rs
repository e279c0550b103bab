//! SIGKILL in the middle of a copy: the target must be exactly as before,
//! and a rerun must complete with the source's content (and no debris).

#![allow(clippy::unwrap_used)]

mod common;
use std::process::{Command, Stdio};

use common::*;

const ROWS: u32 = 1_500_000;

async fn make_big_pg(table: &str) {
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (id bigint PRIMARY KEY, payload text, amount numeric(12,2));
         INSERT INTO {table} SELECT g, md5(g::text) || md5((g * 7)::text), g * 0.01 FROM generate_series(1, {ROWS}) g;
         ANALYZE {table};"
    ))
    .await;
}

/// Starts `ferry run` and SIGKILLs it once it reports rows copied.
fn kill_mid_copy(yaml: &str) -> String {
    signal_mid_copy(yaml, "KILL").0
}

/// Starts `ferry run` and sends `signal` once it reports rows copied;
/// returns its stdout and stderr.
fn signal_mid_copy(yaml: &str, signal: &str) -> (String, String) {
    signal_mid_copy_when(yaml, signal, ROWS as u64, &|| true)
}

#[tokio::test]
async fn sigterm_cancels_cleanly_and_leaves_target_unchanged() {
    let (src, dst) = (unique("term_src"), unique("term_dst"));
    make_big_pg(&src).await;
    pg_exec(&format!(
        "CREATE TABLE {dst} (id bigint PRIMARY KEY, payload text, amount numeric(12,2));
         INSERT INTO {dst} VALUES (1, 'old', 1.00)"
    ))
    .await;
    let q = |t: &str| format!("SELECT t::text FROM {t} t");
    let before = pg_digest(&q(&dst)).await;
    let (seen, stderr) = signal_mid_copy(
        &job("term", &pg_endpoint(&src), &pg_endpoint(&dst), ""),
        "TERM",
    );
    assert!(
        stderr.contains("stopping") && stderr.contains("cancelled"),
        "stdout:\n{seen}\nstderr:\n{stderr}"
    );
    assert_eq!(pg_digest(&q(&dst)).await, before);
}

#[tokio::test]
async fn sigkill_mid_copy_into_postgres_leaves_target_unchanged() {
    let (src, dst) = (unique("kill_src"), unique("kill_dst"));
    make_big_pg(&src).await;
    pg_exec(&format!(
        "CREATE TABLE {dst} (id bigint PRIMARY KEY, payload text, amount numeric(12,2));
         INSERT INTO {dst} VALUES (1, 'old', 1.00), (2, 'old', 2.00)"
    ))
    .await;
    let q = |t: &str| format!("SELECT t::text FROM {t} t");
    let before = pg_digest(&q(&dst)).await;
    let yaml = job("kill_pg", &pg_endpoint(&src), &pg_endpoint(&dst), "");
    let seen = kill_mid_copy(&yaml);
    assert_eq!(
        pg_digest(&q(&dst)).await,
        before,
        "target changed after SIGKILL; ferry said:\n{seen}"
    );
    // The killed session's transaction must be gone (server noticed the broken connection).
    run_ok(&yaml);
    assert_eq!(pg_digest(&q(&dst)).await, pg_digest(&q(&src)).await);
}

#[tokio::test]
async fn sigkill_mid_copy_into_mariadb_leaves_target_unchanged_and_rerun_cleans_up() {
    let (src, dst) = (unique("killm_src"), unique("killm_dst"));
    make_big_pg(&src).await;
    my_exec(&format!(
        "CREATE TABLE `{dst}` (id bigint PRIMARY KEY, payload longtext, amount decimal(12,2));
         INSERT INTO `{dst}` VALUES (1, 'old', 1.00), (2, 'old', 2.00)"
    ))
    .await;
    let my_q = format!("SELECT concat_ws('|', id, payload, amount) FROM `{dst}`");
    let before = my_digest(&my_q).await;
    let yaml = job("kill_my", &pg_endpoint(&src), &my_endpoint(&dst), "");
    let seen = kill_mid_copy(&yaml);
    assert_eq!(
        my_digest(&my_q).await,
        before,
        "target changed after SIGKILL; ferry said:\n{seen}"
    );
    run_ok(&yaml);
    assert_eq!(
        my_digest(&my_q).await,
        pg_digest(&format!(
            "SELECT concat_ws('|', id, payload, amount) FROM {src}"
        ))
        .await
    );
    let debris = my_digest(&format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE '%{dst}%' AND table_name <> '{dst}'"
    ))
    .await;
    assert_eq!(debris.rows, 0, "staging debris left behind");
}

#[tokio::test]
async fn changes_committed_during_the_read_are_not_seen_by_any_split() {
    let (src, dst) = (unique("snap_src"), unique("snap_dst"));
    make_big_pg(&src).await;
    let q = |t: &str| format!("SELECT t::text FROM {t} t");
    let before = pg_digest(&q(&src)).await;
    let job_path = scratch_dir().join(format!("{}.yaml", unique("snap")));
    std::fs::write(
        &job_path,
        job("snap", &pg_endpoint(&src), &pg_endpoint(&dst), ""),
    )
    .unwrap();
    let child = Command::new(FERRY)
        .args(["run", "--json"])
        .arg(&job_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // --json prints no progress: wait until the target's COPY is under way instead.
    let client = pg().await;
    let mut copying = false;
    for _ in 0..200 {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %FROM STDIN%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            copying = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(copying, "the run never started copying");
    // Change the source in every key range while the splits are being read.
    client
        .batch_execute(&format!(
            "DELETE FROM {src} WHERE id % 10 = 0;
             UPDATE {src} SET payload = 'changed' WHERE id % 7 = 0;
             INSERT INTO {src} SELECT g, 'new', 0 FROM generate_series({ROWS} + 1, {ROWS} + 1000) g;"
        ))
        .await
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["splits"].as_array().unwrap().len() > 2, "{summary}");
    assert_eq!(
        pg_digest(&q(&dst)).await,
        before,
        "a split saw changes made after the read began"
    );
    assert_ne!(pg_digest(&q(&src)).await, before);
}
