//! One consistent snapshot on several connections, so that a table is read
//! in parallel splits that all see the same rows.
//!
//! InnoDB cannot export a snapshot to another session (PostgreSQL's
//! `pg_export_snapshot()`), so Ferry does what mydumper does, scoped to the
//! one table: a side connection takes `LOCK TABLES t READ` (it waits for
//! transactions that wrote `t` to end, and holds new writes to `t` back),
//! every reading connection then runs `START TRANSACTION WITH CONSISTENT
//! SNAPSHOT` — no commit can change `t` between them, so their read views
//! agree on it — and the side connection unlocks. Writers to `t` wait for
//! the milliseconds this takes; other tables are not touched.
//!
//! The lock is bounded by [`LOCK_WAIT`]: if a transaction holds writes on
//! the table longer, or the user lacks the `LOCK TABLES` privilege, the read
//! falls back to one connection (one split) and says why — it never reads
//! splits from different snapshots.

use std::time::{Duration, Instant};

use ferry_core::Result;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::conn::Endpoint;

/// Longest wait for the table lock before reading with one connection.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The statement that starts a reading connection's snapshot.
pub(crate) const START_SNAPSHOT: &str = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";

/// Reading connections that share one snapshot of the endpoint's table.
pub(crate) struct SharedSnapshot {
    /// The connections, each inside its snapshot transaction; the first is
    /// the one `open` was given.
    pub(crate) conns: Vec<Conn>,
    /// How the snapshot was taken (for the split descriptions).
    pub(crate) note: String,
}

/// Starts the snapshot on `first` and, when `wanted > 1` and the table lock
/// is granted, on `wanted − 1` more connections set up with `session_sql`.
pub(crate) async fn open(
    ep: &Endpoint,
    mut first: Conn,
    wanted: usize,
    session_sql: &str,
) -> Result<SharedSnapshot> {
    if wanted <= 1 {
        return single(ep, first, "one snapshot, one connection".into()).await;
    }
    let mut lock = ep.connect().await?;
    lock.query_drop(format!(
        "SET SESSION lock_wait_timeout = {}",
        LOCK_WAIT.as_secs()
    ))
    .await
    .map_err(|e| ep.error("setting up the lock session", e))?;
    let asked = Instant::now();
    let lock_sql = format!("LOCK TABLES {} READ", ep.qualified(&ep.table));
    if let Err(e) = lock.query_drop(&lock_sql).await {
        let _ = lock.disconnect().await;
        let why = match &e {
            mysql_async::Error::Server(s) if s.code == 1205 => format!(
                "one connection: a transaction held writes on the table for over {} s, so no shared snapshot",
                LOCK_WAIT.as_secs()
            ),
            mysql_async::Error::Server(s) if matches!(s.code, 1044 | 1142 | 1227) => {
                "one connection: no LOCK TABLES privilege for a shared snapshot (GRANT LOCK TABLES to read in parallel)".into()
            }
            _ => return Err(ep.error("locking the table for a shared snapshot", e)),
        };
        return single(ep, first, why).await;
    }
    let locked = Instant::now();
    let result = start_all(ep, &mut first, wanted, session_sql).await;
    let unlocked = lock.query_drop("UNLOCK TABLES").await;
    let held = locked.elapsed();
    let _ = lock.disconnect().await;
    let more = result?;
    unlocked.map_err(|e| ep.error("unlocking the table", e))?;
    let mut conns = vec![first];
    conns.extend(more);
    let note = format!(
        "one snapshot on {} connections; table locked {} ms after a {} ms wait",
        conns.len(),
        held.as_millis(),
        (locked - asked).as_millis()
    );
    Ok(SharedSnapshot { conns, note })
}

/// The snapshot on `first` alone.
async fn single(ep: &Endpoint, mut first: Conn, note: String) -> Result<SharedSnapshot> {
    first
        .query_drop(START_SNAPSHOT)
        .await
        .map_err(|e| ep.error("starting the snapshot", e))?;
    Ok(SharedSnapshot {
        conns: vec![first],
        note,
    })
}

/// Starts the snapshot on `first` and on `wanted − 1` new connections
/// (while the table is locked).
async fn start_all(
    ep: &Endpoint,
    first: &mut Conn,
    wanted: usize,
    session_sql: &str,
) -> Result<Vec<Conn>> {
    let mut more = Vec::with_capacity(wanted - 1);
    for _ in 1..wanted {
        let mut conn = ep.connect().await?;
        conn.query_drop(session_sql)
            .await
            .map_err(|e| ep.error("setting up the read session", e))?;
        more.push(conn);
    }
    first
        .query_drop(START_SNAPSHOT)
        .await
        .map_err(|e| ep.error("starting the snapshot", e))?;
    for conn in &mut more {
        conn.query_drop(START_SNAPSHOT)
            .await
            .map_err(|e| ep.error("starting the snapshot", e))?;
    }
    Ok(more)
}
