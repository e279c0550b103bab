//! Persistence of Ferry's control-plane state: tasks and schedules
//! (versioned), instances (unique per task and logical time), attempts,
//! watermarks, split ledgers, the dirty-record index, logs, users and tokens.
//!
//! Thin for now: `ferry run` needs no store. The SQLite (embedded default)
//! and PostgreSQL backends with shared migrations arrive with the
//! incremental-sync and control-plane issues; this crate exists so the crate
//! graph — and its layering check in CI — is the final one from the start.
#![deny(missing_docs)]
