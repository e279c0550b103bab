//! MariaDB → MariaDB exactness (issue 15, item 1): an edge-value table of
//! every MariaDB column type, written from the MariaDB documentation's
//! ranges (not from Ferry's mapping), copied into a new target and into an
//! existing one of the same types. The server computes its own text of
//! every cell (`HEX` of strings, bytes and spatial values, `CAST … AS CHAR`
//! of numbers and times) on both tables, and `information_schema.COLUMNS`
//! gives every column's type, charset and collation: 0 differing cells,
//! 0 dirty rows, 0 changed column types.
//!
//! Also: PostgreSQL `time '24:00:00'` into MariaDB `TIME` (item 2), a value
//! the MariaDB sink refuses as a dirty row under the task's policy, and a
//! column the task does not read never blocking the run.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use common::mysql_async;
use common::mysql_async::prelude::Queryable;

/// How the server prints a cell for comparison.
#[derive(Clone, Copy)]
enum Text {
    /// `HEX(c)`: the exact bytes of strings (in their charset), binary, bits, spatial values.
    Hex,
    /// `CAST(c AS CHAR)`: numbers, times, addresses, UUIDs.
    Char,
    /// `CAST(c * 1e0 AS CHAR)`: a `FLOAT` as the double it holds (its own text has 6 digits).
    Float,
}

/// The edge-value table: column, declared type, cell text, and the values of
/// rows 1 (lower edges), 2 (upper edges), 3 (other edge cases); row 4 is NULL
/// everywhere but the key. Ranges from the MariaDB documentation (Data Types).
const COLUMNS: &[(&str, &str, Text, [&str; 3])] = &[
    ("ti", "TINYINT", Text::Char, ["-128", "127", "0"]),
    // BOOL declares tinyint(1): an integer with a display width.
    ("tb", "BOOL", Text::Char, ["-128", "127", "2"]),
    ("sm", "SMALLINT", Text::Char, ["-32768", "32767", "0"]),
    ("mi", "MEDIUMINT", Text::Char, ["-8388608", "8388607", "0"]),
    ("tu", "TINYINT UNSIGNED", Text::Char, ["0", "255", "1"]),
    ("su", "SMALLINT UNSIGNED", Text::Char, ["0", "65535", "2"]),
    (
        "mu",
        "MEDIUMINT UNSIGNED",
        Text::Char,
        ["0", "16777215", "3"],
    ),
    (
        "iu",
        "INT(10) UNSIGNED ZEROFILL",
        Text::Char,
        ["0", "4294967295", "4"],
    ),
    (
        "bu",
        "BIGINT UNSIGNED",
        Text::Char,
        ["0", "18446744073709551615", "9223372036854775808"],
    ),
    (
        "bi",
        "BIGINT",
        Text::Char,
        ["-9223372036854775808", "9223372036854775807", "0"],
    ),
    (
        "du",
        "DECIMAL(10,2) UNSIGNED",
        Text::Char,
        ["0.00", "99999999.99", "0.01"],
    ),
    (
        "dw",
        "DECIMAL(65,30)",
        Text::Char,
        [
            "-99999999999999999999999999999999999.999999999999999999999999999999",
            "99999999999999999999999999999999999.999999999999999999999999999999",
            "0.000000000000000000000000000001",
        ],
    ),
    (
        "f",
        "FLOAT",
        Text::Float,
        ["-3.402823466E+38", "3.402823466E+38", "1.175494351E-38"],
    ),
    (
        "db",
        "DOUBLE",
        Text::Char,
        [
            "-1.7976931348623157E+308",
            "1.7976931348623157E+308",
            "2.2250738585072014E-308",
        ],
    ),
    ("y", "YEAR", Text::Char, ["1901", "2155", "0"]),
    ("b1", "BIT(1)", Text::Hex, ["b'0'", "b'1'", "b'1'"]),
    (
        "b5",
        "BIT(5)",
        Text::Hex,
        ["b'00000'", "b'11111'", "b'10101'"],
    ),
    (
        "b64",
        "BIT(64)",
        Text::Hex,
        ["0", "0xFFFFFFFFFFFFFFFF", "0x8000000000000000"],
    ),
    (
        "st",
        "SET('a','B','c d')",
        Text::Hex,
        ["''", "'a,B,c d'", "'B'"],
    ),
    (
        "en",
        "ENUM('x','Y','z z') NOT NULL DEFAULT 'x'",
        Text::Hex,
        ["'x'", "'z z'", "'Y'"],
    ),
    (
        "i4",
        "INET4",
        Text::Char,
        ["'0.0.0.0'", "'255.255.255.255'", "'192.0.2.1'"],
    ),
    (
        "i6",
        "INET6",
        Text::Char,
        [
            "'::'",
            "'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'",
            "'::ffff:192.0.2.1'",
        ],
    ),
    (
        "g",
        "GEOMETRY",
        Text::Hex,
        [
            "ST_GeomFromText('POINT(0 0)')",
            "ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 0))', 4326)",
            "ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))')",
        ],
    ),
    (
        "p",
        "POINT",
        Text::Hex,
        [
            "ST_PointFromText('POINT(-180 -90)', 4326)",
            "ST_PointFromText('POINT(180 90)', 4326)",
            "POINT(1.5, -2.25)",
        ],
    ),
    (
        "ls",
        "LINESTRING",
        Text::Hex,
        [
            "ST_LineFromText('LINESTRING(0 0,1 1)')",
            "ST_LineFromText('LINESTRING(-1e300 1e300,1e-300 -1e-300,3 4)')",
            "ST_LineFromText('LINESTRING(1 1,2 2)', 3857)",
        ],
    ),
    (
        "bn",
        "BINARY(4)",
        Text::Hex,
        ["0x00000000", "0xFFFFFFFF", "0x61"],
    ),
    (
        "vb",
        "VARBINARY(8)",
        Text::Hex,
        ["X''", "0xFFFFFFFFFFFFFFFF", "0x00"],
    ),
    ("bl", "BLOB", Text::Hex, ["X''", "0x00FF5C09", "0x0A0D"]),
    (
        "cl",
        "VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci",
        Text::Hex,
        ["''", "'ÄÖÜ äöü ß ÿ €'", "'x'"],
    ),
    (
        "cg",
        "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        Text::Hex,
        ["''", "'Ab😀 ☃'", "'tab\\there'"],
    ),
    (
        "ch",
        "CHAR(5) CHARACTER SET ascii COLLATE ascii_bin",
        Text::Hex,
        ["''", "'ZZZZZ'", "'a'"],
    ),
    (
        "tx",
        "TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        Text::Hex,
        ["''", "'line\\nbreak\\\\'", "'ü'"],
    ),
    (
        "t",
        "TIME",
        Text::Char,
        ["'-838:59:59'", "'838:59:59'", "'00:00:00'"],
    ),
    (
        "t3",
        "TIME(3)",
        Text::Char,
        ["'-838:59:59.999'", "'838:59:59.999'", "'-00:00:00.001'"],
    ),
    (
        "t6",
        "TIME(6)",
        Text::Char,
        ["'-838:59:59.999999'", "'838:59:59.999999'", "'24:00:00'"],
    ),
    (
        "da",
        "DATE",
        Text::Char,
        ["'1000-01-01'", "'9999-12-31'", "'2020-02-29'"],
    ),
    (
        "dt",
        "DATETIME",
        Text::Char,
        [
            "'1000-01-01 00:00:00'",
            "'9999-12-31 23:59:59'",
            "'2020-02-29 12:00:00'",
        ],
    ),
    (
        "dt3",
        "DATETIME(3)",
        Text::Char,
        [
            "'1000-01-01 00:00:00.000'",
            "'9999-12-31 23:59:59.999'",
            "'2000-01-01 00:00:00.5'",
        ],
    ),
    (
        "ts",
        "TIMESTAMP NULL DEFAULT NULL",
        Text::Char,
        [
            "'1970-01-01 00:00:01'",
            "'2038-01-19 03:14:07'",
            "'2000-02-29 23:59:59'",
        ],
    ),
    (
        "ts6",
        "TIMESTAMP(6) NULL DEFAULT NULL",
        Text::Char,
        [
            "'1970-01-01 00:00:01.000000'",
            "'2038-01-19 03:14:07.999999'",
            "'2000-01-01 00:00:00.000001'",
        ],
    ),
    (
        "j",
        "JSON",
        Text::Hex,
        ["'{}'", r#"'{"a": [1, 2.5, "x"], "b": null}'"#, "'[]'"],
    ),
    (
        "u",
        "UUID",
        Text::Char,
        [
            "'00000000-0000-0000-0000-000000000000'",
            "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
            "'123e4567-e89b-12d3-a456-426614174000'",
        ],
    ),
];

/// Creates the edge-value table `table`: rows 1–3 from [`COLUMNS`], row 4 NULLs.
async fn make_edge_table(table: &str) {
    let defs: Vec<String> = COLUMNS
        .iter()
        .map(|(n, ddl, ..)| format!("`{n}` {ddl}"))
        .collect();
    let mut sql = format!(
        "SET time_zone = '+00:00'; DROP TABLE IF EXISTS `{table}`; \
         CREATE TABLE `{table}` (id INT NOT NULL PRIMARY KEY, {}) \
         DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;",
        defs.join(", ")
    );
    for row in 0..3 {
        let values: Vec<&str> = COLUMNS.iter().map(|(.., v)| v[row]).collect();
        sql.push_str(&format!(
            "INSERT INTO `{table}` VALUES ({}, {});",
            row + 1,
            values.join(", ")
        ));
    }
    sql.push_str(&format!("INSERT INTO `{table}` (id) VALUES (4);"));
    my_exec(&sql).await;
}

/// Every cell of `table` as the server prints it, row by row (key order).
async fn cells(table: &str) -> Vec<Vec<String>> {
    let exprs: Vec<String> = COLUMNS
        .iter()
        .map(|(n, _, text, _)| {
            let e = match text {
                Text::Hex => format!("HEX(`{n}`)"),
                Text::Char => format!("CAST(`{n}` AS CHAR)"),
                Text::Float => format!("CAST(`{n}` * 1e0 AS CHAR)"),
            };
            format!("IFNULL({e}, '(null)')")
        })
        .collect();
    let mut c = my().await;
    c.query_drop("SET time_zone = '+00:00'").await.unwrap();
    let rows: Vec<mysql_async::Row> = c
        .query(format!(
            "SELECT CAST(id AS CHAR), {} FROM `{table}` ORDER BY id",
            exprs.join(", ")
        ))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<String, _>(i).unwrap())
                .collect()
        })
        .collect()
}

/// Every column's name, `COLUMN_TYPE`, charset, collation and nullability.
async fn column_types(table: &str) -> Vec<String> {
    let mut c = my().await;
    let rows: Vec<(String, String, String, String, String)> = c
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IFNULL(CHARACTER_SET_NAME, '-'), \
             IFNULL(COLLATION_NAME, '-'), IS_NULLABLE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (table,),
        )
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    rows.into_iter()
        .map(|(n, t, cs, co, null)| format!("{n} {t} {cs} {co} null={null}"))
        .collect()
}

/// The cells that differ between the two tables, named by row and column.
fn differing(a: &[Vec<String>], b: &[Vec<String>]) -> Vec<String> {
    assert_eq!(a.len(), b.len(), "row counts differ");
    let mut out = Vec::new();
    for (ra, rb) in a.iter().zip(b) {
        for (i, (x, y)) in ra.iter().zip(rb).enumerate() {
            if x != y {
                let name = if i == 0 { "id" } else { COLUMNS[i - 1].0 };
                out.push(format!("id={} {name}: {x} vs {y}", ra[0]));
            }
        }
    }
    out
}

fn assert_exact(v: &serde_json::Value, rows: u64) {
    assert_eq!(v["rows_dirty"], 0, "{v}");
    assert_eq!(v["rows_committed"], rows, "{v}");
}

#[tokio::test]
async fn mariadb_to_mariadb_new_target_is_exact_in_every_cell_and_type() {
    let (src, dst) = (unique("mx_src"), unique("mx_dst"));
    make_edge_table(&src).await;
    let source_cells = cells(&src).await;
    assert_eq!(source_cells.len(), 4);
    let started = std::time::Instant::now();
    let v = run_ok(&job("mx", &my_endpoint(&src), &my_endpoint(&dst), ""));
    eprintln!("mariadb -> mariadb (new target): {:?}", started.elapsed());
    assert_exact(&v, 4);
    let diff = differing(&source_cells, &cells(&dst).await);
    assert!(diff.is_empty(), "{} differing cells: {diff:#?}", diff.len());
    assert_eq!(column_types(&dst).await, column_types(&src).await);
}

#[tokio::test]
async fn mariadb_to_mariadb_existing_target_of_the_same_types_is_exact() {
    let (src, dst) = (unique("mxe_src"), unique("mxe_dst"));
    make_edge_table(&src).await;
    my_exec(&format!("CREATE TABLE `{dst}` LIKE `{src}`")).await;
    let source_cells = cells(&src).await;
    let src_types = column_types(&src).await;
    for mode in ["full_append", "full_overwrite"] {
        let v = run_ok(&job(
            "mxe",
            &my_endpoint(&src),
            &my_endpoint(&dst),
            &format!("mode: {mode}\n"),
        ));
        assert_exact(&v, 4);
        let diff = differing(&source_cells, &cells(&dst).await);
        assert!(diff.is_empty(), "{mode}: {diff:#?}");
        assert_eq!(column_types(&dst).await, src_types, "{mode}");
    }
}

/// PostgreSQL's `24:00:00` is a value MariaDB's `TIME` holds: it is written.
/// A time the target column would round (more fractional digits than it
/// keeps) is one dirty row under `dirty.max_rows`, not a failed run.
#[tokio::test]
async fn pg_time_24_00_into_mariadb_time_and_sink_refusals_are_dirty_rows() {
    let (src, new_dst, old_dst) = (unique("pt_src"), unique("pt_new"), unique("pt_old"));
    pg_exec(&format!(
        "CREATE TABLE {src} (id int PRIMARY KEY, t time, t0 time);
         INSERT INTO {src} VALUES (1, '24:00:00', '24:00:00'), (2, '00:00:00', '00:00:00'),
           (3, '23:59:59.999999', '23:59:59.5'), (4, NULL, NULL);"
    ))
    .await;
    let v = run_ok(&job("pt", &pg_endpoint(&src), &my_endpoint(&new_dst), ""));
    assert_exact(&v, 4);
    let mut c = my().await;
    let got: Vec<(i32, Option<String>, Option<String>)> = c
        .query(format!(
            "SELECT id, CAST(t AS CHAR), CAST(t0 AS CHAR) FROM `{new_dst}` ORDER BY id"
        ))
        .await
        .unwrap();
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        got,
        vec![
            (1, s("24:00:00.000000"), s("24:00:00.000000")),
            (2, s("00:00:00.000000"), s("00:00:00.000000")),
            (3, s("23:59:59.999999"), s("23:59:59.500000")),
            (4, None, None),
        ]
    );

    // An existing `TIME` (no fraction) cannot hold 23:59:59.5 without rounding.
    c.query_drop(format!(
        "CREATE TABLE `{old_dst}` (id INT PRIMARY KEY, t TIME(6), t0 TIME)"
    ))
    .await
    .unwrap();
    let path = scratch_dir().join(format!("{}.jsonl", unique("pt_dirty")));
    let policy = format!(
        "dirty: {{max_rows: 10, sink: {{type: jsonl, path: \"{}\"}}}}\n",
        path.display()
    );
    let v = run_ok(&job(
        "pt",
        &pg_endpoint(&src),
        &my_endpoint(&old_dst),
        &policy,
    ));
    assert_eq!(
        (v["rows_committed"].as_u64(), v["rows_dirty"].as_u64()),
        (Some(3), Some(1)),
        "{v}"
    );
    let recs = records(&path);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["column"], "t0");
    assert_eq!(recs[0]["position"], "id=3");
    assert_eq!(recs[0]["reason"], "conversion");
    let got: Vec<(i32, Option<String>)> = c
        .query(format!(
            "SELECT id, CAST(t0 AS CHAR) FROM `{old_dst}` ORDER BY id"
        ))
        .await
        .unwrap();
    assert_eq!(got, vec![(1, s("24:00:00")), (2, s("00:00:00")), (4, None)]);
    c.disconnect().await.unwrap();

    // Without a dirty policy the same refusal fails the run, naming the column.
    my_exec(&format!("TRUNCATE TABLE `{old_dst}`")).await;
    let err = run_err(&job("pt", &pg_endpoint(&src), &my_endpoint(&old_dst), ""));
    assert!(err.contains("t0"), "{err}");
}

/// MariaDB `TIME` beyond a day has no PostgreSQL `time`: a dirty row with
/// its raw value under the policy, the other rows arrive.
#[tokio::test]
async fn mariadb_time_beyond_a_day_into_postgres_is_a_dirty_row() {
    let (src, dst) = (unique("mtp_src"), unique("mtp_dst"));
    my_exec(&format!(
        "CREATE TABLE `{src}` (id INT PRIMARY KEY, t TIME(6), flag BOOL);
         INSERT INTO `{src}` VALUES (1, '12:00:00', 2), (2, '-838:59:59', 0), (3, '24:00:00', 1);"
    ))
    .await;
    let path = scratch_dir().join(format!("{}.jsonl", unique("mtp_dirty")));
    let v = run_ok(&job(
        "mtp",
        &my_endpoint(&src),
        &pg_endpoint(&dst),
        &format!(
            "dirty: {{max_rows: 10, sink: {{type: jsonl, path: \"{}\"}}}}\n",
            path.display()
        ),
    ));
    assert_eq!(
        (v["rows_committed"].as_u64(), v["rows_dirty"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    let recs = records(&path);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["column"], "t");
    // tinyint(1) holding 2 is an integer: PostgreSQL gets a smallint 2.
    let client = pg().await;
    let rows = client
        .query(
            &format!("SELECT id, t::text, flag::text, format_type(a.atttypid, a.atttypmod) FROM {dst}, pg_attribute a WHERE a.attrelid = '{dst}'::regclass AND a.attname = 'flag' ORDER BY id"),
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i32, String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "12:00:00".into(), "2".into(), "smallint".into()),
            (3, "24:00:00".into(), "1".into(), "smallint".into()),
        ]
    );
}

/// A column the task does not read never blocks the run, whatever its type
/// (spatial and address columns once failed it even when left out).
#[tokio::test]
async fn unread_columns_never_block_the_run() {
    let (src, my_dst, pg_dst) = (unique("mu_src"), unique("mu_my"), unique("mu_pg"));
    my_exec(&format!(
        "CREATE TABLE `{src}` (id INT PRIMARY KEY, v VARCHAR(10), g GEOMETRY, a INET6, p POINT);
         INSERT INTO `{src}` VALUES (1, 'one', POINT(1, 2), '::1', POINT(3, 4)), (2, NULL, NULL, NULL, NULL);"
    ))
    .await;
    let columns = "columns: [id, v]\n";
    let v = run_ok(&job(
        "mu",
        &my_endpoint(&src),
        &my_endpoint(&my_dst),
        columns,
    ));
    assert_exact(&v, 2);
    let src_types = column_types(&src).await;
    assert_eq!(column_types(&my_dst).await, src_types[..2].to_vec());
    let v = run_ok(&job(
        "mu",
        &my_endpoint(&src),
        &pg_endpoint(&pg_dst),
        columns,
    ));
    assert_exact(&v, 2);
    assert_eq!(
        pg_digest(&format!(
            "SELECT id || '|' || coalesce(v, '~') FROM {pg_dst}"
        ))
        .await,
        my_digest(&format!(
            "SELECT CONCAT(id, '|', IFNULL(v, '~')) FROM `{src}`"
        ))
        .await
    );
}

/// `tinyint(1)` becomes a bool only when the task casts it: 0 and 1 convert,
/// 2 is a dirty row (the cast would have to invent `true`).
#[tokio::test]
async fn tinyint_1_is_a_bool_only_by_a_cast() {
    let (src, dst) = (unique("mb_src"), unique("mb_dst"));
    my_exec(&format!(
        "CREATE TABLE `{src}` (id INT PRIMARY KEY, flag BOOL);
         INSERT INTO `{src}` VALUES (1, 0), (2, 1), (3, 2), (4, NULL);"
    ))
    .await;
    let path = scratch_dir().join(format!("{}.jsonl", unique("mb_dirty")));
    let v = run_ok(&job(
        "mb",
        &my_endpoint(&src),
        &pg_endpoint(&dst),
        &format!(
            "mapping:\n  cast: {{flag: bool}}\ndirty: {{max_rows: 10, sink: {{type: jsonl, path: \"{}\"}}}}\n",
            path.display()
        ),
    ));
    assert_eq!(
        (v["rows_committed"].as_u64(), v["rows_dirty"].as_u64()),
        (Some(3), Some(1)),
        "{v}"
    );
    let recs = records(&path);
    assert_eq!(
        (recs[0]["position"].as_str(), recs[0]["column"].as_str()),
        (Some("id=3"), Some("flag"))
    );
    let rows = pg()
        .await
        .query(
            &format!("SELECT id, flag::text, format_type(a.atttypid, a.atttypmod) FROM {dst}, pg_attribute a WHERE a.attrelid = '{dst}'::regclass AND a.attname = 'flag' ORDER BY id"),
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i32, Option<String>, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Some("false".into()), "boolean".into()),
            (2, Some("true".into()), "boolean".into()),
            (4, None, "boolean".into()),
        ]
    );
}

/// `id` and the server's text of a DATE, a DATETIME and a TIMESTAMP.
type DateRow = (i32, Option<String>, Option<String>, Option<String>);

/// Zero dates (`0000-00-00`, a zero month or day) in DATE, DATETIME and
/// TIMESTAMP columns, as MariaDB's default `sql_mode` lets a session store
/// them: MariaDB → MariaDB carries them exactly (new and existing target),
/// and MariaDB → PostgreSQL, whose dates have no such value, makes their
/// rows dirty with the raw text.
#[tokio::test]
async fn zero_dates_travel_mariadb_to_mariadb_and_are_dirty_elsewhere() {
    let (src, dst, dste, pgdst) = (
        unique("mz_src"),
        unique("mz_dst"),
        unique("mz_dste"),
        unique("mz_pg"),
    );
    let mut c = my().await;
    let global: String = c
        .query_first("SELECT @@GLOBAL.sql_mode")
        .await
        .unwrap()
        .unwrap();
    c.disconnect().await.unwrap();
    assert!(
        !global.contains("NO_ZERO_DATE") && !global.contains("NO_ZERO_IN_DATE"),
        "this test needs a server whose sql_mode stores zero dates (MariaDB's default); it has {global}"
    );
    my_exec(&format!(
        "SET SESSION sql_mode = ''; SET time_zone = '+00:00';
         CREATE TABLE `{src}` (id INT PRIMARY KEY, d DATE, dt DATETIME(3), ts TIMESTAMP NULL DEFAULT NULL);
         INSERT INTO `{src}` VALUES
           (1, '0000-00-00', '0000-00-00 00:00:00.000', '0000-00-00 00:00:00'),
           (2, '2020-00-15', '2020-01-00 12:00:00.5', '1970-01-01 00:00:01'),
           (3, '9999-12-31', '1000-01-01 00:00:00', '2038-01-19 03:14:07'),
           (4, NULL, NULL, NULL);
         CREATE TABLE `{dste}` LIKE `{src}`;"
    ))
    .await;
    let cells = |table: String| async move {
        let mut c = my().await;
        c.query_drop("SET time_zone = '+00:00'").await.unwrap();
        let rows: Vec<DateRow> = c
            .query(format!(
                "SELECT id, CAST(d AS CHAR), CAST(dt AS CHAR), CAST(ts AS CHAR) FROM `{table}` ORDER BY id"
            ))
            .await
            .unwrap();
        c.disconnect().await.unwrap();
        rows
    };
    let want = cells(src.clone()).await;
    assert_eq!(want[0].1.as_deref(), Some("0000-00-00"), "{want:?}");
    for (target, modes) in [
        (&dst, &["full_overwrite"][..]),
        (&dste, &["full_append", "full_overwrite"][..]),
    ] {
        for mode in modes {
            let v = run_ok(&job(
                "mz",
                &my_endpoint(&src),
                &my_endpoint(target),
                &format!("mode: {mode}\n"),
            ));
            assert_exact(&v, 4);
            assert_eq!(cells(target.clone()).await, want, "{target} {mode}");
        }
    }
    assert_eq!(column_types(&dst).await, column_types(&src).await);

    let path = scratch_dir().join(format!("{}.jsonl", unique("mz_dirty")));
    let v = run_ok(&job(
        "mzp",
        &my_endpoint(&src),
        &pg_endpoint(&pgdst),
        &format!(
            "dirty: {{max_rows: 10, sink: {{type: jsonl, path: \"{}\"}}}}\n",
            path.display()
        ),
    ));
    assert_eq!(
        (v["rows_committed"].as_u64(), v["rows_dirty"].as_u64()),
        (Some(2), Some(2)),
        "{v}"
    );
    let recs = records(&path);
    let raw: Vec<String> = recs.iter().map(|r| r["row"]["d"].to_string()).collect();
    assert_eq!(raw, ["\"0000-00-00\"", "\"2020-00-15\""], "{recs:?}");
}

/// Every row's `HEX(e)` and index `e + 0`, in key order.
async fn enum_cells(table: &str) -> Vec<(i32, Option<String>, Option<i64>)> {
    let mut c = my().await;
    let rows = c
        .query(format!(
            "SELECT id, HEX(e), e + 0 FROM `{table}` ORDER BY id"
        ))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    rows
}

/// An `ENUM` holding its error value `''` (stored by a non-strict session;
/// MariaDB documentation, "ENUM": "the empty string with the numeric value
/// 0") arrives as that value in a MariaDB target of the same type — more
/// than 65535 of them in one load, past the protocol's warning count — with
/// and without a dirty policy. A member the target lacks stays a dirty row
/// (or fails the run), and a PostgreSQL `''` is not an error value.
#[tokio::test]
async fn enum_error_values_travel_mariadb_to_mariadb() {
    let (src, dst, dste, narrow, pg_src) = (
        unique("me_src"),
        unique("me_dst"),
        unique("me_dste"),
        unique("me_narrow"),
        unique("me_pg"),
    );
    my_exec(&format!(
        "SET SESSION sql_mode = '';
         CREATE TABLE `{src}` (id INT PRIMARY KEY, e ENUM('a','B','it''s')) ENGINE=InnoDB;
         INSERT INTO `{src}` VALUES (1, 'a'), (2, 'zz'), (3, 'B'), (4, NULL), (5, 'it''s'), (6, 0);
         INSERT INTO `{src}` SELECT seq, '' FROM seq_100_to_70099;
         CREATE TABLE `{dste}` LIKE `{src}`;
         CREATE TABLE `{narrow}` (id INT PRIMARY KEY, e ENUM('a','it''s')) ENGINE=InnoDB;"
    ))
    .await;
    let want = enum_cells(&src).await;
    assert_eq!(want.len(), 70_006);
    assert_eq!(
        want[1],
        (2, Some(String::new()), Some(0)),
        "{:?}",
        &want[..6]
    );
    let dirty = scratch_dir().join(format!("{}.jsonl", unique("me_dirty")));
    let policy = format!(
        "dirty: {{max_rows: 10, sink: {{type: jsonl, path: \"{}\"}}}}\n",
        dirty.display()
    );
    for (target, mode, extra) in [
        (&dst, "full_overwrite", ""),
        (&dste, "full_append", ""),
        (&dste, "full_overwrite", policy.as_str()),
    ] {
        let v = run_ok(&job(
            "me",
            &my_endpoint(&src),
            &my_endpoint(target),
            &format!("mode: {mode}\n{extra}"),
        ));
        assert_exact(&v, 70_006);
        assert_eq!(enum_cells(target).await, want, "{target} {mode} {extra}");
    }
    assert_eq!(column_types(&dst).await, column_types(&src).await);

    // A target without 'B': its row is dirty, the 70002 error values and the
    // other members are stored.
    let v = run_ok(&job(
        "men",
        &my_endpoint(&src),
        &my_endpoint(&narrow),
        &format!("mode: full_overwrite\n{policy}"),
    ));
    assert_eq!(
        (v["rows_committed"].as_u64(), v["rows_dirty"].as_u64()),
        (Some(70_005), Some(1)),
        "{v}"
    );
    let recs = records(&dirty);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["row"]["e"], "B", "{recs:?}");
    assert_eq!(recs[0]["column"], "e", "{recs:?}");
    let kept: Vec<_> = want.iter().filter(|r| r.0 != 3).cloned().collect();
    let mut narrow_want = kept.clone();
    narrow_want[3].2 = Some(2); // 'it''s' is the second member there
    assert_eq!(enum_cells(&narrow).await, narrow_want);
    // Without a dirty policy the run fails, naming the column, and the
    // target keeps what it held.
    let err = run_err(&job(
        "men2",
        &my_endpoint(&src),
        &my_endpoint(&narrow),
        "mode: full_overwrite\n",
    ));
    assert!(err.contains("`e`") || err.contains("'e'"), "{err}");
    assert_eq!(enum_cells(&narrow).await, narrow_want);

    // PostgreSQL text '' into an ENUM is not an error value: a dirty row.
    pg_exec(&format!(
        "CREATE TABLE {pg_src} (id int PRIMARY KEY, e text);
         INSERT INTO {pg_src} VALUES (1, 'a'), (2, '');"
    ))
    .await;
    my_exec(&format!("TRUNCATE `{narrow}`")).await;
    let pg_dirty = scratch_dir().join(format!("{}.jsonl", unique("me_pgdirty")));
    let v = run_ok(&job(
        "mep",
        &pg_endpoint(&pg_src),
        &my_endpoint(&narrow),
        &format!(
            "mode: full_append\ndirty: {{max_rows: 10, sink: {{type: jsonl, path: \"{}\"}}}}\n",
            pg_dirty.display()
        ),
    ));
    assert_eq!(
        (v["rows_committed"].as_u64(), v["rows_dirty"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(
        records(&pg_dirty)[0]["row"]["e"],
        "",
        "{:?}",
        records(&pg_dirty)
    );
}
