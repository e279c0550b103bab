//! Schedule math (interval units, cron, time zones, calendar months, windows),
//! the durable built-in trigger loop, and the `ScheduleEngine` plugin trait
//! with its built-in, Airflow and DolphinScheduler implementations.
//!
//! Thin for now: it arrives with the scheduler issue. The crate exists so the
//! layering (core ← engine, store ← scheduler ← server ← cli) is enforced
//! from the start.
#![deny(missing_docs)]
