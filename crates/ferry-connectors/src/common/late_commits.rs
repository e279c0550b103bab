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
//!
//! A numeric cursor — a unique id the database assigns as the row is
//! written (identity, `AUTO_INCREMENT`) — has no start time to compare
//! with: a value taken by a transaction still open can be below values
//! others committed since. For those the check first reads the newest
//! cursor value, then lists the transactions open and writing, and waits
//! (up to [`WAIT`]) until every one of them has ended: every value at most
//! that newest one was then taken by a transaction that has committed (or
//! rolled back), so the read takes the cursor up to it and no further. A
//! transaction that outlives the wait holds the watermark where it is (the
//! run reads nothing new and says which transaction it waited for): its
//! rows may hold any value. Not covered (such tasks set a fixed `lag`):
//! values taken before the transaction's first write (`SELECT nextval`,
//! then an insert later), a sequence with `CACHE` > 1 or ids an
//! application allocates, non-unique numbers, text cursors.
//!
//! Prepared (two-phase) transactions have no start time either: a time
//! cursor's read waits for them the same way and holds the watermark while
//! one stays prepared.

use chrono::{DateTime, Duration, Utc};
use ferry_core::pushdown::CursorRange;
use ferry_core::spec::CursorOffset;

/// How far a `lag: auto` read takes its cursor, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenWrites {
    pub bound: AutoBound,
    /// What set it, for the run's watermark record.
    pub reason: String,
}

/// The bound itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AutoBound {
    /// A time cursor stays below this instant (UTC).
    Before(DateTime<Utc>),
    /// A numeric cursor's first column stays at most this value (the
    /// source's text of it).
    AtMost(String),
    /// Nothing past the watermark: a transaction that may hold lower values
    /// is still open, or the table is empty.
    Hold,
}

/// The margin below the oldest open transaction's start (or the clock).
pub(crate) const MARGIN: Duration = Duration::seconds(1);

/// How long a check waits for the writing transactions it found open
/// (numeric cursors) or prepared (every cursor) to end.
pub(crate) const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How often the wait looks again. Above 100 ms: InnoDB refreshes
/// `INNODB_TRX` only when it has not been read for 100 ms, so a faster poll
/// would see the first answer forever.
pub(crate) const POLL: std::time::Duration = std::time::Duration::from_millis(200);

impl OpenWrites {
    /// The bound from the source's clock at the check and, if any
    /// transaction was open, the start of the oldest one with a description
    /// of it (`"pid 42 (psql), idle in transaction"`).
    pub(crate) fn new(clock: DateTime<Utc>, oldest: Option<(DateTime<Utc>, String)>) -> Self {
        match oldest {
            Some((start, who)) if start < clock => OpenWrites {
                bound: AutoBound::Before(start - MARGIN),
                reason: format!(
                    "lag auto: cursor below {} (1 s before the start of the oldest open transaction, {who})",
                    text(start - MARGIN)
                ),
            },
            _ => OpenWrites {
                bound: AutoBound::Before(clock - MARGIN),
                reason: format!(
                    "lag auto: cursor below {} (1 s before the source's clock; no transaction was open)",
                    text(clock - MARGIN)
                ),
            },
        }
    }

    /// A numeric cursor's bound: `newest`, the newest value before the
    /// check (`None`: the table was empty), once the `waited_for` writing
    /// transactions open then have ended after `waited`.
    pub(crate) fn settled(
        newest: Option<String>,
        waited_for: usize,
        waited: std::time::Duration,
    ) -> Self {
        let after = match waited_for {
            0 => "no writing transaction was open".to_string(),
            n => format!(
                "after {n} writing transaction(s) open then ended, waited {:.1} s",
                waited.as_secs_f64()
            ),
        };
        match newest {
            Some(v) => OpenWrites {
                reason: format!(
                    "lag auto: cursor at most {v} (the newest value before the read; {after})"
                ),
                bound: AutoBound::AtMost(v),
            },
            None => OpenWrites {
                bound: AutoBound::Hold,
                reason: format!(
                    "lag auto: the table had no cursor value before the read ({after})"
                ),
            },
        }
    }

    /// No progress: `who` (a transaction found open) did not end within
    /// [`WAIT`].
    pub(crate) fn held(who: &str) -> Self {
        OpenWrites {
            bound: AutoBound::Hold,
            reason: format!(
                "lag auto: the watermark stays: {who} was still open after {} s, and its rows may \
                 hold cursor values below the newest (set a fixed lag to read past it)",
                WAIT.as_secs()
            ),
        }
    }

    /// The time cursor's bound, unless `held` (a prepared transaction that
    /// stayed) holds the watermark instead.
    pub(crate) fn unless_held(self, held: Option<String>) -> Self {
        match held {
            Some(who) => OpenWrites::held(&who),
            None => self,
        }
    }
}

/// What bounded an incremental read's cursor, for its watermark record:
/// the fixed `lag`, or `auto`'s bound. `None`: unbounded.
pub(crate) fn bound_reason(c: &CursorRange, auto: Option<OpenWrites>) -> Option<String> {
    match (c.lag, auto) {
        (Some(CursorOffset::Micros(us)), _) => Some(format!(
            "lag {} s: cursor at most the source's clock at the read minus the lag",
            us as f64 / 1e6
        )),
        (Some(CursorOffset::Units(n)), _) => Some(format!(
            "lag {n}: cursor at most the newest value minus {n}"
        )),
        (None, Some(a)) => Some(a.reason),
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
        let at = |t: &str| AutoBound::Before(parse_utc(t).unwrap());
        assert_eq!(w.bound, at("2026-12-07 09:59:57.5"));
        assert!(w.reason.contains("pid 7"), "{}", w.reason);
        let w = OpenWrites::new(clock, None);
        assert_eq!(w.bound, at("2026-12-07 09:59:59"));
        assert!(w.reason.contains("no transaction"), "{}", w.reason);
        // A transaction "newer" than the clock (clock skew) does not raise it.
        let later = parse_utc("2026-12-07 10:00:05").unwrap();
        assert_eq!(
            OpenWrites::new(clock, Some((later, "x".into()))).bound,
            w.bound
        );
    }

    #[test]
    fn a_numeric_cursor_stops_at_the_newest_value_or_holds() {
        let w = OpenWrites::settled(Some("41".into()), 2, std::time::Duration::from_millis(1200));
        assert_eq!(w.bound, AutoBound::AtMost("41".into()));
        assert!(
            w.reason.contains("at most 41") && w.reason.contains("2 writing"),
            "{}",
            w.reason
        );
        let w = OpenWrites::settled(None, 0, std::time::Duration::ZERO);
        assert_eq!(w.bound, AutoBound::Hold);
        let w = OpenWrites::held("pid 7 (psql)");
        assert_eq!(w.bound, AutoBound::Hold);
        assert!(w.reason.contains("pid 7 (psql)"), "{}", w.reason);
        let clock = parse_utc("2026-12-07 10:00:00").unwrap();
        let timed = OpenWrites::new(clock, None);
        assert_eq!(timed.clone().unless_held(None), timed);
        assert_eq!(timed.unless_held(Some("x".into())).bound, AutoBound::Hold);
    }
}
