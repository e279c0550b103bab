//! The incremental and windowed writes of the SQLite sink, and its
//! checkpoint table — all inside the sink's one `BEGIN IMMEDIATE`
//! transaction, which also serializes concurrent writers of the file:
//!
//! ```text
//!  window_overwrite:  DELETE FROM target WHERE col >= ?1 AND col < ?2     (prepare)
//!                     INSERT INTO target … VALUES (…)                      × rows
//!  incremental_merge: INSERT INTO target (cols) VALUES (…)
//!                       ON CONFLICT (key) DO UPDATE SET c = excluded.c, …  × live rows
//!                     DELETE FROM target WHERE k1 = ?1 AND …               × flagged rows
//!  checkpoint:        CREATE TABLE IF NOT EXISTS ferry_checkpoints …
//!                     SELECT run_id … WHERE task = ?1   (still the run this one started from?)
//!                     INSERT … ON CONFLICT (task) DO UPDATE …
//!  COMMIT
//! ```
//!
//! SQLite's DDL is transactional, so the checkpoint table is created in
//! the write transaction too. Values (bounds, keys, task names,
//! watermarks) are bound parameters.

use std::path::Path;

use ferry_core::connector::Checkpoint;
use ferry_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension};

use super::{TableColumn, quote_ident, sql_error};

/// The table of checkpoints, in the target's database file.
pub(super) const CHECKPOINTS: &str = "ferry_checkpoints";

/// Whether `key` (as a set; names compared as SQLite does, ignoring ASCII
/// case) is exactly the primary key or the columns of a unique, non-partial
/// index of `table`.
pub(super) fn has_unique_key(
    conn: &Connection,
    path: &Path,
    table: &str,
    columns: &[TableColumn],
    key: &[String],
) -> Result<bool> {
    let err = |e| sql_error(path, "read the target's indexes", e);
    let norm = |cols: Vec<String>| {
        let mut v: Vec<String> = cols.iter().map(|c| c.to_ascii_lowercase()).collect();
        v.sort();
        v
    };
    let want = norm(key.to_vec());
    // An INTEGER PRIMARY KEY is the rowid itself and has no index entry.
    let mut pk: Vec<&TableColumn> = columns.iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    if norm(pk.iter().map(|c| c.name.clone()).collect()) == want && !pk.is_empty() {
        return Ok(true);
    }
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1 AND partial = 0")
        .map_err(err)?;
    let indexes = stmt
        .query_map([table], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(err)?;
    let mut cols = conn
        .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
        .map_err(err)?;
    for index in indexes {
        // An expression in the index has no name (NULL): never a match.
        let names = cols
            .query_map([&index], |r| r.get::<_, Option<String>>(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(err)?;
        if names.iter().all(Option::is_some) && norm(names.into_iter().flatten().collect()) == want
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `INSERT … ON CONFLICT (key) DO UPDATE SET c = excluded.c, …` (or `DO
/// NOTHING` when every column is the key).
pub(super) fn upsert_sql(table: &str, columns: &[String], key: &[String]) -> String {
    let names: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let params: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let is_key = |c: &String| key.iter().any(|k| k.eq_ignore_ascii_case(c));
    let rest: Vec<String> = columns
        .iter()
        .filter(|c| !is_key(c))
        .map(|c| format!("{q} = excluded.{q}", q = quote_ident(c)))
        .collect();
    let action = if rest.is_empty() {
        "NOTHING".to_string()
    } else {
        format!("UPDATE SET {}", rest.join(", "))
    };
    format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO {action}",
        quote_ident(table),
        names.join(", "),
        params.join(", "),
        key.iter()
            .map(|k| quote_ident(k))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `DELETE FROM table WHERE k1 = ?1 AND …`.
pub(super) fn delete_sql(table: &str, key: &[String]) -> String {
    let on: Vec<String> = key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{} = ?{}", quote_ident(k), i + 1))
        .collect();
    format!(
        "DELETE FROM {} WHERE {}",
        quote_ident(table),
        on.join(" AND ")
    )
}

/// The task's checkpoint, if the file, the table and the row exist.
pub(super) fn read_checkpoint(
    conn: &Connection,
    path: &Path,
    task: &str,
) -> Result<Option<Checkpoint>> {
    let err = |e| sql_error(path, "read the task's checkpoint", e);
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ?1",
            [CHECKPOINTS],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    if exists.is_none() {
        return Ok(None);
    }
    conn.query_row(
        &format!(
            "SELECT run_id, watermark FROM {} WHERE task = ?1",
            quote_ident(CHECKPOINTS)
        ),
        [task],
        |r| {
            Ok(Checkpoint {
                task: task.to_string(),
                run_id: r.get(0)?,
                watermark: r.get(1)?,
            })
        },
    )
    .optional()
    .map_err(err)
}

/// Inside the write transaction: creates the table if missing, checks that
/// the stored checkpoint is still run `expected`'s, then stores `cp`.
pub(super) fn write_checkpoint(
    conn: &Connection,
    path: &Path,
    cp: &Checkpoint,
    expected: Option<&str>,
) -> Result<()> {
    let err = |doing: &'static str| move |e| sql_error(path, doing, e);
    let table = quote_ident(CHECKPOINTS);
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (task TEXT NOT NULL PRIMARY KEY, \
         run_id TEXT NOT NULL, watermark TEXT NOT NULL, committed_at TEXT NOT NULL)"
    ))
    .map_err(err("create the checkpoint table"))?;
    let current: Option<String> = conn
        .query_row(
            &format!("SELECT run_id FROM {table} WHERE task = ?1"),
            [&cp.task],
            |r| r.get(0),
        )
        .optional()
        .map_err(err("read the task's checkpoint"))?;
    if current.as_deref() != expected {
        return Err(Error::Server {
            context: format!("publishing task {} into {}", cp.task, path.display()),
            message: format!(
                "another run of the task ({}) committed into this target after this run started; \
                 nothing was published — run it again to continue from that run's watermark",
                current.as_deref().unwrap_or("a reset")
            ),
            transient: true,
        });
    }
    conn.execute(
        &format!(
            "INSERT INTO {table} (task, run_id, watermark, committed_at) \
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
             ON CONFLICT (task) DO UPDATE SET run_id = excluded.run_id, \
             watermark = excluded.watermark, committed_at = excluded.committed_at"
        ),
        [&cp.task, &cp.run_id, &cp.watermark],
    )
    .map_err(err("store the task's checkpoint"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_update_every_column_but_the_key() {
        let cols = vec!["id".to_string(), "v".to_string()];
        assert_eq!(
            upsert_sql("t", &cols, &["id".to_string()]),
            "INSERT INTO \"t\" (\"id\", \"v\") VALUES (?1, ?2) ON CONFLICT (\"id\") DO UPDATE SET \"v\" = excluded.\"v\""
        );
        assert!(upsert_sql("t", &cols[..1], &["id".to_string()]).ends_with("DO NOTHING"));
        assert_eq!(
            delete_sql("t", &cols),
            "DELETE FROM \"t\" WHERE \"id\" = ?1 AND \"v\" = ?2"
        );
    }
}
