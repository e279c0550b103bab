//! Retries with exponential back-off and the timeout of a schedule, on a
//! real server.
#![allow(clippy::unwrap_used)]

mod srv;

use std::time::Duration;

use chrono::DateTime;
use serde_json::json;
use srv::*;

fn at(v: &serde_json::Value) -> DateTime<chrono::Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_with_backoff_then_the_instance_fails() {
    let s = Server::simple(&Backend::Sqlite, "retries");
    s.ok(
        "POST",
        "/api/v1/connections",
        ADMIN,
        Some(json!({"name": "pg", "type": "postgres", "url": pg_url()})),
        201,
    )
    .await;
    let missing = unique("no_such_table");
    approved_pg_task(
        &s,
        "flaky",
        &missing,
        &unique("dst"),
        json!({"unit": "hour", "max_retries": 2, "retry_backoff": "1s"}),
    )
    .await;
    let i = s
        .ok(
            "POST",
            "/api/v1/tasks/flaky/instances",
            ADMIN,
            Some(json!({})),
            201,
        )
        .await;
    let d = s
        .wait_instance(i["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(d["state"], "failed", "{d}");
    let a = d["attempts"].as_array().unwrap();
    assert_eq!(a.len(), 3, "1 attempt + 2 retries: {d}");
    for x in a {
        assert_eq!(x["state"], "failed");
        assert!(
            x["error_message"].as_str().unwrap().contains(&missing),
            "{x}"
        );
    }
    // Back-off: ≥ 1 s before the 2nd attempt, ≥ 2 s before the 3rd.
    let gap1 = at(&a[1]["started_at"]) - at(&a[0]["finished_at"]);
    let gap2 = at(&a[2]["started_at"]) - at(&a[1]["finished_at"]);
    assert!(gap1.num_milliseconds() >= 1000, "{gap1}");
    assert!(gap2.num_milliseconds() >= 2000, "{gap2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_its_timeout_fails_and_leaves_the_target_unchanged() {
    let s = Server::simple(&Backend::Sqlite, "timeout");
    s.ok(
        "POST",
        "/api/v1/connections",
        ADMIN,
        Some(json!({"name": "pg", "type": "postgres", "url": pg_url()})),
        201,
    )
    .await;
    let view = unique("slow_to");
    make_slow_source(&view, 5000).await;
    let target = unique("to_dst");
    pg_exec(&format!(
        "CREATE TABLE {target} (id bigint, v text); INSERT INTO {target} VALUES (1, 'kept')"
    ))
    .await;
    approved_pg_task(
        &s,
        "slowpoke",
        &view,
        &target,
        json!({"unit": "hour", "timeout": "2s"}),
    )
    .await;
    let i = s
        .ok(
            "POST",
            "/api/v1/tasks/slowpoke/instances",
            ADMIN,
            Some(json!({})),
            201,
        )
        .await;
    let d = s
        .wait_instance(i["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(d["state"], "failed", "{d}");
    let a = &d["attempts"][0];
    assert_eq!(a["error_kind"], "timeout", "{d}");
    let took = at(&a["finished_at"]) - at(&a["started_at"]);
    assert!((2000..8000).contains(&took.num_milliseconds()), "{took}");
    assert_eq!(
        pg_digest(&format!("SELECT id::text || v FROM {target}")).await,
        digest(vec!["1kept".to_string()])
    );
}
