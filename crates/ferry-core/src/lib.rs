//! Ferry's vocabulary, shared by every other crate.
//!
//! Everything here is pure data and pure functions — no I/O — so it can be
//! used by the CLI, the server, the engine and remote split workers alike:
//!
//! * [`spec`]: the task specification users write (YAML job file, API body),
//!   strict serde, a JSON Schema from the same structs, and a pure `validate()`.
//! * [`types`]: the type-mapping contract (native type → [`ColumnType`] → Arrow
//!   type → native type) that every connector goes through.
//! * [`text_form`]: the exact text of an interval (ISO 8601) and of a list
//!   (a JSON array), for targets without such types.
//! * [`schema`]: a table's columns and key, with conversion to an Arrow schema.
//! * [`connector`]: the small [`Source`]/[`Sink`] traits and their optional
//!   capabilities.
//! * [`pushdown`]: the cursor range, window and predicate a source
//!   evaluates itself, with bound values.
//! * [`reject`]: rows a connector cannot read or write exactly, on their way
//!   to dirty data.
//! * [`relay`]: whole rows relayed in the source's wire form beside a
//!   batch's columns, for a same-dialect copy that decodes no value.
//! * [`error`]: one error type whose [`ErrorKind`] drives retries and HTTP status.
//! * [`tls`]: `sslmode` / `sslrootcert` of database URLs (parsing only).
#![deny(missing_docs)]

pub mod clock;
pub mod connector;
pub mod error;
pub mod json_form;
pub mod pushdown;
pub mod reject;
pub mod relay;
pub mod schedule;
pub mod schema;
pub mod spec;
pub mod text_form;
pub mod tls;
pub mod types;

pub use connector::{
    BatchStream, Capabilities, Connectors, Dataset, DatasetKind, ReadSession, SchemaSource, Sink,
    SinkEndpoint, SinkWriter, Source, SourceEndpoint, Split,
};
pub use error::{Error, ErrorKind, Result};
pub use reject::{Rejected, Rejects};
pub use schema::{ColumnDef, TableSchema};
pub use spec::{EngineOptions, SinkSpec, SourceSpec, SyncMode, TaskSpec, ValidatedTask};
pub use types::ColumnType;
