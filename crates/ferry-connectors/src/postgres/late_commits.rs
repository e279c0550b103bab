//! `lag: auto` in PostgreSQL (see [`crate::common::late_commits`]): the
//! oldest transaction open in the source's database, from
//! `pg_stat_activity.xact_start` — the instant `now()` returns inside it.
//!
//! Counted: every client backend of this database inside a transaction,
//! except this connection and Ferry's own read-only readers (application
//! `ferry`, no transaction id). A transaction that has not written yet still
//! counts, because its `now()` is fixed at `BEGIN`. A role without
//! `pg_read_all_stats` cannot see other roles' transaction starts; when one
//! of those holds a transaction id the check refuses (a bound it cannot see
//! would silently lose rows) and names the grant or a fixed `lag`.
//!
//! A numeric cursor (and a prepared transaction, whatever the cursor) is
//! bounded by waiting instead (see [`crate::common::late_commits`]): the
//! writing transactions are those holding the lock on their own
//! transaction id in `pg_locks` — sessions of this database and prepared
//! transactions alike, visible to every role — and the wait polls those
//! locks until they are gone.

use std::time::Instant;

use ferry_core::{Error, Result};
use tokio_postgres::Client;

use super::{PgEndpoint, map_err};
use crate::common::late_commits::{OpenWrites, POLL, WAIT, parse_utc};

const SQL: &str = "\
SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
       to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
       a.pid, a.application_name, a.state,
       (SELECT count(*) FROM pg_stat_activity h
         WHERE h.datname = current_database() AND h.pid <> pg_backend_pid()
           AND h.backend_type = 'client backend' AND h.state IS NULL
           AND h.backend_xid IS NOT NULL)
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
    SELECT pid, xact_start, application_name, state FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid()
       AND backend_type = 'client backend' AND xact_start IS NOT NULL
       AND NOT (application_name = 'ferry' AND backend_xid IS NULL)
     ORDER BY xact_start LIMIT 1) a ON true";

/// The transaction ids of the transactions writing (a subtransaction still
/// open holds one too, under its top transaction's name)
/// in this database, or only of the prepared ones, each with who holds it.
const WRITERS: &str = "\
SELECT l.transactionid::text,
       COALESCE('prepared transaction ' || quote_literal(p.gid),
                'pid ' || a.pid || COALESCE(' (' || NULLIF(a.application_name, '') || ')', ''))
  FROM pg_locks l
  LEFT JOIN pg_stat_activity a ON a.pid = l.pid
  LEFT JOIN pg_prepared_xacts p ON l.pid IS NULL AND p.transaction = l.transactionid
 WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
   AND l.pid IS DISTINCT FROM pg_backend_pid()
   AND (p.database = current_database() OR (NOT $1 AND a.datname = current_database()))";

/// Which of the transaction ids `$1` are still held.
const STILL_OPEN: &str = "\
SELECT transactionid::text FROM pg_locks
 WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted
   AND transactionid::text = ANY($1)";

/// The bound of a `lag: auto` read; call it before the read snapshot.
/// `numeric`: the cursor's first column is not a time, given as the
/// `(quoted table, quoted column)` whose newest value bounds the read.
pub(crate) async fn open_writes(
    client: &Client,
    ep: &PgEndpoint,
    numeric: Option<(&str, &str)>,
) -> Result<OpenWrites> {
    match numeric {
        Some((table, column)) => {
            // The newest value first, then who writes (see the module doc).
            // ORDER BY, not max(): every type with an order has one. (Aliased:
            // a bare name in ORDER BY would mean the text output column.)
            let newest: Option<String> = client
                .query_opt(
                    &format!(
                        "SELECT {column}::text AS ferry_newest FROM {table} \
                         WHERE {column} IS NOT NULL ORDER BY {column} DESC LIMIT 1"
                    ),
                    &[],
                )
                .await
                .map_err(|e| {
                    map_err(
                        &ep.display,
                        "finding the newest cursor value (lag: auto)",
                        e,
                    )
                })?
                .map(|r| r.get(0));
            let writers = writers(client, ep, false).await?;
            let started = Instant::now();
            Ok(match wait(client, ep, &writers).await? {
                Some(who) => OpenWrites::held(&who),
                None => OpenWrites::settled(newest, distinct(&writers), started.elapsed()),
            })
        }
        None => {
            let timed = oldest_start(client, ep).await?;
            let prepared = writers(client, ep, true).await?;
            Ok(timed.unless_held(wait(client, ep, &prepared).await?))
        }
    }
}

/// The writing transactions: `(transaction id, who)`.
async fn writers(
    client: &Client,
    ep: &PgEndpoint,
    prepared_only: bool,
) -> Result<Vec<(String, String)>> {
    let rows = client
        .query(WRITERS, &[&prepared_only])
        .await
        .map_err(|e| {
            map_err(
                &ep.display,
                "listing the writing transactions (lag: auto)",
                e,
            )
        })?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// How many transactions `writers` are (a sub-transaction holds an id of
/// its own under its parent's name).
fn distinct(writers: &[(String, String)]) -> usize {
    let mut who: Vec<&str> = writers.iter().map(|(_, w)| w.as_str()).collect();
    who.sort_unstable();
    who.dedup();
    who.len()
}

/// Waits until none of `writers` is open, up to [`WAIT`]; `Some(who)` of
/// one still open then.
async fn wait(
    client: &Client,
    ep: &PgEndpoint,
    writers: &[(String, String)],
) -> Result<Option<String>> {
    let started = Instant::now();
    let mut open: Vec<String> = writers.iter().map(|(x, _)| x.clone()).collect();
    loop {
        if open.is_empty() {
            return Ok(None);
        }
        if started.elapsed() >= WAIT {
            let who = writers
                .iter()
                .find(|(x, _)| open.contains(x))
                .map(|(_, w)| w.clone())
                .unwrap_or_default();
            return Ok(Some(who));
        }
        tokio::time::sleep(POLL).await;
        open = client
            .query(STILL_OPEN, &[&open])
            .await
            .map_err(|e| {
                map_err(
                    &ep.display,
                    "waiting for writing transactions (lag: auto)",
                    e,
                )
            })?
            .iter()
            .map(|r| r.get(0))
            .collect();
    }
}

/// A time cursor's bound: below the start of the oldest open transaction.
async fn oldest_start(client: &Client, ep: &PgEndpoint) -> Result<OpenWrites> {
    let row = client.query_one(SQL, &[]).await.map_err(|e| {
        map_err(
            &ep.display,
            "finding the oldest open transaction (lag: auto)",
            e,
        )
    })?;
    let hidden: i64 = row.get(5);
    if hidden > 0 {
        return Err(Error::invalid(
            "incremental.lag",
            format!(
                "lag: auto cannot see when {hidden} writing transaction(s) of other roles on {} started; \
                 grant the source's user pg_read_all_stats, or set incremental.lag to a duration longer \
                 than your longest writing transaction",
                ep.display
            ),
        ));
    }
    let clock: String = row.get(0);
    let clock = parse_utc(&clock)
        .ok_or_else(|| Error::Internal(format!("unreadable server clock {clock:?}")))?;
    let oldest = row
        .get::<_, Option<String>>(1)
        .and_then(|s| parse_utc(&s))
        .map(|start| {
            let pid: i32 = row.get(2);
            let app: Option<String> = row.get(3);
            let state: Option<String> = row.get(4);
            let who = match app.filter(|a| !a.is_empty()) {
                Some(app) => format!("pid {pid} ({app})"),
                None => format!("pid {pid}"),
            };
            (start, format!("{who}, {}", state.unwrap_or_default()))
        });
    Ok(OpenWrites::new(clock, oldest))
}
