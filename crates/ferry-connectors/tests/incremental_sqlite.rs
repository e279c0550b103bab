//! Incremental and windowed reads, and merge/window/checkpoint writes, of
//! the SQLite connector against real database files in the temp directory.
//! Every check is by content: the rows read or stored, value by value.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Utc};
use ferry_connectors::sqlite::SqliteEndpoint;
use ferry_connectors::sqlite::{SqliteSink, SqliteSource};
use ferry_core::connector::{Checkpoint, ReadOptions, WriteSpec};
use ferry_core::pushdown::{CursorRange, PredicatePart, ReadFilter, SourcePredicate, WindowRange};
use ferry_core::spec::{CursorOffset, SyncMode, TableName};
use ferry_core::{ColumnDef, ColumnType, Error, ErrorKind, Rejects, Sink, Source, TableSchema};
use futures::{StreamExt, stream};

/// A database file in a scratch directory, removed (with its journals) on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let file = ferry_testkit::scratch_dir().join(format!("{}.db", ferry_testkit::unique(name)));
        TempDb(file)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn exec(&self, sql: &str) {
        rusqlite::Connection::open(&self.0)
            .unwrap()
            .execute_batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Every row of `sql`, each value as SQLite's text of it (`NULL` for NULL).
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let conn = rusqlite::Connection::open(&self.0).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                        rusqlite::types::Value::Null => "NULL".to_string(),
                        rusqlite::types::Value::Integer(v) => v.to_string(),
                        rusqlite::types::Value::Real(v) => format!("{v:?}"),
                        rusqlite::types::Value::Text(t) => t,
                        rusqlite::types::Value::Blob(b) => format!("{b:?}"),
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
    }

    fn source(&self, table: &str) -> SqliteSource {
        let (e, t) = endpoint(self.path(), table);
        SqliteSource::new(&e, &t).unwrap()
    }

    fn sink(&self, table: &str) -> SqliteSink {
        let (e, t) = endpoint(self.path(), table);
        SqliteSink::new(&e, &t).unwrap()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn endpoint(path: &Path, table: &str) -> (SqliteEndpoint, TableName) {
    let e = SqliteEndpoint {
        connection: None,
        path: path.to_path_buf(),
        table: table.into(),
    };
    (e, TableName::parse("table", table).unwrap())
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn cursor(columns: &[&str], cursor_len: usize, after: Option<&[&str]>) -> CursorRange {
    CursorRange {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        cursor_len,
        after: after.map(|a| a.iter().map(|v| v.to_string()).collect()),
        lag: None,
        auto_lag: false,
        lookback: None,
        nulls: false,
        xmin: false,
    }
}

fn by_cursor(c: CursorRange) -> ReadFilter {
    ReadFilter {
        cursor: Some(c),
        ..ReadFilter::default()
    }
}

/// Reads the table through the source with `filter`; returns the cursor's
/// high tuple and the rows, each value as Arrow's text of it, sorted.
async fn read(
    db: &TempDb,
    table: &str,
    filter: ReadFilter,
) -> Result<(Option<Vec<String>>, Vec<Vec<String>>), Error> {
    let source = db.source(table);
    let schema = source.schema().await?;
    let options = ReadOptions {
        readers: 1,
        columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
        max_splits: 4,
        min_rows_per_split: 1,
        batch_bytes: 1 << 20,
        filter,
        params: Default::default(),
    };
    let session = source.open_read(&schema, &options).await?;
    let high = session.cursor_high();
    let mut batches = Vec::new();
    for split in session.splits().to_vec() {
        let mut s = session.read_split(&split, &Rejects::strict()).await?;
        while let Some(b) = s.next().await {
            batches.push(b?);
        }
    }
    session.close().await?;
    Ok((high, texts(&batches)))
}

fn texts(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| {
                ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default().with_null("NULL"))
                    .unwrap()
            })
            .collect();
        for row in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(row).to_string()).collect());
        }
    }
    out.sort();
    out
}

/// The first column of each row.
fn firsts(rows: &[Vec<String>]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    v.sort_by_key(|x| x.parse::<i64>().unwrap_or(i64::MAX));
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn owned(v: &[&str]) -> Option<Vec<String>> {
    Some(strs(v))
}

/// `events(id, ts, v)`: ids 3–7 share one timestamp; 8 and 9 are 1 µs apart.
fn events(db: &TempDb) {
    db.exec(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, ts TIMESTAMP, v TEXT);
         INSERT INTO events VALUES
           (1, '2026-01-01 09:00:00.000000', 'a'),
           (2, '2026-01-01 09:30:00.000000', 'b'),
           (3, '2026-01-01 10:00:00.000000', 'c'),
           (4, '2026-01-01 10:00:00.000000', 'd'),
           (5, '2026-01-01 10:00:00.000000', 'e'),
           (6, '2026-01-01 10:00:00.000000', 'f'),
           (7, '2026-01-01 10:00:00.000000', 'g'),
           (8, '2026-01-01 10:00:20.000000', 'h'),
           (9, '2026-01-01 10:00:20.000001', 'i'),
           (10, '2026-01-01 10:01:00.000000', 'j'),
           (11, NULL, 'null cursor');",
    );
}

#[tokio::test]
async fn cursor_ties_read_exactly_the_rows_after_the_watermark() {
    let db = TempDb::new("ties");
    events(&db);
    // First run: every row with a cursor; high is the newest tuple.
    let (high, rows) = read(&db, "events", by_cursor(cursor(&["ts", "id"], 1, None)))
        .await
        .unwrap();
    assert_eq!(high, owned(&["2026-01-01 10:01:00.000000", "10"]));
    assert_eq!(
        firsts(&rows),
        strs(&["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"])
    );
    // The watermark falls in the middle of the five tied rows.
    let mark = ["2026-01-01 10:00:00.000000", "5"];
    let (high, rows) = read(
        &db,
        "events",
        by_cursor(cursor(&["ts", "id"], 1, Some(&mark))),
    )
    .await
    .unwrap();
    assert_eq!(firsts(&rows), strs(&["6", "7", "8", "9", "10"]));
    assert_eq!(high, owned(&["2026-01-01 10:01:00.000000", "10"]));
    assert_eq!(
        rows[0],
        strs(&["10", "2026-01-01T10:01:00", "j"]),
        "values are read whole"
    );
    // One microsecond apart: 9 is after 8.
    let mark = ["2026-01-01 10:00:20.000000", "8"];
    let (_, rows) = read(
        &db,
        "events",
        by_cursor(cursor(&["ts", "id"], 1, Some(&mark))),
    )
    .await
    .unwrap();
    assert_eq!(firsts(&rows), strs(&["9", "10"]));
    // Nothing past the newest row: no high, no rows.
    let mark = ["2026-01-01 10:01:00.000000", "10"];
    let (high, rows) = read(
        &db,
        "events",
        by_cursor(cursor(&["ts", "id"], 1, Some(&mark))),
    )
    .await
    .unwrap();
    assert_eq!((high, rows.len()), (None, 0));
}

#[tokio::test]
async fn null_cursors_are_read_only_when_asked() {
    let db = TempDb::new("nulls");
    events(&db);
    let mut c = cursor(&["ts", "id"], 1, Some(&["2026-01-01 10:00:20.000000", "8"]));
    let (_, rows) = read(&db, "events", by_cursor(c.clone())).await.unwrap();
    assert_eq!(firsts(&rows), strs(&["9", "10"]));
    c.nulls = true;
    let (_, rows) = read(&db, "events", by_cursor(c.clone())).await.unwrap();
    assert_eq!(firsts(&rows), strs(&["9", "10", "11"]));
    // No row past the watermark: only the NULL-cursor rows.
    c.after = owned(&["2026-01-01 10:01:00.000000", "10"]);
    let (high, rows) = read(&db, "events", by_cursor(c)).await.unwrap();
    assert_eq!(high, None);
    assert_eq!(firsts(&rows), strs(&["11"]));
}

#[tokio::test]
async fn lag_leaves_the_newest_rows_and_lookback_rereads_the_overlap() {
    let db = TempDb::new("lag");
    events(&db);
    // Newest 10:01:00, lag 30 s: up to 10:00:30.
    let mut c = cursor(&["ts", "id"], 1, Some(&["2026-01-01 09:30:00.000000", "2"]));
    c.lag = Some(CursorOffset::Micros(30_000_000));
    let (high, rows) = read(&db, "events", by_cursor(c)).await.unwrap();
    assert_eq!(high, owned(&["2026-01-01 10:00:20.000001", "9"]));
    assert_eq!(firsts(&rows), strs(&["3", "4", "5", "6", "7", "8", "9"]));
    // A lag wider than the data: nothing yet.
    let mut c = cursor(&["ts", "id"], 1, None);
    c.lag = Some(CursorOffset::Micros(2 * 3_600_000_000));
    let (high, rows) = read(&db, "events", by_cursor(c)).await.unwrap();
    assert_eq!(high, None);
    assert!(rows.is_empty());
    // Lookback 30 s from 10:00:20: 09:59:50 and later, up to the newest.
    let mut c = cursor(&["ts", "id"], 1, Some(&["2026-01-01 10:00:20.000000", "8"]));
    c.lookback = Some(CursorOffset::Micros(30_000_000));
    let (high, rows) = read(&db, "events", by_cursor(c)).await.unwrap();
    assert_eq!(high, owned(&["2026-01-01 10:01:00.000000", "10"]));
    assert_eq!(
        firsts(&rows),
        strs(&["3", "4", "5", "6", "7", "8", "9", "10"])
    );
}

#[tokio::test]
async fn numeric_cursors_compare_as_numbers_exactly() {
    let db = TempDb::new("numbers");
    db.exec(
        "CREATE TABLE n (id INTEGER PRIMARY KEY, amount DECIMAL(10,2), x REAL, big DECIMAL_TEXT(30,2));
         INSERT INTO n VALUES (1, 9.5, 0.3, '9.50'), (2, 10.25, 0.1 + 0.2, '10.25'),
                              (3, 10.3, 1.5, '100.00'), (4, 100, 2.0, '2.00');",
    );
    // 10.25 > 9.5 numerically (as text '10.25' < '9.5').
    let (high, rows) = read(&db, "n", by_cursor(cursor(&["amount"], 1, Some(&["9.5"]))))
        .await
        .unwrap();
    assert_eq!(firsts(&rows), strs(&["2", "3", "4"]));
    assert_eq!(high, owned(&["100"]));
    // A REAL's watermark is its exact shortest text: 0.1 + 0.2 is after 0.3.
    let (high, rows) = read(&db, "n", by_cursor(cursor(&["x", "id"], 1, None)))
        .await
        .unwrap();
    assert_eq!(high, owned(&["2.0", "4"]));
    assert_eq!(rows.len(), 4);
    let (_, rows) = read(&db, "n", by_cursor(cursor(&["x"], 1, Some(&["0.3"]))))
        .await
        .unwrap();
    assert_eq!(firsts(&rows), strs(&["2", "3", "4"]));
    let (_, rows) = read(
        &db,
        "n",
        by_cursor(cursor(&["x"], 1, Some(&["0.30000000000000004"]))),
    )
    .await
    .unwrap();
    assert_eq!(firsts(&rows), strs(&["3", "4"]));
    // Units lag on a number: newest 100 − 90 = 10.
    let mut c = cursor(&["amount"], 1, None);
    c.lag = Some(CursorOffset::Units(90));
    let (high, rows) = read(&db, "n", by_cursor(c)).await.unwrap();
    assert_eq!((high, firsts(&rows)), (owned(&["9.5"]), strs(&["1"])));
    // Decimals stored as text do not sort as numbers: refused, naming the option.
    let e = read(&db, "n", by_cursor(cursor(&["big"], 1, None)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("incremental.cursor[0]"), "{e}");
}

#[tokio::test]
async fn bound_values_cannot_inject() {
    let db = TempDb::new("inject");
    db.exec(
        "CREATE TABLE s (k TEXT PRIMARY KEY, v INTEGER);
         INSERT INTO s VALUES ('a', 1), ('b''c', 2), ('x'' OR ''1''=''1', 3), ('z', 4);",
    );
    // The watermark is bound: it compares as the text it is.
    let (high, rows) = read(&db, "s", by_cursor(cursor(&["k"], 1, Some(&["b'c"]))))
        .await
        .unwrap();
    assert_eq!(firsts(&rows), strs(&["x' OR '1'='1", "z"]));
    assert_eq!(high, owned(&["z"]));
    let (_, rows) = read(
        &db,
        "s",
        by_cursor(cursor(&["k"], 1, Some(&["x' OR '1'='1"]))),
    )
    .await
    .unwrap();
    assert_eq!(firsts(&rows), strs(&["z"]));
}

#[tokio::test]
async fn windows_and_predicates_read_their_rows() {
    let db = TempDb::new("window");
    events(&db);
    db.exec(
        "CREATE TABLE days (id INTEGER PRIMARY KEY, d DATE);
         INSERT INTO days VALUES (1, '2026-01-01'), (2, '2026-01-02'), (3, '2026-01-03'), (4, '2026-01-04');",
    );
    let window = |col: &str, s: &str, e: &str| ReadFilter {
        window: Some(WindowRange {
            column: col.into(),
            start: at(s),
            end: at(e),
        }),
        ..ReadFilter::default()
    };
    let (_, rows) = read(
        &db,
        "events",
        window("ts", "2026-01-01T10:00:00Z", "2026-01-01T10:00:20.000001Z"),
    )
    .await
    .unwrap();
    assert_eq!(firsts(&rows), strs(&["3", "4", "5", "6", "7", "8"]));
    // A date is in the window when its midnight is.
    let (_, rows) = read(
        &db,
        "days",
        window("d", "2026-01-01T12:00:00Z", "2026-01-03T00:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(firsts(&rows), strs(&["2"]));
    // A source_filter: parameters bound as UTC text, then the cursor on top.
    let filter = ReadFilter {
        predicate: Some(SourcePredicate {
            parts: vec![
                PredicatePart::Sql("ts < ".into()),
                PredicatePart::Param(at("2026-01-01T10:00:20Z")),
                PredicatePart::Sql(" AND v <> 'it''s'".into()),
            ],
        }),
        cursor: Some(cursor(
            &["ts", "id"],
            1,
            Some(&["2026-01-01 10:00:00.000000", "6"]),
        )),
        ..ReadFilter::default()
    };
    let (high, rows) = read(&db, "events", filter).await.unwrap();
    assert_eq!(firsts(&rows), strs(&["7"]));
    assert_eq!(high, owned(&["2026-01-01 10:00:00.000000", "7"]));
}

// ---------------------------------------------------------------- writes

fn target_schema(with_del: bool) -> TableSchema {
    let col = |name: &str, ty: ColumnType, nullable: bool| ColumnDef {
        name: name.into(),
        native_type: ty.to_string(),
        dialect: None,
        ty,
        nullable,
    };
    let mut columns = vec![
        col("id", ColumnType::Int64, false),
        col("ts", ColumnType::Timestamp, true),
        col(
            "v",
            ColumnType::Text {
                max_chars: None,
                fixed: false,
            },
            true,
        ),
    ];
    if with_del {
        columns.push(col("del", ColumnType::Bool, true));
    }
    TableSchema {
        table: "src".into(),
        columns,
        primary_key: vec!["id".into()],
    }
}

/// Rows `(id, ts, v[, del])`; `ts` as `YYYY-MM-DDTHH:MM:SS` (UTC wall clock).
fn batch(schema: &TableSchema, rows: &[(i64, &str, &str, bool)]) -> RecordBatch {
    let micros = |s: &str| at(&format!("{s}Z")).timestamp_micros();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(TimestampMicrosecondArray::from(
            rows.iter().map(|r| micros(r.1)).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ];
    if schema.columns.len() == 4 {
        cols.push(Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        )));
    }
    RecordBatch::try_new(schema.arrow_schema(), cols).unwrap()
}

/// Writes `batches` with `write` (and a checkpoint), commits; aborts on failure.
async fn write(
    sink: &dyn Sink,
    schema: &TableSchema,
    batches: Vec<RecordBatch>,
    write: &WriteSpec,
    checkpoint: Option<(Checkpoint, Option<String>)>,
) -> Result<u64, Error> {
    let mut w = sink.prepare_write(schema, write).await?;
    let input = stream::iter(batches.into_iter().map(Ok)).boxed();
    if let Err(e) = w.write_all(input, &Rejects::strict()).await {
        w.abort().await?;
        return Err(e);
    }
    if let Some((cp, expected)) = checkpoint
        && let Err(e) = w.set_checkpoint(cp, expected)
    {
        w.abort().await?;
        return Err(e);
    }
    w.commit().await
}

fn window_spec(s: &str, e: &str) -> WriteSpec {
    WriteSpec {
        window: Some(WindowRange {
            column: "ts".into(),
            start: at(s),
            end: at(e),
        }),
        ..WriteSpec::plain(SyncMode::WindowOverwrite)
    }
}

fn merge_spec(delete: bool) -> WriteSpec {
    WriteSpec {
        merge_key: vec!["id".into()],
        delete_column: delete.then(|| "del".into()),
        ..WriteSpec::plain(SyncMode::IncrementalMerge)
    }
}

#[tokio::test]
async fn window_overwrite_replaces_exactly_the_window_and_reruns_the_same() {
    let db = TempDb::new("wo");
    let schema = target_schema(false);
    let sink = db.sink("t");
    let first = batch(
        &schema,
        &[
            (1, "2026-01-01T23:59:59.999999", "before", false),
            (2, "2026-01-02T00:00:00", "old in", false),
            (3, "2026-01-02T12:00:00", "old in", false),
            (4, "2026-01-03T00:00:00", "after", false),
        ],
    );
    write(
        &sink,
        &schema,
        vec![first],
        &WriteSpec::plain(SyncMode::FullOverwrite),
        None,
    )
    .await
    .unwrap();
    let spec = window_spec("2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z");
    let new_rows = [
        (5, "2026-01-02T01:00:00", "new in", false),
        (6, "2026-01-02T23:59:59.999999", "new in", false),
    ];
    let expected = vec![
        strs(&["1", "2026-01-01 23:59:59.999999", "before"]),
        strs(&["4", "2026-01-03 00:00:00.000000", "after"]),
        strs(&["5", "2026-01-02 01:00:00.000000", "new in"]),
        strs(&["6", "2026-01-02 23:59:59.999999", "new in"]),
    ];
    for _ in 0..2 {
        let n = write(&sink, &schema, vec![batch(&schema, &new_rows)], &spec, None)
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(db.rows("SELECT id, ts, v FROM t ORDER BY id"), expected);
    }
    // The window read back gives the same rows.
    let (_, rows) = read(
        &db,
        "t",
        ReadFilter {
            window: spec.window.clone(),
            ..ReadFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(firsts(&rows), strs(&["5", "6"]));
}

#[tokio::test]
async fn merge_upserts_by_key_and_deletes_flagged_rows() {
    let db = TempDb::new("merge");
    let schema = target_schema(true);
    let sink = db.sink("t");
    // A new target gets the merge key as primary key.
    let n = write(
        &sink,
        &schema,
        vec![batch(
            &schema,
            &[
                (1, "2026-01-01T00:00:00", "one", false),
                (2, "2026-01-01T00:00:00", "two", false),
                (3, "2026-01-01T00:00:00", "three", false),
                (9, "2026-01-01T00:00:00", "deleted at once", true),
            ],
        )],
        &merge_spec(true),
        None,
    )
    .await
    .unwrap();
    assert_eq!(n, 4);
    assert_eq!(
        db.rows("SELECT pk, name FROM pragma_table_info('t') WHERE pk > 0"),
        vec![strs(&["1", "id"])]
    );
    assert_eq!(
        db.rows("SELECT id, v FROM t ORDER BY id"),
        vec![
            strs(&["1", "one"]),
            strs(&["2", "two"]),
            strs(&["3", "three"])
        ]
    );
    let n = write(
        &sink,
        &schema,
        vec![batch(
            &schema,
            &[
                (2, "2026-01-02T00:00:00", "two v2", false),
                (3, "2026-01-02T00:00:00", "gone", true),
                (4, "2026-01-02T00:00:00", "four", false),
                (8, "2026-01-02T00:00:00", "never there", true),
            ],
        )],
        &merge_spec(true),
        None,
    )
    .await
    .unwrap();
    assert_eq!(n, 4);
    assert_eq!(
        db.rows("SELECT id, ts, v, del FROM t ORDER BY id"),
        vec![
            strs(&["1", "2026-01-01 00:00:00.000000", "one", "0"]),
            strs(&["2", "2026-01-02 00:00:00.000000", "two v2", "0"]),
            strs(&["4", "2026-01-02 00:00:00.000000", "four", "0"]),
        ]
    );
}

#[tokio::test]
async fn merge_needs_a_unique_key_on_exactly_the_merge_key() {
    let db = TempDb::new("nokey");
    db.exec("CREATE TABLE t (id INTEGER, ts TIMESTAMP, v TEXT, del BOOLEAN); INSERT INTO t VALUES (1, NULL, 'kept', 0);");
    let schema = target_schema(true);
    let e = write(
        &db.sink("t"),
        &schema,
        vec![batch(&schema, &[(1, "2026-01-01T00:00:00", "x", false)])],
        &merge_spec(true),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Schema, "{e}");
    assert!(e.to_string().contains("merge key (id)"), "{e}");
    assert_eq!(db.rows("SELECT id, v FROM t"), vec![strs(&["1", "kept"])]);
    // A unique index on exactly the key is enough.
    db.exec("CREATE UNIQUE INDEX t_id ON t (id);");
    write(
        &db.sink("t"),
        &schema,
        vec![batch(
            &schema,
            &[(1, "2026-01-01T00:00:00", "merged", false)],
        )],
        &merge_spec(true),
        None,
    )
    .await
    .unwrap();
    assert_eq!(db.rows("SELECT id, v FROM t"), vec![strs(&["1", "merged"])]);
}

#[tokio::test]
async fn checkpoints_commit_with_the_rows_and_refuse_a_stale_run() {
    let db = TempDb::new("cp");
    let schema = target_schema(false);
    let sink = db.sink("t");
    assert!(sink.keeps_checkpoints());
    let task = "it's a task";
    assert_eq!(sink.checkpoint(task).await.unwrap(), None, "no file yet");
    let cp = |run: &str, wm: &str| Checkpoint {
        task: task.into(),
        run_id: run.into(),
        watermark: wm.into(),
    };
    let append = WriteSpec::plain(SyncMode::IncrementalAppend);
    write(
        &sink,
        &schema,
        vec![batch(&schema, &[(1, "2026-01-01T00:00:00", "a", false)])],
        &append,
        Some((cp("run-1", r#"{"to":["x'y"]}"#), None)),
    )
    .await
    .unwrap();
    assert_eq!(
        sink.checkpoint(task).await.unwrap(),
        Some(cp("run-1", r#"{"to":["x'y"]}"#))
    );
    assert_eq!(sink.checkpoint("other").await.unwrap(), None);
    // A run that started before run-1 committed: refused, nothing published.
    let e = write(
        &sink,
        &schema,
        vec![batch(&schema, &[(2, "2026-01-01T00:00:00", "b", false)])],
        &append,
        Some((cp("run-2", "{}"), None)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(e.to_string().contains("another run"), "{e}");
    assert_eq!(db.rows("SELECT id FROM t"), vec![strs(&["1"])]);
    assert_eq!(
        sink.checkpoint(task).await.unwrap(),
        Some(cp("run-1", r#"{"to":["x'y"]}"#))
    );
    // The run that continues from run-1 publishes.
    write(
        &sink,
        &schema,
        vec![batch(&schema, &[(2, "2026-01-01T00:00:00", "b", false)])],
        &append,
        Some((cp("run-3", "{}"), Some("run-1".into()))),
    )
    .await
    .unwrap();
    assert_eq!(
        db.rows("SELECT id FROM t ORDER BY id"),
        vec![strs(&["1"]), strs(&["2"])]
    );
    assert_eq!(
        db.rows("SELECT task, run_id FROM ferry_checkpoints"),
        vec![strs(&[task, "run-3"])]
    );
}

#[tokio::test]
async fn unsupported_cursor_columns_are_refused_clearly() {
    let db = TempDb::new("refuse");
    db.exec("CREATE TABLE u (id INTEGER PRIMARY KEY, b BLOB, untyped);");
    for (col, field) in [
        ("b", "incremental.cursor[0]"),
        ("untyped", "incremental.cursor[0]"),
    ] {
        let e = read(&db, "u", by_cursor(cursor(&[col], 1, None)))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
        assert!(e.to_string().contains(field), "{e}");
    }
    let e = read(&db, "u", by_cursor(cursor(&["id", "b"], 1, None)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("incremental.tie_breaker[0]"), "{e}");
}
