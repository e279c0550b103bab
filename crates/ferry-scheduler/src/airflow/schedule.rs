//! Ferry's schedule as an Airflow timetable.
//!
//! Every Airflow run of a Ferry DAG sends `data_interval_end` as its logical
//! time, so the translation's one job is that those ends are exactly the
//! logical times of Ferry's schedule ([`Grid`]), from the same first one
//! the built-in engine would run:
//!
//! * With a `start_time` the first logical time is `start_time` itself (the
//!   first one at or after it for cron), so Airflow's `start_date` is the
//!   start of that time's window. Without one, it is the first logical time
//!   after the registration (history is left to a backfill).
//! * `end_time`: `end_date` is the start of the last logical time's window.
//! * `misfire: catch_up` is `catchup=True`, from the oldest of the latest
//!   `max_catch_up` logical times missed at registration (Airflow itself
//!   has no cap: a later outage of Airflow is caught up whole); `skip` and
//!   `run_once` are `catchup=False`, where Airflow runs the latest missed
//!   interval once.
//!
//! The timetables:
//!
//! * `minute`, `hour` (fixed UTC steps in Ferry too) whose step divides the
//!   hour or the day: a UTC cron (`7/15 * * * *`, `45 5/6 * * *`).
//! * `day`/`week` × 1: a cron at the anchor's local time of day (and
//!   weekday) in the zone, so local midnight stays local midnight.
//! * Other steps (every 7 minutes, 5 hours, 2 days in a zone without DST):
//!   `DeltaDataIntervalTimetable`, which stays on the grid only with
//!   `catchup=True` (without it Airflow starts the next interval at "now"),
//!   so they need `misfire: catch_up` (else a 422 naming `schedule.misfire`).
//!   Several days or weeks in a zone with DST changes cannot be expressed
//!   and are refused, naming `schedule.time_zone`.
//! * `month` / `year`: cron expressions anchored at the grid's local anchor,
//!   in croniter's syntax (seconds 6th, year 7th). One expression when the
//!   months repeat every year and the day is the same in each (the 31st is
//!   `L`, the last day, as Ferry clamps it): `CronDataIntervalTimetable`.
//!   Otherwise (every 5 months, every 2 years, the 30th with February's last
//!   day) one expression per day-of-month and year of the cycle, as a
//!   `MultipleCronTriggerTimetable` whose runs are the logical times
//!   themselves. croniter's years end at 2099.
//! * `cron`: `CronDataIntervalTimetable` in croniter's syntax (seconds
//!   last, `5L` as `L5`; see [`airflow_cron`]); `+` (croniter cannot AND
//!   the day fields) is refused naming `schedule.cron`.
//! * no logical time left to run: `schedule=None`.
//!
//! (Airflow 3.3.2's `EventsTimetable` cannot be used: DAGs with it fail to
//! serialize, `KeyError: '_summary'`.)

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, SecondsFormat, Timelike, Utc,
};
use chrono_tz::Tz;
use ferry_core::schedule::{Cadence, Misfire, ScheduleUnit, ValidSchedule};
use ferry_core::{Error, Result};

use crate::grid::Grid;

/// An Airflow timetable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timetable {
    /// `DeltaDataIntervalTimetable(timedelta(seconds=…))`.
    Delta {
        /// The period in seconds.
        seconds: i64,
    },
    /// `CronDataIntervalTimetable(expression, timezone=…)`; the expression in
    /// Airflow's (croniter's) syntax: 5 fields, a 6th for seconds, a 7th for
    /// years.
    Cron {
        /// The expression.
        expression: String,
        /// IANA time zone the expression is read in.
        time_zone: String,
    },
    /// `MultipleCronTriggerTimetable(*expressions, timezone=…)`: a run at
    /// each instant any expression fires, its data interval that instant.
    Crons {
        /// The expressions (croniter's syntax).
        expressions: Vec<String>,
        /// IANA time zone they are read in.
        time_zone: String,
    },
    /// `None`: no scheduled runs.
    Never,
}

/// What a DAG's `schedule`, `start_date`, `end_date` and `catchup` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirflowSchedule {
    /// The timetable.
    pub timetable: Timetable,
    /// `start_date`: the start of the first data interval (for
    /// [`Timetable::Crons`]: the first run).
    pub start_date: DateTime<Utc>,
    /// `end_date`: no data interval starts after it (for
    /// [`Timetable::Crons`]: no run after it).
    pub end_date: Option<DateTime<Utc>>,
    /// `catchup`: run every interval since `start_date`, not only the latest.
    pub catchup: bool,
}

impl AirflowSchedule {
    /// The Airflow form of a Ferry schedule; `now` is the registration time
    /// (without `start_time`, the first run is the first logical time after
    /// it, as with the built-in engine).
    pub fn translate(s: &ValidSchedule, now: DateTime<Utc>) -> Result<AirflowSchedule> {
        let grid = Grid::new(s);
        let first = match s.start {
            Some(start) => grid.next_after(start - Duration::nanoseconds(1)),
            None => grid.next_after(now),
        };
        let last = match s.end {
            Some(e) => grid.at_or_before(e),
            None => None,
        };
        let never = AirflowSchedule {
            timetable: Timetable::Never,
            start_date: s.start.unwrap_or(now),
            end_date: None,
            catchup: false,
        };
        let Some(first) = first else {
            return Ok(never);
        };
        if s.end.is_some() && last.is_none_or(|l| l < first) {
            return Ok(never);
        }
        if !first.nanosecond().is_multiple_of(1_000) {
            return Err(Error::invalid(
                "schedule.start_time",
                "Airflow keeps microseconds; give start_time in whole microseconds",
            ));
        }
        let catchup = s.spec.misfire == Misfire::CatchUp;
        // Catching up runs at most the latest `max_catch_up` missed times,
        // as the built-in engine does: start from the oldest of those.
        let first = if catchup && s.start.is_some() {
            oldest_to_catch_up(&grid, first, now, s.max_catch_up)
        } else {
            first
        };
        // Data-interval timetables: the first interval is the first logical
        // time's window, the last one starts where the last window starts.
        let interval_start = grid.window(first)?.0;
        let interval_end_date = last.map(|l| grid.window(l).map(|w| w.0)).transpose()?;
        let intervals = |timetable| AirflowSchedule {
            timetable,
            start_date: interval_start,
            end_date: interval_end_date,
            catchup,
        };
        let time_zone = s.spec.time_zone.clone();
        let (unit, n) = match &s.cadence {
            Cadence::Cron(_) => {
                let expr = s.spec.cron.as_deref().unwrap_or_default();
                return Ok(intervals(Timetable::Cron {
                    expression: airflow_cron(expr)?,
                    time_zone,
                }));
            }
            Cadence::Every { unit, interval } => (*unit, *interval),
        };
        // The grid's local anchor: start_time, else local midnight of
        // 1970-01-01 (Monday 1970-01-05 for weeks); its time of day and
        // weekday are every day/week logical time's (up to DST gaps).
        let anchor = s.start.map_or_else(
            || {
                let day = if unit == ScheduleUnit::Week { 5 } else { 1 };
                NaiveDate::from_ymd_opt(1970, 1, day)
                    .unwrap_or_default()
                    .into()
            },
            |a| a.with_timezone(&s.tz).naive_local(),
        );
        if unit != ScheduleUnit::Minute && unit != ScheduleUnit::Hour && anchor.nanosecond() != 0 {
            return Err(Error::invalid(
                "schedule.start_time",
                "Airflow's cron fires on whole seconds; give start_time in whole seconds",
            ));
        }
        let with_seconds = |mut expression: String, second: u32| {
            if second != 0 {
                expression.push_str(&format!(" {second}"));
            }
            expression
        };
        // Minutes and hours are fixed UTC steps: a UTC cron when the step
        // divides the hour or the day (any logical time gives the phase).
        let utc_cron = |expression: String| {
            if first.nanosecond() != 0 {
                return Err(Error::invalid(
                    "schedule.start_time",
                    "Airflow's cron fires on whole seconds; give start_time in whole seconds",
                ));
            }
            Ok(intervals(Timetable::Cron {
                expression: with_seconds(expression, first.second()),
                time_zone: "UTC".to_string(),
            }))
        };
        let step = |phase: u32| {
            if n == 1 {
                "*".to_string()
            } else {
                format!("{}/{n}", phase % n)
            }
        };
        let local_cron = |day_fields: String| {
            Ok(intervals(Timetable::Cron {
                expression: with_seconds(
                    format!("{} {} {day_fields}", anchor.minute(), anchor.hour()),
                    anchor.second(),
                ),
                time_zone: time_zone.clone(),
            }))
        };
        // Other steps: a fixed-length delta, which stays on the grid only
        // while Airflow catches up (without it, Airflow starts the next
        // interval at "now").
        let delta = |per: i64, what: &str| {
            if !catchup {
                return Err(Error::invalid(
                    "schedule.misfire",
                    format!(
                        "every {n} {what} runs on Airflow as a fixed-length timetable, which \
                         keeps Ferry's logical times only when it catches up: set `misfire: \
                         catch_up`, or use an interval that divides the hour (minutes) or the \
                         day (hours), a cron expression, or the builtin engine"
                    ),
                ));
            }
            Ok(intervals(Timetable::Delta {
                seconds: per * i64::from(n),
            }))
        };
        let months = match unit {
            ScheduleUnit::Minute if 60 % n == 0 => {
                return utc_cron(format!("{} * * * *", step(first.minute())));
            }
            ScheduleUnit::Minute if n % 60 == 0 && 24 % (n / 60) == 0 => {
                let hours = n / 60;
                let hour = if hours == 1 {
                    "*".to_string()
                } else {
                    format!("{}/{hours}", first.hour() % hours)
                };
                return utc_cron(format!("{} {hour} * * *", first.minute()));
            }
            ScheduleUnit::Minute => return delta(60, "minutes"),
            ScheduleUnit::Hour if 24 % n == 0 => {
                return utc_cron(format!("{} {} * * *", first.minute(), step(first.hour())));
            }
            ScheduleUnit::Hour => return delta(3_600, "hours"),
            ScheduleUnit::Day if n == 1 => return local_cron("* * *".to_string()),
            ScheduleUnit::Week if n == 1 => {
                let dow = anchor.weekday().num_days_from_sunday();
                return local_cron(format!("* * {dow}"));
            }
            ScheduleUnit::Day if fixed_offset(s.tz, first) => return delta(86_400, "days"),
            ScheduleUnit::Week if fixed_offset(s.tz, first) => return delta(604_800, "weeks"),
            ScheduleUnit::Day | ScheduleUnit::Week => {
                let what = if unit == ScheduleUnit::Day {
                    "days"
                } else {
                    "weeks"
                };
                return Err(Error::invalid(
                    "schedule.time_zone",
                    format!(
                        "the Airflow engine cannot follow every {n} {what} in {} across its \
                         daylight-saving changes (Airflow steps by fixed durations or cron); \
                         use UTC, interval 1, a cron expression or the builtin engine",
                        s.spec.time_zone
                    ),
                ));
            }
            ScheduleUnit::Month => s.spec.interval,
            ScheduleUnit::Year => s.spec.interval.saturating_mul(12),
        };
        let mut expressions = month_crons(anchor, months)?;
        if expressions.len() == 1 {
            return Ok(intervals(Timetable::Cron {
                expression: expressions.remove(0),
                time_zone,
            }));
        }
        // Trigger timetable: its runs are the logical times themselves.
        Ok(AirflowSchedule {
            timetable: Timetable::Crons {
                expressions,
                time_zone,
            },
            start_date: first,
            end_date: last,
            catchup,
        })
    }
}

/// The oldest logical time a catch-up from `first` runs at `now`: the
/// `cap`-th latest one at or before `now`, or `first` when fewer are missed.
fn oldest_to_catch_up(
    grid: &Grid,
    first: DateTime<Utc>,
    now: DateTime<Utc>,
    cap: u32,
) -> DateTime<Utc> {
    let Some(mut t) = grid.at_or_before(now) else {
        return first;
    };
    for _ in 1..cap.max(1) {
        match grid.window(t) {
            Ok((previous, _)) if previous >= first => t = previous,
            _ => break,
        }
    }
    t.max(first)
}

/// Ferry's cron (5 fields, or 6 with the **seconds first**, croner's
/// dialect) in Airflow's croniter syntax: the seconds field last, `?` as
/// `*`, the month's last weekday `5L`/`FRI#L` as croniter's `L5`; `L`, `W`,
/// `#n`, names and nicknames (`@daily`) read the same. croniter cannot AND
/// the day fields, so `+` is refused, naming `schedule.cron`.
fn airflow_cron(expr: &str) -> Result<String> {
    let refuse = |why: &str| {
        Error::invalid(
            "schedule.cron",
            format!("`{expr}`: the Airflow engine (croniter) {why}"),
        )
    };
    let trimmed = expr.trim();
    if trimmed.starts_with('@') {
        return Ok(trimmed.to_ascii_lowercase());
    }
    if expr.contains('+') {
        return Err(refuse("cannot require both day fields (`+`)"));
    }
    let mut fields: Vec<String> = expr
        .split_whitespace()
        .map(|f| {
            if f == "?" {
                "*".to_string()
            } else {
                f.to_string()
            }
        })
        .collect();
    if let Some(dow) = fields.last_mut() {
        *dow = dow
            .split(',')
            .map(last_weekday)
            .collect::<Result<Vec<_>>>()
            .map_err(|_| refuse("has no such day-of-week item"))?
            .join(",");
    }
    match fields.as_slice() {
        [_, _, _, _, _] => Ok(fields.join(" ")),
        [sec, rest @ ..] if rest.len() == 5 => Ok(format!("{} {sec}", rest.join(" "))),
        _ => Err(refuse("takes cron expressions of 5 or 6 fields")),
    }
}

/// A day-of-week item, with Ferry's "last <weekday> of the month" (`5L`,
/// `5#L`, `FRIL`, `FRI#L`) as croniter's `L5`.
fn last_weekday(item: &str) -> Result<String> {
    let upper = item.to_ascii_uppercase();
    let Some(day) = upper
        .strip_suffix("#L")
        .or_else(|| upper.strip_suffix('L'))
        .filter(|d| !d.is_empty())
    else {
        return Ok(item.to_string());
    };
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let n = match NAMES.iter().position(|n| *n == day) {
        Some(i) => i,
        None => day
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 7)
            .ok_or_else(|| Error::invalid("schedule.cron", item.to_string()))?,
    };
    Ok(format!("L{}", n % 7))
}

/// Whether `tz` keeps one UTC offset for a year from `from` (then days and
/// weeks are fixed lengths).
fn fixed_offset(tz: Tz, from: DateTime<Utc>) -> bool {
    let offset = |t: DateTime<Utc>| t.with_timezone(&tz).offset().fix();
    let o = offset(from);
    (1..=13).all(|k| offset(from + Duration::days(30 * k)) == o)
}

/// The croniter expressions of "every `months` months from `anchor`" on
/// Ferry's grid (the anchor's day clamped to each month's end): per year of
/// the cycle (`lcm(months, 12)` months) and per day-of-month field, one.
fn month_crons(anchor: NaiveDateTime, months: u32) -> Result<Vec<String>> {
    if anchor.nanosecond() != 0 {
        return Err(Error::invalid(
            "schedule.start_time",
            "monthly and yearly schedules run on Airflow cron, which has whole seconds",
        ));
    }
    let m = i64::from(months.max(1));
    let cycle_years = m / gcd(m, 12);
    if cycle_years > 1 && anchor.year() > 2099 {
        return Err(Error::invalid(
            "schedule.start_time",
            "Airflow's cron (croniter) has no years after 2099",
        ));
    }
    let day = anchor.day();
    let mut out = Vec::new();
    for j in 0..cycle_years {
        // The months of year anchor.year() + j that are on the grid, by day field.
        let fired: Vec<u32> = (1..=12u32)
            .filter(|&month| {
                let offset = j * 12 + i64::from(month) - i64::from(anchor.month());
                offset.rem_euclid(m) == 0
            })
            .collect();
        // Ferry clamps the day to the month's end (chrono add_months): the
        // last day (`L`) where the day is never shorter, else the day itself
        // where it always exists; one of the two holds in every month.
        let all_last = fired.iter().all(|&month| day >= max_days(month));
        let mut by_day: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for month in fired {
            let field = if all_last || day > min_days(month) {
                "L".to_string()
            } else {
                day.to_string()
            };
            by_day.entry(field).or_default().push(month);
        }
        for (day_field, fired) in by_day {
            let month_field = if fired.len() == 12 {
                "*".to_string()
            } else {
                fired
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut e = format!(
                "{} {} {day_field} {month_field} *",
                anchor.minute(),
                anchor.hour()
            );
            if cycle_years > 1 {
                // From the first such year since 1970: croniter fails (and
                // Airflow with it) when a fire has no earlier one.
                let first_year =
                    1970 + (i64::from(anchor.year()) + j - 1970).rem_euclid(cycle_years);
                e.push_str(&format!(" {} {first_year}/{cycle_years}", anchor.second()));
            } else if anchor.second() != 0 {
                e.push_str(&format!(" {}", anchor.second()));
            }
            out.push(e);
        }
    }
    Ok(out)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn min_days(month: u32) -> u32 {
    match month {
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn max_days(month: u32) -> u32 {
    if month == 2 { 29 } else { min_days(month) }
}

/// An instant as a Python expression (`pendulum` is imported by the DAG).
pub(crate) fn py_instant(t: DateTime<Utc>) -> String {
    format!(
        "pendulum.parse(\"{}\")",
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    )
}

/// A string as a Python literal (JSON strings are Python strings).
pub(crate) fn py_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl Timetable {
    /// The Python expression of the DAG's `schedule`.
    pub fn to_python(&self) -> String {
        match self {
            Timetable::Delta { seconds } => {
                format!("DeltaDataIntervalTimetable(datetime.timedelta(seconds={seconds}))")
            }
            Timetable::Cron {
                expression,
                time_zone,
            } => format!(
                "CronDataIntervalTimetable({}, timezone={})",
                py_str(expression),
                py_str(time_zone)
            ),
            Timetable::Crons {
                expressions,
                time_zone,
            } => format!(
                "MultipleCronTriggerTimetable({}, timezone={})",
                expressions
                    .iter()
                    .map(|e| py_str(e))
                    .collect::<Vec<_>>()
                    .join(", "),
                py_str(time_zone)
            ),
            Timetable::Never => "None".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::schedule::ScheduleSpec;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn valid(json: &str) -> ValidSchedule {
        let spec: ScheduleSpec = serde_json::from_str(json).expect("spec");
        spec.validate().expect("valid")
    }

    fn tr(json: &str) -> AirflowSchedule {
        AirflowSchedule::translate(&valid(json), t("2026-11-25T10:25:00Z")).expect(json)
    }

    fn cron(expr: &str) -> Timetable {
        Timetable::Cron {
            expression: expr.into(),
            time_zone: "UTC".into(),
        }
    }

    fn crons(exprs: &[&str]) -> Timetable {
        Timetable::Crons {
            expressions: exprs.iter().map(|e| e.to_string()).collect(),
            time_zone: "UTC".into(),
        }
    }

    /// Whether croniter would fire `expr` (the forms generated here) at `t`
    /// (years `from/step`: from `from` on, every `step`).
    fn fires(expr: &str, t: DateTime<Utc>) -> bool {
        let f: Vec<&str> = expr.split(' ').collect();
        let num = |s: &str| s.parse::<u32>().expect("number");
        let last_day = (28..=31)
            .rev()
            .find(|&d| t.with_day(d).is_some_and(|x| x.month() == t.month()))
            .expect("a last day");
        let day_ok = match f[2] {
            "L" => t.day() == last_day,
            d => t.day() == num(d),
        };
        let month_ok = f[3] == "*" || f[3].split(',').any(|m| num(m) == t.month());
        let sec = f.get(5).map_or(0, |s| num(s));
        let year_ok = f.get(6).is_none_or(|y| {
            let (from, step) = y.split_once('/').expect("from/step");
            let (from, step) = (i64::from(num(from)), i64::from(num(step)));
            let y = i64::from(t.year());
            y >= from && (y - from) % step == 0
        });
        t.minute() == num(f[0])
            && t.hour() == num(f[1])
            && t.second() == sec
            && day_ok
            && month_ok
            && year_ok
    }

    /// The expressions fire exactly on the grid, over `days` days from the anchor.
    fn same_as_grid(json: &str, exprs: &[String], days: i64) {
        let v = valid(json);
        let grid = Grid::new(&v);
        let a = v.start.expect("a start");
        let mut fired = Vec::new();
        for d in 0..days {
            let x = a + Duration::days(d);
            if exprs.iter().any(|e| fires(e, x)) {
                fired.push(x);
            }
        }
        let want = grid
            .times_between(
                a - Duration::seconds(1),
                a + Duration::days(days - 1),
                10_000,
            )
            .expect("grid");
        assert_eq!(fired, want, "{json}: {exprs:?}");
        assert!(want.len() > 5, "{json}: too few times to compare");
    }

    /// Airflow's data interval ends for a delta timetable are Ferry's
    /// logical times, from the first one on.
    fn delta_ends_are_the_grid(json: &str) {
        let v = valid(json);
        let a = AirflowSchedule::translate(&v, t("2026-11-25T10:25:00Z")).expect(json);
        let Timetable::Delta { seconds } = a.timetable else {
            panic!("{json}: {a:?}")
        };
        let grid = Grid::new(&v);
        let ends: Vec<_> = (1..=40)
            .map(|k| a.start_date + Duration::seconds(seconds * k))
            .collect();
        let want = grid
            .times_between(ends[0] - Duration::seconds(1), ends[39], 100)
            .expect("grid");
        assert_eq!(ends, want, "{json}");
        assert_eq!(grid.window(ends[0]).expect("window").0, a.start_date);
    }

    fn utc(e: &str) -> Timetable {
        cron(e)
    }

    #[test]
    fn minutes_and_hours_are_utc_crons_when_the_step_divides() {
        let a = tr(r#"{"unit":"hour","start_time":"2026-11-25T07:00:00Z"}"#);
        assert_eq!(a.timetable, utc("0 * * * *"));
        // The first logical time is start_time; its window starts an hour before.
        assert_eq!(a.start_date, t("2026-11-25T06:00:00Z"));
        assert!(!a.catchup, "run_once is Airflow's catchup=False");
        assert_eq!(a.end_date, None);
        let a = tr(r#"{"unit":"hour","start_time":"2026-11-25T07:00:00Z","misfire":"catch_up"}"#);
        assert!(a.catchup);
        assert_eq!(a.start_date, t("2026-11-25T06:00:00Z"));
        // At most max_catch_up missed times (now is 10:25): 06:00 … 10:00.
        let a = tr(
            r#"{"unit":"hour","start_time":"2026-11-20T00:00:00Z","misfire":"catch_up","max_catch_up":5}"#,
        );
        assert_eq!(a.start_date, t("2026-11-25T05:00:00Z"));
        // The default cap is 100 hours.
        let a = tr(r#"{"unit":"hour","start_time":"2026-01-01T00:00:00Z","misfire":"catch_up"}"#);
        assert_eq!(a.start_date, t("2026-11-21T06:00:00Z"));
        // Without start_time: the first logical time after the registration.
        let a = tr(r#"{"unit":"minute","interval":15}"#);
        assert_eq!(a.timetable, utc("0/15 * * * *"));
        assert_eq!(a.start_date, t("2026-11-25T10:15:00Z"));
        assert_eq!(
            tr(r#"{"unit":"minute","interval":20,"start_time":"2026-11-25T07:07:30Z"}"#).timetable,
            utc("7/20 * * * * 30")
        );
        assert_eq!(
            tr(r#"{"unit":"hour","interval":6,"start_time":"2026-11-25T05:45:00Z"}"#).timetable,
            utc("45 5/6 * * *")
        );
        assert_eq!(
            tr(r#"{"unit":"minute","interval":180,"start_time":"2026-11-25T05:45:00Z"}"#).timetable,
            utc("45 2/3 * * *")
        );
        // In any zone: hours are fixed UTC steps.
        assert_eq!(
            tr(r#"{"unit":"hour","interval":6,"time_zone":"Europe/Berlin"}"#).timetable,
            utc("0 5/6 * * *"),
            "local midnight 1970 in Berlin is 23:00 UTC"
        );
    }

    #[test]
    fn other_steps_are_deltas_that_must_catch_up() {
        for json in [
            r#"{"unit":"minute","interval":7,"misfire":"catch_up"}"#,
            r#"{"unit":"hour","interval":5,"time_zone":"America/New_York","misfire":"catch_up"}"#,
            r#"{"unit":"week","interval":3,"misfire":"catch_up"}"#,
            r#"{"unit":"day","interval":3,"time_zone":"Asia/Tokyo","misfire":"catch_up"}"#,
            r#"{"unit":"day","interval":2,"start_time":"2026-11-01T06:00:00Z","misfire":"catch_up"}"#,
        ] {
            delta_ends_are_the_grid(json);
        }
        let a = tr(
            r#"{"unit":"week","interval":2,"start_time":"2026-01-07T06:30:00Z","misfire":"catch_up"}"#,
        );
        assert_eq!(a.timetable, Timetable::Delta { seconds: 1_209_600 });
        assert_eq!(a.start_date, t("2025-12-24T06:30:00Z"));
        for json in [
            r#"{"unit":"hour","interval":5}"#,
            r#"{"unit":"day","interval":2,"misfire":"skip"}"#,
        ] {
            let e = AirflowSchedule::translate(&valid(json), t("2026-11-25T10:25:00Z"))
                .expect_err(json);
            assert!(e.to_string().contains("schedule.misfire"), "{e}");
        }
        let e = AirflowSchedule::translate(
            &valid(r#"{"unit":"hour","interval":5,"misfire":"catch_up","start_time":"2026-11-25T07:00:00.000000001Z"}"#),
            Utc::now(),
        )
        .expect_err("nanoseconds");
        assert!(e.to_string().contains("schedule.start_time"), "{e}");
    }

    #[test]
    fn days_in_a_dst_zone_are_local_crons() {
        let berlin = |e: &str| Timetable::Cron {
            expression: e.into(),
            time_zone: "Europe/Berlin".into(),
        };
        let a = tr(
            r#"{"unit":"day","time_zone":"Europe/Berlin","start_time":"2026-03-28T00:00:00+01:00"}"#,
        );
        assert_eq!(a.timetable, berlin("0 0 * * *"));
        assert_eq!(a.start_date, t("2026-03-26T23:00:00Z"));
        let a = tr(
            r#"{"unit":"week","time_zone":"Europe/Berlin","start_time":"2026-03-23T06:30:15+01:00"}"#,
        );
        assert_eq!(a.timetable, berlin("30 6 * * 1 15"));
        let a = tr(
            r#"{"unit":"month","time_zone":"Europe/Berlin","start_time":"2026-01-15T06:30:00+01:00"}"#,
        );
        assert_eq!(a.timetable, berlin("30 6 15 * *"));
        // Without start_time the local anchor is local midnight 1970-01-01.
        assert_eq!(
            tr(r#"{"unit":"month","time_zone":"America/New_York"}"#).timetable,
            Timetable::Cron {
                expression: "0 0 1 * *".into(),
                time_zone: "America/New_York".into()
            }
        );
        let e = AirflowSchedule::translate(
            &valid(
                r#"{"unit":"day","interval":2,"time_zone":"Europe/Berlin","misfire":"catch_up"}"#,
            ),
            Utc::now(),
        )
        .expect_err("every 2 days in Berlin");
        assert!(e.to_string().contains("schedule.time_zone"), "{e}");
    }

    #[test]
    fn end_date_is_the_start_of_the_last_window() {
        // Logical times 07:00 … 12:00; the last window is [11:00, 12:00).
        let a = tr(
            r#"{"unit":"hour","start_time":"2026-11-25T07:00:00Z","end_time":"2026-11-25T12:30:00Z"}"#,
        );
        assert_eq!(a.end_date, Some(t("2026-11-25T11:00:00Z")));
        let a = tr(
            r#"{"unit":"month","start_time":"2026-01-01T00:00:00Z","end_time":"2026-03-15T00:00:00Z"}"#,
        );
        assert_eq!(a.timetable, cron("0 0 1 * *"));
        assert_eq!(a.start_date, t("2025-12-01T00:00:00Z"));
        assert_eq!(a.end_date, Some(t("2026-02-01T00:00:00Z")));
        // No logical time between start and end: never.
        let a = tr(
            r#"{"cron":"0 0 1 1 *","start_time":"2026-01-02T00:00:00Z","end_time":"2026-06-01T00:00:00Z"}"#,
        );
        assert_eq!(a.timetable, Timetable::Never);
        assert_eq!(a.timetable.to_python(), "None");
        // Past the end: never.
        let a = tr(r#"{"unit":"hour","end_time":"2026-01-01T00:00:00Z"}"#);
        assert_eq!(a.timetable, Timetable::Never);
    }

    #[test]
    fn months_and_years_are_one_cron_when_they_can_be() {
        let a = tr(r#"{"unit":"month","start_time":"2026-01-15T06:30:00Z"}"#);
        assert_eq!(a.timetable, cron("30 6 15 * *"));
        // The first data interval is start_time's window: [Dec 15, Jan 15).
        assert_eq!(a.start_date, t("2025-12-15T06:30:00Z"));
        let a = tr(r#"{"unit":"month","interval":3,"start_time":"2026-02-01T00:00:00Z"}"#);
        assert_eq!(a.timetable, cron("0 0 1 2,5,8,11 *"));
        assert_eq!(
            tr(r#"{"unit":"month","interval":6}"#).timetable,
            cron("0 0 1 1,7 *")
        );
        assert_eq!(
            tr(r#"{"unit":"year","start_time":"2026-03-10T12:00:05Z"}"#).timetable,
            cron("0 12 10 3 * 5")
        );
        // The 31st is every month's last day on Ferry's grid.
        assert_eq!(
            tr(r#"{"unit":"month","start_time":"2026-01-31T00:00:00Z"}"#).timetable,
            cron("0 0 L * *")
        );
        // The 30th of July and January is always there.
        assert_eq!(
            tr(r#"{"unit":"month","interval":6,"start_time":"2026-01-30T00:00:00Z"}"#).timetable,
            cron("0 0 30 1,7 *")
        );
        // Every 2 years: a year field.
        assert_eq!(
            tr(r#"{"unit":"year","interval":2,"start_time":"2026-05-04T03:02:01Z"}"#).timetable,
            cron("2 3 4 5 * 1 1970/2")
        );
        for (json, days) in [
            (
                r#"{"unit":"month","start_time":"2026-01-31T00:00:00Z"}"#,
                800,
            ),
            (
                r#"{"unit":"month","interval":4,"start_time":"2026-03-15T06:00:00Z"}"#,
                1500,
            ),
            (
                r#"{"unit":"year","interval":2,"start_time":"2026-05-04T03:02:01Z"}"#,
                5000,
            ),
            (
                r#"{"unit":"year","interval":2,"start_time":"2028-02-29T00:00:00Z"}"#,
                6000,
            ),
            (
                r#"{"unit":"year","start_time":"2028-02-29T00:00:00Z"}"#,
                3000,
            ),
        ] {
            let Timetable::Cron { expression, .. } = tr(json).timetable else {
                panic!("{json}")
            };
            same_as_grid(json, &[expression], days);
        }
    }

    #[test]
    fn the_rest_is_several_crons() {
        let json = r#"{"unit":"month","start_time":"2026-01-30T00:00:00Z","end_time":"2026-06-30T00:00:00Z"}"#;
        let a = tr(json);
        assert_eq!(
            a.timetable,
            crons(&["0 0 30 1,3,4,5,6,7,8,9,10,11,12 *", "0 0 L 2 *"])
        );
        // Trigger runs: from the first logical time (start_time) to the last.
        assert_eq!(a.start_date, t("2026-01-30T00:00:00Z"));
        assert_eq!(a.end_date, Some(t("2026-06-30T00:00:00Z")));
        assert!(!a.catchup);
        assert_eq!(
            a.timetable.to_python(),
            r#"MultipleCronTriggerTimetable("0 0 30 1,3,4,5,6,7,8,9,10,11,12 *", "0 0 L 2 *", timezone="UTC")"#
        );
        for (json, days) in [
            (
                r#"{"unit":"month","start_time":"2028-01-29T00:00:00Z"}"#,
                1500,
            ),
            (
                r#"{"unit":"month","interval":5,"start_time":"2026-01-31T10:00:00Z"}"#,
                3000,
            ),
            (
                r#"{"unit":"month","interval":7,"start_time":"2026-03-01T00:00:00Z"}"#,
                3000,
            ),
        ] {
            let Timetable::Crons { expressions, .. } = tr(json).timetable else {
                panic!("{json}: {:?}", tr(json))
            };
            same_as_grid(json, &expressions, days);
        }
        // Without a start: on the grid from 1970, from the next logical time.
        let a = tr(r#"{"unit":"month","interval":5}"#);
        assert!(!a.catchup);
        let Timetable::Crons { expressions, .. } = a.timetable else {
            panic!("{a:?}")
        };
        assert_eq!(expressions.len(), 5);
        assert_eq!(expressions[0], "0 0 1 1,6,11 * 0 1970/5");
        assert_eq!(expressions[1], "0 0 1 4,9 * 0 1971/5");
    }

    #[test]
    fn cron_moves_the_seconds_last() {
        assert_eq!(airflow_cron("*/5 * * * *").expect("5"), "*/5 * * * *");
        assert_eq!(
            airflow_cron("30 0 12 * * MON-FRI").expect("6"),
            "0 12 * * MON-FRI 30"
        );
        assert_eq!(airflow_cron("0 0 L * ?").expect("L"), "0 0 L * *");
        assert_eq!(airflow_cron("0 0 15W * *").expect("W"), "0 0 15W * *");
        assert_eq!(
            airflow_cron("0 9 * * 5L,1#2").expect("last Friday"),
            "0 9 * * L5,1#2"
        );
        assert_eq!(
            airflow_cron("0 9 * * fri#L").expect("last Friday"),
            "0 9 * * L5"
        );
        assert_eq!(
            airflow_cron("0 9 * * 7L").expect("last Sunday"),
            "0 9 * * L0"
        );
        assert_eq!(airflow_cron(" @Daily").expect("nickname"), "@daily");
        for bad in ["* * *", "0 0 1 * +MON"] {
            let e = airflow_cron(bad).expect_err(bad);
            assert!(e.to_string().contains("schedule.cron"), "{e}");
        }
        let a = tr(
            r#"{"cron":"0 6 * * MON-FRI","time_zone":"Europe/Berlin","start_time":"2026-11-25T06:00:00+01:00"}"#,
        );
        assert_eq!(
            a.timetable,
            Timetable::Cron {
                expression: "0 6 * * MON-FRI".into(),
                time_zone: "Europe/Berlin".into()
            }
        );
        // Wednesday 06:00's window starts on Tuesday 06:00.
        assert_eq!(a.start_date, t("2026-11-24T05:00:00Z"));
    }

    #[test]
    fn python_forms() {
        assert_eq!(
            Timetable::Delta { seconds: 60 }.to_python(),
            "DeltaDataIntervalTimetable(datetime.timedelta(seconds=60))"
        );
        assert_eq!(
            cron("0 0 L * *").to_python(),
            r#"CronDataIntervalTimetable("0 0 L * *", timezone="UTC")"#
        );
        assert_eq!(
            py_instant(t("2026-03-30T00:00:00.25Z")),
            r#"pendulum.parse("2026-03-30T00:00:00.250Z")"#
        );
        assert_eq!(py_str("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
