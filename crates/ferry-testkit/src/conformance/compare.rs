//! Canonical text of a value, for comparing what a sink holds with what was
//! sent — exact to the bit for floats (NaN, −0), to the microsecond for
//! times, and by content for JSON. Read-back types that differ from the
//! sent type only as the type matrix documents (a `timestamptz` stored as
//! a UTC `DATETIME(6)`, a `uuid` as `CHAR(36)`, `decimal_text` as text)
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
        DataType::Utf8 => {
            let s = array.as_string::<i32>().value(i);
            match sent_as {
                ColumnType::Json => json_text(s),
                ColumnType::Uuid => s.replace('-', "").to_ascii_lowercase(),
                _ => s.to_string(),
            }
        }
        other => format!("<unsupported read-back type {other}>"),
    })
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
        let u = arrow::array::StringArray::from(vec!["0B30-55"]);
        assert_eq!(canonical(&u, 0, &ColumnType::Uuid).unwrap(), "0b3055");
    }
}
