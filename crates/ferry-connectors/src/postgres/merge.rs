//! The incremental and windowed writes of the PostgreSQL sink, and its
//! checkpoint table — all inside the sink's one transaction:
//!
//! ```text
//!  incremental_merge:  CREATE TEMP TABLE ferry_stage (LIKE target …) ON COMMIT DROP
//!                      COPY ferry_stage FROM STDIN (FORMAT binary)
//!                      [DELETE FROM target USING ferry_stage WHERE <delete column> AND key = key]
//!                      INSERT INTO target SELECT … FROM ferry_stage ON CONFLICT (key) DO UPDATE …
//!  window_overwrite:   DELETE FROM target WHERE col >= $start AND col < $end;  COPY target …
//!  checkpoint:         SELECT … FROM ferry_checkpoints WHERE task = $1 FOR UPDATE  (still ours?)
//!                      INSERT INTO ferry_checkpoints … ON CONFLICT (task) DO UPDATE …
//!  COMMIT
//! ```
//!
//! Values (window bounds, task names, watermarks) are bound parameters.

use ferry_core::connector::Checkpoint;
use ferry_core::pushdown::WindowRange;
use ferry_core::{Error, Result};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::pushdown::utc_text;
use super::types::quote_ident;
use super::{PgEndpoint, map_err};

/// The staging table of a merge (temporary: private to the session, dropped at commit).
pub(crate) const STAGE: &str = "pg_temp.ferry_stage";
/// The table of checkpoints, in the target's schema.
pub(crate) const CHECKPOINTS: &str = "ferry_checkpoints";

/// Whether `key` (as a set) is the column list of a unique, non-partial index of `oid`.
pub(crate) async fn has_unique_index(
    client: &Client,
    ep: &PgEndpoint,
    oid: u32,
    key: &[String],
) -> Result<bool> {
    let mut sorted = key.to_vec();
    sorted.sort();
    let row = client
        .query_one(
            "SELECT EXISTS (
               SELECT 1 FROM pg_index i
                WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
                  AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text)
                         FROM pg_attribute a
                        WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = $2::text[])",
            &[&oid, &sorted],
        )
        .await
        .map_err(|e| map_err(&ep.display, "looking for the merge key's unique index", e))?;
    Ok(row.get(0))
}

/// Creates the merge's staging table like the target.
pub(crate) async fn create_stage(client: &Client, ep: &PgEndpoint, quoted: &str) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE ferry_stage (LIKE {quoted} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) ON COMMIT DROP"
        ))
        .await
        .map_err(|e| map_err(&ep.display, "creating the merge's staging table", e))
}

/// Deletes the target rows of the window; returns how many.
pub(crate) async fn delete_window(
    client: &Client,
    ep: &PgEndpoint,
    quoted: &str,
    zoned: bool,
    w: &WindowRange,
) -> Result<u64> {
    let cast = if zoned { "timestamptz" } else { "timestamp" };
    let col = quote_ident(&w.column);
    client
        .execute(
            &format!(
                "DELETE FROM {quoted} WHERE {col} >= $1::text::{cast} AND {col} < $2::text::{cast}"
            ),
            &[&utc_text(&w.start, zoned), &utc_text(&w.end, zoned)],
        )
        .await
        .map_err(|e| map_err(&ep.display, "deleting the window's rows from the target", e))
}

/// What a merge did.
pub(crate) struct Merged {
    pub upserted: u64,
    pub deleted: u64,
}

/// Applies the staged rows to the target by `key`.
pub(crate) async fn apply_merge(
    client: &Client,
    ep: &PgEndpoint,
    quoted: &str,
    display: &str,
    columns: &[String],
    key: &[String],
    delete_column: Option<&str>,
) -> Result<Merged> {
    let q = |cols: &[String]| cols.iter().map(|c| quote_ident(c)).collect::<Vec<_>>();
    let key_q = q(key);
    let mut deleted = 0;
    if let Some(d) = delete_column {
        let on: Vec<String> = key_q.iter().map(|k| format!("t.{k} = s.{k}")).collect();
        deleted = client
            .execute(
                &format!(
                    "DELETE FROM {quoted} t USING {STAGE} s WHERE s.{} IS TRUE AND {}",
                    quote_ident(d),
                    on.join(" AND ")
                ),
                &[],
            )
            .await
            .map_err(|e| {
                map_err(
                    &ep.display,
                    &format!("deleting flagged rows from {display}"),
                    e,
                )
            })?;
    }
    let cols_q = q(columns);
    let rest: Vec<&String> = cols_q.iter().filter(|c| !key_q.contains(c)).collect();
    let action = if rest.is_empty() {
        "NOTHING".to_string()
    } else {
        format!(
            "UPDATE SET ({}) = ROW({})",
            rest.iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            rest.iter()
                .map(|c| format!("EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let only_live = delete_column
        .map(|d| format!(" WHERE {} IS NOT TRUE", quote_ident(d)))
        .unwrap_or_default();
    let sql = format!(
        "INSERT INTO {quoted} ({cols}) SELECT {cols} FROM {STAGE}{only_live} ON CONFLICT ({keys}) DO {action}",
        cols = cols_q.join(", "),
        keys = key_q.join(", "),
    );
    let upserted = client.execute(&sql, &[]).await.map_err(|e| {
        if e.code() == Some(&SqlState::CARDINALITY_VIOLATION) {
            return Error::Server {
                context: format!("merging into {display}"),
                message: format!(
                    "two rows of this run have the same merge key ({}); the key must identify one source row",
                    key.join(", ")
                ),
                transient: false,
            };
        }
        map_err(&ep.display, &format!("merging the staged rows into {display}"), e)
    })?;
    Ok(Merged { upserted, deleted })
}

/// `"schema".ferry_checkpoints`.
pub(crate) fn checkpoints_table(schema: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(CHECKPOINTS))
}

/// Creates the checkpoint table if missing (outside any transaction; a
/// concurrent creator winning the race is fine).
pub(crate) async fn ensure_checkpoints(
    client: &Client,
    ep: &PgEndpoint,
    table: &str,
) -> Result<()> {
    match client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (task text PRIMARY KEY, run_id text NOT NULL, \
             watermark text NOT NULL, committed_at timestamptz NOT NULL DEFAULT now())"
        ))
        .await
    {
        Ok(()) => Ok(()),
        // Two first runs at once race on the catalog: the loser gets a
        // unique violation on pg_type, "type already exists" or "relation
        // already exists"; the table is there either way.
        Err(e)
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                || e.code() == Some(&SqlState::DUPLICATE_TABLE)
                || e.code() == Some(&SqlState::DUPLICATE_OBJECT) =>
        {
            Ok(())
        }
        Err(e) => Err(map_err(&ep.display, &format!("creating {table}"), e)),
    }
}

/// The task's checkpoint, if the table and the row exist.
pub(crate) async fn read_checkpoint(
    client: &Client,
    ep: &PgEndpoint,
    table: &str,
    task: &str,
) -> Result<Option<Checkpoint>> {
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .map_err(|e| map_err(&ep.display, "looking for the checkpoint table", e))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!("SELECT run_id, watermark FROM {table} WHERE task = $1"),
            &[&task],
        )
        .await
        .map_err(|e| map_err(&ep.display, "reading the task's checkpoint", e))?;
    Ok(row.map(|r| Checkpoint {
        task: task.to_string(),
        run_id: r.get(0),
        watermark: r.get(1),
    }))
}

/// Inside the write transaction: checks the stored checkpoint is still run
/// `expected`'s, then stores `cp`.
pub(crate) async fn write_checkpoint(
    client: &Client,
    ep: &PgEndpoint,
    table: &str,
    cp: &Checkpoint,
    expected: Option<&str>,
) -> Result<()> {
    let current: Option<String> = client
        .query_opt(
            &format!("SELECT run_id FROM {table} WHERE task = $1 FOR UPDATE"),
            &[&cp.task],
        )
        .await
        .map_err(|e| map_err(&ep.display, "locking the task's checkpoint", e))?
        .map(|r| r.get(0));
    if current.as_deref() != expected {
        return Err(Error::Server {
            context: format!("publishing task {}", cp.task),
            message: format!(
                "another run of the task ({}) committed into this target after this run started; \
                 nothing was published — run it again to continue from that run's watermark",
                current.as_deref().unwrap_or("a reset")
            ),
            transient: true,
        });
    }
    client
        .execute(
            &format!(
                "INSERT INTO {table} (task, run_id, watermark) VALUES ($1, $2, $3) \
                 ON CONFLICT (task) DO UPDATE SET run_id = EXCLUDED.run_id, \
                 watermark = EXCLUDED.watermark, committed_at = now()"
            ),
            &[&cp.task, &cp.run_id, &cp.watermark],
        )
        .await
        .map_err(|e| map_err(&ep.display, "storing the task's checkpoint", e))?;
    Ok(())
}
