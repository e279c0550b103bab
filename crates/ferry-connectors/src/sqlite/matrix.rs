//! SQLite's rows of the published type matrix (`docs/type-matrix.md`).

use std::fmt::Write as _;

use ferry_core::ColumnType;

use super::{affinity, column_type, declared_type};
use crate::matrix::{TypeMapping, code, round_trip};

/// SQLite declared types shown in the matrix.
const SQLITE_NATIVE: &[&str] = &[
    "INTEGER",
    "INT",
    "SMALLINT",
    "BIGINT",
    "REAL",
    "FLOAT",
    "DOUBLE",
    "NUMERIC(10,2)",
    "DECIMAL(15,2)",
    "DECIMAL_TEXT(40,10)",
    "NUMERIC",
    "TEXT",
    "VARCHAR(10)",
    "CHAR(3)",
    "CLOB",
    "BLOB",
    "DATE",
    "TIME",
    "DATETIME",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "UUID",
    "JSON",
    "BOOLEAN",
    "",
    "UNSIGNED BIG INT",
    "NVARCHAR2(20)",
    "STRING",
    "BINARY_DATA",
    "DOUBLE_PRECISION",
    "MONEY",
];

/// The SQLite part of the matrix.
pub(crate) struct SqliteTypes;

impl TypeMapping for SqliteTypes {
    fn title(&self) -> &'static str {
        "SQLite"
    }

    fn created(&self, ty: &ColumnType) -> (String, String) {
        let sq = declared_type(ty);
        (code(&sq), round_trip(ty, Some(&column_type(&sq))))
    }

    fn native_section(&self, w: &mut String) {
        let _ = writeln!(w, "## SQLite: declared type → ColumnType");
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "Declared types Ferry does not know by name fall back on SQLite's column affinity."
        );
        let _ = writeln!(w);
        let _ = writeln!(w, "| declared | affinity | ColumnType |\n|---|---|---|");
        for native in SQLITE_NATIVE {
            let _ = writeln!(
                w,
                "| {} | {:?} | `{}` |",
                code(native),
                affinity(native),
                column_type(native)
            );
        }
        let _ = writeln!(w);
    }
}
