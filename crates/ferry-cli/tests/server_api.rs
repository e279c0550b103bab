//! The control plane over a real socket, on both store backends: task
//! lifecycle with data checked by content, optimistic concurrency, rerun
//! and backfill instance counts, stop mid-run, and no secret anywhere in
//! the server's output or the API's responses.
#![allow(clippy::unwrap_used)]

mod srv;

use std::time::Duration;

use serde_json::{Value, json};
use srv::*;

/// A password the tests give a connection: it must never come back.
fn secret() -> String {
    format!("S3cret-{}-pw", unique("x"))
}

async fn make_source(table: &str, rows: u32) {
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {table}; \
         CREATE TABLE {table} (id bigint PRIMARY KEY, name text, amount numeric(12,2), ts timestamptz); \
         INSERT INTO {table} SELECT g, 'n' || g, g * 1.25, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' \
         FROM generate_series(1, {rows}) g; ANALYZE {table};"
    ))
    .await;
}

fn canonical(table: &str) -> String {
    format!(
        "SELECT concat_ws('|', id::text, coalesce(name,'~'), amount::text, \
         to_char(ts AT TIME ZONE 'UTC','YYYY-MM-DD HH24:MI:SS')) FROM {table}"
    )
}

/// A PG connection named `name` to the test database, with a password.
async fn pg_connection(s: &Server, token: &str, name: &str, password: &str) {
    let url = pg_url();
    s.ok(
        "POST",
        "/api/v1/connections",
        token,
        Some(json!({"name": name, "type": "postgres", "url": url, "password": password})),
        201,
    )
    .await;
}

fn task_spec(name: &str, source: &str, target: &str) -> Value {
    json!({
        "name": name,
        "source": {"type": "postgres", "connection": "src", "table": source},
        "sink": {"type": "postgres", "connection": "dst", "table": target},
        "mode": "full_overwrite"
    })
}

async fn lifecycle(kind: &str) {
    let backend = Backend::fresh(kind).await;
    let s = Server::simple(&backend, &format!("life_{kind}"));
    let password = secret();
    let olga = s.user(&format!("olga_{kind}"), "operator").await;
    let alice = s.user(&format!("alice_{kind}"), "approver").await;
    let source = unique("api_src");
    let target = unique("api_dst");
    make_source(&source, 20_000).await;
    pg_connection(&s, &olga, "src", &password).await;
    pg_connection(&s, &olga, "dst", &password).await;

    // Passwords are write-only.
    let c = s
        .ok("GET", "/api/v1/connections/src", &olga, None, 200)
        .await;
    assert_eq!(c["password"], "***", "{c}");
    // Bad input names the field; nothing is created.
    let (status, p) = s
        .post(
            "/api/v1/tasks",
            &olga,
            json!({"spec": {"name": "bad", "source": {"type": "postgres", "connection": "nope", "table": "t"},
                            "sink": {"type": "postgres", "connection": "dst", "table": "t"}}}),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["field"], "spec.source.connection", "{p}");
    let (status, p) = s
        .post(
            "/api/v1/tasks",
            &olga,
            json!({"spec": task_spec("t_sched", &source, &target), "schedule": {"unit": "hour", "interval": 0}}),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["field"], "schedule.interval", "{p}");

    // Create → submit → approve (not by the author) → run.
    let name = format!("orders_{kind}");
    let t = s
        .ok(
            "POST",
            "/api/v1/tasks",
            &olga,
            Some(json!({"spec": task_spec(&name, &source, &target), "schedule": {"unit": "hour"}})),
            201,
        )
        .await;
    assert_eq!(t["state"], "draft");
    let path = format!("/api/v1/tasks/{name}");
    let (status, p) = s.post(&format!("{path}/instances"), &olga, json!({})).await;
    assert_eq!(status, 409, "a draft cannot run: {p}");
    let (status, p) = s
        .post(
            &format!("{path}/approve"),
            &alice,
            json!({"revision": t["revision"]}),
        )
        .await;
    assert_eq!(status, 409, "not submitted yet: {p}");
    let (status, p) = s.post(&format!("{path}/approve"), &alice, json!({})).await;
    assert_eq!(status, 422, "approval needs the revision read: {p}");
    assert!(p["detail"].to_string().contains("revision"), "{p}");
    let submitted = s
        .ok(
            "POST",
            &format!("{path}/submit"),
            &olga,
            Some(json!({})),
            200,
        )
        .await;
    let revision = &submitted["revision"];
    let (status, p) = s
        .post(
            &format!("{path}/approve"),
            &olga,
            json!({"revision": revision}),
        )
        .await;
    assert_eq!(status, 403, "an operator cannot approve: {p}");
    let t = s
        .ok(
            "POST",
            &format!("{path}/approve"),
            &alice,
            Some(json!({"comment": "looks right", "revision": revision})),
            200,
        )
        .await;
    assert_eq!(t["state"], "active", "an approval starts the schedule: {t}");
    assert!(
        t["next_logical_time"]
            .as_str()
            .is_some_and(|n| n.ends_with(":00:00.000000Z")),
        "the approval says when the hourly schedule runs next: {t}"
    );
    assert_eq!(t["approved_version"], 1);
    let approvals = s
        .ok("GET", &format!("{path}/approvals"), &olga, None, 200)
        .await;
    assert_eq!(approvals["total"], 1, "{approvals}");
    assert_eq!(approvals["items"][0]["decided_by"], format!("alice_{kind}"));
    assert_eq!(approvals["items"][0]["comment"], "looks right");

    let lt = "2026-03-01T10:00:00Z";
    let i = s
        .ok(
            "POST",
            &format!("{path}/instances"),
            &olga,
            Some(json!({"logical_time": lt})),
            201,
        )
        .await;
    assert_eq!(i["window_start"], "2026-03-01T09:00:00.000000Z");
    assert_eq!(i["window_end"], "2026-03-01T10:00:00.000000Z");
    let id = i["id"].as_str().unwrap().to_string();
    let done = s.wait_instance(&id, Duration::from_secs(120)).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(done["attempts"][0]["rows_written"], 20_000);
    assert_eq!(done["attempts"][0]["verified"], true);
    assert_eq!(
        pg_digest(&canonical(&source)).await,
        pg_digest(&canonical(&target)).await,
        "target = source by content"
    );
    let logs = s
        .ok(
            "GET",
            &format!("/api/v1/instances/{id}/logs"),
            &olga,
            None,
            200,
        )
        .await;
    let text = logs["lines"].to_string();
    assert!(
        text.contains("attempt started") && text.contains("attempt succeeded"),
        "{logs}"
    );
    assert_eq!(logs["finished"], true);

    // Same logical time again: 409 (rerun it instead); with a run key, idempotent.
    let (status, _) = s
        .post(
            &format!("{path}/instances"),
            &olga,
            json!({"logical_time": lt}),
        )
        .await;
    assert_eq!(status, 409);
    let lt2 = "2026-03-01T11:00:00Z";
    let a = s
        .ok(
            "POST",
            &format!("{path}/instances?wait_seconds=60"),
            &olga,
            Some(json!({"logical_time": lt2, "run_key": "k1"})),
            201,
        )
        .await;
    assert_eq!(
        a["state"], "succeeded",
        "wait_seconds returns once the instance ended: {a}"
    );
    let b = s
        .ok(
            "POST",
            &format!("{path}/instances"),
            &olga,
            Some(json!({"logical_time": lt2, "run_key": "k1"})),
            200,
        )
        .await;
    assert_eq!(a["id"], b["id"]);
    s.wait_instance(a["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;

    // Rerun: no new instance, a second attempt.
    s.ok(
        "POST",
        &format!("/api/v1/instances/{id}/rerun"),
        &olga,
        None,
        200,
    )
    .await;
    let done = s.wait_instance(&id, Duration::from_secs(120)).await;
    assert_eq!(done["state"], "succeeded");
    assert_eq!(done["attempts"].as_array().unwrap().len(), 2);
    let list = s
        .ok(
            "GET",
            &format!("/api/v1/instances?task={name}"),
            &olga,
            None,
            200,
        )
        .await;
    assert_eq!(list["total"], 2, "{list}");

    // Backfill 3 hours: exactly 3 instances with their windows; again: none.
    let r = s
        .ok(
            "POST",
            &format!("{path}/backfill"),
            &olga,
            Some(json!({"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T02:00:00Z"})),
            200,
        )
        .await;
    let created = r["created"].as_array().unwrap();
    assert_eq!(created.len(), 3, "{r}");
    let times: Vec<&str> = created
        .iter()
        .map(|i| i["logical_time"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2026-02-01T00:00:00.000000Z",
            "2026-02-01T01:00:00.000000Z",
            "2026-02-01T02:00:00.000000Z"
        ]
    );
    assert_eq!(created[0]["window_start"], "2026-01-31T23:00:00.000000Z");
    let again = s
        .ok(
            "POST",
            &format!("{path}/backfill"),
            &olga,
            Some(json!({"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T03:00:00Z"})),
            200,
        )
        .await;
    assert_eq!(again["created"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(again["existing"].as_array().unwrap().len(), 3, "{again}");
    let mut attempts = Vec::new();
    for i in created.iter().chain(again["created"].as_array().unwrap()) {
        let d = s
            .wait_instance(i["id"].as_str().unwrap(), Duration::from_secs(120))
            .await;
        assert_eq!(d["state"], "succeeded", "{d}");
        let a = &d["attempts"][0];
        attempts.push((
            a["started_at"].as_str().unwrap().to_string(),
            a["finished_at"].as_str().unwrap().to_string(),
        ));
    }
    // Overlap `queue`: one at a time.
    attempts.sort();
    for w in attempts.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "attempts overlap under overlap=queue: {w:?}"
        );
    }
    let list = s
        .ok(
            "GET",
            &format!("/api/v1/instances?task={name}&limit=2&offset=1"),
            &olga,
            None,
            200,
        )
        .await;
    assert_eq!(list["total"], 6, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // Optimistic concurrency: an edit from a stale revision is a 409.
    let current = s.ok("GET", &path, &olga, None, 200).await;
    let rev = current["revision"].as_i64().unwrap();
    let mut spec2 = task_spec(&name, &source, &target);
    spec2["engine"] = json!({"parallelism": 1});
    let edited = s
        .ok(
            "PUT",
            &path,
            &olga,
            Some(json!({"spec": spec2, "schedule": {"unit": "hour"}, "revision": rev})),
            200,
        )
        .await;
    assert_eq!(edited["latest_version"], 2);
    assert_eq!(
        edited["approved_version"], 1,
        "v1 keeps running until v2 is approved"
    );
    assert_eq!(edited["state"], "active");
    let (status, p) = s
        .call(
            "PUT",
            &path,
            Some(&olga),
            Some(json!({"spec": spec2, "revision": rev})),
        )
        .await;
    assert_eq!(status, 409, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("revision"), "{p}");
    let (status, _) = s
        .call(
            "PUT",
            "/api/v1/connections/src",
            Some(&olga),
            Some(json!({"name": "src", "type": "postgres", "url": pg_url(), "revision": 99})),
        )
        .await;
    assert_eq!(status, 409);

    // The approved version runs until the edit is approved.
    let v1 = s
        .ok(
            "POST",
            &format!("{path}/instances"),
            &olga,
            Some(json!({"logical_time": "2026-03-02T00:00:00Z"})),
            201,
        )
        .await;
    assert_eq!(v1["version"], 1);
    s.wait_instance(v1["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    let read = s.ok("GET", &path, &alice, None, 200).await;
    let submitted = s
        .ok(
            "POST",
            &format!("{path}/submit"),
            &olga,
            Some(json!({})),
            200,
        )
        .await;
    // Approval is of the version the approver read: a revision read before
    // the task changed (here: before its submission) is refused.
    let (status, p) = s
        .post(
            &format!("{path}/approve"),
            &alice,
            json!({"revision": read["revision"]}),
        )
        .await;
    assert_eq!(status, 409, "a stale revision cannot be approved: {p}");
    assert!(p["detail"].to_string().contains("revision"), "{p}");
    let t = s
        .ok(
            "POST",
            &format!("{path}/approve"),
            &alice,
            Some(json!({"revision": submitted["revision"]})),
            200,
        )
        .await;
    assert_eq!(t["approved_version"], 2);
    // Schedules: read, replace (a new version), and the running one stays.
    let sched = s
        .ok("GET", &format!("{path}/schedule"), &olga, None, 200)
        .await;
    assert_eq!(sched["schedule"]["unit"], "hour");
    let rev = t["revision"].as_i64().unwrap();
    let (status, p) = s
        .call(
            "PUT",
            &format!("{path}/schedule"),
            Some(&olga),
            Some(json!({"schedule": {"unit": "day", "interval": 0}, "revision": rev})),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["field"], "schedule.interval");
    let t = s
        .ok(
            "PUT",
            &format!("{path}/schedule"),
            &olga,
            Some(json!({"schedule": {"unit": "day"}, "revision": rev})),
            200,
        )
        .await;
    assert_eq!(t["latest_version"], 3);
    let sched = s
        .ok("GET", &format!("{path}/schedule"), &olga, None, 200)
        .await;
    assert_eq!(sched["schedule"]["unit"], "day");
    assert_eq!(sched["approved_schedule"]["unit"], "hour");
    // Pause holds the task; resume activates it.
    let t = s
        .ok(
            "POST",
            &format!("{path}/pause"),
            &olga,
            Some(json!({})),
            200,
        )
        .await;
    assert_eq!(t["state"], "paused");
    let (status, _) = s.post(&format!("{path}/instances"), &olga, json!({})).await;
    assert_eq!(status, 409, "a paused task takes no instances");
    let v2 = {
        s.ok(
            "POST",
            &format!("{path}/resume"),
            &olga,
            Some(json!({})),
            200,
        )
        .await;
        s.ok(
            "POST",
            &format!("{path}/instances"),
            &olga,
            Some(json!({"logical_time": "2026-03-03T00:00:00Z"})),
            201,
        )
        .await
    };
    assert_eq!(
        v2["version"], 2,
        "the approved v2 runs, not the unreviewed v3"
    );
    let d = s
        .wait_instance(v2["id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(d["state"], "succeeded", "{d}");

    // Delete: gone from the list, its name free, instances refused.
    s.ok("DELETE", &path, &olga, None, 204).await;
    let (status, _) = s.post(&format!("{path}/instances"), &olga, json!({})).await;
    assert_eq!(status, 404);

    // Metrics.
    let m = s.call("GET", "/metrics", Some(&olga), None).await.1;
    let m = m.as_str().unwrap();
    assert!(m.contains("ferry_instances{state=\"succeeded\"} 8"), "{m}");
    assert!(m.contains("ferry_rows_written_total"), "{m}");
    assert!(m.contains("ferry_attempt_duration_seconds_bucket"), "{m}");

    // No secret anywhere: server output, every response, the store file.
    let all = s.transcript.text();
    assert!(!all.contains(&password), "the password leaked:\n{all}");
    if let Backend::Sqlite = backend {
        let bytes = std::fs::read(s.dir.join("data/ferry.db")).unwrap();
        let wal = std::fs::read(s.dir.join("data/ferry.db-wal")).unwrap_or_default();
        for b in [bytes, wal] {
            assert!(
                !String::from_utf8_lossy(&b).contains(&password),
                "plaintext password in the store"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_sqlite_store() {
    lifecycle("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_on_postgres_store() {
    lifecycle("postgres").await;
}

async fn stop_mid_run(kind: &str) {
    let backend = Backend::fresh(kind).await;
    let s = Server::simple(&backend, &format!("stop_{kind}"));
    let view = unique("slow_src");
    let target = unique("stop_dst");
    make_slow_source(&view, 4000).await;
    pg_exec(&format!(
        "CREATE TABLE {target} (id bigint, v text); INSERT INTO {target} SELECT g, 'before' FROM generate_series(1, 50) g;"
    ))
    .await;
    let before = pg_digest(&format!("SELECT id::text || v FROM {target}")).await;
    pg_connection(&s, ADMIN, "src", "pw").await;
    pg_connection(&s, ADMIN, "dst", "pw").await;
    let spec = task_spec("slow", &view, &target);
    s.ok(
        "POST",
        "/api/v1/tasks",
        ADMIN,
        Some(json!({"spec": spec})),
        201,
    )
    .await;
    let submitted = s
        .ok(
            "POST",
            "/api/v1/tasks/slow/submit",
            ADMIN,
            Some(json!({})),
            200,
        )
        .await;
    let approver = s.user(&format!("ap_{kind}"), "approver").await;
    s.ok(
        "POST",
        "/api/v1/tasks/slow/approve",
        &approver,
        Some(json!({"revision": submitted["revision"]})),
        200,
    )
    .await;
    let i = s
        .ok(
            "POST",
            "/api/v1/tasks/slow/instances",
            ADMIN,
            Some(json!({})),
            201,
        )
        .await;
    let id = i["id"].as_str().unwrap().to_string();
    // Wait until it runs, then a little more so rows are in flight.
    for _ in 0..100 {
        let v = s.get(&format!("/api/v1/instances/{id}"), ADMIN).await.1;
        if v["state"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.ok(
        "POST",
        &format!("/api/v1/instances/{id}/stop"),
        ADMIN,
        None,
        200,
    )
    .await;
    let done = s.wait_instance(&id, Duration::from_secs(60)).await;
    assert_eq!(done["state"], "cancelled", "{done}");
    assert_eq!(done["attempts"][0]["state"], "cancelled", "{done}");
    assert_eq!(
        pg_digest(&format!("SELECT id::text || v FROM {target}")).await,
        before,
        "the target is as it was"
    );
    let errors = s
        .ok(
            "GET",
            &format!("/api/v1/instances/{id}/errors"),
            ADMIN,
            None,
            200,
        )
        .await;
    assert_eq!(errors["items"][0]["kind"], "cancelled", "{errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_mid_run_leaves_the_target_unchanged_sqlite_store() {
    stop_mid_run("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_mid_run_leaves_the_target_unchanged_postgres_store() {
    stop_mid_run("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_with_413() {
    let s = Server::start_with(
        Options {
            backend: &Backend::Sqlite,
            dir: scratch_dir().join(unique("bodycap")),
            node: "bodycap",
            lease_secs: 30.0,
            runners: 1,
            transcript: Transcript::default(),
        },
        &["--max-body-bytes", "65536"],
    );
    let big = "x".repeat(100_000);
    let (status, p) = s
        .post(
            "/api/v1/tasks",
            ADMIN,
            json!({"spec": {"name": "big", "filter": big}}),
        )
        .await;
    assert_eq!(status, 413, "{p}");
    assert_eq!(p["type"], "urn:ferry:payload_too_large", "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("--max-body-bytes"),
        "{p}"
    );
    // Under the cap, the same route answers as usual.
    let (status, p) = s
        .post("/api/v1/tasks", ADMIN, json!({"spec": {"name": "small"}}))
        .await;
    assert_eq!(status, 422, "{p}");
}
