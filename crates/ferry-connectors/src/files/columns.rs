//! Partition columns: a row's values named in its directory
//! (`region=eu/`), Hive style, and given back by the source.
//!
//! A value is written with Arrow's display of its type (`2026-11-25`,
//! `12.50`, `true`) and escaped as Hive escapes path names (`%2F` for `/`,
//! `%3D` for `=`, …); NULL is Hive's `__HIVE_DEFAULT_PARTITION__`. An
//! empty string has no directory of its own (Hive reads the default
//! partition as NULL), so such a row is dirty rather than turned into NULL.
//! The columns and their Ferry types are kept in the files' Arrow schema
//! metadata (`ferry.partition_columns`), so the source restores them with
//! their types (after the file's own columns).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use ferry_core::{ColumnType, Error, Result};
use serde::{Deserialize, Serialize};

/// Hive's directory value for NULL.
pub(crate) const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";
/// Arrow schema metadata key of the partition columns.
pub(crate) const PARTITION_COLUMNS: &str = "ferry.partition_columns";
/// Longest escaped value of one directory level.
const MAX_VALUE_BYTES: usize = 200;

/// A partition column as the files' metadata records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PartitionColumn {
    pub(crate) name: String,
    /// Ferry's type, in its text form (`varchar(10)`, `date`).
    #[serde(rename = "type")]
    pub(crate) ty: String,
}

/// Whether a column of type `ty` can name directories.
pub(crate) fn allowed(ty: &ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::Bool
            | ColumnType::Int16
            | ColumnType::Int32
            | ColumnType::Int64
            | ColumnType::Decimal { .. }
            | ColumnType::DecimalText
            | ColumnType::Text { .. }
            | ColumnType::Date
    )
}

/// `value` escaped as Hive's `FileUtils.escapePathName` does.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let special = c.is_control()
            || matches!(
                c,
                '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
            );
        if special {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of an escaped directory name; `None` for NULL.
pub(crate) fn unescape(text: &str) -> Option<String> {
    if text == DEFAULT_PARTITION {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if bytes[i] == b'%'
            && let Some(b) = hex
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Each row's directory levels for `columns` (`(index in the batch, name)`):
/// `Ok("region=eu")`, or `Err((column, why))` for a value without one.
pub(crate) fn row_dirs(
    batch: &RecordBatch,
    columns: &[(usize, String)],
) -> Result<Vec<std::result::Result<String, (String, String)>>> {
    let options = FormatOptions::default();
    let formatters = columns
        .iter()
        .map(|(i, _)| ArrayFormatter::try_new(batch.column(*i).as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("formatting partition values: {e}")))?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut levels = Vec::with_capacity(columns.len());
        let mut refused = None;
        for ((i, name), f) in columns.iter().zip(&formatters) {
            let value = if batch.column(*i).is_null(row) {
                DEFAULT_PARTITION.to_string()
            } else {
                let text = f.value(row).to_string();
                if text.is_empty() {
                    refused = Some((
                        name.clone(),
                        "an empty string has no partition directory (Hive reads the default partition as NULL)".to_string(),
                    ));
                    break;
                }
                let escaped = escape(&text);
                if escaped.len() > MAX_VALUE_BYTES || text == DEFAULT_PARTITION {
                    refused = Some((
                        name.clone(),
                        format!(
                            "`{text}` cannot name a partition directory (at most {MAX_VALUE_BYTES} bytes, not Hive's NULL name)"
                        ),
                    ));
                    break;
                }
                escaped
            };
            levels.push(format!("{name}={value}"));
        }
        out.push(match refused {
            Some(r) => Err(r),
            None => Ok(levels.join("/")),
        });
    }
    Ok(out)
}

/// The partition columns' values of a directory (`region=eu/…`, relative
/// to the dataset), by name.
pub(crate) fn values_of(dir: &str) -> HashMap<String, Option<String>> {
    dir.split('/')
        .filter_map(|level| level.split_once('='))
        .map(|(k, v)| (k.to_string(), unescape(v)))
        .collect()
}

/// A column of `rows` copies of `value` (NULL for `None`) in the Arrow type
/// of `ty`.
pub(crate) fn constant(
    ty: &ColumnType,
    value: Option<&str>,
    rows: usize,
    name: &str,
) -> Result<ArrayRef> {
    let target = ty.arrow_type();
    let Some(value) = value else {
        return Ok(new_null_array(&target, rows));
    };
    let text: ArrayRef = Arc::new(StringArray::from(vec![value; rows]));
    cast_with_options(
        &text,
        &target,
        &CastOptions {
            safe: false,
            ..Default::default()
        },
    )
    .map_err(|e| Error::DirtyData {
        column: name.to_string(),
        message: format!("partition directory value `{value}` is not a {ty}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_hive_and_back() {
        for v in ["eu", "a/b", "x=y", "50%", "ü ü", "12:00", "a\nb"] {
            let e = escape(v);
            assert!(!e.contains('/') && !e.contains('='), "{e}");
            assert_eq!(unescape(&e).as_deref(), Some(v), "{e}");
        }
        assert_eq!(escape("a/b"), "a%2Fb");
        assert_eq!(unescape(DEFAULT_PARTITION), None);
        let v = values_of("dt=2026-11-25/region=a%2Fb");
        assert_eq!(v["region"].as_deref(), Some("a/b"));
    }

    #[test]
    fn values_come_back_typed() {
        let a = constant(&ColumnType::Date, Some("2026-11-25"), 2, "d").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a.data_type(), &arrow::datatypes::DataType::Date32);
        let d = constant(
            &ColumnType::decimal(Some(5), Some(2)),
            Some("12.50"),
            1,
            "d",
        )
        .unwrap();
        let f = ArrayFormatter::try_new(d.as_ref(), &FormatOptions::default()).unwrap();
        assert_eq!(f.value(0).to_string(), "12.50");
        assert!(constant(&ColumnType::Int32, Some("x"), 1, "i").is_err());
        assert_eq!(
            constant(&ColumnType::Int32, None, 3, "i")
                .unwrap()
                .null_count(),
            3
        );
    }
}
