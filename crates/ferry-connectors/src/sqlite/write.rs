//! One Arrow value → one bound SQLite parameter, in the storage forms of the
//! module docs. Nothing is ever formatted into SQL text.

use ferry_core::{ColumnType, Error, Result};
use rusqlite::Statement;
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::common::values::{
    ColumnValues, write_date, write_decimal, write_interval_text, write_list_json, write_time,
    write_timestamp, write_timestamp_utc, write_uuid,
};

use super::read::is_decimal_literal;
use super::types::{Affinity, NUMERIC_AFFINITY_MAX_PRECISION};

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// A column the sink writes.
#[derive(Debug, Clone)]
pub(super) struct WriteColumn {
    /// The column name (as the source names it; SQLite matches case-insensitively).
    pub name: String,
    /// The source's column type: it decides the storage form.
    pub ty: ColumnType,
    /// The target column's affinity: INTEGER, REAL and NUMERIC affinity turn
    /// numeric-looking text into numbers, which must not lose digits.
    pub affinity: Affinity,
}

impl WriteColumn {
    fn converts_numbers(&self) -> bool {
        matches!(
            self.affinity,
            Affinity::Integer | Affinity::Real | Affinity::Numeric
        )
    }
}

/// Binds row `row` of `values` (column `col`) to parameter `index` (1-based);
/// `row_no` names the row of the input in messages; `buf` is scratch space.
pub(super) fn bind(
    stmt: &mut Statement<'_>,
    index: usize,
    col: &WriteColumn,
    values: &ColumnValues<'_>,
    row: usize,
    row_no: u64,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let dirty = |m: String| Error::dirty(&col.name, format!("row {row_no} of the input: {m}"));
    let at = |e: Error| match e {
        Error::DirtyData { message, .. } => dirty(message),
        other => other,
    };
    buf.clear();
    let value = if values.is_null(row) {
        ValueRef::Null
    } else {
        match values {
            ColumnValues::Bool(a) => ValueRef::Integer(i64::from(a.value(row))),
            ColumnValues::Int16(a) => ValueRef::Integer(a.value(row).into()),
            ColumnValues::Int32(a) => ValueRef::Integer(a.value(row).into()),
            ColumnValues::Int64(a) => ValueRef::Integer(a.value(row)),
            ColumnValues::Float32(a) => {
                ValueRef::Real(finite_or_inf(a.value(row).into()).map_err(dirty)?)
            }
            ColumnValues::Float64(a) => ValueRef::Real(finite_or_inf(a.value(row)).map_err(dirty)?),
            ColumnValues::Decimal(a, scale) => {
                let unscaled = a.value(row);
                match decimal_as_integer(unscaled, *scale) {
                    // A whole number is stored as INTEGER: exact under every affinity.
                    Some(i) if col.converts_numbers() => ValueRef::Integer(i),
                    _ => {
                        write_decimal(buf, unscaled, *scale);
                        if col.converts_numbers()
                            && significant_digits(unscaled)
                                > NUMERIC_AFFINITY_MAX_PRECISION as usize
                        {
                            return Err(dirty(rounded_by_sqlite(buf)));
                        }
                        ValueRef::Text(buf.as_slice())
                    }
                }
            }
            ColumnValues::Utf8(a) => {
                let s = a.value(row);
                if col.ty == ColumnType::DecimalText
                    && col.converts_numbers()
                    && !numeric_text_survives(s)
                {
                    return Err(dirty(rounded_by_sqlite(s.as_bytes())));
                }
                ValueRef::Text(s.as_bytes())
            }
            ColumnValues::Binary(a) => ValueRef::Blob(a.value(row)),
            ColumnValues::Date(a) => {
                write_date(buf, a.value(row)).map_err(at)?;
                ValueRef::Text(buf.as_slice())
            }
            ColumnValues::Time(a) => {
                let micros = a.value(row);
                if !(0..DAY_MICROS).contains(&micros) {
                    return Err(dirty(format!("time {micros} µs is outside one day")));
                }
                write_time(buf, micros);
                ValueRef::Text(buf.as_slice())
            }
            ColumnValues::Timestamp(a) => {
                if col.ty == ColumnType::TimestampTz {
                    write_timestamp_utc(buf, a.value(row)).map_err(at)?;
                } else {
                    write_timestamp(buf, a.value(row)).map_err(at)?;
                }
                ValueRef::Text(buf.as_slice())
            }
            ColumnValues::Uuid(a) => {
                write_uuid(buf, a.value(row));
                ValueRef::Text(buf.as_slice())
            }
            ColumnValues::Interval(a) => {
                write_interval_text(buf, a, row);
                ValueRef::Text(buf.as_slice())
            }
            ColumnValues::List(a, _, elem) => {
                write_list_json(buf, a, row, elem).map_err(dirty)?;
                ValueRef::Text(buf.as_slice())
            }
        }
    };
    stmt.raw_bind_parameter(index, ToSqlOutput::Borrowed(value))
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::TooBig => {
                dirty(format!("value too big for SQLite: {e}"))
            }
            other => Error::Internal(format!("binding column {}: {other}", col.name)),
        })
}

fn finite_or_inf(v: f64) -> Result<f64, String> {
    if v.is_nan() {
        Err("NaN cannot be stored in SQLite (it would become NULL)".into())
    } else {
        Ok(v)
    }
}

fn rounded_by_sqlite(text: &[u8]) -> String {
    format!(
        "{} has more than 15 significant digits and the target column has numeric affinity, \
         so SQLite would round it; declare the column DECIMAL_TEXT(p,s) or TEXT",
        String::from_utf8_lossy(text)
    )
}

/// The value as an `i64` when it is a whole number that fits.
fn decimal_as_integer(unscaled: i128, scale: u8) -> Option<i64> {
    let m = 10i128.checked_pow(scale as u32)?;
    if unscaled % m != 0 {
        return None;
    }
    i64::try_from(unscaled / m).ok()
}

/// Significant digits of an unscaled decimal, without trailing zeros.
fn significant_digits(unscaled: i128) -> usize {
    let mut v = unscaled.unsigned_abs();
    if v == 0 {
        return 0;
    }
    while v.is_multiple_of(10) {
        v /= 10;
    }
    v.ilog10() as usize + 1
}

/// Whether SQLite's numeric affinity keeps the value of this text exactly:
/// it is not a number (stays TEXT), a whole number that fits `i64`, or a number
/// of at most 15 significant digits well inside the range of a double.
fn numeric_text_survives(s: &str) -> bool {
    let t = s.trim();
    if !is_decimal_literal(t) {
        return true;
    }
    if t.parse::<i64>().is_ok() {
        return true;
    }
    let mantissa = t.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(char::from)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    let magnitude_ok = t
        .parse::<f64>()
        .is_ok_and(|v| v == 0.0 || (v.is_finite() && v.abs() >= f64::MIN_POSITIVE));
    significant <= NUMERIC_AFFINITY_MAX_PRECISION as usize && magnitude_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_significant_digits() {
        assert_eq!(significant_digits(0), 0);
        assert_eq!(significant_digits(1_2500), 3);
        assert_eq!(significant_digits(-999_999_999_999_999), 15);
        assert_eq!(significant_digits(i128::MAX), 39);
        assert_eq!(decimal_as_integer(12_300, 2), Some(123));
        assert_eq!(decimal_as_integer(12_345, 2), None);
        assert_eq!(decimal_as_integer(i128::MAX / 10 * 10, 1), None);
    }

    #[test]
    fn knows_what_numeric_affinity_rounds() {
        assert!(numeric_text_survives("NaN"));
        assert!(numeric_text_survives("-9223372036854775808"));
        assert!(numeric_text_survives("123456789012345.0000"));
        assert!(numeric_text_survives("1e21"));
        assert!(!numeric_text_survives("1234567890123456.5"));
        assert!(!numeric_text_survives("99999999999999999999"));
        assert!(!numeric_text_survives("1e400"));
    }
}
