//! The Delta connector's rows of the published type matrix: the Delta type
//! each Ferry type is stored as, and the round trip through `ferry.type`.

use std::fmt::Write as _;

use arrow::datatypes::Field;
use deltalake::kernel::engine::arrow_conversion::TryFromArrow as _;
use ferry_core::ColumnType;

use super::types::{planned_type, stored_type};
use crate::matrix::{TypeMapping, code, round_trip};

/// The Delta part of the matrix.
pub(crate) struct DeltaTypes;

/// Delta's name of the stored Arrow type (the table schema's `type`).
fn delta_name(ty: &ColumnType) -> String {
    match stored_type(ty) {
        Ok(t) => {
            let field = Field::new("v", t, true);
            match deltalake::kernel::StructField::try_from_arrow(&field) {
                Ok(f) => f.data_type().to_string(),
                Err(e) => format!("not written: {e}"),
            }
        }
        Err(why) => format!("refused: {why}"),
    }
}

impl TypeMapping for DeltaTypes {
    fn title(&self) -> &'static str {
        "Delta Lake"
    }

    fn created(&self, ty: &ColumnType) -> (String, String) {
        let Ok(stored) = stored_type(ty) else {
            return ("refused (cast it to text)".into(), "–".into());
        };
        let field = Field::new("v", stored, true).with_metadata(
            [(
                ferry_core::types::FIELD_TYPE_KEY.to_string(),
                ty.to_string(),
            )]
            .into_iter()
            .collect(),
        );
        (
            code(&delta_name(ty)),
            round_trip(ty, planned_type(&field).ok().as_ref()),
        )
    }

    fn target_notes(&self) -> &'static [&'static str] {
        &[
            "Delta's types are Spark's. `time` is stored as text `HH:MM:SS[.ffffff]` and `uuid` \
             as its canonical text; the column's metadata keeps `ferry.type`, so Ferry reads both \
             back as they were (other readers see strings). `timestamp` is Delta's `timestamp_ntz` \
             (the table gets the `timestampNtz` feature), `timestamptz` Delta's `timestamp` (UTC \
             microseconds). `interval` is refused: cast it to text.",
        ]
    }

    fn native_section(&self, w: &mut String) {
        let _ = writeln!(w, "## Delta tables of other writers → ColumnType");
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "A column without Ferry's metadata is read by the Arrow type delta-rs gives it, as \
             for Parquet files of other writers (see the files connector)."
        );
        let _ = writeln!(w);
    }
}
