//! Ferry's state store: watermarks and run history, on SQLite (one file,
//! the embedded default, shared by every `ferry run` on the machine) or
//! PostgreSQL (the server and several nodes).
//!
//! # Why it looks like this
//!
//! * **One code path for both backends.** Everything goes through
//!   [`sqlx::Any`]: the same statements, `$1, $2, …` placeholders each used
//!   once and in order, and only the value types `Any` carries on both
//!   (text, 64-bit integers). So a timestamp is RFC 3339 UTC text with six
//!   fraction digits (`2026-11-25T06:40:00.123456Z`, fixed width, so text
//!   order is time order) and a watermark is JSON text. Watermark values are
//!   the exact text form of each cursor value, never a float or a driver
//!   type, so they come back byte for byte.
//! * **No compile-time checked queries** (sqlx `macros` would need a live
//!   database or offline data at build time); the integration tests run every
//!   statement against both real backends instead.
//! * **Migrations are embedded** (`include_str!`) and applied by
//!   [`Store::open`], idempotently; the SQL is shared because both backends
//!   accept `TEXT` and `BIGINT`. A released migration never changes (sqlx
//!   checks checksums); a schema change is a new migration.
//! * **SQLite settings for several processes**: WAL (readers never block the
//!   writer), `busy_timeout` 5 s (writers queue instead of failing),
//!   `foreign_keys` on. Every transaction writes first, so SQLite takes the
//!   write lock at its first statement and never has to upgrade a stale read
//!   snapshot (which fails at once instead of waiting).
//!
//! # The commit of a run
//!
//! The sink's commit and the store's record of it cannot be one transaction
//! (they are different systems), so the store records the *intent* first:
//!
//! ```text
//!  begin_run ─► running ─► mark_publishing(watermark_to) ─► publishing
//!                  │                                            │
//!                  │                       sink commits ────────┤ (crash here → stays 'publishing')
//!                  │                                            ▼
//!                  └── finish_run(!ok) ─► failed     finish_run(ok): ONE store transaction
//!                                                      run → succeeded
//!                                                      ferry_watermarks(task) = watermark_to
//! ```
//!
//! A run found in `publishing` after a crash is repaired with
//! [`Store::resolve_publishing`], once the caller has asked the sink's own
//! checkpoint whether that run's publish committed: committed → exactly what
//! `finish_run(ok)` would have done (the `error` column then holds a note
//! saying the run was repaired, and the counts stay unknown); not committed →
//! failed, "crashed before its publish committed". A failed run never moves
//! the watermark.
//!
//! Status changes are guarded: only a `running` run can be marked publishing,
//! only an unfinished run can be finished, and a finished run is never
//! touched again (an attempt is an error naming its status).
#![deny(missing_docs)]

pub mod control;
mod db_error;
mod model;
mod open;
mod runs;
mod tls;
mod watermarks;

pub use model::{
    NewRun, RunCounts, RunRecord, RunStatus, SavedWatermark, Watermark, format_timestamp,
    normalize_timestamp,
};
pub use runs::CRASHED_BEFORE_COMMIT;

use ferry_core::{Error, Result};
use sqlx::AnyPool;

/// Which database a [`Store`] lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// A handle on the state store. Cheap to clone (the connection pool is
/// shared); several handles, in one process or many, may use one store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The file path or the URL with its password redacted, for messages.
    label: String,
}

impl Store {
    /// Opens (creating if needed) the store and applies pending migrations.
    ///
    /// `postgresql://…` or `postgres://…` open a PostgreSQL database (which
    /// must exist); `sqlite://PATH`, `sqlite:PATH` or a plain file path open
    /// a SQLite file, creating it and its parent directories. Opening an
    /// up-to-date store twice changes nothing.
    pub async fn open(url_or_path: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        match open::parse_target(url_or_path)? {
            open::Target::Sqlite(path) => open::open_sqlite(path).await,
            open::Target::Postgres(url) => open::open_postgres(url).await,
        }
    }

    /// Which database this store lives in.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks the store answers (for readiness probes).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| self.db("checking the connection", e))?;
        Ok(())
    }

    /// Closes the store's connections; later calls fail. Waits for
    /// operations in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The Ferry error for a database error met while `doing` something.
    fn db(&self, doing: &str, e: sqlx::Error) -> Error {
        db_error::db_error(self.backend, doing, &self.label, e)
    }
}

/// Refuses an empty identifier (task name, run id, mode).
fn non_empty(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    Ok(())
}

/// The format of the task and connection specs this build writes (the
/// `spec_format` column). Bump it when a stored spec must be read
/// differently, and teach the readers the older formats.
pub const SPEC_FORMAT: i64 = 1;

/// Refuses a stored spec of a format newer than this build reads (written
/// by a newer Ferry sharing the store), instead of misreading it.
fn check_spec_format(format: i64, what: &str) -> Result<()> {
    if format > SPEC_FORMAT {
        return Err(Error::Conflict(format!(
            "a stored {what} has spec format {format}, newer than this server reads \
             ({SPEC_FORMAT}); upgrade this server"
        )));
    }
    Ok(())
}

/// Now, in the stored timestamp form.
fn now() -> String {
    format_timestamp(chrono::Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawnable<F: Future + Send + 'static>(_: F) {}

    /// Every operation can run inside `tokio::spawn` (a compile-time check:
    /// sqlx futures can lose `Send` through higher-ranked lifetimes).
    #[test]
    fn operations_are_spawnable() {
        spawnable(async {
            let store = Store::open("state.db").await?;
            let wm = Watermark {
                columns: vec!["id".into()],
                values: vec!["1".into()],
            };
            let run = NewRun {
                run_id: "r".into(),
                task: "t".into(),
                mode: "full".into(),
                logical_time: None,
                window_start: None,
                window_end: None,
                watermark_from: None,
            };
            store.watermark("t").await?;
            store.set_watermark("t", &wm, true, None).await?;
            store.reset_watermark("t").await?;
            store.begin_run(&run).await?;
            store.mark_publishing("r", Some(&wm)).await?;
            store.finish_run("r", true, None, None).await?;
            store.resolve_publishing("r", true).await?;
            store.unfinished_runs("t").await?;
            store.runs("t", 1).await?;
            store.run("r").await?;
            store.close().await;
            Ok::<(), Error>(())
        });
    }
}
