//! The values each column type must carry, as `(id, v)` batches with a
//! label per row (`"min"`, `"4-byte unicode"`, `"1 MB"` …).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray,
    Float32Array, Float64Array, Int16Array, Int32Array, Int32Builder, Int64Array,
    IntervalMonthDayNanoArray, ListBuilder, StringArray, StringBuilder, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use ferry_core::{ColumnDef, ColumnType, TableSchema};

/// One megabyte, the size of the large text and binary values.
pub const LARGE: usize = 1 << 20;

/// A type's test values: row labels and the column (row `i` has id `i + 1`).
pub struct Case {
    /// The column type.
    pub ty: ColumnType,
    /// Label of each row.
    pub labels: Vec<&'static str>,
    /// The values.
    pub values: ArrayRef,
}

impl Case {
    /// The `(id bigint primary key, v <type>)` schema of the case's table.
    pub fn schema(&self, table: &str) -> TableSchema {
        TableSchema {
            table: table.to_string(),
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: ColumnType::Int64,
                    nullable: false,
                    native_type: "int64".into(),
                    dialect: None,
                },
                ColumnDef {
                    name: "v".into(),
                    native_type: self.ty.to_string(),
                    dialect: None,
                    ty: self.ty.clone(),
                    nullable: true,
                },
            ],
            primary_key: vec!["id".into()],
        }
    }

    /// The case as one batch of `schema(table)`.
    pub fn batch(&self, table: &str) -> RecordBatch {
        let ids: Vec<i64> = (1..=self.labels.len() as i64).collect();
        RecordBatch::try_new(
            self.schema(table).arrow_schema(),
            vec![Arc::new(Int64Array::from(ids)), self.values.clone()],
        )
        .unwrap()
    }

    /// The label of the row with this id.
    pub fn label(&self, id: i64) -> &'static str {
        self.labels[(id - 1) as usize]
    }
}

fn date(y: i32, m: u32, d: u32) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    (NaiveDate::from_ymd_opt(y, m, d).unwrap() - epoch).num_days() as i32
}

fn micros(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let t = NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap();
    (t - epoch).num_microseconds().unwrap()
}

/// Text values that exercise escaping and unicode, all at most 44 characters.
fn short_texts() -> Vec<(&'static str, Option<String>)> {
    vec![
        ("null", None),
        ("empty", Some(String::new())),
        ("ascii", Some("hello".into())),
        ("4-byte unicode", Some("😀 𝄞 ü € 中文".into())),
        (
            "escapes",
            Some("tab\tnl\ncr\rbs\\ quote' dq\" comma, pipe|".into()),
        ),
        ("trailing space", Some("x  ".into())),
    ]
}

/// The case for `ty`.
pub fn case(ty: &ColumnType) -> Case {
    use ColumnType as T;
    let (labels, values): (Vec<&'static str>, ArrayRef) = match ty {
        T::Bool => (
            vec!["null", "true", "false"],
            Arc::new(BooleanArray::from(vec![None, Some(true), Some(false)])),
        ),
        T::Int16 => (
            vec!["null", "min", "max", "zero", "-1"],
            Arc::new(Int16Array::from(vec![
                None,
                Some(i16::MIN),
                Some(i16::MAX),
                Some(0),
                Some(-1),
            ])),
        ),
        T::Int32 => (
            vec!["null", "min", "max", "zero", "-1"],
            Arc::new(Int32Array::from(vec![
                None,
                Some(i32::MIN),
                Some(i32::MAX),
                Some(0),
                Some(-1),
            ])),
        ),
        T::Int64 => (
            vec!["null", "min", "max", "zero", "-1"],
            Arc::new(Int64Array::from(vec![
                None,
                Some(i64::MIN),
                Some(i64::MAX),
                Some(0),
                Some(-1),
            ])),
        ),
        T::Float32 => (
            vec![
                "null",
                "max",
                "min positive",
                "-1.5",
                "-0",
                "NaN",
                "+Inf",
                "-Inf",
            ],
            Arc::new(Float32Array::from(vec![
                None,
                Some(f32::MAX),
                Some(f32::MIN_POSITIVE),
                Some(-1.5),
                Some(-0.0),
                Some(f32::NAN),
                Some(f32::INFINITY),
                Some(f32::NEG_INFINITY),
            ])),
        ),
        T::Float64 => (
            vec![
                "null",
                "max",
                "min positive",
                "0.1",
                "-0",
                "NaN",
                "+Inf",
                "-Inf",
            ],
            Arc::new(Float64Array::from(vec![
                None,
                Some(f64::MAX),
                Some(f64::MIN_POSITIVE),
                Some(0.1),
                Some(-0.0),
                Some(f64::NAN),
                Some(f64::INFINITY),
                Some(f64::NEG_INFINITY),
            ])),
        ),
        T::Decimal { precision, scale } => {
            let max = ferry_core::types::POW10[*precision as usize] - 1;
            (
                vec!["null", "max", "min", "zero", "smallest step"],
                Arc::new(
                    Decimal128Array::from(vec![None, Some(max), Some(-max), Some(0), Some(-1)])
                        .with_precision_and_scale(*precision, *scale as i8)
                        .unwrap(),
                ),
            )
        }
        T::DecimalText => (
            vec!["null", "60 digits", "negative fraction", "zero", "NaN"],
            Arc::new(StringArray::from(vec![
                None,
                Some("123456789012345678901234567890.123456789012345678901234567890"),
                Some("-0.000000000000000000000000000000000000000001"),
                Some("0"),
                Some("NaN"),
            ])),
        ),
        T::Text {
            max_chars: None, ..
        } => {
            let mut rows = short_texts();
            rows.push(("1 MB", Some("é".repeat(LARGE / 2))));
            let (labels, values): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
            (labels, Arc::new(StringArray::from(values)))
        }
        T::Text {
            max_chars: Some(n),
            fixed: false,
        } => {
            let mut rows = short_texts();
            rows.push(("at the limit", Some("😀".repeat(*n as usize))));
            let (labels, values): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
            (labels, Arc::new(StringArray::from(values)))
        }
        T::Text {
            max_chars: Some(n),
            fixed: true,
        } => {
            let n = *n as usize;
            (
                vec!["null", "ascii", "4-byte unicode"],
                Arc::new(StringArray::from(vec![
                    None,
                    Some("a".repeat(n)),
                    Some("😀".repeat(n)),
                ])),
            )
        }
        T::Binary => {
            let all: Vec<u8> = (0..=255u8).collect();
            let large: Vec<u8> = (0..LARGE).map(|i| (i * 7 % 251) as u8).collect();
            (
                vec!["null", "empty", "every byte", "1 MB"],
                Arc::new(BinaryArray::from(vec![
                    None,
                    Some(&b""[..]),
                    Some(&all[..]),
                    Some(&large[..]),
                ])),
            )
        }
        T::Date => (
            vec![
                "null",
                "0001-01-01",
                "9999-12-31",
                "1970-01-01",
                "2024-02-29",
            ],
            Arc::new(Date32Array::from(vec![
                None,
                Some(date(1, 1, 1)),
                Some(date(9999, 12, 31)),
                Some(0),
                Some(date(2024, 2, 29)),
            ])),
        ),
        T::Time => (
            vec!["null", "midnight", "last microsecond", "noon and 1 µs"],
            Arc::new(Time64MicrosecondArray::from(vec![
                None,
                Some(0),
                Some(86_400_000_000 - 1),
                Some(43_200_000_001),
            ])),
        ),
        T::Timestamp | T::TimestampTz => {
            let values = vec![
                None,
                Some(micros(1, 1, 1, 0, 0, 0, 0)),
                Some(micros(9999, 12, 31, 23, 59, 59, 999_999)),
                Some(0),
                Some(micros(2024, 2, 29, 12, 34, 56, 123_456)),
                Some(-1),
            ];
            let array = TimestampMicrosecondArray::from(values);
            let array = if matches!(ty, T::TimestampTz) {
                array.with_timezone("UTC")
            } else {
                array
            };
            (
                vec![
                    "null",
                    "0001-01-01",
                    "9999-12-31 last µs",
                    "epoch",
                    "leap day µs",
                    "1 µs before epoch",
                ],
                Arc::new(array),
            )
        }
        T::Uuid => (
            vec!["null", "nil", "max", "random"],
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    vec![
                        None,
                        Some([0u8; 16].to_vec()),
                        Some([0xffu8; 16].to_vec()),
                        Some(
                            (0..16u8)
                                .map(|i| i.wrapping_mul(37).wrapping_add(11))
                                .collect(),
                        ),
                    ]
                    .into_iter(),
                    16,
                )
                .unwrap(),
            ),
        ),
        T::Json => (
            vec!["null", "object", "array", "unicode and escapes", "scalar"],
            Arc::new(StringArray::from(vec![
                None,
                Some(r#"{"a":1,"b":[true,null,2.5]}"#),
                Some("[]"),
                Some(r#"{"s":"😀 \"q\" \\ \n"}"#),
                Some("42"),
            ])),
        ),
        T::Interval => {
            use arrow::datatypes::IntervalMonthDayNano as I;
            let us = |m: i64| m * 1000;
            (
                vec![
                    "null",
                    "zero",
                    "y m d h m s µs",
                    "mixed signs",
                    "100000 hours",
                ],
                Arc::new(IntervalMonthDayNanoArray::from(vec![
                    None,
                    Some(I::new(0, 0, 0)),
                    Some(I::new(14, 3, us(14_706_789_000))),
                    Some(I::new(-1, 2, us(-1_000_001))),
                    Some(I::new(0, 0, us(360_000_000_000_000))),
                ])),
            )
        }
        T::List(elem) => list_case(elem),
    };
    Case {
        ty: ty.clone(),
        labels,
        values,
    }
}

/// Arrays of integers or text: NULL, empty, NULL elements, extremes, and
/// elements that need quoting in PostgreSQL's and JSON's text forms.
fn list_case(elem: &ColumnType) -> (Vec<&'static str>, ArrayRef) {
    let labels = vec!["null", "empty", "null element and extremes", "one"];
    match elem {
        ColumnType::Int32 => {
            let mut b = ListBuilder::new(Int32Builder::new());
            b.append_null();
            b.append(true);
            b.values().append_value(1);
            b.values().append_null();
            b.values().append_value(i32::MIN);
            b.values().append_value(i32::MAX);
            b.append(true);
            b.values().append_value(0);
            b.append(true);
            (labels, Arc::new(b.finish()))
        }
        _ => {
            let mut b = ListBuilder::new(StringBuilder::new());
            b.append_null();
            b.append(true);
            b.values().append_value("a");
            b.values().append_null();
            b.values().append_value("😀 \"q\", {x} \\ NULL");
            b.values().append_value("");
            b.append(true);
            b.values().append_value("comma,semi;");
            b.append(true);
            (labels, Arc::new(b.finish()))
        }
    }
}
