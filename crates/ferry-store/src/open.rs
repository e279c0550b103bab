//! Opening a store: which backend a string names, preparing the SQLite file,
//! connection settings, and the embedded migrations.
//!
//! The first connection is made directly, not through the pool, so an
//! unreachable server fails at once with its own message instead of a pool
//! time-out; on SQLite it also switches the file to WAL. Then the pool
//! (lazy, same options) applies the migrations. (Migrating through the pool
//! rather than a `&mut` connection also keeps `Store::open`'s future `Send`
//! for every lifetime, so it can be spawned.)

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_core::spec::redact_url;
use ferry_core::{Error, Result};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, Connection};

use crate::db_error::db_error;
use crate::{Backend, Store};

/// The config field named in errors about the store's location.
const FIELD: &str = "state_store";

/// How long every SQLite connection waits for another writer's lock.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;
/// The statement that sets it (a unit test keeps the two in step).
const SQLITE_BUSY_TIMEOUT_PRAGMA: &str = "PRAGMA busy_timeout = 5000";
/// Connections per store handle. SQLite has one writer at a time anyway.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 5;
/// How long an operation waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at migrating a SQLite file: sqlx takes no lock around SQLite
/// migrations, so two processes opening a new file at once may both try to
/// apply migration 1; the loser's transaction fails and its retry finds the
/// migration applied.
const SQLITE_MIGRATE_ATTEMPTS: u32 = 3;

/// Where a store lives, as parsed from the string given to `Store::open`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A SQLite file (not yet made absolute).
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// `postgres://…`/`postgresql://…` → PostgreSQL; `sqlite://…`, `sqlite:…`
/// or anything without a scheme → a SQLite file. No I/O.
pub(crate) fn parse_target(s: &str) -> Result<Target> {
    if s.trim().is_empty() {
        return Err(Error::invalid(
            FIELD,
            "must be a file path, sqlite://PATH or postgresql://…",
        ));
    }
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Ok(Target::Postgres(s.to_string()));
    }
    let path = if lower.starts_with("sqlite:") {
        let rest = s["sqlite:".len()..].trim_start_matches("//");
        if rest.contains('?') {
            return Err(Error::invalid(
                FIELD,
                "sqlite:// URLs take no query parameters here; Ferry sets the SQLite \
                 options itself (write `%3F` for a `?` in the file name)",
            ));
        }
        let decoded = percent_decode_str(rest)
            .decode_utf8()
            .map_err(|e| Error::invalid(FIELD, format!("the path is not UTF-8: {e}")))?;
        decoded.into_owned()
    } else if let Some((scheme, _)) = s.split_once("://") {
        return Err(Error::invalid(
            FIELD,
            format!(
                "unsupported scheme `{scheme}://`; use postgresql://, sqlite:// or a file path"
            ),
        ));
    } else {
        s.to_string()
    };
    if path.is_empty() || path == ":memory:" {
        return Err(Error::invalid(
            FIELD,
            "must name a file: an in-memory SQLite database would not be shared by processes",
        ));
    }
    Ok(Target::Sqlite(PathBuf::from(path)))
}

/// Characters escaped in the file path of a sqlite:// URL: what the URL
/// parser would otherwise read as syntax, and `%` itself.
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Creates the file's parent directories and returns the file's absolute
/// path (parent canonicalized, so `..` and symlinks are resolved).
fn prepare_sqlite_path(path: &Path) -> Result<PathBuf> {
    let io = |doing: String, e: std::io::Error| Error::Server {
        context: doing,
        message: e.to_string(),
        transient: false,
    };
    let file_name = path.file_name().ok_or_else(|| {
        Error::invalid(
            FIELD,
            format!("`{}` does not end in a file name", path.display()),
        )
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| {
        io(
            format!(
                "creating directory {} for the state store",
                parent.display()
            ),
            e,
        )
    })?;
    let parent = parent.canonicalize().map_err(|e| {
        io(
            format!(
                "resolving directory {} of the state store",
                parent.display()
            ),
            e,
        )
    })?;
    Ok(parent.join(file_name))
}

pub(crate) async fn open_sqlite(path: PathBuf) -> Result<Store> {
    let abs = tokio::task::spawn_blocking(move || prepare_sqlite_path(&path))
        .await
        .map_err(|e| Error::Internal(format!("preparing the state store file: {e}")))??;
    let label = abs.display().to_string();
    let abs_str = abs
        .to_str()
        .ok_or_else(|| Error::invalid(FIELD, format!("the path {} is not UTF-8", abs.display())))?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        utf8_percent_encode(abs_str, PATH_ESCAPES)
    );
    let options: AnyConnectOptions = url
        .parse()
        .map_err(|e| Error::invalid(FIELD, format!("`{label}`: {e}")))?;

    let backend = Backend::Sqlite;
    let err = |doing: &str, e| db_error(backend, doing, &label, e);
    let mut conn = AnyConnection::connect_with(&options)
        .await
        .map_err(|e| err("opening the database", e))?;
    configure_sqlite(&mut conn)
        .await
        .map_err(|e| err("configuring the connection", e))?;
    enable_wal(&mut conn, &label).await?;
    conn.close()
        .await
        .map_err(|e| err("closing the setup connection", e))?;

    let pool = AnyPoolOptions::new()
        .max_connections(SQLITE_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _meta| Box::pin(configure_sqlite(conn)))
        .connect_lazy_with(options);
    migrate(&pool, backend, &label).await?;
    Ok(Store {
        pool,
        backend,
        label,
    })
}

pub(crate) async fn open_postgres(url: String) -> Result<Store> {
    let label = redact_url(&url);
    let (url, tls) = crate::tls::prepare(&url, FIELD)?;
    let options: AnyConnectOptions = url
        .parse()
        .map_err(|e| Error::invalid(FIELD, format!("`{label}`: {e}")))?;
    let backend = Backend::Postgres;
    let err = |doing: &str, e| db_error(backend, doing, &label, e);
    let conn = AnyConnection::connect_with(&options).await.map_err(|e| {
        crate::tls::tls_error(&label, &tls, &e).unwrap_or_else(|| err("connecting", e))
    })?;
    conn.close()
        .await
        .map_err(|e| err("closing the setup connection", e))?;
    let pool = AnyPoolOptions::new()
        .max_connections(POSTGRES_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    migrate(&pool, backend, &label).await?;
    Ok(Store {
        pool,
        backend,
        label,
    })
}

/// Per-connection SQLite settings. Both are also sqlx's defaults; they are
/// set here so the store does not depend on those defaults staying put.
async fn configure_sqlite(conn: &mut AnyConnection) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(SQLITE_BUSY_TIMEOUT_PRAGMA)
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Switches the file to WAL (persistent in the file, so readers never block
/// the writer and several processes can share it). Changing the journal
/// mode needs an exclusive lock that `busy_timeout` does not wait for, so a
/// busy database is retried here for up to the busy timeout.
async fn enable_wal(conn: &mut AnyConnection, label: &str) -> Result<()> {
    let step = Duration::from_millis(50);
    let attempts = SQLITE_BUSY_TIMEOUT_MS / 50;
    let mut attempt = 0;
    loop {
        let result: std::result::Result<(String,), sqlx::Error> =
            sqlx::query_as("PRAGMA journal_mode = WAL")
                .fetch_one(&mut *conn)
                .await;
        match result {
            Ok((mode,)) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok((mode,)) => {
                return Err(Error::server(
                    format!("switching the state store {label} to WAL"),
                    format!("SQLite kept journal mode `{mode}`"),
                ));
            }
            Err(e) => {
                let err = db_error(Backend::Sqlite, "switching to WAL", label, e);
                attempt += 1;
                if err.kind() != ferry_core::ErrorKind::Transient || attempt >= attempts {
                    return Err(err);
                }
                tokio::time::sleep(step).await;
            }
        }
    }
}

/// The schema, embedded in the binary. A migration's SQL must never change
/// once released: sqlx checks each applied migration's checksum.
fn migrations() -> Vec<Migration> {
    let migration = |version, description, sql| {
        Migration::new(
            version,
            Cow::Borrowed(description),
            MigrationType::Simple,
            Cow::Borrowed(sql),
            false,
        )
    };
    vec![
        migration(
            1,
            "watermarks and run history",
            include_str!("../migrations/0001_state.sql"),
        ),
        migration(
            2,
            "control plane",
            include_str!("../migrations/0002_control.sql"),
        ),
        migration(
            3,
            "scheduler state",
            include_str!("../migrations/0003_schedule.sql"),
        ),
        migration(
            4,
            "schedule engine sync",
            include_str!("../migrations/0004_engine_sync.sql"),
        ),
        migration(
            5,
            "spec formats and sealed task secrets",
            include_str!("../migrations/0005_task_secrets.sql"),
        ),
        migration(
            6,
            "the bound of a run's incremental read",
            include_str!("../migrations/0006_run_bound.sql"),
        ),
    ]
}

#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn Future<Output = std::result::Result<Vec<Migration>, sqlx::error::BoxDynError>>
                + Send
                + 's,
        >,
    > {
        Box::pin(async { Ok(migrations()) })
    }
}

async fn migrate(pool: &AnyPool, backend: Backend, label: &str) -> Result<()> {
    let migrator = Migrator::new(Embedded)
        .await
        .map_err(|e| Error::Internal(format!("loading the embedded migrations: {e}")))?;
    let attempts = match backend {
        Backend::Sqlite => SQLITE_MIGRATE_ATTEMPTS,
        // sqlx holds an advisory lock around PostgreSQL migrations.
        Backend::Postgres => 1,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < attempts && !is_definitive(&e) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(migrate_error(e, label)),
        }
    }
}

/// Migration errors a retry cannot fix.
fn is_definitive(e: &sqlx::migrate::MigrateError) -> bool {
    use sqlx::migrate::MigrateError as M;
    matches!(
        e,
        M::VersionMissing(_) | M::VersionMismatch(_) | M::Dirty(_)
    )
}

fn migrate_error(e: sqlx::migrate::MigrateError, label: &str) -> Error {
    use sqlx::migrate::MigrateError as M;
    let context = format!("migrating the state store {label}");
    let message = match &e {
        M::VersionMissing(v) => format!(
            "it has migration {v}, which this Ferry does not know: it was written by a newer \
             Ferry; upgrade Ferry"
        ),
        M::VersionMismatch(v) => format!(
            "its migration {v} differs from this Ferry's migration {v}; the store was \
             written by an incompatible build"
        ),
        M::Dirty(v) => format!(
            "migration {v} was left half applied; repair the database by hand \
             (see _sqlx_migrations)"
        ),
        _ => e.to_string(),
    };
    Error::Server {
        context,
        message,
        transient: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("postgresql://u:p@h/db").unwrap(),
            Target::Postgres("postgresql://u:p@h/db".into())
        );
        assert_eq!(
            parse_target("postgres://h/db").unwrap(),
            Target::Postgres("postgres://h/db".into())
        );
        assert_eq!(
            parse_target("sqlite:///var/lib/ferry/state.db").unwrap(),
            Target::Sqlite("/var/lib/ferry/state.db".into())
        );
        assert_eq!(
            parse_target("sqlite://state.db").unwrap(),
            Target::Sqlite("state.db".into())
        );
        assert_eq!(
            parse_target("sqlite:a%3Fb.db").unwrap(),
            Target::Sqlite("a?b.db".into())
        );
        assert_eq!(
            parse_target(".ferry/state.db").unwrap(),
            Target::Sqlite(".ferry/state.db".into())
        );
        for bad in [
            "",
            "  ",
            "sqlite::memory:",
            "sqlite://",
            "mysql://h/db",
            "sqlite://a.db?mode=ro",
        ] {
            let e = parse_target(bad).unwrap_err();
            assert_eq!(e.kind(), ferry_core::ErrorKind::InvalidConfig, "{bad}");
        }
    }

    #[test]
    fn busy_timeout_pragma_matches_constant() {
        assert_eq!(
            SQLITE_BUSY_TIMEOUT_PRAGMA,
            format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        );
    }
}
