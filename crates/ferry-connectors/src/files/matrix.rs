//! The files connector's rows of the published type matrix: the Parquet
//! column Arrow's writer derives from each type, and how Parquet columns of
//! other writers are read.

use std::fmt::Write as _;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use ferry_core::ColumnType;
use parquet::arrow::ArrowSchemaConverter;

use super::schema::column_type;
use crate::matrix::{TypeMapping, code, round_trip};

/// Parquet columns written by others, as the source reads them.
fn foreign_types() -> Vec<DataType> {
    vec![
        DataType::Int8,
        DataType::UInt8,
        DataType::UInt16,
        DataType::UInt32,
        DataType::UInt64,
        DataType::Timestamp(TimeUnit::Millisecond, None),
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        DataType::Time32(TimeUnit::Millisecond),
        DataType::LargeUtf8,
        DataType::Utf8View,
        DataType::FixedSizeBinary(16),
        DataType::Float16,
        DataType::Date64,
    ]
}

/// The Parquet part of the matrix.
pub(crate) struct ParquetTypes;

/// The Parquet leaf Arrow's writer derives from `ty`: `physical / logical`.
fn parquet_column(ty: &ColumnType) -> String {
    let schema = Schema::new(vec![Field::new("v", ty.arrow_type(), true)]);
    match ArrowSchemaConverter::new().convert(&schema) {
        Ok(d) => {
            let c = d.column(0);
            match c.logical_type_ref() {
                Some(l) => format!("{:?} {l:?}", c.physical_type()),
                None => format!("{:?}", c.physical_type()),
            }
        }
        Err(e) => format!("not written: {e}"),
    }
}

impl TypeMapping for ParquetTypes {
    fn title(&self) -> &'static str {
        "Parquet (files)"
    }

    fn created(&self, ty: &ColumnType) -> (String, String) {
        let interval = |t: &ColumnType| *t == ColumnType::Interval;
        if interval(ty) || matches!(ty, ColumnType::List(e) if interval(e)) {
            return ("refused (cast it to text)".into(), "–".into());
        }
        // The Arrow schema in the file's metadata carries `ferry.type`:
        // every type reads back as itself.
        let back = ferry_core::TableSchema {
            table: String::new(),
            columns: vec![ferry_core::ColumnDef {
                name: "v".into(),
                ty: ty.clone(),
                nullable: true,
                native_type: String::new(),
                dialect: None,
            }],
            primary_key: Vec::new(),
        }
        .arrow_schema();
        (
            code(&parquet_column(ty)),
            round_trip(ty, column_type(back.field(0)).ok().as_ref()),
        )
    }

    fn target_notes(&self) -> &'static [&'static str] {
        &[
            "Parquet files keep the Arrow schema, with each column's Ferry type, in their metadata \
             (`ARROW:schema`): every type reads back as itself, and other readers see the Parquet \
             column above. `uuid` is 16 bytes without the `UUID` logical type; `interval` is \
             refused by the files sink (Parquet's `INTERVAL` holds months, days and milliseconds): \
             cast it to text. NaN and ±Infinity are stored as they are.",
            "`format: csv` and `format: jsonl` write every value as the typed JSON of Ferry's dirty \
             records, which keeps every digit: JSON numbers for booleans, 16/32-bit integers, \
             64-bit integers within ±2^53 − 1 and finite floats; strings for larger integers, \
             decimals, NaN/±Infinity, dates, times, timestamps, intervals (ISO text), UUIDs and \
             bytes (`\\x0102`); lists as JSON arrays. CSV quotes every string, so NULL (an empty \
             unquoted field) stays apart from an empty string (`\"\"`). Both are written only; \
             the source reads Parquet.",
        ]
    }

    fn native_section(&self, w: &mut String) {
        let _ = writeln!(w, "## Parquet files of other writers → ColumnType");
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "A file without Ferry's metadata is read by its Arrow types; values are cast to the \
             Arrow type of the `ColumnType` (a nanosecond timestamp with sub-microsecond digits \
             fails the read naming the column)."
        );
        let _ = writeln!(w);
        let _ = writeln!(w, "| Arrow type in the file | ColumnType |\n|---|---|");
        for dt in foreign_types() {
            let ty = column_type(&Field::new("v", dt.clone(), true))
                .map_or_else(|_| "not read".to_string(), |t| format!("`{t}`"));
            let _ = writeln!(w, "| `{dt}` | {ty} |");
        }
        let _ = writeln!(w);
    }
}
