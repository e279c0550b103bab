//! Cross-dialect fidelity (issue 15, item 2): an edge-value table per source
//! dialect — extremes of each integer width, numeric limits, NaN/±Infinity,
//! the ends of the date and time ranges (PostgreSQL `infinity` and
//! `24:00:00`, MariaDB ±838:59:59), zones, empty and 4-byte UTF-8 text,
//! bytes, uuid, json, arrays, enums, unsigned integers, bit, year, set —
//! copied into a new target of each other dialect with a dirty policy.
//!
//! Every run succeeds, and every source cell is either equal in the target
//! (each database's own text of it: PostgreSQL `::text`, MariaDB `CAST(… AS
//! CHAR)`/`HEX`, SQLite's stored value), or equal under a normalisation the
//! type matrix names (`docs/type-matrix.md`, "Across dialects"; each is a
//! function below with the same name), or its row is a dirty record holding
//! the raw value. Each source row holds one edge value (the other columns
//! NULL), so one dirty value hides no other.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::Path;

use ferry_connectors::matrix_cross::{Verdict, cross_verdict};
use mysql_async::prelude::Queryable;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Pg,
    My,
    Lite,
}

/// How a column's text is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Float8,
    Float4,
    Decimal,
    Text,
    Bytes,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Uuid,
    Json,
    /// MariaDB `bit(n)`: read as its unsigned integer.
    Bits,
    /// Interval, list, set…: text compared by a named normalisation.
    Other,
}

/// One source column: name, declared type, kind, edge values (SQL literals).
struct Col {
    name: &'static str,
    decl: &'static str,
    kind: Kind,
    values: &'static [&'static str],
}

const fn col(
    name: &'static str,
    decl: &'static str,
    kind: Kind,
    values: &'static [&'static str],
) -> Col {
    Col {
        name,
        decl,
        kind,
        values,
    }
}

use Kind::*;

/// PostgreSQL edge values (PostgreSQL 15 documentation, chapter 8).
const PG_COLS: &[Col] = &[
    col("i2", "smallint", Int, &["-32768", "32767"]),
    col("i4", "integer", Int, &["-2147483648", "2147483647"]),
    col(
        "i8",
        "bigint",
        Int,
        &["-9223372036854775808", "9223372036854775807"],
    ),
    col(
        "n380",
        "numeric(38,0)",
        Decimal,
        &[
            "99999999999999999999999999999999999999",
            "-99999999999999999999999999999999999999",
        ],
    ),
    col(
        "n152",
        "numeric(15,2)",
        Decimal,
        &["9999999999999.99", "-0.01", "'NaN'"],
    ),
    col(
        "n",
        "numeric",
        Decimal,
        &[
            "'NaN'",
            "'Infinity'",
            "123456789012345678901234567890.0123456789",
            "-0.0000000001",
        ],
    ),
    col(
        "f8",
        "float8",
        Float8,
        &[
            "'NaN'",
            "'Infinity'",
            "'-Infinity'",
            "1.7976931348623157e308",
            "5e-324",
            "'-0'",
        ],
    ),
    col(
        "f4",
        "real",
        Float4,
        &["3.4028235e38", "1.17549435e-38", "'NaN'"],
    ),
    col("t", "text", Text, &["''", "'😀 ü \\ '' \"'"]),
    col("vc", "varchar(7)", Text, &["'über'"]),
    col("bp", "char(4)", Text, &["'ab'"]),
    col("by", "bytea", Bytes, &["'\\x00ff'", "'\\x'"]),
    col(
        "d",
        "date",
        Date,
        &[
            "'0001-01-01'",
            "'9999-12-31'",
            "'infinity'",
            "'5874897-12-31'",
            "'4713-01-01 BC'",
        ],
    ),
    col(
        "tm",
        "time",
        Time,
        &["'00:00'", "'23:59:59.999999'", "'24:00:00'"],
    ),
    col(
        "ts",
        "timestamp",
        Timestamp,
        &[
            "'0001-01-01 00:00'",
            "'9999-12-31 23:59:59.999999'",
            "'-infinity'",
        ],
    ),
    col(
        "tz",
        "timestamptz",
        TimestampTz,
        &[
            "'2001-02-03 04:05:06.789+05:30'",
            "'1970-01-01 00:00:00+00'",
        ],
    ),
    col(
        "u",
        "uuid",
        Uuid,
        &["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
    ),
    col(
        "j",
        "jsonb",
        Json,
        &["'{\"a\": [1, 2.50, \"😀\"]}'", "'null'"],
    ),
    col("b", "boolean", Bool, &["true", "false"]),
    col(
        "iv",
        "interval",
        Other,
        &["'1 year 2 mons -3 days 04:05:06.789'"],
    ),
    col("a", "int[]", Other, &["'{1,NULL,3}'"]),
    col("at", "text[]", Other, &["'{\"a,b\",NULL}'"]),
    col("a2", "int[]", Other, &["'{{1,2},{3,4}}'", "'[0:1]={5,6}'"]),
    col("ttz", "timetz", Text, &["'24:00:00-15:59'"]),
    col("ip", "inet", Text, &["'2001:db8::1/64'"]),
];

/// MariaDB 10.11 edge values (MariaDB Knowledge Base, data types).
const MY_COLS: &[Col] = &[
    col("ti", "tinyint", Int, &["-128", "127"]),
    col("tu", "tinyint unsigned", Int, &["255"]),
    col("mi", "mediumint", Int, &["-8388608", "8388607"]),
    col("iu", "int unsigned", Int, &["4294967295"]),
    col(
        "bi",
        "bigint",
        Int,
        &["-9223372036854775808", "9223372036854775807"],
    ),
    col("bu", "bigint unsigned", Int, &["18446744073709551615"]),
    col(
        "dc",
        "decimal(65,30)",
        Decimal,
        &[
            "99999999999999999999999999999999999.999999999999999999999999999999",
            "-0.000000000000000000000000000001",
        ],
    ),
    col("d152", "decimal(15,2)", Decimal, &["-9999999999999.99"]),
    col("f", "float", Float4, &["3.40282e38", "-1.17549e-38"]),
    col(
        "db",
        "double",
        Float8,
        &["1.7976931348623157e308", "-2.2250738585072014e-308"],
    ),
    col("vc", "varchar(255)", Text, &["''", "'😀 ü \\\\ '' \"'"]),
    col("tx", "text", Text, &["'über'", "'a\\0b'"]),
    col("bn", "binary(4)", Bytes, &["x'00ff'"]),
    col("vb", "varbinary(10)", Bytes, &["x'00ff'", "x''"]),
    col(
        "d",
        "date",
        Date,
        &["'1000-01-01'", "'9999-12-31'", "'0000-00-00'"],
    ),
    col(
        "tm",
        "time(6)",
        Time,
        &[
            "'-838:59:59'",
            "'838:59:59'",
            "'00:00:00'",
            "'23:59:59.999999'",
            "'24:00:00'",
        ],
    ),
    col(
        "dt",
        "datetime(6)",
        Timestamp,
        &["'1000-01-01 00:00:00'", "'9999-12-31 23:59:59.999999'"],
    ),
    col(
        "tsp",
        "timestamp(6)",
        TimestampTz,
        &["'1970-01-01 00:00:01'", "'2038-01-19 03:14:07.999999'"],
    ),
    col("y", "year", Int, &["1901", "2155"]),
    col("bt", "bit(8)", Bits, &["b'10101010'"]),
    col("e", "enum('a','b 😀')", Text, &["'b 😀'"]),
    col("s", "set('a','b')", Other, &["'a,b'"]),
    col("j", "json", Json, &["'{\"a\": [1, 2.50]}'"]),
    col(
        "u",
        "uuid",
        Uuid,
        &["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
    ),
];

/// SQLite edge values (sqlite.org/datatype3.html: storage classes, affinity).
const LITE_COLS: &[Col] = &[
    col(
        "i",
        "INTEGER",
        Int,
        &["-9223372036854775808", "9223372036854775807", "'abc'"],
    ),
    col(
        "r",
        "REAL",
        Float8,
        &["1.7976931348623157e308", "9e999", "-9e999"],
    ),
    col("n", "NUMERIC(10,2)", Decimal, &["12345678.9", "-0.5"]),
    col(
        "nt",
        "DECIMAL_TEXT(40,10)",
        Decimal,
        &["'123456789012345678901234567890.0123456789'", "'abc'"],
    ),
    col(
        "t",
        "TEXT",
        Text,
        &["''", "'😀 ü'", "'a' || char(0) || 'b'"],
    ),
    col("bl", "BLOB", Bytes, &["x'00ff'"]),
    col(
        "d",
        "DATE",
        Date,
        &["'0001-01-01'", "'9999-12-31'", "'not a date'"],
    ),
    col("tm", "TIME", Time, &["'00:00:00'", "'23:59:59.999999'"]),
    col("dt", "DATETIME", Timestamp, &["'2001-02-03 04:05:06.789'"]),
    col(
        "tz",
        "TIMESTAMPTZ",
        TimestampTz,
        &[
            "'2001-02-03 04:05:06.789Z'",
            "'2001-02-03 04:05:06.789+00:00'",
        ],
    ),
    col(
        "u",
        "UUID",
        Uuid,
        &["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
    ),
    col("j", "JSON", Json, &["'{\"a\":1}'"]),
    col("b", "BOOLEAN", Bool, &["1", "0"]),
];

/// `CREATE TABLE` + one `INSERT` per edge value (its column set, the rest
/// NULL); returns the statements and each row's (id, column).
fn table_sql(cols: &[Col], table: &str, quote: &str) -> (Vec<String>, BTreeMap<i64, usize>) {
    let defs: Vec<String> = cols
        .iter()
        .map(|c| format!("{q}{}{q} {}", c.name, c.decl, q = quote))
        .collect();
    let mut sql = vec![format!(
        "CREATE TABLE {q}{table}{q} (id integer PRIMARY KEY, {})",
        defs.join(", "),
        q = quote
    )];
    let mut rows = BTreeMap::new();
    let mut id = 0i64;
    for (ci, c) in cols.iter().enumerate() {
        for v in c.values {
            id += 1;
            rows.insert(id, ci);
            sql.push(format!(
                "INSERT INTO {q}{table}{q} (id, {q}{}{q}) VALUES ({id}, {v})",
                c.name,
                q = quote
            ));
        }
    }
    (sql, rows)
}

/// Each column's value per row id, as the database's own text (`None` for NULL).
type Cells = BTreeMap<i64, Vec<Option<String>>>;

/// The text expression for one column in `db`.
fn text_expr(db: Db, name: &str, kind: Kind) -> String {
    match db {
        Db::Pg => {
            let c = format!("\"{name}\"");
            match kind {
                Bytes => format!("encode({c}::bytea, 'hex')"),
                TimestampTz => format!("({c}::timestamptz AT TIME ZONE 'UTC')::text"),
                _ => format!("{c}::text"),
            }
        }
        Db::My => {
            let c = format!("`{name}`");
            match kind {
                Bytes => format!("LOWER(HEX({c}))"),
                Float4 | Float8 => format!("CAST(CAST({c} AS DOUBLE) AS CHAR)"),
                Bits => format!("CAST({c} + 0 AS CHAR)"),
                _ => format!("CAST({c} AS CHAR)"),
            }
        }
        Db::Lite => unreachable!("SQLite values are read as stored"),
    }
}

async fn read_pg(table: &str, cols: &[(String, Kind)]) -> Cells {
    let exprs: Vec<String> = cols.iter().map(|(n, k)| text_expr(Db::Pg, n, *k)).collect();
    let sql = format!("SELECT id::int8, {} FROM \"{table}\"", exprs.join(", "));
    let rows = pg()
        .await
        .query(&sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    rows.iter()
        .map(|r| {
            let id: i64 = r.get(0);
            (
                id,
                (1..=cols.len())
                    .map(|i| r.get::<_, Option<String>>(i))
                    .collect(),
            )
        })
        .collect()
}

async fn read_my(table: &str, cols: &[(String, Kind)]) -> Cells {
    let exprs: Vec<String> = cols.iter().map(|(n, k)| text_expr(Db::My, n, *k)).collect();
    let sql = format!(
        "SELECT CAST(id AS CHAR), {} FROM `{table}`",
        exprs.join(", ")
    );
    let mut c = my().await;
    c.query_drop("SET time_zone = '+00:00'").await.unwrap();
    let rows: Vec<mysql_async::Row> = c.query(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    c.disconnect().await.unwrap();
    rows.into_iter()
        .map(|r| {
            let vals: Vec<Option<String>> = (0..=cols.len())
                .map(|i| {
                    r.get::<Option<Vec<u8>>, _>(i)
                        .flatten()
                        .map(|b| String::from_utf8(b).unwrap())
                })
                .collect();
            (
                vals[0].as_ref().unwrap().parse().unwrap(),
                vals[1..].to_vec(),
            )
        })
        .collect()
}

fn read_lite(path: &Path, table: &str, cols: &[(String, Kind)]) -> Cells {
    use rusqlite::types::ValueRef;
    let conn = rusqlite::Connection::open(path).unwrap();
    let names: Vec<String> = cols.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let sql = format!("SELECT id, {} FROM \"{table}\"", names.join(", "));
    let mut stmt = conn.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Cells::new();
    let mut rows = stmt.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        let id: i64 = r.get(0).unwrap();
        let vals = (1..=cols.len())
            .map(|i| match r.get_ref(i).unwrap() {
                ValueRef::Null => None,
                ValueRef::Integer(v) => Some(v.to_string()),
                ValueRef::Real(v) => Some(format!("{v:?}")),
                ValueRef::Text(t) => Some(String::from_utf8(t.to_vec()).unwrap()),
                ValueRef::Blob(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
            })
            .collect();
        out.insert(id, vals);
    }
    out
}

fn lite_exec(path: &Path, sql: &[String]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    for s in sql {
        conn.execute_batch(s)
            .unwrap_or_else(|e| panic!("SQLite: {s}: {e}"));
    }
}

// ---- The normalisations the type matrix names ("Across dialects"). ----

/// `bool as 0/1`: a boolean stored as an integer (MariaDB `TINYINT(1)`).
fn bool_as_0_1(s: &str) -> String {
    match s {
        "t" | "true" | "1" => "1".into(),
        "f" | "false" | "0" => "0".into(),
        other => other.into(),
    }
}

/// `json re-serialised`: the same JSON value (key order, spacing and number
/// spelling as the target prints them).
fn json_re_serialised(s: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) => v.to_string(),
        Err(_) => s.into(),
    }
}

/// `text form of the value`: a date/time value as its ISO text, `T` or
/// space, trailing fractional zeros dropped, UTC offset dropped.
fn iso_text(s: &str) -> String {
    let mut t = s.replacen('T', " ", 1);
    for z in ["+00:00", "+00", "Z"] {
        if let Some(x) = t.strip_suffix(z) {
            t = x.to_string();
        }
    }
    if let Some((head, frac)) = t.rsplit_once('.')
        && frac.chars().all(|c| c.is_ascii_digit())
    {
        let frac = frac.trim_end_matches('0');
        t = if frac.is_empty() {
            head.to_string()
        } else {
            format!("{head}.{frac}")
        };
    }
    t
}

/// `decimal text`: the same decimal number, trailing fractional zeros dropped.
fn decimal_text(s: &str) -> String {
    if !s.contains('.') || s.contains(['e', 'E']) {
        return s.into();
    }
    let t = s.trim_end_matches('0').trim_end_matches('.');
    if t == "-0" { "0".into() } else { t.into() }
}

/// `list as JSON text`: a PostgreSQL array as the JSON array its elements make.
fn list_as_json(s: &str) -> String {
    json_re_serialised(s)
}

/// Canonical text of a cell of `kind` (the per-kind comparison).
fn canonical(kind: Kind, s: &str) -> String {
    match kind {
        Int | Bits => s.trim().parse::<i128>().map_or(s.into(), |v| v.to_string()),
        Bool => bool_as_0_1(s),
        Float8 | Float4 => {
            let v = match s {
                "NaN" | "nan" => f64::NAN,
                "Infinity" | "inf" => f64::INFINITY,
                "-Infinity" | "-inf" => f64::NEG_INFINITY,
                _ => match s.parse::<f64>() {
                    Ok(v) => v,
                    Err(_) => return s.into(),
                },
            };
            if kind == Float4 {
                format!("{:?}", v as f32)
            } else {
                format!("{v:?}")
            }
        }
        Decimal => decimal_text(s),
        Date | Time | Timestamp | TimestampTz => iso_text(s),
        Uuid | Bytes | Json | Text | Other => s.into(),
    }
}

/// A named normalisation the comparison of a (source, target, column) uses
/// beyond the per-kind one; see the matrix.
fn normalised(name: &str, s: &str) -> String {
    match name {
        "list as JSON text" => list_as_json(&pg_array_to_json(s)),
        "interval as ISO 8601 text" => interval_as_iso_8601(s),
        "negative zero as 0" => negative_zero_as_0(s),
        "char(n) blank padding" => char_blank_padding(s),
        "bit as integer" => s.to_string(), // compared as the integer (`bit + 0`)
        "bool as 0/1" => bool_as_0_1(s),
        "json re-serialised" => json_re_serialised(s),
        "timestamptz as UTC wall clock" => iso_text(s), // both read as UTC text
        other => panic!("the matrix names no normalisation {other:?}"),
    }
}

/// `negative zero as 0`: MariaDB and SQLite store an IEEE `-0` as `0` (equal
/// as numbers; the sign of zero is not kept).
fn negative_zero_as_0(s: &str) -> String {
    match s {
        "-0" | "-0.0" => "0".into(),
        other => other.into(),
    }
}

/// `char(n) blank padding`: a `char(n)` value keeps its trailing blanks in
/// a text target (PostgreSQL's `::text` of `char(n)` drops them).
fn char_blank_padding(s: &str) -> String {
    s.trim_end_matches(' ').into()
}

/// `interval as ISO 8601 text`: PostgreSQL's interval text (`1 year 2 mons
/// -3 days +04:05:06.789`) as the ISO 8601 duration PostgreSQL prints with
/// `intervalstyle = iso_8601` (`P1Y2M-3DT4H5M6.789S`); ISO text unchanged.
fn interval_as_iso_8601(s: &str) -> String {
    if s.starts_with('P') || s.starts_with("-P") {
        return s.into();
    }
    let (mut date, mut time) = (String::new(), String::new());
    let words: Vec<&str> = s.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if w.contains(':') {
            let neg = w.starts_with('-');
            let hms: Vec<&str> = w.trim_start_matches(['+', '-']).split(':').collect();
            let sign = if neg { "-" } else { "" };
            let (h, m) = (
                hms[0].parse::<i64>().unwrap_or(0),
                hms[1].parse::<i64>().unwrap_or(0),
            );
            let sec = hms.get(2).copied().unwrap_or("0");
            let sec = sec.trim_end_matches('0').trim_end_matches('.');
            if h != 0 {
                time.push_str(&format!("{sign}{h}H"));
            }
            if m != 0 {
                time.push_str(&format!("{sign}{m}M"));
            }
            if !sec.trim_start_matches('0').is_empty() {
                time.push_str(&format!("{sign}{}S", sec.trim_start_matches('0')));
            }
            i += 1;
            continue;
        }
        let unit = words.get(i + 1).copied().unwrap_or("");
        let letter = match unit.trim_end_matches('s') {
            "year" => "Y",
            "mon" => "M",
            "day" => "D",
            _ => "?",
        };
        date.push_str(&format!("{w}{letter}"));
        i += 2;
    }
    if time.is_empty() {
        format!("P{date}")
    } else {
        format!("P{date}T{time}")
    }
}

/// A PostgreSQL array's `::text` as JSON (one dimension; elements quoted
/// when PostgreSQL quotes them; numbers when they parse).
fn pg_array_to_json(s: &str) -> String {
    let Some(inner) = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) else {
        return s.into();
    };
    let mut items = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut was_quoted, mut esc) = (false, false, false);
    for ch in inner.chars() {
        match (quoted, esc, ch) {
            (_, true, c) => {
                cur.push(c);
                esc = false;
            }
            (true, false, '\\') => esc = true,
            (_, false, '"') => {
                quoted = !quoted;
                was_quoted = true;
            }
            (false, false, ',') => {
                items.push(elem(&cur, was_quoted));
                cur.clear();
                was_quoted = false;
            }
            (_, false, c) => cur.push(c),
        }
    }
    if !inner.is_empty() {
        items.push(elem(&cur, was_quoted));
    }
    serde_json::Value::Array(items).to_string()
}

fn elem(s: &str, quoted: bool) -> serde_json::Value {
    if !quoted && s == "NULL" {
        return serde_json::Value::Null;
    }
    if !quoted && let Ok(n) = s.parse::<i64>() {
        return n.into();
    }
    s.into()
}

/// Copies the edge table of `from` into a new table in `to`; returns the
/// failures (one line per cell) and the dirty cells seen.
async fn check_pair(
    from: Db,
    to: Db,
    cols: &[Col],
    src: &str,
    rows: &BTreeMap<i64, usize>,
    src_cells: &Cells,
    lite: &Path,
) -> (Vec<String>, Vec<String>) {
    let dst = unique("xp_dst");
    let endpoint = |db: Db, t: &str| match db {
        Db::Pg => pg_endpoint(t),
        Db::My => my_endpoint(t),
        Db::Lite => sqlite_endpoint(lite, t),
    };
    let dirty = scratch_dir().join(format!("{}.jsonl", unique("xp_dirty")));
    let yaml = job(
        "cross",
        &endpoint(from, src),
        &endpoint(to, &dst),
        &format!(
            "dirty: {{max_rows: 1000, sink: {{type: jsonl, path: \"{}\"}}}}\n",
            dirty.display()
        ),
    );
    let out = run_ferry(FERRY, &["run", "--json"], &yaml);
    let pair = format!("{from:?} → {to:?}");
    if out.code != 0 {
        return (
            vec![format!("{pair}: the run failed: {}", out.stderr)],
            vec![],
        );
    }
    let named: Vec<(String, Kind)> = cols.iter().map(|c| (c.name.to_string(), c.kind)).collect();
    let dst_cells = match to {
        Db::Pg => read_pg(&dst, &named).await,
        Db::My => read_my(&dst, &named).await,
        Db::Lite => read_lite(lite, &dst, &named),
    };
    let mut dirty_rows: BTreeMap<i64, serde_json::Value> = BTreeMap::new();
    for r in records(&dirty) {
        let id = r["position"]
            .as_str()
            .and_then(|p| p.strip_prefix("id="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{pair}: dirty record without id: {r}"));
        dirty_rows.insert(id, r);
    }
    let (mut failures, mut dirty_seen) = (Vec::new(), Vec::new());
    for (&id, &ci) in rows {
        let c = &cols[ci];
        let source = src_cells[&id][ci].clone();
        let verdict = verdict(from, to, c);
        if let Some(r) = dirty_rows.get(&id) {
            if verdict.dirty_when.is_empty() {
                failures.push(format!(
                    "{pair} {} id={id}: dirty, but the matrix says `{verdict}`: {r}",
                    c.name
                ));
            }
            let raw = &r["row"][c.name];
            if raw.is_null() || r["column"] != c.name {
                failures.push(format!(
                    "{pair} {} id={id}: dirty record without the raw value of the column: {r}",
                    c.name
                ));
            }
            dirty_seen.push(format!(
                "{pair} {} {}: dirty ({}: {})",
                c.name,
                source.as_deref().unwrap_or("NULL"),
                r["reason"].as_str().unwrap_or("?"),
                r["message"].as_str().unwrap_or("?")
            ));
            continue;
        }
        let Some(target) = dst_cells.get(&id) else {
            failures.push(format!(
                "{pair} {} id={id}: row missing and not dirty",
                c.name
            ));
            continue;
        };
        let target = target[ci].clone();
        let same = match (&source, &target) {
            (Some(s), Some(t)) => {
                let (mut s, mut t) = (s.clone(), t.clone());
                for n in &verdict.normalisations {
                    (s, t) = (normalised(n, &s), normalised(n, &t));
                }
                canonical(c.kind, &s) == canonical(c.kind, &t)
            }
            (s, t) => s == t,
        };
        if !same {
            failures.push(format!(
                "{pair} column {} ({}) id={id}: source {:?}, target {:?} (the matrix: `{verdict}`)",
                c.name, c.decl, source, target
            ));
        }
    }
    (failures, dirty_seen)
}

fn title(db: Db) -> &'static str {
    match db {
        Db::Pg => "PostgreSQL",
        Db::My => "MySQL/MariaDB",
        Db::Lite => "SQLite",
    }
}

/// The type matrix's verdict for a column of a pair ("Across dialects").
fn verdict(from: Db, to: Db, c: &Col) -> Verdict {
    cross_verdict(title(from), c.decl, title(to))
        .unwrap_or_else(|| panic!("the matrix has no verdict for {from:?} {} → {to:?}", c.decl))
}

async fn source(from: Db, cols: &[Col], lite: &Path) -> (String, BTreeMap<i64, usize>, Cells) {
    let src = unique("xp_src");
    let named: Vec<(String, Kind)> = cols.iter().map(|c| (c.name.to_string(), c.kind)).collect();
    match from {
        Db::Pg => {
            let (sql, rows) = table_sql(cols, &src, "\"");
            pg_exec(&sql.join(";\n")).await;
            (src.clone(), rows, read_pg(&src, &named).await)
        }
        Db::My => {
            let (sql, rows) = table_sql(cols, &src, "`");
            // A zero date needs a sql_mode without NO_ZERO_DATE; every other
            // value is valid in any mode.
            my_exec(&format!(
                "SET SESSION sql_mode = '', SESSION time_zone = '+00:00';\n{}",
                sql.join(";\n")
            ))
            .await;
            (src.clone(), rows, read_my(&src, &named).await)
        }
        Db::Lite => {
            let (sql, rows) = table_sql(cols, &src, "\"");
            lite_exec(lite, &sql);
            (src.clone(), rows, read_lite(lite, &src, &named))
        }
    }
}

#[tokio::test]
async fn every_cross_pair_is_equal_normalised_or_dirty_with_its_raw_value() {
    let lite = scratch_dir().join(format!("{}.db", unique("xp")));
    let mut failures = Vec::new();
    let mut dirty = Vec::new();
    for (from, cols) in [(Db::Pg, PG_COLS), (Db::My, MY_COLS), (Db::Lite, LITE_COLS)] {
        let (src, rows, cells) = source(from, cols, &lite).await;
        for to in [Db::Pg, Db::My, Db::Lite] {
            if to == from {
                continue;
            }
            let (f, d) = check_pair(from, to, cols, &src, &rows, &cells, &lite).await;
            failures.extend(f);
            dirty.extend(d);
        }
    }
    println!("dirty cells:\n{}", dirty.join("\n"));
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The sink-side refusals above are dirty rows only under a policy: without
/// one, the first fails the run, naming its column (PostgreSQL `24:00:00`
/// into SQLite, refused by the SQLite sink; MariaDB `838:59:59` into
/// PostgreSQL, refused by the server inside the COPY).
#[tokio::test]
async fn without_a_dirty_policy_a_sink_refusal_fails_the_run_naming_the_column() {
    let lite = scratch_dir().join(format!("{}.db", unique("xp_strict")));
    let src = unique("xp_strict_src");
    pg_exec(&format!(
        "CREATE TABLE \"{src}\" (id int PRIMARY KEY, tm time);
         INSERT INTO \"{src}\" VALUES (1, '12:00'), (2, '24:00:00');"
    ))
    .await;
    let dst = unique("xp_strict_dst");
    let err = run_err(&job(
        "strict",
        &pg_endpoint(&src),
        &sqlite_endpoint(&lite, &dst),
        "",
    ));
    assert!(err.contains("dirty data in column `tm`"), "{err}");

    let my_src = unique("xp_strict_my");
    my_exec(&format!(
        "CREATE TABLE `{my_src}` (id int PRIMARY KEY, tm time);
         INSERT INTO `{my_src}` VALUES (1, '12:00'), (2, '838:59:59');"
    ))
    .await;
    let err = run_err(&job(
        "strict",
        &my_endpoint(&my_src),
        &pg_endpoint(&unique("xp_strict_pg")),
        "",
    ));
    assert!(
        err.contains("tm") && err.contains("time out of range"),
        "{err}"
    );
}
