//! The state store against real databases: every test runs on a SQLite file
//! and on a fresh PostgreSQL database (see `common`).
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::TestDb;
use ferry_core::ErrorKind;
use ferry_store::{
    Backend, CRASHED_BEFORE_COMMIT, NewRun, RunCounts, RunRecord, RunStatus, Store, Watermark,
};

fn wm(columns: &[&str], values: &[&str]) -> Watermark {
    Watermark {
        columns: columns.iter().map(|s| s.to_string()).collect(),
        values: values.iter().map(|s| s.to_string()).collect(),
    }
}

fn new_run(run_id: &str, task: &str, from: Option<Watermark>) -> NewRun {
    NewRun {
        run_id: run_id.into(),
        task: task.into(),
        mode: "incremental".into(),
        logical_time: None,
        window_start: None,
        window_end: None,
        watermark_from: from,
    }
}

/// `2026-11-25T06:40:00.123456Z`: 27 characters, six fraction digits, Z.
fn assert_stored_timestamp(t: &str) {
    assert_eq!(t.len(), 27, "{t}");
    assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{t}");
    chrono::DateTime::parse_from_rfc3339(t).unwrap_or_else(|e| panic!("{t}: {e}"));
}

/// How many migrations the crate embeds (one file each).
fn migration_count() -> String {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count()
        .to_string()
}

fn ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

// ---------------------------------------------------------------------------

async fn migrations_are_idempotent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let first = db.open().await;
    first
        .set_watermark("t", &wm(&["id"], &["7"]), true, None)
        .await
        .unwrap();
    // A second handle while the first is open, then a reopen after closing.
    let second = db.open().await;
    assert_eq!(
        second.watermark("t").await.unwrap().unwrap().watermark,
        wm(&["id"], &["7"])
    );
    if let Some(file) = db.sqlite_file() {
        // The file and its parent directories were created; WAL is on.
        assert!(file.exists());
        let mut wal = file.clone().into_os_string();
        wal.push("-wal");
        assert!(
            std::path::Path::new(&wal).exists(),
            "no WAL file next to {file:?}"
        );
        assert_eq!(
            db.raw_text("PRAGMA journal_mode").await.as_deref(),
            Some("wal")
        );
    }
    first.close().await;
    second.close().await;
    let third = db.open().await;
    assert!(third.watermark("t").await.unwrap().is_some());
    assert_eq!(
        db.raw_text("SELECT CAST(COUNT(*) AS TEXT) FROM _sqlx_migrations")
            .await
            .as_deref(),
        Some(migration_count().as_str()),
        "every migration applied once"
    );
    third.close().await;
}
both_backends!(migrations_idempotent, super::migrations_are_idempotent);

async fn concurrent_opens_of_a_new_store(backend: Backend) {
    // Several processes starting at once on a store nobody has opened yet:
    // all of them must end up with one migrated store.
    let db = TestDb::new(backend).await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let target = db.target.clone();
            tokio::spawn(async move { Store::open(&target).await })
        })
        .collect();
    let mut stores = Vec::new();
    for handle in opens {
        stores.push(handle.await.unwrap().unwrap());
    }
    for (i, store) in stores.iter().enumerate() {
        store
            .begin_run(&new_run(&format!("r{i}"), "t", None))
            .await
            .unwrap();
    }
    assert_eq!(stores[0].runs("t", 10).await.unwrap().len(), 4);
    assert_eq!(
        db.raw_text("SELECT CAST(COUNT(*) AS TEXT) FROM _sqlx_migrations")
            .await
            .as_deref(),
        Some(migration_count().as_str()),
        "every migration applied once"
    );
    for store in &stores {
        store.close().await;
    }
}
both_backends!(concurrent_opens, super::concurrent_opens_of_a_new_store);

async fn watermark_round_trip_keeps_exact_text(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    assert_eq!(store.watermark("orders").await.unwrap(), None);

    let exact = wm(
        &["updated_at", "amount", "name", "empty", "odd", "Größe 列"],
        &[
            "2026-11-25T06:40:00.123456Z",
            "-12345678901234567890123456789012345678.123456789012345678",
            "Zürich 東京 🚀 \u{0301}e",
            "",
            "quote \" backslash \\ newline \n tab \t nul-free",
            "1e-400",
        ],
    );
    store
        .set_watermark("orders", &exact, true, None)
        .await
        .unwrap();
    let saved = store.watermark("orders").await.unwrap().unwrap();
    assert_eq!(saved.watermark, exact);
    assert_eq!(saved.set_by, "user");
    assert_eq!(saved.run_id, None);
    assert_stored_timestamp(&saved.updated_at);

    // Upsert: a run replaces it.
    let next = wm(&["id"], &["99999999999999999999"]);
    store
        .set_watermark("orders", &next, false, Some("run-1"))
        .await
        .unwrap();
    let saved = store.watermark("orders").await.unwrap().unwrap();
    assert_eq!(saved.watermark, next);
    assert_eq!(saved.set_by, "run");
    assert_eq!(saved.run_id.as_deref(), Some("run-1"));

    // Other tasks are separate.
    assert_eq!(store.watermark("Orders").await.unwrap(), None);

    assert!(store.reset_watermark("orders").await.unwrap());
    assert_eq!(store.watermark("orders").await.unwrap(), None);
    assert!(!store.reset_watermark("orders").await.unwrap());

    // A malformed watermark is refused before any statement.
    let e = store
        .set_watermark("orders", &wm(&["a", "b"], &["1"]), true, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    store.close().await;
}
both_backends!(
    watermark_round_trip,
    super::watermark_round_trip_keeps_exact_text
);

async fn finish_run_saves_the_watermark_with_the_run(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    let from = wm(&["ts", "id"], &["2026-01-01T00:00:00.000001Z", "10"]);
    let to = wm(&["ts", "id"], &["2026-11-25T06:40:00.123456Z", "4711"]);

    let mut run = new_run("r1", "orders", Some(from.clone()));
    run.logical_time = Some("2026-11-25T07:40:00+01:00".into());
    run.window_start = Some("2026-11-24T06:40:00Z".into());
    run.window_end = Some("2026-11-25T06:40:00.5Z".into());
    store.begin_run(&run).await.unwrap();
    let r = store.run("r1").await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Running);
    assert_eq!(r.watermark_from.as_ref(), Some(&from));
    assert_eq!(
        r.logical_time.as_deref(),
        Some("2026-11-25T06:40:00.000000Z")
    );
    assert_eq!(
        r.window_start.as_deref(),
        Some("2026-11-24T06:40:00.000000Z")
    );
    assert_eq!(r.window_end.as_deref(), Some("2026-11-25T06:40:00.500000Z"));
    assert_stored_timestamp(&r.started_at);
    assert_eq!(r.finished_at, None);

    store.mark_publishing("r1", Some(&to)).await.unwrap();
    let r = store.run("r1").await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Publishing);
    assert_eq!(r.watermark_to.as_ref(), Some(&to));
    // Publishing alone does not move the watermark.
    assert_eq!(store.watermark("orders").await.unwrap(), None);

    let counts = RunCounts {
        rows_read: 5_000_000_000,
        rows_written: 4_999_999_990,
        rows_dirty: 10,
    };
    store
        .finish_run("r1", true, Some(counts), None)
        .await
        .unwrap();
    let r = store.run("r1").await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(
        (r.rows_read, r.rows_written, r.rows_dirty),
        (Some(5_000_000_000), Some(4_999_999_990), Some(10))
    );
    assert_eq!(r.error, None);
    let finished_at = r.finished_at.expect("finished_at");
    assert_stored_timestamp(&finished_at);
    let saved = store.watermark("orders").await.unwrap().unwrap();
    assert_eq!(saved.watermark, to);
    assert_eq!(saved.run_id.as_deref(), Some("r1"));
    assert_eq!(saved.set_by, "run");
    assert_eq!(saved.updated_at, finished_at);

    // A failed run carries a newer watermark_to but does not save it.
    store
        .begin_run(&new_run("r2", "orders", Some(to.clone())))
        .await
        .unwrap();
    store
        .mark_publishing(
            "r2",
            Some(&wm(&["ts", "id"], &["2027-01-01T00:00:00.000000Z", "9"])),
        )
        .await
        .unwrap();
    store
        .finish_run("r2", false, None, Some("sink: connection reset"))
        .await
        .unwrap();
    let r = store.run("r2").await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("sink: connection reset"));
    assert_eq!(
        (r.rows_read, r.rows_written, r.rows_dirty),
        (None, None, None)
    );
    assert_eq!(
        store.watermark("orders").await.unwrap().unwrap().watermark,
        to
    );

    // A successful run without a watermark_to leaves the watermark alone.
    store
        .begin_run(&new_run("r3", "orders", None))
        .await
        .unwrap();
    store.finish_run("r3", true, None, None).await.unwrap();
    assert_eq!(
        store
            .watermark("orders")
            .await
            .unwrap()
            .unwrap()
            .run_id
            .as_deref(),
        Some("r1")
    );

    // Atomicity: when saving the watermark fails, the run is not finished
    // either. Tamper with r4's watermark_to so it cannot be decoded.
    store
        .begin_run(&new_run("r4", "orders", None))
        .await
        .unwrap();
    store
        .mark_publishing("r4", Some(&wm(&["id"], &["5000"])))
        .await
        .unwrap();
    db.raw_exec("UPDATE ferry_runs SET watermark_to = 'not json' WHERE run_id = 'r4'")
        .await;
    let e = store.finish_run("r4", true, None, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Internal, "{e}");
    let r = store.run("r4").await;
    assert!(r.is_err(), "r4's record is unreadable on purpose");
    assert_eq!(
        db.raw_text("SELECT status FROM ferry_runs WHERE run_id = 'r4'")
            .await
            .as_deref(),
        Some("publishing"),
        "the failed transaction must leave the run publishing"
    );
    assert_eq!(
        db.raw_text(
            "SELECT finished_at FROM ferry_runs WHERE run_id = 'r4' AND finished_at IS NOT NULL"
        )
        .await,
        None
    );
    assert_eq!(
        store.watermark("orders").await.unwrap().unwrap().watermark,
        to
    );

    // Status changes on finished or missing runs are refused.
    let e = store.finish_run("r1", true, None, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("succeeded"), "{e}");
    let e = store.mark_publishing("r2", None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    let e = store
        .finish_run("nope", true, None, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = store.mark_publishing("nope", None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    store.close().await;
}
both_backends!(
    finish_run_atomic,
    super::finish_run_saves_the_watermark_with_the_run
);

async fn publishing_runs_are_repaired_both_ways(backend: Backend) {
    let db = TestDb::new(backend).await;
    let saved = wm(&["id"], &["100"]);
    {
        let store = db.open().await;
        store
            .set_watermark("orders", &saved, false, Some("r0"))
            .await
            .unwrap();
        for id in ["committed", "lost"] {
            store
                .begin_run(&new_run(id, "orders", Some(saved.clone())))
                .await
                .unwrap();
        }
        store
            .mark_publishing("committed", Some(&wm(&["id"], &["200"])))
            .await
            .unwrap();
        store
            .mark_publishing("lost", Some(&wm(&["id"], &["300"])))
            .await
            .unwrap();
        store.close().await;
        // "Crash": neither run is finished.
    }
    let store = db.open().await;
    let unfinished = store.unfinished_runs("orders").await.unwrap();
    assert_eq!(ids(&unfinished), ["committed", "lost"]);
    assert!(unfinished.iter().all(|r| r.status == RunStatus::Publishing));

    // Only a publishing run can be resolved as committed.
    store
        .begin_run(&new_run("live", "orders", None))
        .await
        .unwrap();
    let e = store.resolve_publishing("live", true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");

    store.resolve_publishing("committed", true).await.unwrap();
    let r = store.run("committed").await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Succeeded);
    assert!(r.finished_at.is_some());
    assert_eq!(
        r.error.as_deref(),
        Some("repaired: the sink's checkpoint shows run `committed` committed")
    );
    let w = store.watermark("orders").await.unwrap().unwrap();
    assert_eq!(w.watermark, wm(&["id"], &["200"]));
    assert_eq!(w.run_id.as_deref(), Some("committed"));

    store.resolve_publishing("lost", false).await.unwrap();
    let r = store.run("lost").await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.error.as_deref(), Some(CRASHED_BEFORE_COMMIT));
    assert_eq!(
        store.watermark("orders").await.unwrap().unwrap().watermark,
        wm(&["id"], &["200"])
    );

    // A run left `running` can be resolved as not committed.
    store.resolve_publishing("live", false).await.unwrap();
    assert!(store.unfinished_runs("orders").await.unwrap().is_empty());
    // Resolving twice is refused; unknown runs are not found.
    let e = store.resolve_publishing("lost", false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    let e = store.resolve_publishing("nope", true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    store.close().await;
}
both_backends!(
    publishing_repair,
    super::publishing_runs_are_repaired_both_ways
);

async fn unfinished_runs_and_history_order(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    for id in ["r1", "r2", "r3", "r4"] {
        store.begin_run(&new_run(id, "t", None)).await.unwrap();
    }
    store
        .begin_run(&new_run("x1", "other", None))
        .await
        .unwrap();
    store.mark_publishing("r2", None).await.unwrap();
    store.finish_run("r3", true, None, None).await.unwrap();
    store
        .finish_run("r4", false, None, Some("boom"))
        .await
        .unwrap();

    let unfinished = store.unfinished_runs("t").await.unwrap();
    assert_eq!(ids(&unfinished), ["r1", "r2"]);
    assert_eq!(unfinished[0].status, RunStatus::Running);
    assert_eq!(unfinished[1].status, RunStatus::Publishing);

    assert_eq!(
        ids(&store.runs("t", 10).await.unwrap()),
        ["r4", "r3", "r2", "r1"]
    );
    assert_eq!(ids(&store.runs("t", 2).await.unwrap()), ["r4", "r3"]);
    assert!(store.runs("t", 0).await.unwrap().is_empty());
    assert_eq!(ids(&store.runs("other", 10).await.unwrap()), ["x1"]);
    assert!(store.runs("none", 10).await.unwrap().is_empty());
    assert!(store.run("none").await.unwrap().is_none());
    store.close().await;
}
both_backends!(unfinished_runs, super::unfinished_runs_and_history_order);

async fn two_handles_write_concurrently(backend: Backend) {
    const RUNS: usize = 50;
    let db = TestDb::new(backend).await;
    let a = db.open().await;
    let b = db.open().await;
    async fn writer(store: Store, prefix: &'static str) {
        for i in 0..RUNS {
            let id = format!("{prefix}-{i:02}");
            store
                .begin_run(&new_run(&id, "shared", None))
                .await
                .unwrap();
            store
                .mark_publishing(&id, Some(&wm(&["writer", "i"], &[prefix, &i.to_string()])))
                .await
                .unwrap();
            let counts = RunCounts {
                rows_read: i as u64,
                rows_written: i as u64,
                rows_dirty: 0,
            };
            store
                .finish_run(&id, true, Some(counts), None)
                .await
                .unwrap();
            if i % 10 == 0 {
                tokio::task::yield_now().await;
            }
        }
    }
    let ta = tokio::spawn(writer(a.clone(), "a"));
    let tb = tokio::spawn(writer(b.clone(), "b"));
    ta.await.unwrap();
    tb.await.unwrap();

    let runs = a.runs("shared", 1000).await.unwrap();
    assert_eq!(runs.len(), 2 * RUNS);
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
    let mut got: Vec<String> = runs.iter().map(|r| r.run_id.clone()).collect();
    got.sort();
    let mut want: Vec<String> = (0..RUNS)
        .flat_map(|i| [format!("a-{i:02}"), format!("b-{i:02}")])
        .collect();
    want.sort();
    assert_eq!(got, want);
    // The two writers really did interleave (newest-first history switches
    // between them more than once).
    let switches = runs
        .windows(2)
        .filter(|w| w[0].run_id[..1] != w[1].run_id[..1])
        .count();
    assert!(
        switches > 1,
        "writers ran one after the other: {:?}",
        ids(&runs)
    );
    // The watermark is the one saved by whichever run finished last.
    let w = b.watermark("shared").await.unwrap().unwrap();
    let last = w.run_id.clone().unwrap();
    let last_run = b.run(&last).await.unwrap().unwrap();
    assert_eq!(last_run.watermark_to, Some(w.watermark));
    assert_eq!(w.updated_at, last_run.finished_at.unwrap());
    assert!(a.unfinished_runs("shared").await.unwrap().is_empty());
    a.close().await;
    b.close().await;
}
both_backends!(concurrent_writers, super::two_handles_write_concurrently);

async fn duplicate_run_id_is_an_error(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;
    store.begin_run(&new_run("dup", "t", None)).await.unwrap();
    store.finish_run("dup", true, None, None).await.unwrap();
    let e = store
        .begin_run(&new_run("dup", "t2", None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("`dup` is already recorded"), "{e}");
    // The first run is untouched.
    let r = store.run("dup").await.unwrap().unwrap();
    assert_eq!((r.task.as_str(), r.status), ("t", RunStatus::Succeeded));

    // Bad input is refused before any statement.
    let mut bad = new_run("b1", "t", None);
    bad.logical_time = Some("yesterday".into());
    let e = store.begin_run(&bad).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("logical_time"), "{e}");
    let e = store.begin_run(&new_run("", "t", None)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(store.run("b1").await.unwrap().is_none());
    store.close().await;
}
both_backends!(duplicate_run_id, super::duplicate_run_id_is_an_error);

#[tokio::test]
async fn open_errors_name_the_store_without_its_password() {
    // Nothing listens on port 1.
    let e = Store::open("postgresql://ferry:s3cret@127.0.0.1:1/state")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains("s3cret"), "{msg}");
    assert!(
        msg.contains("postgresql://ferry:***@127.0.0.1:1/state"),
        "{msg}"
    );
    assert_eq!(e.kind(), ErrorKind::Transient, "{msg}");

    let e = Store::open("mysql://h/db").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    let e = Store::open("sqlite::memory:").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
}
