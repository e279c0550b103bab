//! The Iceberg connector's rows of the published type matrix: the Iceberg
//! type each Ferry type is stored as, and the round trip through the
//! `ferry.types` table property.

use std::fmt::Write as _;

use arrow::datatypes::{Field, Schema};
use ferry_core::{ColumnDef, ColumnType, TableSchema};

use super::types::{creation_schema, stored_type, table_schema};
use crate::matrix::{TypeMapping, code, round_trip};

/// The Iceberg part of the matrix.
pub(crate) struct IcebergTypes;

impl TypeMapping for IcebergTypes {
    fn title(&self) -> &'static str {
        "Apache Iceberg"
    }

    fn created(&self, ty: &ColumnType) -> (String, String) {
        let Ok(stored) = stored_type(ty) else {
            return ("refused (cast it to text)".into(), "–".into());
        };
        let schema = Schema::new(vec![Field::new("v", stored, true)]);
        let iceberg = match iceberg::arrow::arrow_schema_to_schema_auto_assign_ids(&schema) {
            Ok(s) => s
                .as_struct()
                .fields()
                .first()
                .map(|f| f.field_type.to_string())
                .unwrap_or_default(),
            Err(e) => format!("not written: {e}"),
        };
        let run = TableSchema {
            table: String::new(),
            columns: vec![ColumnDef {
                name: "v".into(),
                ty: ty.clone(),
                nullable: true,
                native_type: String::new(),
                dialect: None,
            }],
            primary_key: Vec::new(),
        };
        let back = creation_schema("", &run)
            .ok()
            .map(|(arrow, types)| table_schema("", &arrow, Some(&types), None))
            .and_then(|s| s.columns.first().map(|c| c.ty.clone()));
        (code(&iceberg), round_trip(ty, back.as_ref()))
    }

    fn target_notes(&self) -> &'static [&'static str] {
        &[
            "Iceberg columns carry no free metadata, so a table Ferry creates keeps each column's \
             Ferry type in the table property `ferry.types`, and Ferry reads it back with those \
             types. `smallint` is stored as `int`; text, JSON and wide decimals as `string`; a \
             UUID as `fixed[16]`; `time` as `time` (microseconds), `timestamp` as `timestamp`, \
             `timestamptz` as `timestamptz`. `interval` is refused: cast it to text.",
        ]
    }

    fn native_section(&self, w: &mut String) {
        let _ = writeln!(w, "## Iceberg tables of other writers → ColumnType");
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "A table without `ferry.types` is read by the Arrow types iceberg-rust gives its \
             columns, as for Parquet files of other writers (see the files connector); `binary` \
             arrives as large binary and is read as bytes."
        );
        let _ = writeln!(w);
    }
}
