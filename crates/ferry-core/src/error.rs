//! The error type of Ferry's libraries.
//!
//! Each variant carries the names a user needs to act (field, table, column,
//! connector) and maps to an [`ErrorKind`] that decides what the caller does:
//! retry (transient), fix the config (invalid config, schema), fix credentials
//! (auth), or nothing (cancelled).

use std::fmt;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The task spec or job file is wrong; fix it and retry.
    InvalidConfig,
    /// Credentials were rejected.
    Auth,
    /// A table, column, file or connector does not exist.
    NotFound,
    /// A network or server problem that may pass; retrying can help.
    Transient,
    /// Source and target schemas do not fit together.
    Schema,
    /// Data could not be represented losslessly in the target.
    DirtyData,
    /// The run was cancelled.
    Cancelled,
    /// The connector does not offer the requested capability.
    Unsupported,
    /// The request conflicts with the current state (a stale revision, a
    /// duplicate name, an operation the current state does not allow).
    Conflict,
    /// A bug or broken invariant in Ferry itself.
    Internal,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Transient => "transient",
            ErrorKind::Schema => "schema",
            ErrorKind::DirtyData => "dirty_data",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Internal => "internal",
        };
        f.write_str(s)
    }
}

/// Result alias used across Ferry's libraries.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from Ferry's libraries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field of the task spec has an invalid value.
    #[error("invalid value for `{field}`: {message}")]
    InvalidConfig {
        /// Dotted path of the field, e.g. `source.table`.
        field: String,
        /// Why it is invalid and what is allowed.
        message: String,
    },
    /// The server rejected the credentials.
    #[error("authentication failed for {endpoint}: {message}")]
    Auth {
        /// The endpoint (with any password redacted).
        endpoint: String,
        /// The server's message.
        message: String,
    },
    /// Something named in the task does not exist.
    #[error("{what} `{name}` not found{}", hint_suffix(.hint))]
    NotFound {
        /// What kind of thing: "table", "column", "connector", ...
        what: &'static str,
        /// Its name as the user wrote it.
        name: String,
        /// Optional hint, e.g. which names do exist.
        hint: Option<String>,
    },
    /// Talking to a server failed in a way that may pass.
    #[error("{endpoint}: {message}")]
    Transient {
        /// The endpoint (with any password redacted).
        endpoint: String,
        /// What failed.
        message: String,
    },
    /// Source and target do not fit together.
    #[error("target {table} does not fit the source: {}", .problems.join("; "))]
    Schema {
        /// The target table.
        table: String,
        /// One entry per column that does not fit, naming the column.
        problems: Vec<String>,
    },
    /// A value could not be carried losslessly.
    #[error("dirty data in column `{column}`: {message}")]
    DirtyData {
        /// The column the value belongs to.
        column: String,
        /// What is wrong with the value.
        message: String,
    },
    /// The run was cancelled before it committed.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// The connector cannot do what was asked.
    #[error("connector `{connector}` does not support {capability}")]
    Unsupported {
        /// The connector's name.
        connector: &'static str,
        /// The capability that was asked for.
        capability: String,
    },
    /// A server returned an error that is not about credentials or missing objects.
    #[error("{context}: {message}")]
    Server {
        /// What Ferry was doing (statement kind, table).
        context: String,
        /// The server's message.
        message: String,
        /// Whether retrying may help.
        transient: bool,
    },
    /// The request conflicts with the current state of what it changes.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A broken invariant in Ferry.
    #[error("internal error: {0}")]
    Internal(String),
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
}

impl Error {
    /// What a caller should do about this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfig { .. } => ErrorKind::InvalidConfig,
            Error::Auth { .. } => ErrorKind::Auth,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Transient { .. } => ErrorKind::Transient,
            Error::Schema { .. } => ErrorKind::Schema,
            Error::DirtyData { .. } => ErrorKind::DirtyData,
            Error::Cancelled(_) => ErrorKind::Cancelled,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Server { transient, .. } => {
                if *transient {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Internal
                }
            }
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Shorthand for [`Error::InvalidConfig`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::NotFound`] without a hint.
    pub fn not_found(what: &'static str, name: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            name: name.into(),
            hint: None,
        }
    }

    /// Shorthand for [`Error::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict(message.into())
    }

    /// Shorthand for [`Error::DirtyData`].
    pub fn dirty(column: impl Into<String>, message: impl Into<String>) -> Self {
        Error::DirtyData {
            column: column.into(),
            message: message.into(),
        }
    }

    /// Shorthand for a non-transient [`Error::Server`].
    pub fn server(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Server {
            context: context.into(),
            message: message.into(),
            transient: false,
        }
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Internal(format!("arrow: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_messages_name_the_culprit() {
        let e = Error::invalid("source.table", "must not be empty");
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert_eq!(
            e.to_string(),
            "invalid value for `source.table`: must not be empty"
        );
        let e = Error::NotFound {
            what: "table",
            name: "public.nope".into(),
            hint: Some("schema public has: a, b".into()),
        };
        assert_eq!(
            e.to_string(),
            "table `public.nope` not found (schema public has: a, b)"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
