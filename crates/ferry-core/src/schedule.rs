//! When a task runs: the schedule a task version carries.
//!
//! A schedule fires at *logical times*, given either as a calendar interval
//! (`unit` × `interval`) or as a `cron` expression, in an IANA `time_zone`.
//! The run at logical time `T` covers the window `[previous logical time, T)`
//! (it looks back) and is due at `T + delay`.
//!
//! Interval schedules are anchored at `start_time`, else at local midnight of
//! 1970-01-01 in the time zone (Monday 1970-01-05 for `week`), so `unit: day`
//! fires at local midnight. Cron schedules fire at the expression's times in
//! the time zone; `start_time`/`end_time` only bound them. The math — and how
//! daylight saving time changes are handled — lives in `ferry-scheduler`
//! (`ferry_scheduler::schedule`); this is the vocabulary and its validation.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::CursorOffset;
use crate::{Error, Result};

/// The calendar unit of an interval schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleUnit {
    /// Calendar years (the same month, day and local time of day).
    Year,
    /// Calendar months (the same day — or the month's last day — and local time).
    Month,
    /// Weeks of 7 calendar days, from Monday.
    Week,
    /// Calendar days (the same local time of day, across DST changes).
    Day,
    /// Hours: fixed 3600 s steps.
    Hour,
    /// Minutes: fixed 60 s steps.
    Minute,
}

/// Which scheduler triggers a task's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Ferry's own durable trigger loop.
    #[default]
    Builtin,
    /// Apache Airflow: a DAG per task calls Ferry's trigger endpoint.
    Airflow,
    /// Apache DolphinScheduler: a workflow per task calls the endpoint.
    #[serde(rename = "dolphinscheduler")]
    DolphinScheduler,
    /// Nobody: instances are started through the API only.
    None,
}

impl EngineKind {
    /// Whether it is the default, `builtin`.
    pub fn is_builtin(&self) -> bool {
        *self == EngineKind::Builtin
    }
}

/// What happens when an instance is due while earlier ones still run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Skip the new instance.
    Skip,
    /// Queue it; instances of the task run one at a time, oldest first.
    #[default]
    Queue,
    /// Run up to `max_parallel` instances at once.
    Parallel,
}

/// What happens to logical times that were missed (the scheduler was down,
/// or the task paused) when the scheduler sees them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Misfire {
    /// Drop every missed logical time; wait for the next one.
    Skip,
    /// Run only the latest missed logical time, once.
    #[default]
    RunOnce,
    /// Run every missed logical time, oldest first — at most the latest
    /// `max_catch_up` of them (older ones are left to a backfill).
    CatchUp,
}

/// A task's schedule: exactly one of `unit` (with `interval`) or `cron`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// The calendar unit of an interval schedule (`year`, `month`, `week`,
    /// `day`, `hour`, `minute`). Give either `unit` (with `interval`) or
    /// `cron`, not both. `day` and longer keep the local time of day across
    /// DST changes (a time in the spring-forward gap moves forward by the
    /// gap; one that happens twice runs at the first); `hour` and `minute`
    /// are fixed steps of real time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<ScheduleUnit>,
    /// How many units between runs; at least 1 (default 1). Only with `unit`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub interval: u32,
    /// A cron expression, instead of `unit`/`interval`, evaluated in
    /// `time_zone`. One dialect (Vixie cron with the usual extensions):
    ///
    /// * 5 fields `minute hour day-of-month month day-of-week`, or 6 with a
    ///   leading `second` field (seconds are optional; 5 fields fire at
    ///   second 0). No year field.
    /// * Ranges: second/minute 0–59, hour 0–23, day-of-month 1–31, month
    ///   1–12 or `JAN`–`DEC`, day-of-week 0–7 or `SUN`–`SAT` (0 and 7 are
    ///   both Sunday, 1 is Monday). Names are case-insensitive.
    /// * In every field: `*`, lists `1,15`, ranges `1-5`, steps `*/15` and
    ///   `10-50/20` (a step needs `*` or a range: `5/10` is refused).
    /// * Day-of-month: `L` (the month's last day), `15W` (the weekday nearest
    ///   the 15th, within the month), `?` (same as `*`).
    /// * Day-of-week: `5L` or `5#L` (the month's last Friday), `1#2` (its
    ///   second Monday; `#1`–`#5`), `?` (same as `*`), and a leading `+`
    ///   (`+MON`) to require both day fields.
    /// * When both day-of-month and day-of-week are restricted, a day matching
    ///   either fires (Vixie cron's OR), unless day-of-week starts with `+`.
    /// * Nicknames: `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`,
    ///   `@hourly`.
    ///
    /// Example: `30 2 * * *` (02:30 every day), `0 0 L * *` (midnight of
    /// each month's last day), `0 9 * * 1#1` (09:00 on each first Monday).
    ///
    /// Across DST changes, a single time of day (one value each in second,
    /// minute and hour, like `30 2 * * *`) that falls in the spring-forward
    /// gap runs at the first instant after the gap (03:00), and once, at the
    /// first occurrence, when it happens twice; times from wildcards, steps,
    /// ranges or lists (`0 * * * *`, `0,30 2 * * *`) that fall in the gap are
    /// skipped, and run twice when they happen twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone of the calendar and of `cron` (`Europe/Berlin`,
    /// `America/New_York`, …); default `UTC`.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// The first logical time (RFC 3339); also the anchor of an interval
    /// schedule. With `cron`, only a bound: no logical time before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// No logical time after this (RFC 3339); must be after `start_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// How long after its logical time a run is due (it waits for late data):
    /// a duration like `90s`, `10m`, `2h`, `1d` (also `ms`); at most 31 days;
    /// default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// Missed logical times: `skip`, `run_once` (default) or `catch_up`.
    #[serde(default)]
    pub misfire: Misfire,
    /// With `misfire: catch_up`: the most missed logical times run (1–10000;
    /// default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_catch_up: Option<u32>,
    /// How often a failed run is retried (0–100; default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_retries: u32,
    /// The wait before the first retry (a duration, 1s–1h; default `1m`);
    /// retry `n` waits `retry_backoff × 2^(n−1)`, at most one hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff: Option<String>,
    /// A run that takes longer is cancelled (a duration, at least `1s`);
    /// default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Overlap policy; default `queue`.
    #[serde(default)]
    pub overlap: Overlap,
    /// With `overlap: parallel`: instances that may run at once (2–64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// Which scheduler triggers the instances (`builtin`, `airflow`,
    /// `dolphinscheduler`, `none`); Ferry computes every window itself.
    #[serde(default, skip_serializing_if = "EngineKind::is_builtin")]
    pub engine: EngineKind,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn utc() -> String {
    "UTC".to_string()
}

/// The most instances of one task that may ever run at once.
pub const MAX_PARALLEL: u32 = 64;
/// The default of `max_catch_up`.
pub const DEFAULT_MAX_CATCH_UP: u32 = 100;
/// The largest `max_catch_up`.
pub const MAX_CATCH_UP: u32 = 10_000;
/// The largest `max_retries`.
pub const MAX_RETRIES: u32 = 100;
/// The longest wait between retries (and the largest `retry_backoff`).
pub const MAX_RETRY_WAIT: Duration = Duration::hours(1);
/// The default `retry_backoff`.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::minutes(1);
/// The longest `delay`.
pub const MAX_DELAY: Duration = Duration::days(31);

/// What makes the logical times: a calendar interval or a cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// `interval` × `unit`.
    Every {
        /// The unit.
        unit: ScheduleUnit,
        /// Units between logical times (≥ 1).
        interval: u32,
    },
    /// The fire times of a cron expression, parsed in [`cron_parser`]'s
    /// dialect.
    Cron(Box<Cron>),
}

/// A schedule with its values parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSchedule {
    /// The spec.
    pub spec: ScheduleSpec,
    /// Interval or cron.
    pub cadence: Cadence,
    /// Parsed `time_zone`.
    pub tz: Tz,
    /// Parsed `start_time`.
    pub start: Option<DateTime<Utc>>,
    /// Parsed `end_time`.
    pub end: Option<DateTime<Utc>>,
    /// Parsed `delay` (zero when not given).
    pub delay: Duration,
    /// The most missed logical times a catch-up runs (`max_catch_up`, else
    /// its default; only used with `misfire: catch_up`).
    pub max_catch_up: u32,
    /// Parsed `retry_backoff` (else one minute).
    pub retry_backoff: Duration,
    /// Parsed `timeout`.
    pub timeout: Option<Duration>,
}

/// The parser of Ferry's cron dialect (see [`ScheduleSpec::cron`]): seconds
/// optional, no year field, POSIX weekdays (0 and 7 Sunday), strict steps,
/// day-of-month OR day-of-week unless `+`.
pub fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .dom_and_dow(false)
        .alternative_weekdays(false)
        .sloppy_ranges(false)
        .build()
}

/// Parses a cron expression of Ferry's dialect; errors name `field` and
/// carry croner's message.
pub fn parse_cron(field: &str, text: &str) -> Result<Cron> {
    let cron = cron_parser()
        .parse(text)
        .map_err(|e| Error::invalid(field, format!("`{text}`: {e}")))?;
    // croner searches up to the year 5000: a pattern with no fire time
    // from 1970 on (February 30th) never fires.
    cron.find_next_occurrence(&DateTime::<Utc>::UNIX_EPOCH, true)
        .map_err(|e| {
            Error::invalid(
                field,
                format!("`{text}` never fires (like `0 0 30 2 *`, February 30th): {e}"),
            )
        })?;
    Ok(cron)
}

/// Parses a duration like `90s`, `250ms`, `10m`, `2h`, `1d`; errors name `field`.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(
            field,
            format!(
                "`{text}` is not a duration; write a whole number and a unit: \"90s\", \"10m\", \"2h\", \"1d\" (also \"ms\")"
            ),
        )
    };
    match CursorOffset::parse(field, text) {
        Ok(CursorOffset::Micros(us)) => Ok(Duration::microseconds(us)),
        Ok(CursorOffset::Units(_)) | Err(_) => Err(bad()),
    }
}

impl ScheduleSpec {
    /// Checks every field; errors name it as `schedule.<field>`.
    pub fn validate(&self) -> Result<ValidSchedule> {
        let cadence = match (self.unit, self.cron.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "schedule.cron",
                    "give either `unit` (with `interval`) or `cron`, not both",
                ));
            }
            (None, None) => {
                return Err(Error::invalid(
                    "schedule.unit",
                    "give `unit` (year, month, week, day, hour or minute, with `interval`) or `cron`",
                ));
            }
            (None, Some(text)) => {
                if self.interval != 1 {
                    return Err(Error::invalid(
                        "schedule.interval",
                        "only applies to `unit`; a cron expression sets its own steps",
                    ));
                }
                Cadence::Cron(Box::new(parse_cron("schedule.cron", text)?))
            }
            (Some(unit), None) => {
                if self.interval == 0 {
                    return Err(Error::invalid(
                        "schedule.interval",
                        "must be at least 1 (how many units between runs)",
                    ));
                }
                if self.interval > 100_000 {
                    return Err(Error::invalid(
                        "schedule.interval",
                        "must be at most 100000",
                    ));
                }
                Cadence::Every {
                    unit,
                    interval: self.interval,
                }
            }
        };
        let tz: Tz = self.time_zone.parse().map_err(|_| {
            Error::invalid(
                "schedule.time_zone",
                format!(
                    "`{}` is not an IANA time zone name like `UTC`, `Europe/Berlin` or `America/New_York`",
                    self.time_zone
                ),
            )
        })?;
        let instant = |field: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>> {
            v.as_deref()
                .map(|t| {
                    DateTime::parse_from_rfc3339(t)
                        .map(|d| d.with_timezone(&Utc))
                        .map_err(|e| {
                            Error::invalid(
                                format!("schedule.{field}"),
                                format!("`{t}` is not an RFC 3339 instant like 2026-01-01T00:00:00Z: {e}"),
                            )
                        })
                })
                .transpose()
        };
        let start = instant("start_time", &self.start_time)?;
        let end = instant("end_time", &self.end_time)?;
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            return Err(Error::invalid(
                "schedule.end_time",
                "must be after start_time",
            ));
        }
        let delay = match self.delay.as_deref() {
            Some(t) => {
                let d = parse_duration("schedule.delay", t)?;
                if d > MAX_DELAY {
                    return Err(Error::invalid(
                        "schedule.delay",
                        format!("`{t}` is longer than 31 days"),
                    ));
                }
                d
            }
            None => Duration::zero(),
        };
        let max_catch_up = match (self.misfire, self.max_catch_up) {
            (Misfire::CatchUp, Some(n)) if !(1..=MAX_CATCH_UP).contains(&n) => {
                return Err(Error::invalid(
                    "schedule.max_catch_up",
                    format!("must be between 1 and {MAX_CATCH_UP}"),
                ));
            }
            (Misfire::CatchUp, n) => n.unwrap_or(DEFAULT_MAX_CATCH_UP),
            (_, Some(_)) => {
                return Err(Error::invalid(
                    "schedule.max_catch_up",
                    "only applies to misfire `catch_up`",
                ));
            }
            (_, None) => DEFAULT_MAX_CATCH_UP,
        };
        if self.max_retries > MAX_RETRIES {
            return Err(Error::invalid(
                "schedule.max_retries",
                format!("must be at most {MAX_RETRIES}"),
            ));
        }
        let retry_backoff = match self.retry_backoff.as_deref() {
            Some(t) => {
                let d = parse_duration("schedule.retry_backoff", t)?;
                if d < Duration::seconds(1) || d > MAX_RETRY_WAIT {
                    return Err(Error::invalid(
                        "schedule.retry_backoff",
                        format!("`{t}` must be between 1s and 1h"),
                    ));
                }
                d
            }
            None => DEFAULT_RETRY_BACKOFF,
        };
        let timeout = match self.timeout.as_deref() {
            Some(t) => {
                let d = parse_duration("schedule.timeout", t)?;
                if d < Duration::seconds(1) {
                    return Err(Error::invalid(
                        "schedule.timeout",
                        format!("`{t}` is shorter than 1s"),
                    ));
                }
                Some(d)
            }
            None => None,
        };
        match (self.overlap, self.max_parallel) {
            (Overlap::Parallel, Some(n)) if (2..=MAX_PARALLEL).contains(&n) => {}
            (Overlap::Parallel, _) => {
                return Err(Error::invalid(
                    "schedule.max_parallel",
                    format!("overlap `parallel` needs max_parallel between 2 and {MAX_PARALLEL}"),
                ));
            }
            (_, Some(_)) => {
                return Err(Error::invalid(
                    "schedule.max_parallel",
                    "only applies to overlap `parallel`",
                ));
            }
            _ => {}
        }
        Ok(ValidSchedule {
            spec: self.clone(),
            cadence,
            tz,
            start,
            end,
            delay,
            max_catch_up,
            retry_backoff,
            timeout,
        })
    }

    /// Instances of the task that may run at once under this schedule.
    pub fn max_parallel(&self) -> u32 {
        match self.overlap {
            Overlap::Parallel => self.max_parallel.unwrap_or(2),
            Overlap::Skip | Overlap::Queue => 1,
        }
    }
}

impl ValidSchedule {
    /// The wait before retry `attempt` (1 for the first retry):
    /// `retry_backoff × 2^(attempt−1)`, at most one hour; zero for attempt 0
    /// (the first run does not wait).
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        if attempt == 0 {
            return Duration::zero();
        }
        let factor = 1_i32.checked_shl(attempt - 1).filter(|f| *f > 0);
        factor
            .and_then(|f| self.retry_backoff.checked_mul(f))
            .map_or(MAX_RETRY_WAIT, |d| d.min(MAX_RETRY_WAIT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> ScheduleSpec {
        serde_json::from_str(json).expect("parses")
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"unit":"day","interval":0}"#, "schedule.interval"),
            (r#"{"cron":"0 * * * *","interval":2}"#, "schedule.interval"),
            (r#"{"unit":"day","cron":"0 0 * * *"}"#, "schedule.cron"),
            (r#"{"time_zone":"UTC"}"#, "schedule.unit"),
            (r#"{"cron":"61 * * * *"}"#, "schedule.cron"),
            (r#"{"cron":"0 0 * *"}"#, "schedule.cron"),
            (r#"{"cron":"0 0 0 * * * 2026"}"#, "schedule.cron"),
            (r#"{"cron":"5/10 * * * *"}"#, "schedule.cron"),
            (r#"{"cron":"0 0 30 2 *"}"#, "schedule.cron"),
            (
                r#"{"unit":"day","time_zone":"Mars/Olympus"}"#,
                "schedule.time_zone",
            ),
            (
                r#"{"unit":"day","start_time":"2026-02-01T00:00:00Z","end_time":"2026-01-01T00:00:00Z"}"#,
                "schedule.end_time",
            ),
            (
                r#"{"unit":"day","start_time":"2026-01-01T00:00:00Z","end_time":"2026-01-01T00:00:00Z"}"#,
                "schedule.end_time",
            ),
            (
                r#"{"unit":"day","start_time":"yesterday"}"#,
                "schedule.start_time",
            ),
            (r#"{"unit":"day","delay":"soon"}"#, "schedule.delay"),
            (r#"{"unit":"day","delay":"90"}"#, "schedule.delay"),
            (r#"{"unit":"day","delay":"-5m"}"#, "schedule.delay"),
            (r#"{"unit":"day","delay":"32d"}"#, "schedule.delay"),
            (
                r#"{"unit":"day","max_catch_up":5}"#,
                "schedule.max_catch_up",
            ),
            (
                r#"{"unit":"day","misfire":"catch_up","max_catch_up":0}"#,
                "schedule.max_catch_up",
            ),
            (
                r#"{"unit":"day","misfire":"catch_up","max_catch_up":10001}"#,
                "schedule.max_catch_up",
            ),
            (
                r#"{"unit":"day","max_retries":101}"#,
                "schedule.max_retries",
            ),
            (
                r#"{"unit":"day","retry_backoff":"2h"}"#,
                "schedule.retry_backoff",
            ),
            (
                r#"{"unit":"day","retry_backoff":"500ms"}"#,
                "schedule.retry_backoff",
            ),
            (r#"{"unit":"day","timeout":"10ms"}"#, "schedule.timeout"),
            (r#"{"unit":"day","timeout":"1x"}"#, "schedule.timeout"),
            (
                r#"{"unit":"day","overlap":"parallel"}"#,
                "schedule.max_parallel",
            ),
            (
                r#"{"unit":"day","max_parallel":3}"#,
                "schedule.max_parallel",
            ),
        ];
        for (json, field) in cases {
            let e = spec(json).validate().expect_err(json);
            match &e {
                Error::InvalidConfig { field: f, .. } => assert_eq!(f, field, "{json}: {e}"),
                other => panic!("{json}: {other}"),
            }
        }
        let ok = spec(r#"{"unit":"hour","interval":6,"overlap":"parallel","max_parallel":3}"#);
        assert_eq!(ok.validate().expect("valid").spec.max_parallel(), 3);
        assert!(serde_json::from_str::<ScheduleSpec>(r#"{"unit":"fortnight"}"#).is_err());
        assert!(serde_json::from_str::<ScheduleSpec>(r#"{"unit":"day","jitter":"1m"}"#).is_err());
    }

    #[test]
    fn messages_name_the_value() {
        let e = spec(r#"{"unit":"day","time_zone":"Mars/Olympus"}"#)
            .validate()
            .expect_err("tz");
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
        let e = spec(r#"{"cron":"61 * * * *"}"#)
            .validate()
            .expect_err("cron");
        // croner's own message is passed on.
        assert!(e.to_string().contains("61 * * * *"), "{e}");
        assert!(
            e.to_string().contains("out of bounds") || e.to_string().contains("Component error"),
            "{e}"
        );
    }

    #[test]
    fn parsed_values() {
        let v = spec(
            r#"{"cron":"0 30 2 * * *","time_zone":"Europe/Berlin","delay":"90s","timeout":"2h",
                "retry_backoff":"10s","max_retries":3,"misfire":"catch_up","max_catch_up":7}"#,
        )
        .validate()
        .expect("valid");
        assert_eq!(v.tz, chrono_tz::Europe::Berlin);
        assert!(matches!(v.cadence, Cadence::Cron(_)));
        assert_eq!(v.delay, Duration::seconds(90));
        assert_eq!(v.timeout, Some(Duration::hours(2)));
        assert_eq!(v.retry_backoff, Duration::seconds(10));
        assert_eq!(v.max_catch_up, 7);
        let d = spec(r#"{"unit":"week","interval":2}"#)
            .validate()
            .expect("valid");
        assert_eq!(d.tz, chrono_tz::Tz::UTC);
        assert_eq!(
            d.cadence,
            Cadence::Every {
                unit: ScheduleUnit::Week,
                interval: 2
            }
        );
        assert_eq!(d.delay, Duration::zero());
        assert_eq!(d.timeout, None);
        assert_eq!(d.retry_backoff, Duration::minutes(1));
        assert_eq!(d.spec.misfire, Misfire::RunOnce);
        assert_eq!(d.max_catch_up, DEFAULT_MAX_CATCH_UP);
        for (text, want) in [
            ("10m", Duration::minutes(10)),
            ("2h", Duration::hours(2)),
            ("1d", Duration::days(1)),
            ("250ms", Duration::milliseconds(250)),
        ] {
            assert_eq!(parse_duration("f", text).expect(text), want);
        }
        // Every dialect feature parses.
        for c in [
            "0 0 L * *",
            "0 0 * * 5L",
            "0 0 * * 5#L",
            "0 9 * * 1#2",
            "0 0 15W * ?",
            "0 0 ? * MON-FRI",
            "0 0 1 * +MON",
            "0 0 * * 7",
            "*/15 * * * *",
            "10-50/20 * * * *",
            "@daily",
            "0 0 29 2 *",
        ] {
            parse_cron("c", c).expect(c);
        }
    }

    #[test]
    fn serialization_round_trips_and_stays_small() {
        let s = spec(r#"{"unit":"hour"}"#);
        let text = serde_json::to_string(&s).expect("json");
        assert_eq!(
            text,
            r#"{"unit":"hour","time_zone":"UTC","misfire":"run_once","overlap":"queue"}"#
        );
        let c = spec(r#"{"cron":"30 2 * * *","time_zone":"America/New_York","interval":1}"#);
        let text = serde_json::to_string(&c).expect("json");
        assert!(
            !text.contains("interval") && !text.contains("unit"),
            "{text}"
        );
        assert_eq!(spec(&text), c);
    }

    #[test]
    fn retry_delay_doubles_up_to_an_hour() {
        let v = spec(r#"{"unit":"day","max_retries":20}"#)
            .validate()
            .expect("valid");
        let minutes: Vec<i64> = (0..=9).map(|n| v.retry_delay(n).num_minutes()).collect();
        assert_eq!(minutes, [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(v.retry_delay(u32::MAX), Duration::hours(1));
        let v = spec(r#"{"unit":"day","retry_backoff":"45s"}"#)
            .validate()
            .expect("valid");
        assert_eq!(v.retry_delay(1), Duration::seconds(45));
        assert_eq!(v.retry_delay(3), Duration::seconds(180));
        assert_eq!(v.retry_delay(7), Duration::seconds(2880));
        assert_eq!(v.retry_delay(8), Duration::hours(1));
        assert_eq!(v.retry_delay(31), Duration::hours(1));
        assert_eq!(v.retry_delay(32), Duration::hours(1));
    }
}
