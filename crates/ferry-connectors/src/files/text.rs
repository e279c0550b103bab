//! CSV and JSON lines: each value in the typed JSON form of Ferry's dirty
//! records ([`ferry_core::json_form::value_json`]), so the text says every
//! digit and nothing is rounded: integers beyond ±2^53 − 1, decimals,
//! NaN and ±Infinity as strings; bytes as `\x0102`; dates, times,
//! timestamps and intervals as ISO text; lists as JSON arrays.
//!
//! JSON lines: one object per row, NULL as `null`.
//! CSV (RFC 4180, a header line): NULL is an empty unquoted field and every
//! string is quoted, so an empty string (`""`) stays apart from NULL as in
//! PostgreSQL's `COPY … CSV`; numbers and booleans are unquoted; lists are
//! their JSON text, quoted.

use arrow::record_batch::RecordBatch;
use ferry_core::json_form::value_json;
use serde_json::Value;

use super::spec::Format;

/// Appends `batch` in `format` to `out`, with the CSV header first when
/// `header`.
pub(crate) fn encode(format: Format, batch: &RecordBatch, header: bool, out: &mut Vec<u8>) {
    let schema = batch.schema();
    match format {
        Format::Jsonl => {
            for row in 0..batch.num_rows() {
                let object: serde_json::Map<String, Value> = schema
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .map(|(f, a)| (f.name().clone(), value_json(f, a.as_ref(), row)))
                    .collect();
                out.extend_from_slice(Value::Object(object).to_string().as_bytes());
                out.push(b'\n');
            }
        }
        Format::Csv => {
            if header {
                let names: Vec<String> = schema.fields().iter().map(|f| quoted(f.name())).collect();
                out.extend_from_slice(names.join(",").as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            for row in 0..batch.num_rows() {
                for (i, (f, a)) in schema.fields().iter().zip(batch.columns()).enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let cell = match value_json(f, a.as_ref(), row) {
                        Value::Null => String::new(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        Value::String(s) => quoted(&s),
                        other => quoted(&other.to_string()),
                    };
                    out.extend_from_slice(cell.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        Format::Parquet => {}
    }
}

/// `s` in double quotes, inner quotes doubled.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 9_007_199_254_740_993])),
                Arc::new(StringArray::from(vec![Some("a \"q\",\n"), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn csv_keeps_null_apart_from_empty_and_quotes_strings() {
        let mut out = Vec::new();
        encode(Format::Csv, &batch(), true, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"id\",\"s\"\r\n1,\"a \"\"q\"\",\n\"\r\n\"9007199254740993\",\r\n"
        );
    }

    #[test]
    fn json_lines_are_objects_with_exact_values() {
        let mut out = Vec::new();
        encode(Format::Jsonl, &batch(), true, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":1,\"s\":\"a \\\"q\\\",\\n\"}\n{\"id\":\"9007199254740993\",\"s\":null}\n"
        );
    }
}
