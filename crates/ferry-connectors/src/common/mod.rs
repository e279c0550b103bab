//! Pieces every connector shares: Arrow batch building sized by bytes,
//! reading Arrow values back by [`ColumnType`](ferry_core::ColumnType), and
//! isolating the rows a target refuses inside a bulk load, and TLS client
//! settings from `sslmode`.

pub mod builder;
#[cfg(feature = "_tuple-cursor")]
pub(crate) mod cursor;
#[cfg(feature = "_server")]
pub(crate) mod isolate;
#[cfg(feature = "_server")]
pub(crate) mod late_commits;
pub mod list;
#[cfg(feature = "_server")]
pub(crate) mod server_connector;
#[cfg(feature = "_server")]
pub mod server_spec;
#[cfg(feature = "_server")]
pub mod server_table;
pub mod stream;
#[cfg(feature = "_server")]
pub(crate) mod tls;
pub mod values;

pub use builder::BatchBuilder;
/// The instance a run belongs to: the task at its window (or logical
/// time), `task@start/end` in RFC 3339; `None` for a run with neither.
/// Every attempt of one instance shares it: a lake sink records it with
/// its commit, so a retried instance is told from a new one.
#[cfg(any(feature = "delta", feature = "iceberg"))]
pub(crate) fn instance(write: &ferry_core::connector::WriteSpec) -> Option<String> {
    let at = match (write.run.window, write.run.logical_time) {
        (Some((s, e)), _) => format!("{}/{}", s.to_rfc3339(), e.to_rfc3339()),
        (None, Some(t)) => t.to_rfc3339(),
        (None, None) => return None,
    };
    Some(format!("{}@{at}", write.task))
}
