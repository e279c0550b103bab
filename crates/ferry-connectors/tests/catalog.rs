//! Connection test and schema discovery (`ferry_connectors::catalog`)
//! against real servers and files.
//!
//! Servers come from `FERRY_TEST_PG_URL` and `FERRY_TEST_MYSQL_URL` (see
//! `ferry-testkit`); an unreachable server fails the tests. PostgreSQL
//! objects live in the schema `ferry_cat`, MariaDB ones are named `cat_*`
//! in the URL's database, so other test files never collide with these.
//!
//! The wrong-password test needs the PostgreSQL server to check the
//! password of the role `ferry_cat_user` (which the test creates with the
//! password `right-pw`). A server that trusts every loopback login (a
//! `trust` line for 127.0.0.1 in `pg_hba.conf`) fails that test saying so;
//! a line `host all ferry_cat_user 127.0.0.1/32 scram-sha-256` placed
//! before the `trust` line fixes it.
#![cfg(all(feature = "postgres", feature = "mysql", feature = "sqlite"))]
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use ferry_connectors::Connection;
use ferry_connectors::catalog::{ColumnInfo, DatasetInfo as TableInfo, Probe};
use ferry_core::spec::{ConnectionSpec, Trust};
use ferry_core::{ErrorKind, Result};
use ferry_testkit::{my_exec, pg_exec};

fn col(name: &str, data_type: &str, nullable: bool) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        data_type: data_type.into(),
        nullable,
    }
}

/// A connection parsed by its connector as the server does (the URL's
/// password moved out).
fn connection(settings: serde_json::Value) -> Box<dyn Connection> {
    let spec: ConnectionSpec = serde_json::from_value(settings).unwrap();
    ferry_connectors::open_connection(&spec, &Trust::Local).unwrap()
}

fn pg_connection(url: &str, password: Option<&str>) -> Box<dyn Connection> {
    connection(serde_json::json!({"type": "postgres", "url": url, "password": password}))
}

fn my_connection(url: &str, password: Option<&str>) -> Box<dyn Connection> {
    connection(serde_json::json!({"type": "mariadb", "url": url, "password": password}))
}

fn sqlite_connection(path: &std::path::Path) -> Box<dyn Connection> {
    connection(serde_json::json!({"type": "sqlite", "path": path}))
}

async fn test_connection(c: &dyn Connection) -> Result<Probe> {
    c.test().await
}

async fn list_tables(c: &dyn Connection, namespace: Option<&str>) -> Result<Vec<TableInfo>> {
    c.datasets(namespace).await
}

fn find<'a>(tables: &'a [TableInfo], schema: Option<&str>, name: &str) -> Option<&'a TableInfo> {
    tables
        .iter()
        .find(|t| t.schema.as_deref() == schema && t.name == name)
}

/// `url` with its port replaced by 1 (nothing listens there).
fn refused(url: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_port(Some(1)).unwrap();
    u.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_probe_and_tables() {
    pg_exec(
        "DROP SCHEMA IF EXISTS ferry_cat CASCADE;
         CREATE SCHEMA ferry_cat;
         CREATE TABLE ferry_cat.cat_orders (
             id integer NOT NULL PRIMARY KEY,
             amount numeric(12,2),
             note varchar(40) NOT NULL,
             created timestamptz,
             tags text[]
         );
         ALTER TABLE ferry_cat.cat_orders ADD COLUMN gone int;
         ALTER TABLE ferry_cat.cat_orders DROP COLUMN gone;
         CREATE VIEW ferry_cat.cat_orders_v AS SELECT note, id FROM ferry_cat.cat_orders;
         CREATE TABLE ferry_cat.cat_empty ();",
    )
    .await;
    let c = pg_connection(&ferry_testkit::pg_url(), None);

    let probe = test_connection(c.as_ref()).await.unwrap();
    assert!(!probe.server_version.is_empty(), "{probe:?}");
    assert!(
        probe.server_version.starts_with(char::is_numeric),
        "{probe:?}"
    );

    let all = list_tables(c.as_ref(), None).await.unwrap();
    let orders = find(&all, Some("ferry_cat"), "cat_orders").expect("cat_orders listed");
    assert_eq!(orders.kind, "table");
    assert_eq!(
        orders.columns,
        vec![
            col("id", "integer", false),
            col("amount", "numeric(12,2)", true),
            col("note", "character varying(40)", false),
            col("created", "timestamp with time zone", true),
            col("tags", "text[]", true),
        ]
    );
    let view = find(&all, Some("ferry_cat"), "cat_orders_v").expect("view listed");
    assert_eq!(view.kind, "view");
    assert_eq!(
        view.columns,
        vec![
            col("note", "character varying(40)", true),
            col("id", "integer", true)
        ]
    );
    let empty = find(&all, Some("ferry_cat"), "cat_empty").expect("empty table listed");
    assert!(empty.columns.is_empty());
    for t in &all {
        let s = t.schema.as_deref().unwrap();
        assert!(
            s != "pg_catalog" && s != "information_schema" && !s.starts_with("pg_toast"),
            "system schema listed: {s}.{}",
            t.name
        );
    }
    let keys: Vec<_> = all
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by schema, table");

    let only = list_tables(c.as_ref(), Some("ferry_cat")).await.unwrap();
    let names: Vec<&str> = only.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["cat_empty", "cat_orders", "cat_orders_v"]);
    assert_eq!(find(&only, Some("ferry_cat"), "cat_orders"), Some(orders));
    let public = list_tables(c.as_ref(), Some("public")).await.unwrap();
    assert!(public.iter().all(|t| t.schema.as_deref() == Some("public")));
    assert!(
        list_tables(c.as_ref(), Some("ferry_cat_none"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_wrong_password_is_auth_and_not_shown() {
    pg_exec(
        "DO $$ BEGIN
           IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ferry_cat_user') THEN
             ALTER ROLE ferry_cat_user LOGIN PASSWORD 'right-pw';
           ELSE
             CREATE ROLE ferry_cat_user LOGIN PASSWORD 'right-pw';
           END IF;
         END $$;",
    )
    .await;
    let mut u = url::Url::parse(&ferry_testkit::pg_url()).unwrap();
    u.set_username("ferry_cat_user").unwrap();
    u.set_password(None).unwrap();
    let url = u.to_string();

    let wrong = pg_connection(&url, Some("wrong-pw"));
    match test_connection(wrong.as_ref()).await {
        Ok(p) => panic!(
            "the server accepted a wrong password for ferry_cat_user ({p:?}): its pg_hba.conf \
             trusts loopback logins; add `host all ferry_cat_user 127.0.0.1/32 scram-sha-256` \
             before the trust line and reload"
        ),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
            assert!(!e.to_string().contains("wrong-pw"), "{e}");
            assert!(!format!("{e:?}").contains("wrong-pw"), "{e:?}");
        }
    }
    let e = list_tables(wrong.as_ref(), None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains("wrong-pw"), "{e}");

    // The same password written in the URL is moved out and still used.
    let mut in_url = u.clone();
    in_url.set_password(Some("wrong-pw")).unwrap();
    let e = test_connection(pg_connection(in_url.as_str(), None).as_ref())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains("wrong-pw"), "{e}");

    let right = pg_connection(&url, Some("right-pw"));
    let probe = test_connection(right.as_ref()).await.unwrap();
    assert!(!probe.server_version.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refused_port_is_transient() {
    let c = pg_connection(&refused(&ferry_testkit::pg_url()), Some("s3cret-pw"));
    let e = test_connection(c.as_ref()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(!e.to_string().contains("s3cret-pw"), "{e}");
    let e = list_tables(c.as_ref(), None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
}

/// The database of the MariaDB test URL.
fn my_db() -> String {
    url::Url::parse(&ferry_testkit::mysql_url())
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_probe_and_tables() {
    let db = my_db();
    assert!(!db.is_empty(), "FERRY_TEST_MYSQL_URL must name a database");
    my_exec(&format!(
        "DROP VIEW IF EXISTS `{db}`.cat_items_v;
         DROP TABLE IF EXISTS `{db}`.cat_items;
         CREATE TABLE `{db}`.cat_items (
             code char(8) NOT NULL PRIMARY KEY,
             price decimal(12,2),
             name varchar(40) NOT NULL,
             born date,
             seen datetime(3) NULL
         );
         CREATE VIEW `{db}`.cat_items_v AS SELECT name, price FROM `{db}`.cat_items;"
    ))
    .await;
    let c = my_connection(&ferry_testkit::mysql_url(), None);

    let probe = test_connection(c.as_ref()).await.unwrap();
    assert!(!probe.server_version.is_empty(), "{probe:?}");

    let expected = vec![
        col("code", "char(8)", false),
        col("price", "decimal(12,2)", true),
        col("name", "varchar(40)", false),
        col("born", "date", true),
        col("seen", "datetime(3)", true),
    ];
    // The URL's database.
    let tables = list_tables(c.as_ref(), None).await.unwrap();
    assert!(
        tables
            .iter()
            .all(|t| t.schema.as_deref() == Some(db.as_str()))
    );
    let items = find(&tables, Some(&db), "cat_items").expect("cat_items listed");
    assert_eq!(items.kind, "table");
    assert_eq!(items.columns, expected);
    let view = find(&tables, Some(&db), "cat_items_v").expect("view listed");
    assert_eq!(view.kind, "view");
    let names: Vec<&str> = view.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["name", "price"]);
    assert_eq!(view.columns[1].data_type, "decimal(12,2)");

    // No database in the URL: every non-system database; a filter picks one.
    let mut server = url::Url::parse(&ferry_testkit::mysql_url()).unwrap();
    server.set_path("");
    let s = my_connection(server.as_str(), None);
    let all = list_tables(s.as_ref(), None).await.unwrap();
    assert_eq!(
        find(&all, Some(&db), "cat_items").map(|t| &t.columns),
        Some(&expected)
    );
    for t in &all {
        let schema = t.schema.as_deref().unwrap();
        assert!(
            !["mysql", "information_schema", "performance_schema", "sys"].contains(&schema),
            "system database listed: {schema}.{}",
            t.name
        );
    }
    let only = list_tables(s.as_ref(), Some(&db)).await.unwrap();
    assert!(
        only.iter()
            .all(|t| t.schema.as_deref() == Some(db.as_str()))
    );
    assert_eq!(find(&only, Some(&db), "cat_items"), Some(items));
    let system = list_tables(s.as_ref(), Some("mysql")).await.unwrap();
    assert!(find(&system, Some("mysql"), "user").is_some());
    assert!(find(&system, Some(&db), "cat_items").is_none());
    assert!(
        list_tables(s.as_ref(), Some("ferry_cat_none"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_errors_are_classified_without_the_password() {
    let c = my_connection(&ferry_testkit::mysql_url(), Some("wrong-pw"));
    let e = test_connection(c.as_ref()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains("wrong-pw"), "{e}");
    let c = my_connection(&refused(&ferry_testkit::mysql_url()), Some("wrong-pw"));
    let e = list_tables(c.as_ref(), None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    assert!(!e.to_string().contains("wrong-pw"), "{e}");
}

fn sqlite_file(name: &str) -> PathBuf {
    let p = ferry_testkit::scratch_dir().join(format!("{}.db", ferry_testkit::unique(name)));
    let _ = std::fs::remove_file(&p);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_probe_and_tables() {
    let path = sqlite_file("cat");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE cat_t (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             amount DECIMAL(12,2),
             note VARCHAR(40) NOT NULL,
             loose
         );
         INSERT INTO cat_t (amount, note) VALUES (1.5, 'x');
         CREATE VIEW cat_v AS SELECT note FROM cat_t;
         CREATE INDEX cat_t_note ON cat_t (note);",
    )
    .unwrap();
    drop(db);
    let c = sqlite_connection(&path);

    let probe = test_connection(c.as_ref()).await.unwrap();
    assert!(probe.server_version.starts_with('3'), "{probe:?}");

    let tables = list_tables(c.as_ref(), None).await.unwrap();
    assert_eq!(
        tables,
        vec![
            TableInfo {
                schema: None,
                name: "cat_t".into(),
                kind: "table".into(),
                columns: vec![
                    col("id", "INTEGER", true),
                    col("amount", "DECIMAL(12,2)", true),
                    col("note", "VARCHAR(40)", false),
                    col("loose", "", true),
                ],
            },
            TableInfo {
                schema: None,
                name: "cat_v".into(),
                kind: "view".into(),
                columns: vec![col("note", "VARCHAR(40)", true)],
            },
        ],
        "sqlite_sequence and the index are left out"
    );
    assert_eq!(list_tables(c.as_ref(), Some("main")).await.unwrap(), tables);
    let e = list_tables(c.as_ref(), Some("other")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_missing_file_is_not_found_and_not_created() {
    let path = sqlite_file("cat_missing");
    let c = sqlite_connection(&path);
    let e = test_connection(c.as_ref()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = list_tables(c.as_ref(), None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(!path.exists(), "the file was created");
}
