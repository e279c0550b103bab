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
async fn transient_failures_are_retried_with_backoff_then_the_instance_fails() {
    let s = Server::simple(&Backend::Sqlite, "retries");
    // Nothing listens on port 1: every attempt fails to connect (transient).
    let down = pg_url().replacen(":5432/", ":1/", 1);
    assert_ne!(down, pg_url(), "the test URL names port 5432");
    s.ok(
        "POST",
        "/api/v1/connections",
        ADMIN,
        Some(json!({"name": "pg", "type": "postgres", "url": down})),
        201,
    )
    .await;
    approved_pg_task(
        &s,
        "flaky",
        &unique("src"),
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
        assert_eq!(x["error_kind"], "transient", "{x}");
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

/// Starts an instance of `task` now and waits for it to end.
async fn run_now(s: &Server, task: &str, timeout: Duration) -> serde_json::Value {
    let i = s
        .ok(
            "POST",
            &format!("/api/v1/tasks/{task}/instances"),
            ADMIN,
            Some(json!({})),
            201,
        )
        .await;
    s.wait_instance(i["id"].as_str().unwrap(), timeout).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_config_is_not_retried() {
    let s = Server::simple(&Backend::Sqlite, "noretry");
    s.ok(
        "POST",
        "/api/v1/connections",
        ADMIN,
        Some(json!({"name": "pg", "type": "postgres", "url": pg_url()})),
        201,
    )
    .await;
    let retries = json!({"unit": "hour", "max_retries": 2, "retry_backoff": "1s"});
    // The source table is dropped after approval: not found, every time.
    let src = unique("gone_src");
    pg_exec(&format!("CREATE TABLE {src} (id bigint, v text)")).await;
    approved_pg_task(&s, "gone", &src, &unique("dst"), retries.clone()).await;
    pg_exec(&format!("DROP TABLE {src}")).await;
    let d = run_now(&s, "gone", Duration::from_secs(60)).await;
    assert_eq!(d["state"], "failed", "{d}");
    let a = d["attempts"].as_array().unwrap();
    assert_eq!(a.len(), 1, "not retried: {d}");
    assert_eq!(a[0]["error_kind"], "not_found", "{d}");

    // A source_filter on a column the source does not have: the user's error.
    let src = unique("badcol_src");
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint, v text); INSERT INTO {src} VALUES (1, 'a')"
    ))
    .await;
    let approver = s.user("ap_badcol", "approver").await;
    let spec = json!({
        "name": "badcol",
        "source": {"type": "postgres", "connection": "pg", "table": src},
        "sink": {"type": "postgres", "connection": "pg", "table": unique("dst")},
        "source_filter": "nope > 0"
    });
    s.ok(
        "POST",
        "/api/v1/tasks",
        ADMIN,
        Some(json!({"spec": spec, "schedule": retries})),
        201,
    )
    .await;
    s.submit_and_approve("badcol", ADMIN, &approver).await;
    let d = run_now(&s, "badcol", Duration::from_secs(60)).await;
    assert_eq!(d["state"], "failed", "{d}");
    let a = d["attempts"].as_array().unwrap();
    assert_eq!(a.len(), 1, "not retried: {d}");
    assert_eq!(a[0]["error_kind"], "invalid_config", "{d}");
    let m = a[0]["error_message"].as_str().unwrap();
    assert!(m.contains("source_filter") && m.contains("`nope`"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_is_retried_and_the_instance_succeeds() {
    let s = Server::simple(&Backend::Sqlite, "reset");
    s.ok(
        "POST",
        "/api/v1/connections",
        ADMIN,
        Some(json!({"name": "pg", "type": "postgres", "url": pg_url()})),
        201,
    )
    .await;
    let view = unique("reset_src");
    make_slow_source(&view, 2500).await;
    let target = unique("reset_dst");
    approved_pg_task(
        &s,
        "resetme",
        &view,
        &target,
        json!({"unit": "hour", "max_retries": 2, "retry_backoff": "1s"}),
    )
    .await;
    let i = s
        .ok(
            "POST",
            "/api/v1/tasks/resetme/instances",
            ADMIN,
            Some(json!({})),
            201,
        )
        .await;
    // Terminate the backend that runs the first attempt's COPY.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let killed = pg()
            .await
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE query LIKE 'COPY (SELECT%' AND query LIKE '%' || $1 || '%' \
                 AND pid <> pg_backend_pid()",
                &[&view],
            )
            .await
            .unwrap();
        if !killed.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the COPY never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = s
        .wait_instance(i["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(d["state"], "succeeded", "{d}");
    let a = d["attempts"].as_array().unwrap();
    assert_eq!(a.len(), 2, "the reset attempt, then a good one: {d}");
    assert_eq!(a[0]["state"], "failed", "{d}");
    assert_eq!(a[0]["error_kind"], "transient", "{d}");
    assert_eq!(
        pg_digest(&format!("SELECT count(*)::text FROM {target}")).await,
        digest(vec!["2500".into()])
    );
}
