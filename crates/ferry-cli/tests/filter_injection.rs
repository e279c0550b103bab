//! Issue 14: a `source_filter` that tries to change the source's query —
//! close the parenthesis and add a UNION or another statement, read another
//! table through a subquery, or comment out the rest — is refused by
//! `ferry validate`, by `ferry run` (exit code 2) and by the API (422 naming
//! `source_filter`), for PostgreSQL, MariaDB and SQLite sources; afterwards
//! the `victim` table and the target are exactly as they were (checked with
//! the drivers, not with Ferry). An ordinary filter still works.
#![allow(clippy::unwrap_used)]

mod srv;

use serde_json::{Value, json};
use srv::*;

/// Filters that try to change the query; `{victim}` is the other table.
const ATTACKS: &[&str] = &[
    "1=1) UNION SELECT 99, @@version -- ",
    "1=1) UNION SELECT 99, version() -- ",
    "1=1); DROP TABLE {victim}; SELECT (1",
    "id IN (SELECT id FROM {victim})",
    "EXISTS (SELECT 1 FROM {victim})",
    "id > 0 -- x",
    "id > 0 /* x */",
    "id > 0 /*! OR 1=1 */",
];

#[derive(Debug, Clone)]
enum Kind {
    Postgres,
    Mariadb,
    Sqlite(std::path::PathBuf),
}

/// A source table `src` (10 rows) and a `victim` table (3 rows) in the
/// source database, and a target table with one row in PostgreSQL.
struct Setup {
    kind: Kind,
    src: String,
    victim: String,
    target: String,
}

impl Setup {
    async fn new(kind: Kind) -> Setup {
        let src = unique("inj_src");
        let victim = unique("victim");
        let target = unique("inj_dst");
        let tables = format!(
            "CREATE TABLE {src} (id bigint PRIMARY KEY, v varchar(20)); \
             CREATE TABLE {victim} (id bigint PRIMARY KEY, secret varchar(20)); \
             INSERT INTO {victim} VALUES (1, 's1'), (2, 's2'), (3, 's3');"
        );
        let rows: Vec<String> = (1..=10).map(|i| format!("({i}, 'v{i}')")).collect();
        let fill = format!("INSERT INTO {src} VALUES {};", rows.join(", "));
        match &kind {
            Kind::Postgres => pg_exec(&format!("{tables} {fill}")).await,
            Kind::Mariadb => {
                for stmt in format!("{tables} {fill}").split(';') {
                    if !stmt.trim().is_empty() {
                        my_exec(stmt).await;
                    }
                }
            }
            Kind::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch(&format!("{tables} {fill}")).unwrap();
            }
        }
        pg_exec(&format!(
            "CREATE TABLE {target} (id bigint, v text); INSERT INTO {target} VALUES (1, 'kept')"
        ))
        .await;
        Setup {
            kind,
            src,
            victim,
            target,
        }
    }

    fn source_yaml(&self) -> String {
        match &self.kind {
            Kind::Postgres => format!(
                "{{type: postgres, url: \"{}\", table: {}}}",
                pg_url(),
                self.src
            ),
            Kind::Mariadb => format!(
                "{{type: mysql, url: \"{}\", table: {}}}",
                mysql_url(),
                self.src
            ),
            Kind::Sqlite(p) => format!(
                "{{type: sqlite, path: \"{}\", table: {}}}",
                p.display(),
                self.src
            ),
        }
    }

    fn source_json(&self) -> Value {
        match &self.kind {
            Kind::Postgres => json!({"type": "postgres", "url": pg_url(), "table": self.src}),
            Kind::Mariadb => json!({"type": "mysql", "url": mysql_url(), "table": self.src}),
            Kind::Sqlite(p) => json!({"type": "sqlite", "path": p, "table": self.src}),
        }
    }

    fn job(&self, name: &str, target: &str, filter: &str) -> String {
        format!(
            "name: {name}\nsource: {}\nsink: {{type: postgres, url: \"{}\", table: {target}}}\n\
             source_filter: {}\n",
            self.source_yaml(),
            pg_url(),
            serde_json::to_string(filter).unwrap()
        )
    }

    /// The victim, the source and the target, as the databases see them.
    async fn state(&self) -> Vec<Digest256> {
        let victim = format!("SELECT concat(id, ':', secret) FROM {}", self.victim);
        let src = format!("SELECT concat(id, ':', v) FROM {}", self.src);
        let (v, s) = match &self.kind {
            Kind::Postgres => (pg_digest(&victim).await, pg_digest(&src).await),
            Kind::Mariadb => (my_digest(&victim).await, my_digest(&src).await),
            Kind::Sqlite(p) => {
                let victim = format!("SELECT id || ':' || secret FROM {}", self.victim);
                let src = format!("SELECT id || ':' || v FROM {}", self.src);
                (sqlite_digest(p, &victim), sqlite_digest(p, &src))
            }
        };
        let t = pg_digest(&format!("SELECT id::text || ':' || v FROM {}", self.target)).await;
        vec![v, s, t]
    }
}

async fn attacks_are_refused(kind: Kind) {
    let setup = Setup::new(kind).await;
    let before = setup.state().await;
    assert_eq!(before[0].rows, 3);
    assert_eq!(before[2].rows, 1);
    let s = Server::simple(&Backend::Sqlite, "inj");
    for (n, attack) in ATTACKS.iter().enumerate() {
        let filter = attack.replace("{victim}", &setup.victim);
        let name = format!("inj_{n}");
        let job = setup.job(&name, &setup.target, &filter);

        let out = run_ferry(FERRY, &["validate"], &job);
        assert_eq!(out.code, 2, "validate {filter:?}: {out:?}");
        assert!(out.stderr.contains("source_filter"), "{filter:?}: {out:?}");

        let out = run_ferry(FERRY, &["run"], &job);
        assert_eq!(out.code, 2, "run {filter:?}: {out:?}");
        assert!(out.stderr.contains("source_filter"), "{filter:?}: {out:?}");

        let spec = json!({
            "name": name,
            "source": setup.source_json(),
            "sink": {"type": "postgres", "url": pg_url(), "table": setup.target},
            "source_filter": filter,
        });
        let (status, p) = s.post("/api/v1/tasks", ADMIN, json!({"spec": spec})).await;
        assert_eq!(status, 422, "API {filter:?}: {p}");
        assert_eq!(p["field"], "spec.source_filter", "{filter:?}: {p}");
    }
    assert_eq!(
        setup.state().await,
        before,
        "victim, source and target untouched"
    );

    // An ordinary filter still works, into another target.
    let other = unique("inj_ok");
    let out = run_ferry(
        FERRY,
        &["run"],
        &setup.job("inj_ok", &other, "id > 7 AND v <> 'x'"),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        pg_digest(&format!("SELECT id::text || ':' || v FROM {other}")).await,
        digest(vec!["8:v8".into(), "9:v9".into(), "10:v10".into()])
    );
    // A column the source does not have is refused when the run knows the schema.
    let out = run_ferry(FERRY, &["run"], &setup.job("inj_col", &other, "nope > 0"));
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("source_filter") && out.stderr.contains("`nope`"),
        "{out:?}"
    );
    assert_eq!(setup.state().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_filter_injection_is_refused_for_postgres() {
    attacks_are_refused(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_filter_injection_is_refused_for_mariadb() {
    attacks_are_refused(Kind::Mariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_filter_injection_is_refused_for_sqlite() {
    let path = scratch_dir().join(format!("{}.db", unique("inj")));
    attacks_are_refused(Kind::Sqlite(path)).await;
}

/// MySQL reads `\'` inside a string as a quote: the string does not end
/// there, so this is one comparison in MariaDB, whatever a tokeniser that
/// ignores backslashes would make of the rest. It must read no other table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_backslash_escapes_do_not_open_the_query() {
    let setup = Setup::new(Kind::Mariadb).await;
    let before = setup.state().await;
    let other = unique("inj_bs");
    let filter = "v = 'x\\' OR 1=1) UNION SELECT 99, @@version -- '";
    let out = run_ferry(FERRY, &["run"], &setup.job("inj_bs", &other, filter));
    assert_eq!(
        out.code, 0,
        "one string comparison, no row matches: {out:?}"
    );
    assert_eq!(
        pg_digest(&format!("SELECT id::text || ':' || v FROM {other}")).await,
        digest(vec![])
    );
    assert_eq!(setup.state().await, before);
}

/// SQL that passes the filter check but that SQLite itself refuses (here a
/// function called with the wrong number of arguments) is the user's error
/// naming `source_filter`, not an internal one.
#[test]
fn sqlite_refusing_the_filter_is_the_users_error() {
    let dir = scratch_dir();
    let src = dir.join(format!("{}.db", unique("refused")));
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');",
    )
    .unwrap();
    drop(conn);
    let target = dir.join(format!("{}.db", unique("refused_target")));
    let yaml = format!(
        "name: refused\nsource: {{type: sqlite, path: \"{}\", table: t}}\nsink: {{type: sqlite, path: \"{}\", table: t}}\nsource_filter: \"lower(v, v) = 'a'\"\n",
        src.display(),
        target.display()
    );
    let out = run_ferry(FERRY, &["run"], &yaml);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("(invalid_config)") && out.stderr.contains("`source_filter`"),
        "{}",
        out.stderr
    );
    if target.exists() {
        let conn = rusqlite::Connection::open(&target).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 't'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "a failed run leaves no target table");
    }
}
