//! The logical times of a schedule, their windows and when each is due.
//!
//! A [`Schedule`] is built from a [`ValidSchedule`]. Its *logical times*
//! are instants (UTC); the run at logical time `T` covers the half-open
//! window `[previous logical time, T)` — the period that ends at `T` — and
//! is due at `T + delay` ([`Schedule::due_time`]). `start_time` and
//! `end_time` bound the logical times (both inclusive); the window of the
//! first one still starts at the grid time before it.
//!
//! # Interval schedules (`unit` × `interval`)
//!
//! The grid is anchored at `start_time`, else at local midnight of
//! 1970-01-01 in the schedule's time zone (Monday 1970-01-05 for `week`),
//! and extends both ways: logical time `k` is the anchor plus `k × interval`
//! units.
//!
//! * `minute`, `hour`: fixed durations (60 s, 3600 s) in UTC from the
//!   anchor instant. Across a DST change they keep their UTC rhythm, so
//!   local times shift: `hour` × 6 from local midnight fires at 00, 06, 12,
//!   18 in winter and 01, 07, 13, 19 in summer; `hour` × 1 fires every real
//!   hour (23 runs on a spring-forward day, 25 on a fall-back day).
//! * `day`, `week`, `month`, `year`: calendar arithmetic on the *local* date
//!   and time of day of the anchor, then converted to an instant in the time
//!   zone. `day` at local 00:00 stays at local 00:00 across DST changes, so
//!   its windows are 23 h or 25 h long on change days. Months and years
//!   count from the anchor (not from the previous time): anchored on the
//!   31st, a monthly schedule fires on the last day of shorter months and on
//!   the 31st again after them; anchored on February 29th, a yearly one
//!   fires on February 28th in common years.
//! * A local time that does not exist (the spring-forward gap) is moved
//!   forward by the length of the gap: a daily 02:30 in Europe/Berlin fires
//!   at 03:30 CEST (01:30 UTC) on 2026-03-29. A local time that happens
//!   twice (fall back) takes the first occurrence: a daily 02:30 in
//!   Europe/Berlin fires at 02:30 CEST (00:30 UTC) on 2026-10-25, once.
//!   (`start_time` itself is always a logical time, even when it names the
//!   second occurrence.)
//! * The default anchor is a local time of 1970 in the zone's 1970 offset;
//!   where that offset differs from today's by a fraction of an hour
//!   (Asia/Kathmandu, Africa/Monrovia), `minute`/`hour` grids keep that
//!   1970 alignment: give `start_time` to choose another.
//!
//! # Cron schedules
//!
//! Logical times are the cron expression's fire times, evaluated by
//! `croner` on the local wall clock of the time zone (whole seconds). What
//! croner does at DST changes, which depends on the kind of expression:
//!
//! * *Fixed-time* expressions — one value each in second, minute and hour,
//!   like `30 2 * * *`:
//!   - a time in the spring-forward gap fires once, at the first instant
//!     after the gap (the new offset's start, *not* shifted by the gap):
//!     `30 2 * * *` in Europe/Berlin fires at 03:00 CEST (01:00 UTC) on
//!     2026-03-29, in America/New_York at 03:00 EDT (07:00 UTC) on
//!     2026-03-08;
//!   - a time that happens twice fires once, at its first occurrence:
//!     02:30 CEST (00:30 UTC) in Berlin on 2026-10-25; 01:30 EDT (05:30 UTC)
//!     for `30 1 * * *` in New York on 2026-11-01.
//! * *Interval* expressions — a wildcard, step, range or list in second,
//!   minute or hour, like `0 * * * *` or `*/15 * * * *`:
//!   - wall-clock times in the gap do not exist and are skipped (`0 * * * *`
//!     has no 02:00 in Berlin on 2026-03-29; its runs stay one real hour
//!     apart). A list within the gap's hour, like `0,30 2 * * *`, therefore
//!     does not run at all that day;
//!   - wall-clock times that happen twice fire twice, once in each offset
//!     (`0 * * * *` fires at 02:00 CEST and 02:00 CET in Berlin on
//!     2026-10-25).
//!
//! The window of a cron logical time `T` is `[previous fire time, T)`, so a
//! daily cron's windows are 23 h or 25 h long across a DST change, and a
//! fixed-time run moved out of the gap gets a correspondingly shorter
//! window.

use chrono::{DateTime, Duration, Months, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use ferry_core::schedule::{Cadence, ScheduleUnit, ValidSchedule};
use ferry_core::{Error, Result};

#[cfg(test)]
mod tests;

/// The most logical times one call returns (a backfill's cap).
pub const MAX_TIMES: usize = 10_000;

/// A schedule's logical times: interval or cron, in a time zone, within
/// `start_time`/`end_time`.
#[derive(Debug, Clone)]
pub struct Schedule {
    times: Times,
    tz: Tz,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    delay: Duration,
}

/// The unbounded sequence of times.
#[derive(Debug, Clone)]
enum Times {
    /// `anchor + k × step`, in UTC.
    Fixed { anchor: DateTime<Utc>, step_ms: i64 },
    /// Local `anchor + k × step`, resolved in `tz`.
    Calendar {
        tz: Tz,
        anchor: NaiveDateTime,
        /// `start_time`, the exact instant of `k = 0` when given.
        anchor_instant: Option<DateTime<Utc>>,
        step: CalendarStep,
    },
    /// The fire times of a cron expression in `tz`.
    Cron { tz: Tz, cron: Box<Cron> },
}

#[derive(Debug, Clone, Copy)]
enum CalendarStep {
    Days(i64),
    Months(i64),
}

/// The instant of local time `t` in `tz`: the first occurrence of an
/// ambiguous time; a time in a gap moved forward by the gap (read with the
/// offset in force before the gap).
pub fn resolve_local(tz: &Tz, t: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&t) {
        chrono::LocalResult::Single(d) => Some(d.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        chrono::LocalResult::None => {
            // Offsets change months apart, so a day earlier the old offset
            // is in force.
            let before = tz
                .offset_from_utc_datetime(&t.checked_sub_signed(Duration::days(1))?)
                .fix();
            let utc =
                t.checked_sub_signed(Duration::seconds(i64::from(before.local_minus_utc())))?;
            Some(Utc.from_utc_datetime(&utc))
        }
    }
}

fn floor_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::nanoseconds(i64::from(chrono::Timelike::nanosecond(&t)))
}

fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let f = floor_second(t);
    if f == t { t } else { f + Duration::seconds(1) }
}

impl Times {
    fn new(s: &ValidSchedule) -> Times {
        let tz = s.tz;
        match &s.cadence {
            Cadence::Cron(cron) => Times::Cron {
                tz,
                cron: cron.clone(),
            },
            Cadence::Every { unit, interval } => {
                let n = i64::from(*interval);
                let epoch_day = match unit {
                    ScheduleUnit::Week => NaiveDate::from_ymd_opt(1970, 1, 5),
                    _ => NaiveDate::from_ymd_opt(1970, 1, 1),
                }
                .unwrap_or_default()
                .and_time(chrono::NaiveTime::MIN);
                let fixed = |step_ms: i64| Times::Fixed {
                    anchor: s
                        .start
                        .or_else(|| resolve_local(&tz, epoch_day))
                        .unwrap_or_default(),
                    step_ms,
                };
                let calendar = |step: CalendarStep| Times::Calendar {
                    tz,
                    anchor: s
                        .start
                        .map(|t| t.with_timezone(&tz).naive_local())
                        .unwrap_or(epoch_day),
                    anchor_instant: s.start,
                    step,
                };
                match unit {
                    ScheduleUnit::Minute => fixed(n * 60_000),
                    ScheduleUnit::Hour => fixed(n * 3_600_000),
                    ScheduleUnit::Day => calendar(CalendarStep::Days(n)),
                    ScheduleUnit::Week => calendar(CalendarStep::Days(n * 7)),
                    ScheduleUnit::Month => calendar(CalendarStep::Months(n)),
                    ScheduleUnit::Year => calendar(CalendarStep::Months(n * 12)),
                }
            }
        }
    }

    /// The `k`-th time of a grid.
    fn at(&self, k: i64) -> Option<DateTime<Utc>> {
        match self {
            Times::Fixed { anchor, step_ms } => k
                .checked_mul(*step_ms)
                .and_then(Duration::try_milliseconds)
                .and_then(|d| anchor.checked_add_signed(d)),
            Times::Calendar {
                tz,
                anchor,
                anchor_instant,
                step,
            } => {
                if k == 0
                    && let Some(a) = anchor_instant
                {
                    return Some(*a);
                }
                let local = match step {
                    CalendarStep::Days(d) => {
                        anchor.checked_add_signed(Duration::try_days(k.checked_mul(*d)?)?)?
                    }
                    CalendarStep::Months(m) => {
                        let total = u32::try_from(k.checked_mul(*m)?.unsigned_abs()).ok()?;
                        if k >= 0 {
                            anchor.checked_add_months(Months::new(total))?
                        } else {
                            anchor.checked_sub_months(Months::new(total))?
                        }
                    }
                };
                resolve_local(tz, local)
            }
            Times::Cron { .. } => None,
        }
    }

    /// The index of the last grid time at or before `t`.
    fn index_at_or_before(&self, t: DateTime<Utc>) -> Option<i64> {
        let mut k = match self {
            Times::Fixed { anchor, step_ms } => {
                let span = t.signed_duration_since(*anchor).num_milliseconds();
                span.div_euclid(*step_ms)
            }
            Times::Calendar {
                tz, anchor, step, ..
            } => {
                let local = t.with_timezone(tz).naive_local();
                match step {
                    CalendarStep::Days(d) => {
                        let span = local.signed_duration_since(*anchor).num_seconds();
                        span.div_euclid(d.checked_mul(86_400)?)
                    }
                    CalendarStep::Months(m) => {
                        use chrono::Datelike;
                        let months = (i64::from(local.year()) - i64::from(anchor.year())) * 12
                            + i64::from(local.month())
                            - i64::from(anchor.month());
                        months.div_euclid(*m)
                    }
                }
            }
            Times::Cron { .. } => return None,
        };
        // Month-end clamping and DST offsets can put the estimate a step
        // off either way.
        while self.at(k)? > t {
            k -= 1;
        }
        while self.at(k + 1)? <= t {
            k += 1;
        }
        Some(k)
    }

    /// The latest time `<= t`.
    fn at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Times::Cron { tz, cron } => cron
                .find_previous_occurrence(&floor_second(t).with_timezone(tz), true)
                .ok()
                .map(|d| d.with_timezone(&Utc)),
            _ => self.at(self.index_at_or_before(t)?),
        }
    }

    /// The latest time `< t`.
    fn before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Times::Cron { tz, cron } => cron
                .find_previous_occurrence(&ceil_second(t).with_timezone(tz), false)
                .ok()
                .map(|d| d.with_timezone(&Utc)),
            _ => {
                let k = self.index_at_or_before(t)?;
                let g = self.at(k)?;
                if g < t { Some(g) } else { self.at(k - 1) }
            }
        }
    }

    /// The earliest time `> t`.
    fn after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Times::Cron { tz, cron } => cron
                .find_next_occurrence(&floor_second(t).with_timezone(tz), false)
                .ok()
                .map(|d| d.with_timezone(&Utc)),
            _ => self.at(self.index_at_or_before(t)?.checked_add(1)?),
        }
    }

    /// The earliest time `>= t`.
    fn at_or_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Times::Cron { tz, cron } => cron
                .find_next_occurrence(&ceil_second(t).with_timezone(tz), true)
                .ok()
                .map(|d| d.with_timezone(&Utc)),
            _ => {
                let k = self.index_at_or_before(t)?;
                let g = self.at(k)?;
                if g == t {
                    Some(g)
                } else {
                    self.at(k.checked_add(1)?)
                }
            }
        }
    }
}

impl Schedule {
    /// The logical times of a validated schedule.
    pub fn new(s: &ValidSchedule) -> Schedule {
        Schedule {
            times: Times::new(s),
            tz: s.tz,
            start: s.start,
            end: s.end,
            delay: s.delay,
        }
    }

    /// The schedule's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The schedule's `delay`.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    fn in_bounds(&self, t: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t <= e)
    }

    /// When the run at logical time `t` is due: `t + delay`.
    pub fn due_time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t.checked_add_signed(self.delay)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Whether `t` is a logical time of the schedule (on the grid or a cron
    /// fire time, within start/end).
    pub fn is_logical_time(&self, t: DateTime<Utc>) -> bool {
        self.in_bounds(t) && self.times.at_or_before(t) == Some(t)
    }

    /// The latest logical time at or before `t` (after `end_time`: the last
    /// one); `None` before the first.
    pub fn at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let t = self.end.map_or(t, |e| t.min(e));
        let g = self.times.at_or_before(t)?;
        self.in_bounds(g).then_some(g)
    }

    /// The first logical time after `t` (before `start_time`: the first
    /// one); `None` past the last.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let g = match self.start {
            Some(s) if t < s => self.times.at_or_after(s)?,
            _ => self.times.after(t)?,
        };
        self.in_bounds(g).then_some(g)
    }

    /// The window `[start, end)` of the run at logical time `t`: it ends at
    /// `t` and starts at the schedule time before it. An error when `t` is
    /// not a logical time.
    pub fn window(&self, t: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let not_logical = |why: String| {
            Error::invalid(
                "logical_time",
                format!(
                    "{} is not a logical time of the schedule{why}",
                    t.to_rfc3339()
                ),
            )
        };
        if self.times.at_or_before(t) != Some(t) {
            return Err(not_logical(
                self.at_or_before(t)
                    .map(|p| format!(" (the one before is {})", p.to_rfc3339()))
                    .unwrap_or_default(),
            ));
        }
        if let Some(s) = self.start
            && t < s
        {
            return Err(not_logical(format!(
                " (it is before start_time {})",
                s.to_rfc3339()
            )));
        }
        if let Some(e) = self.end
            && t > e
        {
            return Err(not_logical(format!(
                " (it is after end_time {})",
                e.to_rfc3339()
            )));
        }
        let start = self
            .times
            .before(t)
            .ok_or_else(|| Error::invalid("logical_time", "out of range"))?;
        Ok((start, t))
    }

    /// The logical times in `(after, until]`, at most `cap` of them; an
    /// error when there are more (so a backfill never silently stops short).
    pub fn times_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        cap: usize,
    ) -> Result<Vec<DateTime<Utc>>> {
        let until = self.end.map_or(until, |e| until.min(e));
        let mut out = Vec::new();
        let mut cursor = after;
        while let Some(t) = self.next_after(cursor) {
            if t > until {
                break;
            }
            if out.len() == cap {
                return Err(Error::invalid(
                    "to",
                    format!("the range holds more than {cap} logical times; split it"),
                ));
            }
            out.push(t);
            cursor = t;
        }
        Ok(out)
    }
}
