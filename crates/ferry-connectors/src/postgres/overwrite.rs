//! How a `full_overwrite` replaces the rows of an existing PostgreSQL table
//! (the sink option `overwrite`), and how long it keeps the target locked.
//!
//! `TRUNCATE` takes an ACCESS EXCLUSIVE lock at the start of the load, so
//! every reader of the target waits for the whole load. The two other
//! strategies keep readers going:
//!
//! ```text
//!  swap (default)                               delete
//!  BEGIN; advisory lock(target)                 BEGIN; advisory lock(target)
//!  CREATE TABLE _ferry_stg_t                    LOCK t IN ROW EXCLUSIVE MODE   ← readers unaffected
//!    (LIKE t INCLUDING ALL)  ← invisible        DELETE FROM t                  ← readers see old rows (MVCC)
//!  COPY _ferry_stg_t …       ← readers: old t   COPY t …
//!  ANALYZE _ferry_stg_t (if t had statistics)  COMMIT                         ← new rows visible at once
//!  LOCK t ACCESS EXCLUSIVE   ← short; retried
//!    grants, comment, owner, replica identity
//!    RENAME t → _ferry_old_t, stage → t
//!    DROP _ferry_old_t; index names restored
//!  COMMIT                    ← readers: new t
//! ```
//!
//! Everything is in the run's one transaction, so a failed or killed run
//! leaves the target exactly as it was and no staging table behind (a
//! table created in an aborted transaction never existed); the names are
//! still dropped at the start of every run, in case debris was left some
//! other way.
//!
//! A swap replaces the table object, so what points at the old one by oid
//! would break or vanish: views and rules, foreign keys in either direction,
//! triggers, publications, inheritance and partitions, row-level security.
//! [`swap_blockers`] finds them in the catalogs; then the default falls back
//! to `delete` (and says so) and an explicit `overwrite: swap` is refused,
//! naming the object. A `serial` column's sequence is handed to the new
//! table (`OWNED BY`); an identity column's new sequence continues from the
//! old one's value and takes its name.

use std::time::{Duration, Instant};

use ferry_core::connector::PublishReport;
use ferry_core::{Error, Result};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::catalog::PgTable;
use super::types::{quote_ident, quote_literal};
use super::{PgEndpoint, map_err};
use crate::common::server_spec::Overwrite;

/// Prefix of the staging table a swap loads (marks it as Ferry's).
const STAGING_PREFIX: &str = "_ferry_stg_";
/// Prefix the replaced table takes during the swap, inside its transaction.
const OLD_PREFIX: &str = "_ferry_old_";
/// PostgreSQL's identifier limit in bytes (NAMEDATALEN − 1).
const MAX_IDENT_BYTES: usize = 63;
/// How long one attempt at the swap's exclusive lock waits: while it waits,
/// new readers queue behind it, so attempts are short and retried.
const LOCK_ATTEMPT_MS: u64 = 200;
/// Pause between two lock attempts, letting queued readers through.
const LOCK_PAUSE_MS: u64 = 100;
/// After this long, the swap waits for its lock without a timeout (a
/// reader that holds the table longer delays the publish, not the data).
const LOCK_PATIENCE_SECS: u64 = 30;

/// The strategy a run uses and why, decided before the load.
#[derive(Debug, Clone)]
pub(super) struct Chosen {
    pub strategy: Overwrite,
    /// Why it is not the configured one (automatic fallback).
    pub note: Option<String>,
}

/// Decides the strategy for an existing `target`: `asked` if given (a swap
/// that cannot be done is an error naming `overwrite` and the dependent
/// object); else swap, or delete where something depends on the table.
pub(super) async fn choose(
    client: &Client,
    ep: &PgEndpoint,
    target: &PgTable,
    asked: Option<Overwrite>,
) -> Result<Chosen> {
    match asked {
        Some(s @ (Overwrite::Delete | Overwrite::Truncate)) => Ok(Chosen {
            strategy: s,
            note: None,
        }),
        Some(Overwrite::Swap) => {
            let blockers = swap_blockers(client, ep, target.oid).await?;
            if blockers.is_empty() {
                return Ok(Chosen {
                    strategy: Overwrite::Swap,
                    note: None,
                });
            }
            Err(Error::invalid(
                "sink.overwrite",
                format!(
                    "`swap` would replace {} while {} depend(s) on it; use `overwrite: delete` \
                     (readers keep the old rows until the commit) or `truncate`, or leave \
                     `overwrite` out to fall back to `delete` automatically",
                    target.display,
                    blockers.join(", ")
                ),
            ))
        }
        None => {
            let blockers = swap_blockers(client, ep, target.oid).await?;
            if blockers.is_empty() {
                return Ok(Chosen {
                    strategy: Overwrite::Swap,
                    note: None,
                });
            }
            let note = format!(
                "overwrite fell back from swap to delete: {} depend(s) on {}",
                blockers.join(", "),
                target.display
            );
            tracing::warn!(table = %target.display, blockers = %blockers.join(", "), "overwrite falls back from swap to delete");
            Ok(Chosen {
                strategy: Overwrite::Delete,
                note: Some(note),
            })
        }
    }
}

/// The objects that tie the table `oid` to its identity (its oid), so that a
/// swap would break them or leave them behind: one line each, named.
pub(super) async fn swap_blockers(
    client: &Client,
    ep: &PgEndpoint,
    oid: u32,
) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT DISTINCT what FROM (
               -- views, materialized views, other tables' foreign keys, inheriting
               -- tables, SQL-body functions: everything that depends on the table
               SELECT CASE WHEN d.classid = 'pg_rewrite'::regclass
                           THEN (SELECT CASE v.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END
                                        || quote_ident(n.nspname) || '.' || quote_ident(v.relname)
                                   FROM pg_rewrite r JOIN pg_class v ON v.oid = r.ev_class
                                   JOIN pg_namespace n ON n.oid = v.relnamespace
                                  WHERE r.oid = d.objid)
                           ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END
                 FROM pg_depend d
                WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.deptype = 'n'
                  -- the table's own constraints, defaults, indexes and statistics
                  -- depend on its columns; the staging table gets its own copies
                  AND NOT (d.classid = 'pg_constraint'::regclass
                           AND EXISTS (SELECT 1 FROM pg_constraint c WHERE c.oid = d.objid AND c.conrelid = $1))
                  AND NOT (d.classid = 'pg_attrdef'::regclass
                           AND EXISTS (SELECT 1 FROM pg_attrdef a WHERE a.oid = d.objid AND a.adrelid = $1))
                  AND NOT (d.classid = 'pg_class'::regclass
                           AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = d.objid AND i.indrelid = $1))
                  AND NOT (d.classid = 'pg_statistic_ext'::regclass
                           AND EXISTS (SELECT 1 FROM pg_statistic_ext x WHERE x.oid = d.objid AND x.stxrelid = $1))
               UNION ALL
               SELECT 'rule ' || quote_ident(rulename) FROM pg_rewrite WHERE ev_class = $1
               UNION ALL
               SELECT 'trigger ' || quote_ident(tgname) FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal
               UNION ALL
               SELECT 'foreign key ' || quote_ident(conname) || ' (to ' || confrelid::regclass::text || ')'
                 FROM pg_constraint WHERE conrelid = $1 AND contype = 'f'
               UNION ALL
               SELECT 'foreign key ' || quote_ident(conname) || ' of ' || conrelid::regclass::text
                 FROM pg_constraint WHERE confrelid = $1 AND contype = 'f'
               UNION ALL
               SELECT 'publication ' || quote_ident(p.pubname)
                 FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE r.prrelid = $1
               UNION ALL
               SELECT 'parent table ' || inhparent::regclass::text FROM pg_inherits WHERE inhrelid = $1
               UNION ALL
               SELECT 'inheriting table or partition ' || inhrelid::regclass::text FROM pg_inherits WHERE inhparent = $1
               UNION ALL
               SELECT 'row-level security policy ' || quote_ident(polname) FROM pg_policy WHERE polrelid = $1
               UNION ALL
               SELECT 'row-level security' FROM pg_class WHERE oid = $1 AND (relrowsecurity OR relforcerowsecurity)
               UNION ALL
               SELECT 'a table kind other than a plain table (' || relkind::text || ')'
                 FROM pg_class WHERE oid = $1 AND relkind <> 'r'
               UNION ALL
               SELECT 'owner ' || quote_ident(pg_get_userbyid(relowner)) || ' (Ferry''s role is not a member of it)'
                 FROM pg_class WHERE oid = $1 AND NOT pg_has_role(relowner, 'MEMBER')
             ) b(what)
             WHERE what IS NOT NULL
             ORDER BY what",
            &[&oid],
        )
        .await
        .map_err(|e| map_err(&ep.display, "reading what depends on the target", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A staging table next to the target, loaded and swapped in at commit.
#[derive(Debug, Clone)]
pub(super) struct Staging {
    /// `"schema"."_ferry_stg_t"`.
    pub quoted: String,
    /// The target's schema, quoted.
    schema: String,
    /// The target's own name (unquoted) and its quoted full name.
    target_name: String,
    target_quoted: String,
    target_oid: u32,
    /// The name the old target takes inside the swap's transaction.
    old_name: String,
    /// The `CREATE TABLE` of the staging table.
    pub ddl: String,
    /// Each staging index's name and the target's index it copies (`LIKE`
    /// names them anew; the swap gives them the target's names back).
    index_names: Vec<(String, String)>,
    /// The staging table's own name.
    staging_name: String,
}

impl Staging {
    /// `text` (a server message about the staging table) in the target's
    /// terms: its name and its index and constraint names, so that a
    /// refused row names the constraint the user knows.
    pub fn in_target_terms(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (staged, original) in &self.index_names {
            out = out.replace(staged.as_str(), original);
        }
        out.replace(self.staging_name.as_str(), &self.target_name)
    }
}

/// A deterministic helper name `prefix + table` within PostgreSQL's
/// 63-byte limit: cut, with a short hash of the full name, if needed.
pub(super) fn helper_name(prefix: &str, table: &str) -> String {
    let full = format!("{prefix}{table}");
    if full.len() <= MAX_IDENT_BYTES {
        return full;
    }
    let hash = format!(
        "_{:08x}",
        table.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
        }) as u32
    );
    let mut cut = MAX_IDENT_BYTES - prefix.len() - hash.len();
    while !table.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{prefix}{}{hash}", &table[..cut])
}

/// Drops the helper tables of `name` in `schema` that an earlier run may
/// have left (inside the run's transaction, under its writer lock).
pub(super) async fn drop_debris(
    client: &Client,
    ep: &PgEndpoint,
    schema: &str,
    name: &str,
) -> Result<()> {
    let q = |prefix: &str| {
        format!(
            "{}.{}",
            quote_ident(schema),
            quote_ident(&helper_name(prefix, name))
        )
    };
    client
        .batch_execute(&format!(
            "SET LOCAL client_min_messages = warning; DROP TABLE IF EXISTS {}, {}",
            q(STAGING_PREFIX),
            q(OLD_PREFIX)
        ))
        .await
        .map_err(|e| {
            map_err(
                &ep.display,
                "dropping the staging tables of earlier runs",
                e,
            )
        })
}

/// Creates the staging table of `target` (same columns, defaults,
/// constraints, indexes, comments, storage, statistics; unlogged if the
/// target is; in its tablespace and with its storage parameters).
pub(super) async fn create_staging(
    client: &Client,
    ep: &PgEndpoint,
    target: &PgTable,
    schema: &str,
    name: &str,
) -> Result<Staging> {
    let row = client
        .query_one(
            "SELECT c.relpersistence = 'u', t.spcname::text,
                    coalesce(c.reloptions, '{}'::text[])
               FROM pg_class c LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
              WHERE c.oid = $1",
            &[&target.oid],
        )
        .await
        .map_err(|e| {
            map_err(
                &ep.display,
                &format!("reading the storage of {}", target.display),
                e,
            )
        })?;
    let unlogged: bool = row.get(0);
    let tablespace: Option<String> = row.get(1);
    let options: Vec<String> = row.get(2);
    let staging_name = helper_name(STAGING_PREFIX, name);
    let quoted = format!("{}.{}", quote_ident(schema), quote_ident(&staging_name));
    let mut ddl = format!(
        "CREATE {}TABLE {quoted} (LIKE {} INCLUDING ALL)",
        if unlogged { "UNLOGGED " } else { "" },
        target.quoted
    );
    if !options.is_empty() {
        // `key=value` as the server stored it; the value is re-quoted.
        let opts: Vec<String> = options
            .iter()
            .map(|o| match o.split_once('=') {
                Some((k, v)) => format!("{} = {}", quote_ident(k), quote_literal(v)),
                None => quote_ident(o),
            })
            .collect();
        ddl.push_str(&format!(" WITH ({})", opts.join(", ")));
    }
    if let Some(ts) = tablespace {
        ddl.push_str(&format!(" TABLESPACE {}", quote_ident(&ts)));
    }
    client.batch_execute(&ddl).await.map_err(|e| {
        map_err(
            &ep.display,
            &format!("creating the staging table {staging_name} (inside the run's transaction)"),
            e,
        )
    })?;
    let mut staging = Staging {
        quoted,
        schema: quote_ident(schema),
        target_name: name.to_string(),
        target_quoted: target.quoted.clone(),
        target_oid: target.oid,
        old_name: helper_name(OLD_PREFIX, name),
        ddl,
        index_names: Vec::new(),
        staging_name,
    };
    staging.index_names = index_names(client, ep, &staging).await?;
    Ok(staging)
}

/// Takes `lock` on the target now (delete, truncate): returns when it was
/// taken and how long that took.
pub(super) async fn lock_target(
    client: &Client,
    ep: &PgEndpoint,
    quoted: &str,
    lock: &str,
) -> Result<(Instant, Duration)> {
    let asked = Instant::now();
    client
        .batch_execute(&format!("LOCK TABLE {quoted} IN {lock} MODE"))
        .await
        .map_err(|e| map_err(&ep.display, &format!("locking {quoted} ({lock})"), e))?;
    Ok((Instant::now(), asked.elapsed()))
}

/// The swap itself, before the `COMMIT`: statistics for the new rows, then
/// under a short ACCESS EXCLUSIVE lock the target's grants, comment, owner
/// and replica identity onto the staging table, the renames, the drop of
/// the old table and its index names. Returns when the lock was taken and
/// how long the wait was.
pub(super) async fn swap_in(
    client: &Client,
    ep: &PgEndpoint,
    s: &Staging,
) -> Result<(Instant, Duration)> {
    let err = |what: &str| {
        let what = what.to_string();
        move |e| {
            map_err(
                &ep.display,
                &format!("{what} (swap, inside the run's transaction)"),
                e,
            )
        }
    };
    // The new table keeps what the target had: statistics when it had them
    // (readers' plans use them from the first query), none when it had
    // none (autovacuum analyzes it as it would have the old one). An
    // ANALYZE samples 30,000 rows: 0.35 s of a 5M-row copy (bench/).
    let had_statistics: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_stats s
                              JOIN pg_class c ON c.relname = s.tablename
                              JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
                             WHERE c.oid = $1)",
            &[&s.target_oid],
        )
        .await
        .map_err(err("looking up the target's statistics"))?
        .get(0);
    if had_statistics {
        client
            .batch_execute(&format!("ANALYZE {}", s.quoted))
            .await
            .map_err(err("analyzing the staging table"))?;
    }
    let (locked, waited) = lock_patiently(client, ep, &s.target_quoted).await?;
    // Statements built by the server from its catalogs (format() quotes),
    // in order: `before` the renames, or after the old table is dropped.
    let rows = client
        .query(
            "WITH seqs AS MATERIALIZED (  -- the sequences of the target's columns
               SELECT d.objid, d.deptype, a.attname, s.relname
                 FROM pg_depend d
                 JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                  AND d.refobjid = $1)
             SELECT before, stmt FROM (
               SELECT 1 AS ord, true AS before, format('COMMENT ON TABLE %s IS %L', $2::text, d.description) AS stmt
                 FROM pg_description d
                WHERE d.objoid = $1 AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
               UNION ALL
               SELECT 2, true, format('GRANT %s ON TABLE %s TO %s%s', a.privilege_type, $2::text,
                             CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                             CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
                 FROM pg_class c, aclexplode(c.relacl) a
                WHERE c.oid = $1
               UNION ALL
               SELECT 3, true, format('GRANT %s (%I) ON TABLE %s TO %s%s', a.privilege_type, att.attname, $2::text,
                             CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                             CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
                 FROM pg_attribute att, aclexplode(att.attacl) a
                WHERE att.attrelid = $1 AND att.attnum > 0 AND NOT att.attisdropped
               UNION ALL
               SELECT 4, true, format('ALTER TABLE %s REPLICA IDENTITY %s', $2::text,
                             CASE relreplident WHEN 'f' THEN 'FULL' ELSE 'NOTHING' END)
                 FROM pg_class WHERE oid = $1 AND relreplident IN ('f', 'n')
               UNION ALL
               -- a serial column's sequence: the new table's default uses it; keep it alive
               SELECT 5, true, format('ALTER SEQUENCE %s OWNED BY %s.%I', objid::regclass, $2::text, attname)
                 FROM seqs WHERE deptype = 'a'
               UNION ALL
               -- an identity column's new sequence continues where the old one was
               SELECT 6, true, format('SELECT setval(%L::regclass, %s, true)',
                             pg_get_serial_sequence($2::text, attname), pg_sequence_last_value(objid))
                 FROM seqs WHERE deptype = 'i' AND pg_sequence_last_value(objid) IS NOT NULL
               UNION ALL
               SELECT 7, true, format('ALTER TABLE %s OWNER TO %I', $2::text, pg_get_userbyid(relowner))
                 FROM pg_class WHERE oid = $1 AND relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
               UNION ALL
               -- and takes the old sequence's name once that is dropped with the old table
               SELECT 8, false, format('ALTER SEQUENCE %s RENAME TO %I',
                             pg_get_serial_sequence($2::text, attname), relname)
                 FROM seqs WHERE deptype = 'i'
             ) s
             ORDER BY ord",
            &[&s.target_oid, &s.quoted],
        )
        .await
        .map_err(err("reading the target's grants, comment, owner and sequences"))?;
    let (before, after): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.get::<_, bool>(0));
    let before: Vec<String> = before.iter().map(|r| r.get(1)).collect();
    let after: Vec<String> = after.iter().map(|r| r.get(1)).collect();
    if !before.is_empty() {
        client
            .batch_execute(&before.join(";\n"))
            .await
            .map_err(err(
                "giving the staging table the target's grants, comment, owner and sequences",
            ))?;
    }
    let replica_index: Option<String> = client
        .query_opt(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE i.indrelid = $1 AND i.indisreplident",
            &[&s.target_oid],
        )
        .await
        .map_err(err("reading the target's replica identity"))?
        .map(|r| r.get(0));
    let mut sql = format!(
        "ALTER TABLE {} RENAME TO {};\nALTER TABLE {} RENAME TO {};\nDROP TABLE {}.{}",
        s.target_quoted,
        quote_ident(&s.old_name),
        s.quoted,
        quote_ident(&s.target_name),
        s.schema,
        quote_ident(&s.old_name),
    );
    for (staged, original) in &s.index_names {
        if staged != original {
            sql.push_str(&format!(
                ";\nALTER INDEX {}.{} RENAME TO {}",
                s.schema,
                quote_ident(staged),
                quote_ident(original)
            ));
        }
    }
    if let Some(index) = replica_index {
        sql.push_str(&format!(
            ";\nALTER TABLE {} REPLICA IDENTITY USING INDEX {}",
            s.target_quoted,
            quote_ident(&index)
        ));
    }
    client
        .batch_execute(&sql)
        .await
        .map_err(err("renaming the staging table into place"))?;
    if !after.is_empty() {
        client
            .batch_execute(&after.join(";\n"))
            .await
            .map_err(err("giving the identity sequences their names"))?;
    }
    Ok((locked, waited))
}

/// Pairs each index of the staging table with the target's index of the
/// same definition (`LIKE … INCLUDING INDEXES` names them anew), so that
/// after the swap the indexes and the constraints they back keep their
/// names. Returns (staging index, target index) names.
async fn index_names(
    client: &Client,
    ep: &PgEndpoint,
    s: &Staging,
) -> Result<Vec<(String, String)>> {
    let rows = client
        .query(
            "SELECT i.indrelid = $1, c.relname::text,
                    i.indisprimary::text || i.indisunique::text ||
                    substr(pg_get_indexdef(i.indexrelid), strpos(pg_get_indexdef(i.indexrelid), ' USING '))
               FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE i.indrelid IN ($1, to_regclass($2::text))
              ORDER BY i.indexrelid",
            &[&s.target_oid, &s.quoted],
        )
        .await
        .map_err(|e| map_err(&ep.display, "reading the index names (swap)", e))?;
    let mut originals: Vec<(String, String)> = Vec::new();
    let mut staged: Vec<(String, String)> = Vec::new();
    for r in &rows {
        let of_target: bool = r.get(0);
        let entry = (r.get::<_, String>(2), r.get::<_, String>(1));
        if of_target {
            originals.push(entry);
        } else {
            staged.push(entry);
        }
    }
    let mut pairs = Vec::new();
    for (def, name) in staged {
        if let Some(at) = originals.iter().position(|(d, _)| *d == def) {
            let (_, original) = originals.remove(at);
            pairs.push((name, original));
        }
    }
    Ok(pairs)
}

/// Takes ACCESS EXCLUSIVE on `quoted` in short attempts (each under a
/// savepoint, so a timed-out attempt does not abort the load's
/// transaction), pausing between them so readers queued behind an attempt
/// get through; after [`LOCK_PATIENCE_SECS`] it waits without a timeout.
async fn lock_patiently(
    client: &Client,
    ep: &PgEndpoint,
    quoted: &str,
) -> Result<(Instant, Duration)> {
    let asked = Instant::now();
    loop {
        let patient = asked.elapsed() >= Duration::from_secs(LOCK_PATIENCE_SECS);
        let timeout = if patient { 0 } else { LOCK_ATTEMPT_MS };
        let attempt = client
            .batch_execute(&format!(
                "SAVEPOINT ferry_swap_lock; SET LOCAL lock_timeout = {timeout}; \
                 LOCK TABLE {quoted} IN ACCESS EXCLUSIVE MODE"
            ))
            .await;
        match attempt {
            Ok(()) => {
                let locked = Instant::now();
                client
                    .batch_execute("RELEASE SAVEPOINT ferry_swap_lock; SET LOCAL lock_timeout = 0")
                    .await
                    .map_err(|e| map_err(&ep.display, "keeping the swap's lock", e))?;
                return Ok((locked, asked.elapsed()));
            }
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT ferry_swap_lock")
                    .await
                    .map_err(|e| map_err(&ep.display, "retrying the swap's lock", e))?;
                tokio::time::sleep(Duration::from_millis(LOCK_PAUSE_MS)).await;
            }
            Err(e) => {
                return Err(map_err(
                    &ep.display,
                    &format!("locking {quoted} for the swap"),
                    e,
                ));
            }
        }
    }
}

/// The report of a publish: `strategy` under `lock`, waited `waited`,
/// held from `locked` to now (just after the `COMMIT`).
pub(super) fn report(
    strategy: &str,
    note: Option<String>,
    lock: &str,
    blocks_readers: bool,
    timing: Option<(Instant, Duration)>,
) -> PublishReport {
    let (held, waited) = match timing {
        Some((locked, waited)) => (locked.elapsed(), waited),
        None => (Duration::ZERO, Duration::ZERO),
    };
    PublishReport {
        strategy: strategy.to_string(),
        note,
        lock: lock.to_string(),
        blocks_readers,
        lock_wait_ms: Some(waited.as_millis() as u64),
        lock_held_ms: held.as_millis() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_fit_the_identifier_limit_and_are_deterministic() {
        assert_eq!(helper_name(STAGING_PREFIX, "orders"), "_ferry_stg_orders");
        let long = "ü".repeat(40); // 80 bytes
        let a = helper_name(STAGING_PREFIX, &long);
        assert!(a.len() <= MAX_IDENT_BYTES, "{a}");
        assert_eq!(a, helper_name(STAGING_PREFIX, &long));
        assert_ne!(a, helper_name(STAGING_PREFIX, &format!("{long}x")));
        assert_ne!(
            helper_name(STAGING_PREFIX, "t"),
            helper_name(OLD_PREFIX, "t")
        );
    }
}
