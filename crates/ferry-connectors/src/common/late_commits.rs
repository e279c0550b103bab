//! `lag: auto`, the default bound of an incremental read: late commits are
//! safe without a tuned lag.
//!
//! A row that a transaction still open at the read commits later carries a
//! cursor value set while that transaction ran — by `now()`, a default or a
//! trigger — so never older than the transaction's start. A run that reads
//! only rows with `cursor < oldest open transaction's start` therefore never
//! moves its watermark past a row that is yet to appear; and `cursor < the
//! source's clock at the read` covers transactions that start after the
//! check. The check runs **before** the read snapshot is taken, so a
//! transaction that commits in between is either seen as open (bounding the
//! read) or visible in the snapshot. One second of margin absorbs the
//! rounding of coarse column precisions and MariaDB's whole-second
//! `trx_started`.
//!
//! Cursors set by an application clock (a value computed before the
//! transaction started) are not covered: those tasks set a fixed `lag`.

use chrono::{DateTime, Duration, Utc};
use ferry_core::pushdown::CursorRange;
use ferry_core::spec::CursorOffset;

/// The instant a time cursor stays below, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenWrites {
    /// Exclusive upper bound of the cursor, in UTC.
    pub before: DateTime<Utc>,
    /// What set it, for the run's watermark record.
    pub reason: String,
}

/// The margin below the oldest open transaction's start (or the clock).
pub(crate) const MARGIN: Duration = Duration::seconds(1);

impl OpenWrites {
    /// The bound from the source's clock at the check and, if any
    /// transaction was open, the start of the oldest one with a description
    /// of it (`"pid 42 (psql), idle in transaction"`).
    pub(crate) fn new(clock: DateTime<Utc>, oldest: Option<(DateTime<Utc>, String)>) -> Self {
        match oldest {
            Some((start, who)) if start < clock => OpenWrites {
                before: start - MARGIN,
                reason: format!(
                    "lag auto: cursor below {} (1 s before the start of the oldest open transaction, {who})",
                    text(start - MARGIN)
                ),
            },
            _ => OpenWrites {
                before: clock - MARGIN,
                reason: format!(
                    "lag auto: cursor below {} (1 s before the source's clock; no transaction was open)",
                    text(clock - MARGIN)
                ),
            },
        }
    }

    /// The record of a numeric cursor's read, which `auto` does not bound.
    pub(crate) fn numeric_reason() -> String {
        "lag auto: a numeric cursor is read up to its newest value (open transactions bound time cursors only; \
         set a lag for sequences written by long transactions)"
            .to_string()
    }
}

/// What bounded an incremental read's cursor, for its watermark record:
/// the fixed `lag`, or `auto`'s bound (`time_cursor`: the first cursor
/// column is a date or timestamp). `None`: unbounded.
pub(crate) fn bound_reason(
    c: &CursorRange,
    auto: Option<OpenWrites>,
    time_cursor: bool,
) -> Option<String> {
    match (c.lag, auto) {
        (Some(CursorOffset::Micros(us)), _) => Some(format!(
            "lag {} s: cursor at most the source's clock at the read minus the lag",
            us as f64 / 1e6
        )),
        (Some(CursorOffset::Units(n)), _) => Some(format!(
            "lag {n}: cursor at most the newest value minus {n}"
        )),
        (None, Some(a)) if time_cursor => Some(a.reason),
        (None, Some(_)) => Some(OpenWrites::numeric_reason()),
        (None, None) => None,
    }
}

/// `2026-12-07 06:40:01.123456Z`.
fn text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6fZ").to_string()
}

/// Parses the `YYYY-MM-DD HH:MM:SS[.ffffff]` UTC text the sources print.
pub(crate) fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_open_transaction_bounds_below_the_clock() {
        let clock = parse_utc("2026-12-07 10:00:00").unwrap();
        let start = parse_utc("2026-12-07 09:59:58.5").unwrap();
        let w = OpenWrites::new(clock, Some((start, "pid 7".into())));
        assert_eq!(w.before, parse_utc("2026-12-07 09:59:57.5").unwrap());
        assert!(w.reason.contains("pid 7"), "{}", w.reason);
        let w = OpenWrites::new(clock, None);
        assert_eq!(w.before, parse_utc("2026-12-07 09:59:59").unwrap());
        assert!(w.reason.contains("no transaction"), "{}", w.reason);
        // A transaction "newer" than the clock (clock skew) does not raise it.
        let later = parse_utc("2026-12-07 10:00:05").unwrap();
        assert_eq!(
            OpenWrites::new(clock, Some((later, "x".into()))).before,
            w.before
        );
    }
}
