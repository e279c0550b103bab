//! Incremental and windowed reads, and merge/window/checkpoint writes, of
//! the MySQL/MariaDB connector against a real server.
//!
//! The server comes from `FERRY_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/test`); an unreachable server fails the
//! tests. Every test uses its own tables, so tests run in parallel. Every
//! check is by content: the rows read or stored, value by value.
#![cfg(feature = "mysql")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Utc};
use ferry_connectors::common::server_spec::SqlEndpoint;
use ferry_connectors::mysql::{MysqlSink, MysqlSource};
use ferry_core::connector::{Checkpoint, ReadOptions, WriteSpec};
use ferry_core::pushdown::{CursorRange, PredicatePart, ReadFilter, SourcePredicate, WindowRange};
use ferry_core::spec::{CursorOffset, SyncMode, TableName};
use ferry_core::{
    ColumnDef, ColumnType, Error, ErrorKind, Rejected, Rejects, Sink, Source, TableSchema,
};
use ferry_testkit::{my, my_exec, mysql_url, unique};
use futures::{StreamExt, stream};
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

fn endpoint(table: &str) -> SqlEndpoint {
    SqlEndpoint {
        connection: None,
        url: mysql_url(),
        password_env: None,
        table: table.into(),
    }
}

fn source(table: &str) -> MysqlSource {
    MysqlSource::new(&endpoint(table), &TableName::parse("table", table).unwrap()).unwrap()
}

fn sink(table: &str) -> MysqlSink {
    MysqlSink::new(&endpoint(table), &TableName::parse("table", table).unwrap()).unwrap()
}

/// Runs statements in a UTC session.
async fn exec(sql: &str) {
    my_exec(&format!("SET time_zone = '+00:00'; {sql}")).await;
}

/// Every row of `sql` as text (`NULL` for NULL), read in a UTC session.
async fn rows(sql: &str) -> Vec<Vec<String>> {
    let mut c = my().await;
    c.query_drop("SET NAMES utf8mb4, time_zone = '+00:00'")
        .await
        .unwrap();
    let rows: Vec<Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = c.disconnect().await;
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| match r.as_ref(i).unwrap() {
                    Value::NULL => "NULL".to_string(),
                    Value::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .collect()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn owned(v: &[&str]) -> Option<Vec<String>> {
    Some(strs(v))
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
    table: &str,
    filter: ReadFilter,
) -> Result<(Option<Vec<String>>, Vec<Vec<String>>), Error> {
    let source = source(table);
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
    let mut out = Vec::new();
    for b in &batches {
        let opts = FormatOptions::default().with_null("NULL");
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for row in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(row).to_string()).collect());
        }
    }
    out.sort();
    Ok((high, out))
}

/// The first column of each row, in numeric order.
fn firsts(rows: &[Vec<String>]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    v.sort_by_key(|x| x.parse::<i64>().unwrap_or(i64::MAX));
    v
}

/// `events(id, ts DATETIME(6), v)`: ids 3–7 share one timestamp; 8 and 9 are 1 µs apart.
async fn events() -> String {
    let t = unique("ferry_inc_ev");
    exec(&format!(
        "CREATE TABLE {t} (id INT PRIMARY KEY, ts DATETIME(6) NULL, v VARCHAR(20), KEY (ts, id));
         INSERT INTO {t} VALUES
           (1, '2026-01-01 09:00:00', 'a'),
           (2, '2026-01-01 09:30:00', 'b'),
           (3, '2026-01-01 10:00:00', 'c'),
           (4, '2026-01-01 10:00:00', 'd'),
           (5, '2026-01-01 10:00:00', 'e'),
           (6, '2026-01-01 10:00:00', 'f'),
           (7, '2026-01-01 10:00:00', 'g'),
           (8, '2026-01-01 10:00:20', 'h'),
           (9, '2026-01-01 10:00:20.000001', 'i'),
           (10, '2026-01-01 10:01:00', 'j'),
           (11, NULL, 'null cursor');"
    ))
    .await;
    t
}

#[tokio::test]
async fn cursor_ties_read_exactly_the_rows_after_the_watermark() {
    let t = events().await;
    let (high, rows) = read(&t, by_cursor(cursor(&["ts", "id"], 1, None)))
        .await
        .unwrap();
    assert_eq!(high, owned(&["2026-01-01 10:01:00.000000", "10"]));
    assert_eq!(
        firsts(&rows),
        strs(&["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"])
    );
    let mark = ["2026-01-01 10:00:00.000000", "5"];
    let (high, rows) = read(&t, by_cursor(cursor(&["ts", "id"], 1, Some(&mark))))
        .await
        .unwrap();
    assert_eq!(firsts(&rows), strs(&["6", "7", "8", "9", "10"]));
    assert_eq!(high, owned(&["2026-01-01 10:01:00.000000", "10"]));
    assert_eq!(rows[0], strs(&["10", "2026-01-01T10:01:00", "j"]));
    // One microsecond apart: 9 is after 8.
    let mark = ["2026-01-01 10:00:20.000000", "8"];
    let (_, rows) = read(&t, by_cursor(cursor(&["ts", "id"], 1, Some(&mark))))
        .await
        .unwrap();
    assert_eq!(firsts(&rows), strs(&["9", "10"]));
    let mark = ["2026-01-01 10:01:00.000000", "10"];
    let (high, rows) = read(&t, by_cursor(cursor(&["ts", "id"], 1, Some(&mark))))
        .await
        .unwrap();
    assert_eq!((high, rows.len()), (None, 0));
}

#[tokio::test]
async fn lag_lookback_and_null_cursors() {
    let t = events().await;
    // The lag counts back from the server's clock: rows of 2026 are long
    // past it, a row written now is within it.
    let mut c = cursor(&["ts", "id"], 1, Some(&["2026-01-01 09:30:00.000000", "2"]));
    c.lag = Some(CursorOffset::Micros(30_000_000));
    let (high, rows) = read(&t, by_cursor(c.clone())).await.unwrap();
    assert_eq!(high, owned(&["2026-01-01 10:01:00.000000", "10"]));
    assert_eq!(
        firsts(&rows),
        strs(&["3", "4", "5", "6", "7", "8", "9", "10"])
    );
    exec(&format!("INSERT INTO {t} VALUES (12, NOW(6), 'just now')")).await;
    let (high, _) = read(&t, by_cursor(c.clone())).await.unwrap();
    assert_eq!(
        high,
        owned(&["2026-01-01 10:01:00.000000", "10"]),
        "within the lag"
    );
    c.lag = None;
    let (high, _) = read(&t, by_cursor(c)).await.unwrap();
    assert_eq!(
        high.map(|h| h[1].clone()),
        Some("12".to_string()),
        "without a lag"
    );
    exec(&format!("DELETE FROM {t} WHERE id = 12")).await;
    let mut c = cursor(&["ts", "id"], 1, Some(&["2026-01-01 10:00:20.000000", "8"]));
    c.lookback = Some(CursorOffset::Micros(30_000_000));
    let (high, rows) = read(&t, by_cursor(c)).await.unwrap();
    assert_eq!(high, owned(&["2026-01-01 10:01:00.000000", "10"]));
    assert_eq!(
        firsts(&rows),
        strs(&["3", "4", "5", "6", "7", "8", "9", "10"])
    );
    // NULL cursors: only with `nulls`, and alone when nothing is past the watermark.
    let mut c = cursor(&["ts", "id"], 1, Some(&["2026-01-01 10:00:20.000000", "8"]));
    c.nulls = true;
    let (_, rows) = read(&t, by_cursor(c.clone())).await.unwrap();
    assert_eq!(firsts(&rows), strs(&["9", "10", "11"]));
    c.after = owned(&["2026-01-01 10:01:00.000000", "10"]);
    let (high, rows) = read(&t, by_cursor(c)).await.unwrap();
    assert_eq!((high, firsts(&rows)), (None, strs(&["11"])));
}

#[tokio::test]
async fn decimal_and_integer_cursors_are_exact() {
    let t = unique("ferry_inc_dec");
    exec(&format!(
        "CREATE TABLE {t} (id BIGINT UNSIGNED PRIMARY KEY, amount DECIMAL(12,4) NOT NULL);
         INSERT INTO {t} VALUES (1, 9.5), (2, 10.25), (3, 10.2501), (4, 100), (18446744073709551615, 100);"
    ))
    .await;
    let (high, rows) = read(
        &t,
        by_cursor(cursor(&["amount", "id"], 1, Some(&["10.2500", "2"]))),
    )
    .await
    .unwrap();
    assert_eq!(high, owned(&["100.0000", "18446744073709551615"]));
    assert_eq!(firsts(&rows), strs(&["3", "4", "18446744073709551615"]));
    assert_eq!(rows[0], strs(&["18446744073709551615", "100.0000"]));
    // The scale is exact: 10.2500 < 10.2501.
    let (_, rows) = read(&t, by_cursor(cursor(&["amount"], 1, Some(&["10.25"]))))
        .await
        .unwrap();
    assert_eq!(firsts(&rows), strs(&["3", "4", "18446744073709551615"]));
    // An unsigned cursor with a lag larger than its values.
    let mut c = cursor(&["id"], 1, None);
    c.lag = Some(CursorOffset::Units(5));
    let (high, rows) = read(&t, by_cursor(c)).await.unwrap();
    assert_eq!(high, owned(&["4"]));
    assert_eq!(firsts(&rows), strs(&["1", "2", "3", "4"]));
    // Units lag on the decimal: 100 − 90 = 10.
    let mut c = cursor(&["amount"], 1, None);
    c.lag = Some(CursorOffset::Units(90));
    let (high, _) = read(&t, by_cursor(c)).await.unwrap();
    assert_eq!(high, owned(&["9.5000"]));
}

#[tokio::test]
async fn text_cursors_use_the_column_collation_and_bind_their_values() {
    let t = unique("ferry_inc_txt");
    exec(&format!(
        "CREATE TABLE {t} (k VARCHAR(40) COLLATE utf8mb4_unicode_ci PRIMARY KEY, n INT)
           DEFAULT CHARSET=latin1;
         INSERT INTO {t} VALUES ('a', 1), ('b''c', 2), ('x'' OR ''1''=''1', 3), ('z', 4), ('é', 5);"
    ))
    .await;
    let (high, rows) = read(&t, by_cursor(cursor(&["k"], 1, Some(&["b'c"]))))
        .await
        .unwrap();
    // unicode_ci sorts é with e: between b'c and x.
    assert_eq!(
        rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
        strs(&["x' OR '1'='1", "z", "é"])
    );
    assert_eq!(high, owned(&["z"]));
    let (_, rows) = read(&t, by_cursor(cursor(&["k"], 1, Some(&["x' OR '1'='1"]))))
        .await
        .unwrap();
    assert_eq!(firsts(&rows), strs(&["z"]));
}

#[tokio::test]
async fn inexact_cursor_types_are_refused() {
    let t = unique("ferry_inc_bad");
    exec(&format!(
        "CREATE TABLE {t} (id INT PRIMARY KEY, f DOUBLE, e ENUM('b','a'));
         INSERT INTO {t} VALUES (1, 0.5, 'a');"
    ))
    .await;
    for (cols, field) in [
        (&["f"][..], "incremental.cursor[0]"),
        (&["e"][..], "incremental.cursor[0]"),
        (&["id", "f"][..], "incremental.tie_breaker[0]"),
    ] {
        let e = read(&t, by_cursor(cursor(cols, 1, None)))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
        assert!(e.to_string().contains(field), "{e}");
    }
}

#[tokio::test]
async fn windows_and_predicates_read_their_rows() {
    let t = events().await;
    let days = unique("ferry_inc_days");
    exec(&format!(
        "CREATE TABLE {days} (id INT PRIMARY KEY, d DATE);
         INSERT INTO {days} VALUES (1, '2026-01-01'), (2, '2026-01-02'), (3, '2026-01-03');"
    ))
    .await;
    let window = |col: &str, s: &str, e: &str| ReadFilter {
        window: Some(WindowRange {
            column: col.into(),
            start: at(s),
            end: at(e),
        }),
        ..ReadFilter::default()
    };
    let (_, rows) = read(
        &t,
        window("ts", "2026-01-01T10:00:00Z", "2026-01-01T10:00:20.000001Z"),
    )
    .await
    .unwrap();
    assert_eq!(firsts(&rows), strs(&["3", "4", "5", "6", "7", "8"]));
    let (_, rows) = read(
        &days,
        window("d", "2026-01-01T12:00:00Z", "2026-01-03T00:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(firsts(&rows), strs(&["2"]));
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
    let (high, rows) = read(&t, filter).await.unwrap();
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
                max_chars: Some(40),
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

/// Rows `(id, ts, v[, del])`; `ts` as `YYYY-MM-DDTHH:MM:SS` (UTC), `v` None for NULL.
fn batch(schema: &TableSchema, rows: &[(i64, &str, Option<&str>, bool)]) -> RecordBatch {
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
    rejects: &Rejects,
) -> Result<u64, Error> {
    let mut w = sink.prepare_write(schema, write).await?;
    let input = stream::iter(batches.into_iter().map(Ok)).boxed();
    if let Err(e) = w.write_all(input, rejects).await {
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
    let t = unique("ferry_inc_wo");
    let schema = target_schema(false);
    let sink = sink(&t);
    let strict = Rejects::strict();
    // A missing target is created (through a staging table) holding the window's rows.
    let spec = window_spec("2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z");
    write(
        &sink,
        &schema,
        vec![batch(
            &schema,
            &[(7, "2026-01-02T05:00:00", Some("first"), false)],
        )],
        &spec,
        None,
        &strict,
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&format!("SELECT id, v FROM {t}")).await,
        vec![strs(&["7", "first"])]
    );
    exec(&format!(
        "DELETE FROM {t};
         INSERT INTO {t} (id, ts, v) VALUES
           (1, '2026-01-01 23:59:59.999999', 'before'), (2, '2026-01-02 00:00:00', 'old in'),
           (3, '2026-01-02 12:00:00', 'old in'), (4, '2026-01-03 00:00:00', 'after');"
    ))
    .await;
    let new_rows = [
        (5, "2026-01-02T01:00:00", Some("new in"), false),
        (6, "2026-01-02T23:59:59.999999", Some("it's new"), false),
    ];
    let expected = vec![
        strs(&["1", "2026-01-01 23:59:59.999999", "before"]),
        strs(&["4", "2026-01-03 00:00:00.000000", "after"]),
        strs(&["5", "2026-01-02 01:00:00.000000", "new in"]),
        strs(&["6", "2026-01-02 23:59:59.999999", "it's new"]),
    ];
    for _ in 0..2 {
        let n = write(
            &sink,
            &schema,
            vec![batch(&schema, &new_rows)],
            &spec,
            None,
            &strict,
        )
        .await
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            rows(&format!("SELECT id, ts, v FROM {t} ORDER BY id")).await,
            expected
        );
    }
    // A failed window run leaves the target as it was.
    let bad = [(8, "2026-01-02T02:00:00", Some(&*"x".repeat(41)), false)];
    let e = write(
        &sink,
        &schema,
        vec![batch(&schema, &bad)],
        &spec,
        None,
        &strict,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DirtyData, "{e}");
    assert_eq!(
        rows(&format!("SELECT id, ts, v FROM {t} ORDER BY id")).await,
        expected
    );
}

#[tokio::test]
async fn merge_upserts_by_key_and_deletes_flagged_rows() {
    let t = unique("ferry_inc_mg");
    let schema = target_schema(true);
    let sink = sink(&t);
    let strict = Rejects::strict();
    let ts = "2026-01-01T00:00:00";
    // A new target gets the merge key as its primary key.
    let n = write(
        &sink,
        &schema,
        vec![batch(
            &schema,
            &[
                (1, ts, Some("one"), false),
                (2, ts, Some("two"), false),
                (3, ts, Some("three"), false),
                (9, ts, Some("deleted at once"), true),
            ],
        )],
        &merge_spec(true),
        None,
        &strict,
    )
    .await
    .unwrap();
    assert_eq!(n, 4);
    assert_eq!(
        rows(&format!(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = '{t}' AND CONSTRAINT_NAME = 'PRIMARY'"
        ))
        .await,
        vec![strs(&["id"])]
    );
    assert_eq!(
        rows(&format!("SELECT id, v FROM {t} ORDER BY id")).await,
        vec![
            strs(&["1", "one"]),
            strs(&["2", "two"]),
            strs(&["3", "three"])
        ]
    );
    let ts2 = "2026-01-02T00:00:00";
    let n = write(
        &sink,
        &schema,
        vec![batch(
            &schema,
            &[
                (2, ts2, Some("two v2"), false),
                (3, ts2, Some("gone"), true),
                (4, ts2, Some("four"), false),
                (8, ts2, Some("never there"), true),
            ],
        )],
        &merge_spec(true),
        None,
        &strict,
    )
    .await
    .unwrap();
    assert_eq!(n, 4);
    let expected = vec![
        strs(&["1", "2026-01-01 00:00:00.000000", "one", "0"]),
        strs(&["2", "2026-01-02 00:00:00.000000", "two v2", "0"]),
        strs(&["4", "2026-01-02 00:00:00.000000", "four", "0"]),
    ];
    assert_eq!(
        rows(&format!("SELECT id, ts, v, del FROM {t} ORDER BY id")).await,
        expected
    );
    // With dirty rows allowed, a refused row of the staging load is one
    // dirty row; the others merge.
    exec(&format!("ALTER TABLE {t} MODIFY v VARCHAR(40) NOT NULL")).await;
    let collect = Arc::new(Collect::default());
    let n = write(
        &sink,
        &schema,
        vec![batch(
            &schema,
            &[(1, ts2, Some("one v2"), false), (5, ts2, None, false)],
        )],
        &merge_spec(true),
        None,
        &Rejects::new(collect.clone()),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    let rejected = std::mem::take(&mut *collect.0.lock().unwrap());
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0].message.contains("'v'"),
        "{}",
        rejected[0].message
    );
    assert_eq!(
        rows(&format!("SELECT id, v FROM {t} ORDER BY id")).await,
        vec![
            strs(&["1", "one v2"]),
            strs(&["2", "two v2"]),
            strs(&["4", "four"])
        ]
    );
}

/// Collects rejected rows (dirty rows allowed).
#[derive(Default)]
struct Collect(std::sync::Mutex<Vec<Rejected>>);

impl ferry_core::reject::RejectSink for Collect {
    fn reject(&self, row: Rejected) -> ferry_core::Result<()> {
        self.0.lock().unwrap().push(row);
        Ok(())
    }

    fn accepts_rows(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn merge_needs_a_unique_key_on_exactly_the_merge_key() {
    let t = unique("ferry_inc_nokey");
    exec(&format!(
        "CREATE TABLE {t} (id BIGINT NOT NULL, ts DATETIME(6), v VARCHAR(40), del TINYINT(1), KEY (id));
         INSERT INTO {t} VALUES (1, NULL, 'kept', 0);"
    ))
    .await;
    let schema = target_schema(true);
    let one = || {
        vec![batch(
            &schema,
            &[(1, "2026-01-01T00:00:00", Some("merged"), false)],
        )]
    };
    let strict = Rejects::strict();
    let e = write(&sink(&t), &schema, one(), &merge_spec(true), None, &strict)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Schema, "{e}");
    assert!(e.to_string().contains("merge key (id)"), "{e}");
    assert_eq!(
        rows(&format!("SELECT id, v FROM {t}")).await,
        vec![strs(&["1", "kept"])]
    );
    // A unique key on (id, v) is not one on exactly (id).
    exec(&format!("ALTER TABLE {t} ADD UNIQUE KEY (id, v)")).await;
    assert!(
        write(&sink(&t), &schema, one(), &merge_spec(true), None, &strict)
            .await
            .is_err()
    );
    exec(&format!("ALTER TABLE {t} ADD UNIQUE KEY by_id (id)")).await;
    write(&sink(&t), &schema, one(), &merge_spec(true), None, &strict)
        .await
        .unwrap();
    assert_eq!(
        rows(&format!("SELECT id, v FROM {t}")).await,
        vec![strs(&["1", "merged"])]
    );
}

#[tokio::test]
async fn checkpoints_commit_with_the_rows_and_refuse_a_stale_run() {
    let db = unique("ferry_inc_cpdb");
    exec(&format!("CREATE DATABASE {db}")).await;
    let t = format!("{db}.events");
    let schema = target_schema(false);
    let sink = sink(&t);
    let strict = Rejects::strict();
    assert!(sink.keeps_checkpoints());
    let task = "it's a task";
    assert_eq!(sink.checkpoint(task).await.unwrap(), None, "no table yet");
    let cp = |run: &str, wm: &str| Checkpoint {
        task: task.into(),
        run_id: run.into(),
        watermark: wm.into(),
    };
    let append = WriteSpec::plain(SyncMode::IncrementalAppend);
    let one = |id: i64| {
        vec![batch(
            &schema,
            &[(id, "2026-01-01T00:00:00", Some("x"), false)],
        )]
    };
    // A failed first run into a missing target leaves no table and no checkpoint.
    let too_long = "x".repeat(41);
    let e = write(
        &sink,
        &schema,
        vec![batch(
            &schema,
            &[(1, "2026-01-01T00:00:00", Some(&*too_long), false)],
        )],
        &append,
        Some((cp("run-0", "{}"), None)),
        &strict,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DirtyData, "{e}");
    assert!(
        rows(&format!(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'events'"
        ))
        .await
        .is_empty()
    );
    assert_eq!(sink.checkpoint(task).await.unwrap(), None);
    write(
        &sink,
        &schema,
        one(1),
        &append,
        Some((cp("run-1", r#"{"to":["x'y"]}"#), None)),
        &strict,
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
        one(2),
        &append,
        Some((cp("run-2", "{}"), None)),
        &strict,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(e.to_string().contains("another run"), "{e}");
    assert_eq!(
        rows(&format!("SELECT id FROM {t}")).await,
        vec![strs(&["1"])]
    );
    assert_eq!(
        sink.checkpoint(task).await.unwrap(),
        Some(cp("run-1", r#"{"to":["x'y"]}"#))
    );
    // The same for a merge: its staged rows are not applied.
    let merge = WriteSpec {
        merge_key: vec!["id".into()],
        ..WriteSpec::plain(SyncMode::IncrementalMerge)
    };
    let e = write(
        &sink,
        &schema,
        one(3),
        &merge,
        Some((cp("run-2", "{}"), Some("run-0".into()))),
        &strict,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert_eq!(
        rows(&format!("SELECT id FROM {t}")).await,
        vec![strs(&["1"])]
    );
    // The run that continues from run-1 publishes.
    write(
        &sink,
        &schema,
        one(2),
        &merge,
        Some((cp("run-3", "{}"), Some("run-1".into()))),
        &strict,
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&format!("SELECT id FROM {t} ORDER BY id")).await,
        vec![strs(&["1"]), strs(&["2"])]
    );
    assert_eq!(
        rows(&format!("SELECT task, run_id FROM {db}.ferry_checkpoints")).await,
        vec![strs(&[task, "run-3"])]
    );
    exec(&format!("DROP DATABASE {db}")).await;
}
