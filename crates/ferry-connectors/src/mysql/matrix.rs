//! MySQL/MariaDB's rows of the published type matrix (`docs/type-matrix.md`).

use std::fmt::Write as _;

use ferry_core::ColumnType;

use super::{column_type_of_declared, ddl_type};
use crate::matrix::{TypeMapping, code, round_trip};
use crate::matrix_cross::{CrossSource, CrossTarget, Edge};

/// MySQL/MariaDB native types shown in the matrix, as `COLUMN_TYPE` reports them.
const MYSQL_NATIVE: &[&str] = &[
    "tinyint(1)",
    "tinyint",
    "tinyint unsigned",
    "smallint",
    "smallint unsigned",
    "mediumint",
    "int",
    "int unsigned",
    "bigint",
    "bigint unsigned",
    "decimal(15,2)",
    "decimal(65,30)",
    "float",
    "double",
    "char(10)",
    "varchar(255)",
    "text",
    "longtext",
    "binary(16)",
    "varbinary(255)",
    "blob",
    "date",
    "time",
    "time(6)",
    "datetime",
    "datetime(6)",
    "timestamp",
    "timestamp(6)",
    "json",
    "uuid",
    "enum('a','b')",
    "set('a','b')",
    "year",
    "bit(1)",
    "bit(8)",
    "bit(63)",
    "bit(64)",
    "inet4",
    "inet6",
    "geometry",
    "point",
];

/// The MySQL/MariaDB part of the matrix.
pub(crate) struct MysqlTypes;

impl TypeMapping for MysqlTypes {
    fn title(&self) -> &'static str {
        "MySQL/MariaDB"
    }

    fn created(&self, ty: &ColumnType) -> (String, String) {
        let my = ddl_type(ty, true);
        let my_plain = ddl_type(ty, false);
        let cell = if my_plain == my {
            code(&my)
        } else {
            format!(
                "{}; {} on servers without a `UUID` type (round trip: {})",
                code(&my),
                code(&my_plain),
                round_trip(ty, column_type_of_declared(&my_plain).as_ref())
            )
        };
        (cell, round_trip(ty, column_type_of_declared(&my).as_ref()))
    }

    fn target_notes(&self) -> &'static [&'static str] {
        &[
            "In MySQL/MariaDB, `timestamptz` is created as `DATETIME(6)` holding UTC (MariaDB's \
             `TIMESTAMP` only covers 1970–2038) and `decimal_text` as `LONGTEXT` holding the exact \
             decimal text; Ferry accepts those columns as targets of those types.",
            "A MySQL/MariaDB source column is created in a new MySQL/MariaDB target with its exact \
             type, charset and collation (`int(10) unsigned`, `bit(5)`, `binary(4)`, \
             `enum('a','B')`, `time(3)`, `timestamp`, `inet6`, `point`, `varchar(20) CHARACTER SET \
             latin1 COLLATE latin1_swedish_ci`); the column above is what columns from other \
             sources get. `tinyint(1)` (`BOOL`) is an integer; a `bool` becomes one only by a \
             `mapping.cast`. `time` from MariaDB may lie outside one day (±838:59:59.999999; \
             PostgreSQL's `24:00:00` too): a target that holds only times of day makes such a row \
             dirty (`conversion`). An `enum`'s error value `''` (not a member; stored by a server whose \
             `sql_mode` was not strict) arrives as that value in an `enum` target without a `''` member \
             (stored by `LOAD DATA`, each one's warning counted); a member the target lacks, or a `''` \
             from another source, makes its row dirty (`conversion`) with the raw value. Spatial values travel as the server's bytes (SRID + WKB). \
             Zero dates (`0000-00-00`, `2020-00-15`) have no Arrow value: into another database \
             their row is dirty (`conversion`); MySQL/MariaDB → MySQL/MariaDB with no transform \
             carries `DATE`/`DATETIME`/`TIMESTAMP` columns as the server's own text into a column \
             of the same type, refused only where the target server's `sql_mode` has \
             `NO_ZERO_DATE`/`NO_ZERO_IN_DATE`.",
            "MySQL/MariaDB and SQLite have no interval or array types: an `interval` is stored as its \
             ISO 8601 duration text as PostgreSQL prints it with `intervalstyle = iso_8601` \
             (`P1Y2M3DT4H5M6.789S`), and a `list<T>` as a compact JSON array as PostgreSQL's \
             `to_json` prints it (`[1,null,3]`, `[\"a\",\"b\"]`, `[1.50,2.00]`; NaN and ±Infinity \
             floats as strings). Both read back as text/JSON, not as the original type.",
        ]
    }

    fn cross_natives(&self) -> &'static [&'static str] {
        MYSQL_CROSS
    }

    fn cross_source(&self, native: &str) -> Option<CrossSource> {
        let ty = column_type_of_declared(native);
        let name = native.split(['(', ' ']).next().unwrap_or(native);
        let edges = match name {
            "time" => vec![Edge::Midnight24, Edge::TimeOutsideDay],
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum"
            | "set" => vec![Edge::NulChar],
            _ => vec![],
        };
        let at_source = match name {
            "date" | "datetime" | "timestamp" => vec!["a zero date (`0000-00-00`)"],
            _ => vec![],
        };
        let normalisations = match (name, &ty) {
            ("bit", Some(t)) if *t != ColumnType::Bool => vec!["bit as integer"],
            _ => vec![],
        };
        Some(CrossSource {
            native: native.to_string(),
            ty,
            edges,
            at_source,
            normalisations,
        })
    }

    fn cross_target(&self, ty: &ColumnType) -> CrossTarget {
        // What `mysql::encode::RowEncoder` refuses (see `mysql::screen`):
        // non-finite floats, dates and timestamps outside years 0000–9999;
        // `TIME(6)` holds ±838:59:59.999999, so every time of day (and
        // PostgreSQL's `24:00:00`) fits.
        let mut t = CrossTarget::default();
        match ty {
            ColumnType::Bool => t.normalisations = vec!["bool as 0/1"],
            ColumnType::Float32 | ColumnType::Float64 => {
                t.refuses = vec![Edge::NaN, Edge::Infinity];
                t.normalises = vec![(Edge::NegativeZero, "negative zero as 0")];
            }
            ColumnType::Date | ColumnType::Timestamp => {
                t.refuses = vec![Edge::YearsOutside0To9999];
            }
            ColumnType::TimestampTz => {
                t.refuses = vec![Edge::YearsOutside0To9999];
                t.normalisations = vec!["timestamptz as UTC wall clock"];
            }
            ColumnType::Json => t.normalisations = vec!["json re-serialised"],
            ColumnType::Interval => t.normalisations = vec!["interval as ISO 8601 text"],
            ColumnType::List(_) => t.normalisations = vec!["list as JSON text"],
            _ => {}
        }
        t
    }

    fn native_section(&self, w: &mut String) {
        let _ = writeln!(w, "## MySQL/MariaDB: native type → ColumnType");
        let _ = writeln!(w);
        let _ = writeln!(w, "| native | ColumnType |\n|---|---|");
        for native in MYSQL_NATIVE {
            let ty = match column_type_of_declared(native) {
                Some(t) => format!("`{t}`"),
                None => "not supported (an error naming the column)".into(),
            };
            let _ = writeln!(w, "| {} | {ty} |", code(native));
        }
        let _ = writeln!(w);
    }
}
/// MySQL/MariaDB native types the "Across dialects" section shows.
const MYSQL_CROSS: &[&str] = &[
    "tinyint(1)",
    "tinyint",
    "tinyint unsigned",
    "smallint",
    "mediumint",
    "int",
    "int unsigned",
    "bigint",
    "bigint unsigned",
    "decimal(15,2)",
    "decimal(65,30)",
    "float",
    "double",
    "char(10)",
    "varchar(255)",
    "text",
    "binary(16)",
    "varbinary(255)",
    "blob",
    "date",
    "time",
    "time(6)",
    "datetime(6)",
    "timestamp(6)",
    "year",
    "bit(1)",
    "bit(8)",
    "bit(64)",
    "enum('a','b')",
    "set('a','b')",
    "json",
    "uuid",
    "inet6",
];
