//! The columns of Parquet files: the Arrow schema in a file's footer,
//! read as Ferry's column types, and the cast of a file's batches to the
//! planned schema.
//!
//! A file Ferry wrote carries each column's type in the Arrow field
//! metadata (`ferry.type`), so it reads back exactly (`varchar(44)`,
//! `decimal(40,10)` as text, `uuid`, `json`). A file from another writer
//! (Spark, pyarrow, DuckDB) is read by its Arrow types: integers and
//! floats as they are (unsigned ones in the next wider signed type, a
//! `uint64` as `decimal(20,0)`), timestamps of any unit as microseconds (a
//! value with nanoseconds fails the read naming the column: microseconds
//! are Ferry's precision), `Utf8`/`LargeUtf8`/`Utf8View` as text.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, TimestampNanosecondArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ferry_core::schema::field_column_type;
use ferry_core::{ColumnDef, ColumnType, Error, Result, TableSchema};
use futures::TryStreamExt;
use object_store::ObjectMeta;
use object_store::path::Path;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::async_reader::ParquetObjectReader;

use super::columns::{PARTITION_COLUMNS, PartitionColumn};
use super::publish::is_data;
use super::store::Storage;

/// Arrow schema metadata key of the primary key (a JSON array of names).
pub(crate) const PRIMARY_KEY: &str = "ferry.primary_key";

/// Ferry's type for a column of a Parquet file.
pub(crate) fn column_type(field: &Field) -> Result<ColumnType> {
    if field
        .metadata()
        .contains_key(ferry_core::types::FIELD_TYPE_KEY)
    {
        return field_column_type(field);
    }
    Ok(match field.data_type() {
        DataType::Timestamp(_, None) => ColumnType::Timestamp,
        DataType::Timestamp(_, Some(_)) => ColumnType::TimestampTz,
        DataType::Time32(_) | DataType::Time64(_) => ColumnType::Time,
        DataType::Utf8View => ColumnType::Text {
            max_chars: None,
            fixed: false,
        },
        DataType::BinaryView | DataType::FixedSizeBinary(_) => ColumnType::Binary,
        DataType::UInt64 => ColumnType::Decimal {
            precision: 20,
            scale: 0,
        },
        DataType::List(f) | DataType::LargeList(f) => {
            let elem = column_type(f)?;
            if !elem.is_list_element() {
                return Err(unsupported(field));
            }
            ColumnType::list(elem)
        }
        _ => field_column_type(field).map_err(|_| unsupported(field))?,
    })
}

fn unsupported(field: &Field) -> Error {
    Error::Unsupported {
        connector: super::CONNECTOR,
        capability: format!(
            "Parquet column `{}` of Arrow type {} (leave it out with `columns:`)",
            field.name(),
            field.data_type()
        ),
    }
}

/// The table schema of a file's Arrow schema (with the primary key and the
/// partition columns Ferry wrote into its metadata, the latter after the
/// file's columns); columns the task does not read may have any type (they
/// are only named).
pub(crate) fn table_schema(display: &str, schema: &Schema) -> TableSchema {
    let columns: Vec<ColumnDef> = schema
        .fields()
        .iter()
        .map(|f| {
            let (ty, native) = match column_type(f) {
                Ok(ty) => (ty, f.data_type().to_string()),
                // Kept so `columns:` can leave it out; reading it fails.
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
    let mut columns = columns;
    for p in partition_columns(schema) {
        if let (Ok(ty), false) = (p.ty.parse(), columns.iter().any(|c| c.name == p.name)) {
            columns.push(ColumnDef {
                name: p.name,
                ty,
                nullable: true,
                native_type: format!("partition {}", p.ty),
                dialect: None,
            });
        }
    }
    let primary_key: Vec<String> = schema
        .metadata()
        .get(PRIMARY_KEY)
        .and_then(|k| serde_json::from_str(k).ok())
        .unwrap_or_default();
    let known = primary_key
        .iter()
        .all(|k| columns.iter().any(|c| &c.name == k));
    TableSchema {
        table: display.to_string(),
        columns,
        primary_key: if known { primary_key } else { Vec::new() },
    }
}

/// The partition columns Ferry recorded in a file's Arrow schema.
pub(crate) fn partition_columns(schema: &Schema) -> Vec<PartitionColumn> {
    schema
        .metadata()
        .get(PARTITION_COLUMNS)
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default()
}

/// The Parquet file `meta` opened at its footer.
pub(crate) async fn footer(
    storage: &Storage,
    meta: &ObjectMeta,
) -> Result<ParquetRecordBatchStreamBuilder<ParquetObjectReader>> {
    let reader = ParquetObjectReader::new(storage.store.clone(), meta.location.clone())
        .with_file_size(meta.size);
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| {
            storage.failure(
                &format!("reading the footer of {}", storage.show(&meta.location)),
                e,
            )
        })
}

/// The Arrow schema in the footer of the Parquet file `meta`.
pub(crate) async fn file_schema(storage: &Storage, meta: &ObjectMeta) -> Result<SchemaRef> {
    Ok(footer(storage, meta).await?.schema().clone())
}

/// The row count in the footer of the Parquet file `meta`.
pub(crate) async fn row_count(storage: &Storage, meta: &ObjectMeta) -> Result<u64> {
    let builder = footer(storage, meta).await?;
    Ok(u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0))
}

/// The schema of one data file of the dataset, if it has any: what a
/// sink's batches must match.
pub(crate) async fn existing_schema(storage: &Storage) -> Result<Option<(Path, SchemaRef)>> {
    let mut listing = storage.store.list(Some(&storage.root));
    while let Some(meta) = listing
        .try_next()
        .await
        .map_err(|e| storage.error("listing the dataset", e))?
    {
        let rel = storage.relative(&meta.location);
        if is_data(&rel) && rel.ends_with(".parquet") {
            let schema = file_schema(storage, &meta).await?;
            return Ok(Some((meta.location, schema)));
        }
    }
    Ok(None)
}

/// A file's `columns` (in the planned order) as a batch of the planned
/// schema: each cast to the planned Arrow type where the file's differs
/// (wider integers, timestamps in microseconds). A nanosecond value that
/// microseconds cannot hold fails, naming it.
pub(crate) fn conform(
    columns: Vec<ArrayRef>,
    rows: usize,
    planned: &SchemaRef,
    file: &str,
) -> Result<RecordBatch> {
    let mut out: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (field, array) in planned.fields().iter().zip(columns) {
        if array.data_type() == field.data_type() {
            out.push(array);
            continue;
        }
        if let DataType::Timestamp(TimeUnit::Nanosecond, _) = array.data_type()
            && let Some(a) = array.as_any().downcast_ref::<TimestampNanosecondArray>()
            && let Some(i) = (0..a.len()).find(|&i| a.is_valid(i) && a.value(i) % 1000 != 0)
        {
            return Err(Error::DirtyData {
                column: field.name().clone(),
                message: format!(
                    "{file}: row {i} has nanoseconds ({}); Ferry keeps microseconds",
                    a.value(i)
                ),
            });
        }
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let cast =
            cast_with_options(&array, field.data_type(), &options).map_err(|e| Error::Schema {
                table: file.to_string(),
                problems: vec![format!(
                    "column `{}` is {} in this file, {} in the plan: {e}",
                    field.name(),
                    array.data_type(),
                    field.data_type()
                )],
            })?;
        out.push(cast);
    }
    RecordBatch::try_new_with_options(
        Arc::clone(planned),
        out,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| Error::Internal(format!("{file}: {e}")))
}
