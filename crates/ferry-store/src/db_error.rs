//! Turning sqlx errors into Ferry errors that name what was being done and
//! in which store, and say whether retrying can help.

use ferry_core::Error;
use sqlx::error::ErrorKind as SqlxKind;

use crate::Backend;

/// Maps a sqlx error met while `doing` something on the store `label`
/// (a file path, or a URL with its password redacted).
pub(crate) fn db_error(backend: Backend, doing: &str, label: &str, e: sqlx::Error) -> Error {
    let context = format!("{doing} in the state store {label}");
    match &e {
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            if backend == Backend::Postgres && is_auth_code(&code) {
                return Error::Auth {
                    endpoint: label.to_string(),
                    message: d.message().to_string(),
                };
            }
            Error::Server {
                context,
                message: d.message().to_string(),
                transient: is_transient_code(backend, &code),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Error::Server {
            context,
            message: e.to_string(),
            transient: true,
        },
        _ => Error::Server {
            context,
            message: e.to_string(),
            transient: false,
        },
    }
}

/// Whether a database error is a unique-key violation (a duplicate run id).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == SqlxKind::UniqueViolation)
}

/// PostgreSQL: invalid authorization / password (class 28).
fn is_auth_code(code: &str) -> bool {
    code.starts_with("28")
}

/// SQLite: busy or locked (primary codes 5 and 6, under any extended code).
/// PostgreSQL: serialization failure, deadlock, connection exceptions, server
/// shutting down, too many connections.
fn is_transient_code(backend: Backend, code: &str) -> bool {
    match backend {
        Backend::Sqlite => code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6)),
        Backend::Postgres => {
            matches!(
                code,
                "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03"
            ) || code.starts_with("08")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes() {
        let (s, p) = (Backend::Sqlite, Backend::Postgres);
        assert!(is_transient_code(s, "5")); // SQLITE_BUSY
        assert!(is_transient_code(s, "517")); // SQLITE_BUSY_SNAPSHOT
        assert!(is_transient_code(s, "6")); // SQLITE_LOCKED
        assert!(!is_transient_code(s, "2067")); // SQLITE_CONSTRAINT_UNIQUE
        assert!(is_transient_code(p, "40001"));
        assert!(is_transient_code(p, "08006"));
        assert!(!is_transient_code(p, "23505"));
        assert!(!is_transient_code(p, "42P01"));
        assert!(is_auth_code("28P01"));
    }
}
