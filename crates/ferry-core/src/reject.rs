//! Rows a connector cannot read or write exactly, handed to the engine's
//! dirty-data router instead of failing the whole run.
//!
//! A source rejects a row whose value has no exact Arrow form (PostgreSQL
//! `numeric` NaN into a decimal, `date 'infinity'`, a MariaDB zero date,
//! bytes that are not UTF-8 in a text column). A sink rejects a row the
//! target refuses (a key, NOT NULL or CHECK violation inside a bulk load),
//! after isolating it from the rest of its batch.
//!
//! Connectors call [`Rejects::reject`] and drop the row; the engine adds the
//! task, run and split, writes the record to the dirty sink and counts it
//! against the task's thresholds. `reject` returns an error when the run must
//! stop (the threshold is crossed, or the task allows no dirty rows); the
//! connector then returns that error.

use std::sync::Arc;

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::json_form::value_json;
use crate::spec::DirtyReason;
use crate::{Error, Result};

/// One row a connector rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Where the row is: its primary-key values (`id=7`), or its row number.
    pub position: String,
    /// The column whose value is the reason (empty when the whole row is,
    /// e.g. a constraint over several columns).
    pub column: String,
    /// Why.
    pub reason: DirtyReason,
    /// What exactly is wrong, in the connector's or the server's words.
    pub message: String,
    /// The whole row as JSON: column → typed value ([`crate::json_form`]),
    /// the refused column's raw source text in place of its value.
    pub row: serde_json::Value,
}

/// Receives rejected rows; implemented by the engine's dirty router.
pub trait RejectSink: Send + Sync {
    /// Records `row`; an error stops the run.
    fn reject(&self, row: Rejected) -> Result<()>;

    /// Whether any dirty row may be recorded at all. When not, a connector
    /// need not isolate a failed batch row by row: the first reject fails
    /// the run anyway.
    fn accepts_rows(&self) -> bool;
}

/// A cheap, cloneable handle on a [`RejectSink`].
#[derive(Clone)]
pub struct Rejects(Arc<dyn RejectSink>);

impl std::fmt::Debug for Rejects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejects")
            .field("accepts_rows", &self.accepts_rows())
            .finish()
    }
}

impl Rejects {
    /// Wraps a sink of rejected rows.
    pub fn new(sink: Arc<dyn RejectSink>) -> Self {
        Rejects(sink)
    }

    /// A handle that turns every rejected row into an error naming the
    /// column and the reason (no dirty data allowed).
    pub fn strict() -> Self {
        Rejects(Arc::new(Strict))
    }

    /// Records `row`; an error means the caller must stop and return it.
    pub fn reject(&self, row: Rejected) -> Result<()> {
        self.0.reject(row)
    }

    /// Whether any dirty row may be recorded (see [`RejectSink::accepts_rows`]).
    pub fn accepts_rows(&self) -> bool {
        self.0.accepts_rows()
    }
}

struct Strict;

impl RejectSink for Strict {
    fn reject(&self, row: Rejected) -> Result<()> {
        Err(Error::DirtyData {
            column: row.column,
            message: format!("{} ({:?} at {})", row.message, row.reason, row.position),
        })
    }

    fn accepts_rows(&self) -> bool {
        false
    }
}

/// One value of `array` as display text (`"?"` if Arrow cannot format it).
pub fn display_value(array: &dyn Array, i: usize) -> String {
    ArrayFormatter::try_new(array, &FormatOptions::default())
        .map(|f| f.value(i).to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Row `i` of `batch` as a JSON object of typed values (see
/// [`crate::json_form`]; NULL as null).
pub fn row_json(batch: &RecordBatch, i: usize) -> serde_json::Value {
    // A relaying batch shows its placeholders' values from the tuple.
    if crate::relay::tuples(batch).is_some()
        && let Ok(row) = crate::relay::expand(&batch.slice(i, 1))
    {
        return row_json(&row, 0);
    }
    let schema = batch.schema();
    let map = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| !crate::relay::is_tuples_field(f))
        .map(|(f, a)| (f.name().clone(), value_json(f, a.as_ref(), i)))
        .collect();
    serde_json::Value::Object(map)
}

/// The position of row `i` of `batch`: `k1=v1, k2=v2` over the `key`
/// columns present in the batch, or `row N` (1-based, counting from
/// `first_row`) without a key.
pub fn row_position(batch: &RecordBatch, i: usize, key: &[String], first_row: u64) -> String {
    let schema = batch.schema();
    let parts: Vec<String> = key
        .iter()
        .filter_map(|k| {
            let idx = schema.index_of(k).ok()?;
            Some(format!("{k}={}", display_value(batch.column(idx), i)))
        })
        .collect();
    if parts.is_empty() || parts.len() != key.len() {
        format!("row {}", first_row + i as u64 + 1)
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn strict_rejects_fail_with_the_column() {
        let err = Rejects::strict()
            .reject(Rejected {
                position: "id=1".into(),
                column: "d".into(),
                reason: DirtyReason::Conversion,
                message: "infinity has no date value".into(),
                row: serde_json::json!({}),
            })
            .expect_err("strict");
        let text = err.to_string();
        assert!(text.contains("d") && text.contains("infinity") && text.contains("id=1"));
        assert!(!Rejects::strict().accepts_rows());
    }

    #[test]
    fn rows_render_as_json_with_positions() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![7, 8])),
                Arc::new(StringArray::from(vec![Some("x"), None])),
            ],
        )
        .expect("batch");
        assert_eq!(row_json(&batch, 1), serde_json::json!({"id": 8, "s": null}));
        assert_eq!(row_position(&batch, 0, &["id".into()], 0), "id=7");
        assert_eq!(row_position(&batch, 1, &[], 10), "row 12");
        assert_eq!(row_position(&batch, 1, &["nope".into()], 0), "row 2");
    }
}
