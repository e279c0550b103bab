//! The conformance suite: every column type's test values (NULLs, extremes,
//! unicode, 1 MB values, float specials; `ferry_testkit::conformance`)
//! through every source × sink pair of PostgreSQL, MariaDB, SQLite and
//! Parquet files (a local directory), on the real servers, through the real
//! engine:
//!
//! ```text
//!  memory ──seed──▶ S ──run──▶ D ──rerun (existing target)──▶ D
//!                   │ read back      │ read back              │ read back
//!                   ▼                ▼                        ▼
//!          every value equal to what was sent, or its row in dirty data
//!          with the reason the matrix below expects — nothing else passes
//! ```
//!
//! The test prints the matrix: per (type, source, sink) cell, whether every
//! value arrived exactly, and the list of values routed to dirty data by
//! design, with the reason. Plus, per connector: empty input and
//! cancellation (target unchanged).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use ferry_core::connector::ReadOptions;
use ferry_core::spec::TaskSpec;
use ferry_core::{ColumnType, Rejects, Source, ValidatedTask};
use ferry_engine::{RunSummary, execute};
use ferry_testkit::conformance::compare::rows_by_id;
use ferry_testkit::conformance::memory::MemorySource;
use ferry_testkit::conformance::values::{Case, case};
use ferry_testkit::{mysql_url, pg_url, scratch_dir, unique};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Every connector in the suite; the lake connectors behind Cargo features
/// (`delta`, `iceberg`) when this build has them (`scripts/test.sh` builds them all,
/// and the published matrix is theirs).
fn kinds() -> Vec<&'static str> {
    let mut kinds = vec!["postgres", "mysql", "sqlite", "files"];
    for lake in ["delta", "iceberg"] {
        if ferry_connectors::find("", lake).is_ok() {
            kinds.push(lake);
        }
    }
    kinds
}

/// Whether this build has every connector of the published matrix.
fn full_build() -> bool {
    kinds().len() == 6
}

/// The values a sink cannot hold and routes to dirty data, by design:
/// `(type, row label, sink) → reason`.
fn expected_dirty(ty: &ColumnType, label: &str, sink: &str) -> Option<&'static str> {
    use ColumnType as T;
    match (ty, label, sink) {
        // MariaDB's FLOAT/DOUBLE have no NaN or infinities.
        (T::Float32 | T::Float64, "NaN" | "+Inf" | "-Inf", "mysql") => Some("conversion"),
        // SQLite stores a NaN REAL as NULL.
        (T::Float32 | T::Float64, "NaN", "sqlite") => Some("conversion"),
        // MariaDB's UUID type refuses some values that are not RFC 4122
        // (here version 0xe with variant 0b0011): the server says which.
        (T::Uuid, "random", "mysql") => Some("conversion"),
        _ => None,
    }
}

/// Runs a sink refuses before writing anything, by design: `(type, sink)`
/// → a part of the error.
fn expected_refusal(ty: &ColumnType, sink: &str) -> Option<&'static str> {
    use ColumnType as T;
    match (ty, sink) {
        // Parquet's INTERVAL holds months, days and milliseconds only.
        (T::Interval, "files") => Some("Parquet has no interval"),
        (T::List(e), "files") if **e == T::Interval => Some("Parquet has no interval"),
        (T::Interval, "delta") => Some("Delta has no interval"),
        (T::List(e), "delta") if **e == T::Interval => Some("Delta has no interval"),
        (T::Interval, "iceberg") => Some("Iceberg has no interval"),
        (T::List(e), "iceberg") if **e == T::Interval => Some("Iceberg has no interval"),
        _ => None,
    }
}

/// One SQLite file per test (per test thread): the tests run in parallel,
/// and the cancellation test holds a write transaction on its file for as
/// long as its endless source runs, which would lock out the others.
fn sqlite_path() -> PathBuf {
    thread_local! {
        static PATH: PathBuf = scratch_dir().join(format!("{}.db", unique("conformance")));
    }
    PATH.with(Clone::clone)
}

fn endpoint(kind: &str, table: &str) -> Value {
    match kind {
        "postgres" => json!({"type": "postgres", "url": pg_url(), "table": table}),
        "mysql" => json!({"type": "mysql", "url": mysql_url(), "table": table}),
        "files" => json!({"type": "files", "url": scratch_dir().join(table)}),
        "delta" => json!({"type": "delta", "url": scratch_dir().join(table)}),
        // A catalog per table: the tests write in parallel.
        "iceberg" => json!({
            "type": "iceberg",
            "catalog": {
                "uri": format!("sqlite://{}", scratch_dir().join(format!("{table}.db")).display()),
                "warehouse": scratch_dir().join("iceberg"),
            },
            "namespace": "conformance",
            "table": table,
        }),
        _ => json!({"type": "sqlite", "path": sqlite_path(), "table": table}),
    }
}

fn task(source: Value, sink: Value, dirty: &Path) -> ValidatedTask {
    let spec: TaskSpec = serde_json::from_value(json!({
        "name": "conformance",
        "source": source,
        "sink": sink,
        "mode": "full_overwrite",
        "dirty": {"max_rows": 100, "sink": {"type": "jsonl", "path": dirty}},
        "engine": {"parallelism": 2, "min_rows_per_split": 1, "batch_bytes": 262144}
    }))
    .unwrap();
    ferry_connectors::validate_local(&spec).unwrap()
}

/// Runs `source` into `sink_kind.table`; returns the summary (or the error
/// text) and the dirty records `id → reason`.
async fn run(
    source: &dyn Source,
    source_spec: Value,
    sink_kind: &str,
    table: &str,
    cancel: CancellationToken,
) -> (Result<RunSummary, String>, BTreeMap<i64, String>) {
    let dirty = scratch_dir().join(format!("{}.jsonl", unique("dirty")));
    let t = task(source_spec, endpoint(sink_kind, table), &dirty);
    let sink = t.sink.open().unwrap();
    let result = execute(&t, source, sink.as_ref(), None, None, cancel)
        .await
        .map_err(|e| e.to_string());
    let records = std::fs::read_to_string(&dirty)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            let id = r["position"].as_str().unwrap()["id=".len()..]
                .parse()
                .unwrap();
            (id, r["reason"].as_str().unwrap().to_string())
        })
        .collect();
    (result, records)
}

async fn read_back(kind: &str, table: &str) -> Vec<RecordBatch> {
    let spec: ferry_core::SourceSpec = serde_json::from_value(endpoint(kind, table)).unwrap();
    let source = ferry_connectors::open_source(&spec).unwrap();
    let schema = source.schema().await.unwrap();
    let options = ReadOptions {
        readers: 1,
        columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
        max_splits: 1,
        min_rows_per_split: u64::MAX,
        batch_bytes: 1 << 20,
        filter: Default::default(),
        params: Default::default(),
    };
    let session = source.open_read(&schema, &options).await.unwrap();
    let mut out = Vec::new();
    for split in session.splits().to_vec() {
        let mut stream = session
            .read_split(&split, &Rejects::strict())
            .await
            .unwrap();
        while let Some(b) = stream.next().await {
            out.push(b.unwrap());
        }
    }
    session.close().await.unwrap();
    out
}

/// Connectors whose float columns keep −0 as 0 (equal under IEEE
/// comparison; documented in the type matrix, not dirty data).
const ZERO_SIGN_LOST: [&str; 2] = ["mysql", "sqlite"];

/// What one (type, from, to) cell did.
#[derive(Default)]
struct Cell {
    rows_exact: usize,
    dirty: Vec<(String, String)>,
    notes: Vec<String>,
    failures: Vec<String>,
}

/// `−0` as `0` when a connector on the way does not keep the sign of zero.
fn zero_sign(rows: Vec<(i64, Option<String>)>, lost: bool) -> Vec<(i64, Option<String>)> {
    rows.into_iter()
        .map(|(id, v)| match v.as_deref() {
            Some("-0.0") if lost => (id, Some("0.0".into())),
            _ => (id, v),
        })
        .collect()
}

impl Cell {
    /// Checks `table` in `kind` against the case minus the `excluded` ids,
    /// and the dirty records of this hop against the expected ones; `path`
    /// is every connector the values went through.
    async fn check(
        &mut self,
        case: &Case,
        path: &[&str],
        table: &str,
        excluded: &BTreeMap<i64, String>,
        dirty: &BTreeMap<i64, String>,
    ) {
        let kind = *path.last().unwrap();
        let lost = path.iter().any(|k| ZERO_SIGN_LOST.contains(k));
        let sent = rows_by_id(&[case.batch("sent")], &case.ty);
        if lost && sent.iter().any(|(_, v)| v.as_deref() == Some("-0.0")) {
            self.notes.push("-0 stored as 0".into());
        }
        let sent = zero_sign(sent, lost);
        let got = zero_sign(rows_by_id(&read_back(kind, table).await, &case.ty), lost);
        let want: Vec<_> = sent
            .into_iter()
            .filter(|(id, _)| !excluded.contains_key(id) && !dirty.contains_key(id))
            .collect();
        if got == want {
            self.rows_exact = got.len();
        } else {
            let short = |v: &Vec<(i64, Option<String>)>| {
                v.iter()
                    .map(|(id, s)| {
                        let s = s.as_deref().unwrap_or("NULL");
                        format!("{id}:{}", &s[..s.len().min(40)])
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            self.failures.push(format!(
                "content differs: want [{}] got [{}]",
                short(&want),
                short(&got)
            ));
        }
        for (id, reason) in dirty {
            let label = case.label(*id);
            if expected_dirty(&case.ty, label, kind) != Some(reason.as_str()) {
                self.failures
                    .push(format!("unexpected dirty row `{label}` ({reason})"));
            }
            self.dirty.push((label.to_string(), reason.clone()));
        }
        for (id, label) in case.labels.iter().enumerate() {
            let id = id as i64 + 1;
            if expected_dirty(&case.ty, label, kind).is_some()
                && !excluded.contains_key(&id)
                && !dirty.contains_key(&id)
            {
                self.failures
                    .push(format!("`{label}` should have been routed to dirty data"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_through_every_source_and_sink() {
    let mut cells: Vec<(String, String, String, Cell)> = Vec::new();
    for ty in ColumnType::examples() {
        let case = case(&ty);
        for from in kinds() {
            // Seed the source table from memory, through the engine.
            let src_table = unique("cf_src");
            let memory = MemorySource::new(case.schema("memory"), vec![case.batch("memory")]);
            let memory_spec = endpoint("sqlite", "memory");
            let (res, seed_dirty) = run(
                &memory,
                memory_spec,
                from,
                &src_table,
                CancellationToken::new(),
            )
            .await;
            let mut seed = Cell::default();
            let mut refused = false;
            match res {
                Ok(_) => {
                    seed.check(&case, &[from], &src_table, &BTreeMap::new(), &seed_dirty)
                        .await
                }
                Err(e) => match expected_refusal(&ty, from) {
                    Some(why) if e.contains(why) => {
                        refused = true;
                        seed.notes.push(format!("refused: {why}"));
                    }
                    _ => seed.failures.push(format!("seed failed: {e}")),
                },
            }
            let seeded = seed.failures.is_empty() && !refused;
            cells.push((ty.to_string(), "memory".into(), from.into(), seed));
            if !seeded {
                continue;
            }
            for to in kinds() {
                let dst_table = unique("cf_dst");
                let source_spec = endpoint(from, &src_table);
                let spec: ferry_core::SourceSpec =
                    serde_json::from_value(source_spec.clone()).unwrap();
                let source = ferry_connectors::open_source(&spec).unwrap();
                let mut cell = Cell::default();
                // Twice: a new target, then the same run over the existing one.
                for attempt in ["first run", "rerun"] {
                    let (res, dirty) = run(
                        source.as_ref(),
                        source_spec.clone(),
                        to,
                        &dst_table,
                        CancellationToken::new(),
                    )
                    .await;
                    if let Err(e) = res {
                        match expected_refusal(&ty, to) {
                            Some(why) if e.contains(why) => {
                                cell.notes = vec![format!("refused: {why}")]
                            }
                            _ => cell.failures.push(format!("{attempt} failed: {e}")),
                        }
                        break;
                    }
                    let mut check = Cell::default();
                    check
                        .check(&case, &[from, to], &dst_table, &seed_dirty, &dirty)
                        .await;
                    cell.failures.extend(
                        check
                            .failures
                            .into_iter()
                            .map(|f| format!("{attempt}: {f}")),
                    );
                    cell.rows_exact = check.rows_exact;
                    cell.dirty = check.dirty;
                    cell.notes = check.notes;
                }
                cells.push((ty.to_string(), from.into(), to.into(), cell));
            }
        }
    }
    let report = report(&cells);
    println!("{report}");
    let failed: Vec<_> = cells.iter().filter(|c| !c.3.failures.is_empty()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} cells failed:\n{}",
        failed.len(),
        cells.len(),
        failed
            .iter()
            .map(|(t, f, d, c)| format!("  {t} {f} → {d}: {}", c.failures.join("; ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The published matrix is this test's output: regenerate it with
    // `FERRY_UPDATE_DOCS=1 cargo test -p ferry-engine --test conformance`.
    let doc =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/conformance-matrix.md");
    let text = format!(
        "<!-- Generated by crates/ferry-engine/tests/conformance.rs (FERRY_UPDATE_DOCS=1); do not edit by hand. -->\n{report}"
    );
    if std::env::var_os("FERRY_UPDATE_DOCS").is_some() {
        assert!(
            full_build(),
            "regenerate the matrix from a build with every connector: --features ferry-cli/lake"
        );
        std::fs::write(&doc, &text).unwrap();
    }
    if !full_build() {
        eprintln!("docs/conformance-matrix.md not compared: this build lacks a lake connector");
        return;
    }
    assert_eq!(
        std::fs::read_to_string(&doc).unwrap_or_default(),
        text,
        "docs/conformance-matrix.md is out of date: rerun with FERRY_UPDATE_DOCS=1"
    );
}

fn report(cells: &[(String, String, String, Cell)]) -> String {
    let mut out = String::from("\n# Conformance matrix (type, source → sink)\n\n");
    let exact = cells
        .iter()
        .filter(|c| c.3.failures.is_empty() && c.3.dirty.is_empty())
        .count();
    let with_dirty = cells
        .iter()
        .filter(|c| c.3.failures.is_empty() && !c.3.dirty.is_empty())
        .count();
    let failed = cells.len() - exact - with_dirty;
    out += &format!(
        "{} cells: {exact} round trip exactly, {with_dirty} round trip exactly except values routed to dirty data by design, {failed} failed\n\n",
        cells.len()
    );
    out += "| type | source → sink | rows exact | dirty by design (value: reason) | notes | failures |\n|---|---|---|---|---|---|\n";
    for (t, f, d, c) in cells {
        let dirty = c
            .dirty
            .iter()
            .map(|(l, r)| format!("{l}: {r}"))
            .collect::<Vec<_>>()
            .join(", ");
        out += &format!(
            "| `{t}` | {f} → {d} | {} | {dirty} | {} | {} |\n",
            c.rows_exact,
            c.notes.join(", "),
            c.failures.join("; ")
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_input_through_every_pair_creates_an_empty_target() {
    let case = case(&ColumnType::Int64);
    let empty = MemorySource::new(case.schema("memory"), vec![]);
    for from in kinds() {
        let src = unique("cf_empty_src");
        let (res, _) = run(
            &empty,
            endpoint("sqlite", "memory"),
            from,
            &src,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(res.unwrap().rows_committed, 0);
        assert!(
            read_back(from, &src)
                .await
                .iter()
                .all(|b| b.num_rows() == 0)
        );
        for to in kinds() {
            let dst = unique("cf_empty_dst");
            let spec: ferry_core::SourceSpec =
                serde_json::from_value(endpoint(from, &src)).unwrap();
            let source = ferry_connectors::open_source(&spec).unwrap();
            let (res, dirty) = run(
                source.as_ref(),
                endpoint(from, &src),
                to,
                &dst,
                CancellationToken::new(),
            )
            .await;
            let summary = res.unwrap_or_else(|e| panic!("{from} → {to}: {e}"));
            assert_eq!((summary.rows_read, summary.rows_committed), (0, 0));
            assert!(dirty.is_empty());
            let back = read_back(to, &dst).await;
            assert_eq!(back.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_leaves_every_sink_unchanged() {
    let case = case(&ColumnType::Text {
        max_chars: None,
        fixed: false,
    });
    // No key: the endless source repeats its ids.
    let mut schema = case.schema("memory");
    schema.primary_key.clear();
    for to in kinds() {
        let dst = unique("cf_cancel");
        let memory = MemorySource::new(schema.clone(), vec![case.batch("memory")]);
        let (res, _) = run(
            &memory,
            endpoint("sqlite", "memory"),
            to,
            &dst,
            CancellationToken::new(),
        )
        .await;
        res.unwrap();
        let before = rows_by_id(&read_back(to, &dst).await, &case.ty);
        // An endless, slow source: the run is busy writing when cancelled.
        let mut endless = MemorySource::new(schema.clone(), vec![case.batch("memory")]);
        endless.endless = true;
        endless.delay = Some(Duration::from_millis(5));
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            trigger.cancel();
        });
        let (res, _) = run(&endless, endpoint("sqlite", "memory"), to, &dst, cancel).await;
        let err = res.expect_err("cancelled");
        assert!(err.contains("stopped"), "{to}: {err}");
        let after = rows_by_id(&read_back(to, &dst).await, &case.ty);
        assert_eq!(before, after, "{to}: target changed by a cancelled run");
    }
}
