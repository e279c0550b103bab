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
