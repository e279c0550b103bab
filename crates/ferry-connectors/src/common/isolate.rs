//! Finding the rows a target refuses inside a bulk load, so that only they
//! become dirty and every other row is still written.
//!
//! A bulk load (PostgreSQL `COPY`, MariaDB `LOAD DATA`) is one statement: a
//! single row that breaks a key, NOT NULL or CHECK constraint fails (or, for
//! `LOAD DATA LOCAL`, alters) the whole statement. When the task allows dirty
//! rows, a sink loads its input in **segments** (a few batches each, kept in
//! memory until the segment is stored), each under a savepoint. A segment the
//! target refuses is rolled back and handed to [`isolate`], which loads its
//! rows again in smaller pieces, each under its own savepoint:
//!
//! ```text
//!  segment refused (server: "row r")         segment refused (no row named)
//!   ├─ rows 0..r    load  (stored, usually)     ├─ first half   load / split again
//!   ├─ row r        load alone: refused → dirty  └─ second half  load / split again
//!   └─ rows r+1..   split in halves, each loaded / split again
//! ```
//!
//! A piece of one row that is still refused is the culprit: it goes to the
//! dirty router with the server's message. Pieces are loaded in input order,
//! so of two rows with the same key the first is kept and the second is
//! dirty. A row the server names lets the good rows before it be stored in
//! one load; without a name the search is a plain bisection. Either way a row
//! is stored only by a load the server accepted, and a row is dirty only if
//! the server refused it alone, so a wrong row number costs time, never rows.

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::reject::{row_json, row_position};
use ferry_core::spec::DirtyReason;
use ferry_core::{Error, Rejected, Rejects, Result};

/// A segment ends once it holds this many bytes of Arrow data...
pub(crate) const SEGMENT_BYTES: usize = 16 << 20;
/// ... or this many batches, whichever comes first.
pub(crate) const SEGMENT_BATCHES: usize = 8;

/// Why the target refused a load, in the server's words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    /// The server's error or warning text (constraint name, detail).
    pub message: String,
    /// The column the server names (NOT NULL), or the key columns of a
    /// duplicate key; empty when it names none.
    pub column: String,
    /// The refused row, 0-based within the load, when the server says.
    pub row: Option<usize>,
    /// `constraint` for a key, NOT NULL, CHECK or foreign-key violation;
    /// `conversion` for a value the column's type refuses (e.g. a UUID
    /// MariaDB's `UUID` type does not accept).
    pub reason: DirtyReason,
}

/// What one load under a savepoint did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Every row was stored; the savepoint is released.
    Stored,
    /// The target refused a row; the load is rolled back to the savepoint.
    Refused(Refusal),
}

/// A target that can load rows under a savepoint.
#[async_trait]
pub(crate) trait Loader: Send {
    /// Loads `rows` as one statement under a savepoint. Errors that are not
    /// about a row (a lost connection, a permission) are returned as `Err`.
    async fn load(&mut self, rows: &[RecordBatch]) -> Result<Outcome>;

    /// A refused row as its dirty record shows it, position included (a
    /// target may decode values carried in a wire form); by default the row
    /// as loaded.
    fn shown(&self, row: &RecordBatch) -> RecordBatch {
        row.clone()
    }
}

/// A segment: batches kept until the target stored them.
#[derive(Debug, Default)]
pub(crate) struct Segment {
    /// The input's row number of the segment's first row (0-based).
    pub first_row: u64,
    /// The batches, in input order.
    pub batches: Vec<RecordBatch>,
    /// Rows in `batches`.
    pub rows: usize,
    /// Arrow bytes in `batches`.
    pub bytes: usize,
}

impl Segment {
    /// An empty segment starting at input row `first_row`.
    pub fn new(first_row: u64) -> Self {
        Segment {
            first_row,
            ..Segment::default()
        }
    }

    /// Adds a batch.
    pub fn push(&mut self, batch: RecordBatch) {
        self.rows += batch.num_rows();
        self.bytes += batch.get_array_memory_size();
        self.batches.push(batch);
    }

    /// Whether the segment is as large as a segment may be.
    pub fn is_full(&self) -> bool {
        self.bytes >= SEGMENT_BYTES || self.batches.len() >= SEGMENT_BATCHES
    }
}

/// How to describe a refused row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowNaming<'a> {
    /// Key columns for the position (`id=7`); row numbers without them.
    pub key: &'a [String],
}

/// Stores every row of `segment` the target accepts and hands every row it
/// refuses to `rejects` (see the module docs); `refusal` is why the whole
/// segment was refused. Returns the rows stored. An error of `rejects`
/// (threshold crossed) or of the loader stops at once.
pub(crate) async fn isolate(
    loader: &mut dyn Loader,
    rejects: &Rejects,
    naming: RowNaming<'_>,
    segment: Segment,
    refusal: Refusal,
) -> Result<u64> {
    let (mut stored, mut refused, mut loads) = (0u64, 0u64, 0u64);
    let (first_row, rows) = (segment.first_row, segment.rows);
    // Pieces still to load, the next one last.
    let mut todo = vec![Piece {
        first_row: segment.first_row,
        rows: segment.rows,
        batches: segment.batches,
        refused: Some(refusal),
    }];
    while let Some(piece) = todo.pop() {
        let refusal = match piece.refused {
            Some(r) => r,
            None => {
                loads += 1;
                match loader.load(&piece.batches).await? {
                    Outcome::Stored => {
                        stored += piece.rows as u64;
                        continue;
                    }
                    Outcome::Refused(r) => r,
                }
            }
        };
        if piece.rows == 1 {
            let batch = piece.batches.first().ok_or_else(|| {
                Error::Internal("a refused piece of one row holds no batch".into())
            })?;
            refused += 1;
            let batch = &loader.shown(batch);
            rejects.reject(Rejected {
                position: row_position(batch, 0, naming.key, piece.first_row),
                column: refusal.column,
                reason: refusal.reason,
                message: refusal.message,
                row: row_json(batch, 0),
            })?;
            continue;
        }
        // Later pieces first onto the stack, so the earliest is loaded next.
        for (start, len) in split_plan(piece.rows, refusal.row).into_iter().rev() {
            todo.push(Piece {
                first_row: piece.first_row + start as u64,
                rows: len,
                batches: slice_rows(&piece.batches, start, len),
                refused: None,
            });
        }
    }
    tracing::debug!(
        first_row,
        rows,
        refused,
        loads,
        "isolated the refused rows of a segment"
    );
    Ok(stored)
}

struct Piece {
    first_row: u64,
    rows: usize,
    batches: Vec<RecordBatch>,
    /// Already known to be refused (the segment's own load).
    refused: Option<Refusal>,
}

/// How a refused piece of `rows` (> 1) rows is cut: `(start, len)` pieces in
/// order. With the refused row `r` named: the rows before it, the row, and
/// the rest in two halves; otherwise two halves.
fn split_plan(rows: usize, refused: Option<usize>) -> Vec<(usize, usize)> {
    let halves = |start: usize, len: usize| -> Vec<(usize, usize)> {
        match len {
            0 => vec![],
            1 => vec![(start, 1)],
            _ => vec![(start, len / 2), (start + len / 2, len - len / 2)],
        }
    };
    match refused.filter(|&r| r < rows) {
        Some(r) => {
            let mut plan = Vec::with_capacity(4);
            if r > 0 {
                plan.push((0, r));
            }
            plan.push((r, 1));
            plan.extend(halves(r + 1, rows - r - 1));
            plan
        }
        None => halves(0, rows),
    }
}

/// Rows `start..start + len` of `batches` (zero-copy slices).
pub(crate) fn slice_rows(batches: &[RecordBatch], start: usize, len: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let (mut skip, mut want) = (start, len);
    for b in batches {
        if want == 0 {
            break;
        }
        let n = b.num_rows();
        if skip >= n {
            skip -= n;
            continue;
        }
        let take = (n - skip).min(want);
        out.push(b.slice(skip, take));
        want -= take;
        skip = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    use arrow::array::{Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use ferry_core::reject::RejectSink;

    fn batches(ids: &[i64], per_batch: usize) -> Vec<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        ids.chunks(per_batch)
            .map(|c| {
                RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(c.to_vec()))])
                    .expect("batch")
            })
            .collect()
    }

    fn ids(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                let a = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("int64");
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    /// A table with a unique `id` (and ids < 0 failing a CHECK), in memory.
    struct FakeTable {
        rows: HashSet<i64>,
        loads: usize,
        /// Whether refusals name the row (like PostgreSQL's `COPY t, line N`).
        names_rows: bool,
    }

    #[async_trait]
    impl Loader for FakeTable {
        async fn load(&mut self, rows: &[RecordBatch]) -> Result<Outcome> {
            self.loads += 1;
            let mut added = HashSet::new();
            for (i, id) in ids(rows).into_iter().enumerate() {
                if id < 0 || self.rows.contains(&id) || !added.insert(id) {
                    return Ok(Outcome::Refused(Refusal {
                        message: format!("refused {id}"),
                        column: "id".into(),
                        row: self.names_rows.then_some(i),
                        reason: DirtyReason::Constraint,
                    }));
                }
            }
            self.rows.extend(added);
            Ok(Outcome::Stored)
        }
    }

    #[derive(Default)]
    struct Collect {
        rows: Mutex<Vec<Rejected>>,
        limit: usize,
    }

    impl RejectSink for Collect {
        fn reject(&self, row: Rejected) -> Result<()> {
            let mut rows = self.rows.lock().expect("lock");
            rows.push(row);
            if rows.len() > self.limit {
                return Err(Error::dirty("id", "too many"));
            }
            Ok(())
        }
        fn accepts_rows(&self) -> bool {
            true
        }
    }

    async fn run(input: &[i64], existing: &[i64], names_rows: bool) -> (FakeTable, Vec<Rejected>) {
        let mut table = FakeTable {
            rows: existing.iter().copied().collect(),
            loads: 0,
            names_rows,
        };
        let collect = Arc::new(Collect {
            limit: usize::MAX,
            ..Collect::default()
        });
        let rejects = Rejects::new(collect.clone());
        let mut segment = Segment::new(100);
        for b in batches(input, 7) {
            segment.push(b);
        }
        let first = match table.load(&segment.batches).await.expect("load") {
            Outcome::Refused(r) => r,
            Outcome::Stored => return (table, vec![]),
        };
        let stored = isolate(
            &mut table,
            &rejects,
            RowNaming {
                key: &["id".into()],
            },
            segment,
            first,
        )
        .await
        .expect("isolate");
        let rejected = collect.rows.lock().expect("lock").clone();
        assert_eq!(stored as usize + rejected.len(), input.len());
        (table, rejected)
    }

    #[tokio::test]
    async fn finds_every_refused_row_and_keeps_the_first_of_duplicates() {
        for names_rows in [false, true] {
            // 7 collides with an existing row, 12 appears twice, -3 fails the CHECK.
            let input: Vec<i64> = (1..=40)
                .map(|i| match i {
                    13 => 12,
                    20 => -3,
                    _ => i,
                })
                .collect();
            let (table, rejected) = run(&input, &[7], names_rows).await;
            let positions: Vec<&str> = rejected.iter().map(|r| r.position.as_str()).collect();
            assert_eq!(
                positions,
                ["id=7", "id=12", "id=-3"],
                "names_rows={names_rows}"
            );
            assert!(rejected.iter().all(|r| r.reason == DirtyReason::Constraint));
            assert_eq!(rejected[1].row, serde_json::json!({"id": 12}));
            let mut stored: Vec<i64> = table.rows.into_iter().collect();
            stored.sort();
            let mut expected: Vec<i64> = (1..=40).filter(|i| ![13, 20].contains(i)).collect();
            expected.sort();
            assert_eq!(stored, expected);
        }
    }

    #[tokio::test]
    async fn a_named_row_saves_loads() {
        let input: Vec<i64> = (1..=1000).map(|i| if i == 500 { -1 } else { i }).collect();
        let (named, _) = run(&input, &[], true).await;
        let (bisected, _) = run(&input, &[], false).await;
        // Named: prefix, the row, two halves (+ the segment's own load).
        assert_eq!(named.loads, 5);
        assert!(bisected.loads > named.loads, "{}", bisected.loads);
    }

    #[tokio::test]
    async fn a_crossed_threshold_stops_the_search() {
        let mut table = FakeTable {
            rows: HashSet::new(),
            loads: 0,
            names_rows: false,
        };
        let collect = Arc::new(Collect {
            limit: 1,
            ..Collect::default()
        });
        let mut segment = Segment::new(0);
        for b in batches(&[-1, 2, -3, 4, -5], 2) {
            segment.push(b);
        }
        let first = Refusal {
            message: "x".into(),
            column: String::new(),
            row: None,
            reason: DirtyReason::Constraint,
        };
        let err = isolate(
            &mut table,
            &Rejects::new(collect.clone()),
            RowNaming { key: &[] },
            segment,
            first,
        )
        .await
        .expect_err("threshold");
        assert!(err.to_string().contains("too many"), "{err}");
        assert_eq!(collect.rows.lock().expect("lock").len(), 2);
        assert_eq!(collect.rows.lock().expect("lock")[0].position, "row 1");
    }

    #[test]
    fn slices_across_batches() {
        let b = batches(&[1, 2, 3, 4, 5, 6, 7], 3);
        assert_eq!(ids(&slice_rows(&b, 2, 3)), vec![3, 4, 5]);
        assert_eq!(ids(&slice_rows(&b, 6, 5)), vec![7]);
        assert!(slice_rows(&b, 7, 1).is_empty());
        assert_eq!(split_plan(10, Some(0)), vec![(0, 1), (1, 4), (5, 5)]);
        assert_eq!(split_plan(10, Some(9)), vec![(0, 9), (9, 1)]);
        assert_eq!(split_plan(10, Some(10)), vec![(0, 5), (5, 5)]);
        assert_eq!(split_plan(3, Some(1)), vec![(0, 1), (1, 1), (2, 1)]);
    }
}
