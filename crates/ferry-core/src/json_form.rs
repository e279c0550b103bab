//! One value as typed JSON, for the row a dirty record keeps.
//!
//! A dirty record must let a user see and replay exactly what the source
//! held, so every column keeps its type: booleans and numbers that JSON
//! carries exactly as JSON booleans and numbers; integers beyond ±2^53 − 1
//! (where JSON readers start rounding), decimals, NaN and ±Infinity as
//! strings with every digit; lists as JSON arrays with `null`; UUIDs in
//! their canonical dashed form; bytes as PostgreSQL's hex text `"\\x0102"`;
//! dates, times and intervals as the ISO text [`crate::text_form`] prints.
//! A column whose Arrow type is not the one its [`ColumnType`] names (a
//! transform's output) falls back to Arrow's display text.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Int64Type, TimeUnit};
use serde_json::{Number, Value};

use crate::reject::display_value;
use crate::schema::field_column_type;
use crate::text_form::write_element_json;
use crate::types::ColumnType;

/// The largest integer every JSON reader holds exactly (2^53 − 1).
const JSON_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Row `i` of `field`'s column `array` as typed JSON (NULL as `null`).
pub fn value_json(field: &Field, array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match field_column_type(field) {
        Ok(ty) if carries(&ty, array.data_type()) => typed(&ty, array, i),
        _ => Value::String(display_value(array, i)),
    }
}

/// Whether `data_type` is the Arrow type Ferry uses for `ty`.
fn carries(ty: &ColumnType, data_type: &DataType) -> bool {
    match (ty, data_type) {
        (ColumnType::Timestamp, DataType::Timestamp(TimeUnit::Microsecond, tz)) => tz.is_none(),
        (ColumnType::TimestampTz, DataType::Timestamp(TimeUnit::Microsecond, tz)) => tz.is_some(),
        (ColumnType::List(elem), DataType::List(f)) => {
            elem.is_list_element() && carries(elem, f.data_type())
        }
        (ColumnType::List(_), _) => false,
        (ty, dt) => &ty.arrow_type() == dt,
    }
}

/// Value `i` of `a` (never null, Arrow type checked by [`carries`]).
fn typed(ty: &ColumnType, a: &dyn Array, i: usize) -> Value {
    match ty {
        ColumnType::Bool => Value::Bool(a.as_boolean().value(i)),
        ColumnType::Int64 => {
            let v = a.as_primitive::<Int64Type>().value(i);
            if v.abs() <= JSON_SAFE_INTEGER {
                Value::from(v)
            } else {
                Value::String(v.to_string())
            }
        }
        ColumnType::Float32 => float(a.as_primitive::<Float32Type>().value(i).to_string()),
        ColumnType::Float64 => float(a.as_primitive::<Float64Type>().value(i).to_string()),
        // Exact text: a JSON number would be read back as a double.
        ColumnType::DecimalText | ColumnType::Json => {
            Value::String(a.as_string::<i32>().value(i).into())
        }
        ColumnType::Decimal { .. } => {
            let mut s = String::new();
            match write_element_json(&mut s, a, i, ty) {
                Ok(()) => Value::String(s),
                Err(_) => Value::String(display_value(a, i)),
            }
        }
        ColumnType::List(elem) => {
            let values = a.as_list::<i32>().value(i);
            Value::Array(
                (0..values.len())
                    .map(|j| {
                        if values.is_null(j) {
                            Value::Null
                        } else {
                            typed(elem, values.as_ref(), j)
                        }
                    })
                    .collect(),
            )
        }
        _ => {
            // Int16/Int32 print as JSON numbers, the rest as JSON strings.
            let mut s = String::new();
            match write_element_json(&mut s, a, i, ty) {
                Ok(()) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
                Err(_) => Value::String(display_value(a, i)),
            }
        }
    }
}

/// A float from Rust's shortest round-trip text: a JSON number when finite,
/// `"NaN"`, `"Infinity"` or `"-Infinity"` otherwise.
fn float(text: String) -> Value {
    match text.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(n) => Value::Number(n),
        None => Value::String(match text.as_str() {
            "inf" => "Infinity".into(),
            "-inf" => "-Infinity".into(),
            _ => text,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BinaryArray, Decimal128Array, FixedSizeBinaryArray, Float32Array, Float64Array,
        Int64Array, ListArray, StringArray, TimestampMicrosecondArray,
    };
    use arrow::buffer::OffsetBuffer;
    use serde_json::json;

    use super::*;
    use crate::schema::{ColumnDef, TableSchema};

    fn field(name: &str, ty: ColumnType) -> Field {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![ColumnDef {
                name: name.into(),
                ty,
                nullable: true,
                native_type: String::new(),
                dialect: None,
            }],
            primary_key: vec![],
        };
        schema.arrow_schema().field(0).clone()
    }

    fn all(ty: ColumnType, a: ArrayRef) -> Vec<Value> {
        let f = field("c", ty);
        (0..a.len())
            .map(|i| value_json(&f, a.as_ref(), i))
            .collect()
    }

    #[test]
    fn numbers_stay_numbers_only_where_json_keeps_them_exact() {
        let big = Int64Array::from(vec![Some(1), None, Some(i64::MAX), Some(-(1 << 53) + 1)]);
        assert_eq!(
            all(ColumnType::Int64, Arc::new(big)),
            vec![
                json!(1),
                Value::Null,
                json!("9223372036854775807"),
                json!(-9007199254740991i64)
            ]
        );
        let f = Float64Array::from(vec![0.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0]);
        assert_eq!(
            all(ColumnType::Float64, Arc::new(f)),
            vec![
                json!(0.1),
                json!("NaN"),
                json!("Infinity"),
                json!("-Infinity"),
                json!(-0.0)
            ]
        );
        let f32s = Float32Array::from(vec![0.1f32, f32::MAX]);
        assert_eq!(
            all(ColumnType::Float32, Arc::new(f32s)),
            vec![json!(0.1), json!(3.4028235e38)]
        );
        let d = Decimal128Array::from(vec![123_456_789_012_345_678_901_234_567i128, -5])
            .with_precision_and_scale(38, 9)
            .expect("decimal");
        assert_eq!(
            all(
                ColumnType::Decimal {
                    precision: 38,
                    scale: 9
                },
                Arc::new(d)
            ),
            vec![json!("123456789012345678.901234567"), json!("-0.000000005")]
        );
    }

    #[test]
    fn lists_uuids_bytes_and_times_keep_their_form() {
        let values = arrow::array::Int32Array::from(vec![Some(1), None, Some(3)]);
        let list = ListArray::new(
            Arc::new(Field::new_list_field(DataType::Int32, true)),
            OffsetBuffer::new(vec![0, 2, 3].into()),
            Arc::new(values),
            None,
        );
        assert_eq!(
            all(ColumnType::list(ColumnType::Int32), Arc::new(list)),
            vec![json!([1, null]), json!([3])]
        );
        let uuid = FixedSizeBinaryArray::try_from_iter(
            [[
                0x0b, 0x30, 0x55, 0x7a, 0xf4, 0xc9, 0x4e, 0x9e, 0x83, 0x58, 0, 1, 2, 3, 4, 5,
            ]]
            .iter(),
        )
        .expect("uuid");
        assert_eq!(
            all(ColumnType::Uuid, Arc::new(uuid)),
            vec![json!("0b30557a-f4c9-4e9e-8358-000102030405")]
        );
        let bytes = BinaryArray::from(vec![&b"\x00\xff"[..]]);
        assert_eq!(
            all(ColumnType::Binary, Arc::new(bytes)),
            vec![json!("\\x00ff")]
        );
        let ts = TimestampMicrosecondArray::from(vec![1_000_001]).with_timezone("UTC");
        assert_eq!(
            all(ColumnType::TimestampTz, Arc::new(ts)),
            vec![json!("1970-01-01T00:00:01.000001+00:00")]
        );
        let text = StringArray::from(vec!["{\"a\": 1}"]);
        assert_eq!(
            all(ColumnType::Json, Arc::new(text)),
            vec![json!("{\"a\": 1}")]
        );
    }

    #[test]
    fn other_arrow_types_fall_back_to_display_text() {
        let f = Field::new("c", DataType::UInt64, true);
        let a = arrow::array::UInt64Array::from(vec![u64::MAX]);
        assert_eq!(value_json(&f, &a, 0), json!("18446744073709551615"));
    }
}
