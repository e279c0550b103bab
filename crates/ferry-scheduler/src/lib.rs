//! Schedule math — interval units on the calendar of an IANA time zone,
//! cron expressions, windows, delays — and, with the scheduler issue, the
//! durable built-in trigger loop and the `ScheduleEngine` plugin trait.
//!
//! So far: [`schedule`], the logical times of a schedule and the window each
//! one covers, used by backfills and manual runs ([`grid`] keeps the old
//! name [`grid::Grid`]).
#![deny(missing_docs)]

pub mod grid;
pub mod schedule;

pub use schedule::{MAX_TIMES, Schedule};
