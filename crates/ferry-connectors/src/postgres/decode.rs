//! Binary `COPY … TO STDOUT` decoded straight into Arrow builders.
//!
//! ```text
//!  header: "PGCOPY\n\xff\r\n\0" flags:i32 ext_len:i32 ext
//!  tuple:  nfields:i16 { len:i32 (-1 = NULL) bytes }*     … repeated
//!  trailer: -1:i16
//! ```
//!
//! PostgreSQL sends one tuple per CopyData message, but the decoder does not
//! rely on it: a tuple split across chunks is carried over. No per-row
//! allocation: values go from the network buffer into the column builders.
//!
//! A value with no exact Arrow form makes its row dirty instead of failing
//! the read ([`BatchBuilder::reject_row`]): `numeric` NaN or ±Infinity in a
//! `decimal(p,s)` column, `date`/`timestamp`/`timestamptz` ±infinity
//! (reason `conversion`), and any value that does not decode into its
//! column's type. A malformed COPY stream (bad signature, wrong field count,
//! a cut-off stream) still fails the read: that is not one value's fault.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use ferry_core::relay::placeholder;
use ferry_core::spec::DirtyReason;
use ferry_core::{ColumnType, Error, Result};

use super::numeric;
use super::types::Wire;
use crate::common::builder::{BadValue, BatchBuilder, ColumnBuilder};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds from 1970-01-01 to PostgreSQL's epoch 2000-01-01.
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_DAYS: i32 = 10_957;

/// Decodes a binary COPY stream into batches.
pub struct CopyDecoder {
    wires: Vec<Wire>,
    decimals: Vec<(u8, u8)>,
    header_done: bool,
    finished: bool,
    carry: Vec<u8>,
    /// Set when the batch relays whole tuples (see [`ferry_core::relay`]).
    relay: Option<TupleRelay>,
    /// Rows decoded so far.
    pub rows: u64,
    /// Bytes of COPY data seen so far.
    pub bytes: u64,
}

impl CopyDecoder {
    /// A decoder for columns read in these wire formats.
    pub fn new(wires: Vec<Wire>, types: &[ColumnType]) -> Self {
        let decimals = types.iter().map(decimal_shape).collect();
        CopyDecoder {
            wires,
            decimals,
            header_done: false,
            finished: false,
            carry: Vec::new(),
            relay: None,
            rows: 0,
            bytes: 0,
        }
    }

    /// Relays each whole tuple beside the decoded columns; the fields with
    /// `relayed[i]` set are not decoded at all (their columns are
    /// placeholders of the batch schema, see [`ferry_core::relay`]).
    pub fn relaying(mut self, relayed: Vec<bool>) -> Self {
        self.relay = Some(TupleRelay::new(relayed));
        self
    }

    /// Hands the relayed arrays of the rows built so far to `out`, for its
    /// next `finish`; nothing when not relaying.
    pub fn provide(&mut self, out: &mut BatchBuilder) {
        if let Some(relay) = &mut self.relay {
            out.provide(relay.take(out.rows(), self.wires.len()));
        }
    }

    /// Decodes every complete tuple of `chunk` into `out`, calling `flush`
    /// whenever the batch is full.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        out: &mut BatchBuilder,
        flush: &mut dyn FnMut(&mut BatchBuilder) -> Result<()>,
    ) -> Result<()> {
        self.bytes += chunk.len() as u64;
        if self.carry.is_empty() {
            let used = self.decode(chunk, out, flush)?;
            if used < chunk.len() {
                self.carry.extend_from_slice(&chunk[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(chunk);
            let used = self.decode(&buf, out, flush)?;
            buf.drain(..used);
            self.carry = buf;
        }
        Ok(())
    }

    /// Checks that the stream ended cleanly.
    pub fn finish(&self) -> Result<()> {
        if !self.finished || !self.carry.is_empty() {
            return Err(Error::server(
                "reading binary COPY",
                "the stream ended before its trailer (connection lost?)",
            ));
        }
        Ok(())
    }

    fn decode(
        &mut self,
        data: &[u8],
        out: &mut BatchBuilder,
        flush: &mut dyn FnMut(&mut BatchBuilder) -> Result<()>,
    ) -> Result<usize> {
        let mut pos = 0;
        if !self.header_done {
            if data.len() < 19 {
                return Ok(0);
            }
            if &data[..11] != SIGNATURE {
                return Err(Error::server("reading binary COPY", "bad COPY signature"));
            }
            let ext = be_i32(&data[15..19]) as usize;
            if data.len() < 19 + ext {
                return Ok(0);
            }
            pos = 19 + ext;
            self.header_done = true;
        }
        while pos + 2 <= data.len() && !self.finished {
            let nfields = be_i16(&data[pos..]);
            if nfields == -1 {
                self.finished = true;
                pos += 2;
                break;
            }
            if nfields as usize != self.wires.len() {
                return Err(Error::server(
                    "reading binary COPY",
                    format!("tuple has {nfields} fields, expected {}", self.wires.len()),
                ));
            }
            // First pass: is the whole tuple here?
            let mut p = pos + 2;
            let mut complete = true;
            for _ in 0..nfields {
                if p + 4 > data.len() {
                    complete = false;
                    break;
                }
                let len = be_i32(&data[p..]);
                p += 4;
                if len > 0 {
                    p += len as usize;
                    if p > data.len() {
                        complete = false;
                        break;
                    }
                }
            }
            if !complete {
                break;
            }
            // Second pass: decode.
            let mut var_bytes = 0;
            if let Some(relay) = &mut self.relay {
                relay.push(&data[pos..p]);
                var_bytes += p - pos;
            }
            let relayed = self.relay.as_ref().map(|r| r.relayed.as_slice());
            let mut p = pos + 2;
            for (i, wire) in self.wires.iter().enumerate() {
                let len = be_i32(&data[p..]);
                p += 4;
                if relayed.is_some_and(|r| r[i]) {
                    p += len.max(0) as usize;
                    continue;
                }
                let col = &mut out.columns()[i];
                if len < 0 {
                    col.append_null();
                    continue;
                }
                let v = &data[p..p + len as usize];
                p += len as usize;
                match decode_value(*wire, self.decimals[i], v, col) {
                    Ok(n) => var_bytes += n,
                    Err(mut bad) => {
                        col.append_null();
                        if bad.raw.is_none() {
                            // No text form at hand (a multi-dimensional
                            // array, an overflowing value): the record keeps
                            // the value's binary COPY bytes, as hex.
                            bad = bad.with_raw(wire_hex(v));
                        }
                        out.reject_row(i, bad);
                    }
                }
            }
            out.end_row(var_bytes);
            self.rows += 1;
            pos = p;
            if out.is_full() {
                self.provide(out);
                flush(out)?;
            }
        }
        Ok(pos)
    }
}

/// The whole tuples of the batch being built, and which of their fields
/// travel only there.
struct TupleRelay {
    relayed: Vec<bool>,
    tuples: Vec<u8>,
    /// `[0, end of tuple 1, …]` into `tuples`.
    offsets: Vec<i32>,
}

impl TupleRelay {
    fn new(relayed: Vec<bool>) -> Self {
        TupleRelay {
            relayed,
            tuples: Vec::new(),
            offsets: vec![0],
        }
    }

    #[inline]
    fn push(&mut self, tuple: &[u8]) {
        self.tuples.extend_from_slice(tuple);
        self.offsets.push(self.tuples.len() as i32);
    }

    /// The placeholders and the tuples column (at index `tuples_at`) of the
    /// `rows` rows pushed since the last take.
    fn take(&mut self, rows: usize, tuples_at: usize) -> Vec<(usize, ArrayRef)> {
        let capacity = self.tuples.capacity();
        let tuples = std::mem::replace(&mut self.tuples, Vec::with_capacity(capacity));
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        debug_assert_eq!(offsets.len(), rows + 1);
        let array = BinaryArray::new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(tuples),
            None,
        );
        // One placeholder array serves every relayed column.
        let empty = placeholder(rows);
        let mut arrays: Vec<(usize, ArrayRef)> = self
            .relayed
            .iter()
            .enumerate()
            .filter(|(_, r)| **r)
            .map(|(i, _)| (i, empty.clone()))
            .collect();
        arrays.push((tuples_at, Arc::new(array)));
        arrays
    }
}

/// The `(precision, scale)` a `numeric` value of a column of type `t` is
/// decoded into (`(38, 0)` where it holds no decimal).
pub(super) fn decimal_shape(t: &ColumnType) -> (u8, u8) {
    match t {
        ColumnType::Decimal { precision, scale } => (*precision, *scale),
        ColumnType::List(elem) => match **elem {
            ColumnType::Decimal { precision, scale } => (precision, scale),
            _ => (38, 0),
        },
        _ => (38, 0),
    }
}

#[inline]
fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}
#[inline]
fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
#[inline]
fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

/// A value's binary COPY bytes as `\x…` hex (PostgreSQL's `bytea` text form).
#[cold]
fn wire_hex(v: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(2 + v.len() * 2);
    s.push_str("\\x");
    for b in v {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn bad(wire: Wire, len: usize) -> Box<BadValue> {
    BadValue::new(
        DirtyReason::Conversion,
        format!("unexpected {len}-byte value for {wire:?}"),
    )
}

fn not_utf8(v: &[u8], e: std::str::Utf8Error) -> Box<BadValue> {
    let at = e.valid_up_to();
    let shown: Vec<String> = v[at..].iter().take(8).map(|b| format!("{b:02x}")).collect();
    BadValue::new(
        DirtyReason::Encoding,
        format!(
            "invalid UTF-8 at byte {at}: {}{}",
            shown.join(" "),
            if v.len() - at > 8 { " …" } else { "" }
        ),
    )
    .with_raw(String::from_utf8_lossy(v))
}

/// Why a `numeric` does not fit `decimal(precision, scale)`.
fn numeric_bad(e: numeric::NumericError, precision: u8, scale: u8) -> Box<BadValue> {
    use numeric::NumericError as E;
    let target = format!("decimal({precision},{scale})");
    match e {
        E::NaN => BadValue::new(
            DirtyReason::Conversion,
            format!("numeric 'NaN' has no {target} value"),
        )
        .with_raw("NaN"),
        E::Infinity { negative } => {
            let raw = if negative { "-Infinity" } else { "Infinity" };
            BadValue::new(
                DirtyReason::Conversion,
                format!("numeric '{raw}' has no {target} value"),
            )
            .with_raw(raw)
        }
        E::Overflow => BadValue::new(
            DirtyReason::Overflow,
            format!("numeric value overflows {target}"),
        ),
        E::Lossy => BadValue::new(
            DirtyReason::Truncation,
            format!("value has more than {scale} decimal places for {target}"),
        ),
        E::Malformed(what) => BadValue::new(DirtyReason::Conversion, what),
    }
}

/// `±infinity` of a date or timestamp column: Arrow has no such value.
fn infinite(what: &str, positive: bool) -> Box<BadValue> {
    let raw = if positive { "infinity" } else { "-infinity" };
    BadValue::new(
        DirtyReason::Conversion,
        format!("{what} '{raw}' has no Arrow value (dates and times are finite)"),
    )
    .with_raw(raw)
}

/// Appends one non-NULL value; returns its variable-length bytes, or why the
/// value has no exact Arrow form (the builder is then left untouched).
#[inline]
pub(super) fn decode_value(
    wire: Wire,
    (precision, scale): (u8, u8),
    v: &[u8],
    col: &mut ColumnBuilder,
) -> Result<usize, Box<BadValue>> {
    match (wire, col) {
        (Wire::Bool, ColumnBuilder::Bool(b)) if v.len() == 1 => b.append_value(v[0] != 0),
        (Wire::Int2, ColumnBuilder::Int16(b)) if v.len() == 2 => b.append_value(be_i16(v)),
        (Wire::Int4, ColumnBuilder::Int32(b)) if v.len() == 4 => b.append_value(be_i32(v)),
        (Wire::Int8, ColumnBuilder::Int64(b)) if v.len() == 8 => b.append_value(be_i64(v)),
        (Wire::Float4, ColumnBuilder::Float32(b)) if v.len() == 4 => {
            b.append_value(f32::from_bits(be_i32(v) as u32))
        }
        (Wire::Float8, ColumnBuilder::Float64(b)) if v.len() == 8 => {
            b.append_value(f64::from_bits(be_i64(v) as u64))
        }
        (Wire::Numeric, ColumnBuilder::Decimal(b)) => {
            let x =
                numeric::decode_to_i128(v, scale).map_err(|e| numeric_bad(e, precision, scale))?;
            if !numeric::fits_precision(x, precision) {
                return Err(BadValue::new(
                    DirtyReason::Overflow,
                    format!("value does not fit decimal({precision},{scale})"),
                ));
            }
            b.append_value(x)
        }
        (Wire::Text, ColumnBuilder::Utf8(b)) => {
            let s = std::str::from_utf8(v).map_err(|e| not_utf8(v, e))?;
            b.append_value(s);
            return Ok(v.len());
        }
        (Wire::Jsonb, ColumnBuilder::Utf8(b)) if !v.is_empty() && v[0] == 1 => {
            let s = std::str::from_utf8(&v[1..]).map_err(|e| not_utf8(&v[1..], e))?;
            b.append_value(s);
            return Ok(v.len());
        }
        (Wire::Bytea, ColumnBuilder::Binary(b)) => {
            b.append_value(v);
            return Ok(v.len());
        }
        (Wire::Date, ColumnBuilder::Date(b)) if v.len() == 4 => {
            let d = be_i32(v);
            if d == i32::MAX || d == i32::MIN {
                return Err(infinite("date", d == i32::MAX));
            }
            b.append_value(d + PG_EPOCH_DAYS)
        }
        (Wire::Time, ColumnBuilder::Time(b)) if v.len() == 8 => b.append_value(be_i64(v)),
        (Wire::Timestamp, ColumnBuilder::Timestamp(b)) if v.len() == 8 => {
            let t = be_i64(v);
            if t == i64::MAX || t == i64::MIN {
                return Err(infinite("timestamp", t == i64::MAX));
            }
            // Years past 294246 have no microseconds-since-1970 in 64 bits.
            let unix = t.checked_add(PG_EPOCH_MICROS).ok_or_else(|| {
                BadValue::new(
                    DirtyReason::Overflow,
                    "timestamp beyond the year 294246 does not fit 64-bit microseconds since 1970",
                )
            })?;
            b.append_value(unix)
        }
        (Wire::Uuid, ColumnBuilder::Uuid(b)) if v.len() == 16 => b
            .append_value(v)
            .map_err(|e| BadValue::new(DirtyReason::Conversion, format!("uuid: {e}")))?,
        (Wire::Interval, ColumnBuilder::Interval(b)) if v.len() == 16 => b.append_value(
            super::interval::decode(v).map_err(|m| BadValue::new(DirtyReason::Conversion, m))?,
        ),
        (Wire::Array(elem), ColumnBuilder::List(b)) => {
            return super::array::decode(elem, (precision, scale), v, b)
                .map_err(|m| BadValue::new(DirtyReason::Conversion, m));
        }
        (w, _) => return Err(bad(w, v.len())),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::reject::RejectSink;
    use ferry_core::{ColumnDef, Rejected, Rejects, TableSchema};
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Collect(Mutex<Vec<Rejected>>);

    impl RejectSink for Collect {
        fn reject(&self, row: Rejected) -> Result<()> {
            self.0.lock().expect("lock").push(row);
            Ok(())
        }

        fn accepts_rows(&self) -> bool {
            true
        }
    }

    /// One COPY tuple: int8 id, numeric amount (text form), date (PG days).
    fn tuple(out: &mut Vec<u8>, id: i64, amount: &str, days: i32) {
        out.extend_from_slice(&3i16.to_be_bytes());
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        numeric::encode_text(out, amount).expect("numeric");
        out.extend_from_slice(&4i32.to_be_bytes());
        out.extend_from_slice(&days.to_be_bytes());
    }

    #[test]
    fn special_values_reject_their_rows_and_the_rest_decode() {
        let col = |name: &str, ty| ColumnDef {
            name: name.into(),
            native_type: String::new(),
            dialect: None,
            ty,
            nullable: false,
        };
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                col("id", ColumnType::Int64),
                col(
                    "amount",
                    ColumnType::Decimal {
                        precision: 10,
                        scale: 2,
                    },
                ),
                col("d", ColumnType::Date),
            ],
            primary_key: vec!["id".into()],
        };
        let seen = Arc::new(Collect::default());
        let mut builder = BatchBuilder::new(
            schema.arrow_schema(),
            1 << 20,
            &schema.primary_key,
            Rejects::new(seen.clone()),
        )
        .expect("builder");
        let types: Vec<ColumnType> = schema.columns.iter().map(|c| c.ty.clone()).collect();
        let mut decoder = CopyDecoder::new(vec![Wire::Int8, Wire::Numeric, Wire::Date], &types);
        let mut data = SIGNATURE.to_vec();
        data.extend_from_slice(&[0; 8]);
        tuple(&mut data, 1, "1.50", 0);
        tuple(&mut data, 2, "Infinity", 1);
        tuple(&mut data, 3, "NaN", i32::MAX);
        tuple(&mut data, 4, "-Infinity", 2);
        tuple(&mut data, 5, "2.25", i32::MIN);
        tuple(&mut data, 6, "3", 3);
        data.extend_from_slice(&(-1i16).to_be_bytes());
        // Fed in small chunks: tuples split across chunks are carried over.
        for chunk in data.chunks(7) {
            decoder
                .feed(chunk, &mut builder, &mut |_| panic!("not full"))
                .expect("feeds");
        }
        decoder.finish().expect("trailer");
        let batch = builder.finish().expect("batch").expect("rows");
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .expect("int64");
        assert_eq!(ids.values().to_vec(), vec![1, 6]);
        let got: Vec<(String, String, String)> = seen
            .0
            .lock()
            .expect("lock")
            .iter()
            .map(|r| {
                assert_eq!(r.reason, DirtyReason::Conversion, "{r:?}");
                let raw = r.row[&r.column].as_str().expect("raw").to_string();
                (r.position.clone(), r.column.clone(), raw)
            })
            .collect();
        let want = [
            ("id=2", "amount", "Infinity"),
            ("id=3", "amount", "NaN"),
            ("id=4", "amount", "-Infinity"),
            ("id=5", "d", "-infinity"),
        ]
        .map(|(p, c, v)| (p.to_string(), c.to_string(), v.to_string()));
        assert_eq!(got, want.to_vec());
    }

    #[test]
    fn relaying_keeps_whole_tuples_and_decodes_only_the_values_read() {
        let col = |name: &str, ty, native: &str| ColumnDef {
            name: name.into(),
            native_type: native.into(),
            dialect: Some(super::super::DIALECT),
            ty,
            nullable: false,
        };
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                col("id", ColumnType::Int64, "bigint"),
                col("amount", ColumnType::Binary, "numeric"),
                col("d", ColumnType::Binary, "date"),
            ],
            primary_key: vec!["id".into()],
        };
        let relayed = vec![false, true, true];
        let seen = Arc::new(Collect::default());
        let mut builder = BatchBuilder::new(
            ferry_core::relay::relay_schema(&schema.arrow_schema(), &relayed),
            1 << 20,
            &schema.primary_key,
            Rejects::new(seen.clone()),
        )
        .expect("builder");
        let types: Vec<ColumnType> = schema.columns.iter().map(|c| c.ty.clone()).collect();
        let mut decoder =
            CopyDecoder::new(vec![Wire::Int8, Wire::Bytea, Wire::Bytea], &types).relaying(relayed);
        let mut body = Vec::new();
        tuple(&mut body, 1, "1.50", 0);
        // Values Arrow has no form for travel untouched: nothing is rejected.
        tuple(&mut body, 2, "NaN", i32::MAX);
        tuple(&mut body, 3, "-Infinity", i32::MIN);
        let mut data = SIGNATURE.to_vec();
        data.extend_from_slice(&[0; 8]);
        data.extend_from_slice(&body);
        data.extend_from_slice(&(-1i16).to_be_bytes());
        for chunk in data.chunks(5) {
            decoder
                .feed(chunk, &mut builder, &mut |_| panic!("not full"))
                .expect("feeds");
        }
        decoder.finish().expect("trailer");
        decoder.provide(&mut builder);
        let batch = builder.finish().expect("batch").expect("rows");
        assert!(seen.0.lock().expect("lock").is_empty());
        assert_eq!(batch.num_columns(), 4);
        assert_eq!(
            ferry_core::relay::tuple_bytes(&batch),
            Some(body.as_slice())
        );
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .expect("int64");
        assert_eq!(ids.values().to_vec(), vec![1, 2, 3]);
        let expanded = ferry_core::relay::expand(&batch).expect("expanded");
        let mut nan = Vec::new();
        numeric::encode_text(&mut nan, "NaN").expect("numeric");
        let amount = expanded
            .column(1)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .expect("binary");
        assert_eq!(amount.value(1), &nan[4..]);
        let d = expanded
            .column(2)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .expect("binary");
        assert_eq!(d.value(2), i32::MIN.to_be_bytes());
        let json = ferry_core::reject::row_json(&batch, 1);
        let mut keys: Vec<&String> = json.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["amount", "d", "id"]);
        assert!(!json["amount"].is_null());
    }
}
