//! Arrow batches encoded as binary `COPY … FROM STDIN` tuples.
//!
//! Each column is encoded in the wire format of the *target* column (an int32
//! source may fill a bigint or numeric target), decided once at prepare time.
//! Output goes into one large reusable buffer that the sink ships in chunks.

use arrow::record_batch::RecordBatch;
use ferry_core::{ColumnType, Error, Result};

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
}

/// Appends every row of `batch` to `out`.
pub fn encode_batch(batch: &RecordBatch, cols: &[ColumnEncoding], out: &mut Vec<u8>) -> Result<()> {
    let views = cols
        .iter()
        .enumerate()
        .map(|(i, c)| ColumnValues::new(batch.column(i), &c.source, &c.name))
        .collect::<Result<Vec<_>>>()?;
    let nfields = (cols.len() as i16).to_be_bytes();
    out.reserve(batch.num_rows() * (2 + cols.len() * 12));
    for row in 0..batch.num_rows() {
        out.extend_from_slice(&nfields);
        for (v, c) in views.iter().zip(cols) {
            let at = out.len();
            encode_value(v, row, c.wire, out).map_err(|m| Error::dirty(&c.name, m))?;
            if let Some(shape) = &c.remap {
                shape
                    .rewrite_field(&mut out[at..])
                    .map_err(|m| Error::dirty(&c.name, m))?;
            }
        }
    }
    Ok(())
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
