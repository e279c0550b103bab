//! Schedules through the API: the preview of the next logical times (cron,
//! time zone, DST, delay), and invalid schedules refused with a 422 naming
//! the field, on create and on preview.
#![allow(clippy::unwrap_used)]

mod srv;

use serde_json::json;
use srv::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_and_invalid_schedules() {
    let s = Server::simple(&Backend::Sqlite, "sched_api");
    // Daily 02:30 in Berlin across the spring-forward night (2026-03-29):
    // 02:30 does not exist that day and moves forward with the gap.
    let p = s
        .ok(
            "POST",
            "/api/v1/schedules/preview",
            ADMIN,
            Some(json!({"schedule": {"cron": "30 2 * * *", "time_zone": "Europe/Berlin", "delay": "10m"},
                        "after": "2026-03-27T12:00:00Z", "count": 3})),
            200,
        )
        .await;
    let times: Vec<&str> = p
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["logical_time"].as_str().unwrap())
        .collect();
    assert_eq!(times[0], "2026-03-28T01:30:00.000000Z", "{p}"); // 02:30 CET
    assert_eq!(times[2], "2026-03-30T00:30:00.000000Z", "{p}"); // 02:30 CEST
    assert_eq!(p[0]["due_time"], "2026-03-28T01:40:00.000000Z");
    assert_eq!(p[1]["window_start"], p[0]["logical_time"]);
    // Invalid schedules: 422 naming the field, on preview and on create.
    let cases = [
        (json!({"cron": "61 * * * *"}), "schedule.cron"),
        (
            json!({"unit": "day", "time_zone": "Mars/Olympus_Mons"}),
            "schedule.time_zone",
        ),
        (
            json!({"unit": "day", "start_time": "2026-02-01T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}),
            "schedule.end_time",
        ),
        (json!({"unit": "hour", "interval": 0}), "schedule.interval"),
    ];
    let spec = json!({
        "name": "sched_bad",
        "source": {"type": "sqlite", "path": "/tmp/a.db", "table": "t"},
        "sink": {"type": "sqlite", "path": "/tmp/b.db", "table": "t"}
    });
    for (schedule, field) in cases {
        let (status, p) = s
            .post(
                "/api/v1/schedules/preview",
                ADMIN,
                json!({"schedule": schedule}),
            )
            .await;
        assert_eq!(status, 422, "{schedule}: {p}");
        assert_eq!(p["field"], field, "{schedule}: {p}");
        let (status, p) = s
            .post(
                "/api/v1/tasks",
                ADMIN,
                json!({"spec": spec, "schedule": schedule}),
            )
            .await;
        assert_eq!(status, 422, "{schedule}: {p}");
        assert_eq!(p["field"], field, "{schedule}: {p}");
    }
    // An engine this server was not started with: refused at create.
    for engine in ["airflow", "dolphinscheduler"] {
        let (status, p) = s
            .post(
                "/api/v1/tasks",
                ADMIN,
                json!({"spec": spec, "schedule": {"unit": "hour", "engine": engine}}),
            )
            .await;
        assert_eq!(status, 422, "{engine}: {p}");
        assert_eq!(p["field"], "schedule.engine", "{engine}: {p}");
        let detail = p["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("--"), "names the flag to set: {p}");
    }
    let (status, _) = s.get("/api/v1/tasks/sched_bad", ADMIN).await;
    assert_eq!(status, 404, "nothing was created");
}
