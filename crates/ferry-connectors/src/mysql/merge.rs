//! The incremental and windowed writes of the MariaDB/MySQL sink, and its
//! checkpoint table. MariaDB commits implicitly before (and after) most DDL,
//! so everything that must publish together runs as DML inside the load's
//! one transaction, and the DDL happens before it starts:
//!
//! ```text
//!  prepare:  CREATE TABLE IF NOT EXISTS ferry_checkpoints      (incremental modes; DDL)
//!            [CREATE TABLE target]    (incremental modes, target missing; DDL, see below)
//!            [CREATE TEMPORARY TABLE _ferry_mrg_t LIKE target]  (merge; no implicit commit)
//!            START TRANSACTION
//!            [DELETE FROM target WHERE col >= ? AND col < ?]    (window_overwrite)
//!  write:    LOAD DATA … INTO target, or into the staging table of a merge
//!  commit:   [DELETE target FROM target JOIN stage ON key WHERE stage.<delete column>]
//!            [INSERT INTO target (cols) SELECT cols FROM stage WHERE NOT <delete column>
//!               ON DUPLICATE KEY UPDATE c = VALUES(c), …]
//!            [SELECT run_id FROM ferry_checkpoints WHERE task = ? FOR UPDATE  (still ours?)
//!             INSERT INTO ferry_checkpoints … ON DUPLICATE KEY UPDATE …]
//!            COMMIT
//! ```
//!
//! An incremental run into a missing target creates the target before the
//! load (empty, with the merge key as primary key for a merge) instead of
//! swapping a staging table in after `COMMIT`: the checkpoint commits with
//! the rows, and a `RENAME` after the commit could fail after the checkpoint
//! was published. A failed first run drops that target again (while it is
//! still empty); only a killed process leaves it behind, empty and without
//! a checkpoint. Values (window bounds, task names, watermarks) are bound
//! parameters of prepared statements.

use ferry_core::connector::Checkpoint;
use ferry_core::pushdown::WindowRange;
use ferry_core::{Error, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::conn::{Endpoint, quote, text};
use super::pushdown::utc_text;

/// The table of checkpoints, in the target's database.
pub(crate) const CHECKPOINTS: &str = "ferry_checkpoints";
/// Prefix of a merge's temporary staging table.
pub(crate) const STAGE_PREFIX: &str = "_ferry_mrg_";

/// Creates the checkpoint table if missing. DDL commits implicitly, so this
/// runs before the load's transaction starts.
pub(crate) async fn ensure_checkpoints(conn: &mut Conn, ep: &Endpoint) -> Result<()> {
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(255) NOT NULL PRIMARY KEY, \
         run_id VARCHAR(255) NOT NULL, watermark LONGTEXT NOT NULL, \
         committed_at DATETIME(6) NOT NULL) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ep.qualified(CHECKPOINTS)
    ))
    .await
    .map_err(|e| ep.error(format!("creating {}", quote(CHECKPOINTS)), e))
}

/// The task's checkpoint, if the table and the row exist.
pub(crate) async fn read_checkpoint(
    conn: &mut Conn,
    ep: &Endpoint,
    task: &str,
) -> Result<Option<Checkpoint>> {
    let exists: Option<Row> = conn
        .exec_first(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (ep.database.as_str(), CHECKPOINTS),
        )
        .await
        .map_err(|e| ep.error("looking for the checkpoint table", e))?;
    if exists.is_none() {
        return Ok(None);
    }
    let row: Option<Row> = conn
        .exec_first(
            format!(
                "SELECT run_id, watermark FROM {} WHERE task = ?",
                ep.qualified(CHECKPOINTS)
            ),
            (task,),
        )
        .await
        .map_err(|e| ep.error("reading the task's checkpoint", e))?;
    Ok(row.map(|r| Checkpoint {
        task: task.to_string(),
        run_id: text(&r, 0).unwrap_or_default(),
        watermark: text(&r, 1).unwrap_or_default(),
    }))
}

/// Inside the load's transaction: checks that the stored checkpoint is
/// still run `expected`'s (locking its row), then stores `cp`.
pub(crate) async fn write_checkpoint(
    conn: &mut Conn,
    ep: &Endpoint,
    cp: &Checkpoint,
    expected: Option<&str>,
) -> Result<()> {
    let table = ep.qualified(CHECKPOINTS);
    let row: Option<Row> = conn
        .exec_first(
            format!("SELECT run_id FROM {table} WHERE task = ? FOR UPDATE"),
            (cp.task.as_str(),),
        )
        .await
        .map_err(|e| ep.error("locking the task's checkpoint", e))?;
    let current = row.and_then(|r| text(&r, 0));
    if current.as_deref() != expected {
        return Err(Error::Server {
            context: format!("publishing task {} into {}", cp.task, ep.display()),
            message: format!(
                "another run of the task ({}) committed into this target after this run started; \
                 nothing was published — run it again to continue from that run's watermark",
                current.as_deref().unwrap_or("a reset")
            ),
            transient: true,
        });
    }
    conn.exec_drop(
        format!(
            "INSERT INTO {table} (task, run_id, watermark, committed_at) \
             VALUES (?, ?, ?, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE \
             run_id = VALUES(run_id), watermark = VALUES(watermark), committed_at = VALUES(committed_at)"
        ),
        (cp.task.as_str(), cp.run_id.as_str(), cp.watermark.as_str()),
    )
    .await
    .map_err(|e| ep.error("storing the task's checkpoint", e))
}

/// Whether `key` (as a set, names compared as MariaDB does: ignoring case)
/// is exactly the column list of a primary key or unique index of the
/// target, on whole columns (no prefix index).
pub(crate) async fn has_unique_key(conn: &mut Conn, ep: &Endpoint, key: &[String]) -> Result<bool> {
    let rows: Vec<Row> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
             ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (ep.database.as_str(), ep.table.as_str()),
        )
        .await
        .map_err(|e| ep.error("looking for the merge key's unique index", e))?;
    let mut indexes: Vec<(String, Vec<String>, bool)> = Vec::new();
    for r in &rows {
        let (index, col) = (text(r, 0).unwrap_or_default(), text(r, 1));
        let whole = text(r, 2).is_none();
        match indexes.last_mut() {
            Some((name, cols, all_whole)) if *name == index => {
                cols.extend(col);
                *all_whole &= whole;
            }
            _ => indexes.push((index, col.into_iter().collect(), whole)),
        }
    }
    let norm = |cols: &[String]| {
        let mut v: Vec<String> = cols.iter().map(|c| c.to_lowercase()).collect();
        v.sort();
        v
    };
    let want = norm(key);
    Ok(indexes
        .iter()
        .any(|(_, cols, whole)| *whole && norm(cols) == want))
}

/// Creates the merge's staging table like `like` (temporary: private to the
/// session and gone with it; creating it does not commit).
pub(crate) async fn create_stage(
    conn: &mut Conn,
    ep: &Endpoint,
    stage: &str,
    like: &str,
) -> Result<()> {
    conn.query_drop(format!(
        "CREATE TEMPORARY TABLE {} LIKE {}",
        ep.qualified(stage),
        ep.qualified(like)
    ))
    .await
    .map_err(|e| ep.error("creating the merge's staging table", e))
}

/// Deletes the target rows of the window (inside the load's transaction);
/// returns how many.
pub(crate) async fn delete_window(
    conn: &mut Conn,
    ep: &Endpoint,
    table: &str,
    w: &WindowRange,
) -> Result<u64> {
    let col = quote(&w.column);
    conn.exec_drop(
        format!(
            "DELETE FROM {} WHERE {col} >= CAST(? AS DATETIME(6)) AND {col} < CAST(? AS DATETIME(6))",
            ep.qualified(table)
        ),
        (utc_text(&w.start), utc_text(&w.end)),
    )
    .await
    .map_err(|e| ep.error("deleting the window's rows from the target", e))?;
    Ok(conn.affected_rows())
}

/// Where and how a merge applies its staged rows.
#[derive(Debug, Clone)]
pub(crate) struct MergeInto {
    /// The temporary staging table (unqualified, in the target's database).
    pub stage: String,
    /// The table merged into (unqualified).
    pub into: String,
    /// The columns loaded.
    pub columns: Vec<String>,
    /// The merge key.
    pub key: Vec<String>,
    /// Rows where this column is true delete their key's target row.
    pub delete_column: Option<String>,
}

/// What a merge did.
pub(crate) struct Merged {
    /// Rows the `INSERT … ON DUPLICATE KEY UPDATE` reported (1 per insert, 2 per changed row).
    pub upserted: u64,
    pub deleted: u64,
}

impl MergeInto {
    /// Applies the staged rows to the target by key (inside the load's transaction).
    pub(crate) async fn apply(&self, conn: &mut Conn, ep: &Endpoint) -> Result<Merged> {
        let (into, stage) = (ep.qualified(&self.into), ep.qualified(&self.stage));
        let q = |cols: &[String]| cols.iter().map(|c| quote(c)).collect::<Vec<_>>();
        let key_q = q(&self.key);
        let mut deleted = 0;
        if let Some(d) = &self.delete_column {
            // Qualified names, no aliases: MariaDB resolves an alias in a
            // multi-table DELETE against the default database, which the
            // sink's session has none of.
            let on: Vec<String> = key_q
                .iter()
                .map(|k| format!("{into}.{k} = {stage}.{k}"))
                .collect();
            conn.query_drop(format!(
                "DELETE {into} FROM {into} JOIN {stage} ON {} WHERE {stage}.{} IS TRUE",
                on.join(" AND "),
                quote(d)
            ))
            .await
            .map_err(|e| ep.error("deleting the flagged rows from the target", e))?;
            deleted = conn.affected_rows();
        }
        let cols_q = q(&self.columns);
        let rest: Vec<&String> = cols_q.iter().filter(|c| !key_q.contains(c)).collect();
        let update = if rest.is_empty() {
            // Every column is the key: a duplicate changes nothing.
            format!("{k} = {k}", k = key_q[0])
        } else {
            rest.iter()
                .map(|c| format!("{c} = VALUES({c})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let only_live = self
            .delete_column
            .as_ref()
            .map(|d| format!(" WHERE {} IS NOT TRUE", quote(d)))
            .unwrap_or_default();
        let cols = cols_q.join(", ");
        conn.query_drop(format!(
            "INSERT INTO {into} ({cols}) SELECT {cols} FROM {stage}{only_live} \
             ON DUPLICATE KEY UPDATE {update}"
        ))
        .await
        .map_err(|e| ep.error("merging the staged rows into the target", e))?;
        Ok(Merged {
            upserted: conn.affected_rows(),
            deleted,
        })
    }
}
