//! What a source evaluates itself: the cursor range of an incremental run,
//! the window of a windowed run, and the user's `source_filter` predicate.
//!
//! Every value travels as a bound parameter — the watermark as the exact text
//! the source printed it in (so microseconds and numeric scale survive), the
//! window bounds as UTC instants — and is never pasted into SQL. A connector
//! renders the predicate in its dialect with its own placeholder syntax.

mod filter_check;

pub use filter_check::{
    ALLOWED_FUNCTIONS, MAX_FILTER_BYTES, check_filter_columns, check_source_filter,
};

use chrono::{DateTime, Utc};

use crate::spec::CursorOffset;
use crate::{Error, Result};

/// The instants of one run: its logical time and its window `[start, end)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunParams {
    /// The logical time of the run (the instance's time).
    pub logical_time: Option<DateTime<Utc>>,
    /// The run's window, half-open `[start, end)`.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl RunParams {
    /// The names usable as `${name}` in a `source_filter`.
    pub const NAMES: [&'static str; 3] = ["window_start", "window_end", "logical_time"];

    /// The value of `${name}`, if the run has it.
    pub fn value(&self, name: &str) -> Option<DateTime<Utc>> {
        match name {
            "window_start" => self.window.map(|w| w.0),
            "window_end" => self.window.map(|w| w.1),
            "logical_time" => self.logical_time,
            _ => None,
        }
    }

    /// Checks that a window, when given, is not empty or reversed.
    pub fn validate(&self) -> Result<()> {
        if let Some((s, e)) = self.window
            && s >= e
        {
            return Err(Error::invalid(
                "window_end",
                format!(
                    "{e} is not after window_start {s}; a window is [start, end) with start < end"
                ),
            ));
        }
        Ok(())
    }
}

/// Everything a source filters on, pushed down into its own query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadFilter {
    /// The incremental range, if any.
    pub cursor: Option<CursorRange>,
    /// The run's window on one column, if any.
    pub window: Option<WindowRange>,
    /// The task's `source_filter`, if any.
    pub predicate: Option<SourcePredicate>,
}

impl ReadFilter {
    /// Whether there is nothing to push down.
    pub fn is_empty(&self) -> bool {
        self.cursor.is_none() && self.window.is_none() && self.predicate.is_none()
    }
}

/// The rows of one incremental run: `after < (columns) <= high`, where the
/// source captures `high` in its read snapshot as its newest cursor tuple —
/// with a lag, among rows with `cursor[0] <= source clock − lag` (time
/// cursors) or `<= max(cursor[0]) − lag` (numeric cursors) — and reports it
/// through [`crate::ReadSession::cursor_high`].
#[derive(Debug, Clone, PartialEq)]
pub struct CursorRange {
    /// The cursor columns, then the tie-breaker columns: the compared tuple.
    pub columns: Vec<String>,
    /// How many of `columns` are the cursor (at least 1).
    pub cursor_len: usize,
    /// The saved watermark (exclusive lower bound), one exact text per column;
    /// `None` on the first run.
    pub after: Option<Vec<String>>,
    /// Subtracted from the source's clock (time cursor) or newest value
    /// (numeric cursor) to get the upper bound of `columns[0]`.
    pub lag: Option<CursorOffset>,
    /// `lag: auto` (the default): the source bounds a time cursor below the
    /// start of the oldest transaction still open on it and below its own
    /// clock, so rows a slow transaction commits later are read by the next
    /// run. Ignored when `lag` is set.
    pub auto_lag: bool,
    /// With a watermark: read from `columns[0] >= after[0] − lookback`
    /// instead of strictly after the watermark tuple.
    pub lookback: Option<CursorOffset>,
    /// Also read rows with a NULL in any cursor column.
    pub nulls: bool,
    /// `cursor: xmin`: `columns` is `["xmin"]`, `after` the previous run's
    /// snapshot (`xmin:xmax:xip,…`), and the read is the rows whose
    /// inserting transaction that snapshot did not see; `high` is the read's
    /// own snapshot. No lag, lookback or NULLs.
    pub xmin: bool,
}

/// The rows whose `column` lies in `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRange {
    /// A date or timestamp column.
    pub column: String,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

/// A `source_filter` split at its `${name}` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePredicate {
    /// SQL text and parameters, in order.
    pub parts: Vec<PredicatePart>,
}

/// A piece of a [`SourcePredicate`].
#[derive(Debug, Clone, PartialEq)]
pub enum PredicatePart {
    /// SQL written by the user, passed to the source as is.
    Sql(String),
    /// A parameter's value, bound as a timestamp.
    Param(DateTime<Utc>),
}

impl SourcePredicate {
    /// Splits `text` at `${window_start}`, `${window_end}` and
    /// `${logical_time}`; an unknown name, or one the run has no value for,
    /// is an error naming `field`.
    pub fn parse(field: &str, text: &str, params: &RunParams) -> Result<SourcePredicate> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            let Some(close) = rest[at..].find('}') else {
                return Err(Error::invalid(field, "`${` without a closing `}`"));
            };
            let name = &rest[at + 2..at + close];
            if !RunParams::NAMES.contains(&name) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "unknown parameter `${{{name}}}`; allowed: {}",
                        RunParams::NAMES.map(|n| format!("${{{n}}}")).join(", ")
                    ),
                ));
            }
            let value = params.value(name).ok_or_else(|| {
                Error::invalid(
                    field,
                    format!(
                        "uses `${{{name}}}` but this run has no {name}; pass --window-start/--window-end \
                         and --logical-time, or run it from a schedule"
                    ),
                )
            })?;
            if at > 0 {
                parts.push(PredicatePart::Sql(rest[..at].to_string()));
            }
            parts.push(PredicatePart::Param(value));
            rest = &rest[at + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(PredicatePart::Sql(rest.to_string()));
        }
        Ok(SourcePredicate { parts })
    }

    /// Checks the predicate in the source's `dialect` (see
    /// [`check_source_filter`]) and that every column it names is one of
    /// `columns`: a source calls this right before [`Self::render`].
    pub fn check<'a>(
        &self,
        dialect: &dyn sqlparser::dialect::Dialect,
        columns: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<()> {
        let mut sql = String::new();
        let mut params = 0;
        for p in &self.parts {
            match p {
                PredicatePart::Sql(s) => sql.push_str(s),
                PredicatePart::Param(_) => {
                    sql.push_str(" __ferry_param__ ");
                    params += 1;
                }
            }
        }
        let referenced = filter_check::check_sql("source_filter", &sql, params, dialect)?;
        check_filter_columns("source_filter", &referenced, columns)
    }

    /// The predicate with each parameter replaced by what `placeholder`
    /// returns for it (its bound-parameter syntax, with a space on each
    /// side so it tokenises as the checked text did), in parentheses.
    pub fn render(&self, mut placeholder: impl FnMut(&DateTime<Utc>) -> String) -> String {
        let mut out = String::from("(");
        for p in &self.parts {
            match p {
                PredicatePart::Sql(s) => out.push_str(s),
                PredicatePart::Param(v) => {
                    out.push(' ');
                    out.push_str(&placeholder(v));
                    out.push(' ');
                }
            }
        }
        out.push(')');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn predicates_bind_parameters_in_order() {
        let params = RunParams {
            logical_time: Some(at("2026-01-02T00:00:00Z")),
            window: Some((at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z"))),
        };
        let p = SourcePredicate::parse(
            "source_filter",
            "ts >= ${window_start} AND ts < ${window_end} AND kind = 'x'",
            &params,
        )
        .expect("parses");
        let mut n = 0;
        let sql = p.render(|_| {
            n += 1;
            format!("${n}")
        });
        assert_eq!(sql, "(ts >=  $1  AND ts <  $2  AND kind = 'x')");
        let e = SourcePredicate::parse("source_filter", "a > ${nope}", &params).expect_err("x");
        assert!(e.to_string().contains("${window_start}"), "{e}");
        let e = SourcePredicate::parse("source_filter", "a > ${window_end}", &RunParams::default())
            .expect_err("x");
        assert!(e.to_string().contains("--window-start"), "{e}");
    }

    #[test]
    fn reversed_windows_are_refused() {
        let p = RunParams {
            logical_time: None,
            window: Some((at("2026-01-02T00:00:00Z"), at("2026-01-01T00:00:00Z"))),
        };
        assert!(p.validate().is_err());
    }
}
