//! `columns:` of a task: the source columns to copy, by name — or, for a
//! source whose data carries no usable schema (CSV, JSON lines, a topic:
//! capability [`SchemaSource::Declared`]), the columns declared with their
//! types. A source that discovers its columns takes names only, so a
//! declared type can never disagree with the real one unnoticed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connector::SchemaSource;
use crate::schema::{ColumnDef, TableSchema};
use crate::types::ColumnType;
use crate::{Error, Result};

/// One entry of `columns:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ColumnSelect {
    /// A source column, by name.
    Name(String),
    /// A column declared with its type (sources that need a declared schema).
    Declared(DeclaredColumn),
}

/// A column declared with its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclaredColumn {
    /// Column name.
    pub name: String,
    /// Its Ferry type (`ferry types` lists them), e.g. `int64`, `decimal(12,2)`, `timestamptz`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether it may be NULL (default true).
    #[serde(default = "yes")]
    pub nullable: bool,
}

fn yes() -> bool {
    true
}

impl ColumnSelect {
    /// The column's name.
    pub fn name(&self) -> &str {
        match self {
            ColumnSelect::Name(n) => n,
            ColumnSelect::Declared(d) => &d.name,
        }
    }
}

impl From<&str> for ColumnSelect {
    fn from(name: &str) -> ColumnSelect {
        ColumnSelect::Name(name.to_string())
    }
}

/// Checks `columns` against how the source learns its columns; returns the
/// declared schema when the source needs one.
pub(crate) fn check(
    columns: Option<&[ColumnSelect]>,
    connector: &str,
    schema: SchemaSource,
) -> Result<Option<TableSchema>> {
    match schema {
        SchemaSource::Discovered => {
            if let Some((i, _)) = columns
                .unwrap_or_default()
                .iter()
                .enumerate()
                .find(|(_, c)| matches!(c, ColumnSelect::Declared(_)))
            {
                return Err(Error::invalid(
                    format!("columns[{i}]"),
                    format!(
                        "the {connector} source discovers its columns and their types; list column names only"
                    ),
                ));
            }
            Ok(None)
        }
        SchemaSource::Declared => {
            let Some(cols) = columns else {
                return Err(Error::invalid(
                    "columns",
                    format!(
                        "the {connector} source needs its columns declared: `columns: [{{name: id, type: int64}}, …]`"
                    ),
                ));
            };
            let mut out = Vec::with_capacity(cols.len());
            for (i, c) in cols.iter().enumerate() {
                let ColumnSelect::Declared(d) = c else {
                    return Err(Error::invalid(
                        format!("columns[{i}]"),
                        format!(
                            "the {connector} source needs each column declared with its type: {{name: {}, type: …}}",
                            c.name()
                        ),
                    ));
                };
                let ty: ColumnType =
                    d.ty.parse()
                        .map_err(|e: crate::types::ParseColumnTypeError| {
                            Error::invalid(format!("columns[{i}].type"), e.to_string())
                        })?;
                out.push(ColumnDef {
                    name: d.name.clone(),
                    native_type: d.ty.clone(),
                    dialect: None,
                    ty,
                    nullable: d.nullable,
                });
            }
            Ok(Some(TableSchema {
                table: connector.to_string(),
                columns: out,
                primary_key: Vec::new(),
            }))
        }
    }
}
