//! The DolphinScheduler engine against a strict in-memory fake of the DS 3.2
//! REST API (no DS server can run here: it is a Java server).
//!
//! The fake ([`dsfake`]) checks every request and DS's state rules.
#![allow(clippy::unwrap_used)]

mod dsfake;

use dsfake::Fake;
use ferry_core::ErrorKind;
use ferry_core::schedule::ScheduleSpec;
use ferry_scheduler::engine::{EngineStatus, ScheduleEngine, ScheduledTask};
use serde_json::Value;

const DS_TOKEN: &str = "ds-access-token-7f3a9c";
const FERRY_TOKEN: &str = "ferry-api-token-51e0b2";
const FERRY_URL: &str = "http://ferry.test:8080";
const WAIT: u32 = 900;

fn task(name: &str, schedule: &str, active: bool) -> ScheduledTask {
    let spec: ScheduleSpec = serde_json::from_str(schedule).expect("schedule parses");
    ScheduledTask {
        task_id: format!("id-{name}"),
        name: name.to_string(),
        schedule: spec.validate().expect("valid schedule"),
        active,
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn register_creates_project_workflow_and_online_schedule() {
    let fake = Fake::start(DS_TOKEN, FERRY_URL, FERRY_TOKEN, WAIT).await;
    let engine = fake.engine();
    let cases = [
        // A search for `ferry_orders` finds `ferry_orders_quarter` too.
        (
            "orders_quarter",
            r#"{"unit":"minute","interval":15}"#,
            "0 0/15 * * * ? *",
        ),
        ("orders", r#"{"unit":"hour"}"#, "0 0 * * * ? *"),
        (
            "nightly",
            r#"{"unit":"day","start_time":"2026-01-01T02:30:00Z","end_time":"2027-01-01T00:00:00Z"}"#,
            "0 30 2 * * ? *",
        ),
        ("monthly", r#"{"unit":"month"}"#, "0 0 0 1 * ? *"),
    ];
    for (i, (name, schedule, cron)) in cases.iter().enumerate() {
        engine
            .register(&task(name, schedule, true))
            .await
            .expect("register");
        let mut want = strs(&[
            "create workflow",
            "release ONLINE",
            "create schedule",
            "schedule online",
        ]);
        if i == 0 {
            want.splice(0..0, strs(&["create project", "create param"]));
        }
        assert_eq!(fake.take_mutations(), want, "{name}");
        let (id, crontab, online) = fake.schedule(name).expect("schedule");
        assert_eq!(crontab, *cron, "{name}");
        assert!(online && id > 0, "{name}");
        assert!(fake.workflow(name).expect("workflow").2, "{name} ONLINE");
    }
    {
        let ds = fake.ds();
        assert_eq!(ds.projects.len(), 1);
        assert_eq!(ds.projects[0].name, "ferry");
        assert_eq!(ds.workflows.len(), 4);
        assert_eq!(ds.schedules.len(), 4);
        assert_eq!(ds.params.len(), 1);
        assert_eq!(ds.params[0].name, "ferry_token");
        assert_eq!(ds.params[0].value, FERRY_TOKEN);
        let nightly = ds
            .schedules
            .iter()
            .find(|s| s.crontab == "0 30 2 * * ? *")
            .expect("nightly");
        assert_eq!(nightly.start, "2026-01-01 02:30:00");
        assert_eq!(nightly.end, "2027-01-01 00:00:00");
        let monthly = ds
            .schedules
            .iter()
            .find(|s| s.crontab == "0 0 0 1 * ? *")
            .expect("monthly");
        assert_eq!(monthly.end, "2099-12-31 23:59:59");
        for w in &ds.workflows {
            assert!(!w.definition.to_string().contains(FERRY_TOKEN));
        }
    }
    fake.assert_clean();
}

#[tokio::test]
async fn register_again_updates_in_place() {
    let fake = Fake::start(DS_TOKEN, FERRY_URL, FERRY_TOKEN, WAIT).await;
    let engine = fake.engine();
    engine
        .register(&task("orders", r#"{"unit":"hour"}"#, true))
        .await
        .expect("register");
    let (project, code, _) = fake.workflow("orders").expect("workflow");
    let (id, _, _) = fake.schedule("orders").expect("schedule");
    fake.take_mutations();

    let daily = r#"{"unit":"day","start_time":"2026-01-01T02:30:00Z"}"#;
    engine
        .register(&task("orders", daily, true))
        .await
        .expect("register again");
    assert_eq!(
        fake.take_mutations(),
        strs(&[
            "release OFFLINE",
            "update workflow",
            "release ONLINE",
            "update schedule",
            "schedule online",
        ])
    );
    assert_eq!(fake.workflow("orders"), Some((project, code, true)));
    assert_eq!(
        fake.schedule("orders"),
        Some((id, "0 30 2 * * ? *".to_string(), true))
    );
    {
        let ds = fake.ds();
        assert_eq!((ds.workflows.len(), ds.schedules.len()), (1, 1));
    }

    // A new Ferry token replaces the project parameter's value.
    let rotated = fake.engine_with(DS_TOKEN, "ferry-api-token-rotated");
    rotated
        .register(&task("orders", daily, false))
        .await
        .expect("register with a new token");
    assert_eq!(
        fake.take_mutations(),
        strs(&[
            "update param",
            "release OFFLINE",
            "update workflow",
            "release ONLINE",
            "update schedule",
        ])
    );
    assert_eq!(fake.ds().params[0].value, "ferry-api-token-rotated");
    assert_eq!(fake.schedule("orders").map(|s| s.2), Some(false));
    fake.assert_clean();
}

#[tokio::test]
async fn pause_and_resume_toggle_the_schedule() {
    let fake = Fake::start(DS_TOKEN, FERRY_URL, FERRY_TOKEN, WAIT).await;
    let engine = fake.engine();
    engine
        .register(&task("orders", r#"{"unit":"hour"}"#, true))
        .await
        .expect("register");
    fake.take_mutations();

    engine.pause("orders").await.expect("pause");
    assert_eq!(fake.take_mutations(), strs(&["schedule offline"]));
    assert_eq!(fake.schedule("orders").map(|s| s.2), Some(false));
    assert!(engine.describe("orders").await.expect("describe").paused);
    engine.pause("orders").await.expect("pause again");
    assert_eq!(fake.take_mutations(), Vec::<String>::new());

    engine.resume("orders").await.expect("resume");
    assert_eq!(fake.take_mutations(), strs(&["schedule online"]));
    assert_eq!(fake.schedule("orders").map(|s| s.2), Some(true));
    assert!(!engine.describe("orders").await.expect("describe").paused);
    engine.resume("orders").await.expect("resume again");
    assert_eq!(fake.take_mutations(), Vec::<String>::new());

    // Registered inactive: the schedule exists, offline; resume puts it online.
    engine
        .register(&task("idle", r#"{"unit":"day"}"#, false))
        .await
        .expect("register inactive");
    assert_eq!(fake.schedule("idle").map(|s| s.2), Some(false));
    assert!(engine.describe("idle").await.expect("describe").paused);
    fake.take_mutations();
    engine.resume("idle").await.expect("resume");
    assert_eq!(fake.take_mutations(), strs(&["schedule online"]));

    let e = engine.pause("ghost").await.expect_err("unknown task");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    fake.assert_clean();
}

#[tokio::test]
async fn unregister_deletes_everything_and_is_idempotent() {
    let fake = Fake::start(DS_TOKEN, FERRY_URL, FERRY_TOKEN, WAIT).await;
    let engine = fake.engine();
    // No project yet: nothing to delete.
    engine
        .unregister("orders")
        .await
        .expect("unregister unknown");
    assert_eq!(fake.take_mutations(), Vec::<String>::new());

    engine
        .register(&task("orders", r#"{"unit":"hour"}"#, true))
        .await
        .expect("register");
    engine
        .register(&task("paused", r#"{"unit":"hour"}"#, false))
        .await
        .expect("register paused");
    fake.take_mutations();

    engine.unregister("orders").await.expect("unregister");
    assert_eq!(
        fake.take_mutations(),
        strs(&[
            "schedule offline",
            "delete schedule",
            "release OFFLINE",
            "delete workflow",
        ])
    );
    assert_eq!(fake.workflow("orders"), None);
    engine.unregister("orders").await.expect("unregister again");
    assert_eq!(fake.take_mutations(), Vec::<String>::new());

    engine
        .unregister("paused")
        .await
        .expect("unregister paused");
    assert_eq!(
        fake.take_mutations(),
        strs(&["delete schedule", "release OFFLINE", "delete workflow"])
    );
    {
        let ds = fake.ds();
        assert!(ds.workflows.is_empty() && ds.schedules.is_empty());
    }
    assert!(
        !engine
            .describe("orders")
            .await
            .expect("describe")
            .registered
    );
    fake.assert_clean();
}

#[tokio::test]
async fn describe_reflects_state() {
    let fake = Fake::start(DS_TOKEN, FERRY_URL, FERRY_TOKEN, WAIT).await;
    let engine = fake.engine();
    let nothing = EngineStatus {
        engine: "dolphinscheduler".into(),
        registered: false,
        paused: false,
        reference: None,
    };
    assert_eq!(engine.describe("orders").await.expect("describe"), nothing);
    assert_eq!(fake.take_mutations(), Vec::<String>::new());
    // A search for `ferry_orders` finds `ferry_orders_2`: not the same task.
    engine
        .register(&task("orders_2", r#"{"unit":"hour"}"#, true))
        .await
        .expect("register");
    assert_eq!(engine.describe("orders").await.expect("describe"), nothing);

    engine
        .register(&task("orders", r#"{"unit":"hour"}"#, true))
        .await
        .expect("register");
    let (project, code, _) = fake.workflow("orders").expect("workflow");
    let status = engine.describe("orders").await.expect("describe");
    assert_eq!(
        status,
        EngineStatus {
            engine: "dolphinscheduler".into(),
            registered: true,
            paused: false,
            reference: Some(format!("{project}/{code}")),
        }
    );
    engine.pause("orders").await.expect("pause");
    assert!(engine.describe("orders").await.expect("describe").paused);
    fake.assert_clean();
}

#[tokio::test]
async fn inexpressible_schedules_fail_before_any_call() {
    let fake = Fake::start(DS_TOKEN, FERRY_URL, FERRY_TOKEN, WAIT).await;
    let engine = fake.engine();
    for schedule in [
        r#"{"unit":"minute","interval":7}"#,
        r#"{"unit":"week","interval":2}"#,
    ] {
        let e = engine
            .register(&task("orders", schedule, true))
            .await
            .expect_err(schedule);
        assert!(
            e.to_string().contains("schedule.interval"),
            "{schedule}: {e}"
        );
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    }
    assert!(fake.ds().calls.is_empty(), "calls: {:?}", fake.ds().calls);
}

#[tokio::test]
async fn ds_errors_carry_msg_without_tokens() {
    let fake = Fake::start(DS_TOKEN, FERRY_URL, FERRY_TOKEN, WAIT).await;
    let engine = fake.engine();
    fake.ds().fail = Some((
        "create workflow".into(),
        10001,
        format!("request parameter {FERRY_TOKEN} is not valid (token {DS_TOKEN})"),
    ));
    let e = engine
        .register(&task("orders", r#"{"unit":"hour"}"#, true))
        .await
        .expect_err("DS error");
    let text = e.to_string();
    assert!(text.contains("create workflow"), "{text}");
    assert!(text.contains("request parameter"), "{text}");
    assert!(text.contains("10001"), "{text}");
    assert!(
        !text.contains(FERRY_TOKEN) && !text.contains(DS_TOKEN),
        "{text}"
    );
    let debug = format!("{e:?} {engine:?}");
    assert!(
        !debug.contains(FERRY_TOKEN) && !debug.contains(DS_TOKEN),
        "{debug}"
    );

    // A refused access token is an auth error, without the token.
    let wrong = fake.engine_with("not-the-token", FERRY_TOKEN);
    let e = wrong.describe("orders").await.expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains("not-the-token"), "{e}");
    fake.assert_clean();
}

#[tokio::test]
async fn the_fake_refuses_what_ds_refuses() {
    let fake = Fake::start(DS_TOKEN, FERRY_URL, FERRY_TOKEN, WAIT).await;
    fake.engine()
        .register(&task("orders", r#"{"unit":"hour"}"#, true))
        .await
        .expect("register");
    let (project, code, _) = fake.workflow("orders").expect("workflow");
    let (id, _, _) = fake.schedule("orders").expect("schedule");
    let http = reqwest::Client::new();
    let base = format!("{}/dolphinscheduler/projects/{project}", fake.url);
    let code_of = |v: Value| v["code"].as_i64().expect("code");
    let call = |req: reqwest::RequestBuilder| async move {
        let v: Value = req
            .header("token", DS_TOKEN)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        v
    };
    // An ONLINE workflow can be neither updated nor deleted.
    let update = http
        .put(format!("{base}/process-definition/{code}"))
        .form(&[("name", "ferry_orders")]);
    assert_eq!(code_of(call(update).await), 50008);
    let delete = http.delete(format!("{base}/process-definition/{code}"));
    assert_eq!(code_of(call(delete).await), 50021);
    // An ONLINE schedule can be neither updated nor deleted.
    let update = http
        .put(format!("{base}/schedules/{id}"))
        .form(&[("schedule", "{}")]);
    assert_eq!(code_of(call(update).await), 10023);
    let delete = http.delete(format!("{base}/schedules/{id}"));
    assert_eq!(code_of(call(delete).await), 50023);
    // A schedule goes online only with its workflow ONLINE.
    let off = http
        .post(format!("{base}/process-definition/{code}/release"))
        .form(&[("releaseState", "OFFLINE")]);
    assert_eq!(code_of(call(off).await), 0);
    assert_eq!(fake.schedule("orders").map(|s| s.2), Some(false));
    let on = http.post(format!("{base}/schedules/{id}/online"));
    assert_eq!(code_of(call(on).await), 50004);
    // No token, no answer.
    let status = http
        .get(format!("{base}/schedules"))
        .send()
        .await
        .expect("send")
        .status();
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    // A crontab that is not 7-field Quartz with one `?` is a violation.
    for bad in [
        "0 * * * *",
        "0 0 * * * * *",
        "0 0 * ? * ? *",
        "0 61 * * * ? *",
    ] {
        assert!(dsfake::check_quartz(bad).is_err(), "{bad}");
    }
    assert!(dsfake::check_quartz("30 7/15 * L 2/3 ? *").is_ok());
    assert!(fake.ds().violations.is_empty());
}

#[tokio::test]
async fn cron_schedules_register_as_quartz() {
    let fake = Fake::start(DS_TOKEN, FERRY_URL, FERRY_TOKEN, WAIT).await;
    let engine = fake.engine();
    for (name, schedule, crontab) in [
        (
            "weekdays",
            r#"{"cron":"0 9 * * 1-5"}"#,
            "0 0 9 ? * 2,3,4,5,6 *",
        ),
        (
            "quarter_hours",
            r#"{"cron":"*/15 * * * *"}"#,
            "0 0/15 * * * ? *",
        ),
        ("month_end", r#"{"cron":"30 23 L * *"}"#, "0 30 23 L * ? *"),
    ] {
        engine
            .register(&task(name, schedule, true))
            .await
            .expect(name);
        assert_eq!(fake.schedule(name).expect(name).1, crontab, "{name}");
    }
    fake.assert_clean();
    let e = engine
        .register(&task("either_day", r#"{"cron":"0 0 1 * MON"}"#, true))
        .await
        .expect_err("day-of-month OR day-of-week");
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("schedule.cron"), "{e}");
}
