//! The PostgreSQL sink when the task allows dirty rows: `COPY` in segments,
//! each under a savepoint, so a row the target refuses (key, NOT NULL,
//! CHECK, exclusion or foreign-key violation, or a value the column type
//! refuses) becomes one dirty row instead of failing the run.
//!
//! ```text
//!  SET CONSTRAINTS ALL IMMEDIATE            ← deferred constraints fire per COPY, not at COMMIT
//!  per segment (≤ 16 MiB or 8 batches, kept in memory until stored):
//!    SAVEPOINT ferry_rows ─ COPY … FROM STDIN (FORMAT binary) ─ batches streamed as they arrive
//!    stored:  RELEASE SAVEPOINT ferry_rows
//!    refused: ROLLBACK TO SAVEPOINT ferry_rows ─ RELEASE ─ isolate the segment's rows
//!             (smaller COPYs, each under its own savepoint; see common::isolate)
//! ```
//!
//! Only errors about a row count as refusals: SQLSTATE class 23 (integrity
//! constraint violation) and class 22 (data exception). Anything else — a
//! lost connection, a permission, a full disk — fails the run at once. The
//! server's `COPY t, line N` context names the refused row, which lets the
//! good rows before it be stored in one COPY.

use std::pin::Pin;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::{BatchStream, Error, Rejects, Result};
use futures::{SinkExt, StreamExt};
use tokio_postgres::{Client, CopyInSink, Statement};

use super::encode::{ColumnEncoding, HEADER, TRAILER, drop_refused, encode_batch};
use super::map_err;
use crate::common::isolate::{Loader, Outcome, Refusal, RowNaming, Segment, isolate};
use ferry_core::spec::DirtyReason;

/// The savepoint every segment and piece is loaded under.
const SAVEPOINT: &str = "ferry_rows";

/// One transaction's segmented COPY into one table.
pub(super) struct SegmentedCopy<'a> {
    /// The connection, inside the write transaction.
    pub client: &'a Client,
    /// The prepared `COPY … FROM STDIN (FORMAT binary)`.
    pub statement: &'a Statement,
    /// How each column is encoded.
    pub encodings: &'a [ColumnEncoding],
    /// The server, for messages.
    pub endpoint: &'a str,
    /// The target, for messages.
    pub table: &'a str,
    /// Key columns naming a refused row.
    pub key: &'a [String],
    /// Size of the chunks shipped to the server.
    pub chunk_bytes: usize,
    /// The staging table of a swap, whose messages are put in the target's terms.
    pub staging: Option<&'a super::overwrite::Staging>,
}

/// What a segmented write did.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Written {
    /// Rows the server stored (and counted).
    pub stored: u64,
    /// Rows taken from the input, refused ones included.
    pub seen: u64,
}

impl SegmentedCopy<'_> {
    /// Runs before the first segment of a transaction.
    pub async fn begin(client: &Client, endpoint: &str) -> Result<()> {
        client
            .batch_execute("SET CONSTRAINTS ALL IMMEDIATE")
            .await
            .map_err(|e| map_err(endpoint, "making deferred constraints immediate", e))
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
            let mut dropped = 0u64;
            self.savepoint().await?;
            let mut copy = self.start().await?;
            let mut buf = Vec::with_capacity(self.chunk_bytes + self.chunk_bytes / 4);
            buf.extend_from_slice(HEADER);
            let mut next = Some(first);
            let mut sent = Ok(());
            while let Some(batch) = next.take() {
                // A value the target cannot hold leaves its row out of the
                // segment (a dirty record now), so the segment holds exactly
                // the rows sent; row numbers count the refused ones too.
                let refused = encode_batch(&batch, self.encodings, &mut buf)?;
                let first = first_row + done.seen + segment.rows as u64 + dropped;
                let dropped_here = refused.len() as u64;
                let batch = drop_refused(batch, refused, self.encodings, rejects, self.key, first)?;
                dropped += dropped_here;
                if batch.num_rows() > 0 {
                    segment.push(batch);
                }
                if buf.len() >= self.chunk_bytes {
                    sent = ship(&mut copy, &mut buf).await;
                    if sent.is_err() {
                        break;
                    }
                }
                if !segment.is_full() {
                    next = next_rows(input).await?;
                }
            }
            let result = match sent {
                Ok(()) => finish(copy, buf).await,
                Err(e) => Err(e),
            };
            done.seen += segment.rows as u64 + dropped;
            done.stored += match self.settle(result, segment.rows).await? {
                Outcome::Stored => segment.rows as u64,
                Outcome::Refused(refusal) => {
                    let naming = RowNaming { key: self.key };
                    isolate(self, rejects, naming, segment, refusal).await?
                }
            };
        }
        Ok(done)
    }

    async fn savepoint(&self) -> Result<()> {
        self.client
            .batch_execute(&format!("SAVEPOINT {SAVEPOINT}"))
            .await
            .map_err(|e| map_err(self.endpoint, "setting a savepoint", e))
    }

    async fn start(&self) -> Result<Pin<Box<CopyInSink<Bytes>>>> {
        let copy = self
            .client
            .copy_in::<_, Bytes>(self.statement)
            .await
            .map_err(|e| {
                map_err(
                    self.endpoint,
                    &format!("starting COPY into {}", self.table),
                    e,
                )
            })?;
        Ok(Box::pin(copy))
    }

    /// Releases the savepoint of a stored load, or rolls back to it and
    /// says why the rows were refused; other errors fail the write.
    async fn settle(
        &self,
        result: std::result::Result<u64, tokio_postgres::Error>,
        rows: usize,
    ) -> Result<Outcome> {
        match result {
            Ok(n) if n == rows as u64 => {
                self.client
                    .batch_execute(&format!("RELEASE SAVEPOINT {SAVEPOINT}"))
                    .await
                    .map_err(|e| map_err(self.endpoint, "releasing a savepoint", e))?;
                Ok(Outcome::Stored)
            }
            Ok(n) => Err(Error::Internal(format!(
                "{}: the server counted {n} rows of a COPY of {rows}",
                self.table
            ))),
            Err(e) => match refusal(&e, rows) {
                Some(mut refusal) => {
                    if let Some(s) = self.staging {
                        refusal.message = s.in_target_terms(&refusal.message);
                    }
                    self.client
                        .batch_execute(&format!(
                            "ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}"
                        ))
                        .await
                        .map_err(|e| map_err(self.endpoint, "rolling back to a savepoint", e))?;
                    Ok(Outcome::Refused(refusal))
                }
                None => Err(map_err(
                    self.endpoint,
                    &format!("writing into {}", self.table),
                    e,
                )),
            },
        }
    }
}

#[async_trait]
impl Loader for SegmentedCopy<'_> {
    fn shown(&self, row: &RecordBatch) -> RecordBatch {
        super::native::shown_row(row, self.encodings)
    }

    async fn load(&mut self, rows: &[RecordBatch]) -> Result<Outcome> {
        let count = rows.iter().map(RecordBatch::num_rows).sum();
        self.savepoint().await?;
        let mut copy = self.start().await?;
        let mut buf = Vec::with_capacity(self.chunk_bytes + self.chunk_bytes / 4);
        buf.extend_from_slice(HEADER);
        let mut sent = Ok(());
        for batch in rows {
            // The segment's rows were encoded once already (refused ones
            // left out), so none is refused here.
            let refused = encode_batch(batch, self.encodings, &mut buf)?;
            if let Some(r) = refused.first() {
                return Err(Error::Internal(format!(
                    "{}: a row encoded before was refused on a retry: {}",
                    self.table, r.message
                )));
            }
            if buf.len() >= self.chunk_bytes {
                sent = ship(&mut copy, &mut buf).await;
                if sent.is_err() {
                    break;
                }
            }
        }
        let result = match sent {
            Ok(()) => finish(copy, buf).await,
            Err(e) => Err(e),
        };
        self.settle(result, count).await
    }
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

async fn ship(
    copy: &mut Pin<Box<CopyInSink<Bytes>>>,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), tokio_postgres::Error> {
    // Handed over, not copied: the next chunk gets a fresh buffer.
    let capacity = buf.capacity();
    let chunk = Bytes::from(std::mem::replace(buf, Vec::with_capacity(capacity)));
    copy.send(chunk).await
}

async fn finish(
    mut copy: Pin<Box<CopyInSink<Bytes>>>,
    mut buf: Vec<u8>,
) -> std::result::Result<u64, tokio_postgres::Error> {
    buf.extend_from_slice(TRAILER);
    ship(&mut copy, &mut buf).await?;
    copy.as_mut().finish().await
}

/// The refusal of a row in `e`, if `e` is about a row (SQLSTATE class 22 or
/// 23) of a COPY of `rows` rows.
fn refusal(e: &tokio_postgres::Error, rows: usize) -> Option<Refusal> {
    let db = e.as_db_error()?;
    let code = db.code().code();
    if !(code.starts_with("22") || code.starts_with("23")) {
        return None;
    }
    let mut message = db.message().to_string();
    if let Some(detail) = db.detail() {
        message.push_str(&format!(" ({detail})"));
    }
    if let Some(c) = db.constraint()
        && !message.contains(c)
    {
        message.push_str(&format!(" [constraint {c}]"));
    }
    message.push_str(&format!(" [SQLSTATE {code}]"));
    let context = db.where_().unwrap_or_default();
    let column = db
        .column()
        .map(str::to_string)
        .or_else(|| db.detail().and_then(key_columns))
        .or_else(|| copy_context(context).1)
        .unwrap_or_default();
    let row = copy_context(context)
        .0
        .and_then(|line| line.checked_sub(1))
        .filter(|&r| r < rows);
    // Class 23 is integrity (key, NOT NULL, CHECK, FK); class 22 is data
    // (a value the column's type refuses).
    let reason = if code.starts_with("23") {
        DirtyReason::Constraint
    } else {
        DirtyReason::Conversion
    };
    Some(Refusal {
        message,
        column,
        row,
        reason,
    })
}

/// The line (1-based row of the COPY) and column in a `COPY t, line N[,
/// column c]` error context.
fn copy_context(context: &str) -> (Option<usize>, Option<String>) {
    let Some(line) = context.lines().find(|l| l.starts_with("COPY ")) else {
        return (None, None);
    };
    let Some(at) = line.rfind(", line ") else {
        return (None, None);
    };
    let rest = &line[at + ", line ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let column = rest[digits.len()..]
        .strip_prefix(", column ")
        .map(|c| c.split(':').next().unwrap_or(c).to_string())
        .filter(|c| !c.is_empty());
    (digits.parse().ok(), column)
}

/// `a, b` of a detail `Key (a, b)=(1, 2) already exists.`
fn key_columns(detail: &str) -> Option<String> {
    let rest = detail.strip_prefix("Key (")?;
    let end = rest.find(")=(")?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_copy_context() {
        assert_eq!(copy_context("COPY t, line 2002"), (Some(2002), None));
        assert_eq!(
            copy_context("COPY t, line 7, column qty: \"x\""),
            (Some(7), Some("qty".into()))
        );
        assert_eq!(
            copy_context("PL/pgSQL function f() line 3 at RAISE\nCOPY \"a, line 9\", line 12"),
            (Some(12), None)
        );
        assert_eq!(copy_context("SQL statement \"SELECT 1\""), (None, None));
        assert_eq!(
            key_columns("Key (a, b)=(1, 2) already exists."),
            Some("a, b".into())
        );
        assert_eq!(key_columns("Failing row contains (1)."), None);
    }
}
