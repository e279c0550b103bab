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

use ferry_core::{Error, Result};
use tokio_postgres::Client;

use super::{PgEndpoint, map_err};
use crate::common::late_commits::{OpenWrites, parse_utc};

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

/// The bound of a `lag: auto` read; call it before the read snapshot.
pub(crate) async fn open_writes(client: &Client, ep: &PgEndpoint) -> Result<OpenWrites> {
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
