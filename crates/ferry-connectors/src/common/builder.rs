//! Builds Arrow batches column by column, row by row, and tells the reader
//! when the batch has reached its byte budget — the one place where memory
//! per batch is bounded.
//!
//! It is also where a source drops a row whose value has no exact Arrow
//! form (a zero date, `numeric` NaN into a decimal, bytes that are not
//! UTF-8). Arrow builders cannot take a value back, so the reader appends
//! NULL in its place, says why with [`BatchBuilder::reject_row`], and carries
//! on with the row; [`BatchBuilder::finish`] then hands every rejected row to
//! the split's [`Rejects`] and filters it out of the batch:
//!
//! ```text
//!  reader: append values … bad value → append_null + reject_row(col, BadValue) … end_row
//!  finish: arrays ──▶ (no rejects: the batch as is, no extra work)
//!                 └─▶ rejects: Rejected {position: key or row number, column, reason,
//!                              message, row JSON with the raw value} → Rejects::reject
//!                              then filter_record_batch(keep) → the batch without them
//! ```
//!
//! `Rejects::reject` fails when the run allows no (more) dirty rows; that
//! error ends the read, exactly as a bad value used to.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanArray, BooleanBuilder, Date32Builder, Decimal128Builder,
    FixedSizeBinaryBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, IntervalMonthDayNanoBuilder, StringBuilder, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use ferry_core::reject::{display_value, row_json};
use ferry_core::relay::{is_relayed, is_tuples_field};
use ferry_core::schema::field_column_type;
use ferry_core::spec::DirtyReason;
use ferry_core::{ColumnType, Error, Rejected, Rejects, Result};

/// Why one value could not be appended: its row is rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct BadValue {
    /// The kind of problem.
    pub reason: DirtyReason,
    /// What is wrong, with the value (cut if long) in the message.
    pub message: String,
    /// The value as text for the row JSON, in place of the NULL appended
    /// (`None`: the row shows null for it).
    pub raw: Option<String>,
}

impl BadValue {
    /// A bad value of `reason`, boxed (readers return it on their cold path).
    pub fn new(reason: DirtyReason, message: impl Into<String>) -> Box<BadValue> {
        Box::new(BadValue {
            reason,
            message: message.into(),
            raw: None,
        })
    }

    /// The same with another reason.
    pub fn with_reason(mut self: Box<Self>, reason: DirtyReason) -> Box<BadValue> {
        self.reason = reason;
        self
    }

    /// The same, with the raw value's text for the row JSON.
    pub fn with_raw(mut self: Box<Self>, raw: impl Into<String>) -> Box<BadValue> {
        self.raw = Some(raw.into());
        self
    }
}

/// A rejected row of the batch being built.
struct RejectedRow {
    row: usize,
    column: usize,
    bad: Box<BadValue>,
    /// Raw texts of the row's later bad values (column, text), for its JSON.
    more_raw: Vec<(usize, String)>,
}

use super::list::ListColumn;

/// One column's Arrow builder, chosen from its [`ColumnType`].
pub enum ColumnBuilder {
    /// bool
    Bool(BooleanBuilder),
    /// int16
    Int16(Int16Builder),
    /// int32
    Int32(Int32Builder),
    /// int64
    Int64(Int64Builder),
    /// float32
    Float32(Float32Builder),
    /// float64
    Float64(Float64Builder),
    /// decimal(p,s)
    Decimal(Decimal128Builder),
    /// text, varchar, char, json, decimal_text
    Utf8(StringBuilder),
    /// binary
    Binary(BinaryBuilder),
    /// date
    Date(Date32Builder),
    /// time
    Time(Time64MicrosecondBuilder),
    /// timestamp and timestamptz
    Timestamp(TimestampMicrosecondBuilder),
    /// uuid
    Uuid(FixedSizeBinaryBuilder),
    /// interval (months, days, nanoseconds)
    Interval(IntervalMonthDayNanoBuilder),
    /// list<T>: one element builder plus offsets
    List(ListColumn),
}

impl ColumnBuilder {
    fn new(ty: &ColumnType, capacity: usize) -> Self {
        match ty {
            ColumnType::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Int16 => ColumnBuilder::Int16(Int16Builder::with_capacity(capacity)),
            ColumnType::Int32 => ColumnBuilder::Int32(Int32Builder::with_capacity(capacity)),
            ColumnType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            ColumnType::Float32 => ColumnBuilder::Float32(Float32Builder::with_capacity(capacity)),
            ColumnType::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            ColumnType::Decimal { precision, scale } => ColumnBuilder::Decimal(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(*precision, *scale as i8)
                    .unwrap_or_else(|_| Decimal128Builder::with_capacity(capacity)),
            ),
            ColumnType::DecimalText | ColumnType::Text { .. } | ColumnType::Json => {
                ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnType::Binary => {
                ColumnBuilder::Binary(BinaryBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
            ColumnType::Time => {
                ColumnBuilder::Time(Time64MicrosecondBuilder::with_capacity(capacity))
            }
            ColumnType::Timestamp => {
                ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity))
            }
            ColumnType::TimestampTz => ColumnBuilder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            ColumnType::Uuid => {
                ColumnBuilder::Uuid(FixedSizeBinaryBuilder::with_capacity(capacity, 16))
            }
            ColumnType::Interval => {
                ColumnBuilder::Interval(IntervalMonthDayNanoBuilder::with_capacity(capacity))
            }
            ColumnType::List(elem) => ColumnBuilder::List(ListColumn::new(elem, capacity)),
        }
    }

    /// The builder for a column (or list element) of type `ty`.
    pub(crate) fn of_type(ty: &ColumnType, capacity: usize) -> Self {
        Self::new(ty, capacity)
    }

    /// Values appended since the last finish.
    pub fn len(&self) -> usize {
        use arrow::array::ArrayBuilder;
        match self {
            ColumnBuilder::Bool(b) => b.len(),
            ColumnBuilder::Int16(b) => b.len(),
            ColumnBuilder::Int32(b) => b.len(),
            ColumnBuilder::Int64(b) => b.len(),
            ColumnBuilder::Float32(b) => b.len(),
            ColumnBuilder::Float64(b) => b.len(),
            ColumnBuilder::Decimal(b) => b.len(),
            ColumnBuilder::Utf8(b) => b.len(),
            ColumnBuilder::Binary(b) => b.len(),
            ColumnBuilder::Date(b) => b.len(),
            ColumnBuilder::Time(b) => b.len(),
            ColumnBuilder::Timestamp(b) => b.len(),
            ColumnBuilder::Uuid(b) => b.len(),
            ColumnBuilder::Interval(b) => b.len(),
            ColumnBuilder::List(b) => b.len(),
        }
    }

    /// The values appended so far as an array; the builder starts empty again.
    pub(crate) fn finish_array(&mut self) -> ArrayRef {
        self.finish()
    }

    /// Whether nothing was appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a NULL.
    pub fn append_null(&mut self) {
        match self {
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Int16(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Decimal(b) => b.append_null(),
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Time(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Uuid(b) => b.append_null(),
            ColumnBuilder::Interval(b) => b.append_null(),
            ColumnBuilder::List(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Int16(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b) => Arc::new(b.finish()),
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Uuid(b) => Arc::new(b.finish()),
            ColumnBuilder::Interval(b) => Arc::new(b.finish()),
            ColumnBuilder::List(b) => b.finish(),
        }
    }

    /// Fixed bytes one value of this column takes (variable data is counted on append).
    fn fixed_width(&self) -> usize {
        match self {
            ColumnBuilder::Bool(_) => 1,
            ColumnBuilder::Int16(_) => 2,
            ColumnBuilder::Int32(_) | ColumnBuilder::Float32(_) | ColumnBuilder::Date(_) => 4,
            ColumnBuilder::Int64(_)
            | ColumnBuilder::Float64(_)
            | ColumnBuilder::Time(_)
            | ColumnBuilder::Timestamp(_) => 8,
            ColumnBuilder::Decimal(_) | ColumnBuilder::Uuid(_) => 16,
            ColumnBuilder::Utf8(_) | ColumnBuilder::Binary(_) => 4,
            ColumnBuilder::Interval(_) => 16,
            // Offsets; the elements are counted as variable bytes on append.
            ColumnBuilder::List(_) => 4,
        }
    }
}

/// Builds one batch at a time for a fixed schema, counting bytes as it goes.
///
/// Readers append one value per column per row (through [`BatchBuilder::columns`]),
/// call [`BatchBuilder::end_row`] with the variable-length bytes of the row, and
/// flush with [`BatchBuilder::finish`] once [`BatchBuilder::is_full`] says so.
/// A row with a value that has no exact Arrow form gets NULL for it and
/// [`BatchBuilder::reject_row`]; `finish` leaves it out of the batch.
pub struct BatchBuilder {
    schema: SchemaRef,
    /// `schema` with every field nullable: the batch is assembled with it
    /// when a rejected row put NULL into a NOT NULL column, before the
    /// filter removes that row.
    relaxed: SchemaRef,
    types: Vec<ColumnType>,
    columns: Vec<ColumnBuilder>,
    fixed_row_bytes: usize,
    rows: usize,
    bytes: usize,
    batch_bytes: usize,
    /// Values each column's builder reserves: none for the placeholders and
    /// tuples of a relaying batch, which the reader provides.
    capacity: Vec<usize>,
    /// Positions of the key columns in the schema (`None`: no complete key,
    /// rows are named by their number).
    key: Option<Vec<usize>>,
    /// Rows built in earlier batches of this split, rejected ones included.
    rows_before: u64,
    /// Rows of the current batch to leave out; empty on the hot path.
    rejected: Vec<RejectedRow>,
    rejects: Rejects,
    /// Arrays of the current batch the reader built itself ([`Self::provide`]).
    provided: Vec<(usize, ArrayRef)>,
}

impl BatchBuilder {
    /// A builder for `schema` whose batches hold about `batch_bytes` bytes.
    /// Rejected rows go to `rejects`, named by their `key` columns (when all
    /// of them are in the schema) or else by their row number in the split.
    pub fn new(
        schema: SchemaRef,
        batch_bytes: usize,
        key: &[String],
        rejects: Rejects,
    ) -> Result<Self> {
        let types = schema
            .fields()
            .iter()
            .map(|f| field_column_type(f))
            .collect::<Result<Vec<_>>>()?;
        let probe: Vec<ColumnBuilder> = types.iter().map(|t| ColumnBuilder::new(t, 0)).collect();
        let fixed_row_bytes: usize = probe
            .iter()
            .map(ColumnBuilder::fixed_width)
            .sum::<usize>()
            .max(1);
        // Guess the row count from the fixed part plus a little variable data.
        let capacity = (batch_bytes / (fixed_row_bytes + 16)).clamp(64, 1 << 20);
        let capacity: Vec<usize> = schema
            .fields()
            .iter()
            .map(|f| {
                let provided = is_relayed(f) || is_tuples_field(f);
                if provided { 0 } else { capacity }
            })
            .collect();
        let columns = types
            .iter()
            .zip(&capacity)
            .map(|(t, c)| ColumnBuilder::new(t, *c))
            .collect();
        let key = (!key.is_empty())
            .then(|| {
                key.iter()
                    .map(|k| schema.index_of(k).ok())
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        let relaxed = Arc::new(Schema::new_with_metadata(
            schema
                .fields()
                .iter()
                .map(|f| Field::clone(f).with_nullable(true))
                .collect::<Vec<_>>(),
            schema.metadata().clone(),
        ));
        Ok(BatchBuilder {
            schema,
            relaxed,
            types,
            columns,
            fixed_row_bytes,
            rows: 0,
            bytes: 0,
            batch_bytes,
            capacity,
            key,
            rows_before: 0,
            rejected: Vec::new(),
            rejects,
            provided: Vec::new(),
        })
    }

    /// The column builders, in schema order.
    #[inline]
    pub fn columns(&mut self) -> &mut [ColumnBuilder] {
        &mut self.columns
    }

    /// Column types, in schema order.
    pub fn types(&self) -> &[ColumnType] {
        &self.types
    }

    /// The schema of the batches built.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Marks the end of a row that carried `variable_bytes` of string/binary data.
    #[inline]
    pub fn end_row(&mut self, variable_bytes: usize) {
        self.rows += 1;
        self.bytes += self.fixed_row_bytes + variable_bytes;
    }

    /// Rejects the row being built (the one the next [`end_row`](Self::end_row)
    /// ends) because of the value of column `column`, for which the reader
    /// appended NULL. The reader still appends every other column of the
    /// row. A second bad value in the same row keeps the first reason; its
    /// raw text still goes into the row's JSON.
    #[cold]
    pub fn reject_row(&mut self, column: usize, bad: Box<BadValue>) {
        if let Some(last) = self.rejected.last_mut().filter(|r| r.row == self.rows) {
            if let Some(raw) = bad.raw {
                last.more_raw.push((column, raw));
            }
            return;
        }
        self.rejected.push(RejectedRow {
            row: self.rows,
            column,
            bad,
            more_raw: Vec::new(),
        });
    }

    /// Arrays the reader built itself for the batch `finish` ends next, in
    /// place of the (empty) builders of those columns: a relayed row's
    /// placeholders and tuples (see [`ferry_core::relay`]). Each holds
    /// [`rows`](Self::rows) values.
    pub fn provide(&mut self, arrays: Vec<(usize, ArrayRef)>) {
        self.provided = arrays;
    }

    /// Rows appended since the last flush (rejected ones included).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether the batch reached its byte budget.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.bytes >= self.batch_bytes
    }

    /// Finishes the current batch and starts a new, empty one. Rejected rows
    /// go to the split's [`Rejects`] (whose error, when the run allows no
    /// more dirty rows, is returned) and are left out; `None` when no row
    /// is left.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        let mut arrays: Vec<ArrayRef> =
            self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        for (i, array) in std::mem::take(&mut self.provided) {
            if let Some(slot) = arrays.get_mut(i) {
                *slot = array;
            }
        }
        // Fresh builders: the old ones are left empty but keep no capacity hint.
        self.columns = self
            .types
            .iter()
            .zip(&self.capacity)
            .map(|(t, c)| ColumnBuilder::new(t, *c))
            .collect();
        let first_row = self.rows_before;
        self.rows_before += self.rows as u64;
        self.rows = 0;
        self.bytes = 0;
        let build_err = |e| Error::Internal(format!("building a batch for {:?}: {e}", self.schema));
        if self.rejected.is_empty() {
            let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(build_err)?;
            return Ok((batch.num_rows() > 0).then_some(batch));
        }
        let rejected = std::mem::take(&mut self.rejected);
        let all = RecordBatch::try_new(self.relaxed.clone(), arrays).map_err(build_err)?;
        let mut keep = vec![true; all.num_rows()];
        for r in rejected {
            keep[r.row] = false;
            let name = self.schema.field(r.column).name().clone();
            let mut row = row_json(&all, r.row);
            let bad = *r.bad;
            let raws = bad
                .raw
                .map(|raw| (r.column, raw))
                .into_iter()
                .chain(r.more_raw);
            if let Some(obj) = row.as_object_mut() {
                for (column, raw) in raws {
                    let name = self.schema.field(column).name().clone();
                    obj.insert(name, serde_json::Value::String(raw));
                }
            }
            self.rejects.reject(Rejected {
                position: self.position(&all, r.row, first_row),
                column: name,
                reason: bad.reason,
                message: bad.message,
                row,
            })?;
        }
        let kept = filter_record_batch(&all, &BooleanArray::from(keep))
            .map_err(|e| Error::Internal(format!("filtering rejected rows: {e}")))?;
        if kept.num_rows() == 0 {
            return Ok(None);
        }
        RecordBatch::try_new(self.schema.clone(), kept.columns().to_vec())
            .map(Some)
            .map_err(build_err)
    }

    /// `k1=v1, k2=v2` over the key columns, or `row N` (1-based in the
    /// split) without a key or when a key value is the NULL of a bad value.
    fn position(&self, batch: &RecordBatch, i: usize, first_row: u64) -> String {
        match &self.key {
            Some(key) if key.iter().all(|&k| batch.column(k).is_valid(i)) => key
                .iter()
                .map(|&k| {
                    format!(
                        "{}={}",
                        self.schema.field(k).name(),
                        display_value(batch.column(k).as_ref(), i)
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => format!("row {}", first_row + i as u64 + 1),
        }
    }

    /// The name of column `index`, for messages.
    pub fn column_name(&self, index: usize) -> &str {
        self.schema.field(index).name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::reject::RejectSink;
    use ferry_core::{ColumnDef, TableSchema};
    use std::sync::Mutex;

    fn schema() -> TableSchema {
        TableSchema {
            table: "t".into(),
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: ColumnType::Int64,
                    nullable: false,
                    native_type: "bigint".into(),
                    dialect: None,
                },
                ColumnDef {
                    name: "s".into(),
                    ty: ColumnType::Text {
                        max_chars: None,
                        fixed: false,
                    },
                    nullable: true,
                    native_type: "text".into(),
                    dialect: None,
                },
            ],
            primary_key: vec!["id".into()],
        }
    }

    /// Collects rejected rows; refuses more than `limit`.
    struct Collect {
        rows: Mutex<Vec<Rejected>>,
        limit: usize,
    }

    impl RejectSink for Collect {
        fn reject(&self, row: Rejected) -> Result<()> {
            let mut rows = self.rows.lock().expect("lock");
            rows.push(row);
            if rows.len() > self.limit {
                return Err(Error::dirty("", "too many"));
            }
            Ok(())
        }

        fn accepts_rows(&self) -> bool {
            self.limit > 0
        }
    }

    fn collect(limit: usize) -> (Arc<Collect>, Rejects) {
        let c = Arc::new(Collect {
            rows: Mutex::new(Vec::new()),
            limit,
        });
        (c.clone(), Rejects::new(c))
    }

    /// Appends row `id` with text `s`; a `None` id is a bad key value.
    fn push(b: &mut BatchBuilder, id: Option<i64>, s: &str) {
        match (id, &mut b.columns()[0]) {
            (Some(id), ColumnBuilder::Int64(c)) => c.append_value(id),
            (None, c) => c.append_null(),
            _ => unreachable!(),
        }
        if id.is_none() {
            b.reject_row(
                0,
                BadValue::new(DirtyReason::Conversion, "no id").with_raw("zero"),
            );
        }
        if let ColumnBuilder::Utf8(c) = &mut b.columns()[1] {
            c.append_value(s);
        }
        b.end_row(s.len());
    }

    #[test]
    fn fills_to_the_byte_budget() {
        let schema = schema();
        let mut b = BatchBuilder::new(schema.arrow_schema(), 64 * 1024, &[], Rejects::strict())
            .expect("builder");
        let mut n = 0i64;
        while !b.is_full() {
            push(&mut b, Some(n), "0123456789");
            n += 1;
        }
        let batch = b.finish().expect("batch").expect("rows");
        assert_eq!(batch.num_rows() as i64, n);
        assert_eq!(n, (64 * 1024 + 21) / 22);
        assert_eq!(b.rows(), 0);
        assert!(b.finish().expect("empty").is_none(), "no rows, no batch");
    }

    #[test]
    fn rejected_rows_are_reported_and_left_out() {
        let schema = schema();
        let (seen, rejects) = collect(10);
        let mut b = BatchBuilder::new(schema.arrow_schema(), 1 << 20, &schema.primary_key, rejects)
            .expect("builder");
        push(&mut b, Some(1), "a");
        push(&mut b, Some(2), "b");
        b.reject_row(
            1,
            BadValue::new(DirtyReason::Encoding, "bytes ff 41 are not UTF-8").with_raw("\\xff41"),
        );
        // A second bad value of the same row keeps the first reason, and
        // its raw text goes into the row.
        b.reject_row(
            0,
            BadValue::new(DirtyReason::Overflow, "ignored").with_raw("3e30"),
        );
        push(&mut b, Some(3), "c");
        let batch = b.finish().expect("batch").expect("rows");
        assert_eq!(batch.schema(), schema.arrow_schema());
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>();
        assert_eq!(ids.expect("int64").values().to_vec(), vec![1, 2]);
        // The NOT NULL key holds the NULL of a bad value: named by row number,
        // counting the rows of earlier batches.
        push(&mut b, None, "d");
        assert!(b.finish().expect("all rejected").is_none());
        let rows = seen.rows.lock().expect("lock").clone();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].position.as_str(), rows[0].column.as_str()),
            ("id=3", "s")
        );
        assert_eq!(rows[0].reason, DirtyReason::Encoding);
        assert_eq!(
            rows[0].row,
            serde_json::json!({"id": "3e30", "s": "\\xff41"})
        );
        assert_eq!(
            (rows[1].position.as_str(), rows[1].column.as_str()),
            ("row 4", "id")
        );
        assert_eq!(rows[1].row, serde_json::json!({"id": "zero", "s": "d"}));
    }

    #[test]
    fn a_refused_reject_fails_the_batch() {
        let schema = schema();
        let mut b = BatchBuilder::new(schema.arrow_schema(), 1 << 20, &[], Rejects::strict())
            .expect("builder");
        push(&mut b, Some(1), "a");
        push(&mut b, None, "b");
        let err = b.finish().expect_err("strict");
        assert!(
            err.to_string().contains("no id") && err.to_string().contains("row 2"),
            "{err}"
        );
    }
}
