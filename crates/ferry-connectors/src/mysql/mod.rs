//! MySQL and MariaDB: a source that streams one consistent snapshot and a
//! sink that streams `LOAD DATA LOCAL INFILE` from memory and publishes
//! atomically. Driver: `mysql_async` (text protocol; TLS see [`tls`]).
//!
//! # Reading
//!
//! ```text
//!  open_read: connect ─ SET time_zone='+00:00' ─ one snapshot on N connections (see [`snapshot`]):
//!             LOCK TABLES t READ (side connection) ─ START TRANSACTION WITH CONSISTENT SNAPSHOT
//!             on each reader ─ UNLOCK TABLES
//!  read_split(i): task ── SELECT cols FROM `db`.`t` WHERE <key range i> (unbuffered)
//!                 ──▶ BatchBuilder ──▶ mpsc(2) ──▶ stream
//!  close: COMMIT (or KILL the connection of a read stopped half-way)
//! ```
//!
//! InnoDB cannot export a snapshot to another session (there is no
//! `pg_export_snapshot()`), so parallel readers take theirs while a brief
//! table lock holds writers back, as mydumper does ([`snapshot`]); the
//! splits are primary-key ranges ([`split`]). Where the lock cannot be had
//! in time (a long write transaction on the table, no `LOCK TABLES`
//! privilege) the read is one split on one connection, and says why: splits
//! never see different moments.
//!
//! Rows arrive as text and are decoded straight into the Arrow builders:
//! `DATETIME`/`TIMESTAMP`/`TIME`/`DATE` from their exact text (`TIMESTAMP` in a
//! `+00:00` session, so as UTC), `BIT` and binary strings as raw bytes, and
//! `FLOAT` as `col * 1e0` because the server's own text of a `FLOAT` keeps only
//! six digits. `TIME` is read over its whole range (±838:59:59.999999) and
//! `tinyint(1)` (`BOOL`) as the integer it is. A value Arrow cannot hold
//! exactly — a zero date `0000-00-00` or a date with a zero month or day
//! (`2020-00-15`) in a `DATE`/`DATETIME`/`TIMESTAMP` column (`conversion`),
//! bytes that are not UTF-8 (`encoding`) —
//! makes its **row dirty**: the row is left out of the batches and handed to
//! the split's `Rejects` with its key, column, reason and the raw value in
//! its JSON (whatever the sink: Arrow has no zero date). Without a dirty
//! policy that fails the read naming the column, as before.
//! An empty table yields **no batches** (the stream simply ends).
//!
//! An incremental, windowed or `source_filter` read adds its condition to
//! the one `SELECT`; the upper bound of an incremental read is found in the
//! same snapshot first, and every value is bound (see [`pushdown`]).
//!
//! The reading task is aborted when the stream is dropped. The driver then
//! still drains the rest of the result set before it lets the connection go,
//! so `ReadSession::close` kills that connection from a fresh one.
//!
//! # Writing
//!
//! ```text
//!  prepare: connect ─ strict sql_mode, UTC ─ GET_LOCK('ferry:db.t', 0)
//!           ─ DROP debris `_ferry_stg_t`, `_ferry_old_t` ─ check target or plan its DDL
//!           ─ CREATE TABLE `_ferry_stg_t` (overwrite, or target missing) ─ START TRANSACTION
//!  write_all: encoder task ── tab-separated text, 1 MiB chunks ──▶ mpsc(2) ──▶ LOAD DATA LOCAL INFILE
//!             then: warnings must be 0 and stored rows = sent rows, else the write fails
//!    dirty rows allowed (see [`isolate`]): per segment SAVEPOINT ─ LOAD ─ RELEASE; a segment
//!             with warnings is rolled back to its savepoint and its rows isolated: each row
//!             the target refuses or alters (duplicate key, NULL into NOT NULL, CHECK) is one
//!             dirty row with the server's warning, the others are stored
//!  commit:  COMMIT ─ RENAME TABLE t TO _ferry_old_t, _ferry_stg_t TO t ─ DROP TABLE _ferry_old_t
//!           (append into an existing target: COMMIT only)
//!  abort:   ROLLBACK ─ DROP TABLE _ferry_stg_t
//! ```
//!
//! `LOAD DATA LOCAL` turns data errors into warnings even in strict mode (the
//! server cannot stop the client's stream), so every load is followed by a
//! warning check and fails with the server's first warnings: truncated,
//! converted or skipped values are never accepted; when dirty rows are
//! allowed, the rows behind the warnings become dirty rows instead. The
//! staging table of an overwrite is made `LIKE` the target, so it carries
//! the target's keys, NOT NULLs and CHECK constraints and a refused row is
//! found during the load, not at the `RENAME`; foreign keys are not copied
//! by `LIKE` and are not checked in an overwrite. A process killed mid-run
//! leaves only the staging table (or an uncommitted transaction), which the
//! next `prepare` drops. `RENAME TABLE` carries the target's triggers and the
//! foreign keys that point at it to the replaced table, which is dropped: an
//! overwritten target keeps only what `CREATE TABLE … LIKE` copies.
//!
//! `incremental_append` loads like `full_append`; `window_overwrite` first
//! deletes the window's rows inside the load's transaction;
//! `incremental_merge` loads a temporary staging table and applies it by
//! key before `COMMIT`; the checkpoint of an incremental run is checked and
//! stored in that same transaction (see [`merge`]).

mod browse;
mod carry;
pub(crate) mod conn;
mod connector;
mod decode;
mod duration;
mod encode;
mod enum_error;
mod isolate;
mod late_commits;
mod matrix;
mod merge;
mod pushdown;
mod screen;
mod sink;
mod snapshot;
mod source;
mod split;
mod tls;
mod types;
mod writer;

pub use connector::MYSQL;
pub use sink::MysqlSink;
pub use source::MysqlSource;
pub(crate) use types::{column_type_of_declared, ddl_type};
