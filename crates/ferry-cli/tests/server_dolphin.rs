//! The server's engine sync with DolphinScheduler: a `ferry server` started
//! with `--dolphin-url` registers an approved task's workflow (schedule
//! offline while the task is only approved; a task without `start_time`
//! only once activated), puts the schedule online when the task is resumed
//! and offline when it is paused, and deletes workflow and schedule when the
//! task is deleted. The token DS keeps in its project
//! parameter is the service user's, and it authenticates against Ferry.
//!
//! DS is the strict fake of its REST API shared with the engine's own tests
//! (`ferry-scheduler/tests/dsfake`): no DolphinScheduler server can run on
//! these machines (a Java server, on no registry they reach).
#![allow(clippy::unwrap_used)]

#[path = "../../ferry-scheduler/tests/dsfake/mod.rs"]
mod dsfake;
mod srv;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use srv::*;

const DS_TOKEN: &str = "ds-token-for-ferry-9d41";

async fn wait_engine(s: &Server, task: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    s.wait_engine(ADMIN, task, what, Duration::from_secs(60), done)
        .await
}

/// A server (SQLite store in `dir`) with the fake DS as its DolphinScheduler.
fn server(dir: std::path::PathBuf, node: &str, ds_url: &str) -> Server {
    Server::start_with(
        Options {
            backend: &Backend::Sqlite,
            dir,
            node,
            lease_secs: 30.0,
            runners: 0,
            transcript: Transcript::default(),
        },
        &[
            "--dolphin-url",
            ds_url,
            "--dolphin-token",
            DS_TOKEN,
            "--tick-ms",
            "100",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dolphinscheduler_follows_the_task_state() {
    let fake = dsfake::Fake::start(DS_TOKEN, "", "", 3600).await;
    let mut s = server(scratch_dir().join(unique("dolphin")), "dolphin", &fake.url);
    // The HTTP task must call this server.
    fake.ds().ferry_url = s.base.clone();
    let approver = s.user("ds_approver", "approver").await;
    let name = unique("ds_orders");
    let spec = json!({
        "name": name,
        "source": {"type": "sqlite", "path": "/tmp/ferry-ds-a.db", "table": "t"},
        "sink": {"type": "sqlite", "path": "/tmp/ferry-ds-b.db", "table": "t"}
    });
    // DS's Quartz cron cannot step 7 hours within a day: refused at create.
    let (status, p) = s
        .post(
            "/api/v1/tasks",
            ADMIN,
            json!({"spec": spec, "schedule": {"unit": "hour", "interval": 7, "engine": "dolphinscheduler"}}),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["field"], "schedule.interval", "{p}");

    let schedule = json!({"unit": "hour", "start_time": "2026-01-01T00:00:00Z",
                          "engine": "dolphinscheduler"});
    s.ok(
        "POST",
        "/api/v1/tasks",
        ADMIN,
        Some(json!({"spec": spec, "schedule": schedule})),
        201,
    )
    .await;
    let path = format!("/api/v1/tasks/{name}");
    let t = s.submit_and_approve(&name, ADMIN, &approver).await;
    let task_id = t["id"].as_str().unwrap().to_string();

    // Approved: workflow and schedule exist, the schedule offline.
    let v = wait_engine(&s, &name, "registered the workflow", |v| {
        v["in_sync"] == true
    })
    .await;
    assert_eq!(v["engine"], "dolphinscheduler", "{v}");
    assert_eq!(
        (v["registered"].clone(), v["active"].clone()),
        (json!(true), json!(false)),
        "{v}"
    );
    assert!(fake.workflow(&name).is_some(), "a workflow");
    let (_, crontab, online) = fake.schedule(&name).unwrap();
    assert_eq!(crontab, "0 0 * * * ? *");
    assert!(!online, "offline until the task is active");

    // The token DS sends is the service user's, an operator: it reads and
    // triggers (the HTTP task's own call).
    let token = {
        let ds = fake.ds();
        assert_eq!(ds.params.len(), 1, "one project parameter");
        ds.params[0].value.clone()
    };
    assert!(token.starts_with("fry_"), "a Ferry token");
    let (status, me) = s.get("/api/v1/users/me", &token).await;
    assert_eq!(
        (status, me["name"].as_str()),
        (200, Some("ferry-engines")),
        "{me}"
    );
    assert_eq!(me["role"], "operator", "{me}");
    assert!(
        !s.transcript.text().contains(&token),
        "the token is not logged"
    );

    // Without start_time the first run is the first logical time after
    // activation: nothing is registered until then.
    let lazy = unique("ds_lazy");
    let lazy_spec = json!({
        "name": lazy,
        "source": {"type": "sqlite", "path": "/tmp/ferry-ds-a.db", "table": "t"},
        "sink": {"type": "sqlite", "path": "/tmp/ferry-ds-b.db", "table": "t"}
    });
    s.ok(
        "POST",
        "/api/v1/tasks",
        ADMIN,
        Some(json!({"spec": lazy_spec, "schedule": {"unit": "day", "engine": "dolphinscheduler"}})),
        201,
    )
    .await;
    let lazy_path = format!("/api/v1/tasks/{lazy}");
    let lazy_id = s.submit_and_approve(&lazy, ADMIN, &approver).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(500)).await; // a few sync passes
    let v = wait_engine(&s, &lazy, "left the task alone", |v| v["in_sync"] == true).await;
    assert_eq!(v["registered"], false, "{v}");
    assert!(
        fake.workflow(&lazy).is_none(),
        "no workflow before activation"
    );
    s.ok(
        "POST",
        &format!("{lazy_path}/resume"),
        ADMIN,
        Some(json!({})),
        200,
    )
    .await;
    wait_engine(&s, &lazy, "registered on activation", |v| {
        v["in_sync"] == true && v["registered"] == true && v["active"] == true
    })
    .await;
    let (_, crontab, online) = fake.schedule(&lazy).unwrap();
    assert_eq!((crontab.as_str(), online), ("0 0 0 * * ? *", true));
    s.ok("DELETE", &lazy_path, ADMIN, None, 204).await;

    // Resume → online; pause → offline.
    s.ok(
        "POST",
        &format!("{path}/resume"),
        ADMIN,
        Some(json!({})),
        200,
    )
    .await;
    wait_engine(&s, &name, "put the schedule online", |v| {
        v["in_sync"] == true && v["active"] == true
    })
    .await;
    assert!(fake.schedule(&name).unwrap().2, "online");
    s.ok(
        "POST",
        &format!("{path}/pause"),
        ADMIN,
        Some(json!({})),
        200,
    )
    .await;
    wait_engine(&s, &name, "taken the schedule offline", |v| {
        v["in_sync"] == true && v["active"] == false
    })
    .await;
    assert!(!fake.schedule(&name).unwrap().2, "offline");

    // A new approved schedule replaces DS's crontab in place.
    let t = s.ok("GET", &path, ADMIN, None, 200).await;
    s.ok(
        "PUT",
        &format!("{path}/schedule"),
        ADMIN,
        Some(
            json!({"schedule": {"unit": "minute", "interval": 15, "engine": "dolphinscheduler"},
                    "revision": t["revision"]}),
        ),
        200,
    )
    .await;
    s.submit_and_approve(&name, ADMIN, &approver).await;
    wait_engine(&s, &name, "updated the schedule", |v| v["in_sync"] == true).await;
    assert_eq!(fake.schedule(&name).unwrap().1, "0 0/15 * * * ? *");
    assert_eq!(fake.ds().workflows.len(), 1, "updated in place");

    // Delete → workflow and schedule gone.
    s.ok("DELETE", &path, ADMIN, None, 204).await;
    wait_engine(&s, &task_id, "removed the workflow", |v| {
        v["registered"] == false
    })
    .await;
    assert!(fake.workflow(&name).is_none(), "workflow deleted");
    wait_engine(&s, &lazy_id, "removed the lazy workflow", |v| {
        v["registered"] == false
    })
    .await;
    assert!(fake.ds().schedules.is_empty(), "schedules deleted");
    fake.assert_clean();

    // A restart (a new leader) rotates the token: DS gets the new one, and
    // only then is the old one revoked.
    s.kill();
    let s = server(s.dir.clone(), "dolphin2", &fake.url);
    let deadline = Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        let value = fake.ds().params[0].value.clone();
        if value != token {
            break value;
        }
        assert!(
            Instant::now() < deadline,
            "no new token in DS\n{}",
            s.transcript.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.get("/api/v1/users/me", &token).await.0 != 401 {
        assert!(Instant::now() < deadline, "the old token still works");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.get("/api/v1/users/me", &fresh).await.0, 200);
    fake.assert_clean();
}
