//! Pieces every connector shares: Arrow batch building sized by bytes, and
//! reading Arrow values back by [`ColumnType`](ferry_core::ColumnType).

pub mod builder;
pub mod list;
pub mod stream;
pub mod values;

pub use builder::BatchBuilder;
