//! Arrow batches → the tab-separated text `LOAD DATA` reads.
//!
//! One line per row, fields separated by `\t`; `\N` is NULL; in text `\\`,
//! `\t`, `\n` and NUL are escaped with a backslash; binary values travel as hex
//! into a user variable and are stored with `UNHEX`; bools and integers going
//! into an existing `BIT(n)` column travel as numbers into a user variable and
//! are stored with `CAST(… AS UNSIGNED)` (the server would take the text as the
//! bits' raw bytes). Numbers, decimals, dates and timestamps use exact text (no
//! float goes through a decimal that rounds); intervals their ISO 8601 text
//! and lists a JSON array ([`ferry_core::text_form`]); `time` as MariaDB's
//! signed `TIME` text (`-838:59:59.000000`, `24:00:00.000000`); integers
//! into a `YEAR` column with four digits. The target column's type is the
//! existing target's or, for a column Ferry creates with the source's own
//! MySQL/MariaDB type, that type. The values this encoder refuses are found
//! first by [`RowEncoder::refused_rows`] (see `screen`), so they become
//! dirty rows instead of failing the load.
//! The encoder appends to a caller's buffer and allocates nothing per row;
//! [`produce`] turns a batch stream into the chunks the driver sends.

use std::io;
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use ferry_core::{BatchStream, ColumnDef, ColumnType, Error, Result, TableSchema};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::conn::{TableInfo, quote};
use super::duration::{TIME_MAX_MICROS, time_out_of_range, write_signed_time};
use super::enum_error;
use super::types::DIALECT;
use crate::common::values::{
    ColumnValues, write_date, write_decimal, write_interval_text, write_list_json, write_timestamp,
    write_uuid,
};

/// How one column's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    /// Values as they are (a float32 as the exact text of its double).
    Plain,
    /// `time`/`timestamp` into a column with fewer fractional digits: `unit`
    /// µs must divide the value, or the server would round it silently.
    Micros { unit: i64 },
}

struct ColumnPlan {
    name: String,
    ty: ColumnType,
    enc: Enc,
    /// The target column is `BIT(n)`: the value is loaded as a number.
    bit_target: bool,
    /// The target column is `YEAR`: a number goes as four digits (`0000`;
    /// the string `0` would be the year 2000).
    year_target: bool,
    /// An `ENUM` into an `ENUM` without a `''` member: `''` is its error
    /// value, stored with a warning (see [`enum_error`](super::enum_error)).
    enum_error_value: bool,
}

/// The `DATA_TYPE` and fractional digits of the column a value goes into:
/// the existing target's, or the source's own type when Ferry creates the
/// column with it (dialect `mysql`); `None` for a column of Ferry's own DDL.
fn target_shape(c: &ColumnDef, target: Option<&TableInfo>) -> Option<(String, u32)> {
    if let Some(t) = target {
        let n = t.columns.iter().find(|n| n.name == c.name)?;
        return Some((n.data_type.clone(), n.fractional_digits()));
    }
    if c.dialect != Some(DIALECT) {
        return None;
    }
    let lower = c.native_type.to_ascii_lowercase();
    let data_type: String = lower
        .chars()
        .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
        .collect();
    let digits = match lower.split_once('(') {
        Some((_, rest)) => rest
            .split(')')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0),
        None => 0,
    };
    Some((data_type, digits))
}

/// Encodes batches of one schema into `LOAD DATA` text for one target table.
pub(crate) struct RowEncoder {
    columns: Vec<ColumnPlan>,
}

impl RowEncoder {
    /// An encoder for `schema` writing into `target` (the columns Ferry creates when `None`).
    pub(crate) fn new(schema: &TableSchema, target: Option<&TableInfo>) -> Self {
        let columns = schema
            .columns
            .iter()
            .map(|c| {
                let shape = target_shape(c, target);
                let data_type = shape.as_ref().map(|(d, _)| d.as_str());
                ColumnPlan {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                    enc: encoding(&c.ty, shape.as_ref().map(|(_, f)| *f)),
                    bit_target: data_type == Some("bit"),
                    year_target: data_type == Some("year"),
                    enum_error_value: enum_error::carries_error_value(c, target),
                }
            })
            .collect();
        RowEncoder { columns }
    }

    /// How many warnings a `LOAD` of `batch` gives for the `ENUM` error
    /// values it carries (`''`, one each); 0 for most tables.
    pub(crate) fn error_values(&self, batch: &RecordBatch) -> Result<u64> {
        let carried: Vec<bool> = self.columns.iter().map(|c| c.enum_error_value).collect();
        if !carried.contains(&true) {
            return Ok(0);
        }
        Ok(enum_error::count(&carried, batch, &self.views(batch)?))
    }

    /// The columns whose `''` is carried as an `ENUM` error value.
    pub(crate) fn error_value_columns(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| c.enum_error_value)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The `LOAD DATA LOCAL INFILE` statement reading this encoding into `qualified`.
    pub(crate) fn load_sql(&self, qualified: &str) -> String {
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut sets = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            if c.ty == ColumnType::Binary {
                fields.push(format!("@ferry_hex{i}"));
                sets.push(format!("{} = UNHEX(@ferry_hex{i})", quote(&c.name)));
            } else if c.bit_target {
                fields.push(format!("@ferry_bit{i}"));
                sets.push(format!(
                    "{} = CAST(@ferry_bit{i} AS UNSIGNED)",
                    quote(&c.name)
                ));
            } else {
                fields.push(quote(&c.name));
            }
        }
        let mut sql = format!(
            r"LOAD DATA LOCAL INFILE 'ferry_stream' INTO TABLE {qualified} CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' ({})",
            fields.join(", ")
        );
        if !sets.is_empty() {
            sql.push_str(" SET ");
            sql.push_str(&sets.join(", "));
        }
        sql
    }

    /// Typed views of `batch`'s columns; errors if the batch does not match the schema.
    pub(crate) fn views<'a>(&self, batch: &'a RecordBatch) -> Result<Vec<ColumnValues<'a>>> {
        if batch.num_columns() != self.columns.len() {
            return Err(Error::Internal(format!(
                "batch has {} columns, the sink was prepared for {}",
                batch.num_columns(),
                self.columns.len()
            )));
        }
        self.columns
            .iter()
            .zip(batch.columns())
            .map(|(c, a)| ColumnValues::new(a, &c.ty, &c.name))
            .collect()
    }

    /// Appends rows `from..` of `views` to `out` until `out` holds `limit`
    /// bytes or the batch ends; returns the index of the next row.
    pub(crate) fn encode_rows(
        &self,
        views: &[ColumnValues<'_>],
        from: usize,
        rows: usize,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<usize> {
        let mut row = from;
        while row < rows && out.len() < limit {
            for (i, (plan, v)) in self.columns.iter().zip(views).enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                encode_value(plan, v, row, out)?;
            }
            out.push(b'\n');
            row += 1;
        }
        Ok(row)
    }
}

/// Days from 1970-01-01 of dates well inside years 0000–9999: a date or
/// timestamp outside is checked by encoding it (see [`RowEncoder::refused_rows`]).
const SAFE_DAYS: std::ops::RangeInclusive<i64> = -719_527..=2_932_895;
/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

impl RowEncoder {
    /// Whether any column has values the encoder may refuse (floats,
    /// dates, times, timestamps, lists).
    pub(crate) fn can_refuse(&self) -> bool {
        self.columns.iter().any(|c| {
            matches!(
                c.ty,
                ColumnType::Float32
                    | ColumnType::Float64
                    | ColumnType::Date
                    | ColumnType::Time
                    | ColumnType::Timestamp
                    | ColumnType::TimestampTz
                    | ColumnType::List(_)
            )
        })
    }

    /// The values of rows `0..rows` the encoder refuses, as (row, column,
    /// why): a cheap scan finds suspects, encoding one confirms it.
    pub(crate) fn refused_rows(
        &self,
        views: &[ColumnValues<'_>],
        rows: usize,
    ) -> Vec<(usize, String, String)> {
        let mut refused = Vec::new();
        let mut scratch = Vec::new();
        for (plan, v) in self.columns.iter().zip(views) {
            for i in 0..rows {
                if v.is_null(i) || !suspect(plan, v, i) {
                    continue;
                }
                scratch.clear();
                if let Err(e) = encode_value(plan, v, i, &mut scratch) {
                    refused.push((i, plan.name.clone(), reason(e)));
                }
            }
        }
        refused.sort_by_key(|(row, ..)| *row);
        refused
    }
}

/// Whether value `i` may be one the encoder refuses (a superset of them).
#[inline]
fn suspect(plan: &ColumnPlan, v: &ColumnValues<'_>, i: usize) -> bool {
    let off_unit = |micros: i64| match plan.enc {
        Enc::Micros { unit } => micros.rem_euclid(unit) != 0,
        Enc::Plain => false,
    };
    match v {
        ColumnValues::Float32(a) => !a.value(i).is_finite(),
        ColumnValues::Float64(a) => !a.value(i).is_finite(),
        ColumnValues::Date(a) => !SAFE_DAYS.contains(&i64::from(a.value(i))),
        ColumnValues::Time(a) => {
            let x = a.value(i);
            x.unsigned_abs() > TIME_MAX_MICROS.unsigned_abs() || off_unit(x)
        }
        ColumnValues::Timestamp(a) => {
            let x = a.value(i);
            !SAFE_DAYS.contains(&x.div_euclid(DAY_MICROS)) || off_unit(x)
        }
        ColumnValues::List(..) => true,
        _ => false,
    }
}

/// `fractional_digits` of the target column; `None` for Ferry's own DDL
/// (`TIME(6)`, `DATETIME(6)`), which keeps every microsecond.
fn encoding(ty: &ColumnType, fractional_digits: Option<u32>) -> Enc {
    let Some(digits) = fractional_digits else {
        return Enc::Plain;
    };
    match ty {
        ColumnType::Time | ColumnType::Timestamp | ColumnType::TimestampTz => {
            match 10i64.pow(6 - digits.min(6)) {
                1 => Enc::Plain,
                unit => Enc::Micros { unit },
            }
        }
        _ => Enc::Plain,
    }
}

#[inline]
fn encode_value(
    plan: &ColumnPlan,
    v: &ColumnValues<'_>,
    i: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    if v.is_null(i) {
        out.extend_from_slice(br"\N");
        return Ok(());
    }
    let dirty = |m: String| Error::dirty(&plan.name, m);
    match v {
        ColumnValues::Bool(a) => out.push(if a.value(i) { b'1' } else { b'0' }),
        ColumnValues::Int16(a) => push_int(out, a.value(i).into(), plan.year_target),
        ColumnValues::Int32(a) => push_int(out, a.value(i).into(), plan.year_target),
        ColumnValues::Int64(a) => push_int(out, a.value(i), plan.year_target),
        ColumnValues::Float32(a) => {
            let x = a.value(i);
            if !x.is_finite() {
                return Err(dirty(format!("{x} cannot be stored in MySQL/MariaDB")));
            }
            // The exact value as a double: MariaDB parses a FLOAT's text as a
            // double and range-checks it, so f32::MAX's shortest form
            // (3.4028235e38, above FLT_MAX as a double) would be refused;
            // the double's text converts back to the same f32 exactly.
            let mut b = ryu::Buffer::new();
            out.extend_from_slice(b.format_finite(f64::from(x)).as_bytes());
        }
        ColumnValues::Float64(a) => {
            let x = a.value(i);
            if !x.is_finite() {
                return Err(dirty(format!("{x} cannot be stored in MySQL/MariaDB")));
            }
            out.extend_from_slice(ryu::Buffer::new().format_finite(x).as_bytes());
        }
        ColumnValues::Decimal(a, scale) => write_decimal(out, a.value(i), *scale),
        ColumnValues::Utf8(a) => push_escaped(out, a.value(i).as_bytes()),
        ColumnValues::Binary(a) => push_hex(out, a.value(i)),
        ColumnValues::Date(a) => {
            write_date(out, a.value(i)).map_err(|e| dirty(reason(e)))?;
        }
        ColumnValues::Time(a) => {
            let x = a.value(i);
            if let Some(m) = time_out_of_range(x) {
                return Err(dirty(m));
            }
            check_unit(plan, x, || {
                let mut t = Vec::new();
                write_signed_time(&mut t, x);
                t
            })?;
            write_signed_time(out, x);
        }
        ColumnValues::Timestamp(a) => {
            let x = a.value(i);
            check_unit(plan, x, || {
                let mut t = Vec::new();
                let _ = write_timestamp(&mut t, x);
                t
            })?;
            write_timestamp(out, x).map_err(|e| dirty(reason(e)))?;
        }
        ColumnValues::Uuid(a) => write_uuid(out, a.value(i)),
        // Only digits, signs and the letters P Y M D T H S: nothing to escape.
        ColumnValues::Interval(a) => write_interval_text(out, a, i),
        ColumnValues::List(a, _, elem) => {
            let mut json = Vec::new();
            write_list_json(&mut json, a, i, elem).map_err(dirty)?;
            push_escaped(out, &json);
        }
    }
    Ok(())
}

/// Appends an integer; into a `YEAR` column with at least four digits.
#[inline]
fn push_int(out: &mut Vec<u8>, v: i64, year: bool) {
    let mut b = itoa::Buffer::new();
    let s = b.format(v);
    if year && (0..1000).contains(&v) {
        out.extend(std::iter::repeat_n(b'0', 4 - s.len()));
    }
    out.extend_from_slice(s.as_bytes());
}

/// Fails a value with more fractional digits than the target column keeps.
#[inline]
fn check_unit(plan: &ColumnPlan, micros: i64, text: impl FnOnce() -> Vec<u8>) -> Result<()> {
    if let Enc::Micros { unit } = plan.enc
        && micros.rem_euclid(unit) != 0
    {
        return Err(Error::dirty(
            &plan.name,
            format!(
                "{} has more fractional-second digits than the target column keeps (it would be rounded)",
                String::from_utf8_lossy(&text())
            ),
        ));
    }
    Ok(())
}

/// The message of a value error raised without a column name.
fn reason(e: Error) -> String {
    match e {
        Error::DirtyData { message, .. } => message,
        other => other.to_string(),
    }
}

/// Appends `s` with `\`, TAB, LF and NUL escaped for `LOAD DATA … ESCAPED BY '\\'`.
#[inline]
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    let first = match (
        memchr::memchr3(b'\\', b'\t', b'\n', s),
        memchr::memchr(0, s),
    ) {
        (None, None) => {
            out.extend_from_slice(s);
            return;
        }
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
    };
    out.extend_from_slice(&s[..first]);
    let mut start = first;
    for (i, &b) in s.iter().enumerate().skip(first) {
        let esc = match b {
            b'\\' => b'\\',
            b'\t' => b't',
            b'\n' => b'n',
            0 => b'0',
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.push(b'\\');
        out.push(esc);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Appends `bytes` as lowercase hex.
#[inline]
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

/// Encodes `input` into chunks for the driver; returns the rows sent, or
/// `None` if the driver stopped reading. A failure is put in `failure` before
/// the driver is told, so `write_all` reports the cause, not the aborted LOAD.
pub(crate) async fn produce(
    mut input: BatchStream,
    encoder: Arc<RowEncoder>,
    tx: mpsc::Sender<io::Result<Bytes>>,
    failure: Arc<Mutex<Option<Error>>>,
    chunk: usize,
) -> Option<u64> {
    match encode_all(&mut input, &encoder, &tx, chunk).await {
        Ok(rows) => rows,
        Err(e) => {
            let message = e.to_string();
            if let Ok(mut f) = failure.lock() {
                *f = Some(e);
            }
            let _ = tx.send(Err(io::Error::other(message))).await;
            None
        }
    }
}

async fn encode_all(
    input: &mut BatchStream,
    encoder: &RowEncoder,
    tx: &mpsc::Sender<io::Result<Bytes>>,
    chunk: usize,
) -> Result<Option<u64>> {
    let capacity = chunk + chunk / 4;
    let mut buf = Vec::with_capacity(capacity);
    let mut rows = 0u64;
    while let Some(batch) = input.next().await {
        let batch = batch?;
        let views = encoder.views(&batch)?;
        let n = batch.num_rows();
        let mut next = 0;
        while next < n {
            next = encoder.encode_rows(&views, next, n, &mut buf, chunk)?;
            if buf.len() >= chunk && !send(tx, &mut buf, chunk, capacity).await {
                return Ok(None);
            }
        }
        rows += n as u64;
    }
    if !buf.is_empty() && !send(tx, &mut buf, chunk, capacity).await {
        return Ok(None);
    }
    Ok(Some(rows))
}

/// Sends `buf` in pieces of at most `chunk` bytes (a row may be larger than a
/// packet may be); `false` if the driver stopped reading.
pub(crate) async fn send(
    tx: &mpsc::Sender<io::Result<Bytes>>,
    buf: &mut Vec<u8>,
    chunk: usize,
    capacity: usize,
) -> bool {
    let mut bytes = Bytes::from(std::mem::replace(buf, Vec::with_capacity(capacity)));
    while !bytes.is_empty() {
        let piece = bytes.split_to(bytes.len().min(chunk));
        if tx.send(Ok(piece)).await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BinaryArray, Float32Array, Int32Array, StringArray};

    fn col(name: &str, ty: ColumnType) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            ty,
            nullable: true,
            native_type: String::new(),
            dialect: None,
        }
    }

    #[test]
    fn escapes_text_and_writes_nulls() {
        let mut out = Vec::new();
        push_escaped(&mut out, b"a\tb\nc\\d\0e");
        assert_eq!(out, br"a\tb\nc\\d\0e");
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                col("i", ColumnType::Int32),
                col(
                    "s",
                    ColumnType::Text {
                        max_chars: None,
                        fixed: false,
                    },
                ),
                col("b", ColumnType::Binary),
                col("f", ColumnType::Float32),
            ],
            primary_key: vec![],
        };
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![Some(1), None])),
            Arc::new(StringArray::from(vec![Some("x\ty"), Some("")])),
            Arc::new(BinaryArray::from(vec![Some(&[0u8, 255][..]), None])),
            Arc::new(Float32Array::from(vec![Some(0.1f32), Some(-2.5)])),
        ];
        let batch = RecordBatch::try_new(schema.arrow_schema(), arrays).expect("batch");
        let enc = RowEncoder::new(&schema, None);
        let views = enc.views(&batch).expect("views");
        let mut out = Vec::new();
        assert_eq!(
            enc.encode_rows(&views, 0, 2, &mut out, usize::MAX)
                .expect("rows"),
            2
        );
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            // 0.1f32 as the exact text of its double (see encode_value).
            "1\tx\\ty\t00ff\t0.10000000149011612\n\\N\t\t\\N\t-2.5\n"
        );
        let sql = enc.load_sql("`d`.`t`");
        assert!(
            sql.ends_with("(`i`, `s`, @ferry_hex2, `f`) SET `b` = UNHEX(@ferry_hex2)"),
            "{sql}"
        );
    }

    #[test]
    fn writes_times_years_and_bits_for_a_same_dialect_target() {
        use arrow::array::{Int16Array, Int64Array, Time64MicrosecondArray};
        let mysql = |name: &str, ty: ColumnType, native: &str| ColumnDef {
            native_type: native.into(),
            dialect: Some(DIALECT),
            ..col(name, ty)
        };
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                mysql("t", ColumnType::Time, "time(3)"),
                mysql("y", ColumnType::Int16, "year(4)"),
                mysql("b", ColumnType::Int64, "bit(10)"),
            ],
            primary_key: vec![],
        };
        let h = 3_600_000_000i64;
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Time64MicrosecondArray::from(vec![
                -(839 * h - 1_000),
                24 * h,
                -1_000,
                1,
            ])),
            Arc::new(Int16Array::from(vec![0, 2155, 1901, 0])),
            Arc::new(Int64Array::from(vec![0, 1023, 5, 0])),
        ];
        let batch = RecordBatch::try_new(schema.arrow_schema(), arrays).expect("batch");
        let enc = RowEncoder::new(&schema, None);
        let views = enc.views(&batch).expect("views");
        // 1 µs does not fit time(3): that row is refused, the others are written.
        let refused = enc.refused_rows(&views, 4);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!((refused[0].0, refused[0].1.as_str()), (3, "t"));
        assert!(refused[0].2.contains("would be rounded"), "{refused:?}");
        let mut out = Vec::new();
        enc.encode_rows(&views, 0, 3, &mut out, usize::MAX)
            .expect("rows");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "-838:59:59.999000\t0000\t0\n24:00:00.000000\t2155\t1023\n-00:00:00.001000\t1901\t5\n"
        );
        assert!(
            enc.load_sql("`d`.`t`")
                .contains("`b` = CAST(@ferry_bit2 AS UNSIGNED)")
        );
        assert!(time_out_of_range(839 * h).is_some());
        assert!(time_out_of_range(-(839 * h - 1)).is_none());
        assert!(time_out_of_range(i64::MIN).is_some());
    }

    #[test]
    fn refuses_nan() {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![col("f", ColumnType::Float32)],
            primary_key: vec![],
        };
        let arrays: Vec<ArrayRef> = vec![Arc::new(Float32Array::from(vec![f32::NAN]))];
        let batch = RecordBatch::try_new(schema.arrow_schema(), arrays).expect("batch");
        let enc = RowEncoder::new(&schema, None);
        let views = enc.views(&batch).expect("views");
        let err = enc
            .encode_rows(&views, 0, 1, &mut Vec::new(), usize::MAX)
            .expect_err("NaN");
        assert!(err.to_string().contains("`f`"), "{err}");
    }
}
