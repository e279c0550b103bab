//! The MySQL/MariaDB sink when the task allows dirty rows: `LOAD DATA LOCAL
//! INFILE` in segments, each under a savepoint, so a row the target refuses
//! or alters becomes one dirty row instead of failing the run.
//!
//! ```text
//!  the table loaded into must be InnoDB (a savepoint must undo a load)
//!  per segment (≤ 16 MiB or 8 batches, kept in memory until stored):
//!    SAVEPOINT ferry_rows ─ LOAD DATA LOCAL INFILE ← batches encoded as they arrive
//!    no warning, every row stored:  RELEASE SAVEPOINT ferry_rows
//!    else: SHOW WARNINGS ─ ROLLBACK TO SAVEPOINT ferry_rows ─ RELEASE ─ isolate the
//!          segment's rows (smaller LOADs, each under its own savepoint; see common::isolate)
//! ```
//!
//! `LOCAL` makes the server treat refusals as warnings: a duplicate key or a
//! failed CHECK skips the row, a NULL in a NOT NULL column stores the
//! column's implicit default. So a load counts as refused when it leaves any
//! warning or stores fewer rows than sent, and a row is dirty when a load of
//! it alone does; the warnings are its message. A warning's `at row N` names
//! the first refused row, which lets the good rows before it be stored in one
//! load.
//!
//! The table loaded into carries the target's constraints: an append loads
//! the target itself, an overwrite a staging table made with `CREATE TABLE …
//! LIKE` the target (keys, NOT NULL, CHECK constraints; not foreign keys),
//! a new target Ferry's own DDL with the source's key and NOT NULLs.

use std::io;
use std::sync::Mutex;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::{BatchStream, Error, Rejects, Result};
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tokio::sync::mpsc;

use super::conn::{Endpoint, quote, text};
use super::encode::{RowEncoder, send};
use super::enum_error;
use super::sink::{CHANNEL_DEPTH, ROW_ERRORS, WARNINGS_SHOWN};
use super::writer::{culprit, load_error, warning_text};
use crate::common::isolate::{Loader, Outcome, Refusal, RowNaming, Segment, isolate};
use ferry_core::spec::DirtyReason;

/// Server errors and warnings about integrity rather than a value: duplicate
/// key (1062, 1586), NULL into NOT NULL (1048, 1263), foreign key (1451,
/// 1452, 1216, 1217), CHECK (4025, 3819).
const CONSTRAINT_CODES: [u16; 10] = [1062, 1586, 1048, 1263, 1451, 1452, 1216, 1217, 4025, 3819];

/// `constraint` for integrity errors, `conversion` for a value the column's
/// type refuses (1292 incorrect value, 1264 out of range, 1366 …).
fn reason_of(code: u16) -> DirtyReason {
    if CONSTRAINT_CODES.contains(&code) {
        DirtyReason::Constraint
    } else {
        DirtyReason::Conversion
    }
}

/// The savepoint every segment and piece is loaded under.
const SAVEPOINT: &str = "ferry_rows";

/// One transaction's segmented load into one table.
pub(super) struct SegmentedLoad<'a> {
    /// The session, inside the load transaction.
    pub conn: &'a mut Conn,
    /// Set while a `LOAD` is in flight: if its future is dropped, the
    /// session is unusable.
    pub interrupted: &'a mut bool,
    pub ep: &'a Endpoint,
    /// The table loaded into (staging or target), unqualified.
    pub table: &'a str,
    /// The table whose storage engine the loaded table has (itself, or the
    /// target of a merge's temporary staging table, which the catalog does not list).
    pub engine_table: &'a str,
    pub encoder: &'a RowEncoder,
    pub load_sql: &'a str,
    pub chunk_bytes: usize,
    /// The columns written, to name the one a warning is about.
    pub columns: &'a [String],
    /// Key columns naming a refused row.
    pub key: &'a [String],
}

/// What a segmented write did.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Written {
    /// Rows the server stored.
    pub stored: u64,
    /// Rows taken from the input, refused ones included.
    pub seen: u64,
}

impl SegmentedLoad<'_> {
    /// Checks that a savepoint can undo a load into the table.
    pub async fn check_engine(&mut self) -> Result<()> {
        let row: Option<Row> = self
            .conn
            .exec_first(
                "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (self.ep.database.as_str(), self.engine_table),
            )
            .await
            .map_err(|e| self.ep.error("reading the storage engine", e))?;
        let engine = row.as_ref().and_then(|r| text(r, 0)).unwrap_or_default();
        if engine.eq_ignore_ascii_case("InnoDB") {
            return Ok(());
        }
        Err(Error::Schema {
            table: self.ep.display(),
            problems: vec![format!(
                "{} uses the {} storage engine, which cannot roll back to a savepoint; \
                 keeping dirty rows out needs InnoDB (or set dirty.max_rows: 0 so that a refused row fails the run)",
                quote(self.engine_table),
                if engine.is_empty() {
                    "unknown"
                } else {
                    &engine
                }
            )],
        })
    }

    /// Writes every batch of `input`; `first_row` is the input's row number
    /// of its first row (for positions without a key).
    pub async fn write(
        &mut self,
        input: &mut BatchStream,
        rejects: &Rejects,
        first_row: u64,
    ) -> Result<Written> {
        let mut done = Written::default();
        while let Some(first) = next_rows(input).await? {
            let mut segment = Segment::new(first_row + done.seen);
            self.savepoint().await?;
            let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_DEPTH);
            self.set_data(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
            let (encoder, chunk, load_sql) = (self.encoder, self.chunk_bytes, self.load_sql);
            let feed = feed(first, input, encoder, tx, chunk, &mut segment);
            *self.interrupted = true;
            let (fed, loaded) = tokio::join!(feed, self.conn.query_drop(load_sql));
            *self.interrupted = false;
            fed?; // the input or its encoding failed: the root cause
            done.seen += segment.rows as u64;
            let expected = self.error_values(&segment.batches)?;
            done.stored += match self.settle(loaded, segment.rows, expected).await? {
                Outcome::Stored => segment.rows as u64,
                Outcome::Refused(refusal) => {
                    let naming = RowNaming { key: self.key };
                    isolate(self, rejects, naming, segment, refusal).await?
                }
            };
        }
        Ok(done)
    }

    /// Makes `data` the file of the next `LOAD DATA LOCAL INFILE`.
    fn set_data(&mut self, data: impl futures::Stream<Item = io::Result<Bytes>> + Send + 'static) {
        // The driver wants a `Sync` future; the stream is only `Send`.
        let cell = Mutex::new(Some(data.boxed()));
        self.conn.set_infile_handler(async move {
            Ok(cell
                .into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| futures::stream::empty().boxed()))
        });
    }

    async fn savepoint(&mut self) -> Result<()> {
        self.conn
            .query_drop(format!("SAVEPOINT {SAVEPOINT}"))
            .await
            .map_err(|e| self.ep.error("setting a savepoint", e))
    }

    /// Releases the savepoint of a load that stored every row without a
    /// warning, or rolls back to it and says why the rows were refused;
    /// other errors fail the write.
    async fn settle(
        &mut self,
        loaded: std::result::Result<(), mysql_async::Error>,
        rows: usize,
        error_values: u64,
    ) -> Result<Outcome> {
        let refusal = match loaded {
            Err(mysql_async::Error::Server(s)) if ROW_ERRORS.contains(&s.code) => {
                let message = format!("{} (error {})", s.message, s.code);
                Refusal {
                    column: culprit(self.columns, self.key, std::slice::from_ref(&message))
                        .unwrap_or_default(),
                    row: row_named(&message).filter(|&r| r < rows),
                    reason: reason_of(s.code),
                    message,
                }
            }
            Err(e) => return Err(load_error(self.ep, self.table, e)),
            Ok(()) => {
                let stored = self.conn.affected_rows();
                let exact = enum_error::only_error_values(self.conn, error_values).await?;
                if exact && stored == rows as u64 {
                    self.conn
                        .query_drop(format!("RELEASE SAVEPOINT {SAVEPOINT}"))
                        .await
                        .map_err(|e| self.ep.error("releasing a savepoint", e))?;
                    return Ok(Outcome::Stored);
                }
                let all = self.warnings().await?;
                let warnings =
                    enum_error::other_warnings(&all, &self.encoder.error_value_columns());
                let first_code = warnings.first().and_then(|w| warning_code(w));
                let message = if warnings.is_empty() {
                    format!("the server stored {stored} of the {rows} rows sent, without a warning")
                } else {
                    warnings.join("; ")
                };
                Refusal {
                    column: culprit(self.columns, self.key, &warnings).unwrap_or_default(),
                    row: warnings
                        .first()
                        .and_then(|w| row_named(w))
                        .filter(|&r| r < rows),
                    reason: first_code.map_or(DirtyReason::Constraint, reason_of),
                    message,
                }
            }
        };
        for sql in [
            format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"),
            format!("RELEASE SAVEPOINT {SAVEPOINT}"),
        ] {
            self.conn
                .query_drop(sql)
                .await
                .map_err(|e| self.ep.error("rolling back to a savepoint", e))?;
        }
        Ok(Outcome::Refused(refusal))
    }

    /// The warnings of the last statement, as `Warning 1062: Duplicate entry …`,
    /// and the code of the first.
    async fn warnings(&mut self) -> Result<Vec<String>> {
        let rows: Vec<Row> = self
            .conn
            .query(format!("SHOW WARNINGS LIMIT {WARNINGS_SHOWN}"))
            .await
            .map_err(|e| self.ep.error("reading the warnings of a load", e))?;
        Ok(rows.iter().map(warning_text).collect())
    }

    /// The warnings a `LOAD` of `rows` gives for the `ENUM` error values it carries.
    fn error_values(&self, rows: &[RecordBatch]) -> Result<u64> {
        rows.iter().map(|b| self.encoder.error_values(b)).sum()
    }
}

#[async_trait]
impl Loader for SegmentedLoad<'_> {
    async fn load(&mut self, rows: &[RecordBatch]) -> Result<Outcome> {
        let count = rows.iter().map(RecordBatch::num_rows).sum();
        let mut chunks = Vec::new();
        let mut buf = Vec::with_capacity(self.chunk_bytes + self.chunk_bytes / 4);
        for batch in rows {
            let views = self.encoder.views(batch)?;
            let n = batch.num_rows();
            let mut row = 0;
            while row < n {
                row = self
                    .encoder
                    .encode_rows(&views, row, n, &mut buf, self.chunk_bytes)?;
                if buf.len() >= self.chunk_bytes {
                    chunks.extend(pieces(std::mem::take(&mut buf), self.chunk_bytes));
                }
            }
        }
        chunks.extend(pieces(buf, self.chunk_bytes));
        self.savepoint().await?;
        self.set_data(futures::stream::iter(chunks.into_iter().map(Ok)));
        *self.interrupted = true;
        let loaded = self.conn.query_drop(self.load_sql).await;
        *self.interrupted = false;
        let expected = self.error_values(rows)?;
        self.settle(loaded, count, expected).await
    }
}

/// `buf` in pieces of at most `chunk` bytes (one protocol packet each).
fn pieces(buf: Vec<u8>, chunk: usize) -> Vec<Bytes> {
    let mut bytes = Bytes::from(buf);
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(bytes.split_to(bytes.len().min(chunk)));
    }
    out
}

/// Encodes `first` and the input's next batches into `tx` until `segment`
/// is full or the input ends; every batch sent is kept in `segment`. Stops
/// early, without error, if the driver stops reading (the load failed).
async fn feed(
    first: RecordBatch,
    input: &mut BatchStream,
    encoder: &RowEncoder,
    tx: mpsc::Sender<io::Result<Bytes>>,
    chunk: usize,
    segment: &mut Segment,
) -> Result<()> {
    let capacity = chunk + chunk / 4;
    let mut buf = Vec::with_capacity(capacity);
    let result: Result<()> = async {
        let mut next = Some(first);
        while let Some(batch) = next.take() {
            let n = batch.num_rows();
            let mut row = 0;
            let mut reading = true;
            {
                let views = encoder.views(&batch)?;
                while row < n && reading {
                    row = encoder.encode_rows(&views, row, n, &mut buf, chunk)?;
                    if buf.len() >= chunk {
                        reading = send(&tx, &mut buf, chunk, capacity).await;
                    }
                }
            }
            segment.push(batch);
            if !reading {
                return Ok(());
            }
            if !segment.is_full() {
                next = next_rows(input).await?;
            }
        }
        if !buf.is_empty() {
            send(&tx, &mut buf, chunk, capacity).await;
        }
        Ok(())
    }
    .await;
    if let Err(e) = &result {
        let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
    }
    result
}

/// `Warning 1062: Duplicate entry …` → 1062.
fn warning_code(warning: &str) -> Option<u16> {
    let (_, rest) = warning.split_once(' ')?;
    rest.split(':').next()?.parse().ok()
}

/// The next batch with rows, or `None` at the end of the input.
async fn next_rows(input: &mut BatchStream) -> Result<Option<RecordBatch>> {
    while let Some(batch) = input.next().await {
        let batch = batch?;
        if batch.num_rows() > 0 {
            return Ok(Some(batch));
        }
    }
    Ok(None)
}

/// The 0-based row of a message ending `… at row N` (1-based).
fn row_named(message: &str) -> Option<usize> {
    let at = message.rfind(" at row ")?;
    let digits: String = message[at + " at row ".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<usize>().ok()?.checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_row_of_a_warning() {
        assert_eq!(
            row_named(
                "Warning 1263: Column set to default value; NULL supplied to NOT NULL column 'name' at row 2"
            ),
            Some(1)
        );
        assert_eq!(
            row_named("Warning 1062: Duplicate entry '1' for key 'PRIMARY'"),
            None
        );
        assert_eq!(row_named("x at row 0"), None);
        assert_eq!(
            warning_code("Warning 1062: Duplicate entry '1'"),
            Some(1062)
        );
        assert_eq!(
            warning_code("Error 1048: Column 'a' cannot be null"),
            Some(1048)
        );
        assert_eq!(warning_code("nonsense"), None);
        let p = pieces(vec![1, 2, 3, 4, 5], 2);
        assert_eq!(p.iter().map(Bytes::len).collect::<Vec<_>>(), vec![2, 2, 1]);
        assert!(pieces(Vec::new(), 2).is_empty());
    }
}
