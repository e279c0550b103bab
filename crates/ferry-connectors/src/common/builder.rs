//! Builds Arrow batches column by column, row by row, and tells the reader
//! when the batch has reached its byte budget — the one place where memory
//! per batch is bounded.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    FixedSizeBinaryBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, IntervalMonthDayNanoBuilder, StringBuilder, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use ferry_core::schema::field_column_type;
use ferry_core::{ColumnType, Error, Result};

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
pub struct BatchBuilder {
    schema: SchemaRef,
    types: Vec<ColumnType>,
    columns: Vec<ColumnBuilder>,
    fixed_row_bytes: usize,
    rows: usize,
    bytes: usize,
    batch_bytes: usize,
    capacity: usize,
}

impl BatchBuilder {
    /// A builder for `schema` whose batches hold about `batch_bytes` bytes.
    pub fn new(schema: SchemaRef, batch_bytes: usize) -> Result<Self> {
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
        let columns = types
            .iter()
            .map(|t| ColumnBuilder::new(t, capacity))
            .collect();
        Ok(BatchBuilder {
            schema,
            types,
            columns,
            fixed_row_bytes,
            rows: 0,
            bytes: 0,
            batch_bytes,
            capacity,
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

    /// Rows appended since the last flush.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether the batch reached its byte budget.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.bytes >= self.batch_bytes
    }

    /// Finishes the current batch and starts a new, empty one.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        // Fresh builders: the old ones are left empty but keep no capacity hint.
        self.columns = self
            .types
            .iter()
            .map(|t| ColumnBuilder::new(t, self.capacity))
            .collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| Error::Internal(format!("building a batch for {:?}: {e}", self.schema)))
    }

    /// Adds the given error context when a value does not fit its column.
    pub fn column_name(&self, index: usize) -> &str {
        self.schema.field(index).name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::{ColumnDef, TableSchema};

    #[test]
    fn fills_to_the_byte_budget() {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: ColumnType::Int64,
                    nullable: false,
                    native_type: "bigint".into(),
                },
                ColumnDef {
                    name: "s".into(),
                    ty: ColumnType::Text {
                        max_chars: None,
                        fixed: false,
                    },
                    nullable: true,
                    native_type: "text".into(),
                },
            ],
            primary_key: vec![],
        };
        let mut b = BatchBuilder::new(schema.arrow_schema(), 64 * 1024).expect("builder");
        let mut n = 0i64;
        while !b.is_full() {
            if let ColumnBuilder::Int64(c) = &mut b.columns()[0] {
                c.append_value(n);
            }
            if let ColumnBuilder::Utf8(c) = &mut b.columns()[1] {
                c.append_value("0123456789");
            }
            b.end_row(10);
            n += 1;
        }
        let batch = b.finish().expect("batch");
        assert_eq!(batch.num_rows() as i64, n);
        assert_eq!(n, (64 * 1024 + 21) / 22);
        assert_eq!(b.rows(), 0);
    }
}
