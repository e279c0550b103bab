//! Pure tests of the schedule math: exact instants, no I/O.

use super::*;
use chrono::SecondsFormat;
use ferry_core::schedule::ScheduleSpec;

fn valid(json: &str) -> ValidSchedule {
    let spec: ScheduleSpec = serde_json::from_str(json).expect("spec");
    spec.validate().expect("valid")
}

fn sched(json: &str) -> Schedule {
    Schedule::new(&valid(json))
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The logical times in `(after, until]`, as RFC 3339 UTC strings.
fn times(s: &Schedule, after: &str, until: &str) -> Vec<String> {
    s.times_between(t(after), t(until), MAX_TIMES)
        .expect("times")
        .into_iter()
        .map(z)
        .collect()
}

fn window(s: &Schedule, at: &str) -> (String, String) {
    let (a, b) = s.window(t(at)).expect("window");
    (z(a), z(b))
}

fn hours(s: &Schedule, at: &str) -> i64 {
    let (a, b) = s.window(t(at)).expect("window");
    (b - a).num_minutes()
}

/// Every listed time agrees with every query: it is a logical time, its
/// window starts at the one before, and the neighbours find each other.
fn consistent(s: &Schedule, after: &str, until: &str) {
    let ts = s
        .times_between(t(after), t(until), MAX_TIMES)
        .expect("times");
    assert!(ts.len() > 2, "too few times to check");
    for pair in ts.windows(2) {
        let (prev, cur) = (pair[0], pair[1]);
        assert!(s.is_logical_time(cur), "{cur}");
        assert_eq!(s.window(cur).expect("window"), (prev, cur), "{cur}");
        assert_eq!(s.next_after(prev), Some(cur), "after {prev}");
        assert_eq!(s.at_or_before(cur), Some(cur));
        assert_eq!(s.at_or_before(cur - Duration::seconds(1)), Some(prev));
        assert_eq!(
            s.at_or_before(cur - Duration::milliseconds(1)),
            Some(prev),
            "sub-second {cur}"
        );
        assert!(!s.is_logical_time(cur - Duration::seconds(1)));
        assert!(!s.is_logical_time(cur + Duration::milliseconds(500)));
    }
}

// ---------------------------------------------------------------- units

#[test]
fn minutes() {
    let s = sched(r#"{"unit":"minute"}"#);
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-01T00:03:00Z"),
        [
            "2026-01-01T00:01:00Z",
            "2026-01-01T00:02:00Z",
            "2026-01-01T00:03:00Z"
        ]
    );
    let s = sched(r#"{"unit":"minute","interval":15}"#);
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
        [
            "2026-01-01T00:15:00Z",
            "2026-01-01T00:30:00Z",
            "2026-01-01T00:45:00Z",
            "2026-01-01T01:00:00Z"
        ]
    );
    assert_eq!(
        window(&s, "2026-01-01T00:15:00Z"),
        ("2026-01-01T00:00:00Z".into(), "2026-01-01T00:15:00Z".into())
    );
    assert_eq!(
        s.next_after(t("2026-01-01T00:07:00Z")),
        Some(t("2026-01-01T00:15:00Z"))
    );
}

#[test]
fn hours_and_windows() {
    let s = sched(r#"{"unit":"hour"}"#);
    assert_eq!(
        times(&s, "2026-01-01T22:30:00Z", "2026-01-02T01:00:00Z"),
        [
            "2026-01-01T23:00:00Z",
            "2026-01-02T00:00:00Z",
            "2026-01-02T01:00:00Z"
        ]
    );
    let g = sched(r#"{"unit":"hour","interval":6}"#);
    assert_eq!(
        times(&g, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        [
            "2026-01-01T06:00:00Z",
            "2026-01-01T12:00:00Z",
            "2026-01-01T18:00:00Z",
            "2026-01-02T00:00:00Z"
        ]
    );
    assert_eq!(
        window(&g, "2026-01-01T06:00:00Z"),
        ("2026-01-01T00:00:00Z".into(), "2026-01-01T06:00:00Z".into())
    );
    assert!(g.window(t("2026-01-01T07:00:00Z")).is_err());
    assert_eq!(
        g.at_or_before(t("2026-01-01T07:30:00Z")),
        Some(t("2026-01-01T06:00:00Z"))
    );
    assert_eq!(
        g.next_after(t("2026-01-01T06:00:00Z")),
        Some(t("2026-01-01T12:00:00Z"))
    );
}

#[test]
fn days() {
    let s = sched(r#"{"unit":"day"}"#);
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z"),
        ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]
    );
    // 2026-01-01 is day 20454 = 3 × 6818 of the epoch.
    let s = sched(r#"{"unit":"day","interval":3}"#);
    assert_eq!(
        times(&s, "2025-12-31T00:00:00Z", "2026-01-08T00:00:00Z"),
        [
            "2026-01-01T00:00:00Z",
            "2026-01-04T00:00:00Z",
            "2026-01-07T00:00:00Z"
        ]
    );
    assert_eq!(
        window(&s, "2026-01-04T00:00:00Z"),
        ("2026-01-01T00:00:00Z".into(), "2026-01-04T00:00:00Z".into())
    );
    // Anchored at start_time, at its time of day.
    let s = sched(r#"{"unit":"day","interval":2,"start_time":"2026-01-01T06:30:00Z"}"#);
    assert_eq!(
        times(&s, "2025-01-01T00:00:00Z", "2026-01-05T07:00:00Z"),
        [
            "2026-01-01T06:30:00Z",
            "2026-01-03T06:30:00Z",
            "2026-01-05T06:30:00Z"
        ]
    );
}

#[test]
fn weeks_start_monday() {
    let s = sched(r#"{"unit":"week"}"#);
    assert!(s.is_logical_time(t("2026-11-23T00:00:00Z"))); // a Monday
    assert!(!s.is_logical_time(t("2026-11-25T00:00:00Z")));
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-01-19T00:00:00Z"),
        [
            "2026-01-05T00:00:00Z",
            "2026-01-12T00:00:00Z",
            "2026-01-19T00:00:00Z"
        ]
    );
    // 2026-01-05 is an even number of weeks after Monday 1970-01-05.
    let s = sched(r#"{"unit":"week","interval":2}"#);
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"),
        [
            "2026-01-05T00:00:00Z",
            "2026-01-19T00:00:00Z",
            "2026-02-02T00:00:00Z"
        ]
    );
    assert_eq!(hours(&s, "2026-01-19T00:00:00Z"), 14 * 24 * 60);
}

#[test]
fn months_clamp_to_the_month_end() {
    let s = sched(r#"{"unit":"month"}"#);
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]
    );
    let s = sched(r#"{"unit":"month","interval":3}"#);
    assert_eq!(
        times(&s, "2025-12-31T00:00:00Z", "2026-12-31T00:00:00Z"),
        [
            "2026-01-01T00:00:00Z",
            "2026-04-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
            "2026-10-01T00:00:00Z"
        ]
    );
    let g = sched(r#"{"unit":"month","start_time":"2026-01-31T00:00:00Z"}"#);
    assert_eq!(
        times(&g, "2026-01-01T00:00:00Z", "2026-05-01T00:00:00Z"),
        [
            "2026-01-31T00:00:00Z",
            "2026-02-28T00:00:00Z",
            "2026-03-31T00:00:00Z",
            "2026-04-30T00:00:00Z"
        ]
    );
    assert_eq!(
        window(&g, "2026-03-31T00:00:00Z"),
        ("2026-02-28T00:00:00Z".into(), "2026-03-31T00:00:00Z".into())
    );
    // In a leap year, February has its 29th.
    assert!(g.is_logical_time(t("2028-02-29T00:00:00Z")));
    assert!(!g.is_logical_time(t("2028-02-28T00:00:00Z")));
    consistent(&g, "2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z");
}

#[test]
fn years() {
    let s = sched(r#"{"unit":"year"}"#);
    assert_eq!(
        times(&s, "2025-06-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ["2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"]
    );
    let s = sched(r#"{"unit":"year","interval":2}"#);
    assert_eq!(
        times(&s, "2025-06-01T00:00:00Z", "2029-06-01T00:00:00Z"),
        ["2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]
    );
    // February 29th becomes February 28th in common years, and comes back.
    let s = sched(r#"{"unit":"year","start_time":"2024-02-29T12:00:00Z"}"#);
    assert_eq!(
        times(&s, "2024-01-01T00:00:00Z", "2028-12-31T00:00:00Z"),
        [
            "2024-02-29T12:00:00Z",
            "2025-02-28T12:00:00Z",
            "2026-02-28T12:00:00Z",
            "2027-02-28T12:00:00Z",
            "2028-02-29T12:00:00Z"
        ]
    );
    assert_eq!(
        window(&s, "2028-02-29T12:00:00Z"),
        ("2027-02-28T12:00:00Z".into(), "2028-02-29T12:00:00Z".into())
    );
}

// ---------------------------------------------------------------- cron

#[test]
fn cron_last_day_and_nth_weekday() {
    let s = sched(r#"{"cron":"0 0 L * *"}"#);
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-04-30T00:00:00Z"),
        [
            "2026-01-31T00:00:00Z",
            "2026-02-28T00:00:00Z",
            "2026-03-31T00:00:00Z",
            "2026-04-30T00:00:00Z"
        ]
    );
    assert!(s.is_logical_time(t("2028-02-29T00:00:00Z")));
    assert!(!s.is_logical_time(t("2028-02-28T00:00:00Z")));
    assert_eq!(
        window(&s, "2026-03-31T00:00:00Z"),
        ("2026-02-28T00:00:00Z".into(), "2026-03-31T00:00:00Z".into())
    );

    // The month's last Friday: 5L and 5#L.
    for c in ["0 18 * * 5L", "0 18 * * FRI#L"] {
        let s = sched(&format!(r#"{{"cron":"{c}"}}"#));
        assert_eq!(
            times(&s, "2026-01-01T00:00:00Z", "2026-03-31T00:00:00Z"),
            [
                "2026-01-30T18:00:00Z",
                "2026-02-27T18:00:00Z",
                "2026-03-27T18:00:00Z"
            ],
            "{c}"
        );
    }

    // The second Monday.
    let s = sched(r#"{"cron":"0 9 * * 1#2"}"#);
    assert_eq!(
        times(&s, "2026-01-01T00:00:00Z", "2026-03-31T00:00:00Z"),
        [
            "2026-01-12T09:00:00Z",
            "2026-02-09T09:00:00Z",
            "2026-03-09T09:00:00Z"
        ]
    );
    assert_eq!(
        window(&s, "2026-02-09T09:00:00Z"),
        ("2026-01-12T09:00:00Z".into(), "2026-02-09T09:00:00Z".into())
    );

    // 0 and 7 are both Sunday; ? is *; 6 fields start with seconds.
    let sun0 = sched(r#"{"cron":"0 0 ? * 0"}"#);
    let sun7 = sched(r#"{"cron":"0 0 0 * * 7"}"#);
    let want = ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"];
    assert_eq!(
        times(&sun0, "2026-01-01T00:00:00Z", "2026-01-11T00:00:00Z"),
        want
    );
    assert_eq!(
        times(&sun7, "2026-01-01T00:00:00Z", "2026-01-11T00:00:00Z"),
        want
    );
    let secs = sched(r#"{"cron":"*/20 * * * * *"}"#);
    assert_eq!(
        times(&secs, "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"),
        [
            "2026-01-01T00:00:20Z",
            "2026-01-01T00:00:40Z",
            "2026-01-01T00:01:00Z"
        ]
    );
}

#[test]
fn cron_feb_29_fires_only_in_leap_years() {
    let s = sched(r#"{"cron":"0 0 29 2 *"}"#);
    assert_eq!(
        times(&s, "2025-01-01T00:00:00Z", "2033-01-01T00:00:00Z"),
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
    );
    assert_eq!(
        s.next_after(t("2026-03-01T00:00:00Z")),
        Some(t("2028-02-29T00:00:00Z"))
    );
    assert_eq!(
        s.at_or_before(t("2028-02-28T00:00:00Z")),
        Some(t("2024-02-29T00:00:00Z"))
    );
    assert_eq!(
        window(&s, "2028-02-29T00:00:00Z"),
        ("2024-02-29T00:00:00Z".into(), "2028-02-29T00:00:00Z".into())
    );
}

#[test]
fn cron_weekday_nearest_and_dom_or_dow() {
    // 2026-02-15 is a Sunday: 15W is Monday the 16th; 2026-03-15 too → 16th;
    // 2026-08-15 is a Saturday → Friday the 14th.
    let s = sched(r#"{"cron":"0 0 15W * *"}"#);
    assert!(s.is_logical_time(t("2026-02-16T00:00:00Z")));
    assert!(s.is_logical_time(t("2026-08-14T00:00:00Z")));
    assert!(s.is_logical_time(t("2026-04-15T00:00:00Z")));
    // Day-of-month OR day-of-week, unless `+`.
    let or = sched(r#"{"cron":"0 0 1 * MON"}"#);
    assert_eq!(
        times(&or, "2026-05-28T00:00:00Z", "2026-06-09T00:00:00Z"),
        ["2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z"]
    );
    let and = sched(r#"{"cron":"0 0 1 * +MON"}"#);
    assert_eq!(
        times(&and, "2026-01-01T00:00:00Z", "2027-12-31T00:00:00Z"),
        [
            "2026-06-01T00:00:00Z",
            "2027-02-01T00:00:00Z",
            "2027-03-01T00:00:00Z",
            "2027-11-01T00:00:00Z"
        ]
    );
}

// ---------------------------------------------------------------- DST

const BERLIN: &str = "Europe/Berlin";
const NEW_YORK: &str = "America/New_York";

fn in_zone(tz: &str, rest: &str) -> Schedule {
    sched(&format!(r#"{{"time_zone":"{tz}",{rest}}}"#))
}

#[test]
fn daily_at_local_midnight_across_dst() {
    // Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET.
    let s = in_zone(BERLIN, r#""unit":"day""#);
    assert_eq!(
        times(&s, "2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z"),
        [
            "2026-03-28T23:00:00Z", // 03-29 00:00 CET
            "2026-03-29T22:00:00Z", // 03-30 00:00 CEST
            "2026-03-30T22:00:00Z"
        ]
    );
    assert_eq!(hours(&s, "2026-03-29T22:00:00Z"), 23 * 60);
    assert_eq!(hours(&s, "2026-03-30T22:00:00Z"), 24 * 60);
    assert_eq!(
        times(&s, "2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z"),
        [
            "2026-10-24T22:00:00Z", // 10-25 00:00 CEST
            "2026-10-25T23:00:00Z", // 10-26 00:00 CET
            "2026-10-26T23:00:00Z",
        ]
    );
    assert_eq!(
        window(&s, "2026-10-25T23:00:00Z"),
        ("2026-10-24T22:00:00Z".into(), "2026-10-25T23:00:00Z".into())
    );
    assert_eq!(hours(&s, "2026-10-25T23:00:00Z"), 25 * 60);
    assert!(!s.is_logical_time(t("2026-03-29T23:00:00Z")));
    consistent(&s, "2026-03-20T00:00:00Z", "2026-11-10T00:00:00Z");

    // New York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
    let s = in_zone(NEW_YORK, r#""unit":"day""#);
    assert_eq!(
        times(&s, "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z"),
        ["2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"]
    );
    assert_eq!(hours(&s, "2026-03-09T04:00:00Z"), 23 * 60);
    assert_eq!(
        times(&s, "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z"),
        ["2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"]
    );
    assert_eq!(hours(&s, "2026-11-02T05:00:00Z"), 25 * 60);
    consistent(&s, "2026-03-01T00:00:00Z", "2026-11-10T00:00:00Z");
}

#[test]
fn daily_in_the_gap_moves_forward_and_the_overlap_takes_the_first() {
    // Berlin, daily 02:30 local (anchored by start_time).
    let s = in_zone(
        BERLIN,
        r#""unit":"day","start_time":"2026-03-27T02:30:00+01:00""#,
    );
    assert_eq!(
        times(&s, "2026-03-26T00:00:00Z", "2026-03-31T00:00:00Z"),
        [
            "2026-03-27T01:30:00Z", // 02:30 CET
            "2026-03-28T01:30:00Z", // 02:30 CET
            "2026-03-29T01:30:00Z", // 02:30 does not exist → 03:30 CEST
            "2026-03-30T00:30:00Z", // 02:30 CEST
        ]
    );
    assert_eq!(hours(&s, "2026-03-30T00:30:00Z"), 23 * 60);
    let s = in_zone(
        BERLIN,
        r#""unit":"day","start_time":"2026-10-23T02:30:00+02:00""#,
    );
    assert_eq!(
        times(&s, "2026-10-23T12:00:00Z", "2026-10-27T00:00:00Z"),
        [
            "2026-10-24T00:30:00Z", // 02:30 CEST
            "2026-10-25T00:30:00Z", // 02:30 happens twice: the first, CEST
            "2026-10-26T01:30:00Z", // 02:30 CET
        ]
    );
    assert!(!s.is_logical_time(t("2026-10-25T01:30:00Z")));
    assert_eq!(hours(&s, "2026-10-26T01:30:00Z"), 25 * 60);

    // New York, daily 02:30 (gap in March) and 01:30 (twice in November).
    let s = in_zone(
        NEW_YORK,
        r#""unit":"day","start_time":"2026-03-06T02:30:00-05:00""#,
    );
    assert_eq!(
        times(&s, "2026-03-06T12:00:00Z", "2026-03-10T00:00:00Z"),
        [
            "2026-03-07T07:30:00Z", // 02:30 EST
            "2026-03-08T07:30:00Z", // 02:30 does not exist → 03:30 EDT
            "2026-03-09T06:30:00Z", // 02:30 EDT
        ]
    );
    assert_eq!(
        times(&s, "2026-10-31T00:00:00Z", "2026-11-02T12:00:00Z"),
        [
            "2026-10-31T06:30:00Z", // 02:30 EDT
            "2026-11-01T07:30:00Z", // 02:30 EST (after the repeated hour)
            "2026-11-02T07:30:00Z",
        ]
    );
    assert_eq!(hours(&s, "2026-11-01T07:30:00Z"), 25 * 60);
    let s = in_zone(
        NEW_YORK,
        r#""unit":"day","start_time":"2026-10-30T01:30:00-04:00""#,
    );
    assert_eq!(
        times(&s, "2026-10-30T12:00:00Z", "2026-11-02T12:00:00Z"),
        [
            "2026-10-31T05:30:00Z", // 01:30 EDT
            "2026-11-01T05:30:00Z", // 01:30 happens twice: the first, EDT
            "2026-11-02T06:30:00Z", // 01:30 EST
        ]
    );
    consistent(&s, "2026-10-30T00:00:00Z", "2026-11-10T00:00:00Z");
}

#[test]
fn start_time_on_the_second_occurrence_is_kept() {
    // 02:30 CET on 2026-10-25 is the second 02:30 of the day.
    let s = in_zone(
        BERLIN,
        r#""unit":"day","start_time":"2026-10-25T02:30:00+01:00""#,
    );
    assert_eq!(
        times(&s, "2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z"),
        ["2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"]
    );
}

#[test]
fn cron_0230_across_dst() {
    // Berlin: the gap's run moves to 03:00 CEST; the repeated 02:30 runs once.
    let s = in_zone(BERLIN, r#""cron":"30 2 * * *""#);
    assert_eq!(
        times(&s, "2026-03-27T12:00:00Z", "2026-03-31T00:00:00Z"),
        [
            "2026-03-28T01:30:00Z", // 02:30 CET
            "2026-03-29T01:00:00Z", // 02:30 does not exist → 03:00 CEST
            "2026-03-30T00:30:00Z", // 02:30 CEST
        ]
    );
    assert_eq!(
        window(&s, "2026-03-29T01:00:00Z"),
        ("2026-03-28T01:30:00Z".into(), "2026-03-29T01:00:00Z".into())
    );
    assert_eq!(hours(&s, "2026-03-30T00:30:00Z"), 23 * 60 + 30);
    assert!(!s.is_logical_time(t("2026-03-29T01:30:00Z")));
    assert_eq!(
        times(&s, "2026-10-23T12:00:00Z", "2026-10-27T00:00:00Z"),
        [
            "2026-10-24T00:30:00Z", // 02:30 CEST
            "2026-10-25T00:30:00Z", // the first 02:30 (CEST), once
            "2026-10-26T01:30:00Z", // 02:30 CET
        ]
    );
    assert!(!s.is_logical_time(t("2026-10-25T01:30:00Z")));
    assert_eq!(
        window(&s, "2026-10-26T01:30:00Z"),
        ("2026-10-25T00:30:00Z".into(), "2026-10-26T01:30:00Z".into())
    );
    assert_eq!(hours(&s, "2026-10-26T01:30:00Z"), 25 * 60);
    assert_eq!(
        s.at_or_before(t("2026-10-25T01:45:00Z")),
        Some(t("2026-10-25T00:30:00Z"))
    );
    consistent(&s, "2026-03-20T00:00:00Z", "2026-04-05T00:00:00Z");
    consistent(&s, "2026-10-20T00:00:00Z", "2026-11-05T00:00:00Z");

    // New York: 02:30 does not exist on 2026-03-08 → 03:00 EDT; on
    // 2026-11-01 02:30 happens once (EST), after the repeated hour.
    let s = in_zone(NEW_YORK, r#""cron":"30 2 * * *""#);
    assert_eq!(
        times(&s, "2026-03-06T12:00:00Z", "2026-03-10T00:00:00Z"),
        [
            "2026-03-07T07:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-09T06:30:00Z",
        ]
    );
    assert_eq!(
        times(&s, "2026-10-30T12:00:00Z", "2026-11-02T12:00:00Z"),
        [
            "2026-10-31T06:30:00Z",
            "2026-11-01T07:30:00Z",
            "2026-11-02T07:30:00Z",
        ]
    );
    assert_eq!(hours(&s, "2026-11-01T07:30:00Z"), 25 * 60);
    consistent(&s, "2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z");
    consistent(&s, "2026-10-25T00:00:00Z", "2026-11-08T00:00:00Z");

    // 01:30 happens twice in New York on 2026-11-01: once, the first (EDT).
    let s = in_zone(NEW_YORK, r#""cron":"30 1 * * *""#);
    assert_eq!(
        times(&s, "2026-10-30T12:00:00Z", "2026-11-02T12:00:00Z"),
        [
            "2026-10-31T05:30:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z",
        ]
    );
    consistent(&s, "2026-10-25T00:00:00Z", "2026-11-08T00:00:00Z");
}

#[test]
fn cron_lists_in_the_gap_are_skipped_and_run_twice_in_the_overlap() {
    let s = in_zone(BERLIN, r#""cron":"0,30 2 * * *""#);
    assert_eq!(
        times(&s, "2026-03-28T00:00:00Z", "2026-03-30T23:00:00Z"),
        [
            "2026-03-28T01:00:00Z", // 02:00 CET
            "2026-03-28T01:30:00Z", // 02:30 CET
            // 2026-03-29: 02:00–02:59 do not exist.
            "2026-03-30T00:00:00Z", // 02:00 CEST
            "2026-03-30T00:30:00Z", // 02:30 CEST
        ]
    );
    assert_eq!(
        times(&s, "2026-10-24T23:00:00Z", "2026-10-25T23:00:00Z"),
        [
            "2026-10-25T00:00:00Z", // 02:00 CEST
            "2026-10-25T00:30:00Z", // 02:30 CEST
            "2026-10-25T01:00:00Z", // 02:00 CET
            "2026-10-25T01:30:00Z", // 02:30 CET
        ]
    );
    consistent(&s, "2026-10-20T00:00:00Z", "2026-10-30T00:00:00Z");
}

#[test]
fn hourly_across_dst() {
    for (tz, cadence) in [
        (BERLIN, r#""unit":"hour""#),
        (BERLIN, r#""cron":"0 * * * *""#),
    ] {
        let s = in_zone(tz, cadence);
        // Spring: 01:00 CET, then 03:00 CEST — one real hour apart.
        assert_eq!(
            times(&s, "2026-03-28T23:00:00Z", "2026-03-29T03:00:00Z"),
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z",
                "2026-03-29T03:00:00Z"
            ],
            "{cadence}"
        );
        // 23 runs on the short day, 25 on the long one.
        assert_eq!(
            s.times_between(t("2026-03-28T23:00:00Z"), t("2026-03-29T22:00:00Z"), 100)
                .expect("times")
                .len(),
            23
        );
        // Autumn: 02:00 CEST and 02:00 CET both run.
        assert_eq!(
            times(&s, "2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z"),
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T01:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T03:00:00Z"
            ],
            "{cadence}"
        );
        assert_eq!(
            s.times_between(t("2026-10-24T22:00:00Z"), t("2026-10-25T23:00:00Z"), 100)
                .expect("times")
                .len(),
            25
        );
        assert_eq!(
            window(&s, "2026-10-25T01:00:00Z"),
            ("2026-10-25T00:00:00Z".into(), "2026-10-25T01:00:00Z".into())
        );
        consistent(&s, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z");
        consistent(&s, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z");
    }
    for cadence in [r#""unit":"hour""#, r#""cron":"0 * * * *""#] {
        let s = in_zone(NEW_YORK, cadence);
        // 01:00 EST, then 03:00 EDT.
        assert_eq!(
            times(&s, "2026-03-08T05:30:00Z", "2026-03-08T08:00:00Z"),
            [
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T08:00:00Z"
            ],
            "{cadence}"
        );
        // 01:00 EDT, 01:00 EST, 02:00 EST.
        assert_eq!(
            times(&s, "2026-11-01T04:00:00Z", "2026-11-01T07:00:00Z"),
            [
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T07:00:00Z"
            ],
            "{cadence}"
        );
        consistent(&s, "2026-03-07T12:00:00Z", "2026-03-08T12:00:00Z");
        consistent(&s, "2026-10-31T12:00:00Z", "2026-11-01T12:00:00Z");
    }
    // Six-hourly steps keep their UTC rhythm: local 00/06/12/18 in winter,
    // 01/07/13/19 in summer.
    let s = in_zone(BERLIN, r#""unit":"hour","interval":6"#);
    assert_eq!(
        times(&s, "2026-03-28T22:00:00Z", "2026-03-29T18:00:00Z"),
        [
            "2026-03-28T23:00:00Z",
            "2026-03-29T05:00:00Z",
            "2026-03-29T11:00:00Z",
            "2026-03-29T17:00:00Z"
        ]
    );
}

#[test]
fn calendar_units_in_a_time_zone() {
    let s = in_zone(BERLIN, r#""unit":"month""#);
    assert_eq!(
        times(&s, "2026-02-15T00:00:00Z", "2026-04-15T00:00:00Z"),
        [
            "2026-02-28T23:00:00Z", // 03-01 00:00 CET
            "2026-03-31T22:00:00Z", // 04-01 00:00 CEST
        ]
    );
    assert_eq!(hours(&s, "2026-03-31T22:00:00Z"), (31 * 24 - 1) * 60);
    let s = in_zone(NEW_YORK, r#""unit":"week""#);
    assert_eq!(
        times(&s, "2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z"),
        ["2026-03-02T05:00:00Z", "2026-03-09T04:00:00Z"]
    );
    assert_eq!(hours(&s, "2026-03-09T04:00:00Z"), (7 * 24 - 1) * 60);
    let s = in_zone(NEW_YORK, r#""unit":"year""#);
    assert!(s.is_logical_time(t("2026-01-01T05:00:00Z")));
    assert!(!s.is_logical_time(t("2026-01-01T00:00:00Z")));
    assert_eq!(s.time_zone(), chrono_tz::America::New_York);
}

#[test]
fn resolving_local_times() {
    let berlin = chrono_tz::Europe::Berlin;
    let local = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("naive");
    assert_eq!(
        resolve_local(&berlin, local("2026-03-29 02:00")),
        Some(t("2026-03-29T01:00:00Z"))
    );
    assert_eq!(
        resolve_local(&berlin, local("2026-03-29 02:59")),
        Some(t("2026-03-29T01:59:00Z"))
    );
    assert_eq!(
        resolve_local(&berlin, local("2026-10-25 02:00")),
        Some(t("2026-10-25T00:00:00Z"))
    );
    assert_eq!(
        resolve_local(&berlin, local("2026-10-25 03:00")),
        Some(t("2026-10-25T02:00:00Z"))
    );
}

// ---------------------------------------------------------------- bounds, delay

#[test]
fn start_and_end_bound_the_times() {
    let g = sched(
        r#"{"unit":"day","start_time":"2026-01-03T00:00:00Z","end_time":"2026-01-05T00:00:00Z"}"#,
    );
    assert_eq!(
        times(&g, "2026-01-01T00:00:00Z", "2026-01-10T00:00:00Z"),
        [
            "2026-01-03T00:00:00Z",
            "2026-01-04T00:00:00Z",
            "2026-01-05T00:00:00Z"
        ]
    );
    assert_eq!(
        g.next_after(t("2025-06-01T00:00:00Z")),
        Some(t("2026-01-03T00:00:00Z"))
    );
    assert_eq!(g.next_after(t("2026-01-05T00:00:00Z")), None);
    assert_eq!(g.at_or_before(t("2026-01-02T23:59:59Z")), None);
    assert_eq!(
        g.at_or_before(t("2026-03-01T00:00:00Z")),
        Some(t("2026-01-05T00:00:00Z"))
    );
    // The first window still covers the period before start_time.
    assert_eq!(
        window(&g, "2026-01-03T00:00:00Z"),
        ("2026-01-02T00:00:00Z".into(), "2026-01-03T00:00:00Z".into())
    );
    assert!(!g.is_logical_time(t("2026-01-02T00:00:00Z")));
    assert!(!g.is_logical_time(t("2026-01-06T00:00:00Z")));
    let e = g.window(t("2026-01-06T00:00:00Z")).expect_err("after end");
    assert!(e.to_string().contains("end_time"), "{e}");
    let e = g
        .window(t("2026-01-02T00:00:00Z"))
        .expect_err("before start");
    assert!(e.to_string().contains("start_time"), "{e}");

    let c = sched(
        r#"{"cron":"0 0 * * *","start_time":"2026-01-03T12:00:00Z","end_time":"2026-01-05T00:00:00Z"}"#,
    );
    assert_eq!(
        times(&c, "2026-01-01T00:00:00Z", "2026-01-10T00:00:00Z"),
        ["2026-01-04T00:00:00Z", "2026-01-05T00:00:00Z"]
    );
    assert_eq!(
        c.next_after(t("2026-01-01T00:00:00Z")),
        Some(t("2026-01-04T00:00:00Z"))
    );
    assert_eq!(c.at_or_before(t("2026-01-03T23:00:00Z")), None);
    assert_eq!(
        c.at_or_before(t("2026-02-01T00:00:00Z")),
        Some(t("2026-01-05T00:00:00Z"))
    );
    assert_eq!(
        window(&c, "2026-01-04T00:00:00Z"),
        ("2026-01-03T00:00:00Z".into(), "2026-01-04T00:00:00Z".into())
    );
    assert!(c.window(t("2026-01-06T00:00:00Z")).is_err());
    assert!(!c.is_logical_time(t("2026-01-03T00:00:00Z")));

    let e = sched(r#"{"unit":"minute"}"#)
        .times_between(t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z"), 100)
        .expect_err("cap");
    assert!(e.to_string().contains("more than 100"), "{e}");
}

#[test]
fn delay_sets_the_due_time() {
    let s = sched(r#"{"unit":"hour","delay":"90s"}"#);
    assert_eq!(s.delay(), Duration::seconds(90));
    assert_eq!(
        s.due_time(t("2026-01-01T06:00:00Z")),
        t("2026-01-01T06:01:30Z")
    );
    let s = in_zone(BERLIN, r#""cron":"30 2 * * *","delay":"2h""#);
    let lt = s.next_after(t("2026-03-28T12:00:00Z")).expect("next");
    assert_eq!(lt, t("2026-03-29T01:00:00Z"));
    assert_eq!(s.due_time(lt), t("2026-03-29T03:00:00Z"));
    let s = sched(r#"{"unit":"day","delay":"1d"}"#);
    assert_eq!(
        s.due_time(t("2026-01-01T00:00:00Z")),
        t("2026-01-02T00:00:00Z")
    );
    assert_eq!(
        sched(r#"{"unit":"day"}"#).due_time(t("2026-01-01T00:00:00Z")),
        t("2026-01-01T00:00:00Z")
    );
}

// ---------------------------------------------------------------- spec

#[test]
fn retry_delay() {
    let v = valid(r#"{"unit":"day","max_retries":5,"retry_backoff":"30s"}"#);
    let waits: Vec<i64> = (1..=9).map(|n| v.retry_delay(n).num_seconds()).collect();
    assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    assert_eq!(v.retry_delay(0), Duration::zero());
    assert_eq!(v.retry_delay(1000), Duration::hours(1));
    let d = valid(r#"{"unit":"day"}"#);
    assert_eq!(d.retry_delay(1), Duration::minutes(1));
    assert_eq!(d.retry_delay(6), Duration::minutes(32));
    assert_eq!(d.retry_delay(7), Duration::hours(1));
}

#[test]
fn validation_errors_name_the_field() {
    for (json, field) in [
        (r#"{"cron":"0 25 * * *"}"#, "schedule.cron"),
        (r#"{"cron":"every day"}"#, "schedule.cron"),
        (r#"{"cron":"0 0 * * 8"}"#, "schedule.cron"),
        (r#"{"cron":"0 0 0 0 0 0 0"}"#, "schedule.cron"),
        (
            r#"{"unit":"day","time_zone":"Europe/Atlantis"}"#,
            "schedule.time_zone",
        ),
        (
            r#"{"cron":"0 0 * * *","start_time":"2026-02-01T00:00:00Z","end_time":"2026-01-01T00:00:00Z"}"#,
            "schedule.end_time",
        ),
        (r#"{"unit":"hour","interval":0}"#, "schedule.interval"),
        (r#"{"unit":"hour","cron":"0 * * * *"}"#, "schedule.cron"),
        (r#"{"interval":2}"#, "schedule.unit"),
        (r#"{"unit":"hour","delay":"2 weeks"}"#, "schedule.delay"),
        (r#"{"unit":"hour","delay":"1.5h"}"#, "schedule.delay"),
    ] {
        let spec: ScheduleSpec = serde_json::from_str(json).expect(json);
        match spec.validate() {
            Err(Error::InvalidConfig { field: f, message }) => {
                assert_eq!(f, field, "{json}: {message}");
            }
            other => panic!("{json}: {other:?}"),
        }
    }
}
