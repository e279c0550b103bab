//! The CLI as a typed client of the API: `ferry task create -f`, review,
//! `ferry task run`, `ferry instance list|show|logs|rerun|stop`, `ferry
//! backfill`, against a real server; and its errors for bad input.
#![allow(clippy::unwrap_used)]

mod srv;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use srv::*;

fn ferry(s: &Server, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(FERRY)
        .args(args)
        .env("FERRY_SERVER", &s.base)
        .env("FERRY_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok_json(s: &Server, token: &str, args: &[&str]) -> Value {
    let (code, out, err) = ferry(s, token, args);
    assert_eq!(code, 0, "ferry {args:?}: {err}{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_drives_a_task_through_the_api() {
    let s = Server::simple(&Backend::Sqlite, "cli");
    let approver = s.user("cli_approver", "approver").await;
    s.ok(
        "POST",
        "/api/v1/connections",
        ADMIN,
        Some(json!({"name": "pg", "type": "postgres", "url": pg_url()})),
        201,
    )
    .await;
    let source = unique("cli_src");
    let target = unique("cli_dst");
    pg_exec(&format!(
        "CREATE TABLE {source} AS SELECT g AS id, 'c' || g AS v FROM generate_series(1, 5000) g; \
         ALTER TABLE {source} ADD PRIMARY KEY (id);"
    ))
    .await;
    let file = s.dir.join("task.yaml");
    std::fs::write(
        &file,
        format!(
            "name: cli_task\nsource: {{type: postgres, connection: pg, table: {source}}}\n\
             sink: {{type: postgres, connection: pg, table: {target}}}\nmode: full_overwrite\n\
             schedule: {{unit: day}}\n"
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let t = ok_json(&s, ADMIN, &["task", "create", "-f", f]);
    assert_eq!(t["state"], "draft");
    assert_eq!(t["latest"]["schedule"]["unit"], "day");
    ok_json(&s, ADMIN, &["task", "submit", "cli_task"]);
    // The author cannot approve their own version; an approver can.
    let (code, _, err) = ferry(&s, ADMIN, &["task", "approve", "cli_task"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("403") && err.contains("cannot also approve"),
        "{err}"
    );
    let t = ok_json(
        &s,
        &approver,
        &["task", "approve", "cli_task", "--comment", "ok"],
    );
    assert_eq!(t["state"], "active", "an approval starts the task: {t}");
    let i = ok_json(
        &s,
        ADMIN,
        &[
            "task",
            "run",
            "cli_task",
            "--logical-time",
            "2026-04-02T00:00:00Z",
        ],
    );
    let id = i["id"].as_str().unwrap().to_string();
    assert_eq!(i["window_start"], "2026-04-01T00:00:00.000000Z");
    s.wait_instance(&id, Duration::from_secs(120)).await;
    let shown = ok_json(&s, ADMIN, &["instance", "show", &id]);
    assert_eq!(shown["state"], "succeeded");
    assert_eq!(shown["attempts"][0]["rows_written"], 5000);
    let (code, logs, err) = ferry(&s, ADMIN, &["instance", "logs", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(logs.contains("attempt succeeded"), "{logs}");
    let r = ok_json(
        &s,
        ADMIN,
        &[
            "backfill",
            "cli_task",
            "--from",
            "2026-03-01T00:00:00Z",
            "--to",
            "2026-03-03T00:00:00Z",
        ],
    );
    assert_eq!(r["created"].as_array().unwrap().len(), 3, "{r}");
    for i in r["created"].as_array().unwrap() {
        s.wait_instance(i["id"].as_str().unwrap(), Duration::from_secs(120))
            .await;
    }
    let (code, list, err) = ferry(&s, ADMIN, &["instance", "list", "--task", "cli_task"]);
    assert_eq!(code, 0, "{err}");
    assert!(list.contains("(4 of 4 shown, from 0)"), "{list}");
    assert_eq!(list.matches("succeeded").count(), 4, "{list}");
    let rerun = ok_json(&s, ADMIN, &["instance", "rerun", &id]);
    assert_eq!(rerun["state"], "queued");
    s.wait_instance(&id, Duration::from_secs(120)).await;
    let (code, _, err) = ferry(&s, ADMIN, &["instance", "stop", &id]);
    assert_eq!(code, 2, "stopping a finished instance is a conflict: {err}");
    assert!(err.contains("409"), "{err}");
    assert_eq!(
        pg_digest(&format!("SELECT id::text || v FROM {source}")).await,
        pg_digest(&format!("SELECT id::text || v FROM {target}")).await
    );
    // Bad input and bad credentials: clear errors, exit code 2.
    let (code, _, err) = ferry(&s, "fry_wrong", &["instance", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("401"), "{err}");
    std::fs::write(&file, "name: x\nsource: {type: postgres, connection: pg, table: t}\nsink: {type: postgres, connection: pg, table: u}\nmode: sideways\n").unwrap();
    let (code, _, err) = ferry(&s, ADMIN, &["task", "create", "-f", f]);
    assert_eq!(code, 2);
    assert!(err.contains("spec.mode"), "{err}");
}
