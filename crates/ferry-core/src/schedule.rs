//! When a task runs: the schedule a task version carries.
//!
//! A schedule fires at logical times; the run at logical time `T` covers the
//! window `[T − period, T)` (it looks back). Logical times are
//! `start_time + k × interval units`; `start_time` defaults to the Unix
//! epoch (a Monday for `week`), so `unit: day` fires at midnight UTC.
//!
//! The math lives in `ferry-scheduler`; this is the vocabulary and its
//! validation. Cron expressions and non-UTC time zones arrive with the
//! built-in scheduler and are refused, with a clear error, until then.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The calendar unit of an interval schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleUnit {
    /// Calendar years.
    Year,
    /// Calendar months.
    Month,
    /// Weeks of 7 days, from Monday.
    Week,
    /// Days.
    Day,
    /// Hours.
    Hour,
    /// Minutes.
    Minute,
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

/// A task's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// The unit of the interval.
    pub unit: ScheduleUnit,
    /// How many units between runs; at least 1.
    #[serde(default = "one")]
    pub interval: u32,
    /// IANA time zone of the calendar; only `UTC` for now.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// The first logical time (RFC 3339); also the anchor of the grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// No logical time after this (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Overlap policy; default `queue`.
    #[serde(default)]
    pub overlap: Overlap,
    /// With `overlap: parallel`: instances that may run at once (2–64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
}

fn one() -> u32 {
    1
}

fn utc() -> String {
    "UTC".to_string()
}

/// The most instances of one task that may ever run at once.
pub const MAX_PARALLEL: u32 = 64;

/// A schedule with its instants parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSchedule {
    /// The spec.
    pub spec: ScheduleSpec,
    /// Parsed `start_time`.
    pub start: Option<DateTime<Utc>>,
    /// Parsed `end_time`.
    pub end: Option<DateTime<Utc>>,
}

impl ScheduleSpec {
    /// Checks every field; errors name it as `schedule.<field>`.
    pub fn validate(&self) -> Result<ValidSchedule> {
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
        if self.time_zone != "UTC" {
            return Err(Error::invalid(
                "schedule.time_zone",
                format!(
                    "`{}`: only UTC is supported so far (time zones arrive with the built-in scheduler)",
                    self.time_zone
                ),
            ));
        }
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
            start,
            end,
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
            (
                r#"{"unit":"day","time_zone":"Mars/Olympus"}"#,
                "schedule.time_zone",
            ),
            (
                r#"{"unit":"day","start_time":"2026-02-01T00:00:00Z","end_time":"2026-01-01T00:00:00Z"}"#,
                "schedule.end_time",
            ),
            (
                r#"{"unit":"day","start_time":"yesterday"}"#,
                "schedule.start_time",
            ),
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
            assert!(e.to_string().contains(field), "{json}: {e}");
        }
        let ok = spec(r#"{"unit":"hour","interval":6,"overlap":"parallel","max_parallel":3}"#);
        assert_eq!(ok.validate().expect("valid").spec.max_parallel(), 3);
        assert!(serde_json::from_str::<ScheduleSpec>(r#"{"unit":"fortnight"}"#).is_err());
    }
}
