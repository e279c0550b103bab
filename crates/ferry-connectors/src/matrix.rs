//! The published type-mapping matrix (`docs/type-matrix.md`), generated from
//! the connectors' own mapping functions by `ferry types`.
//!
//! Nothing here restates a mapping: every cell is the output of
//! [`ColumnType::arrow_type`], a connector's DDL function, or a connector's
//! native → [`ColumnType`] function, so the document cannot drift from the code.

use std::fmt::Write as _;

use ferry_core::ColumnType;

use crate::{mysql, postgres, sqlite};

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
];

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
    "geometry",
];

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
        ("numeric", [p, s]) => ((p << 16) | s) + 4,
        ("varchar" | "bpchar", [n]) => n + 4,
        _ => -1,
    };
    (typname.to_string(), typmod)
}

/// The enum type the matrix shows (`CREATE TYPE my_enum AS ENUM (...)`).
const PG_ENUM: &str = "my_enum";

/// How PostgreSQL reads a column declared `declared`.
fn pg_mapping(declared: &str) -> (ColumnType, Option<postgres::types::Wire>) {
    let (typname, typmod) = pg_catalog(declared);
    postgres::types::PgColumn {
        name: "c".into(),
        is_enum: typname == PG_ENUM,
        typname,
        formatted: declared.to_string(),
        typmod,
        not_null: false,
        has_default: false,
    }
    .mapping()
}

/// A round-trip cell: `yes`, or what the created type reads back as.
fn round_trip(ty: &ColumnType, back: Option<&ColumnType>) -> String {
    match back {
        Some(b) if b == ty => "yes".into(),
        Some(b) => format!("no: `{b}`"),
        None => "no: not readable".into(),
    }
}

fn code(s: &str) -> String {
    if s.is_empty() {
        "(empty)".into()
    } else {
        format!("`{s}`")
    }
}

/// The Markdown of `docs/type-matrix.md`, computed from the mapping code.
pub fn type_matrix_markdown() -> String {
    let mut md = String::new();
    let examples = ColumnType::examples();
    let w = &mut md;
    let _ = writeln!(w, "# Type-mapping matrix");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "<!-- Generated by `ferry types > docs/type-matrix.md` from the mapping code; do not edit by hand. -->"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "Generated by `ferry types` from the connectors' mapping functions; do not edit by hand \
         (a test fails when this file and the code disagree)."
    );
    let _ = writeln!(
        w,
        "Every column is read as one `ColumnType` (`crates/ferry-core/src/types.rs`), which fixes \
         its Arrow type; a created target column is derived from the `ColumnType` alone."
    );
    let _ = writeln!(w);

    let _ = writeln!(w, "## Ferry types and the targets Ferry creates");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "\"Round trip\" says whether the created type reads back as the same `ColumnType`."
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| ColumnType | Arrow | PostgreSQL | round trip | MySQL/MariaDB | round trip | SQLite | round trip |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
    for ty in &examples {
        let pg = postgres::types::ddl_type(ty, "");
        let pg_back = pg_mapping(&pg).0;
        let my = mysql::ddl_type(ty, true);
        let my_plain = mysql::ddl_type(ty, false);
        let my_back = mysql::column_type_of_declared(&my);
        let my_cell = if my_plain == my {
            code(&my)
        } else {
            format!(
                "{}; {} on servers without a `UUID` type (round trip: {})",
                code(&my),
                code(&my_plain),
                round_trip(ty, mysql::column_type_of_declared(&my_plain).as_ref())
            )
        };
        let sq = sqlite::declared_type(ty);
        let sq_back = sqlite::column_type(&sq);
        let _ = writeln!(
            w,
            "| `{ty}` | `{}` | {} | {} | {my_cell} | {} | {} | {} |",
            ty.arrow_type(),
            code(&pg),
            round_trip(ty, Some(&pg_back)),
            round_trip(ty, my_back.as_ref()),
            code(&sq),
            round_trip(ty, Some(&sq_back)),
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(
        w,
        "In MySQL/MariaDB, `timestamptz` is created as `DATETIME(6)` holding UTC (MariaDB's \
         `TIMESTAMP` only covers 1970–2038) and `decimal_text` as `LONGTEXT` holding the exact \
         decimal text; Ferry accepts those columns as targets of those types."
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "MySQL/MariaDB and SQLite have no interval or array types: an `interval` is stored as its \
         ISO 8601 duration text as PostgreSQL prints it with `intervalstyle = iso_8601` \
         (`P1Y2M3DT4H5M6.789S`), and a `list<T>` as a compact JSON array as PostgreSQL's \
         `to_json` prints it (`[1,null,3]`, `[\"a\",\"b\"]`, `[1.50,2.00]`; NaN and ±Infinity \
         floats as strings). Both read back as text/JSON, not as the original type."
    );
    let _ = writeln!(w);

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
    let _ = writeln!(w, "| native | ColumnType | read as |\n|---|---|---|");
    for native in PG_NATIVE {
        let (ty, wire) = pg_mapping(native);
        let read = match wire {
            Some(postgres::types::Wire::Array(elem)) => {
                format!("binary COPY (`Array({elem:?})`; one dimension, lower bound 1)")
            }
            Some(wire) => format!("binary COPY (`{wire:?}`)"),
            None => "`::text` (lossless text form)".into(),
        };
        let _ = writeln!(w, "| {} | `{ty}` | {read} |", code(native));
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## MySQL/MariaDB: native type → ColumnType");
    let _ = writeln!(w);
    let _ = writeln!(w, "| native | ColumnType |\n|---|---|");
    for native in MYSQL_NATIVE {
        let ty = match mysql::column_type_of_declared(native) {
            Some(t) => format!("`{t}`"),
            None => "not supported (an error naming the column)".into(),
        };
        let _ = writeln!(w, "| {} | {ty} |", code(native));
    }
    let _ = writeln!(w);

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
            sqlite::affinity(native),
            sqlite::column_type(native)
        );
    }
    let _ = writeln!(w);

    parquet_section(w, &examples);

    let _ = writeln!(w, "## Writing into an existing target of another type");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "\"Lossless\" targets hold every value of the source type (`ColumnType::fits_into`). \
         \"With per-value checks\" targets are accepted too (`ColumnType::fits_with_checks`): \
         each value is checked on the way and one that does not fit makes its row dirty; \
         it is never cut or rounded. Other pairs are rejected at plan time."
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| source | lossless into | with per-value checks |\n|---|---|---|"
    );
    for from in &examples {
        let list = |pick: &dyn Fn(&ColumnType) -> bool| {
            let v: Vec<String> = examples
                .iter()
                .filter(|to| *to != from && pick(to))
                .map(|to| format!("`{to}`"))
                .collect();
            if v.is_empty() {
                "–".to_string()
            } else {
                v.join(", ")
            }
        };
        let lossless = list(&|to| from.fits_into(to));
        let checked = list(&|to| !from.fits_into(to) && from.fits_with_checks(to));
        let _ = writeln!(w, "| `{from}` | {lossless} | {checked} |");
    }
    md
}

/// The Parquet column Arrow's writer derives from each type: what the lake
/// connectors (Parquet/Iceberg/Delta) will write.
fn parquet_section(w: &mut String, examples: &[ColumnType]) {
    use arrow::datatypes::{Field, Schema};
    use parquet::arrow::ArrowSchemaConverter;
    let _ = writeln!(w, "## Parquet: ColumnType → Parquet column");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "The leaf column Arrow's Parquet writer derives from each type's Arrow type \
         (`parquet::arrow::ArrowSchemaConverter`), as the lake connectors will write it. \
         The Ferry type itself also travels in the Arrow schema stored in the file's metadata."
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| ColumnType | Arrow | Parquet physical | Parquet logical |"
    );
    let _ = writeln!(w, "|---|---|---|---|");
    for ty in examples {
        let schema = Schema::new(vec![Field::new("v", ty.arrow_type(), true)]);
        let (physical, logical) = match ArrowSchemaConverter::new().convert(&schema) {
            Ok(d) => {
                let c = d.column(0);
                let logical = c
                    .logical_type_ref()
                    .map(|l| format!("{l:?}"))
                    .unwrap_or_else(|| "–".into());
                (format!("{:?}", c.physical_type()), logical)
            }
            Err(e) => ("not supported".to_string(), e.to_string()),
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} |",
            code(&ty.to_string()),
            code(&format!("{}", ty.arrow_type())),
            code(&physical),
            code(&logical)
        );
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "Gaps for the lake issue: Arrow's writer gives `uuid` no `UUID` logical type and writes \
         `interval` as 16 opaque bytes (Parquet's own `INTERVAL` holds months, days and \
         milliseconds, so microseconds would not fit); the lake connectors must set the first \
         and define the second."
    );
    let _ = writeln!(w);
}

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
    }

    #[test]
    fn matrix_shows_the_real_mappings() {
        let md = type_matrix_markdown();
        assert!(md.contains(
            "| `decimal(15,2)` | `Decimal128(15, 2)` | `numeric(15,2)` | yes | `DECIMAL(15,2)` | yes | `DECIMAL(15,2)` | yes |"
        ), "{md}");
        assert!(md.contains("| `numeric(50,10)` | `decimal_text` |"), "{md}");
        assert!(
            md.contains("| `bigint unsigned` | `decimal(20,0)` |"),
            "{md}"
        );
        assert!(
            md.contains("| `MONEY` | Numeric | `decimal_text` |"),
            "{md}"
        );
        assert!(
            md.contains("| `interval` | `interval` | binary COPY (`Interval`) |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| `numeric(10,2)[]` | `list<decimal(10,2)>` | binary COPY (`Array(Numeric)`"
            ),
            "{md}"
        );
        assert!(
            md.contains("| `my_enum` | `text` | binary COPY (`Text`) |"),
            "{md}"
        );
        assert!(md.contains("| `inet[]` | `text` | `::text`"), "{md}");
        assert!(md.contains("| `bit(1)` | `bool` |"), "{md}");
        assert!(md.contains("| `bit(63)` | `int64` |"), "{md}");
        assert!(
            md.contains("| `interval` | `Interval(MonthDayNano)` | `interval` | yes | `LONGTEXT` | no: `text` | `TEXT` | no: `text` |"),
            "{md}"
        );
        assert!(
            md.contains("| `list<int32>` | `List(Int32)` | `integer[]` | yes | `JSON` | no: `json` | `JSON_TEXT` | no: `json` |"),
            "{md}"
        );
    }
}
