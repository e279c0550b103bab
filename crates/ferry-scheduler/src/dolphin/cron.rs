//! A Ferry schedule as DolphinScheduler's cron.
//!
//! DolphinScheduler (DS) schedules with Quartz cron expressions of 7 fields,
//! `sec min hour day-of-month month day-of-week year`: exactly one of
//! day-of-month and day-of-week is `?` (no value), day-of-week counts
//! 1 = SUN … 7 = SAT, `a/n` is "from a, every n" (restarting at the start of
//! the enclosing period: the hour, the day, the month, the year) and `L` in
//! day-of-month is the last day of the month.
//!
//! A Ferry interval schedule fires at `anchor + k × interval units`
//! (`ferry_scheduler::grid`). The translation keeps exactly those times or
//! fails: an `a/n` field repeats the grid only when `n` divides the
//! enclosing period (60 minutes, 24 hours, 12 months), days and weeks only
//! for an interval of 1, and years only for 1. Anything else is an error
//! naming the field, never a different schedule. Intervals that are whole
//! larger units are expressed in those (120 minutes = 2 hours, 7 days =
//! 1 week, 24 months = 2 years — the last still an error).
//!
//! Time zone: UTC only; the DS schedule carries `timezoneId: UTC` (the HTTP
//! task renders the logical time assuming a UTC master). A schedule in
//! another zone is refused naming `schedule.time_zone` (left to the built-in
//! or the Airflow engine). `cron` schedules translate in
//! [`super::quartz`].

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use ferry_core::schedule::{ScheduleUnit, ValidSchedule};
use ferry_core::{Error, Result};

/// The Quartz cron (7 fields, UTC) that fires at exactly the logical times
/// of `s`, or an error naming the field DS cannot express.
pub fn quartz_cron(s: &ValidSchedule) -> Result<String> {
    let spec = &s.spec;
    if spec.time_zone != "UTC" {
        return Err(Error::invalid(
            "schedule.time_zone",
            format!(
                "`{}`: the DolphinScheduler engine registers UTC schedules only",
                spec.time_zone
            ),
        ));
    }
    let Some(written_unit) = spec.unit else {
        return super::quartz::from_cron(spec.cron.as_deref().unwrap_or_default());
    };
    // The grid's anchor, from the unit as written (an unanchored week starts
    // on Monday 1970-01-05, every other unit on 1970-01-01).
    let anchor = s.start.unwrap_or_else(|| epoch(written_unit));
    if anchor.nanosecond() != 0 {
        return Err(Error::invalid(
            "schedule.start_time",
            "has a fraction of a second; DolphinScheduler's cron fires on whole seconds",
        ));
    }
    let (unit, n) = normalize(written_unit, spec.interval);
    let (sec, min, hour) = (anchor.second(), anchor.minute(), anchor.hour());
    let every = |offset: u32, n: u32| {
        if n == 1 {
            "*".to_string()
        } else {
            format!("{offset}/{n}")
        }
    };
    let cron = match unit {
        ScheduleUnit::Minute => {
            divides(n, 60, "minutes", "an hour")?;
            format!("{sec} {} * * * ? *", every(min % n, n))
        }
        ScheduleUnit::Hour => {
            divides(n, 24, "hours", "a day")?;
            format!("{sec} {min} {} * * ? *", every(hour % n, n))
        }
        ScheduleUnit::Day => {
            only_one(n, "days", "day-of-month steps restart every month")?;
            format!("{sec} {min} {hour} * * ? *")
        }
        ScheduleUnit::Week => {
            only_one(n, "weeks", "its cron has no week-of-year step")?;
            let dow = anchor.weekday().number_from_sunday();
            format!("{sec} {min} {hour} ? * {dow} *")
        }
        ScheduleUnit::Month => {
            divides(n, 12, "months", "a year")?;
            let dom = day_of_month(anchor.day())?;
            let month = every((anchor.month() - 1) % n + 1, n);
            format!("{sec} {min} {hour} {dom} {month} ? *")
        }
        ScheduleUnit::Year => {
            only_one(n, "years", "its cron has no year step")?;
            // Feb 29 falls back to Feb 28 in other years: the last day of Feb.
            let dom = if anchor.month() == 2 && anchor.day() == 29 {
                "L".to_string()
            } else {
                anchor.day().to_string()
            };
            format!("{sec} {min} {hour} {dom} {} ? *", anchor.month())
        }
    };
    Ok(cron)
}

fn epoch(unit: ScheduleUnit) -> DateTime<Utc> {
    let day = if unit == ScheduleUnit::Week { 5 } else { 1 };
    Utc.with_ymd_and_hms(1970, 1, day, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Rewrites an interval that is a whole number of larger units in those.
fn normalize(mut unit: ScheduleUnit, mut n: u32) -> (ScheduleUnit, u32) {
    loop {
        (unit, n) = match unit {
            ScheduleUnit::Minute if n.is_multiple_of(60) => (ScheduleUnit::Hour, n / 60),
            ScheduleUnit::Hour if n.is_multiple_of(24) => (ScheduleUnit::Day, n / 24),
            ScheduleUnit::Day if n.is_multiple_of(7) => (ScheduleUnit::Week, n / 7),
            ScheduleUnit::Month if n.is_multiple_of(12) => (ScheduleUnit::Year, n / 12),
            _ => return (unit, n),
        };
    }
}

fn divides(n: u32, period: u32, units: &str, span: &str) -> Result<()> {
    if period.is_multiple_of(n) {
        return Ok(());
    }
    Err(Error::invalid(
        "schedule.interval",
        format!(
            "every {n} {units} cannot be expressed in DolphinScheduler's cron (its steps restart \
             every {span}); use an interval that divides {period}"
        ),
    ))
}

fn only_one(n: u32, units: &str, why: &str) -> Result<()> {
    if n == 1 {
        return Ok(());
    }
    Err(Error::invalid(
        "schedule.interval",
        format!(
            "every {n} {units} cannot be expressed in DolphinScheduler's cron ({why}); use an \
             interval of 1"
        ),
    ))
}

/// A monthly anchor's day: Ferry fires on the last day of months shorter
/// than it, which Quartz can say only for the 31st (`L`).
fn day_of_month(day: u32) -> Result<String> {
    match day {
        1..=28 => Ok(day.to_string()),
        31 => Ok("L".to_string()),
        _ => Err(Error::invalid(
            "schedule.start_time",
            format!(
                "a monthly schedule on day {day} (the last day of shorter months) cannot be \
                 expressed in DolphinScheduler's cron; anchor it on day 1–28 or 31 (the last day)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::schedule::ScheduleSpec;

    fn cron(json: &str) -> Result<String> {
        let spec: ScheduleSpec = serde_json::from_str(json).expect("parses");
        quartz_cron(&spec.validate().expect("valid"))
    }

    #[test]
    fn expressible_schedules() {
        let cases = [
            (r#"{"unit":"minute"}"#, "0 * * * * ? *"),
            (r#"{"unit":"minute","interval":15}"#, "0 0/15 * * * ? *"),
            (
                r#"{"unit":"minute","interval":15,"start_time":"2026-01-01T00:07:30Z"}"#,
                "30 7/15 * * * ? *",
            ),
            (r#"{"unit":"minute","interval":60}"#, "0 0 * * * ? *"),
            (r#"{"unit":"minute","interval":120}"#, "0 0 0/2 * * ? *"),
            (r#"{"unit":"hour"}"#, "0 0 * * * ? *"),
            (
                r#"{"unit":"hour","interval":6,"start_time":"2026-03-01T05:45:00Z"}"#,
                "0 45 5/6 * * ? *",
            ),
            (r#"{"unit":"hour","interval":24}"#, "0 0 0 * * ? *"),
            (
                r#"{"unit":"day","start_time":"2026-01-01T02:30:00Z"}"#,
                "0 30 2 * * ? *",
            ),
            // 2026-01-01 is a Thursday (5); unanchored weeks start on Monday (2).
            (
                r#"{"unit":"day","interval":7,"start_time":"2026-01-01T02:30:00Z"}"#,
                "0 30 2 ? * 5 *",
            ),
            (r#"{"unit":"day","interval":7}"#, "0 0 0 ? * 5 *"),
            (r#"{"unit":"week"}"#, "0 0 0 ? * 2 *"),
            (r#"{"unit":"month"}"#, "0 0 0 1 * ? *"),
            (
                r#"{"unit":"month","interval":3,"start_time":"2026-02-15T06:00:00Z"}"#,
                "0 0 6 15 2/3 ? *",
            ),
            (
                r#"{"unit":"month","start_time":"2026-01-31T00:00:00Z"}"#,
                "0 0 0 L * ? *",
            ),
            (r#"{"unit":"month","interval":12}"#, "0 0 0 1 1 ? *"),
            (
                r#"{"unit":"year","start_time":"2028-02-29T12:00:00Z"}"#,
                "0 0 12 L 2 ? *",
            ),
            (
                r#"{"unit":"year","start_time":"2026-07-04T00:00:00Z"}"#,
                "0 0 0 4 7 ? *",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(cron(json).expect(json), want, "{json}");
        }
    }

    #[test]
    fn inexpressible_schedules_name_the_field() {
        let cases = [
            (r#"{"unit":"minute","interval":7}"#, "schedule.interval"),
            (r#"{"unit":"minute","interval":90}"#, "schedule.interval"),
            (r#"{"unit":"hour","interval":5}"#, "schedule.interval"),
            (r#"{"unit":"day","interval":2}"#, "schedule.interval"),
            (r#"{"unit":"week","interval":2}"#, "schedule.interval"),
            (r#"{"unit":"month","interval":5}"#, "schedule.interval"),
            (r#"{"unit":"year","interval":2}"#, "schedule.interval"),
            (
                r#"{"unit":"month","start_time":"2026-01-30T00:00:00Z"}"#,
                "schedule.start_time",
            ),
            (
                r#"{"unit":"hour","start_time":"2026-01-01T00:00:00.5Z"}"#,
                "schedule.start_time",
            ),
        ];
        for (json, field) in cases {
            let e = cron(json).expect_err(json);
            assert!(e.to_string().contains(field), "{json}: {e}");
        }
    }
}
