//! Ferry's scheduling: schedule math ([`schedule`]: interval units on the
//! calendar of an IANA time zone, cron expressions, windows, delays), the
//! durable built-in trigger loop ([`builtin`], with its [`policy`]), and
//! the [`engine`] plugin framework (built-in, Airflow, DolphinScheduler).
//! [`grid`] keeps the old name [`grid::Grid`]. [`http`] builds the verifying
//! HTTPS clients of the engines (and of the CLI).
#![deny(missing_docs)]

pub mod airflow;
pub mod builtin;
pub mod dolphin;
pub mod engine;
pub mod grid;
pub mod http;
pub mod policy;
pub mod schedule;

pub use schedule::{MAX_TIMES, Schedule};
