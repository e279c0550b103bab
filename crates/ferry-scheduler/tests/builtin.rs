//! The built-in trigger loop against a real store (a SQLite file), driven
//! by explicit instants: misfire and overlap policies, first activation,
//! delay, durability across store handles, and months of ticks.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use ferry_scheduler::builtin::{TickReport, tick};
use ferry_store::Store;
use ferry_store::control::{Decision, EngineSync, InstanceFilter, NewTask, TaskState};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn store() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "ferry-builtin-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.db");
    (Store::open(path.to_str().unwrap()).await.unwrap(), path)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// An active task with this schedule; returns its id.
async fn task(store: &Store, name: &str, schedule: serde_json::Value) -> String {
    let spec = serde_json::json!({
        "name": name,
        "source": {"type": "sqlite", "path": "/tmp/a.db", "table": "t"},
        "sink": {"type": "sqlite", "path": "/tmp/b.db", "table": "t"}
    });
    let t = store
        .create_task(&NewTask {
            name: name.into(),
            spec: spec.to_string(),
            schedule: Some(schedule.to_string()),
            secret: None,
            max_parallel: 1,
            author: "a".into(),
        })
        .await
        .unwrap();
    store.submit_task(&t.id, None).await.unwrap();
    store
        .decide_task(&t.id, None, Decision::Approved, "b", None)
        .await
        .unwrap();
    store
        .set_task_state(&t.id, None, TaskState::Active)
        .await
        .unwrap();
    t.id
}

async fn logical_times(store: &Store, task_id: &str) -> Vec<String> {
    let (items, _) = store
        .instances(&InstanceFilter {
            task_id: Some(task_id.into()),
            limit: 100_000,
            ..InstanceFilter::default()
        })
        .await
        .unwrap();
    let mut v: Vec<String> = items.into_iter().map(|i| i.logical_time).collect();
    v.sort();
    v
}

fn report(created: usize, existing: usize, skipped: usize) -> TickReport {
    TickReport {
        created,
        existing,
        skipped,
    }
}

#[tokio::test]
async fn first_activation_without_start_time_waits_for_the_next_logical_time() {
    let (s, _) = store().await;
    let id = task(&s, "hourly", serde_json::json!({"unit": "hour"})).await;
    assert_eq!(
        tick(&s, t("2026-01-01T10:30:00Z")).await.unwrap(),
        report(0, 0, 0)
    );
    assert_eq!(
        tick(&s, t("2026-01-01T10:59:59Z")).await.unwrap(),
        report(0, 0, 0)
    );
    assert_eq!(
        tick(&s, t("2026-01-01T11:00:00Z")).await.unwrap(),
        report(1, 0, 0)
    );
    assert_eq!(
        tick(&s, t("2026-01-01T11:00:30Z")).await.unwrap(),
        report(0, 0, 0)
    );
    let (items, _) = s
        .instances(&InstanceFilter {
            task_id: Some(id.clone()),
            limit: 10,
            ..InstanceFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(items[0].logical_time, "2026-01-01T11:00:00.000000Z");
    assert_eq!(
        items[0].window_start.as_deref(),
        Some("2026-01-01T10:00:00.000000Z")
    );
    assert_eq!(
        items[0].window_end.as_deref(),
        Some("2026-01-01T11:00:00.000000Z")
    );
}

#[tokio::test]
async fn misfire_policies() {
    let (s, _) = store().await;
    let sched = |misfire: &str| serde_json::json!({"unit": "hour", "start_time": "2026-01-01T00:00:00Z", "misfire": misfire});
    let skip = task(&s, "skip", sched("skip")).await;
    let once = task(&s, "once", sched("run_once")).await;
    let mut catch_up = sched("catch_up");
    catch_up["max_catch_up"] = serde_json::json!(5);
    let all = task(&s, "all", catch_up).await;
    // Ten hours late: 00:00 … 10:00 are due (11 times), 10:00 only 10 s late.
    tick(&s, t("2026-01-01T10:00:10Z")).await.unwrap();
    assert_eq!(
        logical_times(&s, &skip).await,
        ["2026-01-01T10:00:00.000000Z"]
    );
    assert_eq!(
        logical_times(&s, &once).await,
        ["2026-01-01T09:00:00.000000Z", "2026-01-01T10:00:00.000000Z"]
    );
    assert_eq!(
        logical_times(&s, &all).await,
        [
            "2026-01-01T05:00:00.000000Z",
            "2026-01-01T06:00:00.000000Z",
            "2026-01-01T07:00:00.000000Z",
            "2026-01-01T08:00:00.000000Z",
            "2026-01-01T09:00:00.000000Z",
            "2026-01-01T10:00:00.000000Z"
        ]
    );
    // On time from here on, for every policy.
    tick(&s, t("2026-01-01T11:00:01Z")).await.unwrap();
    for id in [&skip, &once, &all] {
        assert!(
            logical_times(&s, id)
                .await
                .contains(&"2026-01-01T11:00:00.000000Z".to_string())
        );
    }
}

#[tokio::test]
async fn overlap_skip_creates_nothing_while_an_instance_is_unfinished() {
    let (s, _) = store().await;
    let skip = task(
        &s,
        "ov_skip",
        serde_json::json!({"unit": "hour", "overlap": "skip"}),
    )
    .await;
    let queue = task(
        &s,
        "ov_queue",
        serde_json::json!({"unit": "hour", "overlap": "queue"}),
    )
    .await;
    tick(&s, t("2026-01-01T00:30:00Z")).await.unwrap();
    tick(&s, t("2026-01-01T01:00:00Z")).await.unwrap();
    // Nothing runs the instances here: they stay queued.
    let r = tick(&s, t("2026-01-01T02:00:00Z")).await.unwrap();
    assert_eq!(r.skipped, 1, "{r:?}");
    assert_eq!(
        logical_times(&s, &skip).await,
        ["2026-01-01T01:00:00.000000Z"]
    );
    assert_eq!(
        logical_times(&s, &queue).await,
        ["2026-01-01T01:00:00.000000Z", "2026-01-01T02:00:00.000000Z"]
    );
}

#[tokio::test]
async fn delay_fires_after_the_logical_time() {
    let (s, _) = store().await;
    let id = task(
        &s,
        "delayed",
        serde_json::json!({"unit": "day", "delay": "2h"}),
    )
    .await;
    tick(&s, t("2026-01-01T12:00:00Z")).await.unwrap();
    tick(&s, t("2026-01-02T01:59:59Z")).await.unwrap();
    assert!(
        logical_times(&s, &id).await.is_empty(),
        "not due before 02:00"
    );
    tick(&s, t("2026-01-02T02:00:00Z")).await.unwrap();
    assert_eq!(
        logical_times(&s, &id).await,
        ["2026-01-02T00:00:00.000000Z"]
    );
}

#[tokio::test]
async fn a_restarted_scheduler_continues_where_it_stopped() {
    let (s, path) = store().await;
    let id = task(&s, "durable", serde_json::json!({"unit": "minute", "start_time": "2026-01-01T00:00:00Z", "misfire": "catch_up", "max_catch_up": 10000})).await;
    let mut now = t("2026-01-01T00:00:00Z");
    for _ in 0..100 {
        tick(&s, now).await.unwrap();
        now += Duration::minutes(1);
    }
    s.close().await;
    // Another handle on the same store: a new process after a crash.
    let s = Store::open(path.to_str().unwrap()).await.unwrap();
    tick(&s, now - Duration::minutes(1)).await.unwrap();
    for _ in 0..50 {
        tick(&s, now).await.unwrap();
        now += Duration::minutes(1);
    }
    let times = logical_times(&s, &id).await;
    assert_eq!(times.len(), 150);
    assert_eq!(times.first().unwrap(), "2026-01-01T00:00:00.000000Z");
    assert_eq!(times.last().unwrap(), "2026-01-01T02:29:00.000000Z");
}

#[tokio::test]
async fn months_of_ticks_in_one_go_and_calendar_months() {
    let (s, _) = store().await;
    let daily = task(&s, "daily", serde_json::json!({"unit": "day", "start_time": "2026-01-01T00:00:00Z", "misfire": "catch_up", "max_catch_up": 10000})).await;
    let monthly = task(&s, "monthly", serde_json::json!({"unit": "month", "start_time": "2026-01-31T00:00:00Z", "misfire": "catch_up", "max_catch_up": 10000})).await;
    // A year passes between two ticks.
    tick(&s, t("2026-12-31T12:00:00Z")).await.unwrap();
    assert_eq!(logical_times(&s, &daily).await.len(), 365);
    assert_eq!(
        logical_times(&s, &monthly).await,
        [
            "2026-01-31T00:00:00.000000Z",
            "2026-02-28T00:00:00.000000Z",
            "2026-03-31T00:00:00.000000Z",
            "2026-04-30T00:00:00.000000Z",
            "2026-05-31T00:00:00.000000Z",
            "2026-06-30T00:00:00.000000Z",
            "2026-07-31T00:00:00.000000Z",
            "2026-08-31T00:00:00.000000Z",
            "2026-09-30T00:00:00.000000Z",
            "2026-10-31T00:00:00.000000Z",
            "2026-11-30T00:00:00.000000Z",
            "2026-12-31T00:00:00.000000Z"
        ]
    );
    // Ticking again at the same instant repeats nothing.
    assert_eq!(
        tick(&s, t("2026-12-31T12:00:00Z")).await.unwrap(),
        report(0, 0, 0)
    );
}

#[tokio::test]
async fn paused_and_deleted_tasks_get_no_instances() {
    let (s, _) = store().await;
    let id = task(&s, "pausable", serde_json::json!({"unit": "hour"})).await;
    tick(&s, t("2026-01-01T00:30:00Z")).await.unwrap();
    s.set_task_state(&id, None, TaskState::Paused)
        .await
        .unwrap();
    tick(&s, t("2026-01-01T01:00:00Z")).await.unwrap();
    assert!(logical_times(&s, &id).await.is_empty());
    s.set_task_state(&id, None, TaskState::Active)
        .await
        .unwrap();
    // Back on time at 02:00; 01:00 was missed while paused (run_once runs it).
    tick(&s, t("2026-01-01T02:00:00Z")).await.unwrap();
    assert_eq!(
        logical_times(&s, &id).await,
        ["2026-01-01T01:00:00.000000Z", "2026-01-01T02:00:00.000000Z"]
    );
    s.set_task_state(&id, None, TaskState::Deleted)
        .await
        .unwrap();
    tick(&s, t("2026-01-01T03:00:00Z")).await.unwrap();
    assert_eq!(logical_times(&s, &id).await.len(), 2);
}

#[tokio::test]
async fn tasks_of_other_engines_are_left_to_them() {
    let (s, _) = store().await;
    let ext = task(
        &s,
        "external",
        serde_json::json!({"unit": "hour", "engine": "airflow"}),
    )
    .await;
    let none = task(
        &s,
        "manual",
        serde_json::json!({"unit": "hour", "engine": "none"}),
    )
    .await;
    let own = task(
        &s,
        "own",
        serde_json::json!({"unit": "hour", "engine": "builtin"}),
    )
    .await;
    for now in [
        "2026-01-01T00:30:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
    ] {
        tick(&s, t(now)).await.unwrap();
    }
    assert!(logical_times(&s, &ext).await.is_empty());
    assert!(logical_times(&s, &none).await.is_empty());
    assert_eq!(logical_times(&s, &own).await.len(), 2);
}

/// The engine sync's records: the approved tasks it reads (deleted ones
/// included, for removals) and its per-task registration, replaced in place.
#[tokio::test]
async fn engine_sync_records_round_trip() {
    let (store, _) = store().await;
    let a = task(
        &store,
        "eng_a",
        serde_json::json!({"unit": "hour", "engine": "airflow"}),
    )
    .await;
    let b = task(&store, "eng_b", serde_json::json!({"unit": "day"})).await;
    store
        .set_task_state(&b, None, TaskState::Deleted)
        .await
        .unwrap();
    let approved = store.approved_tasks().await.unwrap();
    let names: Vec<(&str, TaskState)> = approved
        .iter()
        .map(|(t, _)| (t.name.split('#').next().unwrap(), t.state))
        .collect();
    // (A deleted task's name is freed: `eng_b#deleted-…`.)
    assert_eq!(
        names,
        [("eng_a", TaskState::Active), ("eng_b", TaskState::Deleted)]
    );
    assert!(
        approved[0]
            .1
            .schedule
            .as_deref()
            .unwrap()
            .contains("airflow")
    );
    // Paused tasks are approved too, but not scheduled by the built-in loop.
    store
        .set_task_state(&a, None, TaskState::Paused)
        .await
        .unwrap();
    assert_eq!(store.approved_tasks().await.unwrap().len(), 2);
    assert!(store.scheduled_tasks().await.unwrap().is_empty());

    assert_eq!(store.engine_sync(&a).await.unwrap(), None);
    let mut s = EngineSync {
        task_id: a.clone(),
        task_name: "eng_a".into(),
        engine: "airflow".into(),
        fingerprint: "f1".into(),
        registered: true,
        active: false,
        synced_at: "2026-11-25T10:00:00.000000Z".into(),
        error: Some("Airflow unreachable".into()),
    };
    store.put_engine_sync(&s).await.unwrap();
    assert_eq!(store.engine_sync(&a).await.unwrap().as_ref(), Some(&s));
    s.fingerprint = "f2".into();
    s.active = true;
    s.error = None;
    store.put_engine_sync(&s).await.unwrap();
    assert_eq!(store.engine_syncs().await.unwrap(), vec![s]);
}
