//! The conformance suite's building blocks, shared by every connector's
//! tests (`crates/ferry-engine/tests/conformance.rs` drives them over every
//! source × sink pair through the real engine and real servers):
//!
//! * [`values`]: for each [`ColumnType`](ferry_core::ColumnType), a batch of
//!   `(id, v)` rows holding the values that type must carry: NULL, the
//!   extremes (integer min/max, decimals at full precision, dates
//!   0001-01-01 and 9999-12-31), unicode with 4-byte characters, characters
//!   that need escaping in text protocols, 1 MB text and binary values, and
//!   the IEEE specials (NaN, ±Inf, −0) for floats. Each row has a label.
//! * [`memory`]: a [`Source`](ferry_core::Source) over in-memory batches, to
//!   seed any sink through the engine (so values a sink cannot hold are
//!   routed to dirty data exactly as in a real run), optionally slow or
//!   endless for cancellation tests.
//! * [`compare`]: the canonical text of a value for comparison across
//!   connectors, including the documented type changes of a round trip
//!   (`timestamptz` kept as UTC `DATETIME(6)` in MariaDB, `decimal_text`
//!   as text).

pub mod compare;
pub mod memory;
pub mod values;
