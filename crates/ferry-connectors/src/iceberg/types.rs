//! How Ferry's column types are kept in an Iceberg table, and back.
//!
//! Iceberg has `int` but no 16-bit integer, `uuid`/`fixed` but no JSON, and
//! no interval. A `smallint` is stored as `int`, text, JSON and wide
//! decimals as `string`, a UUID as `fixed[16]`; an `interval` is refused
//! (cast it to text). Each column's Ferry type is kept in the table
//! property `ferry.types` (Iceberg columns carry no free metadata), so
//! Ferry reads the table back with the types it wrote.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use ferry_core::{ColumnDef, ColumnType, Error, Result, TableSchema};

/// The table property holding each column's Ferry type (a JSON object).
pub(crate) const TYPES_PROPERTY: &str = "ferry.types";
/// The table property holding the primary key of the rows the table was
/// created from (a JSON array of column names).
pub(crate) const KEY_PROPERTY: &str = "ferry.primary-key";

/// The Arrow type handed to Iceberg for `ty`, or why it cannot be stored.
pub(crate) fn stored_type(ty: &ColumnType) -> std::result::Result<DataType, String> {
    Ok(match ty {
        ColumnType::Interval => {
            return Err("Iceberg has no interval type (cast the column to text)".into());
        }
        ColumnType::Int16 => DataType::Int32,
        ColumnType::List(elem) => {
            DataType::List(Arc::new(Field::new_list_field(stored_type(elem)?, true)))
        }
        other => other.arrow_type(),
    })
}

/// The Arrow schema a new table is created from, and the `ferry.types`
/// property value. Refuses a column Iceberg cannot keep, naming it.
pub(crate) fn creation_schema(display: &str, schema: &TableSchema) -> Result<(Schema, String)> {
    let mut problems = Vec::new();
    let mut fields = Vec::new();
    let mut types = BTreeMap::new();
    for c in &schema.columns {
        match stored_type(&c.ty) {
            Ok(t) => {
                fields.push(Field::new(&c.name, t, c.nullable));
                types.insert(c.name.clone(), c.ty.to_string());
            }
            Err(why) => problems.push(format!("column `{}` ({}): {why}", c.name, c.ty)),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Schema {
            table: display.to_string(),
            problems,
        });
    }
    let types = serde_json::to_string(&types).map_err(|e| Error::Internal(e.to_string()))?;
    Ok((Schema::new(fields), types))
}

/// The run's columns against an existing table's Arrow schema (as Iceberg
/// gives it): the same names, each column's stored type castable without
/// loss to the table's (`int` into `long` is, `long` into `int` is not).
pub(crate) fn check_fits(display: &str, table: &Schema, schema: &TableSchema) -> Result<()> {
    let mut problems = Vec::new();
    for c in &schema.columns {
        let Ok(want) = stored_type(&c.ty) else {
            problems.push(format!(
                "column `{}` ({}): Iceberg has no such type",
                c.name, c.ty
            ));
            continue;
        };
        match table.field_with_name(&c.name) {
            Ok(f) if same_kind(&want, f.data_type()) => {}
            Ok(f) => problems.push(format!(
                "column `{}` is {} in the table, {} in the run",
                c.name,
                f.data_type(),
                want
            )),
            Err(_) => problems.push(format!("column `{}` is not in the table", c.name)),
        }
    }
    for f in table.fields() {
        if schema.column(f.name()).is_none() {
            problems.push(format!(
                "the table's column `{}` is not written by the run",
                f.name()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Schema {
            table: display.to_string(),
            problems,
        })
    }
}

/// Whether values of Arrow type `run` go into a table column of Arrow type
/// `table` unchanged (Iceberg's own Arrow forms: binary is `LargeBinary`,
/// UTC is `+00:00`).
fn same_kind(run: &DataType, table: &DataType) -> bool {
    use DataType::*;
    match (run, table) {
        (a, b) if a == b => true,
        (Binary, LargeBinary) | (Utf8, LargeUtf8) | (Int32, Int64) => true,
        (Timestamp(u1, Some(_)), Timestamp(u2, Some(_))) => u1 == u2,
        (List(a), List(b)) | (List(a), LargeList(b)) => same_kind(a.data_type(), b.data_type()),
        _ => false,
    }
}

/// `batch` as the table's Arrow schema (`target`, with Iceberg's field ids).
pub(crate) fn to_table(
    batch: &RecordBatch,
    target: &SchemaRef,
    display: &str,
) -> Result<RecordBatch> {
    let columns = target
        .fields()
        .iter()
        .map(|f| {
            let i = batch.schema().index_of(f.name()).map_err(|_| {
                Error::Internal(format!(
                    "{display}: column `{}` missing from the batch",
                    f.name()
                ))
            })?;
            cast_exact(batch.column(i), f.data_type(), f.name(), display)
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new_with_options(
        Arc::clone(target),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(|e| Error::Internal(format!("{display}: {e}")))
}

/// `array` cast to `to`, failing (never rounding or wrapping) on a value
/// that does not fit.
pub(crate) fn cast_exact(
    array: &ArrayRef,
    to: &DataType,
    column: &str,
    display: &str,
) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(array, to, &options).map_err(|e| Error::DirtyData {
        column: column.to_string(),
        message: format!("{display}: {} as {to}: {e}", array.data_type()),
    })
}

/// The table schema a source plans from a table's Arrow schema and its
/// `ferry.types` and `ferry.primary-key` properties (absent for tables
/// Ferry did not create).
pub(crate) fn table_schema(
    display: &str,
    arrow: &Schema,
    types: Option<&String>,
    key: Option<&String>,
) -> TableSchema {
    let recorded: BTreeMap<String, String> = types
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let columns = arrow
        .fields()
        .iter()
        .map(|f| {
            let from_arrow = crate::files::column_type(&plain(f));
            let ty = recorded
                .get(f.name())
                .and_then(|t| t.parse::<ColumnType>().ok())
                .map(Ok)
                .unwrap_or(from_arrow);
            let (ty, native) = match ty {
                Ok(ty) => (ty, f.data_type().to_string()),
                Err(_) => (
                    ColumnType::Binary,
                    format!("unsupported: {}", f.data_type()),
                ),
            };
            ColumnDef {
                name: f.name().clone(),
                ty,
                nullable: f.is_nullable(),
                native_type: native,
                dialect: None,
            }
        })
        .collect();
    let primary_key: Vec<String> = key
        .and_then(|k| serde_json::from_str(k).ok())
        .unwrap_or_default();
    let known = primary_key.iter().all(|k| arrow.field_with_name(k).is_ok());
    TableSchema {
        table: display.to_string(),
        columns,
        primary_key: if known { primary_key } else { Vec::new() },
    }
}

/// `f` without Iceberg's field-id metadata, with Iceberg's Arrow forms as
/// Ferry reads them (`LargeBinary` as binary, `+00:00` as UTC).
fn plain(f: &Field) -> Field {
    let dt = match f.data_type() {
        DataType::LargeBinary => DataType::Binary,
        DataType::LargeUtf8 => DataType::Utf8,
        DataType::Timestamp(u, Some(_)) => DataType::Timestamp(*u, Some("UTC".into())),
        other => other.clone(),
    };
    Field::new(f.name(), dt, f.is_nullable())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: ColumnType) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            ty,
            nullable: true,
            native_type: String::new(),
            dialect: None,
        }
    }

    #[test]
    fn ferry_types_survive_through_the_property() {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                col("s", ColumnType::Int16),
                col("j", ColumnType::Json),
                col("u", ColumnType::Uuid),
            ],
            primary_key: Vec::new(),
        };
        let (arrow, types) = creation_schema("t", &schema).unwrap();
        assert_eq!(arrow.field(0).data_type(), &DataType::Int32);
        let back = table_schema("t", &arrow, Some(&types), None);
        let tys: Vec<_> = back.columns.iter().map(|c| c.ty.clone()).collect();
        assert_eq!(
            tys,
            vec![ColumnType::Int16, ColumnType::Json, ColumnType::Uuid]
        );
    }

    #[test]
    fn an_interval_is_refused_naming_the_column() {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![col("span", ColumnType::Interval)],
            primary_key: Vec::new(),
        };
        let e = creation_schema("t", &schema).unwrap_err().to_string();
        assert!(e.contains("span") && e.contains("interval"), "{e}");
    }
}
