//! SQLite's rows of the published type matrix (`docs/type-matrix.md`).

use std::fmt::Write as _;

use ferry_core::ColumnType;

use super::types::Affinity;
use super::{affinity, column_type, declared_type};
use crate::matrix::{TypeMapping, code, round_trip};
use crate::matrix_cross::{CrossSource, CrossTarget, Edge};

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

    fn cross_natives(&self) -> &'static [&'static str] {
        SQLITE_CROSS
    }

    fn cross_source(&self, native: &str) -> Option<CrossSource> {
        let ty = column_type(native);
        // SQLite stores no NaN and stores `-0.0` as 0; ±Infinity it keeps.
        let edges = match &ty {
            ColumnType::Float32 | ColumnType::Float64 => vec![Edge::Infinity],
            ColumnType::Text { .. } | ColumnType::Json | ColumnType::DecimalText => {
                vec![Edge::NulChar]
            }
            _ => vec![],
        };
        // Any column may hold any value: one that is not of the column's
        // type is dirty at the source.
        let at_source = match &ty {
            ColumnType::Text { .. } | ColumnType::Binary => vec![],
            _ => vec!["a stored value that is not of the column's type"],
        };
        Some(CrossSource {
            native: native.to_string(),
            ty: Some(ty),
            edges,
            at_source,
            normalisations: vec![],
        })
    }

    fn cross_target(&self, ty: &ColumnType) -> CrossTarget {
        // What `sqlite::write::bind` refuses: NaN, a decimal its NUMERIC
        // affinity would round (none in a column Ferry creates), a date or timestamp outside years
        // 0000–9999, a time outside one day (`24:00:00` included).
        let mut t = CrossTarget::default();
        match ty {
            ColumnType::Bool => t.normalisations = vec!["bool as 0/1"],
            ColumnType::Float32 | ColumnType::Float64 => {
                t.refuses = vec![Edge::NaN];
                t.normalises = vec![(Edge::NegativeZero, "negative zero as 0")];
            }
            // Wide decimals are created as `DECIMAL_TEXT(p,s)` (TEXT
            // affinity, exact); a NUMERIC-affinity column would round.
            ColumnType::Decimal { .. }
                if !matches!(
                    affinity(&declared_type(ty)),
                    Affinity::Text | Affinity::Blob
                ) =>
            {
                t.refuses = vec![Edge::Over15Digits]
            }
            ColumnType::Date | ColumnType::Timestamp => {
                t.refuses = vec![Edge::YearsOutside0To9999];
            }
            ColumnType::TimestampTz => {
                t.refuses = vec![Edge::YearsOutside0To9999];
                t.normalisations = vec!["timestamptz as UTC wall clock"];
            }
            ColumnType::Time => t.refuses = vec![Edge::Midnight24, Edge::TimeOutsideDay],
            ColumnType::Json => t.normalisations = vec!["json re-serialised"],
            ColumnType::Interval => t.normalisations = vec!["interval as ISO 8601 text"],
            ColumnType::List(_) => t.normalisations = vec!["list as JSON text"],
            _ => {}
        }
        t
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
/// SQLite declared types the "Across dialects" section shows.
const SQLITE_CROSS: &[&str] = &[
    "INTEGER",
    "REAL",
    "NUMERIC(10,2)",
    "DECIMAL(20,4)",
    "DECIMAL_TEXT(40,10)",
    "NUMERIC",
    "TEXT",
    "VARCHAR(10)",
    "BLOB",
    "DATE",
    "TIME",
    "DATETIME",
    "TIMESTAMPTZ",
    "UUID",
    "JSON",
    "BOOLEAN",
    "",
];
