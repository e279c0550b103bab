//! PostgreSQL → PostgreSQL is exact (issue 15, item 1): an edge-value table
//! written from the PostgreSQL documentation's limits and special values —
//! `infinity` dates and timestamps, `24:00:00`, `timetz` at ±15:59, numeric
//! NaN/±Infinity and a negative scale, multi-dimensional arrays and lower
//! bounds ≠ 1, ranges and multiranges with infinite bounds, an enum, a
//! domain, a composite and arrays of them, network, bit, money, text search,
//! geometric, xml, oid, name, `"char"`, pg_lsn and hstore values — copied into
//! a new target in *another database* (so user-defined types have other
//! OIDs) and into an existing one. Checked by PostgreSQL's own text of every
//! cell (`col::text`, read from both databases here) and `format_type` of
//! every column: 0 differing cells, 0 changed types, 0 dirty rows.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use tokio_postgres::error::SqlState;

/// The target database: the test database's name with `_target`, created
/// once (a different database, so user-defined types get other OIDs).
async fn target_url() -> String {
    let url = pg_url();
    let (base, db) = url.rsplit_once('/').unwrap();
    let (db, query) = db.split_once('?').map_or((db, ""), |(d, q)| (d, q));
    let target = format!("{db}_target");
    if let Err(e) = pg()
        .await
        .batch_execute(&format!("CREATE DATABASE \"{target}\""))
        .await
    {
        let code = e.code().cloned();
        assert!(
            code == Some(SqlState::DUPLICATE_DATABASE) || code == Some(SqlState::UNIQUE_VIOLATION),
            "creating the target database {target}: {e:?}"
        );
    }
    if query.is_empty() {
        format!("{base}/{target}")
    } else {
        format!("{base}/{target}?{query}")
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required: {e}"));
    tokio::spawn(conn);
    client
}

async fn exec(url: &str, sql: &str) {
    connect(url)
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{url}: {sql}: {e:?}"));
}

/// The user-defined types of the edge table (`px_` is replaced by a unique prefix).
const TYPES: &str = r#"
CREATE TYPE px_mood AS ENUM ('sad', 'ok', 'happy 😀', 'it''s');
CREATE TYPE px_pair AS (a int, b text, m px_mood, d date[]);
CREATE DOMAIN px_pos AS numeric(10,2) CHECK (VALUE > 0);
CREATE DOMAIN px_ints AS int[] NOT NULL;
CREATE TYPE px_floatrange AS RANGE (subtype = float8);
"#;

/// The edge table: one column per type, edge values from the PostgreSQL
/// documentation (limits of dates/times, special values, array and range
/// syntax), and rows of NULLs.
const TABLE: &str = r#"
CREATE TABLE px_edge (
  id int PRIMARY KEY,
  d date, ts timestamp, ts3 timestamp(3), tstz timestamptz, tstz0 timestamptz(0),
  t time, t2 time(2), ttz timetz, iv interval,
  n numeric, n4010 numeric(40,10), n102 numeric(10,2), nneg numeric(10,-2), f8 float8, f4 real,
  a2 int[], at text[], ad date[], an numeric(10,2)[],
  r4 int4range, r8 int8range, rn numrange, rd daterange, rts tsrange, rtz tstzrange, mr int4multirange, fr px_floatrange,
  comp px_pair, comps px_pair[], dom px_pos, domi px_ints, m px_mood, ms px_mood[],
  ip inet, cidr_ cidr, mac macaddr, mac8 macaddr8, ips inet[],
  b bit(5), vb varbit(8), money_ money,
  tsv tsvector, tsq tsquery,
  pt point, ln line, ls lseg, bx box, pth path, pg polygon, ci circle,
  x xml, o oid, nm name, ch "char", bp char(4), vc varchar(7), u uuid, j json, jb jsonb, by bytea,
  h hstore, lsn pg_lsn
);
INSERT INTO px_edge VALUES
 (1, 'infinity', 'infinity', '294276-12-31 23:59:59.999', 'infinity', '-infinity',
  '24:00:00', '23:59:59.99', '24:00:00-15:59', '178000000 years 1 mon -2 days 01:02:03.000004',
  'NaN', '123456789012345678901234567890.0123456789', 'NaN', 999999999900, 'Infinity', '-Infinity',
  '{{1,2},{3,4}}', '{{"a,b","c\"d"},{NULL,"{}"}}', '{infinity,-infinity,NULL}', '{NaN,1.50}',
  'empty', '[1,)', '(,)', '[-infinity,infinity]', '[2000-01-01,infinity)', '(-infinity,"2020-01-01 00:00:00+00"]', '{[1,3),[5,7)}', '[-Infinity,NaN]',
  ROW(1, 'x,y "z"', 'happy 😀', '{infinity}')::px_pair, ARRAY[ROW(1,'a','sad','{}')::px_pair, NULL, ROW(NULL,NULL,NULL,NULL)::px_pair], 0.01, '{{1,2},{3,4}}', 'it''s', '{sad,"happy 😀",NULL}',
  '192.168.1.5/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', '{::ffff:1.2.3.4,2001:db8::1/128}',
  B'10101', B'', '-92233720368547758.08',
  'a fat cat:1A,2B sat:3 ''it''''s''', 'fat & (rat | !cat) <-> b:*',
  '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1),(2,0)]', '((0,0),(1,0),(0,1))', '<(0,0),1.5>',
  '<a b="1">x &amp; y</a>', 0, 'name with space', 'a', 'ab', 'über', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50]}', '{"a": [1, 2.50]}', '\x00ff',
  '"a"=>"1", "b"=>NULL', '0/0'),
 (2, '-infinity', '-infinity', '4713-01-01 00:00:00 BC', '-infinity', 'infinity',
  '00:00:00', '00:00:00', '00:00:00+15:59', '-178000000 years',
  '-Infinity', '-0.0000000001', 99999999.99, -1200, 'NaN', 'NaN',
  '[0:1]={5,6}', '{}', '[2:3]={2000-02-29,NULL}', '{}',
  '[1,5)', '[-9223372036854775808,9223372036854775807)', '(0.5,1.5]', 'empty', 'empty', 'empty', '{}', 'empty',
  ROW(NULL, '', 'it''s', '[0:0]={-infinity}')::px_pair, '{}', 99999999.99, '[-2:-1][3:4]={{1,2},{3,4}}', 'sad', '[0:0]={ok}',
  '::ffff:1.2.3.4', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', '{}',
  B'00000', B'11111111', '92233720368547758.07',
  '', '!a',
  '(-1e+308,1e-308)', '{0,1,-5}', '[(1,2),(1,2)]', '(0,0),(0,0)', '((0,0),(1,1))', '((-1.5,-1.5),(1,1),(1,-1))', '<(1e-300,2),0>',
  'just text &lt;', 4294967295, repeat('n', 63), ' ', '    ', '', '00000000-0000-0000-0000-000000000000', '[]', 'null', '\x',
  '', 'FF/FFFFFFFF');
INSERT INTO px_edge (id, d, ts, tstz, t, ttz, iv, n, f8, f4, a2, at, comp, domi, ch, by, nneg) VALUES
 (3, '5874897-12-31', '2000-01-01 00:00:00', '294276-12-31 23:59:59.999999+00', '23:59:59.999999', '23:59:59.999999-00:00', '0',
  'Infinity', '-0', '1.17549435e-38', '{1,NULL}', '{NULL}', '(,,,)', '{}', '\001', '\xdeadbeef', 0);
INSERT INTO px_edge (id, domi) VALUES (4, '{}');
"#;

/// Every column's `format_type`, in column order.
async fn column_types(client: &tokio_postgres::Client, table: &str) -> Vec<(String, String)> {
    client
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
              WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .await
        .unwrap_or_else(|e| panic!("columns of {table}: {e:?}"))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// PostgreSQL's own text of every cell, rows in key order.
async fn cells(
    client: &tokio_postgres::Client,
    table: &str,
    columns: &[(String, String)],
) -> Vec<Vec<Option<String>>> {
    let list: Vec<String> = columns
        .iter()
        .map(|(c, _)| format!("\"{c}\"::text"))
        .collect();
    let sql = format!("SELECT {} FROM {table} ORDER BY id", list.join(", "));
    client
        .query(&sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| (0..columns.len()).map(|i| r.get(i)).collect())
        .collect()
}

/// Compares the two tables cell by cell and type by type; returns
/// (differing cells, changed column types), printing each difference.
async fn compare(src_url: &str, src: &str, dst_url: &str, dst: &str) -> (usize, usize) {
    let (a, b) = (connect(src_url).await, connect(dst_url).await);
    for c in [&a, &b] {
        c.batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1",
        )
        .await
        .unwrap();
    }
    let (ta, tb) = (column_types(&a, src).await, column_types(&b, dst).await);
    let changed_types = ta
        .iter()
        .zip(&tb)
        .filter(|(x, y)| x != y)
        .inspect(|(x, y)| eprintln!("type changed: {x:?} → {y:?}"))
        .count()
        + ta.len().abs_diff(tb.len());
    let (ca, cb) = (cells(&a, src, &ta).await, cells(&b, dst, &ta).await);
    assert_eq!(ca.len(), cb.len(), "row counts differ");
    let mut differing = 0;
    for (ra, rb) in ca.iter().zip(&cb) {
        for ((x, y), (col, _)) in ra.iter().zip(rb).zip(&ta) {
            if x != y {
                eprintln!("row {:?} column {col}: {x:?} → {y:?}", ra[0]);
                differing += 1;
            }
        }
    }
    (differing, changed_types)
}

fn endpoint(url: &str, table: &str) -> String {
    format!("{{type: postgres, url: \"{url}\", table: \"{table}\"}}")
}

/// The edge table in the test database and its types in both databases
/// (created in the target after another type, so every OID differs).
async fn make_edge(p: &str, target: &str) -> String {
    let src_url = pg_url();
    exec(&src_url, "CREATE EXTENSION IF NOT EXISTS hstore").await;
    exec(
        &src_url,
        &format!("{}{}", TYPES, TABLE).replace("px_", &format!("{p}_")),
    )
    .await;
    exec(target, "CREATE EXTENSION IF NOT EXISTS hstore").await;
    exec(
        target,
        &format!(
            "CREATE TYPE {p}_spacer AS ENUM ('x'); {}",
            TYPES.replace("px_", &format!("{p}_"))
        ),
    )
    .await;
    format!("{p}_edge")
}

#[tokio::test]
async fn pg_to_pg_new_and_existing_target_is_exact() {
    let target = target_url().await;
    let p = unique("px");
    let src = make_edge(&p, &target).await;
    let dst = format!("{p}_copy");
    let yaml = job(
        "pg_exact",
        &endpoint(&pg_url(), &src),
        &endpoint(&target, &dst),
        "mode: full_overwrite\n",
    );
    let started = std::time::Instant::now();
    let v = run_ok(&yaml);
    eprintln!("new target: {:?}", started.elapsed());
    assert_eq!(v["target"]["creates_table"], true, "{v}");
    assert_eq!(v["rows_dirty"], 0, "{v}");
    assert_eq!(v["rows_committed"], 4, "{v}");
    let (cells, types) = compare(&pg_url(), &src, &target, &dst).await;
    assert_eq!(
        (cells, types),
        (0, 0),
        "differing cells, changed types (new target)"
    );

    // Again into the now existing target (same types): overwritten exactly.
    exec(&target, &format!("DELETE FROM {dst} WHERE id = 1")).await;
    let v = run_ok(&yaml);
    assert_eq!(v["target"]["creates_table"], false, "{v}");
    assert_eq!(v["rows_dirty"], 0, "{v}");
    assert_eq!(v["rows_committed"], 4, "{v}");
    let (cells, types) = compare(&pg_url(), &src, &target, &dst).await;
    assert_eq!(
        (cells, types),
        (0, 0),
        "differing cells, changed types (existing target)"
    );

    // With dirty rows allowed the write goes in segments under savepoints:
    // the same bytes, the same result.
    let dirty = scratch_dir().join(format!("{}.jsonl", unique("pgx_dirty")));
    let v = run_ok(&format!(
        "{yaml}dirty: {{max_rows: 10, sink: {{type: jsonl, path: \"{}\"}}}}\n",
        dirty.display()
    ));
    assert_eq!(v["rows_dirty"], 0, "{v}");
    assert!(records(&dirty).is_empty());
    let (cells, types) = compare(&pg_url(), &src, &target, &dst).await;
    assert_eq!(
        (cells, types),
        (0, 0),
        "differing cells, changed types (segmented)"
    );
}

#[tokio::test]
async fn missing_user_type_in_the_target_is_named_with_its_column() {
    let target = target_url().await;
    let p = unique("pm");
    exec(
        &pg_url(),
        &format!(
            "CREATE TYPE {p}_mood AS ENUM ('a', 'b'); \
             CREATE TABLE {p}_src (id int PRIMARY KEY, feeling {p}_mood); \
             INSERT INTO {p}_src VALUES (1, 'a'), (2, NULL)"
        ),
    )
    .await;
    let err = run_err(&job(
        "pg_missing_type",
        &endpoint(&pg_url(), &format!("{p}_src")),
        &endpoint(&target, &format!("{p}_dst")),
        "mode: full_overwrite\n",
    ));
    assert!(
        err.contains(&format!("`{p}_mood`")) && err.contains("`feeling`"),
        "the error names the type and the column: {err}"
    );
    let rows = connect(&target)
        .await
        .query("SELECT to_regclass($1)::text", &[&format!("{p}_dst")])
        .await
        .unwrap();
    assert_eq!(
        rows[0].get::<_, Option<String>>(0),
        None,
        "no table left behind"
    );
}

#[tokio::test]
async fn an_unread_column_of_any_type_never_blocks() {
    let target = target_url().await;
    let p = unique("pu");
    // A composite and an enum the target database lacks, a `pg_snapshot`
    // (no mapping anywhere): none is read.
    exec(
        &pg_url(),
        &format!(
            "CREATE TYPE {p}_mood AS ENUM ('a'); CREATE TYPE {p}_pair AS (x int, m {p}_mood); \
             CREATE TABLE {p}_src (id int PRIMARY KEY, pair {p}_pair, s pg_snapshot, v text, m {p}_mood); \
             INSERT INTO {p}_src VALUES (1, '(1,a)', '10:20:10,14,15', 'one', 'a'), (2, NULL, NULL, NULL, NULL)"
        ),
    )
    .await;
    let columns = "columns: [id, v]\nmode: full_overwrite\n";
    let v = run_ok(&job(
        "pg_unread",
        &endpoint(&pg_url(), &format!("{p}_src")),
        &endpoint(&target, &format!("{p}_dst")),
        columns,
    ));
    assert_eq!(v["rows_committed"], 2, "{v}");
    let dst = format!("{p}_dst");
    let b = connect(&target).await;
    assert_eq!(
        column_types(&b, &dst).await,
        vec![("id".into(), "integer".into()), ("v".into(), "text".into())]
    );
    // And into MariaDB.
    let v = run_ok(&job(
        "pg_unread_my",
        &endpoint(&pg_url(), &format!("{p}_src")),
        &my_endpoint(&dst),
        columns,
    ));
    assert_eq!(v["rows_committed"], 2, "{v}");
    let got = my_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(v, '~')) FROM `{dst}`"
    ))
    .await;
    let want = pg_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(v, '~')) FROM {p}_src"
    ))
    .await;
    assert_eq!(got, want);
}
