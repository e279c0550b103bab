//! Options of the incremental and windowed modes: the cursor that drives an
//! incremental read, the key of a merge, and the column of a window.
//!
//! The watermark is a tuple `(cursor…, tie_breaker…)` compared as a whole, so
//! rows that share a cursor value are neither lost nor read twice when a run
//! boundary falls between them. Offsets (`lag`, `lookback`) are typed by the
//! cursor: a duration (`"30s"`, `"5m"`, `"250ms"`) for a time cursor, a plain
//! integer (`"1000"`) for a numeric one; [`CursorOffset::parse`] is checked
//! here, the fit with the cursor's type at plan time.
//!
//! `cursor: xmin` ([`XMIN_CURSOR`]) is not a column but PostgreSQL's
//! transaction ids: the watermark is the read's snapshot, and a run reads
//! the rows whose inserting transaction that snapshot did not see. It is
//! exact without a lag, so `lag`, `lookback` and `tie_breaker` are refused
//! with it; only sources that declare the capability accept it (checked
//! with the connectors, in `TaskSpec::validate`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One column name or a list of them (`cursor: updated_at` or `cursor: [a, b]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Columns {
    /// One column.
    One(String),
    /// Several columns, compared in this order.
    Many(Vec<String>),
}

impl Columns {
    /// The names, in order.
    pub fn names(&self) -> Vec<String> {
        match self {
            Columns::One(c) => vec![c.clone()],
            Columns::Many(v) => v.clone(),
        }
    }
}

/// How an incremental run finds the rows that changed since the last one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncrementalSpec {
    /// The cursor column(s), e.g. `updated_at`: a run reads the rows whose
    /// `(cursor, tie_breaker)` tuple is above the saved watermark. `xmin`
    /// (PostgreSQL ≥ 13 sources only, no column needed): the watermark is
    /// the read's snapshot, and a run reads the rows of transactions the
    /// previous run's snapshot did not see; no `lag`, `lookback` or
    /// `tie_breaker` with it.
    pub cursor: Columns,
    /// Columns that order rows sharing a cursor value; default: the source's
    /// primary key. `[]` uses the cursor alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_breaker: Option<Columns>,
    /// How far behind the newest data a run stops, so that transactions
    /// still open (which commit later with older cursor values) are not
    /// skipped. `"auto"` (the default): a time cursor is read only below
    /// the start of the oldest transaction still open on the source and
    /// below the source's clock at the read (what `now()` and triggers
    /// write cannot be older than their transaction's start); a numeric
    /// cursor up to the newest value. A fixed lag, for cursors set by
    /// application clocks: a duration like `"30s"` for a time cursor,
    /// measured from the source server's clock at the read (never the
    /// client's), or an integer for a numeric cursor, measured from the
    /// newest value. `"0"` reads up to the clock with no margin; `"none"`
    /// reads every row (for cursors that are not write times, such as
    /// business dates in the future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<String>,
    /// Re-read this much before the watermark on every run (an overlap), for
    /// sources whose late commits can exceed `lag`. Needs an idempotent mode
    /// (`incremental_merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback: Option<String>,
    /// Rows whose cursor is NULL: `dirty` (default; recorded as dirty rows on
    /// every run until fixed) or `oldest` (older than any watermark: read by
    /// the first run only).
    #[serde(default)]
    pub null_cursor: NullCursor,
}

/// The cursor that is PostgreSQL's transaction snapshot, not a column
/// (`xmin` is a system column name: no user column can be called so).
pub const XMIN_CURSOR: &str = "xmin";

/// The value of `incremental.lag` that asks the source for its open-transaction bound.
pub const AUTO_LAG: &str = "auto";
/// The value of `incremental.lag` that reads every row, unbounded.
pub const NO_LAG: &str = "none";

/// What an incremental run does with rows whose cursor is NULL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NullCursor {
    /// Route them to dirty data (reason `null_cursor`) on every run.
    #[default]
    Dirty,
    /// Treat NULL as older than every value: only a run without a watermark reads them.
    Oldest,
}

/// How `incremental_merge` applies rows to the target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeSpec {
    /// Target columns that identify a row (the upsert key); default: the
    /// source's primary key. The target needs a unique index on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Columns>,
    /// A boolean column: rows where it is true delete the target row with
    /// their key instead of upserting it (hard delete of soft-deleted rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_column: Option<String>,
}

/// The column that places rows in a run's window `[window_start, window_end)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// A date or timestamp column present in source and target under this
    /// name: `window_overwrite` reads the source rows of the window and
    /// replaces exactly the target rows of the window.
    pub column: String,
}

/// A distance on the cursor: a duration for time cursors, a count for numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorOffset {
    /// Microseconds.
    Micros(i64),
    /// Units of a numeric cursor.
    Units(i64),
}

impl CursorOffset {
    /// Parses `"30s"`, `"250ms"`, `"5m"`, `"2h"`, `"1d"`, `"10us"` (a duration) or `"1000"` (a count).
    pub fn parse(field: &str, text: &str) -> Result<CursorOffset> {
        let t = text.trim();
        let bad = || {
            Error::invalid(
                field,
                format!(
                    "{text:?} is not an offset; write a duration like \"30s\", \"250ms\", \"5m\", \"2h\", \"1d\" \
                     (time cursors) or a non-negative integer like \"1000\" (numeric cursors)"
                ),
            )
        };
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: i64 = digits.parse().map_err(|_| bad())?;
        let per: i64 = match unit.trim() {
            "" => return Ok(CursorOffset::Units(n)),
            "us" => 1,
            "ms" => 1_000,
            "s" => 1_000_000,
            "m" | "min" => 60_000_000,
            "h" => 3_600_000_000,
            "d" => 86_400_000_000,
            _ => return Err(bad()),
        };
        n.checked_mul(per).map(CursorOffset::Micros).ok_or_else(bad)
    }
}

impl IncrementalSpec {
    /// Whether the cursor is PostgreSQL's `xmin` (the snapshot), not a column.
    pub fn is_xmin(&self) -> bool {
        self.cursor.names() == [XMIN_CURSOR]
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let cursor = self.cursor.names();
        check_columns("incremental.cursor", &cursor, 1)?;
        if self.is_xmin() {
            return self.validate_xmin();
        }
        if cursor.len() > 1 && cursor.iter().any(|c| c == XMIN_CURSOR) {
            return Err(Error::invalid(
                "incremental.cursor",
                "`xmin` (PostgreSQL's transaction snapshot) is a cursor on its own: write `cursor: xmin`",
            ));
        }
        if let Some(t) = &self.tie_breaker {
            check_columns("incremental.tie_breaker", &t.names(), 0)?;
            if let Some(c) = t.names().iter().find(|c| cursor.contains(c)) {
                return Err(Error::invalid(
                    "incremental.tie_breaker",
                    format!("`{c}` is already a cursor column"),
                ));
            }
        }
        if let Some(l) = self
            .lag
            .as_ref()
            .filter(|l| l.as_str() != AUTO_LAG && l.as_str() != NO_LAG)
        {
            CursorOffset::parse("incremental.lag", l)?;
        }
        if let Some(l) = &self.lookback {
            CursorOffset::parse("incremental.lookback", l)?;
        }
        Ok(())
    }
}

impl IncrementalSpec {
    /// `cursor: xmin` is exact by construction: nothing to lag, overlap or order.
    fn validate_xmin(&self) -> Result<()> {
        let refuse = |field: &str, why: &str| {
            Err(Error::invalid(
                field,
                format!("is not used with `cursor: xmin`: {why}; leave it out"),
            ))
        };
        if self.tie_breaker.is_some() {
            return refuse(
                "incremental.tie_breaker",
                "the watermark is a snapshot, not a tuple of column values",
            );
        }
        if self.lag.as_deref().is_some_and(|l| l != AUTO_LAG) {
            return refuse(
                "incremental.lag",
                "transactions open at the previous snapshot are read by the next run, whenever they commit",
            );
        }
        if self.lookback.is_some() {
            return refuse(
                "incremental.lookback",
                "no row committed after the previous snapshot can be missed, so there is nothing to re-read",
            );
        }
        Ok(())
    }
}

pub(crate) fn check_columns(field: &str, cols: &[String], min: usize) -> Result<()> {
    if cols.len() < min || cols.len() > 8 {
        return Err(Error::invalid(
            field,
            format!("lists {} columns; allowed: {min} to 8", cols.len()),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, c) in cols.iter().enumerate() {
        if c.is_empty() || c.contains('\0') {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                "column names must be non-empty and contain no NUL",
            ));
        }
        if !seen.insert(c) {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                format!("column `{c}` is listed twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_by_unit() {
        assert_eq!(
            CursorOffset::parse("f", "30s").unwrap(),
            CursorOffset::Micros(30_000_000)
        );
        assert_eq!(
            CursorOffset::parse("f", "250ms").unwrap(),
            CursorOffset::Micros(250_000)
        );
        assert_eq!(
            CursorOffset::parse("f", "1000").unwrap(),
            CursorOffset::Units(1000)
        );
        for bad in ["", "-5s", "5 weeks", "s", "1.5s", "99999999999999999999d"] {
            let e = CursorOffset::parse("incremental.lag", bad).expect_err(bad);
            assert!(e.to_string().contains("incremental.lag"), "{e}");
        }
    }

    fn spec(v: serde_json::Value) -> IncrementalSpec {
        serde_json::from_value(v).expect("spec")
    }

    #[test]
    fn xmin_cursor_parses_and_refuses_what_it_does_not_use() {
        for ok in [
            serde_json::json!({"cursor": "xmin"}),
            serde_json::json!({"cursor": ["xmin"]}),
            serde_json::json!({"cursor": "xmin", "lag": "auto"}),
        ] {
            let s = spec(ok.clone());
            assert!(s.is_xmin(), "{ok}");
            s.validate().expect("valid");
        }
        assert!(!spec(serde_json::json!({"cursor": "updated_at"})).is_xmin());
        for (bad, field) in [
            (
                serde_json::json!({"cursor": "xmin", "tie_breaker": ["id"]}),
                "incremental.tie_breaker",
            ),
            (
                serde_json::json!({"cursor": "xmin", "lag": "30s"}),
                "incremental.lag",
            ),
            (
                serde_json::json!({"cursor": "xmin", "lag": "none"}),
                "incremental.lag",
            ),
            (
                serde_json::json!({"cursor": "xmin", "lookback": "5m"}),
                "incremental.lookback",
            ),
            (
                serde_json::json!({"cursor": ["xmin", "id"]}),
                "incremental.cursor",
            ),
        ] {
            let e = spec(bad.clone()).validate().expect_err("refused");
            let text = e.to_string();
            assert!(
                text.contains(field) && text.contains("xmin"),
                "{bad}: {text}"
            );
        }
    }
}
