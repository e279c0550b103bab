//! The pure statements of the sink: checking an existing target, the
//! `CREATE TABLE` of a new one, and the insert.

use ferry_core::TableSchema;

use super::types::{column_type, declared_type};
use super::write::WriteColumn;
use super::{TableColumn, quote_ident};

/// One problem per source column that the existing target cannot hold, and
/// per target column that would be left without a value.
pub(super) fn check_existing(schema: &TableSchema, target: &[TableColumn]) -> Vec<String> {
    let mut problems = Vec::new();
    for c in &schema.columns {
        match target.iter().find(|t| t.name.eq_ignore_ascii_case(&c.name)) {
            None => problems.push(format!(
                "column `{}` ({}) is missing in the target",
                c.name, c.ty
            )),
            Some(t) if t.generated => problems.push(format!(
                "column `{}` is a generated column in the target and cannot be written",
                c.name
            )),
            Some(t) => {
                let tt = column_type(&t.declared);
                if !c.ty.fits_into(&tt) {
                    let declared = if t.declared.is_empty() {
                        "(no type)"
                    } else {
                        &t.declared
                    };
                    problems.push(format!(
                        "column `{}`: source type {} does not fit target type {declared} ({tt})",
                        c.name, c.ty
                    ));
                }
            }
        }
    }
    let key_columns = target.iter().filter(|t| t.pk > 0).count();
    for t in target {
        let in_source = schema
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&t.name));
        // An INTEGER PRIMARY KEY is the rowid: SQLite assigns it.
        let rowid_key = key_columns == 1 && t.pk == 1 && t.declared.eq_ignore_ascii_case("INTEGER");
        if !in_source && t.not_null && !t.has_default && !t.generated && !rowid_key {
            problems.push(format!(
                "target column `{}` is NOT NULL without a default, and the source has no such column",
                t.name
            ));
        }
    }
    problems
}

/// `CREATE TABLE` for a new target: declared types that read back as the
/// source's column types, NOT NULL as the source, the source's primary key.
pub(super) fn create_table_sql(table: &str, schema: &TableSchema) -> String {
    let mut lines: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            let not_null = if c.nullable { "" } else { " NOT NULL" };
            format!(
                "  {} {}{not_null}",
                quote_ident(&c.name),
                declared_type(&c.ty)
            )
        })
        .collect();
    let key = &schema.primary_key;
    if !key.is_empty() && key.iter().all(|k| schema.column(k).is_some()) {
        let cols: Vec<String> = key.iter().map(|k| quote_ident(k)).collect();
        lines.push(format!("  PRIMARY KEY ({})", cols.join(", ")));
    }
    format!(
        "CREATE TABLE {} (\n{}\n)",
        quote_ident(table),
        lines.join(",\n")
    )
}

pub(super) fn insert_sql(table: &str, columns: &[WriteColumn]) -> String {
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let params = vec!["?"; columns.len()].join(", ");
    format!(
        "INSERT INTO {} ({}) VALUES ({params})",
        quote_ident(table),
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::{ColumnDef, ColumnType};

    #[test]
    fn ddl_quotes_and_keys() {
        let schema = TableSchema {
            table: "src".into(),
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: ColumnType::Int64,
                    nullable: false,
                    native_type: "bigint".into(),
                    dialect: None,
                },
                ColumnDef {
                    name: "we \"q\"".into(),
                    ty: ColumnType::Decimal {
                        precision: 38,
                        scale: 10,
                    },
                    nullable: true,
                    native_type: "numeric(38,10)".into(),
                    dialect: None,
                },
            ],
            primary_key: vec!["id".into()],
        };
        assert_eq!(
            create_table_sql("t\"x", &schema),
            "CREATE TABLE \"t\"\"x\" (\n  \"id\" INTEGER NOT NULL,\n  \"we \"\"q\"\"\" DECIMAL_TEXT(38,10),\n  PRIMARY KEY (\"id\")\n)"
        );
    }
}
