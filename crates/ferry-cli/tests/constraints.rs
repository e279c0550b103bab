//! Constraint violations at the sink, end to end through `ferry run`: a row
//! the target refuses — a duplicate key against its existing rows or within
//! the input, a NULL into NOT NULL, a failed CHECK — becomes one dirty row
//! with reason `constraint`, its key and the server's message, while every
//! other row of its batch and segment is written; counts are exact. A crossed
//! threshold, or a task without a dirty policy, fails the run with the
//! target unchanged.
//!
//! The same 5,000-row PostgreSQL source goes into PostgreSQL, MariaDB and
//! SQLite targets that carry a primary key, a NOT NULL and a CHECK. Batches
//! are small (64 KiB, about 18 of them), so the bad rows are spread over
//! many batches and several of the sinks' segments.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::PathBuf;

const ROWS: i64 = 5000;
const HALF: i64 = ROWS / 2;
/// Rows already in the target: ids 100001..=100050.
const EXISTING: i64 = 50;
/// Bad rows by `g % 100`: an id that the target already holds (append only).
const DUP_EXISTING: i64 = 7;
/// ... the id of the row just before it (the earlier row is kept).
const DUP_INPUT: i64 = 37;
/// ... in the second half of the input only: the id of the row 2,500 rows
/// earlier, in an earlier segment already stored (that row is kept).
const DUP_EARLIER: i64 = 91;
/// ... a NULL name (NOT NULL).
const NULL_NAME: i64 = 59;
/// ... a negative qty (CHECK qty_nonneg).
const CHECK_QTY: i64 = 83;

/// The source: no key (it holds duplicate ids); rows in `g` order.
async fn make_source(src: &str) {
    pg_exec(&format!(
        "CREATE TABLE {src} (g bigint, id bigint, name text, qty int, note text);
         INSERT INTO {src}
         SELECT g,
                CASE g % 100 WHEN {DUP_EXISTING} THEN 100000 + g / 100 + 1
                             WHEN {DUP_INPUT} THEN g - 1
                             WHEN {DUP_EARLIER} THEN CASE WHEN g > {HALF} THEN g - {HALF} ELSE g END
                             ELSE g END,
                CASE WHEN g % 100 = {NULL_NAME} THEN NULL ELSE 'name ' || g END,
                CASE WHEN g % 100 = {CHECK_QTY} THEN -g ELSE g % 1000 END,
                repeat('n', 150 + (g % 100)::int) || ' ' || g
           FROM generate_series(1, {ROWS}) g;"
    ))
    .await;
}

#[derive(Debug, Clone)]
enum Target {
    Pg(String),
    My(String),
    Lite(PathBuf, String),
}

impl Target {
    fn pg() -> Self {
        Target::Pg(unique("c_dst"))
    }
    fn my() -> Self {
        Target::My(unique("c_dst"))
    }
    fn lite() -> Self {
        let path = scratch_dir().join(format!("{}.db", unique("c")));
        Target::Lite(path, unique("c_dst"))
    }

    fn table(&self) -> &str {
        match self {
            Target::Pg(t) | Target::My(t) | Target::Lite(_, t) => t,
        }
    }

    /// Creates the target with a key, a NOT NULL and a CHECK, holding `EXISTING` rows.
    async fn create(&self) {
        let t = self.table();
        let existing: Vec<String> = (1..=EXISTING)
            .map(|k| format!("({}, {}, 'old {k}', 1, 'old')", -k, 100_000 + k))
            .collect();
        let insert = format!(
            "INSERT INTO {} (g, id, name, qty, note) VALUES {}",
            self.quoted(),
            existing.join(", ")
        );
        match self {
            Target::Pg(_) => {
                pg_exec(&format!(
                    "CREATE TABLE {t} (g bigint, id bigint CONSTRAINT {t}_pk PRIMARY KEY,
                        name text NOT NULL, qty int CONSTRAINT qty_nonneg CHECK (qty >= 0), note text);
                     {insert};"
                ))
                .await
            }
            Target::My(_) => {
                my_exec(&format!(
                    "CREATE TABLE `{t}` (g bigint, id bigint PRIMARY KEY, name text NOT NULL,
                        qty int, note text, CONSTRAINT qty_nonneg CHECK (qty >= 0)) ENGINE=InnoDB"
                ))
                .await;
                my_exec(&insert).await;
            }
            Target::Lite(path, _) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch(&format!(
                    "CREATE TABLE \"{t}\" (g INTEGER, id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                        qty INT CONSTRAINT qty_nonneg CHECK (qty >= 0), note TEXT);
                     {insert};"
                ))
                .unwrap();
            }
        }
    }

    fn quoted(&self) -> String {
        match self {
            Target::Pg(t) => t.clone(),
            Target::My(t) => format!("`{t}`"),
            Target::Lite(_, t) => format!("\"{t}\""),
        }
    }

    fn endpoint(&self) -> String {
        match self {
            Target::Pg(t) => pg_endpoint(t),
            Target::My(t) => my_endpoint(t),
            Target::Lite(path, t) => sqlite_endpoint(path, t),
        }
    }

    /// Count and checksum of the target's rows (`g|id|name|qty|note`).
    async fn digest(&self) -> Digest256 {
        let q = self.quoted();
        match self {
            Target::Pg(_) => {
                pg_digest(&format!(
                    "SELECT concat_ws('|', g, id, name, qty, note) FROM {q}"
                ))
                .await
            }
            Target::My(_) => {
                my_digest(&format!(
                    "SELECT concat_ws('|', g, id, name, qty, note) FROM {q}"
                ))
                .await
            }
            Target::Lite(path, _) => sqlite_digest(
                path,
                &format!(
                    "SELECT g || '|' || id || '|' || name || '|' || qty || '|' || note FROM {q}"
                ),
            ),
        }
    }

    /// What the server's message for a duplicate key says.
    fn duplicate_words(&self) -> Vec<String> {
        match self {
            Target::Pg(t) => vec![format!("\"{t}_pk\""), "duplicate key".into()],
            Target::My(_) => vec!["Duplicate entry".into(), "'PRIMARY'".into()],
            Target::Lite(_, t) => vec![format!("UNIQUE constraint failed: {t}.id")],
        }
    }

    /// What the server's message for a NULL name says.
    fn not_null_words(&self) -> Vec<String> {
        match self {
            Target::Pg(_) => vec!["\"name\"".into(), "not-null constraint".into()],
            Target::My(_) => vec!["'name'".into(), "NOT NULL".into()],
            Target::Lite(_, t) => vec![format!("NOT NULL constraint failed: {t}.name")],
        }
    }
}

/// The rows the target must hold: its old rows (append) and the good source rows.
async fn expected(src: &str, bad: &[i64], keep_existing: bool) -> Digest256 {
    let bad: Vec<String> = bad.iter().map(i64::to_string).collect();
    let existing = if keep_existing {
        format!(
            "UNION ALL SELECT concat_ws('|', -k, 100000 + k, 'old ' || k, 1, 'old')
               FROM generate_series(1, {EXISTING}) k"
        )
    } else {
        String::new()
    };
    pg_digest(&format!(
        "SELECT concat_ws('|', g, id, name, qty, note) FROM {src}
          WHERE NOT (g % 100 IN ({}) OR (g % 100 = {DUP_EARLIER} AND g > {HALF})) {existing}",
        bad.join(", ")
    ))
    .await
}

/// One reader, one split: rows reach the sink in `g` order, in 64 KiB batches.
fn job(src: &str, target: &Target, mode: &str, dirty: &str) -> String {
    format!(
        "name: constraints\nsource: {}\nsink: {}\nmode: {mode}\n\
         engine: {{parallelism: 1, splits_per_reader: 1, min_rows_per_split: 100000, batch_bytes: 65536}}\n{dirty}",
        pg_endpoint(src),
        target.endpoint()
    )
}

fn dirty_policy(max_rows: u64, path: &std::path::Path) -> String {
    format!(
        "dirty: {{max_rows: {max_rows}, sink: {{type: jsonl, path: \"{}\"}}}}\n",
        path.display()
    )
}

fn field(r: &serde_json::Value, name: &str) -> i64 {
    r["row"][name]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer {name} in {r}"))
}

/// Every record is a constraint rejection of a bad row, with its key as
/// position, the column and a message naming the constraint; returns the
/// `g` of every record.
fn check_records(recs: &[serde_json::Value], target: &Target) -> BTreeSet<i64> {
    let mut seen = BTreeSet::new();
    for r in recs {
        let (g, id) = (field(r, "g"), field(r, "id"));
        assert_eq!(r["reason"], "constraint", "{r}");
        assert_eq!(r["task"], "constraints", "{r}");
        assert_eq!(r["position"], format!("id={id}"), "{r}");
        let message = r["message"].as_str().unwrap();
        let (column, words) = match g % 100 {
            DUP_EXISTING => {
                assert_eq!(id, 100_000 + g / 100 + 1, "{r}");
                ("id", target.duplicate_words())
            }
            DUP_INPUT => {
                assert_eq!(id, g - 1, "{r}");
                ("id", target.duplicate_words())
            }
            DUP_EARLIER => {
                assert_eq!(id, g - HALF, "{r}");
                ("id", target.duplicate_words())
            }
            NULL_NAME => {
                assert!(r["row"]["name"].is_null(), "{r}");
                ("name", target.not_null_words())
            }
            CHECK_QTY => ("", vec!["qty_nonneg".to_string()]),
            _ => panic!("a good row was rejected: {r}"),
        };
        for w in &words {
            assert!(message.contains(w.as_str()), "{w:?} not in {r}");
        }
        if !column.is_empty() {
            assert_eq!(r["column"], column, "{r}");
        }
        assert!(seen.insert(g), "row g={g} recorded twice");
    }
    seen
}

/// The bad rows of `classes`, and the rows that repeat an earlier segment's id.
fn bad_rows(classes: &[i64]) -> BTreeSet<i64> {
    (1..=ROWS)
        .filter(|g| classes.contains(&(g % 100)) || (g % 100 == DUP_EARLIER && *g > HALF))
        .collect()
}

async fn bad_rows_become_dirty_and_the_rest_arrives(target: Target, mode: &str) {
    let src = unique("c_src");
    make_source(&src).await;
    target.create().await;
    let append = mode == "full_append";
    let classes: Vec<i64> = if append {
        vec![DUP_EXISTING, DUP_INPUT, NULL_NAME, CHECK_QTY]
    } else {
        vec![DUP_INPUT, NULL_NAME, CHECK_QTY]
    };
    let bad = bad_rows(&classes);
    let path = scratch_dir().join(format!("{}.jsonl", unique("dirty")));
    let v = run_ok(&job(&src, &target, mode, &dirty_policy(1000, &path)));
    let n = |k: &str| v[k].as_u64().unwrap();
    let good = ROWS as u64 - bad.len() as u64;
    assert_eq!(
        (
            n("rows_read"),
            n("rows_dirty"),
            n("rows_written"),
            n("rows_committed")
        ),
        (ROWS as u64, bad.len() as u64, good, good),
        "{v}"
    );
    let recs = records(&path);
    assert_eq!(recs.len(), bad.len());
    assert!(recs.iter().all(|r| r["run_id"] == v["run_id"]));
    assert_eq!(check_records(&recs, &target), bad);
    assert_eq!(
        target.digest().await,
        expected(&src, &classes, append).await,
        "target content"
    );
}

async fn crossing_max_rows_keeps_the_target(target: Target) {
    let src = unique("c_src");
    make_source(&src).await;
    target.create().await;
    let before = target.digest().await;
    let path = scratch_dir().join(format!("{}.jsonl", unique("dirty")));
    let err = run_err(&job(&src, &target, "full_append", &dirty_policy(60, &path)));
    assert!(err.contains("exceed dirty.max_rows = 60"), "{err}");
    assert_eq!(target.digest().await, before, "target changed");
    let recs = records(&path);
    assert_eq!(recs.len(), 61, "the dirty rows seen are on record");
    let seen = check_records(&recs, &target);
    // Rows reach the sink in g order: the first 61 bad rows.
    let first: BTreeSet<i64> = bad_rows(&[DUP_EXISTING, DUP_INPUT, NULL_NAME, CHECK_QTY])
        .into_iter()
        .take(61)
        .collect();
    assert_eq!(seen, first);
}

async fn without_a_policy_the_first_violation_fails_naming_it(target: Target) {
    let src = unique("c_src");
    make_source(&src).await;
    target.create().await;
    let before = target.digest().await;
    let err = run_err(&job(&src, &target, "full_append", ""));
    // The first bad row (g = 7) repeats the key of an existing row; but
    // PostgreSQL's COPY checks unique keys when it flushes its buffer of
    // rows, after the NOT NULL of a later row (g = 59) may have failed.
    let named = |words: Vec<String>| words.iter().all(|w| err.contains(w.as_str()));
    let names_the_first = match target {
        Target::Pg(_) => named(target.duplicate_words()) || named(target.not_null_words()),
        _ => named(target.duplicate_words()),
    };
    assert!(
        names_the_first,
        "the error names no violated constraint: {err}"
    );
    assert_eq!(target.digest().await, before, "target changed");
}

#[tokio::test]
async fn postgres_isolates_refused_rows_in_append() {
    bad_rows_become_dirty_and_the_rest_arrives(Target::pg(), "full_append").await;
}

#[tokio::test]
async fn postgres_isolates_refused_rows_in_overwrite() {
    bad_rows_become_dirty_and_the_rest_arrives(Target::pg(), "full_overwrite").await;
}

#[tokio::test]
async fn postgres_crossing_max_rows_keeps_the_target() {
    crossing_max_rows_keeps_the_target(Target::pg()).await;
}

#[tokio::test]
async fn postgres_without_a_policy_fails_naming_the_constraint() {
    without_a_policy_the_first_violation_fails_naming_it(Target::pg()).await;
}

#[tokio::test]
async fn mariadb_isolates_refused_rows_in_append() {
    bad_rows_become_dirty_and_the_rest_arrives(Target::my(), "full_append").await;
}

/// The overwrite loads a staging table made `LIKE` the target: it must
/// carry the key, NOT NULL and CHECK, or the bad rows would get through.
#[tokio::test]
async fn mariadb_isolates_refused_rows_in_overwrite_staging() {
    bad_rows_become_dirty_and_the_rest_arrives(Target::my(), "full_overwrite").await;
}

#[tokio::test]
async fn mariadb_crossing_max_rows_keeps_the_target() {
    crossing_max_rows_keeps_the_target(Target::my()).await;
}

#[tokio::test]
async fn mariadb_without_a_policy_fails_naming_the_constraint() {
    without_a_policy_the_first_violation_fails_naming_it(Target::my()).await;
}

#[tokio::test]
async fn sqlite_isolates_refused_rows_in_append() {
    bad_rows_become_dirty_and_the_rest_arrives(Target::lite(), "full_append").await;
}

#[tokio::test]
async fn sqlite_isolates_refused_rows_in_overwrite() {
    bad_rows_become_dirty_and_the_rest_arrives(Target::lite(), "full_overwrite").await;
}

#[tokio::test]
async fn sqlite_crossing_max_rows_keeps_the_target() {
    crossing_max_rows_keeps_the_target(Target::lite()).await;
}

#[tokio::test]
async fn sqlite_without_a_policy_fails_naming_the_constraint() {
    without_a_policy_the_first_violation_fails_naming_it(Target::lite()).await;
}

/// A deferred foreign key fires at COMMIT unless the sink makes it
/// immediate; then its violations are isolated like any other (the server
/// names no row, so the search is a plain bisection).
#[tokio::test]
async fn postgres_isolates_deferred_foreign_key_violations() {
    let (parent, src, dst) = (unique("c_par"), unique("c_fsrc"), unique("c_child"));
    pg_exec(&format!(
        "CREATE TABLE {parent} (id int PRIMARY KEY);
         INSERT INTO {parent} SELECT generate_series(1, 100);
         CREATE TABLE {dst} (id int PRIMARY KEY,
             pid int CONSTRAINT {dst}_fk REFERENCES {parent} DEFERRABLE INITIALLY DEFERRED);
         CREATE TABLE {src} (id int PRIMARY KEY, pid int);
         INSERT INTO {src}
         SELECT g, CASE WHEN g % 50 = 0 THEN 1000 + g ELSE g % 100 + 1 END
           FROM generate_series(1, 2000) g;"
    ))
    .await;
    let path = scratch_dir().join(format!("{}.jsonl", unique("dirty")));
    let v = run_ok(&format!(
        "name: constraints\nsource: {}\nsink: {}\nmode: full_append\n\
         engine: {{parallelism: 1, splits_per_reader: 1, min_rows_per_split: 100000, batch_bytes: 65536}}\n{}",
        pg_endpoint(&src),
        pg_endpoint(&dst),
        dirty_policy(100, &path)
    ));
    assert_eq!(
        (v["rows_dirty"].as_u64(), v["rows_committed"].as_u64()),
        (Some(40), Some(1960)),
        "{v}"
    );
    let recs = records(&path);
    let ids: BTreeSet<i64> = recs.iter().map(|r| field(r, "id")).collect();
    assert_eq!(ids, (1..=2000).filter(|g| g % 50 == 0).collect());
    for r in &recs {
        assert_eq!(r["reason"], "constraint", "{r}");
        assert_eq!(r["column"], "pid", "{r}");
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .contains(&format!("\"{dst}_fk\"")),
            "{r}"
        );
    }
    let canon = |t: &str, filter: &str| format!("SELECT concat_ws('|', id, pid) FROM {t} {filter}");
    assert_eq!(
        pg_digest(&canon(&dst, "")).await,
        pg_digest(&canon(&src, "WHERE id % 50 <> 0")).await
    );
}
