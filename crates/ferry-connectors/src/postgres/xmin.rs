//! `incremental: {cursor: xmin}`: incremental reads by transaction, with no
//! cursor column (PostgreSQL ≥ 13).
//!
//! The watermark is the text of the read's own snapshot,
//! `pg_current_snapshot()::text` (`xmin:xmax:xip,…`), taken in the REPEATABLE
//! READ transaction whose exported snapshot every split reader joins. A run
//! reads the rows whose inserting transaction the previous run's snapshot
//! did not see:
//!
//! ```text
//!  run n     snapshot Sₙ = 100:110:104      reads rows of xids visible in Sₙ
//!  run n+1   snapshot Sₙ₊₁ = 130:131:        reads rows visible in Sₙ₊₁ AND
//!                                             NOT pg_visible_in_snapshot(xid8(row.xmin), Sₙ)
//!            (xid 104, open at Sₙ and committed since, is in Sₙ's xip: read now)
//! ```
//!
//! A transaction open at the previous snapshot is in its `xip` list, so
//! whatever it commits later is read by the next run: late commits are safe
//! by construction and no lag is needed. The first run (no watermark) reads
//! every row.
//!
//! `xmin` is a 32-bit `xid`; the 64-bit `xid8` that `pg_visible_in_snapshot`
//! takes is rebuilt from the epoch of the current snapshot's `xmax` (every
//! row the read sees was inserted below it): `full = (epoch(xmax) << 32) |
//! xmin`, minus 2³² when that is not below `xmax` (the xid wrapped since).
//! Frozen tuples keep their raw `xmin` in the system column (PostgreSQL ≥
//! 9.4). The snapshots reach the query as bound settings (see
//! [`super::pushdown`]), read once per query through scalar subqueries.
//!
//! Limits (also in the README):
//! - deletes are not seen (use a soft-delete column with `incremental_merge`);
//! - every run scans the whole table: there is no index on `xmin`;
//! - an UPDATE gives the row a new `xmin`, so the row is read again:
//!   `incremental_merge` applies it, `incremental_append` appends it again;
//! - a snapshot's `xip` lists top-level transactions only, and
//!   `pg_visible_in_snapshot` does not resolve subtransaction ids (as the
//!   PostgreSQL manual says): rows written in a `SAVEPOINT` or a PL/pgSQL
//!   `EXCEPTION` block carry a subtransaction's id, which a later, finished
//!   transaction can put below the snapshot's `xmax`. The saved watermark
//!   therefore adds to the `xip` every id between the snapshot's `xmin` and
//!   `xmax` that `pg_xact_status` calls "in progress" (a subtransaction
//!   counts as in progress until its top transaction ends), listed by the
//!   statement that takes the snapshot, right after taking it ([`SNAPSHOT`]).
//!   A transaction of the `xip` (snapshots are cluster-wide) that
//!   committed in between would take its subtransactions out of that
//!   listing, so a next statement checks that none did, and the read takes
//!   a new snapshot otherwise, up to 50 times, then fails as transient
//!   ([`begin`]). The listing costs one status lookup per id in the range: a
//!   transaction open for long (or a forgotten prepared one) keeps `xmin`
//!   back and the range wide;
//! - in a database older than one full cycle of 2³² transaction ids, a
//!   frozen row whose raw `xmin` falls between two runs' snapshots modulo 2³²
//!   is read again (a duplicate with `incremental_append`);
//! - the watermark belongs to one server: a restored or different database
//!   whose transaction ids are behind it is refused (reset the watermark).

use ferry_core::{Error, Result};
use tokio_postgres::Client;

use super::pushdown::Params;
use super::{PgEndpoint, map_err};

/// The first `server_version_num` with `pg_current_snapshot` and `xid8`.
const MIN_VERSION: i32 = 130_000;

/// The first statement of an `xmin` read's transaction ([`begin`]): it takes the
/// snapshot, exports it for the split readers, and returns it as the
/// watermark text (`xmin:xmax:xip,…`) with the ids then in progress between
/// `xmin` and `xmax` added to the `xip` (subtransactions; see the module doc).
pub(crate) const SNAPSHOT: &str = "\
SELECT pg_export_snapshot(),
       pg_snapshot_xmin(s) || ':' || pg_snapshot_xmax(s) || ':' || COALESCE((
         SELECT string_agg(x::text, ',' ORDER BY x) FROM (
           SELECT pg_snapshot_xip(s)::text::bigint AS x
           UNION
           SELECT g FROM generate_series(pg_snapshot_xmin(s)::text::bigint,
                                         pg_snapshot_xmax(s)::text::bigint - 1) g
            WHERE pg_xact_status(g::text::xid8) = 'in progress') ids), '')
  FROM pg_current_snapshot() s";

/// Whether no transaction of the snapshot's `xip` has committed since
/// (then the listing of [`SNAPSHOT`], made before, saw all their
/// subtransactions in progress; one that rolled back took its
/// subtransactions' rows with it).
const XIP_STILL_OPEN: &str = "\
SELECT COALESCE(bool_and(pg_xact_status(x) <> 'committed'), true)
  FROM pg_snapshot_xip(pg_current_snapshot()) x";

/// How many snapshots [`begin`] takes, at most, before it gives up.
const ATTEMPTS: u32 = 50;

/// Starts the read transaction of an `xmin` read: its exported snapshot
/// and the watermark text of [`SNAPSHOT`], taken again while a transaction
/// of the `xip` ends in between (see the module doc). Refuses servers older
/// than 13.
pub(crate) async fn begin(client: &Client, ep: &PgEndpoint) -> Result<(String, String)> {
    require_version(client, ep).await?;
    for attempt in 1..=ATTEMPTS {
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| map_err(&ep.display, "starting the read transaction", e))?;
        let row = client
            .query_one(SNAPSHOT, &[])
            .await
            .map_err(|e| map_err(&ep.display, "taking the read snapshot (cursor: xmin)", e))?;
        let settled: bool = client
            .query_one(XIP_STILL_OPEN, &[])
            .await
            .map_err(|e| map_err(&ep.display, "checking the read snapshot (cursor: xmin)", e))?
            .get(0);
        if settled {
            return Ok((row.get(0), row.get(1)));
        }
        client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| map_err(&ep.display, "retaking the read snapshot", e))?;
        // Commits come in bursts: the next try waits a little longer.
        tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(attempt))).await;
    }
    Err(Error::Transient {
        endpoint: ep.display.clone(),
        message: format!(
            "{ATTEMPTS} read snapshots in a row saw a transaction end while its subtransactions were \
             listed (cursor: xmin); the next run tries again"
        ),
    })
}

/// Refuses servers older than 13.
async fn require_version(client: &Client, ep: &PgEndpoint) -> Result<()> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
            &[],
        )
        .await
        .map_err(|e| map_err(&ep.display, "asking the server version", e))?;
    let (num, version): (i32, String) = (row.get(0), row.get(1));
    if num < MIN_VERSION {
        return Err(Error::invalid(
            "incremental.cursor",
            format!(
                "`cursor: xmin` needs PostgreSQL 13 or later (pg_current_snapshot, xid8); {} runs {version}: \
                 use a cursor column such as `updated_at`",
                ep.display
            ),
        ));
    }
    Ok(())
}

/// Checks the previous run's snapshot `after` against this read's
/// `current` ([`SNAPSHOT`]): refuses one that is not a snapshot or is ahead
/// of this server's transaction ids.
pub(crate) async fn check_after(
    client: &Client,
    ep: &PgEndpoint,
    after: Option<&str>,
    current: &str,
) -> Result<()> {
    if let Some(after) = after {
        let ahead: bool = client
            .query_one(
                "SELECT pg_snapshot_xmax($1::text::pg_snapshot) > pg_snapshot_xmax($2::text::pg_snapshot)",
                &[&after, &current],
            )
            .await
            .map_err(|e| {
                Error::invalid(
                    "incremental",
                    format!(
                        "the saved watermark {after:?} is not a PostgreSQL snapshot ({}); \
                         reset it (`ferry state reset`) or set one like \"1234:1240:1236\"",
                        e.as_db_error().map_or(e.to_string(), |d| d.message().to_string())
                    ),
                )
            })?
            .get(0);
        if ahead {
            return Err(Error::invalid(
                "incremental",
                format!(
                    "the saved snapshot {after} is ahead of {}'s transactions ({current}): \
                     a restored or different database; reset the watermark (`ferry state reset`)",
                    ep.display
                ),
            ));
        }
    }
    Ok(())
}

/// The condition on `xmin` of a run after the snapshot `after`, the read's
/// own snapshot being `current`.
pub(crate) fn condition(after: &str, current: &str, p: &mut Params) -> String {
    let prev = p.bind(after.to_string(), "pg_snapshot");
    let cur = p.bind(current.to_string(), "pg_snapshot");
    // The current snapshot's xmax as a 64-bit number, computed once.
    let top = format!("(SELECT pg_snapshot_xmax({cur})::text::bigint)");
    format!(
        "NOT pg_visible_in_snapshot({}::text::xid8, (SELECT {prev}))",
        widened("xmin::text::bigint", &top)
    )
}

/// The 64-bit id (SQL `bigint`) of the 32-bit xid `raw` seen below the
/// 64-bit xmax `top`: `raw` in `top`'s epoch, or the one before if that is
/// not below `top`. Below 3 only for a frozen row of the first epoch, which
/// is older than any snapshot: 3 (the first normal xid) says so.
fn widened(raw: &str, top: &str) -> String {
    let full = format!("(({top} & ~4294967295) | {raw})");
    format!("GREATEST(CASE WHEN {full} < {top} THEN {full} ELSE {full} - 4294967296 END, 3)")
}

/// The bound shown with the watermark and recorded with the run.
pub(crate) fn bound(after: Option<&str>, current: &str) -> String {
    match after {
        Some(prev) => format!(
            "snapshot {current} (rows of transactions committed after the previous run's snapshot {prev})"
        ),
        None => format!("snapshot {current} (first run: every row)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_condition_binds_both_snapshots() {
        let mut p = Params::default();
        let sql = condition("10:20:12,15", "30:31:", &mut p);
        assert_eq!(p.values, vec!["10:20:12,15", "30:31:"]);
        assert!(!sql.contains("10:20") && !sql.contains("30:31"), "{sql}");
        assert!(
            sql.starts_with("NOT pg_visible_in_snapshot(")
                && sql.contains("(SELECT current_setting('ferry.p0')::pg_snapshot)"),
            "{sql}"
        );
        assert!(bound(Some("10:20:12,15"), "30:31:").contains("previous run's snapshot"));
        assert!(bound(None, "30:31:").starts_with("snapshot 30:31: (first run"));
    }

    /// The widening, evaluated by the test server (an xid of a real table
    /// cannot be moved to another epoch).
    #[tokio::test]
    async fn xids_widen_into_the_epoch_of_the_snapshot() {
        const EPOCH: i64 = 1 << 32;
        let c = ferry_testkit::pg().await;
        let sql = format!("SELECT {}", widened("$1::bigint", "$2::bigint"));
        for (raw, top, full) in [
            (50i64, 3 * EPOCH + 100, 3 * EPOCH + 50),
            (99, 3 * EPOCH + 100, 3 * EPOCH + 99),
            // The row's xid is from before the wrap into epoch 3.
            (100, 3 * EPOCH + 100, 2 * EPOCH + 100),
            (4_294_967_000, 3 * EPOCH + 100, 2 * EPOCH + 4_294_967_000),
            (500, 1000, 500),
            // A frozen raw xid above xmax in the first epoch: older than anything.
            (2000, 1000, 3),
        ] {
            let got: i64 = c
                .query_one(&sql, &[&raw, &top])
                .await
                .expect("query")
                .get(0);
            assert_eq!(got, full, "raw {raw} below {top}");
        }
        // And the condition's shape against a snapshot: xid 104 was in
        // progress at 100:110:104, xid 103 had committed.
        let visible = "SELECT pg_visible_in_snapshot($1::text::xid8, '100:110:104'::pg_snapshot)";
        for (xid, seen) in [("103", true), ("104", false), ("99", true), ("110", false)] {
            let got: bool = c.query_one(visible, &[&xid]).await.expect("query").get(0);
            assert_eq!(got, seen, "xid {xid}");
        }
    }
}
