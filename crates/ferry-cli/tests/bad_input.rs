//! Bad input gets a clear error naming the culprit, and never touches the target.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn unknown_field_in_job_file_is_named() {
    let yaml = format!(
        "name: t\nsource: {}\nsink: {}\nparalelism: 4\n",
        pg_endpoint("a"),
        pg_endpoint("b")
    );
    let out = run_ferry(FERRY, &["validate"], &yaml);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("paralelism") && out.stderr.contains(".yaml"),
        "{}",
        out.stderr
    );
    let yaml = format!(
        "name: t\nsource: {{type: postgres, url: \"{}\", table: a, tabel: x}}\nsink: {}\n",
        pg_url(),
        pg_endpoint("b")
    );
    let out = run_ferry(FERRY, &["run"], &yaml);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("tabel"), "{}", out.stderr);
}

#[test]
fn invalid_values_name_the_field_and_the_allowed_range() {
    let yaml = job("t", &pg_endpoint("a"), &pg_endpoint("b"), "")
        .replace("parallelism: 2", "parallelism: 0");
    let out = run_ferry(FERRY, &["validate"], &yaml);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("engine.parallelism") && out.stderr.contains("1 to 64"),
        "{}",
        out.stderr
    );
    let yaml = format!(
        "name: t\nsource: {{type: postgres, url: \"mysql://h/db\", table: a}}\nsink: {}\n",
        pg_endpoint("b")
    );
    let out = run_ferry(FERRY, &["validate"], &yaml);
    assert!(
        out.stderr.contains("source.url") && out.stderr.contains("postgresql://"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn missing_source_table_is_named_with_what_exists() {
    let (schema, dst) = (unique("miss_schema"), unique("miss_dst"));
    pg_exec(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.present (id int)"
    ))
    .await;
    let missing = format!("{schema}.no_such_table");
    let err = run_err(&job("t", &pg_endpoint(&missing), &pg_endpoint(&dst), ""));
    assert!(
        err.contains(&format!("table `{missing}` not found")),
        "{err}"
    );
    assert!(
        err.contains(&format!("schema {schema} has: present")),
        "{err}"
    );
    let exists: bool = pg()
        .await
        .query_one(&format!("SELECT to_regclass('{dst}') IS NOT NULL"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(!exists, "a failed run created its target");
    let err = run_err(&job(
        "t",
        &my_endpoint("no_such_table"),
        &pg_endpoint(&dst),
        "",
    ));
    assert!(
        err.contains("no_such_table") && err.contains("not found"),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_without_the_password() {
    let src = unique("pw_src");
    make_typed_pg(&src, 10).await;
    let url = mysql_url().replacen("root@", "root:Sup3rS3cretPw@", 1);
    let sink = format!("{{type: mysql, url: \"{url}\", table: t}}");
    let err = run_err(&job("t", &pg_endpoint(&src), &sink, ""));
    assert!(err.contains("authentication failed"), "{err}");
    assert!(err.contains("root:***@"), "{err}");
    assert!(!err.contains("Sup3rS3cretPw"), "password leaked: {err}");
    // Through password_env too.
    let sink = format!(
        "{{type: mysql, url: \"{}\", password_env: FERRY_TEST_BAD_PW, table: t}}",
        mysql_url()
    );
    let job_yaml = job("t", &pg_endpoint(&src), &sink, "");
    let path = scratch_dir().join(format!("{}.yaml", unique("pw")));
    std::fs::write(&path, job_yaml).unwrap();
    let out = std::process::Command::new(FERRY)
        .arg("run")
        .arg(&path)
        .env("FERRY_TEST_BAD_PW", "An0therS3cret")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("authentication failed") && !err.contains("An0therS3cret"),
        "{err}"
    );
}

#[tokio::test]
async fn incompatible_existing_target_names_each_column_and_stays_unchanged() {
    let (src, dst) = (unique("inc_src"), unique("inc_dst"));
    make_typed_pg(&src, 100).await;
    pg_exec(&format!(
        "CREATE TABLE {dst} (id int PRIMARY KEY, name varchar(5), amount numeric(12,2), d date,
                             ts timestamptz, flag boolean, note text, extra int NOT NULL);
         INSERT INTO {dst} (id, name, extra) VALUES (1, 'keep', 7)"
    ))
    .await;
    let q = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&q).await;
    let err = run_err(&job("t", &pg_endpoint(&src), &pg_endpoint(&dst), ""));
    for culprit in ["`ts`", "`f`", "`extra`"] {
        assert!(err.contains(culprit), "{culprit} not named in: {err}");
    }
    // Narrower but checkable columns (bigint → int, text → varchar(5)) are not
    // refused up front: their values are checked on the way (see dirty.rs).
    for fine in ["`amount`", "`id`", "`name`"] {
        assert!(
            !err.contains(fine),
            "compatible column {fine} reported: {err}"
        );
    }
    assert_eq!(pg_digest(&q).await, before);

    // MariaDB: the same kind of mismatch.
    let mdst = unique("inc_my");
    my_exec(&format!("CREATE TABLE `{mdst}` (id bigint PRIMARY KEY, name varchar(5)); INSERT INTO `{mdst}` VALUES (1, 'keep')")).await;
    let my_q = format!("SELECT concat_ws('|', id, name) FROM `{mdst}`");
    let before = my_digest(&my_q).await;
    let err = run_err(&job("t", &pg_endpoint(&src), &my_endpoint(&mdst), ""));
    assert!(err.contains("`amount`") && err.contains("`ts`"), "{err}");
    // text → varchar(5) is checked per value, not refused up front.
    assert!(!err.contains("`name`"), "{err}");
    assert_eq!(my_digest(&my_q).await, before);
}

#[tokio::test]
async fn value_too_long_for_existing_target_fails_and_keeps_target() {
    let (src, dst) = (unique("long_src"), unique("long_dst"));
    pg_exec(&format!(
        "CREATE TABLE {src} (id int PRIMARY KEY, s text);
         INSERT INTO {src} SELECT g, CASE WHEN g = 700 THEN repeat('y', 50) ELSE 'ok' END FROM generate_series(1, 1000) g;
         CREATE TABLE {dst} (id int PRIMARY KEY, s varchar(10));
         INSERT INTO {dst} VALUES (1, 'keep');"
    ))
    .await;
    let q = format!("SELECT t::text FROM {dst} t");
    let before = pg_digest(&q).await;
    // text into varchar(10) is refused up front: it may not fit.
    let err = run_err(&job("t", &pg_endpoint(&src), &pg_endpoint(&dst), ""));
    assert!(err.contains("`s`"), "{err}");
    assert_eq!(pg_digest(&q).await, before);
}
