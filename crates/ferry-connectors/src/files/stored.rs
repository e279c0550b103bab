//! What a files sink's data files hold: the run's columns minus the
//! partition columns (which live in directory names), with the primary key
//! and the partition columns' types in the Arrow schema metadata; and the
//! checks that the run's columns fit Parquet, Hive and an existing dataset.

use ferry_core::{ColumnType, Error, Result, TableSchema};

use super::columns::{self, PARTITION_COLUMNS, PartitionColumn};
use super::hive::hive_type;
use super::partition::{Layout, WindowLayout};
use super::schema::PRIMARY_KEY;

/// The partition columns of `schema` (index, name), checked.
pub(super) fn partition_columns(
    schema: &TableSchema,
    layout: Option<&Layout>,
) -> Result<Vec<(usize, String)>> {
    let Some(layout) = layout else {
        return Ok(Vec::new());
    };
    layout
        .columns
        .iter()
        .map(|name| {
            let i = schema
                .columns
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| {
                    Error::invalid(
                        "sink.partition.columns",
                        format!("`{name}` is not a column of the run's output"),
                    )
                })?;
            let ty = &schema.columns[i].ty;
            if !columns::allowed(ty) {
                return Err(Error::invalid(
                    "sink.partition.columns",
                    format!(
                        "`{name}` is {ty}: partition columns are booleans, integers, decimals, text or dates"
                    ),
                ));
            }
            Ok((i, name.clone()))
        })
        .collect()
}

/// The columns stored in the files: all but the partition columns (and
/// the key only if it is stored whole).
pub(super) fn stored_schema(schema: &TableSchema, part_columns: &[(usize, String)]) -> TableSchema {
    let columns: Vec<_> = schema
        .columns
        .iter()
        .filter(|c| !part_columns.iter().any(|(_, n)| n == &c.name))
        .cloned()
        .collect();
    let whole_key = schema
        .primary_key
        .iter()
        .all(|k| columns.iter().any(|c| &c.name == k));
    TableSchema {
        table: schema.table.clone(),
        columns,
        primary_key: if whole_key {
            schema.primary_key.clone()
        } else {
            Vec::new()
        },
    }
}

/// Hive partition keys with their types: the window's as `string`, the
/// columns' by their types.
pub(super) fn hive_keys(schema: &TableSchema, layout: Option<&Layout>) -> Vec<(String, String)> {
    let Some(layout) = layout else {
        return Vec::new();
    };
    let mut keys: Vec<(String, String)> = layout
        .window
        .as_ref()
        .map(WindowLayout::keys)
        .unwrap_or_default()
        .into_iter()
        .map(|k| (k, "string".to_string()))
        .collect();
    for name in &layout.columns {
        let ty = schema
            .column(name)
            .and_then(|c| hive_type(&c.ty))
            .unwrap_or_else(|| "string".into());
        keys.push((name.clone(), ty));
    }
    keys
}

/// The files' Arrow schema: the stored columns, with the primary key and
/// the partition columns (names and Ferry types) in its metadata, so the
/// files source gives both back.
pub(super) fn file_arrow_schema(
    stored: &TableSchema,
    full: &TableSchema,
    part_columns: &[(usize, String)],
) -> arrow::datatypes::SchemaRef {
    let arrow = stored.arrow_schema();
    let mut metadata = std::collections::HashMap::new();
    if !full.primary_key.is_empty() {
        let key = serde_json::to_string(&full.primary_key).unwrap_or_default();
        metadata.insert(PRIMARY_KEY.to_string(), key);
    }
    if !part_columns.is_empty() {
        let cols: Vec<PartitionColumn> = part_columns
            .iter()
            .map(|(i, name)| PartitionColumn {
                name: name.clone(),
                ty: full.columns[*i].ty.to_string(),
            })
            .collect();
        metadata.insert(
            PARTITION_COLUMNS.to_string(),
            serde_json::to_string(&cols).unwrap_or_default(),
        );
    }
    if metadata.is_empty() {
        return arrow;
    }
    std::sync::Arc::new(arrow.as_ref().clone().with_metadata(metadata))
}

/// Columns Parquet cannot hold exactly: a month-day-nanosecond interval.
pub(super) fn refuse_unwritable(display: &str, schema: &TableSchema) -> Result<()> {
    let problems: Vec<String> = schema
        .columns
        .iter()
        .filter(|c| {
            matches!(&c.ty, ColumnType::Interval)
                || matches!(&c.ty, ColumnType::List(e) if **e == ColumnType::Interval)
        })
        .map(|c| {
            format!(
                "column `{}` is {}: Parquet has no interval of months, days and nanoseconds; \
                 cast it to text (`mapping.cast: {{{}: text}}`)",
                c.name, c.ty, c.name
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Schema {
            table: display.to_string(),
            problems,
        })
    }
}

/// The batches must have exactly the existing files' columns and types.
pub(super) fn check_fits(
    file: &str,
    existing: &arrow::datatypes::Schema,
    schema: &TableSchema,
) -> Result<()> {
    let incoming = schema.arrow_schema();
    let mut problems = Vec::new();
    for f in incoming.fields() {
        match existing.field_with_name(f.name()) {
            Err(_) => problems.push(format!(
                "column `{}` is not in the existing files",
                f.name()
            )),
            Ok(e) if e.data_type() != f.data_type() => problems.push(format!(
                "column `{}` is {} in the existing files, the run writes {}",
                f.name(),
                e.data_type(),
                f.data_type()
            )),
            Ok(_) => {}
        }
    }
    for e in existing.fields() {
        if incoming.field_with_name(e.name()).is_err() {
            problems.push(format!(
                "column `{}` of the existing files is not written",
                e.name()
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.push(format!(
        "(compared with {file}; overwrite the whole dataset, or write a new path)"
    ));
    Err(Error::Schema {
        table: file.to_string(),
        problems,
    })
}
