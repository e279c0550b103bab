//! The values the store reads and writes, and their persisted text forms.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Timelike, Utc};
use ferry_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Where an incremental task stopped: the cursor columns and, for each, the
/// exact text form of the last value carried.
///
/// Values are text so that no precision is lost on the way through the store
/// (microsecond timestamps, 38-digit numerics, unicode keys): the store keeps
/// them byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// The cursor's column names, in cursor order.
    pub columns: Vec<String>,
    /// One value per column, as exact text.
    pub values: Vec<String>,
}

impl Watermark {
    /// Checks that there is at least one column and one value per column.
    pub fn validate(&self, field: &str) -> Result<()> {
        if self.columns.is_empty() {
            return Err(Error::invalid(
                field,
                "a watermark needs at least one column",
            ));
        }
        if self.columns.len() != self.values.len() {
            return Err(Error::invalid(
                field,
                format!(
                    "a watermark needs one value per column ({} columns, {} values)",
                    self.columns.len(),
                    self.values.len()
                ),
            ));
        }
        if let Some(i) = self.columns.iter().position(|c| c.is_empty()) {
            return Err(Error::invalid(
                field,
                format!("column {} of the watermark has an empty name", i + 1),
            ));
        }
        Ok(())
    }
}

/// The watermark saved for a task, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedWatermark {
    /// The watermark itself.
    pub watermark: Watermark,
    /// The run that saved it, if any.
    pub run_id: Option<String>,
    /// `"run"` when a successful run saved it, `"user"` when a user set it.
    pub set_by: String,
    /// When it was saved (RFC 3339 UTC, microseconds).
    pub updated_at: String,
}

/// A run about to start, as given to [`Store::begin_run`](crate::Store::begin_run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// Unique id of the run.
    pub run_id: String,
    /// The task it runs.
    pub task: String,
    /// The sync mode (`full`, `incremental`, ...), as the task spec names it.
    pub mode: String,
    /// The scheduled (logical) time of the run, RFC 3339.
    pub logical_time: Option<String>,
    /// Start of the data window the run covers, RFC 3339.
    pub window_start: Option<String>,
    /// End of the data window the run covers, RFC 3339.
    pub window_end: Option<String>,
    /// The watermark the run starts from.
    pub watermark_from: Option<Watermark>,
}

/// Where a run is in its life.
///
/// ```text
/// running ──mark_publishing──► publishing ──finish_run(ok)──► succeeded
///    │                             │
///    └──── finish_run(!ok) ────────┴──────────────────────────► failed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Reading and staging; nothing is published yet.
    Running,
    /// The sink is committing; the watermark it will carry is recorded.
    Publishing,
    /// Committed; its watermark (if any) is saved.
    Succeeded,
    /// Ended without committing.
    Failed,
}

impl RunStatus {
    /// The lower-case word stored in `ferry_runs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Publishing => "publishing",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    /// Whether the run has ended (succeeded or failed).
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "running" => Ok(RunStatus::Running),
            "publishing" => Ok(RunStatus::Publishing),
            "succeeded" => Ok(RunStatus::Succeeded),
            "failed" => Ok(RunStatus::Failed),
            other => Err(Error::invalid(
                "status",
                format!("`{other}` is not one of running, publishing, succeeded, failed"),
            )),
        }
    }
}

/// One run as recorded in the run history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Unique id of the run.
    pub run_id: String,
    /// The task it ran.
    pub task: String,
    /// The sync mode.
    pub mode: String,
    /// Where the run is in its life.
    pub status: RunStatus,
    /// The scheduled (logical) time, RFC 3339 UTC.
    pub logical_time: Option<String>,
    /// Start of the data window, RFC 3339 UTC.
    pub window_start: Option<String>,
    /// End of the data window, RFC 3339 UTC.
    pub window_end: Option<String>,
    /// The watermark the run started from.
    pub watermark_from: Option<Watermark>,
    /// The watermark its publish carries (recorded by `mark_publishing`).
    pub watermark_to: Option<Watermark>,
    /// Rows read from the source, once finished.
    pub rows_read: Option<u64>,
    /// Rows written to the target, once finished.
    pub rows_written: Option<u64>,
    /// Rows sent to dirty data, once finished.
    pub rows_dirty: Option<u64>,
    /// Why the run failed; on a run repaired by
    /// [`Store::resolve_publishing`](crate::Store::resolve_publishing) a note
    /// saying so.
    pub error: Option<String>,
    /// When the run began (RFC 3339 UTC, microseconds).
    pub started_at: String,
    /// When the run ended (RFC 3339 UTC, microseconds).
    pub finished_at: Option<String>,
    /// The upper bound the source put on the incremental read and why
    /// (recorded by `mark_publishing_bounded`); `None` when unbounded.
    pub bound: Option<String>,
}

/// Row counts of a finished run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Rows read from the source.
    pub rows_read: u64,
    /// Rows written to the target.
    pub rows_written: u64,
    /// Rows sent to dirty data.
    pub rows_dirty: u64,
}

/// The stored text form of a timestamp: RFC 3339, UTC, exactly six fraction
/// digits (`2026-11-25T06:40:00.123456Z`). Fixed width, so text order is time
/// order on both backends.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Parses an RFC 3339 timestamp with any offset and returns its stored form
/// (see [`format_timestamp`]). Finer than microsecond precision is refused
/// rather than truncated.
pub fn normalize_timestamp(field: &str, text: &str) -> Result<String> {
    let t = DateTime::parse_from_rfc3339(text).map_err(|e| {
        Error::invalid(
            field,
            format!("`{text}` is not an RFC 3339 timestamp ({e})"),
        )
    })?;
    if t.nanosecond() % 1_000 != 0 {
        return Err(Error::invalid(
            field,
            format!("`{text}` is finer than microseconds, which the store cannot keep"),
        ));
    }
    Ok(format_timestamp(t.with_timezone(&Utc)))
}

/// The JSON kept in `ferry_runs.watermark_from/to`: versioned, so a record
/// written today still loads after `Watermark` changes.
#[derive(Serialize, Deserialize)]
#[serde(tag = "version")]
enum StoredWatermark {
    #[serde(rename = "1")]
    V1 {
        columns: Vec<String>,
        values: Vec<String>,
    },
}

pub(crate) fn watermark_to_json(wm: &Watermark) -> Result<String> {
    let stored = StoredWatermark::V1 {
        columns: wm.columns.clone(),
        values: wm.values.clone(),
    };
    serde_json::to_string(&stored)
        .map_err(|e| Error::Internal(format!("encoding a watermark as JSON: {e}")))
}

pub(crate) fn watermark_from_json(what: &str, json: &str) -> Result<Watermark> {
    let stored: StoredWatermark = serde_json::from_str(json)
        .map_err(|e| Error::Internal(format!("the state store holds an unreadable {what}: {e}")))?;
    match stored {
        StoredWatermark::V1 { columns, values } => Ok(Watermark { columns, values }),
    }
}

pub(crate) fn strings_to_json(v: &[String]) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("encoding JSON: {e}")))
}

pub(crate) fn strings_from_json(what: &str, json: &str) -> Result<Vec<String>> {
    serde_json::from_str(json)
        .map_err(|e| Error::Internal(format!("the state store holds an unreadable {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_round_trip() {
        for s in [
            RunStatus::Running,
            RunStatus::Publishing,
            RunStatus::Succeeded,
            RunStatus::Failed,
        ] {
            assert_eq!(s.to_string().parse::<RunStatus>().unwrap(), s);
        }
        assert!("done".parse::<RunStatus>().is_err());
    }

    #[test]
    fn timestamps_are_utc_with_six_digits() {
        assert_eq!(
            normalize_timestamp("t", "2026-11-25T07:40:00.5+01:00").unwrap(),
            "2026-11-25T06:40:00.500000Z"
        );
        assert_eq!(
            normalize_timestamp("t", "2026-11-25T06:40:00Z").unwrap(),
            "2026-11-25T06:40:00.000000Z"
        );
        assert!(normalize_timestamp("t", "2026-11-25T06:40:00.1234567Z").is_err());
        assert!(normalize_timestamp("t", "yesterday").is_err());
    }

    #[test]
    fn watermark_json_is_versioned() {
        let wm = Watermark {
            columns: vec!["id".into()],
            values: vec!["42".into()],
        };
        let json = watermark_to_json(&wm).unwrap();
        assert_eq!(json, r#"{"version":"1","columns":["id"],"values":["42"]}"#);
        assert_eq!(watermark_from_json("w", &json).unwrap(), wm);
    }

    #[test]
    fn watermark_shape_is_checked() {
        let wm = Watermark {
            columns: vec!["a".into(), "b".into()],
            values: vec!["1".into()],
        };
        assert!(wm.validate("watermark").is_err());
        let empty = Watermark {
            columns: vec![],
            values: vec![],
        };
        assert!(empty.validate("watermark").is_err());
    }
}
