//! The checker against each dialect: what passes, what is refused and why.

use super::*;
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect, SQLiteDialect};

fn dialects() -> [(&'static str, Box<dyn Dialect>); 3] {
    [
        ("postgres", Box::new(PostgreSqlDialect {})),
        ("mysql", Box::new(MySqlDialect {})),
        ("sqlite", Box::new(SQLiteDialect {})),
    ]
}

fn ok(d: &dyn Dialect, text: &str) -> Vec<String> {
    check_source_filter("source_filter", text, d)
        .unwrap_or_else(|e| panic!("{text:?} should pass in {d:?}: {e}"))
}

fn refused(d: &dyn Dialect, text: &str) -> String {
    let e = check_source_filter("source_filter", text, d)
        .expect_err(&format!("{text:?} should be refused in {d:?}"));
    assert_eq!(e.kind(), crate::ErrorKind::InvalidConfig);
    let s = e.to_string();
    assert!(s.contains("source_filter") && s.contains("allowed"), "{s}");
    s
}

#[test]
fn ordinary_filters_pass_and_name_their_columns() {
    for (_, d) in dialects() {
        let d = d.as_ref();
        assert_eq!(
            ok(d, "region = 'eu' AND created_at < ${window_end}"),
            ["region", "created_at"]
        );
        assert_eq!(ok(d, "id > 0"), ["id"]);
        assert_eq!(
            ok(d, "lower(name) LIKE 'a%' OR id IN (1, 2, 3)"),
            ["name", "id"]
        );
        ok(d, "v BETWEEN 1 AND 10 AND note IS NOT NULL");
        ok(d, "NOT (a = 1) AND coalesce(b, 0) <> 2");
        ok(d, "CASE WHEN a > 1 THEN b ELSE c END = 3");
        ok(d, "CAST(a AS INTEGER) % 2 = 0");
        ok(
            d,
            "t >= ${window_start} AND t < ${window_end} AND t <= ${logical_time}",
        );
        ok(d, "flag");
        ok(d, "note <> '-- not a comment' AND note <> '/* nor this */'");
    }
    let pg = PostgreSqlDialect {};
    ok(&pg, "ts::date = date_trunc('day', ${logical_time})::date");
    ok(&pg, "name ILIKE 'x%' AND e = E'a\\'b'");
    assert_eq!(ok(&pg, "\"Odd Name\" = 1"), ["Odd Name"]);
    let my = MySqlDialect {};
    assert_eq!(ok(&my, "`odd col` = 'it\\'s'"), ["odd col"]);
}

#[test]
fn injections_are_refused_in_every_dialect() {
    for (_, d) in dialects() {
        let d = d.as_ref();
        refused(d, "1=1) UNION SELECT 99, @@version -- ");
        refused(d, "1=1) UNION SELECT 99, version() -- ");
        refused(d, "1=1); DROP TABLE victim; SELECT (1");
        refused(d, "id IN (SELECT id FROM victim)");
        refused(d, "EXISTS (SELECT 1 FROM victim)");
        refused(d, "id = (SELECT max(id) FROM victim)");
        refused(d, "id > 0 -- x");
        refused(d, "id > 0 /* x */");
        refused(d, "id > 0 /*! OR 1=1 */");
        refused(d, "id > 0; SELECT 1");
        refused(d, "id > 0 id");
        refused(d, "victim.id > 0");
        refused(d, "public.victim.id > 0");
        refused(d, "pg_sleep(10) IS NULL");
        refused(d, "sleep(10) = 0");
        refused(d, "load_file('/etc/passwd') IS NULL");
        refused(d, "pg_read_file('/etc/passwd') IS NULL");
        refused(d, "benchmark(1000000, md5('a')) = 0");
        refused(d, "pg_catalog.lower(a) = 'x'");
        refused(d, "count(*) > 0");
        refused(d, "lower(a) OVER () = 'x'");
        refused(d, "a + 1");
        refused(d, "'text'");
        refused(d, "");
        refused(d, "a = '${window_end}'");
        refused(d, "a = __ferry_param__");
        refused(d, "a = 1 --\u{1}x");
        refused(d, "a\u{a0}= 1");
    }
    let my = MySqlDialect {};
    refused(&my, "id > 0 # x");
    refused(&my, "@@version = 1");
    refused(&my, "@a := 1");
    // A backslash escapes the quote in MySQL: the string does not end
    // there, so this is one comparison with a string; in PostgreSQL the
    // string ends at the quote and the rest is refused.
    let escaped = "a = 'x\\' OR 1=1) UNION SELECT 1 -- '";
    assert_eq!(ok(&my, escaped), ["a"]);
    refused(&PostgreSqlDialect {}, escaped);
    refused(&my, "a = ?");
    let pg = PostgreSqlDialect {};
    refused(&pg, "a = $1");
    refused(&pg, "current_user = 'postgres'");
    refused(&pg, "a = $$ ${window_end} $$");
    refused(&pg, "a OPERATOR(pg_catalog.=) 1");
    let lite = SQLiteDialect {};
    refused(&lite, "a = ?1");
    refused(&lite, "a = :x");
}

#[test]
fn columns_are_checked_against_the_schema() {
    let cols = ["id", "Name"];
    check_filter_columns(
        "source_filter",
        &["ID".into(), "name".into()],
        cols.iter().copied(),
    )
    .expect("known");
    let e = check_filter_columns("source_filter", &["nope".into()], cols.iter().copied())
        .expect_err("unknown");
    let s = e.to_string();
    assert!(
        s.contains("source_filter") && s.contains("`nope`") && s.contains("id, Name"),
        "{s}"
    );
}
