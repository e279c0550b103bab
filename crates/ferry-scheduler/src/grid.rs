//! The logical times of an interval schedule and their windows.
//!
//! Logical times are `anchor + k × interval units` for every integer `k`
//! (the anchor is `start_time`, else the Unix epoch — moved to Monday
//! 1970-01-05 for weeks). Months and years are calendar arithmetic: a
//! schedule anchored on the 31st fires on the last day of shorter months.
//! The run at `T` covers `[previous(T), T)`.

use chrono::{DateTime, Duration, Months, TimeZone, Utc};
use ferry_core::schedule::{ScheduleUnit, ValidSchedule};
use ferry_core::{Error, Result};

/// The most logical times one call returns (a backfill's cap).
pub const MAX_TIMES: usize = 10_000;

/// An interval schedule's grid.
#[derive(Debug, Clone)]
pub struct Grid {
    anchor: DateTime<Utc>,
    step: Step,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Fixed(Duration),
    Months(u32),
}

impl Grid {
    /// The grid of a validated schedule.
    pub fn new(s: &ValidSchedule) -> Grid {
        let n = i64::from(s.spec.interval);
        let step = match s.spec.unit {
            ScheduleUnit::Minute => Step::Fixed(Duration::minutes(n)),
            ScheduleUnit::Hour => Step::Fixed(Duration::hours(n)),
            ScheduleUnit::Day => Step::Fixed(Duration::days(n)),
            ScheduleUnit::Week => Step::Fixed(Duration::weeks(n)),
            ScheduleUnit::Month => Step::Months(s.spec.interval),
            ScheduleUnit::Year => Step::Months(s.spec.interval.saturating_mul(12)),
        };
        let epoch = match s.spec.unit {
            ScheduleUnit::Week => Utc.with_ymd_and_hms(1970, 1, 5, 0, 0, 0),
            _ => Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0),
        }
        .single()
        .unwrap_or_default();
        Grid {
            anchor: s.start.unwrap_or(epoch),
            step,
            start: s.start,
            end: s.end,
        }
    }

    /// The `k`-th time of the grid.
    fn at(&self, k: i64) -> Option<DateTime<Utc>> {
        match self.step {
            Step::Fixed(d) => d
                .checked_mul(i32::try_from(k).ok()?)
                .and_then(|x| self.anchor.checked_add_signed(x)),
            Step::Months(m) => {
                let total = u32::try_from(k.unsigned_abs().checked_mul(u64::from(m))?).ok()?;
                if k >= 0 {
                    self.anchor.checked_add_months(Months::new(total))
                } else {
                    self.anchor.checked_sub_months(Months::new(total))
                }
            }
        }
    }

    /// The index of the last grid time at or before `t`.
    fn index_at_or_before(&self, t: DateTime<Utc>) -> Option<i64> {
        let mut k = match self.step {
            Step::Fixed(d) => {
                let span = (t - self.anchor).num_milliseconds();
                span.div_euclid(d.num_milliseconds())
            }
            Step::Months(m) => {
                use chrono::Datelike;
                let months = (i64::from(t.year()) - i64::from(self.anchor.year())) * 12
                    + i64::from(t.month())
                    - i64::from(self.anchor.month());
                months.div_euclid(i64::from(m))
            }
        };
        // Calendar clamping can put the estimate one step off either way.
        while self.at(k)? > t {
            k -= 1;
        }
        while self.at(k + 1)? <= t {
            k += 1;
        }
        Some(k)
    }

    /// Whether `t` is a logical time of the schedule (on the grid, within
    /// start/end).
    pub fn is_logical_time(&self, t: DateTime<Utc>) -> bool {
        self.in_bounds(t)
            && self
                .index_at_or_before(t)
                .and_then(|k| self.at(k))
                .is_some_and(|g| g == t)
    }

    fn in_bounds(&self, t: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t <= e)
    }

    /// The latest logical time at or before `t`.
    pub fn at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let k = self.index_at_or_before(t)?;
        let g = self.at(k)?;
        self.in_bounds(g).then_some(g)
    }

    /// The window `[start, end)` of the run at logical time `t` (which
    /// must be on the grid): it ends at `t`.
    pub fn window(&self, t: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let k = self
            .index_at_or_before(t)
            .filter(|&k| self.at(k) == Some(t))
            .ok_or_else(|| {
                Error::invalid(
                    "logical_time",
                    format!(
                        "{} is not a logical time of the schedule{}",
                        t.to_rfc3339(),
                        self.at_or_before(t)
                            .map(|p| format!(" (the one before is {})", p.to_rfc3339()))
                            .unwrap_or_default()
                    ),
                )
            })?;
        let start = self
            .at(k - 1)
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
        let mut out = Vec::new();
        let Some(mut k) = self.index_at_or_before(after) else {
            return Ok(out);
        };
        loop {
            k += 1;
            let Some(t) = self.at(k) else { break };
            if t > until {
                break;
            }
            if self.end.is_some_and(|e| t > e) {
                break;
            }
            if self.in_bounds(t) {
                if out.len() == cap {
                    return Err(Error::invalid(
                        "to",
                        format!("the range holds more than {cap} logical times; split it"),
                    ));
                }
                out.push(t);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::schedule::ScheduleSpec;

    fn grid(json: &str) -> Grid {
        let spec: ScheduleSpec = serde_json::from_str(json).expect("spec");
        Grid::new(&spec.validate().expect("valid"))
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn hours_and_windows() {
        let g = grid(r#"{"unit":"hour","interval":6}"#);
        let times = g
            .times_between(t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z"), 100)
            .expect("times");
        let want: Vec<_> = ["06", "12", "18"]
            .iter()
            .map(|h| t(&format!("2026-01-01T{h}:00:00Z")))
            .chain([t("2026-01-02T00:00:00Z")])
            .collect();
        assert_eq!(times, want);
        assert_eq!(
            g.window(t("2026-01-01T06:00:00Z")).expect("window"),
            (t("2026-01-01T00:00:00Z"), t("2026-01-01T06:00:00Z"))
        );
        assert!(g.window(t("2026-01-01T07:00:00Z")).is_err());
        assert_eq!(
            g.at_or_before(t("2026-01-01T07:30:00Z")),
            Some(t("2026-01-01T06:00:00Z"))
        );
    }

    #[test]
    fn months_clamp_to_the_month_end() {
        let g = grid(r#"{"unit":"month","start_time":"2026-01-31T00:00:00Z"}"#);
        let times = g
            .times_between(t("2026-01-01T00:00:00Z"), t("2026-05-01T00:00:00Z"), 100)
            .expect("times");
        assert_eq!(
            times,
            vec![
                t("2026-01-31T00:00:00Z"),
                t("2026-02-28T00:00:00Z"),
                t("2026-03-31T00:00:00Z"),
                t("2026-04-30T00:00:00Z"),
            ]
        );
        assert_eq!(
            g.window(t("2026-03-31T00:00:00Z")).expect("window"),
            (t("2026-02-28T00:00:00Z"), t("2026-03-31T00:00:00Z"))
        );
    }

    #[test]
    fn weeks_start_monday_and_bounds_hold() {
        let g = grid(r#"{"unit":"week"}"#);
        assert!(g.is_logical_time(t("2026-11-23T00:00:00Z"))); // a Monday
        assert!(!g.is_logical_time(t("2026-11-25T00:00:00Z")));
        let g = grid(
            r#"{"unit":"day","start_time":"2026-01-03T00:00:00Z","end_time":"2026-01-05T00:00:00Z"}"#,
        );
        let times = g
            .times_between(t("2026-01-01T00:00:00Z"), t("2026-01-10T00:00:00Z"), 100)
            .expect("times");
        assert_eq!(
            times,
            vec![
                t("2026-01-03T00:00:00Z"),
                t("2026-01-04T00:00:00Z"),
                t("2026-01-05T00:00:00Z")
            ]
        );
        let e = grid(r#"{"unit":"minute"}"#)
            .times_between(t("2026-01-01T00:00:00Z"), t("2026-01-02T00:00:00Z"), 100)
            .expect_err("cap");
        assert!(e.to_string().contains("more than 100"), "{e}");
    }
}
