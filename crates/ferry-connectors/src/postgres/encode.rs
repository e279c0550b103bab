//! Arrow batches encoded as binary `COPY … FROM STDIN` tuples.
//!
//! Each column is encoded in the wire format of the *target* column (an int32
//! source may fill a bigint or numeric target), decided once at prepare time.
//! Output goes into one large reusable buffer that the sink ships in chunks.
//! A value the target column cannot hold (an integer too wide, text that is
//! no number, a carried value whose type has no counterpart) leaves its row
//! out of the buffer; the sink makes that row a dirty record under the
//! task's policy ([`drop_refused`]) rather than failing the run.

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use ferry_core::reject::{row_json, row_position};
use ferry_core::relay;
use ferry_core::spec::DirtyReason;
use ferry_core::{ColumnType, Error, Rejected, Rejects, Result};

use super::decode::{PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use super::native::TypeShape;
use super::numeric;
use super::types::Wire;
use crate::common::values::{ColumnValues, write_interval_text, write_list_json, write_uuid};

/// The binary COPY header (signature, flags, no extension).
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The binary COPY trailer.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// How one source column is written.
#[derive(Debug, Clone)]
pub struct ColumnEncoding {
    /// Column name (for errors).
    pub name: String,
    /// The source's logical type (decides the Arrow array type).
    pub source: ColumnType,
    /// The target's wire format.
    pub wire: Wire,
    /// For a value carried in its binary form (see [`super::native`]): the
    /// type OIDs inside it to rewrite to the target's.
    pub remap: Option<std::sync::Arc<TypeShape>>,
    /// For a carried value: the Arrow type and wire its dirty record is
    /// decoded with, where Arrow has one (see [`super::native::shown_row`]).
    pub shown: Option<(ColumnType, Wire)>,
    /// Whether the source's binary COPY bytes of this column are what the
    /// target column takes as they are: the same PostgreSQL type, no type
    /// OID inside to rewrite. When every column relays, a batch's relayed
    /// tuples are written whole ([`ferry_core::relay`]).
    pub relays: bool,
}

/// A value the target column cannot hold, found while encoding: its row is
/// left out of the output and becomes a dirty record (see [`drop_refused`]).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Refused {
    /// The row in the batch.
    pub row: usize,
    /// The column's index in the batch.
    pub column: usize,
    /// Why, in Ferry's words.
    pub message: String,
}

/// Appends every row of `batch` to `out` except those with a value the
/// target cannot hold: such a row's bytes are cut off again (the buffer is
/// truncated to the row's start) and the row is returned, so the caller
/// routes it under the dirty policy. No allocation when every value fits.
pub(super) fn encode_batch(
    batch: &RecordBatch,
    cols: &[ColumnEncoding],
    out: &mut Vec<u8>,
) -> Result<Vec<Refused>> {
    if relay::tuples(batch).is_some() {
        // The source's tuples, whole, when the target takes every field as
        // it is: nothing can be refused that the server would not refuse.
        if cols.iter().all(|c| c.relays)
            && let Some(body) = relay::tuple_bytes(batch)
            && (body.is_empty() || body[..2] == (cols.len() as i16).to_be_bytes())
        {
            out.extend_from_slice(body);
            return Ok(Vec::new());
        }
        return encode_batch(&relay::expand(batch)?, cols, out);
    }
    let views = cols
        .iter()
        .enumerate()
        .map(|(i, c)| ColumnValues::new(batch.column(i), &c.source, &c.name))
        .collect::<Result<Vec<_>>>()?;
    let nfields = (cols.len() as i16).to_be_bytes();
    out.reserve(batch.num_rows() * (2 + cols.len() * 12));
    let mut refused = Vec::new();
    'rows: for row in 0..batch.num_rows() {
        let start = out.len();
        out.extend_from_slice(&nfields);
        for (column, (v, c)) in views.iter().zip(cols).enumerate() {
            let at = out.len();
            let mut encoded = encode_value(v, row, c.wire, out);
            if let (Ok(()), Some(shape)) = (&encoded, &c.remap) {
                encoded = shape.rewrite_field(&mut out[at..]);
            }
            if let Err(message) = encoded {
                out.truncate(start);
                refused.push(Refused {
                    row,
                    column,
                    message,
                });
                continue 'rows;
            }
        }
    }
    Ok(refused)
}

/// `batch` without its `refused` rows, each handed to `rejects` as a
/// `conversion` dirty record (the row as its dirty record shows it, see
/// [`super::native::shown_row`]); `first_row` is the input's row number of
/// the batch's first row, for positions without a key. An error of
/// `rejects` (no dirty rows allowed, threshold crossed) stops the write.
pub(super) fn drop_refused(
    batch: RecordBatch,
    refused: Vec<Refused>,
    cols: &[ColumnEncoding],
    rejects: &Rejects,
    key: &[String],
    first_row: u64,
) -> Result<RecordBatch> {
    if refused.is_empty() {
        return Ok(batch);
    }
    let mut keep = vec![true; batch.num_rows()];
    for r in refused {
        keep[r.row] = false;
        let shown = super::native::shown_row(&batch.slice(r.row, 1), cols);
        let column = cols
            .get(r.column)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        rejects.reject(Rejected {
            position: row_position(&shown, 0, key, first_row + r.row as u64),
            column,
            message: r.message,
            reason: DirtyReason::Conversion,
            row: row_json(&shown, 0),
        })?;
    }
    filter_record_batch(&batch, &BooleanArray::from(keep))
        .map_err(|e| Error::Internal(format!("filtering refused rows: {e}")))
}

#[inline]
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

#[inline]
pub(super) fn encode_value(
    v: &ColumnValues,
    i: usize,
    wire: Wire,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if v.is_null(i) {
        out.extend_from_slice(&(-1i32).to_be_bytes());
        return Ok(());
    }
    match (v, wire) {
        (ColumnValues::Bool(a), Wire::Bool) => put(out, &[a.value(i) as u8]),
        (ColumnValues::Int16(a), w) => int(out, a.value(i) as i64, w)?,
        (ColumnValues::Int32(a), w) => int(out, a.value(i) as i64, w)?,
        (ColumnValues::Int64(a), w) => int(out, a.value(i), w)?,
        (ColumnValues::Float32(a), Wire::Float4) => put(out, &a.value(i).to_be_bytes()),
        (ColumnValues::Float32(a), Wire::Float8) => put(out, &(a.value(i) as f64).to_be_bytes()),
        (ColumnValues::Float64(a), Wire::Float8) => put(out, &a.value(i).to_be_bytes()),
        // Exactness was checked by the engine's conform step.
        (ColumnValues::Float64(a), Wire::Float4) => put(out, &(a.value(i) as f32).to_be_bytes()),
        (ColumnValues::Decimal(a, scale), Wire::Numeric) => {
            numeric::encode_i128(out, a.value(i), *scale)
        }
        (ColumnValues::Utf8(a), Wire::Numeric) => {
            let s = a.value(i);
            numeric::encode_text(out, s).ok_or_else(|| format!("{s:?} is not a decimal number"))?
        }
        (ColumnValues::Utf8(a), Wire::Text) => put(out, a.value(i).as_bytes()),
        (ColumnValues::Utf8(a), Wire::Jsonb) => {
            let s = a.value(i).as_bytes();
            out.extend_from_slice(&((s.len() + 1) as i32).to_be_bytes());
            out.push(1);
            out.extend_from_slice(s);
        }
        (ColumnValues::Binary(a), Wire::Bytea) => put(out, a.value(i)),
        (ColumnValues::Date(a), Wire::Date) => {
            let d = a
                .value(i)
                .checked_sub(PG_EPOCH_DAYS)
                .ok_or("date out of range")?;
            put(out, &d.to_be_bytes())
        }
        (ColumnValues::Time(a), Wire::Time) => put(out, &a.value(i).to_be_bytes()),
        (ColumnValues::Timestamp(a), Wire::Timestamp) => {
            let t = a
                .value(i)
                .checked_sub(PG_EPOCH_MICROS)
                .ok_or("timestamp out of range")?;
            put(out, &t.to_be_bytes())
        }
        (ColumnValues::Uuid(a), Wire::Uuid) => put(out, a.value(i)),
        (ColumnValues::Uuid(a), Wire::Text) => {
            let mut s = Vec::with_capacity(36);
            write_uuid(&mut s, a.value(i));
            put(out, &s)
        }
        (ColumnValues::Interval(a), Wire::Interval) => super::interval::encode(out, a.value(i))?,
        (ColumnValues::Interval(a), Wire::Text) => {
            let mut s = Vec::with_capacity(24);
            write_interval_text(&mut s, a, i);
            put(out, &s)
        }
        (ColumnValues::List(a, elements, _), Wire::Array(elem)) => {
            super::array::encode(out, a, elements, i, elem)?
        }
        (ColumnValues::List(a, _, elem), Wire::Text | Wire::Jsonb) => {
            let mut s = Vec::new();
            if wire == Wire::Jsonb {
                s.push(1); // jsonb version byte
            }
            write_list_json(&mut s, a, i, elem)?;
            put(out, &s)
        }
        (_, w) => return Err(format!("cannot encode this value as {w:?}")),
    }
    Ok(())
}

#[inline]
fn int(out: &mut Vec<u8>, x: i64, wire: Wire) -> Result<(), String> {
    match wire {
        Wire::Int2 => put(
            out,
            &i16::try_from(x)
                .map_err(|_| format!("{x} overflows smallint"))?
                .to_be_bytes(),
        ),
        Wire::Int4 => put(
            out,
            &i32::try_from(x)
                .map_err(|_| format!("{x} overflows integer"))?
                .to_be_bytes(),
        ),
        Wire::Int8 => put(out, &x.to_be_bytes()),
        Wire::Numeric => numeric::encode_i128(out, x as i128, 0),
        w => return Err(format!("cannot encode an integer as {w:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use ferry_core::reject::RejectSink;

    use super::*;

    struct Kept(Mutex<Vec<Rejected>>);

    impl RejectSink for Kept {
        fn reject(&self, row: Rejected) -> Result<()> {
            self.0.lock().expect("lock").push(row);
            Ok(())
        }
        fn accepts_rows(&self) -> bool {
            true
        }
    }

    fn columns() -> Vec<ColumnEncoding> {
        let col = |name: &str, source, wire| ColumnEncoding {
            name: name.into(),
            source,
            wire,
            remap: None,
            shown: None,
            relays: false,
        };
        vec![
            col("id", ColumnType::Int64, Wire::Int8),
            col("n", ColumnType::Int64, Wire::Int2),
            col(
                "s",
                ColumnType::Text {
                    max_chars: None,
                    fixed: false,
                },
                Wire::Numeric,
            ),
        ]
    }

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(Int64Array::from(vec![
                    Some(1),
                    Some(70_000),
                    None,
                    Some(-5),
                ])),
                Arc::new(StringArray::from(vec!["1.5", "2", "x", "-0"])),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn a_value_the_target_cannot_hold_leaves_its_row_out_and_makes_it_dirty() {
        let (cols, batch) = (columns(), batch());
        let mut out = b"head".to_vec();
        let refused = encode_batch(&batch, &cols, &mut out).expect("encoded");
        assert_eq!(
            refused
                .iter()
                .map(|r| (r.row, r.column))
                .collect::<Vec<_>>(),
            vec![(1, 1), (2, 2)]
        );
        // The output holds exactly the rows kept, as if encoded alone.
        let kept = RecordBatch::try_new(
            batch.schema(),
            vec![
                Arc::new(Int64Array::from(vec![1, 4])),
                Arc::new(Int64Array::from(vec![1, -5])),
                Arc::new(StringArray::from(vec!["1.5", "-0"])),
            ],
        )
        .expect("kept");
        let mut alone = b"head".to_vec();
        assert!(
            encode_batch(&kept, &cols, &mut alone)
                .expect("encoded")
                .is_empty()
        );
        assert_eq!(out, alone);

        let sink = Arc::new(Kept(Mutex::new(Vec::new())));
        let rejects = Rejects::new(sink.clone());
        let left =
            drop_refused(batch, refused, &cols, &rejects, &["id".into()], 0).expect("dropped");
        assert_eq!(left.num_rows(), 2);
        let rows = sink.0.lock().expect("lock");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].position.as_str(), rows[0].column.as_str()),
            ("id=2", "n")
        );
        assert!(rows[0].message.contains("70000"), "{}", rows[0].message);
        assert_eq!(rows[0].row["n"], serde_json::json!(70_000));
        assert_eq!(
            (rows[1].position.as_str(), rows[1].column.as_str()),
            ("id=3", "s")
        );
        assert_eq!(rows[1].reason, DirtyReason::Conversion);
    }

    #[test]
    fn without_dirty_rows_allowed_a_refused_value_fails_naming_its_column() {
        let (cols, batch) = (columns(), batch());
        let refused = encode_batch(&batch, &cols, &mut Vec::new()).expect("encoded");
        let err = drop_refused(batch, refused, &cols, &Rejects::strict(), &["id".into()], 0)
            .expect_err("strict");
        assert!(
            matches!(&err, Error::DirtyData { column, .. } if column == "n"),
            "{err}"
        );
    }

    /// A relaying batch: `id` decoded, `v` only in the tuples.
    fn relaying() -> (RecordBatch, Vec<u8>) {
        let mut body = Vec::new();
        for (id, v) in [(1i64, Some(&b"ab"[..])), (2, None), (3, Some(&b""[..]))] {
            body.extend_from_slice(&2i16.to_be_bytes());
            put(&mut body, &id.to_be_bytes());
            match v {
                Some(v) => put(&mut body, v),
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let plain = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Binary, true),
        ]);
        let mut tuples = arrow::array::BinaryBuilder::new();
        let mut at = 0;
        for len in [2 + 12 + 6, 2 + 12 + 4, 2 + 12 + 4] {
            tuples.append_value(&body[at..at + len]);
            at += len;
        }
        let batch = RecordBatch::try_new(
            relay::relay_schema(&plain, &[false, true]),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                relay::placeholder(3),
                Arc::new(tuples.finish()),
            ],
        )
        .expect("batch");
        (batch, body)
    }

    #[test]
    fn relayed_tuples_are_written_whole_or_else_column_by_column_alike() {
        let (batch, body) = relaying();
        let enc = |name: &str, source, wire, relays| ColumnEncoding {
            name: name.into(),
            source,
            wire,
            remap: None,
            shown: None,
            relays,
        };
        let whole = [
            enc("id", ColumnType::Int64, Wire::Int8, true),
            enc("v", ColumnType::Binary, Wire::Bytea, true),
        ];
        let mut out = Vec::new();
        assert!(
            encode_batch(&batch, &whole, &mut out)
                .expect("encoded")
                .is_empty()
        );
        assert_eq!(out, body);
        // A column the target does not take as it is: every value encoded.
        let by_column = [
            enc("id", ColumnType::Int64, Wire::Int8, false),
            enc("v", ColumnType::Binary, Wire::Bytea, true),
        ];
        let mut out = Vec::new();
        assert!(
            encode_batch(&batch.slice(1, 2), &by_column, &mut out)
                .expect("encoded")
                .is_empty()
        );
        assert_eq!(out, body[20..]);
        let mut out = Vec::new();
        encode_batch(&batch.slice(1, 2), &whole, &mut out).expect("encoded");
        assert_eq!(out, body[20..]);
    }
}
