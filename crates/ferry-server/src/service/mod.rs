//! The domain rules of the control plane, between the API and the store.
//!
//! ```text
//!  api handlers ─ parse, authorize, call a service, map the result to a view
//!        │
//!        ▼
//!  service::{connections, tasks, instances}  ◀── runner pool, engine sync, scheduler
//!        │  (task review, secrets, connection resolution, instance creation, backfill)
//!        ▼
//!  ferry_store::Store
//! ```
//!
//! Services return [`ferry_core::Error`]s whose kind says what the caller
//! does (a 422 naming the field, a 409, a retry); they never build HTTP
//! responses, and nothing here calls into [`crate::api`].

pub mod connections;
pub mod instances;
pub mod tasks;

use ferry_core::{Error, Result};

/// Parses a client's JSON into `T`; errors name the path under `field`.
pub fn parse_json<T: serde::de::DeserializeOwned>(field: &str, v: &serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." || path.is_empty() {
            field.to_string()
        } else if field == "body" {
            path
        } else {
            format!("{field}.{path}")
        };
        Error::invalid(at, e.inner().to_string())
    })
}

/// `e` with its field put under `prefix` (`spec.source.url`).
pub fn prefix_field(prefix: &str, e: Error) -> Error {
    match e {
        Error::InvalidConfig { field, message } => {
            Error::invalid(format!("{prefix}.{field}"), message)
        }
        other => other,
    }
}

/// JSON text of a value the server made itself.
pub fn to_json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}
