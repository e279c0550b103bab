//! A table's shape as Ferry sees it: named columns with a [`ColumnType`],
//! nullability, the native type they came from, and the primary key.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};

use crate::types::{ColumnType, FIELD_DIALECT_KEY, FIELD_NATIVE_KEY, FIELD_TYPE_KEY};
use crate::{Error, Result};

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name, exactly as stored in the database.
    pub name: String,
    /// Logical type.
    pub ty: ColumnType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The native type as the database names it (e.g. `character varying(44)`).
    pub native_type: String,
    /// The SQL dialect whose exact column type `native_type` is (`"postgres"`,
    /// `"mysql"`), set by sources that read it from their catalog. A sink of the
    /// same dialect creates the column with that type; others map `ty`.
    /// `None` when the type was declared, inferred or computed.
    pub dialect: Option<&'static str>,
}

/// The columns and primary key of a table (or of a query's result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// The table's display name, e.g. `public.orders`.
    pub table: String,
    /// Columns in their stored order.
    pub columns: Vec<ColumnDef>,
    /// Primary-key column names, in key order; empty when there is none.
    pub primary_key: Vec<String>,
}

impl TableSchema {
    /// The Arrow schema of batches carrying this table's rows.
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| {
                let mut md = HashMap::from([
                    (FIELD_TYPE_KEY.to_string(), c.ty.to_string()),
                    (FIELD_NATIVE_KEY.to_string(), c.native_type.clone()),
                ]);
                if let Some(d) = c.dialect {
                    md.insert(FIELD_DIALECT_KEY.to_string(), d.to_string());
                }
                Field::new(&c.name, c.ty.arrow_type(), c.nullable).with_metadata(md)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Keeps only `names`, in that order; errors name each missing column.
    pub fn project(&self, names: &[String]) -> Result<TableSchema> {
        let mut columns = Vec::with_capacity(names.len());
        let mut missing = Vec::new();
        for n in names {
            match self.column(n) {
                Some(c) => columns.push(c.clone()),
                None => missing.push(n.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::NotFound {
                what: "column",
                name: missing.join("`, `"),
                hint: Some(format!(
                    "table {} has: {}",
                    self.table,
                    self.columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
        }
        let primary_key = if self.primary_key.iter().all(|k| names.contains(k)) {
            self.primary_key.clone()
        } else {
            Vec::new()
        };
        Ok(TableSchema {
            table: self.table.clone(),
            columns,
            primary_key,
        })
    }
}

/// Reads the [`ColumnType`] a field carries in its metadata, falling back to
/// the Arrow type for fields that did not come from a Ferry source.
pub fn field_column_type(field: &Field) -> Result<ColumnType> {
    if let Some(t) = field.metadata().get(FIELD_TYPE_KEY) {
        return t
            .parse()
            .map_err(|e| Error::Internal(format!("field {}: {e}", field.name())));
    }
    use arrow::datatypes::DataType as D;
    Ok(match field.data_type() {
        D::Boolean => ColumnType::Bool,
        D::Int16 | D::Int8 | D::UInt8 => ColumnType::Int16,
        D::Int32 | D::UInt16 => ColumnType::Int32,
        D::Int64 | D::UInt32 => ColumnType::Int64,
        D::Float32 => ColumnType::Float32,
        D::Float64 => ColumnType::Float64,
        D::Decimal128(p, s) if *s >= 0 => ColumnType::Decimal {
            precision: *p,
            scale: *s as u8,
        },
        D::Utf8 | D::LargeUtf8 => ColumnType::Text {
            max_chars: None,
            fixed: false,
        },
        D::Binary | D::LargeBinary => ColumnType::Binary,
        D::Date32 => ColumnType::Date,
        other => {
            return Err(Error::Unsupported {
                connector: "arrow",
                capability: format!("Arrow type {other} in field {}", field.name()),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> TableSchema {
        TableSchema {
            table: "public.t".into(),
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: ColumnType::Int64,
                    nullable: false,
                    native_type: "bigint".into(),
                    dialect: None,
                },
                ColumnDef {
                    name: "name".into(),
                    ty: ColumnType::Text {
                        max_chars: Some(10),
                        fixed: false,
                    },
                    nullable: true,
                    native_type: "character varying(10)".into(),
                    dialect: None,
                },
            ],
            primary_key: vec!["id".into()],
        }
    }

    #[test]
    fn arrow_schema_carries_the_column_type() {
        let s = schema().arrow_schema();
        let f = s.field(1);
        assert_eq!(field_column_type(f).expect("type"), schema().columns[1].ty);
        assert!(f.is_nullable());
    }

    #[test]
    fn project_names_missing_columns() {
        let err = schema()
            .project(&["id".into(), "nope".into()])
            .expect_err("missing column");
        assert!(err.to_string().contains("`nope`"), "{err}");
        assert!(err.to_string().contains("id, name"), "{err}");
    }
}
