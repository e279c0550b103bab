//! The server's trust boundary for what tasks and connections may reach,
//! against a real `ferry server` (files root: the system temp directory)
//! and the real PostgreSQL: no environment variables, no files outside the
//! files root or inside the data directory, and a password written in a
//! task's URL stored sealed and shown as `***`.
//!
//! The password test logs in as `ferry_cat_user`, which `scripts/services.sh`
//! makes PostgreSQL check by password (the machine trusts other loopback
//! logins), so a run that succeeds proves the sealed password reached it.

#![allow(clippy::unwrap_used)]

mod srv;

use std::time::Duration;

use serde_json::{Value, json};
use srv::*;

const PASSWORD: &str = "right-pw";

/// The role the catalog test uses too, with the same password; an advisory
/// lock serializes the two tests' catalog updates.
async fn password_role() -> String {
    pg_exec(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock(7244);
         DO $$ BEGIN
           IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ferry_cat_user') THEN
             ALTER ROLE ferry_cat_user LOGIN PASSWORD '{PASSWORD}';
           ELSE
             CREATE ROLE ferry_cat_user LOGIN PASSWORD '{PASSWORD}';
           END IF;
         END $$; COMMIT;"
    ))
    .await;
    let mut u = url::Url::parse(&pg_url()).unwrap();
    u.set_username("ferry_cat_user").unwrap();
    u.set_password(None).unwrap();
    u.to_string()
}

fn refused(v: &Value, field: &str) {
    assert_eq!(v["status"], 422, "{v}");
    assert_eq!(v["field"], field, "{v}");
}

#[tokio::test]
async fn specs_cannot_reach_the_environment_or_files_outside_the_root() {
    let s = Server::simple(&Backend::Sqlite, "trust_paths");
    let inside = scratch_dir().join(format!("{}.db", unique("in")));
    let in_data = s.dir.join("data").join("stolen.db");
    let task = |source: Value, sink: Value, dirty: Value| json!({"spec": {"name": unique("t"), "source": source, "sink": sink, "dirty": dirty}});
    let pg = |extra: Value| {
        let mut e = json!({"type": "postgres", "url": pg_url(), "table": "public.t"});
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    };
    let sqlite = |path: &str| json!({"type": "sqlite", "path": path, "table": "t"});
    let none = json!({});
    let cases = [
        (
            task(
                pg(json!({"password_env": "FERRY_SECRET_KEY"})),
                sqlite(inside.to_str().unwrap()),
                none.clone(),
            ),
            "spec.source.password_env",
        ),
        (
            task(pg(json!({})), sqlite("/etc/ferry-stolen.db"), none.clone()),
            "spec.sink.path",
        ),
        (
            task(
                pg(json!({})),
                sqlite(in_data.to_str().unwrap()),
                none.clone(),
            ),
            "spec.sink.path",
        ),
        (
            task(
                pg(json!({})),
                sqlite(&format!("{}/../../etc/x.db", scratch_dir().display())),
                none.clone(),
            ),
            "spec.sink.path",
        ),
        (
            task(
                pg(json!({})),
                sqlite(inside.to_str().unwrap()),
                json!({"max_rows": 5, "sink": {"type": "jsonl", "path": "/var/tmp/../../etc/dirty.jsonl"}}),
            ),
            "spec.dirty.sink.path",
        ),
        (
            task(
                pg(json!({})),
                sqlite(inside.to_str().unwrap()),
                json!({"max_rows": 5, "sink": {"type": "parquet", "dir": "/etc/ferry-dirty"}}),
            ),
            "spec.dirty.sink.dir",
        ),
        (
            task(
                pg(json!({})),
                sqlite(inside.to_str().unwrap()),
                json!({"max_rows": 5, "sink": {"type": "table",
                       "target": {"type": "sqlite", "path": in_data.to_str().unwrap(), "table": "d"}}}),
            ),
            "spec.dirty.sink.target.path",
        ),
    ];
    for (body, field) in cases {
        let (status, v) = s.post("/api/v1/tasks", ADMIN, body.clone()).await;
        assert_eq!(status, 422, "{body}: {v}");
        refused(&v, field);
    }
    let (status, v) = s
        .post(
            "/api/v1/connections",
            ADMIN,
            json!({"name": "etc", "type": "sqlite", "path": "/etc/passwd"}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    refused(&v, "path");
    let (status, v) = s
        .post(
            "/api/v1/connections",
            ADMIN,
            json!({"name": "store", "type": "sqlite", "path": s.dir.join("data/ferry.db")}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    refused(&v, "path");
    // Nothing was created, and nothing was written outside the root.
    let tasks = s.ok("GET", "/api/v1/tasks", ADMIN, None, 200).await;
    assert_eq!(tasks["total"], 0, "{tasks}");
    assert_eq!(tasks["items"].as_array().map(Vec::len), Some(0), "{tasks}");
    assert!(!std::path::Path::new("/etc/ferry-stolen.db").exists());
    assert!(!in_data.exists());
    // A path under the root is fine.
    for _ in 0..3 {
        let ok = task(
            pg(json!({})),
            sqlite(inside.to_str().unwrap()),
            none.clone(),
        );
        s.ok("POST", "/api/v1/tasks", ADMIN, Some(ok), 201).await;
    }
    // Lists page one way: {items, total, limit, offset}.
    let page = s
        .ok("GET", "/api/v1/tasks?limit=2&offset=1", ADMIN, None, 200)
        .await;
    assert_eq!(page["total"], 3, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");
    assert_eq!(
        (page["limit"].clone(), page["offset"].clone()),
        (json!(2), json!(1))
    );
    let (status, v) = s.get("/api/v1/tasks?limit=0", ADMIN).await;
    assert_eq!(status, 422, "{v}");
    refused(&v, "limit");
    let conns = s.ok("GET", "/api/v1/connections", ADMIN, None, 200).await;
    assert_eq!(conns["total"], 0, "{conns}");
}

/// Starts an instance of `task` at `logical_time` and waits for its end.
async fn run_at(s: &Server, task: &str, logical_time: &str) -> Value {
    let i = s
        .ok(
            "POST",
            &format!("/api/v1/tasks/{task}/instances"),
            ADMIN,
            Some(json!({"logical_time": logical_time})),
            201,
        )
        .await;
    s.wait_instance(i["id"].as_str().unwrap(), Duration::from_secs(60))
        .await
}

#[tokio::test]
async fn a_password_in_a_task_url_is_sealed_and_shown_as_stars() {
    let base = password_role().await;
    let src = unique("trust_src");
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY, v text);
         INSERT INTO {src} SELECT g, 'v' || g FROM generate_series(1, 500) g;
         GRANT SELECT ON {src} TO ferry_cat_user;"
    ))
    .await;
    let mut url = url::Url::parse(&base).unwrap();
    url.set_password(Some(PASSWORD)).unwrap();
    let target = scratch_dir().join(format!("{}.db", unique("trust_target")));
    let s = Server::simple(&Backend::Sqlite, "trust_secret");
    let name = unique("sealed");
    let spec = json!({
        "name": name,
        "source": {"type": "postgres", "url": url.as_str(), "table": src},
        "sink": {"type": "sqlite", "path": target, "table": "t"}
    });
    let created = s
        .ok(
            "POST",
            "/api/v1/tasks",
            ADMIN,
            Some(json!({"spec": spec})),
            201,
        )
        .await;
    let shown = created["latest"]["spec"]["source"]["url"].as_str().unwrap();
    assert!(shown.contains("ferry_cat_user:***@"), "{created}");
    // Every read shows `***`.
    for path in [
        format!("/api/v1/tasks/{name}"),
        format!("/api/v1/tasks/{name}/versions"),
    ] {
        let v = s.ok("GET", &path, ADMIN, None, 200).await;
        assert!(v.to_string().contains("ferry_cat_user:***@"), "{path}: {v}");
        assert!(!v.to_string().contains(PASSWORD), "{path}: {v}");
    }
    // The run logs in with the sealed password.
    let approver = s.user("trust_approver", "approver").await;
    s.submit_and_approve(&name, ADMIN, &approver).await;
    let done = run_at(&s, &name, "2026-03-01T10:00:00Z").await;
    assert_eq!(
        done["state"],
        "succeeded",
        "{done}\n{}",
        s.transcript.text()
    );
    let want = pg_digest(&format!("SELECT id::text, v FROM {src}")).await;
    assert_eq!(
        sqlite_digest(&target, "SELECT CAST(id AS TEXT), v FROM t"),
        want
    );
    // An edit that sends back what it read keeps the password.
    let task = s
        .ok("GET", &format!("/api/v1/tasks/{name}"), ADMIN, None, 200)
        .await;
    let mut edited = task["latest"]["spec"].clone();
    edited["columns"] = json!(["id", "v"]);
    s.ok(
        "PUT",
        &format!("/api/v1/tasks/{name}"),
        ADMIN,
        Some(json!({"spec": edited, "revision": task["revision"]})),
        200,
    )
    .await;
    s.submit_and_approve(&name, ADMIN, &approver).await;
    let done = run_at(&s, &name, "2026-03-01T11:00:00Z").await;
    assert_eq!(
        done["state"],
        "succeeded",
        "{done}\n{}",
        s.transcript.text()
    );
    // Never in clear: not in any response, the log, or the store's files.
    let seen = s.transcript.text();
    assert!(!seen.contains(PASSWORD), "the password was shown or logged");
    for entry in std::fs::read_dir(s.dir.join("data")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(PASSWORD.len())
                    .any(|w| w == PASSWORD.as_bytes()),
                "{} holds the password in clear",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn password_env_keeps_working_for_ferry_run() {
    let base = password_role().await;
    let src = unique("pwenv_src");
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY);
         INSERT INTO {src} SELECT generate_series(1, 50);
         GRANT SELECT ON {src} TO ferry_cat_user;"
    ))
    .await;
    let target = scratch_dir().join(format!("{}.db", unique("pwenv")));
    let yaml = format!(
        "name: pwenv\nsource: {{type: postgres, url: \"{base}\", password_env: FERRY_TEST_PWENV, table: {src}}}\nsink: {{type: sqlite, path: \"{}\", table: t}}\n",
        target.display()
    );
    let job = scratch_dir().join(format!("{}.yaml", unique("pwenv")));
    std::fs::write(&job, yaml).unwrap();
    let run = |pw: &str| {
        std::process::Command::new(FERRY)
            .arg("run")
            .arg(&job)
            .env("FERRY_TEST_PWENV", pw)
            .output()
            .unwrap()
    };
    let bad = run("wrong-pw");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("authentication failed"));
    let good = run(PASSWORD);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert_eq!(
        sqlite_digest(&target, "SELECT CAST(id AS TEXT) FROM t"),
        pg_digest(&format!("SELECT id::text FROM {src}")).await
    );
}

#[tokio::test]
async fn an_edit_cannot_send_a_stored_password_elsewhere() {
    let s = Server::simple(&Backend::Sqlite, "trust_redirect");
    let c = s
        .ok(
            "POST",
            "/api/v1/connections",
            ADMIN,
            Some(json!({"name": "wh", "type": "postgres",
                        "url": "postgresql://app@db.internal:5432/sales", "password": "Kept-Pw-1"})),
            201,
        )
        .await;
    assert_eq!(c["password"], "***", "{c}");
    // The same server: the stored password is kept.
    let c = s
        .ok(
            "PUT",
            "/api/v1/connections/wh",
            ADMIN,
            Some(
                json!({"name": "wh", "type": "postgres", "revision": c["revision"],
                        "url": "postgresql://app@db.internal:5432/sales", "password": "***"}),
            ),
            200,
        )
        .await;
    // Another host, user or database while keeping it: refused.
    for url in [
        "postgresql://app@attacker.example:5432/sales",
        "postgresql://app@db.internal:5432/sales?host=attacker.example",
        "postgresql://other@db.internal:5432/sales",
    ] {
        let (status, v) = s
            .call(
                "PUT",
                "/api/v1/connections/wh",
                Some(ADMIN),
                Some(json!({"name": "wh", "type": "postgres", "revision": c["revision"], "url": url})),
            )
            .await;
        assert_eq!(status, 422, "{url}: {v}");
        refused(&v, "password");
    }
    // A task edit that points an inline URL elsewhere while sending `***` back: refused.
    let name = unique("redirect");
    let target = scratch_dir().join(format!("{}.db", unique("redirect")));
    let spec = |url: &str| {
        json!({"name": name, "source": {"type": "postgres", "url": url, "table": "t"},
               "sink": {"type": "sqlite", "path": target, "table": "t"}})
    };
    let t = s
        .ok(
            "POST",
            "/api/v1/tasks",
            ADMIN,
            Some(json!({"spec": spec("postgresql://app:Inline-Pw-2@db.internal:5432/sales")})),
            201,
        )
        .await;
    let (status, v) = s
        .call(
            "PUT",
            &format!("/api/v1/tasks/{name}"),
            Some(ADMIN),
            Some(
                json!({"spec": spec("postgresql://app:***@attacker.example:5432/sales"),
                        "revision": t["revision"]}),
            ),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    refused(&v, "spec.source.password");
    assert!(
        !s.transcript.text().contains("Kept-Pw-1") && !s.transcript.text().contains("Inline-Pw-2")
    );
}
