//! `lag: auto` in MariaDB/MySQL (see [`crate::common::late_commits`]): the
//! oldest InnoDB transaction still open, from
//! `information_schema.INNODB_TRX.trx_started`.
//!
//! Counted: every transaction but this connection's and those declared
//! `READ ONLY` (Ferry's own readers among them). InnoDB registers a
//! transaction at its first statement on an InnoDB table, and `NOW()`
//! there is that statement's start, so its rows are never older than
//! `trx_started` (whole seconds, rendered in the server's system zone —
//! converted here; the one-second margin covers the truncation). Reading
//! `INNODB_TRX` needs the `PROCESS` privilege; without it the check refuses
//! and names the grant or a fixed `lag`.
//!
//! A numeric cursor is bounded by waiting instead (see
//! [`crate::common::late_commits`]): the writing transactions are those
//! that have modified rows or wait for a lock, and the wait polls
//! `INNODB_TRX` until their ids are gone. An `XA PREPARE`d transaction
//! whose session ended (or one recovered after a restart) is listed with no
//! session (thread 0) and, after a restart, the recovery's start: a time
//! cursor's read waits for it as for a writer, and holds the watermark while
//! it stays.
//!
//! InnoDB fills `INNODB_TRX` from a cache it refreshes only when nobody has
//! read the table for 100 ms: the waits poll slower than that, and a
//! monitoring tool reading it more often than every 100 ms would make the
//! listing stale (a time cursor keeps its one-second margin against that).

use std::time::Instant;

use ferry_core::{Error, Result};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::conn::Endpoint;
use crate::common::late_commits::{OpenWrites, POLL, WAIT, parse_utc};

const SQL: &str = "\
SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s.%f'),
       DATE_FORMAT(CONVERT_TZ(t.trx_started, 'SYSTEM', '+00:00'), '%Y-%m-%d %H:%i:%s.%f'),
       t.trx_mysql_thread_id, t.trx_state,
       (SELECT count(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = 0)
  FROM (SELECT 1) one
  LEFT JOIN (SELECT trx_started, trx_mysql_thread_id, trx_state
               FROM information_schema.INNODB_TRX
              WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_is_read_only = 0
              ORDER BY trx_started LIMIT 1) t ON 1";

/// How many transactions have no session (XA ones left prepared).
const SESSIONLESS: &str =
    "SELECT count(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = 0";

/// The transactions writing now: `(trx_id, thread)`.
const WRITERS: &str = "\
SELECT CAST(trx_id AS CHAR), trx_mysql_thread_id FROM information_schema.INNODB_TRX
 WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_is_read_only = 0
   AND (trx_rows_modified > 0 OR trx_state = 'LOCK WAIT')";

type Row = (String, Option<String>, Option<u64>, Option<String>, u64);

/// The bound of a `lag: auto` read; call it before the snapshot starts.
/// `numeric`: the cursor's first column is not a time, given as the
/// `(qualified table, quoted column)` whose newest value bounds the read.
pub(crate) async fn open_writes(
    conn: &mut Conn,
    ep: &Endpoint,
    numeric: Option<(&str, &str)>,
) -> Result<OpenWrites> {
    let Some((table, column)) = numeric else {
        return oldest_start(conn, ep).await;
    };
    // The newest value first, then who writes (see the module doc).
    // ORDER BY, not max(): the same order the cursor compares in.
    let newest: Option<String> = conn
        .query_first(format!(
            "SELECT CAST({column} AS CHAR) AS ferry_newest FROM {table} WHERE {column} IS NOT NULL \
             ORDER BY {column} DESC LIMIT 1"
        ))
        .await
        .map_err(|e| ep.error("finding the newest cursor value (lag: auto)", e))?;
    // InnoDB serves INNODB_TRX from a cache it refills only when nobody read
    // it for 100 ms: after a pause the listing is newer than the value.
    tokio::time::sleep(POLL).await;
    let writers: Vec<(String, Option<u64>)> =
        conn.query(WRITERS).await.map_err(|e| privilege(ep, e))?;
    let started = Instant::now();
    let mut open: Vec<String> = writers.iter().map(|(id, _)| id.clone()).collect();
    while !open.is_empty() {
        if started.elapsed() >= WAIT {
            let thread = writers
                .iter()
                .find(|(id, _)| open.contains(id))
                .and_then(|(_, t)| *t);
            return Ok(OpenWrites::held(&who(thread)));
        }
        tokio::time::sleep(POLL).await;
        let marks = vec!["?"; open.len()].join(", ");
        open = conn
            .exec(
                format!(
                    "SELECT CAST(trx_id AS CHAR) FROM information_schema.INNODB_TRX \
                     WHERE CAST(trx_id AS CHAR) IN ({marks})"
                ),
                open,
            )
            .await
            .map_err(|e| ep.error("waiting for writing transactions (lag: auto)", e))?;
    }
    Ok(OpenWrites::settled(
        newest,
        writers.len(),
        started.elapsed(),
    ))
}

/// The refusal of a user without `PROCESS`, or `e` as it is.
fn privilege(ep: &Endpoint, e: mysql_async::Error) -> Error {
    match e {
        mysql_async::Error::Server(s) if s.code == 1227 => Error::invalid(
            "incremental.lag",
            format!(
                "lag: auto reads information_schema.INNODB_TRX on {}, which needs the PROCESS privilege \
                 ({}); grant it to the source's user, or set incremental.lag to a duration longer than \
                 your longest writing transaction",
                ep.display(),
                s.message
            ),
        ),
        e => ep.error("finding the open transactions (lag: auto)", e),
    }
}

/// `connection 42`, or what a transaction without one is.
fn who(thread: Option<u64>) -> String {
    match thread {
        Some(0) | None => "an XA or recovered transaction".to_string(),
        Some(id) => format!("connection {id}"),
    }
}

/// A time cursor's bound: below the start of the oldest open transaction.
async fn oldest_start(conn: &mut Conn, ep: &Endpoint) -> Result<OpenWrites> {
    let row: Option<Row> = conn.query_first(SQL).await.map_err(|e| privilege(ep, e))?;
    let (clock, started, thread, state, recovered) =
        row.ok_or_else(|| Error::Internal("no row from the open-transaction check".into()))?;
    let clock = parse_utc(&clock)
        .ok_or_else(|| Error::Internal(format!("unreadable server clock {clock:?}")))?;
    let oldest = started.as_deref().and_then(parse_utc).map(|start| {
        (
            start,
            format!("{}, {}", who(thread), state.unwrap_or_default()),
        )
    });
    // An XA transaction left prepared has no session (thread 0), and after
    // a restart its start is the recovery's: wait for it like PostgreSQL's
    // prepared transactions, and hold the watermark while one stays.
    let mut sessionless = recovered;
    let waiting = Instant::now();
    while sessionless > 0 && waiting.elapsed() < WAIT {
        tokio::time::sleep(POLL).await;
        sessionless = conn
            .query_first(SESSIONLESS)
            .await
            .map_err(|e| privilege(ep, e))?
            .unwrap_or(0);
    }
    let held = (sessionless > 0).then(|| {
        format!("{sessionless} transaction(s) with no session (XA PREPAREd; XA RECOVER lists them)")
    });
    Ok(OpenWrites::new(clock, oldest).unless_held(held))
}
