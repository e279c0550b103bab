//! Values that have no exact Arrow form, end to end through `ferry run`:
//! the source rejects their rows (PostgreSQL `numeric` NaN/±Infinity into a
//! decimal, `date`/`timestamp` ±infinity; MariaDB zero dates; SQLite text
//! that is not UTF-8 or not a number), and the engine rejects floats a sink
//! cannot store (NaN and ±Infinity into MariaDB, NaN into SQLite). Every
//! such row is in the dirty file with its reason, key, split and column; the
//! good rows arrive exactly; the counts add up; and without a dirty policy
//! the run fails naming the column and leaves the target as it was.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

fn jsonl_policy(path: &std::path::Path) -> String {
    format!(
        "dirty: {{max_rows: 1000, sink: {{type: jsonl, path: \"{}\"}}}}\n",
        path.display()
    )
}

fn dirty_path() -> std::path::PathBuf {
    scratch_dir().join(format!("{}.jsonl", unique("dirty")))
}

/// `(rows_read, rows_dirty, rows_written, rows_committed)` of a summary.
fn counts(v: &serde_json::Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"));
    (
        n("rows_read"),
        n("rows_dirty"),
        n("rows_written"),
        n("rows_committed"),
    )
}

/// The key of a record's `position` (`id=N`).
fn id_of(r: &serde_json::Value) -> i64 {
    r["position"]
        .as_str()
        .and_then(|p| p.strip_prefix("id="))
        .unwrap_or_else(|| panic!("position is not id=N: {r}"))
        .parse()
        .unwrap()
}

/// Checks every record against `expect(id) -> Some((column, reason, raw))`
/// and that exactly the expected ids are there; returns the split indexes seen.
fn check_records(
    recs: &[serde_json::Value],
    summary: &serde_json::Value,
    ids: impl Iterator<Item = i64>,
    expect: impl Fn(i64) -> Option<(&'static str, &'static str, Option<&'static str>)>,
) -> std::collections::BTreeSet<u64> {
    let want: Vec<i64> = ids.filter(|id| expect(*id).is_some()).collect();
    let mut got: Vec<i64> = recs.iter().map(id_of).collect();
    got.sort();
    assert_eq!(got, want, "dirty ids");
    let mut splits = std::collections::BTreeSet::new();
    let planned = summary["splits"].as_array().unwrap().len() as u64;
    for r in recs {
        let id = id_of(r);
        let (column, reason, raw) = expect(id).unwrap();
        assert_eq!(r["column"], column, "{r}");
        assert_eq!(r["reason"], reason, "{r}");
        assert_eq!(r["row"]["id"], serde_json::json!(id), "{r}");
        if let Some(raw) = raw {
            assert_eq!(r["row"][column], raw, "{r}");
            assert!(r["message"].as_str().unwrap().contains(raw), "{r}");
        }
        assert_eq!(r["run_id"], summary["run_id"], "{r}");
        let split = r["split"]
            .as_u64()
            .unwrap_or_else(|| panic!("no split index: {r}"));
        assert!(split < planned, "{r}");
        splits.insert(split);
    }
    splits
}

// ---------------------------------------------------------------------------
// PostgreSQL source: numeric NaN/±Infinity into decimal(10,2), ±infinity dates.
// ---------------------------------------------------------------------------

const PG_ROWS: i64 = 1000;

/// Per 100 ids: 7 bad rows, each with one value that has no Arrow form.
/// (A `numeric(p,s)` column holds NaN but no ±Infinity; the unconstrained
/// `x numeric` holds all three, and carries them as exact text: good rows.)
fn pg_bad(id: i64) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    let c = "conversion";
    match id % 100 {
        7 => Some(("amount", c, Some("NaN"))),
        17 => Some(("d", c, Some("infinity"))),
        27 => Some(("d", c, Some("-infinity"))),
        37 => Some(("ts", c, Some("infinity"))),
        47 => Some(("ts", c, Some("-infinity"))),
        57 => Some(("tz", c, Some("infinity"))),
        67 => Some(("tz", c, Some("-infinity"))),
        _ => None,
    }
}

const PG_BAD_FILTER: &str = "id % 100 NOT IN (7, 17, 27, 37, 47, 57, 67)";

async fn make_pg_source(src: &str) {
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY, amount numeric(10,2), d date,
                             ts timestamp, tz timestamptz, note text, x numeric);
         INSERT INTO {src}
         SELECT g,
                CASE g % 100 WHEN 7 THEN 'NaN' ELSE (g * 1.25 - 300)::numeric(10,2) END,
                CASE g % 100 WHEN 17 THEN 'infinity'::date WHEN 27 THEN '-infinity'::date
                     ELSE date '2001-01-01' + g END,
                CASE g % 100 WHEN 37 THEN 'infinity'::timestamp WHEN 47 THEN '-infinity'::timestamp
                     ELSE timestamp '2020-01-01 00:00:00' + g * interval '1 hour 0.5 sec' END,
                CASE g % 100 WHEN 57 THEN 'infinity'::timestamptz WHEN 67 THEN '-infinity'::timestamptz
                     ELSE timestamptz '2020-01-01 00:00:00+00' + g * interval '1 day 0.000001 sec' END,
                'row ' || g,
                CASE g % 100 WHEN 77 THEN 'NaN' WHEN 87 THEN 'Infinity' WHEN 97 THEN '-Infinity'
                     ELSE g * 0.001 END
           FROM generate_series(1, {PG_ROWS}) g;
         ANALYZE {src};"
    ))
    .await;
}

fn pg_canon(t: &str, filter: &str) -> String {
    format!(
        "SELECT concat_ws('|', id, amount, to_char(d, 'YYYY-MM-DD'),
                to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US'),
                to_char(tz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), note, x)
           FROM {t} {filter}"
    )
}

/// A transform reads the values, so they travel as Arrow values (without
/// one, PostgreSQL → PostgreSQL carries them exactly: see the next test).
const PG_TRANSFORM: &str = "filter: \"id > 0\"\n";

#[tokio::test]
async fn pg_to_pg_without_a_transform_carries_nan_and_infinity() {
    let (src, dst) = (unique("sd_px"), unique("sd_px_dst"));
    make_pg_source(&src).await;
    // No dirty policy needed: nothing is dirty.
    let v = run_ok(&job("sdx", &pg_endpoint(&src), &pg_endpoint(&dst), ""));
    assert_eq!(counts(&v), (1000, 0, 1000, 1000), "{v}");
    let whole = |t: &str| format!("SELECT t::text FROM {t} t");
    assert_eq!(pg_digest(&whole(&dst)).await, pg_digest(&whole(&src)).await);
}

#[tokio::test]
async fn pg_nan_and_infinity_rows_are_dirty_for_a_pg_sink_through_a_transform() {
    let (src, dst) = (unique("sd_pg"), unique("sd_pg_dst"));
    make_pg_source(&src).await;
    pg_exec(&format!(
        "CREATE TABLE {dst} (id bigint PRIMARY KEY, amount numeric(10,2), d date,
                             ts timestamp, tz timestamptz, note text, x numeric);
         INSERT INTO {dst} VALUES (-1, 1.00, '2000-01-01', '2000-01-01', '2000-01-01', 'old', 1);"
    ))
    .await;
    let whole = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&whole).await;

    // No dirty policy: the first bad value fails the run, naming its column.
    let err = run_err(&job(
        "sd",
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        PG_TRANSFORM,
    ));
    assert!(
        ["amount", "d", "ts", "tz"]
            .iter()
            .any(|c| err.contains(&format!("dirty data in column `{c}`"))),
        "{err}"
    );
    assert!(err.contains("exceed dirty.max_rows = 0"), "{err}");
    assert_eq!(pg_digest(&whole).await, before, "target changed");

    let path = dirty_path();
    let v = run_ok(&job(
        "sd",
        &pg_endpoint(&src),
        &pg_endpoint(&dst),
        &format!("{PG_TRANSFORM}{}", jsonl_policy(&path)),
    ));
    assert_eq!(counts(&v), (1000, 70, 930, 930), "{v}");
    let split_rows: u64 = v["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(
        split_rows, 1000,
        "split rows include the rejected rows: {v}"
    );
    let splits = check_records(&records(&path), &v, 1..=PG_ROWS, pg_bad);
    assert!(
        splits.len() >= 2,
        "bad rows are in several splits, each named: {splits:?}"
    );
    assert_eq!(
        pg_digest(&pg_canon(&dst, "")).await,
        pg_digest(&pg_canon(&src, &format!("WHERE {PG_BAD_FILTER}"))).await
    );
    // The unconstrained numeric's NaN and ±Infinity arrived as themselves.
    let specials = pg_digest(&format!(
        "SELECT concat_ws('|', id, x) FROM {dst} WHERE x IN ('NaN', 'Infinity', '-Infinity')"
    ))
    .await;
    let want = (1..=PG_ROWS)
        .filter_map(|id| match id % 100 {
            77 => Some(format!("{id}|NaN")),
            87 => Some(format!("{id}|Infinity")),
            97 => Some(format!("{id}|-Infinity")),
            _ => None,
        })
        .collect();
    assert_eq!(specials, digest(want));
}

#[tokio::test]
async fn pg_nan_and_infinity_rows_are_dirty_for_a_mariadb_sink() {
    let (src, dst) = (unique("sd_pgm"), unique("sd_pgm_dst"));
    make_pg_source(&src).await;
    my_exec(&format!(
        "CREATE TABLE `{dst}` (id bigint PRIMARY KEY, amount decimal(10,2), d date,
                               ts datetime(6), tz datetime(6), note text, x longtext);
         INSERT INTO `{dst}` VALUES (-1, 1.00, '2000-01-01', '2000-01-01', '2000-01-01', 'old', '1');"
    ))
    .await;
    let whole = format!("SELECT concat_ws('|', id, amount, d, ts, tz, note, x) FROM `{dst}`");
    let before = my_digest(&whole).await;
    let err = run_err(&job("sd", &pg_endpoint(&src), &my_endpoint(&dst), ""));
    assert!(err.contains("dirty data in column `"), "{err}");
    assert_eq!(my_digest(&whole).await, before, "target changed");

    let path = dirty_path();
    let v = run_ok(&job(
        "sd",
        &pg_endpoint(&src),
        &my_endpoint(&dst),
        &jsonl_policy(&path),
    ));
    assert_eq!(counts(&v), (1000, 70, 930, 930), "{v}");
    check_records(&records(&path), &v, 1..=PG_ROWS, pg_bad);
    assert_eq!(
        my_digest(&format!(
            "SELECT concat_ws('|', id, cast(amount as char), date_format(d, '%Y-%m-%d'),
                    date_format(ts, '%Y-%m-%d %H:%i:%s.%f'), date_format(tz, '%Y-%m-%d %H:%i:%s.%f'), note, x)
               FROM `{dst}`"
        ))
        .await,
        pg_digest(&pg_canon(&src, &format!("WHERE {PG_BAD_FILTER}"))).await
    );
}

// ---------------------------------------------------------------------------
// MariaDB source: zero dates and dates with a zero month or day.
// ---------------------------------------------------------------------------

fn my_bad(id: i64) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    let c = "conversion";
    match id % 50 {
        5 => Some(("d", c, Some("0000-00-00"))),
        15 => Some(("d", c, Some("2020-00-15"))),
        25 => Some(("dt", c, Some("0000-00-00 00:00:00.000000"))),
        35 => Some(("ts", c, Some("0000-00-00 00:00:00"))),
        45 => Some(("dt", c, Some("2020-01-00 10:00:00.000000"))),
        _ => None,
    }
}

#[tokio::test]
async fn mariadb_zero_dates_are_dirty_for_a_pg_sink() {
    let (src, dst) = (unique("sd_my"), unique("sd_my_dst"));
    // Zero dates need a sql_mode without NO_ZERO_DATE / NO_ZERO_IN_DATE.
    my_exec(&format!(
        "SET SESSION sql_mode = '', SESSION time_zone = '+00:00';
         CREATE TABLE `{src}` (id int PRIMARY KEY, d date, dt datetime(6),
                               ts timestamp NULL DEFAULT NULL, note varchar(20));
         INSERT INTO `{src}`
         SELECT seq,
                CASE seq % 50 WHEN 5 THEN '0000-00-00' WHEN 15 THEN '2020-00-15'
                     ELSE DATE '2001-01-01' + INTERVAL seq DAY END,
                CASE seq % 50 WHEN 25 THEN '0000-00-00 00:00:00' WHEN 45 THEN '2020-01-00 10:00:00'
                     ELSE TIMESTAMP '2020-01-01 00:00:00.123456' + INTERVAL seq MINUTE END,
                CASE seq % 50 WHEN 35 THEN '0000-00-00 00:00:00'
                     ELSE TIMESTAMP '2021-06-01 00:00:00' + INTERVAL seq HOUR END,
                CONCAT('row ', seq)
           FROM seq_1_to_600;"
    ))
    .await;
    pg_exec(&format!(
        "CREATE TABLE {dst} (id integer PRIMARY KEY, d date, dt timestamp, ts timestamptz, note varchar(20));
         INSERT INTO {dst} VALUES (-1, '2000-01-01', '2000-01-01', '2000-01-01', 'old');"
    ))
    .await;
    let whole = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&whole).await;
    let err = run_err(&job("sd", &my_endpoint(&src), &pg_endpoint(&dst), ""));
    assert!(
        err.contains("dirty data in column `d`") && err.contains("0000-00-00"),
        "{err}"
    );
    assert_eq!(pg_digest(&whole).await, before, "target changed");

    let path = dirty_path();
    let v = run_ok(&job(
        "sd",
        &my_endpoint(&src),
        &pg_endpoint(&dst),
        &jsonl_policy(&path),
    ));
    assert_eq!(counts(&v), (600, 60, 540, 540), "{v}");
    let splits = check_records(&records(&path), &v, 1..=600, my_bad);
    assert_eq!(splits.into_iter().collect::<Vec<_>>(), vec![0]);
    assert_eq!(
        pg_digest(&format!(
            "SELECT concat_ws('|', id, to_char(d, 'YYYY-MM-DD'), to_char(dt, 'YYYY-MM-DD HH24:MI:SS.US'),
                    extract(epoch FROM ts)::bigint, note) FROM {dst}"
        ))
        .await,
        my_digest(&format!(
            "SELECT concat_ws('|', id, date_format(d, '%Y-%m-%d'), date_format(dt, '%Y-%m-%d %H:%i:%s.%f'),
                    unix_timestamp(ts), note)
               FROM `{src}` WHERE id % 50 NOT IN (5, 15, 25, 35, 45)"
        ))
        .await
    );
}

// ---------------------------------------------------------------------------
// SQLite source: 'abc' in an INTEGER column, text that is not UTF-8, overflow.
// ---------------------------------------------------------------------------

fn sqlite_bad(id: i64) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    match id % 25 {
        3 => Some(("n", "conversion", Some("abc"))),
        8 => Some(("s", "encoding", None)),
        13 => Some(("n", "encoding", None)),
        18 => Some(("small", "overflow", Some("70000"))),
        _ => None,
    }
}

#[tokio::test]
async fn sqlite_values_that_are_not_their_type_are_dirty_for_a_pg_sink() {
    let file = scratch_dir().join(format!("{}.db", unique("sd_lite")));
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT, small SMALLINT);
         WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 500)
         INSERT INTO t SELECT i,
                CASE i % 25 WHEN 3 THEN 'abc' WHEN 13 THEN CAST(x'ff41' AS TEXT) ELSE i * 1000 END,
                CASE i % 25 WHEN 8 THEN CAST(x'ff41' AS TEXT) ELSE 'text ' || i || ' ☃' END,
                CASE i % 25 WHEN 18 THEN 70000 ELSE i - 250 END
           FROM g;",
    )
    .unwrap();
    drop(conn);
    let dst = unique("sd_lite_dst");
    pg_exec(&format!(
        "CREATE TABLE {dst} (id bigint PRIMARY KEY, n bigint, s text, small smallint);
         INSERT INTO {dst} VALUES (-1, 1, 'old', 1);"
    ))
    .await;
    let whole = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&whole).await;
    let err = run_err(&job(
        "sd",
        &sqlite_endpoint(&file, "t"),
        &pg_endpoint(&dst),
        "",
    ));
    assert!(
        err.contains("dirty data in column `n`") && err.contains("abc"),
        "{err}"
    );
    assert_eq!(pg_digest(&whole).await, before, "target changed");

    let path = dirty_path();
    let v = run_ok(&job(
        "sd",
        &sqlite_endpoint(&file, "t"),
        &pg_endpoint(&dst),
        &jsonl_policy(&path),
    ));
    assert_eq!(counts(&v), (500, 80, 420, 420), "{v}");
    let recs = records(&path);
    check_records(&recs, &v, 1..=500, sqlite_bad);
    for r in recs.iter().filter(|r| r["reason"] == "encoding") {
        // The bad bytes are shown as text with U+FFFD, never dropped.
        let column = r["column"].as_str().unwrap();
        assert_eq!(r["row"][column], "\u{fffd}A", "{r}");
        assert!(r["message"].as_str().unwrap().contains("UTF-8"), "{r}");
    }
    assert_eq!(
        pg_digest(&format!(
            "SELECT concat_ws('|', id, n, s, small) FROM {dst}"
        ))
        .await,
        sqlite_digest(
            &file,
            "SELECT id || '|' || n || '|' || s || '|' || small FROM t
              WHERE id % 25 NOT IN (3, 8, 13, 18)"
        )
    );
}

// ---------------------------------------------------------------------------
// Sink side: float NaN/±Infinity into targets that cannot store them.
// ---------------------------------------------------------------------------

/// 400 rows; per 20 ids: f NaN, f +Infinity, f -Infinity, r NaN.
async fn make_float_source(src: &str) {
    pg_exec(&format!(
        "CREATE TABLE {src} (id bigint PRIMARY KEY, f float8, r real);
         INSERT INTO {src}
         SELECT g,
                CASE g % 20 WHEN 4 THEN 'NaN' WHEN 9 THEN 'Infinity' WHEN 14 THEN '-Infinity'
                     ELSE g / 4.0 END,
                CASE g % 20 WHEN 19 THEN 'NaN' ELSE g / 8.0 END
           FROM generate_series(1, 400) g;
         ANALYZE {src};"
    ))
    .await;
}

fn float_value(id: i64) -> (f64, f32) {
    let f = match id % 20 {
        4 => f64::NAN,
        9 => f64::INFINITY,
        14 => f64::NEG_INFINITY,
        _ => id as f64 / 4.0,
    };
    let r = if id % 20 == 19 {
        f32::NAN
    } else {
        id as f32 / 8.0
    };
    (f, r)
}

#[tokio::test]
async fn float_nan_and_infinity_are_dirty_for_mariadb() {
    let (src, dst) = (unique("sd_f"), unique("sd_f_my"));
    make_float_source(&src).await;
    my_exec(&format!(
        "CREATE TABLE `{dst}` (id bigint PRIMARY KEY, f double, r float);
         INSERT INTO `{dst}` VALUES (-1, 1.5, 2.5);"
    ))
    .await;
    let whole = format!("SELECT concat_ws('|', id, f, r) FROM `{dst}`");
    let before = my_digest(&whole).await;
    let err = run_err(&job("sd", &pg_endpoint(&src), &my_endpoint(&dst), ""));
    assert!(
        err.contains("dirty data in column `f`") || err.contains("dirty data in column `r`"),
        "{err}"
    );
    assert!(err.contains("cannot be stored in a mysql"), "{err}");
    assert_eq!(my_digest(&whole).await, before, "target changed");

    let path = dirty_path();
    let v = run_ok(&job(
        "sd",
        &pg_endpoint(&src),
        &my_endpoint(&dst),
        &jsonl_policy(&path),
    ));
    assert_eq!(counts(&v), (400, 80, 320, 320), "{v}");
    let recs = records(&path);
    let mut got: Vec<(i64, String, String)> = recs
        .iter()
        .map(|r| {
            assert_eq!(r["reason"], "conversion", "{r}");
            assert_eq!(r["task"], "sd", "{r}");
            assert!(r["split"].is_null(), "a sink-side record has no split: {r}");
            let column = r["column"].as_str().unwrap().to_string();
            let value = r["row"][&column].as_str().unwrap().to_string();
            (id_of(r), column, value)
        })
        .collect();
    got.sort();
    let want: Vec<(i64, String, String)> = (1..=400)
        .filter_map(|id| {
            let (c, v) = match id % 20 {
                4 => ("f", "NaN"),
                9 => ("f", "Infinity"),
                14 => ("f", "-Infinity"),
                19 => ("r", "NaN"),
                _ => return None,
            };
            Some((id, c.to_string(), v.to_string()))
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        my_digest(&format!(
            "SELECT concat_ws('|', id, cast(f as char), cast(r as char)) FROM `{dst}`"
        ))
        .await,
        pg_digest(&format!(
            "SELECT concat_ws('|', id, f, r) FROM {src} WHERE id % 20 NOT IN (4, 9, 14, 19)"
        ))
        .await
    );
}

/// Every row of a SQLite float table, by id.
fn sqlite_floats(file: &std::path::Path) -> Vec<(i64, Option<f64>, Option<f64>)> {
    let conn = rusqlite::Connection::open(file).unwrap();
    let mut stmt = conn.prepare("SELECT id, f, r FROM t ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test]
async fn float_nan_is_dirty_for_sqlite_and_infinity_is_kept() {
    let src = unique("sd_fl");
    make_float_source(&src).await;
    let file = scratch_dir().join(format!("{}.db", unique("sd_f_lite")));
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, f REAL, r FLOAT);
         INSERT INTO t VALUES (-1, 1.5, 2.5);",
    )
    .unwrap();
    drop(conn);
    let err = run_err(&job(
        "sd",
        &pg_endpoint(&src),
        &sqlite_endpoint(&file, "t"),
        "",
    ));
    assert!(
        err.contains("dirty data in column `f`") || err.contains("dirty data in column `r`"),
        "{err}"
    );
    assert!(err.contains("NaN cannot be stored in a sqlite"), "{err}");
    assert_eq!(
        sqlite_floats(&file),
        vec![(-1, Some(1.5), Some(2.5))],
        "target changed"
    );

    let path = dirty_path();
    let v = run_ok(&job(
        "sd",
        &pg_endpoint(&src),
        &sqlite_endpoint(&file, "t"),
        &jsonl_policy(&path),
    ));
    assert_eq!(counts(&v), (400, 40, 360, 360), "{v}");
    let recs = records(&path);
    let mut got: Vec<(i64, &str)> = recs
        .iter()
        .map(|r| {
            assert_eq!(r["reason"], "conversion", "{r}");
            (id_of(r), r["column"].as_str().unwrap())
        })
        .collect();
    got.sort();
    let want: Vec<(i64, &str)> = (1..=400)
        .filter_map(|id| match id % 20 {
            4 => Some((id, "f")),
            19 => Some((id, "r")),
            _ => None,
        })
        .collect();
    assert_eq!(got, want);
    // Infinity is stored as itself; no value became NULL.
    let want: Vec<(i64, Option<f64>, Option<f64>)> = (1..=400)
        .filter(|id| !matches!(id % 20, 4 | 19))
        .map(|id| {
            let (f, r) = float_value(id);
            (id, Some(f), Some(f64::from(r)))
        })
        .collect();
    assert_eq!(sqlite_floats(&file), want);
}

#[tokio::test]
async fn float_nan_and_infinity_arrive_exactly_in_postgres() {
    let (src, dst) = (unique("sd_fp"), unique("sd_fp_dst"));
    make_float_source(&src).await;
    let v = run_ok(&job("sd", &pg_endpoint(&src), &pg_endpoint(&dst), ""));
    assert_eq!(counts(&v), (400, 0, 400, 400), "{v}");
    let canon = |t: &str| format!("SELECT concat_ws('|', id, f, r) FROM {t}");
    assert_eq!(pg_digest(&canon(&dst)).await, pg_digest(&canon(&src)).await);
    let specials = pg_digest(&format!(
        "SELECT concat_ws('|', id, f, r) FROM {dst} WHERE f IN ('NaN', 'Infinity', '-Infinity') OR r = 'NaN'"
    ))
    .await;
    assert_eq!(specials.rows, 80);
}
