//! A fresh, empty store per test on each backend, removed afterwards.
//!
//! * SQLite: a file in a new directory under the system temp dir (the store
//!   creates the directory itself).
//! * PostgreSQL: a new database `ferry_store_t_<pid>_<n>` on the server of
//!   `FERRY_TEST_PG_URL` (default `postgresql://postgres@127.0.0.1:5432/…`),
//!   created through its `postgres` database and dropped at the end. An
//!   unreachable server fails the test.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use ferry_store::{Backend, Store};
use sqlx::Connection;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The server part of the PostgreSQL URL (`postgresql://user@host:port`).
fn pg_server() -> String {
    let url = std::env::var("FERRY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into());
    let (scheme, rest) = url.split_once("://").expect("FERRY_TEST_PG_URL is a URL");
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    format!("{scheme}://{authority}")
}

/// One test's store location; removes it when dropped (also on panic).
pub struct TestDb {
    pub backend: Backend,
    /// What to pass to `Store::open`.
    pub target: String,
    /// A URL for raw sqlx connections (test-side checks and tampering).
    pub raw_url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("ferry_store_t_{pid}_{n}"));
                let _ = std::fs::remove_dir_all(&dir);
                let file = dir.join("nested").join("state.db");
                let target = file.to_str().expect("temp dir is UTF-8").to_string();
                TestDb {
                    backend,
                    raw_url: format!("sqlite://{target}"),
                    target,
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::Postgres => {
                let server = pg_server();
                let admin_url = format!("{server}/postgres");
                let name = format!("ferry_store_t_{pid}_{n}");
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "PostgreSQL at {admin_url} is required for this test and is \
                         unreachable: {e}"
                        )
                    });
                // Two statements: PostgreSQL runs a multi-statement string
                // as one transaction, which these may not be part of.
                for sql in [
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    format!("CREATE DATABASE {name}"),
                ] {
                    sqlx::raw_sql(&sql)
                        .execute(&mut admin)
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                }
                let _ = admin.close().await;
                let target = format!("{server}/{name}");
                TestDb {
                    backend,
                    raw_url: target.clone(),
                    target,
                    cleanup: Cleanup::PgDatabase { admin_url, name },
                }
            }
        }
    }

    pub async fn open(&self) -> Store {
        let store = Store::open(&self.target)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.target));
        assert_eq!(store.backend(), self.backend);
        store
    }

    /// Runs SQL on a raw connection, past the store's API.
    pub async fn raw_exec(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.raw_url)
            .await
            .unwrap_or_else(|e| panic!("raw connection to {}: {e}", self.raw_url));
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }

    /// One text column of the first row of a query, on a raw connection.
    pub async fn raw_text(&self, sql: &str) -> Option<String> {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.raw_url)
            .await
            .unwrap_or_else(|e| panic!("raw connection to {}: {e}", self.raw_url));
        let row: Option<(String,)> = sqlx::query_as(sql)
            .fetch_optional(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
        row.map(|(s,)| s)
    }

    /// The SQLite file, for SQLite stores.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match self.backend {
            Backend::Sqlite => Some(PathBuf::from(&self.target)),
            Backend::Postgres => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PgDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside any runtime we may block: use a thread
                // with its own small runtime.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime for cleanup");
                    rt.block_on(async {
                        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = sqlx::raw_sql(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut admin)
                            .await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Defines `mod $name { sqlite, postgres }`: the async fn `$body(Backend)`
/// run once per backend, as two tests.
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(ferry_store::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(ferry_store::Backend::Postgres).await;
            }
        }
    };
}
