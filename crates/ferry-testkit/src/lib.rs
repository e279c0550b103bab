//! Test support shared by Ferry's integration tests.
//!
//! * Service URLs come from the environment with loopback defaults
//!   (`FERRY_TEST_PG_URL`, `FERRY_TEST_MYSQL_URL`). A test whose server is
//!   unreachable **fails** with a message naming the URL — it never skips.
//! * Content checksums: every test compares data by a SHA-256 over the sorted
//!   canonical text of each row, computed by the database itself (one SQL
//!   expression per row), never by Ferry's own code paths.
//! * [`conformance`]: the values every source and sink must carry exactly
//!   (per `ColumnType`: NULLs, extremes, unicode, large values), an in-memory
//!   source to feed them into any sink, and value comparison.
#![allow(clippy::unwrap_used)]

pub mod conformance;

/// The drivers the helpers return, for tests that drive them further.
pub use {mysql_async, tokio_postgres};

use sha2::{Digest, Sha256};

/// PostgreSQL URL for tests.
pub fn pg_url() -> String {
    std::env::var("FERRY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/test".into())
}

/// MySQL/MariaDB URL for tests.
pub fn mysql_url() -> String {
    std::env::var("FERRY_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The TLS-only PostgreSQL of `scripts/pg_tls.sh` (no TLS parameters).
pub fn pg_tls_url() -> String {
    std::env::var("FERRY_TEST_PG_TLS_URL")
        .unwrap_or_else(|_| "postgresql://postgres@localhost:5433/test".into())
}

/// The TLS-only MariaDB of `scripts/pg_tls.sh` (no TLS parameters).
pub fn mysql_tls_url() -> String {
    std::env::var("FERRY_TEST_MYSQL_TLS_URL")
        .unwrap_or_else(|_| "mysql://root@localhost:3307/test".into())
}

/// A file of `scripts/pg_tls.sh`'s certificates, from `var` or its default
/// place; fails the test (naming the script) when it does not exist.
pub fn tls_file(var: &str, name: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
        format!("{home}/.cache/ferry/tls/{name}")
    });
    assert!(
        std::path::Path::new(&path).is_file(),
        "{path} ({var}) is required for this test: run `bash scripts/pg_tls.sh start`"
    );
    path
}

/// The CA that signed the TLS test servers' certificate.
pub fn tls_ca() -> String {
    tls_file("FERRY_TEST_TLS_CA", "ca.pem")
}

/// A CA that signed nothing the test servers use.
pub fn tls_wrong_ca() -> String {
    tls_file("FERRY_TEST_TLS_WRONG_CA", "wrong-ca.pem")
}

/// The test servers' certificate (for `localhost` and 127.0.0.1) and key.
pub fn tls_cert_and_key() -> (String, String) {
    (
        tls_file("FERRY_TEST_TLS_CERT", "server.pem"),
        tls_file("FERRY_TEST_TLS_KEY", "server.key"),
    )
}

/// A PostgreSQL client; panics (fails the test) when the server is unreachable.
pub async fn pg() -> tokio_postgres::Client {
    let url = pg_url();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} is required for this test and is unreachable: {e}")
        });
    tokio::spawn(conn);
    client
}

/// Runs SQL statements on PostgreSQL.
pub async fn pg_exec(sql: &str) {
    pg().await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL: {sql}: {e:?}"));
}

/// A MySQL/MariaDB connection; panics when the server is unreachable.
pub async fn my() -> mysql_async::Conn {
    let url = mysql_url();
    let opts = mysql_async::Opts::from_url(&url).unwrap();
    mysql_async::Conn::new(opts).await.unwrap_or_else(|e| {
        panic!("MariaDB at {url} is required for this test and is unreachable: {e}")
    })
}

/// Runs SQL statements on MariaDB.
pub async fn my_exec(sql: &str) {
    use mysql_async::prelude::Queryable;
    let mut c = my().await;
    c.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("MariaDB: {sql}: {e}"));
    c.disconnect().await.unwrap();
}

/// Content digest of rows given as canonical text: count and SHA-256 of the sorted rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest256 {
    /// Number of rows.
    pub rows: usize,
    /// Hex SHA-256 over the sorted rows, newline-separated.
    pub sha256: String,
}

/// Digest of row texts.
pub fn digest(mut rows: Vec<String>) -> Digest256 {
    rows.sort();
    let mut h = Sha256::new();
    for r in &rows {
        h.update(r.as_bytes());
        h.update(b"\n");
    }
    Digest256 {
        rows: rows.len(),
        sha256: hex::encode(h.finalize()),
    }
}

/// Digest of a PostgreSQL query returning one text column (the canonical row).
pub async fn pg_digest(sql: &str) -> Digest256 {
    let rows = pg()
        .await
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL: {sql}: {e:?}"));
    digest(
        rows.iter()
            .map(|r| {
                r.get::<_, Option<String>>(0)
                    .unwrap_or_else(|| "<NULL ROW>".into())
            })
            .collect(),
    )
}

/// Digest of a MariaDB query returning one text column (the canonical row).
pub async fn my_digest(sql: &str) -> Digest256 {
    use mysql_async::prelude::Queryable;
    let mut c = my().await;
    let rows: Vec<Option<String>> = c
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("MariaDB: {sql}: {e}"));
    c.disconnect().await.unwrap();
    digest(
        rows.into_iter()
            .map(|r| r.unwrap_or_else(|| "<NULL ROW>".into()))
            .collect(),
    )
}

/// Digest of a SQLite query returning one text column (the canonical row).
pub fn sqlite_digest(path: &std::path::Path, sql: &str) -> Digest256 {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(sql)
        .unwrap_or_else(|e| panic!("SQLite: {sql}: {e}"));
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .map(|r| r.unwrap().unwrap_or_else(|| "<NULL ROW>".into()))
        .collect();
    digest(rows)
}

/// A name unique to this test process, for tables and files.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A scratch directory for this test process.
pub fn scratch_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ferry-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Result of running the `ferry` binary.
#[derive(Debug)]
pub struct Output {
    /// Exit status code (-1 if killed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Writes `yaml` to a job file and runs `ferry ARGS… JOB`.
pub fn run_ferry(bin: &str, args: &[&str], yaml: &str) -> Output {
    let job = scratch_dir().join(format!("{}.yaml", unique("job")));
    std::fs::write(&job, yaml).unwrap();
    let mut full: Vec<&str> = args.to_vec();
    let job_s = job.to_string_lossy().to_string();
    full.push(&job_s);
    let out = std::process::Command::new(bin)
        .args(&full)
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}
