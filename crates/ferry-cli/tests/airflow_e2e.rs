//! The Airflow engine against a real Apache Airflow 3 and a real `ferry
//! server` (PostgreSQL store) started with `--airflow-url`: an hourly
//! `window_overwrite` task whose schedule says `engine: airflow` is
//! approved; the server's engine sync writes its DAG (paused while the task
//! is only approved), unpauses it when the task is resumed, Airflow catches
//! up the 3 hours since `start_time` — each run triggering Ferry's instance
//! of its logical time — and the target ends up with exactly the source
//! rows of those 3 windows. Pausing the task pauses the DAG; deleting it
//! removes the DAG file and the DAG.
//!
//! Needs `FERRY_TEST_AIRFLOW_{URL,USER,PASSWORD,DAGS}` (from
//! `scripts/airflow.sh start && export $(scripts/airflow.sh env)`); fails
//! without them. Airflow must reach this machine's 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod srv;

use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use ferry_scheduler::airflow::{AirflowConfig, AirflowEngine};
use ferry_scheduler::engine::ScheduleEngine;
use serde_json::{Value, json};
use srv::*;

fn airflow_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs a running Airflow 3 \
             (scripts/airflow.sh start && export $(scripts/airflow.sh env))"
        )
    })
}

/// Ferry's instance timestamps: microseconds, `Z`.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn canonical(table: &str) -> String {
    format!(
        "SELECT concat_ws('|', id::text, to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), \
         coalesce(v, '~'), amount::text) FROM {table}"
    )
}

/// Waits up to 3 min for the engine sync (Airflow parses DAGs every few seconds).
async fn wait_engine(
    s: &Server,
    token: &str,
    task: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    s.wait_engine(token, task, what, Duration::from_secs(180), done)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airflow_runs_three_hourly_windows() {
    let started = Instant::now();
    let (url, user, password, dags) = (
        airflow_env("FERRY_TEST_AIRFLOW_URL"),
        airflow_env("FERRY_TEST_AIRFLOW_USER"),
        airflow_env("FERRY_TEST_AIRFLOW_PASSWORD"),
        airflow_env("FERRY_TEST_AIRFLOW_DAGS"),
    );

    // Ferry with a PostgreSQL store of its own (scripts/test.sh drops
    // `ferry_store_*` databases of earlier runs; this one is not one of them).
    let store_db = unique("ferry_af_store");
    pg_exec_admin(&format!("CREATE DATABASE {store_db}")).await;
    let backend = Backend::Postgres(pg_url_for(&store_db));
    let mut s = Server::start_with(
        Options {
            backend: &backend,
            dir: scratch_dir().join(unique("airflow")),
            node: "airflow",
            lease_secs: 30.0,
            runners: 2,
            transcript: Transcript::default(),
        },
        &[
            "--airflow-url",
            &url,
            "--airflow-user",
            &user,
            "--airflow-password",
            &password,
            "--airflow-dags",
            &dags,
            "--tick-ms",
            "200",
        ],
    );
    // The test's own view of Airflow (describe, runs).
    let engine = AirflowEngine::new(AirflowConfig {
        api_url: url.clone(),
        user,
        password: password.clone(),
        dags_folder: dags.into(),
        ferry_url: s.base.clone(),
        ferry_token_variable: String::new(),
        ca_file: None,
    })
    .unwrap();
    let olga = s.user("olga_af", "operator").await;
    let alice = s.user("alice_af", "approver").await;

    // Source: one row a minute over [H-3h30, H) and [H+1h, H+1h30), where H
    // is this hour. Only [H-3h, H) is inside the 3 windows.
    let now = Utc::now();
    let hour = now.duration_trunc(TimeDelta::hours(1)).unwrap();
    let start = hour - TimeDelta::hours(3);
    let (source, target) = (unique("af_src"), unique("af_dst"));
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {source}; \
         CREATE TABLE {source} (id bigint PRIMARY KEY, event_time timestamptz NOT NULL, v text, amount numeric(12,2)); \
         INSERT INTO {source} \
           SELECT g, timestamptz '{from}' + g * interval '1 minute', 'v' || g, g * 1.5 \
             FROM generate_series(-30, 179) g \
           UNION ALL \
           SELECT 1000 + g, timestamptz '{hour}' + interval '1 hour' + g * interval '1 minute', NULL, g \
             FROM generate_series(0, 29) g; \
         ANALYZE {source};",
        from = start.to_rfc3339(),
        hour = hour.to_rfc3339(),
    ))
    .await;
    for c in ["src", "dst"] {
        s.ok(
            "POST",
            "/api/v1/connections",
            &olga,
            Some(json!({"name": c, "type": "postgres", "url": pg_url()})),
            201,
        )
        .await;
    }
    let name = unique("af_orders");
    let spec = json!({
        "name": name,
        "source": {"type": "postgres", "connection": "src", "table": source},
        "sink": {"type": "postgres", "connection": "dst", "table": target},
        "mode": "window_overwrite",
        "window": {"column": "event_time"},
    });
    // A schedule Airflow cannot follow is refused at once, naming the field.
    let (status, p) = s
        .post(
            "/api/v1/tasks",
            &olga,
            json!({"spec": spec, "schedule": {"unit": "day", "interval": 2,
                   "time_zone": "Europe/Berlin", "engine": "airflow"}}),
        )
        .await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["field"], "schedule.time_zone", "{p}");

    // Logical times H-2h, H-1h, H: the windows [H-3h, H-2h) … [H-1h, H).
    let schedule = json!({"unit": "hour", "start_time": (hour - TimeDelta::hours(2)).to_rfc3339(),
                          "misfire": "catch_up", "engine": "airflow"});
    s.ok(
        "POST",
        "/api/v1/tasks",
        &olga,
        Some(json!({"spec": spec, "schedule": schedule})),
        201,
    )
    .await;
    let path = format!("/api/v1/tasks/{name}");
    let submitted = s
        .ok(
            "POST",
            &format!("{path}/submit"),
            &olga,
            Some(json!({})),
            200,
        )
        .await;
    let t_register = Instant::now();
    let t = s
        .ok(
            "POST",
            &format!("{path}/approve"),
            &alice,
            Some(json!({"revision": submitted["revision"], "keep_paused": true})),
            200,
        )
        .await;
    assert_eq!(t["state"], "approved", "{t}");

    // Approved, not yet active: the DAG is registered paused.
    let file = engine.dag_file(&name).unwrap();
    let _cleanup = RemoveOnDrop(file.clone());
    let v = wait_engine(&s, &olga, &name, "registered the DAG", |v| {
        v["in_sync"] == true
    })
    .await;
    assert_eq!(v["engine"], "airflow", "{v}");
    assert_eq!(v["registered"], true, "{v}");
    assert_eq!(v["active"], false, "{v}");
    let registered_in = t_register.elapsed();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(r#"CronDataIntervalTimetable("0 * * * *", timezone="UTC")"#),
        "{text}"
    );
    assert!(!text.contains("fry_"), "no Ferry token in the DAG file");
    let st = engine.describe(&name).await.unwrap();
    assert!(st.registered && st.paused, "{st:?}");
    assert!(
        !s.transcript.text().contains(&password),
        "the Airflow password is not logged"
    );

    // Resume: the DAG is unpaused and Airflow catches up the 3 hours.
    s.ok(
        "POST",
        &format!("{path}/resume"),
        &olga,
        Some(json!({})),
        200,
    )
    .await;
    wait_engine(&s, &olga, &name, "unpaused the DAG", |v| {
        v["in_sync"] == true && v["active"] == true
    })
    .await;
    assert!(!engine.describe(&name).await.unwrap().paused);

    let windows: Vec<(String, String)> = (0..3)
        .map(|k| {
            (
                ts(start + TimeDelta::hours(k)),
                ts(start + TimeDelta::hours(k + 1)),
            )
        })
        .collect();
    // If the clock passes H+1 during the test, Airflow runs [H, H+1) too (no rows).
    let late = (ts(hour), ts(hour + TimeDelta::hours(1)));
    let deadline = Instant::now() + Duration::from_secs(360);
    let instances = loop {
        let list = s
            .ok(
                "GET",
                &format!("/api/v1/instances?task={name}&limit=100"),
                &olga,
                None,
                200,
            )
            .await;
        let items = list["items"].as_array().unwrap().clone();
        for i in &items {
            assert!(
                !matches!(i["state"].as_str(), Some("failed" | "cancelled")),
                "instance failed: {i}\n{}",
                s.transcript.text()
            );
        }
        let done = windows
            .iter()
            .filter(|w| {
                items.iter().any(|i| {
                    i["window_start"] == json!(w.0)
                        && i["window_end"] == json!(w.1)
                        && i["state"] == "succeeded"
                })
            })
            .count();
        if done == 3 {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "after 6 min, {done} of the 3 windows succeeded: {list}\n{}",
            airflow_runs(&engine, &name).await
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let all_done_in = t_register.elapsed();
    for i in &instances {
        let w = (
            i["window_start"].as_str().unwrap().to_string(),
            i["window_end"].as_str().unwrap().to_string(),
        );
        assert!(
            windows.contains(&w) || w == late,
            "an instance outside the 3 hours: {i}"
        );
        assert_eq!(i["trigger"], "external", "{i}");
        assert_eq!(
            i["logical_time"],
            json!(w.1),
            "logical time = window end: {i}"
        );
        let key = i["run_key"].as_str().unwrap();
        assert!(
            key.starts_with("scheduled__"),
            "run_key = Airflow's run id: {i}"
        );
        assert_eq!(i["created_by"], "ferry-engines", "{i}");
    }
    assert_eq!(
        instances
            .iter()
            .filter(|i| i["window_end"] != json!(late.1))
            .count(),
        3,
        "exactly one instance per window: {instances:?}"
    );
    let in_windows = format!(
        "{} WHERE event_time >= '{}' AND event_time < '{}'",
        canonical(&source),
        start.to_rfc3339(),
        hour.to_rfc3339()
    );
    let want = pg_digest(&in_windows).await;
    assert_eq!(want.rows, 180);
    assert_eq!(
        pg_digest(&canonical(&target)).await,
        want,
        "target = the source rows of the 3 windows"
    );
    // Airflow's runs end a poll (2 s) after their instances: all succeed,
    // and their run ids are the instances' run keys.
    let keys: Vec<&str> = instances
        .iter()
        .map(|i| i["run_key"].as_str().unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = engine_runs(&engine, &name).await;
        let ok: Vec<&str> = runs
            .iter()
            .filter(|r| r["state"] == "success")
            .filter_map(|r| r["dag_run_id"].as_str())
            .collect();
        if keys.iter().all(|k| ok.contains(k)) {
            assert_eq!(
                runs.len(),
                keys.len(),
                "one Airflow run per instance: {runs:#?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Airflow runs {runs:#?} do not all succeed for {keys:?}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // A cron schedule in a DST zone, with the month's last Friday: Airflow
    // imports the translated DAG (croniter's `L5`) in the zone.
    let cron_name = unique("af_cron");
    let cron_spec = json!({
        "name": cron_name,
        "source": {"type": "postgres", "connection": "src", "table": source},
        "sink": {"type": "postgres", "connection": "dst", "table": target},
    });
    let cron_schedule = json!({"cron": "30 6 * * 5L", "time_zone": "Europe/Berlin",
               "start_time": "2026-01-01T00:00:00+01:00", "engine": "airflow"});
    s.ok(
        "POST",
        "/api/v1/tasks",
        &olga,
        Some(json!({"spec": cron_spec, "schedule": cron_schedule})),
        201,
    )
    .await;
    let cron_path = format!("/api/v1/tasks/{cron_name}");
    s.submit_and_approve(&cron_name, &olga, &alice).await;
    let _cron_cleanup = RemoveOnDrop(engine.dag_file(&cron_name).unwrap());
    wait_engine(&s, &olga, &cron_name, "registered the cron DAG", |v| {
        v["in_sync"] == true
    })
    .await;
    let dag = engine.dag(&cron_name).await.unwrap().expect("the cron DAG");
    let summary = dag["timetable_summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("0 6 * * L5") || summary.contains("30 6 * * L5"),
        "{dag}"
    );
    assert_eq!(dag["is_paused"], true, "{dag}");
    s.ok("DELETE", &cron_path, &olga, None, 204).await;

    // Pause the task: the DAG is paused.
    s.ok(
        "POST",
        &format!("{path}/pause"),
        &olga,
        Some(json!({})),
        200,
    )
    .await;
    wait_engine(&s, &olga, &name, "paused the DAG", |v| {
        v["in_sync"] == true && v["active"] == false
    })
    .await;
    assert!(engine.describe(&name).await.unwrap().paused);

    // Delete it: the file and the DAG are gone.
    s.ok("DELETE", &path, &olga, None, 204).await;
    let task_id = t["id"].as_str().unwrap();
    wait_engine(&s, &olga, task_id, "removed the DAG", |v| {
        v["registered"] == false
    })
    .await;
    assert!(!file.exists());
    let st = engine.describe(&name).await.unwrap();
    assert!(!st.registered, "{st:?}");

    s.kill();
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {source}; DROP TABLE IF EXISTS {target};"
    ))
    .await;
    pg_exec_admin(&format!("DROP DATABASE IF EXISTS {store_db} WITH (FORCE)")).await;
    eprintln!(
        "airflow e2e: DAG registered {:.1} s after approval, 3 windows done {:.1} s after it, test {:.1} s",
        registered_in.as_secs_f64(),
        all_done_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Removes the DAG file when the test fails, so Airflow stops running it.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// SQL on the `postgres` database (creating and dropping databases).
async fn pg_exec_admin(sql: &str) {
    let url = pg_url_for("postgres");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    tokio::spawn(conn);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One call to Airflow's API as the configured user.
async fn airflow_api(engine: &AirflowEngine, method: reqwest::Method, path: &str) -> Value {
    let c = engine.config();
    let http = reqwest::Client::new();
    let jwt: Value = http
        .post(format!("{}/auth/token", c.api_url))
        .json(&json!({"username": c.user, "password": c.password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = http
        .request(method, format!("{}{path}", c.api_url))
        .bearer_auth(jwt["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null)
}

/// The DAG's runs, through Airflow's API.
async fn engine_runs(engine: &AirflowEngine, task: &str) -> Vec<Value> {
    let runs = airflow_api(
        engine,
        reqwest::Method::GET,
        &format!("/api/v2/dags/ferry_{task}/dagRuns?limit=100"),
    )
    .await;
    runs["dag_runs"].as_array().cloned().unwrap_or_default()
}

/// The DAG's runs as text, for failure messages.
async fn airflow_runs(engine: &AirflowEngine, task: &str) -> String {
    let runs = engine_runs(engine, task).await;
    let dag = engine.dag(task).await.ok().flatten();
    format!("Airflow DAG: {dag:?}\nruns: {runs:#?}")
}
