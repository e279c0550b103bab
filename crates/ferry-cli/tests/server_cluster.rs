//! Two `ferry server` processes on one PostgreSQL store: every instance
//! runs exactly once across them, and when the server running an instance
//! is killed, the other takes it over once the lease expires and completes
//! it, with the data checked by content.
#![allow(clippy::unwrap_used)]

mod srv;

use std::time::{Duration, Instant};

use serde_json::json;
use srv::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_work_and_take_over_a_killed_run() {
    let backend = Backend::fresh("postgres").await;
    let dir = scratch_dir().join(unique("cluster"));
    let transcript = Transcript::default();
    let start = |node: &'static str| {
        Server::start(Options {
            backend: &backend,
            dir: dir.join(node),
            node,
            lease_secs: 3.0,
            runners: 2,
            transcript: transcript.clone(),
        })
    };
    let mut a = start("node-a");
    let mut b = start("node-b");
    a.ok(
        "POST",
        "/api/v1/connections",
        ADMIN,
        Some(json!({"name": "pg", "type": "postgres", "url": pg_url()})),
        201,
    )
    .await;

    // 1. Twelve instances, up to four at once: each runs exactly once.
    let source = unique("cl_src");
    pg_exec(&format!(
        "CREATE TABLE {source} AS SELECT g AS id, 'r' || g AS v FROM generate_series(1, 3000) g; \
         ALTER TABLE {source} ADD PRIMARY KEY (id);"
    ))
    .await;
    let target = unique("cl_dst");
    approved_pg_task(
        &a,
        "many",
        &source,
        &target,
        json!({"unit": "hour", "overlap": "parallel", "max_parallel": 4}),
    )
    .await;
    let r = b
        .ok(
            "POST",
            "/api/v1/tasks/many/backfill",
            ADMIN,
            Some(json!({"from": "2026-05-01T00:00:00Z", "to": "2026-05-01T11:00:00Z"})),
            200,
        )
        .await;
    let ids: Vec<String> = r["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 12);
    let mut runners = std::collections::BTreeSet::new();
    for id in &ids {
        let d = a.wait_instance(id, Duration::from_secs(120)).await;
        assert_eq!(d["state"], "succeeded", "{d}");
        let attempts = d["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "instance {id} ran more than once: {d}");
        runners.insert(attempts[0]["runner"].as_str().unwrap().to_string());
    }
    assert_eq!(runners.len(), 2, "both servers took work: {runners:?}");
    assert_eq!(
        pg_digest(&format!("SELECT id::text || v FROM {source}")).await,
        pg_digest(&format!("SELECT id::text || v FROM {target}")).await
    );

    // 2. A slow run; kill its server; the other one finishes it.
    let view = unique("cl_slow");
    make_slow_source(&view, 2500).await;
    let slow_target = unique("cl_slow_dst");
    pg_exec(&format!(
        "CREATE TABLE {slow_target} (id bigint, v text); INSERT INTO {slow_target} VALUES (0, 'old')"
    ))
    .await;
    approved_pg_task(&a, "slow", &view, &slow_target, json!({"unit": "hour"})).await;
    let i = a
        .ok(
            "POST",
            "/api/v1/tasks/slow/instances",
            ADMIN,
            Some(json!({})),
            201,
        )
        .await;
    let id = i["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let owner = loop {
        let v = a.get(&format!("/api/v1/instances/{id}"), ADMIN).await.1;
        if v["state"] == "running" {
            break v["lease_owner"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "never ran: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (victim, survivor) = if owner == "node-a" {
        (&mut a, &b)
    } else {
        (&mut b, &a)
    };
    victim.kill();
    let killed_at = chrono::Utc::now();
    let d = survivor.wait_instance(&id, Duration::from_secs(120)).await;
    assert_eq!(d["state"], "succeeded", "{d}");
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{d}");
    assert_eq!(attempts[0]["runner"], owner.as_str());
    assert_eq!(attempts[0]["state"], "lost", "{d}");
    assert_eq!(attempts[1]["runner"], survivor.node.as_str());
    assert_eq!(attempts[1]["state"], "succeeded");
    let took_over =
        chrono::DateTime::parse_from_rfc3339(attempts[1]["started_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
    let waited = (took_over - killed_at).num_milliseconds();
    assert!(
        (1_500..15_000).contains(&waited),
        "taken over {waited} ms after the kill; the lease is 3 s"
    );
    assert_eq!(
        pg_digest(&format!("SELECT id::text || v FROM {view}")).await,
        pg_digest(&format!("SELECT id::text || v FROM {slow_target}")).await,
        "the take-over's data is complete, the killed attempt left nothing behind"
    );
}
