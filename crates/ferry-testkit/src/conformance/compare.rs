//! Canonical text of a value, for comparing what a sink holds with what was
//! sent — exact to the bit for floats (NaN, −0), to the microsecond for
//! times, and by content for JSON. Read-back types that differ from the
//! sent type only as the type matrix documents (a `timestamptz` stored as
//! a UTC `DATETIME(6)`, a `uuid` as `CHAR(36)`, `decimal_text` as text, a
//! `bool` as the 0 or 1 of MariaDB's `TINYINT(1)`)
//! compare equal when the values are.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Time64MicrosecondType, TimestampMicrosecondType,
};
use arrow::record_batch::RecordBatch;
use ferry_core::ColumnType;

/// The canonical text of `array[i]` (`None` for NULL), given the type the
/// value was sent as.
pub fn canonical(array: &dyn Array, i: usize, sent_as: &ColumnType) -> Option<String> {
    if array.is_null(i) {
        return None;
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Some(match array.data_type() {
        DataType::Boolean => array.as_boolean().value(i).to_string(),
        // A bool stored in MariaDB's TINYINT(1) reads back as the integer 0 or 1.
        DataType::Int16 if *sent_as == ColumnType::Bool => {
            match array.as_primitive::<Int16Type>().value(i) {
                0 => "false".into(),
                1 => "true".into(),
                v => v.to_string(),
            }
        }
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Float32 => format!("{:?}", array.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => format!("{:?}", array.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(i);
            decimal_text(v, *scale)
        }
        DataType::Date32 => array.as_primitive::<Date32Type>().value(i).to_string(),
        DataType::Time64(_) => array
            .as_primitive::<Time64MicrosecondType>()
            .value(i)
            .to_string(),
        // With or without a zone: the stored microseconds (UTC for timestamptz).
        DataType::Timestamp(_, _) => array
            .as_primitive::<TimestampMicrosecondType>()
            .value(i)
            .to_string(),
        DataType::Binary => hex(array.as_binary::<i32>().value(i)),
        DataType::FixedSizeBinary(_) => hex(array.as_fixed_size_binary().value(i)),
        DataType::Interval(_) => {
            let v = array
                .as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
                .value(i);
            format!("{}m {}d {}ns", v.months, v.days, v.nanoseconds)
        }
        DataType::List(_) => json_of(array, i).to_string(),
        DataType::Utf8 => {
            let s = array.as_string::<i32>().value(i);
            match sent_as {
                ColumnType::Json | ColumnType::List(_) => json_text(s),
                ColumnType::Interval => iso_interval(s),
                ColumnType::Uuid => s.replace('-', "").to_ascii_lowercase(),
                _ => s.to_string(),
            }
        }
        other => format!("<unsupported read-back type {other}>"),
    })
}

/// A list value (or element) as JSON: numbers, strings, booleans, null.
fn json_of(array: &dyn Array, i: usize) -> serde_json::Value {
    use serde_json::Value;
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            Value::Array((0..items.len()).map(|j| json_of(&items, j)).collect())
        }
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).into(),
        DataType::Boolean => array.as_boolean().value(i).into(),
        DataType::Utf8 => array.as_string::<i32>().value(i).into(),
        _ => canonical(array, i, &ColumnType::Json)
            .map(Value::String)
            .unwrap_or(Value::Null),
    }
}

/// An ISO 8601 duration (`P1Y2M3DT4H5M6.789S`, parts may be negative) in
/// the `months, days, nanoseconds` form of an Arrow interval.
fn iso_interval(s: &str) -> String {
    let bad = || format!("<not an ISO 8601 interval: {s}>");
    let Some(body) = s.strip_prefix('P') else {
        return bad();
    };
    let (date, time) = body.split_once('T').unwrap_or((body, ""));
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
    let mut parse = |part: &str, in_time: bool| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '-' || c == '.' {
                num.push(c);
                continue;
            }
            match (c, in_time) {
                ('Y', false) => months += 12 * num.parse::<i64>().ok()?,
                ('M', false) => months += num.parse::<i64>().ok()?,
                ('W', false) => days += 7 * num.parse::<i64>().ok()?,
                ('D', false) => days += num.parse::<i64>().ok()?,
                ('H', true) => micros += 3_600_000_000 * num.parse::<i64>().ok()?,
                ('M', true) => micros += 60_000_000 * num.parse::<i64>().ok()?,
                ('S', true) => {
                    let (int, frac) = num.split_once('.').unwrap_or((&num, ""));
                    let sign = if int.starts_with('-') { -1 } else { 1 };
                    let frac = format!("{frac:0<6}");
                    micros += int.parse::<i64>().ok()? * 1_000_000
                        + sign * frac.get(..6)?.parse::<i64>().ok()?;
                }
                _ => return None,
            }
            num.clear();
        }
        num.is_empty().then_some(())
    };
    if parse(date, false).is_none() || parse(time, true).is_none() {
        return bad();
    }
    format!("{months}m {days}d {}ns", micros * 1000)
}

fn json_text(s: &str) -> String {
    serde_json::from_str::<serde_json::Value>(s)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| format!("<not JSON: {s}>"))
}

fn decimal_text(v: i128, scale: i8) -> String {
    if scale <= 0 {
        return v.to_string();
    }
    let digits = v.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

/// `(id, canonical v)` of every row of `(id, v)` batches, sorted by id.
pub fn rows_by_id(batches: &[RecordBatch], sent_as: &ColumnType) -> Vec<(i64, Option<String>)> {
    let mut out = Vec::new();
    for b in batches {
        let ids = b.column(0).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.push((ids.value(i), canonical(b.column(1).as_ref(), i, sent_as)));
        }
    }
    out.sort_by_key(|(id, _)| *id);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_render_with_their_scale() {
        assert_eq!(decimal_text(-1, 2), "-0.01");
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(7, 0), "7");
    }

    #[test]
    fn json_compares_by_content_and_uuid_text_by_value() {
        let a = arrow::array::StringArray::from(vec![r#"{"b": 1, "a": [1, 2]}"#]);
        assert_eq!(
            canonical(&a, 0, &ColumnType::Json).unwrap(),
            r#"{"a":[1,2],"b":1}"#
        );
        assert_eq!(
            iso_interval("P1Y2M3DT4H5M6.789S"),
            format!("14m 3d {}ns", 14_706_789_000_000i64)
        );
        assert_eq!(
            iso_interval("P-1M2DT-1.000001S"),
            format!("-1m 2d {}ns", -1_000_001_000i64)
        );
        let u = arrow::array::StringArray::from(vec!["0B30-55"]);
        assert_eq!(canonical(&u, 0, &ColumnType::Uuid).unwrap(), "0b3055");
    }
}
