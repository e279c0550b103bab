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

use ferry_core::{Error, Result};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::conn::Endpoint;
use crate::common::late_commits::{OpenWrites, parse_utc};

const SQL: &str = "\
SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s.%f'),
       DATE_FORMAT(CONVERT_TZ(t.trx_started, 'SYSTEM', '+00:00'), '%Y-%m-%d %H:%i:%s.%f'),
       t.trx_mysql_thread_id, t.trx_state
  FROM (SELECT 1) one
  LEFT JOIN (SELECT trx_started, trx_mysql_thread_id, trx_state
               FROM information_schema.INNODB_TRX
              WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_is_read_only = 0
              ORDER BY trx_started LIMIT 1) t ON 1";

type Row = (String, Option<String>, Option<u64>, Option<String>);

/// The bound of a `lag: auto` read; call it before the snapshot starts.
pub(crate) async fn open_writes(conn: &mut Conn, ep: &Endpoint) -> Result<OpenWrites> {
    let row: Option<Row> = match conn.query_first(SQL).await {
        Ok(r) => r,
        Err(mysql_async::Error::Server(s)) if s.code == 1227 => {
            return Err(Error::invalid(
                "incremental.lag",
                format!(
                    "lag: auto reads information_schema.INNODB_TRX on {}, which needs the PROCESS privilege \
                     ({}); grant it to the source's user, or set incremental.lag to a duration longer than \
                     your longest writing transaction",
                    ep.display(),
                    s.message
                ),
            ));
        }
        Err(e) => return Err(ep.error("finding the oldest open transaction (lag: auto)", e)),
    };
    let (clock, started, thread, state) =
        row.ok_or_else(|| Error::Internal("no row from the open-transaction check".into()))?;
    let clock = parse_utc(&clock)
        .ok_or_else(|| Error::Internal(format!("unreadable server clock {clock:?}")))?;
    let oldest = started.as_deref().and_then(parse_utc).map(|start| {
        let who = match thread {
            Some(0) | None => "an XA or recovered transaction".to_string(),
            Some(id) => format!("connection {id}"),
        };
        (start, format!("{who}, {}", state.unwrap_or_default()))
    });
    Ok(OpenWrites::new(clock, oldest))
}
