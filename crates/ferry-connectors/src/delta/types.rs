//! How Ferry's column types are kept in a Delta table, and back.
//!
//! Delta's types are Spark's: no time of day, no UUID, no interval. A
//! `time` column is stored as its text (`HH:MM:SS[.ffffff]`) and a `uuid`
//! as its canonical text (`8-4-4-4-12` lowercase hex); both keep Ferry's
//! type in the column's metadata (`ferry.type`, which Delta keeps in the
//! table schema), so Ferry reads them back as they were. An `interval` is
//! refused (cast it to text). Every other type is stored as its Arrow type
//! (`timestamp` as Delta's `timestamp_ntz`, `timestamptz` as `timestamp`).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, FixedSizeBinaryArray, FixedSizeBinaryBuilder, ListArray, RecordBatch,
    StringArray, StringBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use ferry_core::types::FIELD_TYPE_KEY;
use ferry_core::{ColumnType, Error, Result, TableSchema};

/// The Arrow type a Delta table keeps `ty` as, or why it cannot.
pub(crate) fn stored_type(ty: &ColumnType) -> std::result::Result<DataType, String> {
    Ok(match ty {
        ColumnType::Interval => {
            return Err("Delta has no interval type (cast the column to text)".into());
        }
        ColumnType::Uuid | ColumnType::Time => DataType::Utf8,
        ColumnType::List(elem) => {
            DataType::List(Arc::new(Field::new_list_field(stored_type(elem)?, true)))
        }
        other => other.arrow_type(),
    })
}

/// Column metadata key marking a primary-key column: its position in the
/// key (`0`, `1`, …). Delta tables have no key; Ferry keeps the source's
/// so that rows read back are named by it (dirty records, merges).
const KEY_POSITION: &str = "ferry.key";

/// The Arrow schema of the table for `schema`: each column's stored type,
/// with `ferry.type` (and `ferry.key` on key columns) in its metadata.
/// Refuses a column Delta cannot keep.
pub(crate) fn stored_schema(display: &str, schema: &TableSchema) -> Result<SchemaRef> {
    let mut problems = Vec::new();
    let mut fields = Vec::new();
    for c in &schema.columns {
        let mut metadata: std::collections::HashMap<String, String> =
            [(FIELD_TYPE_KEY.to_string(), c.ty.to_string())]
                .into_iter()
                .collect();
        if let Some(i) = schema.primary_key.iter().position(|k| k == &c.name) {
            metadata.insert(KEY_POSITION.to_string(), i.to_string());
        }
        match stored_type(&c.ty) {
            Ok(t) => fields.push(Field::new(&c.name, t, c.nullable).with_metadata(metadata)),
            Err(why) => problems.push(format!("column `{}` ({}): {why}", c.name, c.ty)),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Schema {
            table: display.to_string(),
            problems,
        });
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The primary key Ferry recorded in a table's columns (empty if none).
pub(crate) fn primary_key(schema: &Schema) -> Vec<String> {
    let mut key: Vec<(usize, String)> = schema
        .fields()
        .iter()
        .filter_map(|f| {
            let pos = f.metadata().get(KEY_POSITION)?.parse().ok()?;
            Some((pos, f.name().clone()))
        })
        .collect();
    key.sort();
    let complete = key.iter().enumerate().all(|(i, (p, _))| i == *p);
    if complete {
        key.into_iter().map(|(_, n)| n).collect()
    } else {
        Vec::new()
    }
}

/// `batch` (Ferry's Arrow types) as the table keeps it (`stored`).
pub(crate) fn to_stored(batch: &RecordBatch, stored: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(stored.fields())
        .map(|(a, f)| to_stored_array(a, f.data_type()))
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(Arc::clone(stored), columns).map_err(|e| Error::Internal(e.to_string()))
}

fn to_stored_array(array: &ArrayRef, stored: &DataType) -> Result<ArrayRef> {
    if array.data_type() == stored {
        return Ok(Arc::clone(array));
    }
    match (array.data_type(), stored) {
        (DataType::FixedSizeBinary(16), DataType::Utf8) => {
            let a = array
                .as_any()
                .downcast_ref::<FixedSizeBinaryArray>()
                .ok_or_else(|| Error::Internal("uuid column is not FixedSizeBinary".into()))?;
            let mut out = StringBuilder::with_capacity(a.len(), a.len() * 36);
            for i in 0..a.len() {
                if a.is_null(i) {
                    out.append_null();
                } else {
                    out.append_value(uuid_text(a.value(i)));
                }
            }
            Ok(Arc::new(out.finish()))
        }
        (DataType::List(_), DataType::List(elem)) => {
            let list = array
                .as_any()
                .downcast_ref::<ListArray>()
                .ok_or_else(|| Error::Internal("list column is not a ListArray".into()))?;
            let values = to_stored_array(list.values(), elem.data_type())?;
            Ok(Arc::new(ListArray::new(
                Arc::clone(elem),
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )))
        }
        _ => cast(array, stored).map_err(|e| Error::Internal(format!("to Delta: {e}"))),
    }
}

/// `8-4-4-4-12` lowercase hex.
fn uuid_text(b: &[u8]) -> String {
    let hex = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The field a source plans for a column of the table: Ferry's type from
/// `ferry.type` where Ferry wrote the table, else from the Arrow type.
pub(crate) fn planned_type(field: &Field) -> Result<ColumnType> {
    crate::files::column_type(field)
}

/// `array` as read from the table, as Ferry's Arrow type for `planned`
/// (text back to `uuid` and `time`, timestamps to microseconds).
pub(crate) fn from_stored(array: &ArrayRef, planned: &FieldRef, table: &str) -> Result<ArrayRef> {
    let want = planned.data_type();
    if array.data_type() == want {
        return Ok(Arc::clone(array));
    }
    let text = if matches!(array.data_type(), DataType::Utf8View | DataType::LargeUtf8) {
        cast(array, &DataType::Utf8).map_err(|e| Error::Internal(e.to_string()))?
    } else {
        Arc::clone(array)
    };
    let bad = |why: String| Error::DirtyData {
        column: planned.name().clone(),
        message: format!("{table}: {why}"),
    };
    match (text.data_type(), want) {
        (DataType::Utf8, DataType::FixedSizeBinary(16)) => {
            let a = text
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| Error::Internal("not a string array".into()))?;
            let mut out = FixedSizeBinaryBuilder::with_capacity(a.len(), 16);
            for i in 0..a.len() {
                if a.is_null(i) {
                    out.append_null();
                    continue;
                }
                let s = a.value(i);
                let bytes = hex::decode(s.replace('-', ""))
                    .ok()
                    .filter(|b| b.len() == 16 && s.len() == 36)
                    .ok_or_else(|| bad(format!("`{s}` is not a UUID")))?;
                out.append_value(&bytes)
                    .map_err(|e| Error::Internal(e.to_string()))?;
            }
            Ok(Arc::new(out.finish()))
        }
        (_, DataType::List(elem)) => {
            let list = text
                .as_any()
                .downcast_ref::<ListArray>()
                .ok_or_else(|| bad(format!("{} is not a list", text.data_type())))?;
            let values = from_stored(list.values(), elem, table)?;
            Ok(Arc::new(ListArray::new(
                Arc::clone(elem),
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )))
        }
        (DataType::Timestamp(TimeUnit::Nanosecond, _), DataType::Timestamp(..)) => {
            let nanos =
                cast(&text, &DataType::Int64).map_err(|e| Error::Internal(e.to_string()))?;
            let nanos = nanos
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .ok_or_else(|| Error::Internal("not an int64 array".into()))?;
            if let Some(i) =
                (0..nanos.len()).find(|&i| nanos.is_valid(i) && nanos.value(i) % 1000 != 0)
            {
                return Err(bad(format!(
                    "row {i} has nanoseconds ({}); Ferry keeps microseconds",
                    nanos.value(i)
                )));
            }
            cast(&text, want).map_err(|e| Error::Internal(e.to_string()))
        }
        _ => arrow::compute::cast_with_options(
            &text,
            want,
            &arrow::compute::CastOptions {
                safe: false,
                ..Default::default()
            },
        )
        .map_err(|e| bad(format!("{} as {want}: {e}", text.data_type()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_and_time_travel_as_text_and_back() {
        let uuid: ArrayRef = Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                [Some([0xabu8; 16]), None].into_iter(),
                16,
            )
            .unwrap(),
        );
        let text = to_stored_array(&uuid, &DataType::Utf8).unwrap();
        let s = text.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(s.value(0), "abababab-abab-abab-abab-abababababab");
        assert!(s.is_null(1));
        let planned: FieldRef = Arc::new(Field::new("u", DataType::FixedSizeBinary(16), true));
        assert_eq!(&from_stored(&text, &planned, "t").unwrap(), &uuid);

        let time: ArrayRef = Arc::new(arrow::array::Time64MicrosecondArray::from(vec![
            Some(3_723_000_001),
            None,
            Some(0),
        ]));
        let text = to_stored_array(&time, &DataType::Utf8).unwrap();
        let planned: FieldRef = Arc::new(Field::new(
            "t",
            DataType::Time64(TimeUnit::Microsecond),
            true,
        ));
        assert_eq!(&from_stored(&text, &planned, "t").unwrap(), &time);
    }

    #[test]
    fn an_interval_is_refused_naming_the_column() {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![ferry_core::ColumnDef {
                name: "span".into(),
                ty: ColumnType::Interval,
                nullable: true,
                native_type: "interval".into(),
                dialect: None,
            }],
            primary_key: Vec::new(),
        };
        let e = stored_schema("t", &schema).unwrap_err().to_string();
        assert!(e.contains("span") && e.contains("interval"), "{e}");
    }
}
