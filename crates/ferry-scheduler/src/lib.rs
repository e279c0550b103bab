//! Schedule math (interval units, calendar months, windows), and — with the
//! scheduler issue — cron, time zones, the durable built-in trigger loop
//! and the `ScheduleEngine` plugin trait.
//!
//! So far: [`grid`], the logical times of an interval schedule and the
//! window each one covers, used by backfills and manual runs.
#![deny(missing_docs)]

pub mod builtin;
pub mod dolphin;
pub mod engine;
pub mod grid;
pub mod policy;
