//! PostgreSQL's rows of the published type matrix (`docs/type-matrix.md`):
//! the target type created for each `ColumnType`, and how the native types
//! read, computed by the connector's own mapping functions.

use std::fmt::Write as _;

use ferry_core::ColumnType;

use super::types::{PgColumn, Wire, ddl_type};
use crate::matrix::{TypeMapping, code, round_trip};
use crate::matrix_cross::{CrossSource, CrossTarget, Edge};

/// PostgreSQL native types shown in the matrix, as they are written in SQL.
const PG_NATIVE: &[&str] = &[
    "bool",
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "numeric(15,2)",
    "numeric(38,0)",
    "numeric(50,10)",
    "numeric",
    "text",
    "name",
    "varchar(44)",
    "varchar",
    "bpchar(1)",
    "bpchar(10)",
    "bytea",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "uuid",
    "json",
    "jsonb",
    "interval",
    "int2[]",
    "int4[]",
    "int8[]",
    "float8[]",
    "numeric(10,2)[]",
    "numeric[]",
    "bool[]",
    "text[]",
    "varchar(20)[]",
    "date[]",
    "timestamp[]",
    "timestamptz[]",
    "uuid[]",
    "interval[]",
    "jsonb[]",
    "inet",
    "inet[]",
    "my_enum",
    "my_enum[]",
    "numeric(10,-2)",
    "timestamp(3)",
    "timetz",
    "int4range",
    "tstzrange",
    "int4multirange",
    "cidr",
    "macaddr",
    "macaddr8",
    "bit(5)",
    "varbit",
    "money",
    "tsvector",
    "tsquery",
    "point",
    "polygon",
    "xml",
    "oid",
    "\"char\"",
    "pg_lsn",
    "hstore",
    "my_domain",
    "my_composite",
    "my_composite[]",
];

/// The `pg_type.typname` and `atttypmod` PostgreSQL's catalog holds for a
/// column declared `declared` (SQL spelling such as `integer`, `varchar(44)`,
/// `numeric(15,2)` or `int4[]`).
fn pg_catalog(declared: &str) -> (String, i32) {
    let lower = declared.trim().to_ascii_lowercase();
    if let Some(elem) = lower.strip_suffix("[]") {
        // An array column keeps its element's typmod (`numeric(10,2)[]`).
        let (typname, typmod) = pg_catalog(elem);
        return (format!("_{typname}"), typmod);
    }
    let (head, args) = match lower.find('(') {
        Some(i) => (lower[..i].trim(), lower[i + 1..].trim_end_matches(')')),
        None => (lower.as_str(), ""),
    };
    let nums: Vec<i32> = args
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    let typname = match head {
        "boolean" => "bool",
        "smallint" => "int2",
        "integer" | "int" => "int4",
        "bigint" => "int8",
        "real" => "float4",
        "double precision" => "float8",
        "decimal" => "numeric",
        "character varying" => "varchar",
        "char" | "character" => "bpchar",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        "time without time zone" => "time",
        other => other,
    };
    let typmod = match (typname, nums.as_slice()) {
        ("numeric", [p]) => (p << 16) + 4,
        // The scale is 11 bits, signed (`numeric(10,-2)`).
        ("numeric", [p, s]) => ((p << 16) | (s & 0x7ff)) + 4,
        ("varchar" | "bpchar", [n]) => n + 4,
        _ => -1,
    };
    (typname.to_string(), typmod)
}

/// The enum type the matrix shows (`CREATE TYPE my_enum AS ENUM (...)`).
const PG_ENUM: &str = "my_enum";

/// How PostgreSQL reads a column declared `declared`.
fn pg_mapping(declared: &str) -> (ColumnType, Option<Wire>) {
    pg_column(declared).mapping()
}

/// The catalog's description of a column declared `declared`.
fn pg_column(declared: &str) -> PgColumn {
    let (typname, typmod) = pg_catalog(declared);
    PgColumn {
        name: "c".into(),
        is_enum: typname == PG_ENUM,
        typname,
        formatted: declared.to_string(),
        typmod,
        not_null: false,
        has_default: false,
        type_oid: 0,
    }
}

/// The PostgreSQL part of the matrix.
pub(crate) struct PgTypes;

impl TypeMapping for PgTypes {
    fn title(&self) -> &'static str {
        "PostgreSQL"
    }

    fn created(&self, ty: &ColumnType) -> (String, String) {
        let pg = ddl_type(ty, "");
        (code(&pg), round_trip(ty, Some(&pg_mapping(&pg).0)))
    }

    fn cross_natives(&self) -> &'static [&'static str] {
        PG_CROSS
    }

    fn cross_source(&self, native: &str) -> Option<CrossSource> {
        let column = pg_column(native);
        let (ty, _) = column.mapping();
        let base = column.typname.trim_start_matches('_').to_string();
        let is_array = column.typname.starts_with('_');
        let mut edges = Vec::new();
        if !is_array {
            match base.as_str() {
                "float4" | "float8" => edges = vec![Edge::NaN, Edge::Infinity, Edge::NegativeZero],
                "date" | "timestamp" | "timestamptz" => edges = vec![Edge::YearsOutside0To9999],
                "time" => edges = vec![Edge::Midnight24],
                _ => {}
            }
        }
        // What the source cannot put into Arrow: its row is dirty at the
        // source (see "PostgreSQL: native type → ColumnType", last column).
        let at_source = match (&ty, column.arrow_exact()) {
            (_, true) => vec![],
            (ColumnType::Decimal { .. }, false) => vec!["NaN or ±Infinity"],
            (ColumnType::Date | ColumnType::Timestamp | ColumnType::TimestampTz, false) => {
                vec!["±infinity"]
            }
            (ColumnType::List(_), false) => {
                vec!["more than one dimension or a lower bound other than 1"]
            }
            _ => vec![],
        };
        let normalisations = if base == "bpchar" && !is_array {
            vec!["char(n) blank padding"]
        } else {
            vec![]
        };
        Some(CrossSource {
            native: native.to_string(),
            ty: Some(ty),
            edges,
            at_source,
            normalisations,
        })
    }

    fn cross_target(&self, ty: &ColumnType) -> CrossTarget {
        // PostgreSQL's own checks, made on COPY (a data exception isolates
        // the row, see `postgres::isolate`): no U+0000 in text, a `time`
        // within 00:00–24:00. Dates and timestamps from Arrow are within
        // PostgreSQL's range when they are within years 0000–9999.
        let refuses = match ty {
            ColumnType::Text { .. } | ColumnType::Json => vec![Edge::NulChar],
            ColumnType::Time => vec![Edge::TimeOutsideDay],
            _ => vec![],
        };
        CrossTarget {
            refuses,
            ..CrossTarget::default()
        }
    }

    fn native_section(&self, w: &mut String) {
        let _ = writeln!(w, "## PostgreSQL: native type → ColumnType");
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "An array column's dimensions belong to each value, not to the column: Ferry reads \
             one-dimensional arrays with lower bound 1 as lists; a value with more dimensions \
             (`{{{{1,2}},{{3,4}}}}`) or another lower bound (`[0:1]={{1,2}}`) is an error naming the \
             column (never a flattened list). Arrays of types without a binary mapping, and arrays \
             of enums, are read as their `::text` form. An enum column is read as its label and \
             accepts text when it is a target (the server checks each label)."
        );
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "**PostgreSQL → PostgreSQL is exact.** A target Ferry creates gets the source's \
             `format_type` for every column (`numeric(40,10)`, `timestamp(3)`, `timetz`, enums, \
             domains, composites, arrays of them, `numeric(10,-2)`, …); a user-defined type must \
             exist in the target database (else the run stops, naming the type and the column), \
             an existing one is used. When no transform reads the values, every column travels \
             in its binary COPY form, unchanged, and is written back into the same type (type OIDs \
             inside arrays and composites rewritten to the target's): `infinity`, NaN in \
             `numeric(p,s)`, multi-dimensional arrays and any lower bound arrive as they were, and \
             the client only copies bytes (no value parsed and formatted again). The columns the \
             run reads (incremental cursor, window column, merge key) and key columns Arrow holds \
             exactly travel as Arrow values. Into an existing target a carried column needs the \
             same type (or the same type without a modifier; not `timestamp` ↔ `timestamptz`); \
             one of another type travels as an Arrow value, checked on the way. With a transform, \
             every column travels as an Arrow value, and a value of a type Arrow does not hold \
             exactly (last column: no) makes its row dirty. Columns left out by `columns:` are \
             never looked at."
        );
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "| native | ColumnType | read as (as an Arrow value) | Arrow holds every value |\n|---|---|---|---|"
        );
        for native in PG_NATIVE {
            let column = pg_column(native);
            let exact_path = if column.arrow_exact() { "yes" } else { "no" };
            let (ty, wire) = column.mapping();
            let read = match wire {
                Some(Wire::Array(elem)) => {
                    format!("binary COPY (`Array({elem:?})`; one dimension, lower bound 1)")
                }
                Some(wire) => format!("binary COPY (`{wire:?}`)"),
                None => "`::text` (lossless text form)".into(),
            };
            let _ = writeln!(w, "| {} | `{ty}` | {read} | {exact_path} |", code(native));
        }
        let _ = writeln!(w);
    }
}

/// PostgreSQL native types the "Across dialects" section shows.
const PG_CROSS: &[&str] = &[
    "bool",
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "numeric(15,2)",
    "numeric(38,0)",
    "numeric(50,10)",
    "numeric",
    "text",
    "varchar(44)",
    "bpchar(10)",
    "bytea",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "uuid",
    "json",
    "jsonb",
    "interval",
    "int4[]",
    "float8[]",
    "text[]",
    "my_enum",
    "inet",
    "timetz",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_catalog_names_match_postgres() {
        assert_eq!(
            pg_catalog("numeric(15,2)"),
            ("numeric".into(), (15 << 16 | 2) + 4)
        );
        assert_eq!(pg_catalog("double precision"), ("float8".into(), -1));
        assert_eq!(pg_catalog("char(3)"), ("bpchar".into(), 7));
        assert_eq!(pg_catalog("int4[]"), ("_int4".into(), -1));
        assert_eq!(
            pg_catalog("numeric(10,2)[]"),
            ("_numeric".into(), (10 << 16 | 2) + 4)
        );
        // PostgreSQL 15 keeps a negative scale in 11 bits (`numeric(10,-2)`).
        assert_eq!(
            pg_catalog("numeric(10,-2)"),
            ("numeric".into(), (10 << 16 | 0x7fe) + 4)
        );
    }

    #[test]
    fn a_negative_scale_is_exact_text_and_special_values_take_the_binary_path() {
        assert_eq!(
            pg_mapping("numeric(10,-2)"),
            (ColumnType::DecimalText, None)
        );
        assert!(pg_column("numeric(10,-2)").arrow_exact());
        for native in [
            "numeric(10,2)",
            "date",
            "timestamptz",
            "int4[]",
            "timetz",
            "inet",
            "my_composite",
        ] {
            assert!(!pg_column(native).arrow_exact(), "{native}");
        }
        for native in [
            "int8", "text", "numeric", "time", "interval", "my_enum", "jsonb",
        ] {
            assert!(pg_column(native).arrow_exact(), "{native}");
        }
    }
}
