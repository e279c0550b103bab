//! The built-in scheduler is durable: a server killed during a busy period
//! and restarted neither misses nor repeats a logical time. The scheduler's
//! clock is a file the test moves forward (`--clock-file`), one simulated
//! minute per step, 1,000 steps; the server is SIGKILLed at step 400 and
//! restarted at step 600 (the 200 minutes in between are caught up under
//! `misfire: catch_up`). The server runs no instances (`--runners 0`), so
//! the count is about scheduling alone.
#![allow(clippy::unwrap_used)]

mod srv;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use srv::*;

fn set_clock(path: &std::path::Path, t: DateTime<Utc>) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, t.to_rfc3339()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn start(backend: &Backend, dir: &std::path::Path, clock: &std::path::Path) -> Server {
    Server::start_with(
        Options {
            backend,
            dir: dir.to_path_buf(),
            node: "sched",
            lease_secs: 30.0,
            runners: 0,
            transcript: Transcript::default(),
        },
        &["--tick-ms", "20", "--clock-file", clock.to_str().unwrap()],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_scheduler_neither_misses_nor_repeats_over_1000_ticks() {
    let backend = Backend::fresh("postgres").await;
    let Backend::Postgres(store_url) = &backend else {
        unreachable!()
    };
    let dir = scratch_dir().join(unique("sched_crash"));
    std::fs::create_dir_all(&dir).unwrap();
    let clock = dir.join("clock");
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    set_clock(&clock, t0);
    let mut s = start(&backend, &dir, &clock);
    let approver = s.user("crash_ap", "approver").await;
    for name in ["a", "b"] {
        s.ok(
            "POST",
            "/api/v1/connections",
            ADMIN,
            Some(json!({"name": name, "type": "sqlite", "path": dir.join(format!("{name}.db")).to_str().unwrap()})),
            201,
        )
        .await;
    }
    let spec = json!({
        "name": "every_minute",
        "source": {"type": "sqlite", "connection": "a", "table": "t"},
        "sink": {"type": "sqlite", "connection": "b", "table": "t"}
    });
    let schedule = json!({
        "unit": "minute", "start_time": "2026-01-01T00:01:00Z",
        "misfire": "catch_up", "max_catch_up": 10000
    });
    s.ok(
        "POST",
        "/api/v1/tasks",
        ADMIN,
        Some(json!({"spec": spec, "schedule": schedule})),
        201,
    )
    .await;
    let submitted = s
        .ok(
            "POST",
            "/api/v1/tasks/every_minute/submit",
            ADMIN,
            Some(json!({})),
            200,
        )
        .await;
    s.ok(
        "POST",
        "/api/v1/tasks/every_minute/approve",
        &approver,
        Some(json!({"revision": submitted["revision"], "keep_paused": true})),
        200,
    )
    .await;
    s.ok(
        "POST",
        "/api/v1/tasks/every_minute/resume",
        ADMIN,
        Some(json!({})),
        200,
    )
    .await;

    let (client, conn) = tokio_postgres::connect(store_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let count = || async {
        let row = client
            .query_one(
                "SELECT count(*), count(DISTINCT logical_time) FROM ferry_instances",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    for step in 1..=1000i64 {
        set_clock(&clock, t0 + chrono::Duration::minutes(step));
        if step == 400 {
            // Busy: let it catch up to here, then kill it mid-stream.
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.kill();
        }
        if step == 600 {
            s = start(&backend, &dir, &clock);
        }
        if step % 10 == 0 && !(400..600).contains(&step) {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (n, distinct) = count().await;
        assert_eq!(n, distinct, "a logical time was scheduled twice");
        if n >= 1000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of 1000 instances after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let it tick a while longer at the final time: nothing more appears.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT logical_time), min(logical_time), max(logical_time), \
             count(*) FILTER (WHERE window_end = logical_time AND trigger = 'schedule') FROM ferry_instances",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, i64>(0),
        1000,
        "exactly one instance per simulated minute"
    );
    assert_eq!(row.get::<_, i64>(1), 1000);
    assert_eq!(row.get::<_, String>(2), "2026-01-01T00:01:00.000000Z");
    assert_eq!(row.get::<_, String>(3), "2026-01-01T16:40:00.000000Z");
    assert_eq!(row.get::<_, i64>(4), 1000);
}
