//! End-to-end runs of `ferry run` for the types beyond the scalars —
//! PostgreSQL `interval`, arrays and enums, MySQL/MariaDB `BIT`, `YEAR`,
//! `ENUM` and `SET` — between the real servers, checked by content: each
//! database prints every row itself (PostgreSQL's `col::text` and `to_json`,
//! MariaDB's and SQLite's stored text) and the sorted rows' SHA-256 must match.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

/// Digest of a PostgreSQL query run after `setup` in the same session (for
/// `intervalstyle` and `timezone`, which decide how PostgreSQL prints values).
async fn pg_digest_with(setup: &str, sql: &str) -> Digest256 {
    let client = pg().await;
    client
        .batch_execute(setup)
        .await
        .unwrap_or_else(|e| panic!("{setup}: {e:?}"));
    let rows = client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    digest(
        rows.iter()
            .map(|r| {
                r.get::<_, Option<String>>(0)
                    .unwrap_or_else(|| "<NULL ROW>".into())
            })
            .collect(),
    )
}

/// PostgreSQL prints intervals as ISO 8601 and instants in UTC, the forms
/// Ferry stores where there is no interval or array type.
const PG_ISO: &str = "SET intervalstyle = iso_8601; SET timezone = 'UTC'";

/// A table with an interval, arrays of many element types and an enum:
/// months+days+µs, negative parts, NULLs, NULL elements, empty arrays,
/// unicode, quotes, commas, braces, tabs and backslashes.
async fn make_pg_types(table: &str, mood: &str, rows: u32) {
    pg_exec(&format!(
        r#"DROP TABLE IF EXISTS {table};
        DROP TYPE IF EXISTS {mood};
        CREATE TYPE {mood} AS ENUM ('sad', 'ok', 'happy 😀');
        CREATE TABLE {table} (id bigint PRIMARY KEY, iv interval, ai int4[], al int8[], at text[],
            an numeric(10,2)[], ab bool[], ad date[], atz timestamptz[], m {mood});
        INSERT INTO {table}
        SELECT g,
               CASE WHEN g % 7 = 0 THEN NULL
                    ELSE (g % 3 - 1) * interval '1 year' + (g % 11 - 5) * interval '1 month'
                         + (g % 40 - 20) * interval '1 day'
                         + (CASE WHEN g % 2 = 0 THEN 1 ELSE -1 END) * (g * 37) * interval '1.000001 second' END,
               CASE WHEN g % 5 = 0 THEN NULL WHEN g % 5 = 1 THEN '{{}}' ELSE ARRAY[g, NULL, -g]::int4[] END,
               ARRAY[g * 1000000000000, -g]::int8[],
               CASE WHEN g % 6 = 0 THEN NULL WHEN g % 6 = 1 THEN ARRAY[]::text[]
                    ELSE ARRAY['t' || g, 'a"b,c{{d}}', NULL, '☃ 😀 ü', E'tab\tnl\n', 'back\slash'] END,
               ARRAY[(g * 1.25)::numeric(10,2), NULL, -0.05]::numeric(10,2)[],
               ARRAY[g % 2 = 0, NULL]::bool[],
               ARRAY[date '2000-01-01' + g, NULL]::date[],
               ARRAY[timestamptz '2024-01-01 00:00:00+00' + g * interval '1.5 seconds']::timestamptz[],
               CASE WHEN g % 4 = 0 THEN NULL ELSE (ARRAY['sad', 'ok', 'happy 😀'])[g % 3 + 1]::{mood} END
          FROM generate_series(1, {rows}) g;
        ANALYZE {table};"#
    ))
    .await;
}

/// Every column's own text in PostgreSQL (`::text`; the enum as its label).
fn pg_native_text(table: &str) -> String {
    format!(
        "SELECT concat_ws('|', id, coalesce(iv::text,'~'), coalesce(ai::text,'~'), coalesce(al::text,'~'), \
         coalesce(at::text,'~'), coalesce(an::text,'~'), coalesce(ab::text,'~'), coalesce(ad::text,'~'), \
         coalesce(atz::text,'~'), coalesce(m::text,'~')) FROM {table}"
    )
}

/// The text forms Ferry stores without interval/array types, printed by
/// PostgreSQL itself: ISO 8601 intervals (`PG_ISO`), `to_json` arrays.
fn pg_json_text(table: &str) -> String {
    format!(
        "SELECT concat_ws('|', id, coalesce(iv::text,'~'), coalesce(to_json(ai)::text,'~'), \
         coalesce(to_json(al)::text,'~'), coalesce(to_json(at)::text,'~'), coalesce(to_json(an)::text,'~'), \
         coalesce(to_json(ab)::text,'~'), coalesce(to_json(ad)::text,'~'), coalesce(to_json(atz)::text,'~'), \
         coalesce(m::text,'~')) FROM {table}"
    )
}

#[tokio::test]
async fn pg_to_pg_keeps_intervals_arrays_and_enum_labels() {
    let (src, dst, enum_dst, mood) = (
        unique("tm_src"),
        unique("tm_dst"),
        unique("tm_enum_dst"),
        unique("tm_mood"),
    );
    make_pg_types(&src, &mood, 600).await;
    // A new target: interval, arrays and the enum keep their types.
    let v = run_ok(&job("tpp", &pg_endpoint(&src), &pg_endpoint(&dst), ""));
    assert_eq!(v["rows_committed"], 600);
    let src_text = pg_digest(&pg_native_text(&src)).await;
    assert_eq!(src_text.rows, 600);
    assert_eq!(pg_digest(&pg_native_text(&dst)).await, src_text);
    let types = |t: &str| {
        format!(
            "SELECT string_agg(format_type(atttypid, atttypmod), ', ' ORDER BY attnum) \
             FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attnum > 0"
        )
    };
    let created = pg_digest(&types(&dst)).await;
    let expected = digest(vec![format!(
        "bigint, interval, integer[], bigint[], text[], numeric(10,2)[], boolean[], date[], \
         timestamp with time zone[], {mood}"
    )]);
    assert_eq!(created, expected);

    // An existing target whose column has the enum type: labels go in as text.
    pg_exec(&format!(
        "CREATE TABLE {enum_dst} (LIKE {src} INCLUDING ALL)"
    ))
    .await;
    run_ok(&job("tpe", &pg_endpoint(&src), &pg_endpoint(&enum_dst), ""));
    let whole = |t: &str| format!("SELECT r::text FROM {t} r");
    assert_eq!(
        pg_digest(&whole(&enum_dst)).await,
        pg_digest(&whole(&src)).await
    );
    assert_eq!(
        pg_digest(&types(&enum_dst)).await,
        pg_digest(&types(&src)).await
    );
}

#[tokio::test]
async fn pg_to_mariadb_stores_iso_intervals_and_json_arrays() {
    let (src, dst, mood) = (
        unique("tm_pm_src"),
        unique("tm_pm_dst"),
        unique("tm_pm_mood"),
    );
    make_pg_types(&src, &mood, 500).await;
    run_ok(&job("tpm", &pg_endpoint(&src), &my_endpoint(&dst), ""));
    let expected = pg_digest_with(PG_ISO, &pg_json_text(&src)).await;
    assert_eq!(expected.rows, 500);
    let got = my_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(iv,'~'), coalesce(ai,'~'), coalesce(al,'~'), coalesce(at,'~'), \
         coalesce(an,'~'), coalesce(ab,'~'), coalesce(ad,'~'), coalesce(atz,'~'), coalesce(m,'~')) FROM `{dst}`"
    ))
    .await;
    assert_eq!(got, expected, "PG -> MariaDB text forms differ");
    // The arrays are JSON columns holding valid JSON.
    let valid = my_digest(&format!(
        "SELECT CAST(SUM(JSON_VALID(at)) AS CHAR) FROM `{dst}` WHERE at IS NOT NULL"
    ))
    .await;
    let non_null = my_digest(&format!(
        "SELECT CAST(COUNT(*) AS CHAR) FROM `{dst}` WHERE at IS NOT NULL"
    ))
    .await;
    assert_eq!(valid, non_null);
}

#[tokio::test]
async fn pg_to_sqlite_stores_iso_intervals_and_json_arrays() {
    let (src, mood) = (unique("tm_ps_src"), unique("tm_ps_mood"));
    let file = scratch_dir().join(format!("{}.db", unique("tm_ps")));
    make_pg_types(&src, &mood, 500).await;
    run_ok(&job(
        "tps",
        &pg_endpoint(&src),
        &sqlite_endpoint(&file, "items"),
        "",
    ));
    let expected = pg_digest_with(PG_ISO, &pg_json_text(&src)).await;
    let got = sqlite_digest(
        &file,
        "SELECT id || '|' || coalesce(iv,'~') || '|' || coalesce(ai,'~') || '|' || coalesce(al,'~') \
         || '|' || coalesce(at,'~') || '|' || coalesce(an,'~') || '|' || coalesce(ab,'~') || '|' \
         || coalesce(ad,'~') || '|' || coalesce(atz,'~') || '|' || coalesce(m,'~') FROM items",
    );
    assert_eq!(got, expected, "PG -> SQLite text forms differ");
    let declared = sqlite_digest(
        &file,
        "SELECT group_concat(type, ', ') FROM (SELECT type FROM pragma_table_info('items') ORDER BY cid)",
    );
    assert_eq!(
        declared,
        digest(vec![
            "INTEGER, TEXT, JSON_TEXT, JSON_TEXT, JSON_TEXT, JSON_TEXT, JSON_TEXT, JSON_TEXT, JSON_TEXT, TEXT"
                .to_string()
        ])
    );
}

/// MariaDB's flags, bit numbers, years, enums and sets.
async fn make_my_bits(table: &str) {
    my_exec(&format!("DROP TABLE IF EXISTS `{table}`")).await;
    my_exec(&format!(
        "CREATE TABLE `{table}` (id INT PRIMARY KEY, b1 BIT(1), b8 BIT(8), b64 BIT(64), y YEAR, \
         e ENUM('a','b c','ü'), s SET('x','y','z'))"
    ))
    .await;
    my_exec(&format!(
        "INSERT INTO `{table}` VALUES
         (1, b'1', b'10000001', b'{}', 2155, 'b c', 'x,z'),
         (2, b'0', 0, 0, 1901, 'ü', ''),
         (3, NULL, NULL, NULL, NULL, NULL, NULL),
         (4, 1, 255, 9223372036854775808, 2024, 'a', 'x,y,z')",
        "1".repeat(64)
    ))
    .await;
}

#[tokio::test]
async fn mariadb_to_pg_bits_years_enums_and_sets() {
    let (src, dst) = (unique("tm_mp_src"), unique("tm_mp_dst"));
    make_my_bits(&src).await;
    run_ok(&job("tmp", &my_endpoint(&src), &pg_endpoint(&dst), ""));
    let expected = my_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(b1 + 0,'~'), coalesce(b8 + 0,'~'), coalesce(b64 + 0,'~'), \
         coalesce(y,'~'), coalesce(e,'~'), coalesce(s,'~')) FROM `{src}`"
    ))
    .await;
    assert_eq!(expected.rows, 4);
    let got = pg_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(b1::int::text,'~'), coalesce(b8::text,'~'), \
         coalesce(b64::text,'~'), coalesce(y::text,'~'), coalesce(e,'~'), coalesce(s,'~')) FROM {dst}"
    ))
    .await;
    assert_eq!(got, expected, "MariaDB -> PG content differs");
    let types = pg_digest(&format!(
        "SELECT string_agg(format_type(atttypid, atttypmod), ', ' ORDER BY attnum) \
         FROM pg_attribute WHERE attrelid = '{dst}'::regclass AND attnum > 0"
    ))
    .await;
    assert_eq!(
        types,
        digest(vec![
            "integer, boolean, bigint, numeric(20,0), smallint, text, text".to_string()
        ])
    );
}

#[tokio::test]
async fn pg_into_existing_mariadb_bit_enum_and_set_columns() {
    let (src, dst) = (unique("tm_pb_src"), unique("tm_pb_dst"));
    pg_exec(&format!(
        "DROP TABLE IF EXISTS {src};
         CREATE TABLE {src} (id int PRIMARY KEY, b1 bool, b8 smallint, y smallint, e text, s text);
         INSERT INTO {src} SELECT g, CASE WHEN g % 5 = 0 THEN NULL ELSE g % 2 = 0 END, g % 256,
                CASE WHEN g % 3 = 0 THEN NULL ELSE 1901 + g % 255 END,
                (ARRAY['a', 'b c', 'ü', NULL])[g % 4 + 1], (ARRAY['', 'x', 'x,z', 'x,y,z'])[g % 4 + 1]
           FROM generate_series(1, 300) g;"
    ))
    .await;
    make_my_bits(&dst).await;
    run_ok(&job("tpb", &pg_endpoint(&src), &my_endpoint(&dst), ""));
    let expected = pg_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(b1::int::text,'~'), b8::text, coalesce(y::text,'~'), \
         coalesce(e,'~'), coalesce(s,'~')) FROM {src}"
    ))
    .await;
    assert_eq!(expected.rows, 300);
    let got = my_digest(&format!(
        "SELECT concat_ws('|', id, coalesce(b1 + 0,'~'), b8 + 0, coalesce(y,'~'), coalesce(e,'~'), \
         coalesce(s,'~')) FROM `{dst}`"
    ))
    .await;
    assert_eq!(got, expected, "PG -> existing MariaDB BIT/ENUM/SET differs");
    // The target kept its column types.
    let types = my_digest(&format!(
        "SELECT GROUP_CONCAT(COLUMN_TYPE ORDER BY ORDINAL_POSITION SEPARATOR ', ') \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{dst}'"
    ))
    .await;
    assert_eq!(
        types,
        digest(vec![
            "int(11), bit(1), bit(8), bit(64), year(4), enum('a','b c','ü'), set('x','y','z')"
                .to_string()
        ])
    );
}
