//! The MySQL/MariaDB side of the type-mapping contract.
//!
//! ```text
//!  native (information_schema)        ColumnType                 target DDL
//!  (bool)                             bool                       TINYINT(1)
//!  tinyint(n), smallint, year         int16                      SMALLINT
//!  mediumint, int, smallint unsigned  int32                      INT
//!  bigint, int unsigned               int64                      BIGINT
//!  bigint unsigned                    decimal(20,0)              DECIMAL(20,0)
//!  decimal(p,s)                       decimal(p,s) / decimal_text DECIMAL(p,s) / LONGTEXT
//!  float / double                     float32 / float64          FLOAT / DOUBLE
//!  char(n) / varchar(n)               char(n) / varchar(n)       CHAR(n) / VARCHAR(n)
//!  *text, enum, set, inet4, inet6     text                       LONGTEXT
//!  binary, varbinary, *blob, spatial  binary                     LONGBLOB
//!  bit(1) / bit(2..63) / bit(64)      bool / int64 / decimal(20,0) (read as `col + 0`)
//!  (interval: no such type)           interval                   LONGTEXT holding ISO 8601 text
//!  (arrays: no such type)             list<T>                    JSON holding a JSON array
//!  date / time / datetime(n)          date / time / timestamp    DATE / TIME(6) / DATETIME(6)
//!  (time: ±838:59:59.999999, a duration, not only a time of day)
//!  timestamp                          timestamptz                DATETIME(6) holding UTC
//!  json (MySQL), longtext+json_valid  json                       JSON
//!  uuid (MariaDB)                     uuid                       UUID
//! ```
//!
//! `TIMESTAMP` is read in a `+00:00` session, so its values are UTC instants; a
//! `timestamptz` target is `DATETIME(6)` holding UTC because MariaDB's
//! `TIMESTAMP` only covers 1970–2038.
//!
//! A column read from MySQL/MariaDB carries its exact `COLUMN_TYPE` (with
//! charset and collation) as `native_type` and dialect `mysql`: a target
//! Ferry creates on MySQL/MariaDB gets that type verbatim (`int(10)
//! unsigned`, `bit(5)`, `binary(4)`, `enum('a','B')`, `time(3)`,
//! `timestamp`, `inet6`, `point`, `varchar(20) CHARACTER SET latin1 COLLATE
//! latin1_swedish_ci`), the right-hand column above only for columns from
//! elsewhere.
//!
//! `BIT(n)` is a number of n bits: `bit(1)` is a flag (bool), `bit(n ≤ 63)`
//! fits `int64` exactly and reads as the number it is, `bit(64)` needs
//! `decimal(20,0)`. Ferry writes bools and integers into an existing `BIT`
//! column through `CAST(… AS UNSIGNED)` (a `LOAD DATA` string would be taken
//! as raw bytes).

use ferry_core::{ColumnDef, ColumnType, Error, Result, TableSchema};

use super::conn::{CONNECTOR, NativeColumn, TableInfo, quote};

/// InnoDB's limit on the bytes of one index key (DYNAMIC row format).
const MAX_KEY_BYTES: usize = 3072;
/// MySQL's limit on a row's bytes, not counting BLOB/TEXT contents; kept with a margin.
const ROW_BYTES_BUDGET: usize = 65_535 - 1_535;
/// Longest `VARCHAR(n)` Ferry creates in utf8mb4 (65,535 bytes / 4).
const MAX_VARCHAR_CHARS: u32 = 16_383;

/// The [`ColumnType`] of a native column, or `None` when Ferry cannot carry it.
pub(crate) fn column_type(c: &NativeColumn) -> Option<ColumnType> {
    let unsigned = c.column_type.contains("unsigned");
    let text = |max_chars: Option<u32>, fixed: bool| ColumnType::Text { max_chars, fixed };
    let len = || c.char_len.and_then(|n| u32::try_from(n).ok());
    Some(match c.data_type.as_str() {
        // `tinyint(1)` (what `BOOL` declares) is an integer with a display
        // width: it holds -128..127, so it is read as one; a cast makes it a bool.
        "tinyint" | "smallint" if !unsigned => ColumnType::Int16,
        "tinyint" | "smallint" => ColumnType::Int32,
        "mediumint" | "int" | "integer" if !unsigned => ColumnType::Int32,
        "mediumint" | "int" | "integer" => ColumnType::Int64,
        "bigint" if !unsigned => ColumnType::Int64,
        "bigint" => ColumnType::Decimal {
            precision: 20,
            scale: 0,
        },
        "year" => ColumnType::Int16,
        "decimal" | "numeric" => ColumnType::decimal(
            c.precision.and_then(|p| u32::try_from(p).ok()),
            c.scale.and_then(|s| u32::try_from(s).ok()),
        ),
        "float" => ColumnType::Float32,
        "double" | "real" | "double precision" => ColumnType::Float64,
        "char" => text(len(), true),
        "varchar" => text(len(), false),
        "longtext" if c.json => ColumnType::Json,
        "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => text(None, false),
        // MariaDB's address types, as the text the server prints and parses.
        "inet4" | "inet6" => text(None, false),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            ColumnType::Binary
        }
        // Spatial values as the server's own bytes (4-byte SRID + WKB),
        // which it takes back as they are.
        t if is_spatial(t) => ColumnType::Binary,
        "bit" => match bit_width(&c.column_type) {
            1 => ColumnType::Bool,
            2..=63 => ColumnType::Int64,
            _ => ColumnType::Decimal {
                precision: 20,
                scale: 0,
            },
        },
        "date" => ColumnType::Date,
        "time" => ColumnType::Time,
        "datetime" => ColumnType::Timestamp,
        "timestamp" => ColumnType::TimestampTz,
        "json" => ColumnType::Json,
        "uuid" => ColumnType::Uuid,
        _ => return None,
    })
}

/// MariaDB's spatial types (`DATA_TYPE`).
pub(crate) fn is_spatial(data_type: &str) -> bool {
    matches!(
        data_type,
        "geometry"
            | "point"
            | "linestring"
            | "polygon"
            | "multipoint"
            | "multilinestring"
            | "multipolygon"
            | "geometrycollection"
    )
}

/// The n of `bit(n)` (`bit` alone is `bit(1)`).
pub(crate) fn bit_width(column_type: &str) -> u32 {
    column_type
        .split_once('(')
        .and_then(|(_, rest)| rest.split(')').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1)
}

/// The [`ColumnType`] of a column whose `COLUMN_TYPE` is `declared`
/// (`decimal(65,30)`, `smallint unsigned`, `varchar(255)`), filling in the
/// other `information_schema` fields the way the server reports them; used by
/// the generated type matrix.
pub(crate) fn column_type_of_declared(declared: &str) -> Option<ColumnType> {
    let lower = declared.trim().to_ascii_lowercase();
    let data_type = lower
        .split(|c: char| c == '(' || c.is_whitespace())
        .next()
        .unwrap_or_default()
        .to_string();
    let args: Vec<u64> = lower
        .find('(')
        .and_then(|i| lower[i + 1..].split(')').next())
        .map(|a| a.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default();
    let numeric = matches!(data_type.as_str(), "decimal" | "numeric");
    let chars = matches!(data_type.as_str(), "char" | "varchar");
    column_type(&NativeColumn {
        name: String::new(),
        data_type,
        column_type: lower.clone(),
        declared: declared.trim().to_string(),
        precision: if numeric { args.first().copied() } else { None },
        scale: if numeric { args.get(1).copied() } else { None },
        char_len: if chars { args.first().copied() } else { None },
        nullable: true,
        has_default: false,
        generated: false,
        json: false,
        charset: None,
        collation: None,
    })
}

/// The dialect Ferry's MySQL/MariaDB connector names in `ColumnDef::dialect`.
pub(crate) const DIALECT: &str = "mysql";

/// The Ferry schema of a described table. Every column carries its exact
/// native type (`native_type`, dialect `mysql`), so a new MySQL/MariaDB
/// target gets the same column types. A column whose type Ferry cannot
/// carry is listed as `binary` here and refused when a read includes it
/// ([`refuse_unmapped`]): a task whose `columns:` leaves it out still runs.
pub(crate) fn table_schema(display: &str, info: &TableInfo) -> TableSchema {
    let columns = info
        .columns
        .iter()
        .map(|c| {
            let native_type = c.exact_type();
            // The type text goes into a target's DDL: only in the shape the
            // server's catalog prints (a server answering otherwise gets
            // Ferry's mapping, as a column from another dialect does).
            let dialect = is_column_type_text(&native_type).then_some(DIALECT);
            ColumnDef {
                name: c.name.clone(),
                ty: column_type(c).unwrap_or(ColumnType::Binary),
                nullable: c.nullable,
                native_type,
                dialect,
            }
        })
        .collect();
    TableSchema {
        table: display.to_string(),
        columns,
        primary_key: info.primary_key.clone(),
    }
}

/// Refuses a read of `schema` (the columns a task reads) that includes a
/// column whose type Ferry cannot carry, naming each and the way out.
pub(crate) fn refuse_unmapped(display: &str, schema: &TableSchema) -> Result<()> {
    let unmapped: Vec<String> = schema
        .columns
        .iter()
        .filter(|c| c.dialect == Some(DIALECT) && !is_mapped(&c.native_type))
        .map(|c| format!("`{}` ({})", c.name, c.native_type))
        .collect();
    if unmapped.is_empty() {
        return Ok(());
    }
    Err(Error::Unsupported {
        connector: CONNECTOR,
        capability: format!(
            "column {} of {display}: the type has no Ferry mapping; leave the column out with `columns:`",
            unmapped.join(", ")
        ),
    })
}

/// Whether an exact native type ([`NativeColumn::exact_type`]) has a [`ColumnType`].
fn is_mapped(exact_type: &str) -> bool {
    let declared = exact_type
        .split(" CHARACTER SET ")
        .next()
        .unwrap_or(exact_type);
    column_type_of_declared(declared).is_some()
}

/// Bytes a column takes in a row (outside BLOB/TEXT storage) and in a key.
fn stored_bytes(ty: &ColumnType) -> Option<usize> {
    Some(match ty {
        ColumnType::Bool => 1,
        ColumnType::Int16 => 2,
        ColumnType::Int32 | ColumnType::Float32 => 4,
        ColumnType::Int64
        | ColumnType::Float64
        | ColumnType::Timestamp
        | ColumnType::TimestampTz => 8,
        ColumnType::Decimal { precision, .. } => (*precision as usize / 9 + 1) * 4,
        ColumnType::Date => 3,
        ColumnType::Time => 6,
        ColumnType::Uuid => 16,
        ColumnType::Text {
            max_chars: Some(n), ..
        } if *n <= MAX_VARCHAR_CHARS => *n as usize * 4 + 2,
        _ => return None,
    })
}

/// Whether `text` has the shape of a catalog's column type with its charset:
/// `name[(args)][ unsigned][ zerofill][ CHARACTER SET cs COLLATE co]`,
/// `args` being numbers or single-quoted strings (`''` and `\` escapes)
/// separated by commas — nothing that could end the column definition.
pub(crate) fn is_column_type_text(text: &str) -> bool {
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let (head, tail) = match text.find('(') {
        Some(open) => {
            let Some(close) = args_end(&text[open + 1..]) else {
                return false;
            };
            (&text[..open], &text[open + 1 + close + 1..])
        }
        None => match text.find(' ') {
            Some(sp) => (&text[..sp], &text[sp..]),
            None => (text, ""),
        },
    };
    let mut rest: Vec<&str> = tail.split(' ').filter(|w| !w.is_empty()).collect();
    if rest.len() >= 5
        && rest[rest.len() - 5..rest.len() - 3] == ["CHARACTER", "SET"]
        && rest[rest.len() - 2] == "COLLATE"
    {
        let (cs, co) = (rest[rest.len() - 3], rest[rest.len() - 1]);
        if !word(cs) || !word(co) {
            return false;
        }
        rest.truncate(rest.len() - 5);
    }
    word(head)
        && rest
            .iter()
            .all(|w| matches!(*w, "unsigned" | "zerofill" | "signed"))
}

/// The index of the `)` closing a type's argument list `s` (after its `(`):
/// numbers, spaces and quoted strings separated by commas; `None` otherwise.
fn args_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b')' => return Some(i),
            b'0'..=b'9' | b',' | b' ' => i += 1,
            b'\'' => {
                i += 1;
                loop {
                    match *b.get(i)? {
                        b'\\' => i += 2,
                        b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
                        b'\'' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            _ => return None,
        }
    }
    None
}

/// The `CREATE TABLE` statement for `schema` under the quoted name `qualified`.
///
/// A column that came from a MySQL/MariaDB catalog (`dialect` `mysql`) is
/// created with its exact source type, charset and collation; others get
/// the native type of their [`ColumnType`] ([`ddl_type`]).
/// `VARCHAR`s that would push the row past MySQL's 65,535-byte limit become
/// `LONGTEXT`; unbounded text/binary key columns get a key prefix so the
/// primary key stays within InnoDB's 3,072 bytes (a prefix collision then fails
/// the load loudly as a duplicate key, it never drops a row silently).
pub(crate) fn create_table_sql(qualified: &str, schema: &TableSchema, has_uuid: bool) -> String {
    let mut budget = ROW_BYTES_BUDGET;
    let mut defs = Vec::with_capacity(schema.columns.len() + 1);
    for c in &schema.columns {
        let null = if c.nullable { "NULL" } else { "NOT NULL" };
        if c.dialect == Some(DIALECT) {
            // The source's own column type, read from its catalog (never
            // user text): the source table held it, so it fits a row.
            budget = budget.saturating_sub(stored_bytes(&c.ty).unwrap_or(12));
            defs.push(format!("{} {} {null}", quote(&c.name), c.native_type));
            continue;
        }
        let mut ty = ddl_type(&c.ty, has_uuid);
        if let ColumnType::Text {
            max_chars: Some(n), ..
        } = c.ty
        {
            let bytes = n as usize * 4 + 2;
            if ty != "LONGTEXT" && bytes > budget {
                ty = "LONGTEXT".to_string();
            } else if ty != "LONGTEXT" {
                budget -= bytes;
            }
        } else if let Some(b) = stored_bytes(&c.ty) {
            budget = budget.saturating_sub(b);
        } else {
            budget = budget.saturating_sub(12);
        }
        defs.push(format!("{} {ty} {null}", quote(&c.name)));
    }
    if !schema.primary_key.is_empty() {
        defs.push(format!("PRIMARY KEY ({})", key_parts(schema).join(", ")));
    }
    format!(
        "CREATE TABLE {qualified} ({}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        defs.join(", ")
    )
}

/// Key parts of the primary key, with prefixes on unbounded text/binary columns.
fn key_parts(schema: &TableSchema) -> Vec<String> {
    let cols: Vec<&ColumnDef> = schema
        .primary_key
        .iter()
        .filter_map(|k| schema.column(k))
        .collect();
    let fixed: usize = cols.iter().filter_map(|c| stored_bytes(&c.ty)).sum();
    let unbounded = cols
        .iter()
        .filter(|c| stored_bytes(&c.ty).is_none())
        .count();
    let share = MAX_KEY_BYTES.saturating_sub(fixed) / unbounded.max(1);
    cols.iter()
        .map(|c| match (&c.ty, stored_bytes(&c.ty)) {
            (_, Some(_)) => quote(&c.name),
            (ColumnType::Binary, None) => format!("{}({})", quote(&c.name), share.max(1)),
            (_, None) => format!("{}({})", quote(&c.name), (share / 4).max(1)),
        })
        .collect()
}

/// The native type Ferry creates for a column type; `has_uuid` says whether
/// the server has MariaDB's `UUID` type (10.7+), else UUIDs go to `CHAR(36)`.
pub(crate) fn ddl_type(ty: &ColumnType, has_uuid: bool) -> String {
    match ty {
        ColumnType::Bool => "TINYINT(1)".into(),
        ColumnType::Int16 => "SMALLINT".into(),
        ColumnType::Int32 => "INT".into(),
        ColumnType::Int64 => "BIGINT".into(),
        ColumnType::Float32 => "FLOAT".into(),
        ColumnType::Float64 => "DOUBLE".into(),
        ColumnType::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
        // DECIMAL(65,30) would round; the exact text is kept instead.
        ColumnType::DecimalText => "LONGTEXT".into(),
        ColumnType::Text {
            max_chars: Some(n),
            fixed: true,
        } if *n <= 255 => format!("CHAR({n})"),
        ColumnType::Text {
            max_chars: Some(n), ..
        } if *n <= MAX_VARCHAR_CHARS => format!("VARCHAR({n})"),
        ColumnType::Text { .. } => "LONGTEXT".into(),
        ColumnType::Binary => "LONGBLOB".into(),
        ColumnType::Date => "DATE".into(),
        ColumnType::Time => "TIME(6)".into(),
        ColumnType::Timestamp | ColumnType::TimestampTz => "DATETIME(6)".into(),
        ColumnType::Uuid if has_uuid => "UUID".into(),
        ColumnType::Uuid => "CHAR(36)".into(),
        ColumnType::Json => "JSON".into(),
        // ISO 8601 duration text (see ferry_core::text_form).
        ColumnType::Interval => "LONGTEXT".into(),
        // A JSON array (see ferry_core::text_form).
        ColumnType::List(_) => "JSON".into(),
    }
}

/// Whether values of `source` can be stored in `target` without loss:
/// [`ColumnType::fits_into`] plus the conventions of this connector's own DDL
/// (`timestamptz` in a `DATETIME` holding UTC, exact decimal text in a text
/// column, UUID text in `CHAR(36)`).
pub(crate) fn fits(source: &ColumnType, target: &NativeColumn, target_ty: &ColumnType) -> bool {
    source.fits_into(target_ty)
        || narrows_with_checks(source, target_ty)
        || match (source, target_ty) {
            (ColumnType::TimestampTz, ColumnType::Timestamp) => target.data_type == "datetime",
            // A bool is written as 0 or 1: any integer holds it exactly
            // (Ferry creates bools as `TINYINT(1)`, which reads as an integer).
            (ColumnType::Bool, ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64) => true,
            (
                ColumnType::DecimalText,
                ColumnType::Text {
                    max_chars: None,
                    fixed: false,
                },
            ) => true,
            (
                ColumnType::Uuid,
                ColumnType::Text {
                    max_chars: Some(n), ..
                },
            ) => *n >= 36,
            _ => false,
        }
}

/// Narrower text and integer targets: the engine's conform step checks each
/// value (see [`target_types`]), and strict mode plus the warning check still
/// guard the load. Decimal and float narrowing stay refused here.
fn narrows_with_checks(source: &ColumnType, target_ty: &ColumnType) -> bool {
    use ColumnType::*;
    source.fits_with_checks(target_ty)
        && matches!(
            (source, target_ty),
            (Text { .. } | Json | DecimalText, Text { .. })
                | (Int16 | Int32 | Int64, Int16 | Int32 | Int64)
        )
}

/// The target's column types aligned with the source's columns (the source
/// type where the target column is missing or unmapped).
pub(crate) fn target_types(source: &TableSchema, target: &TableInfo) -> Vec<ColumnType> {
    source
        .columns
        .iter()
        .map(|c| {
            // A carried date travels as the text of its own type (see [`carry`]).
            if super::carry::is_carried(c) {
                return c.ty.clone();
            }
            target
                .columns
                .iter()
                .find(|t| t.name == c.name)
                .and_then(column_type)
                .unwrap_or_else(|| c.ty.clone())
        })
        .collect()
}

/// Checks an existing target against the source schema; every problem names its column.
pub(crate) fn check_target(display: &str, source: &TableSchema, target: &TableInfo) -> Result<()> {
    let mut problems = Vec::new();
    if target.table_type != "BASE TABLE" {
        problems.push(format!("{display} is a {}, not a table", target.table_type));
    }
    for c in &source.columns {
        let Some(t) = target.columns.iter().find(|t| t.name == c.name) else {
            problems.push(format!(
                "column `{}`: missing in the target (source {})",
                c.name, c.native_type
            ));
            continue;
        };
        if t.generated {
            problems.push(format!(
                "column `{}`: is a generated column in the target and cannot be loaded",
                c.name
            ));
            continue;
        }
        if super::carry::is_carried(c) {
            if !super::carry::same_type(c, &t.column_type) {
                problems.push(format!(
                    "column `{}`: source {} travels as MariaDB's own date text and fits only a \
                     target column of that type, not {}",
                    c.name,
                    c.native_type,
                    t.native_type()
                ));
            }
            continue;
        }
        match column_type(t) {
            None => problems.push(format!(
                "column `{}`: target type {} is not supported",
                c.name, t.column_type
            )),
            Some(tt) if !fits(&c.ty, t, &tt) => problems.push(format!(
                "column `{}`: source {} does not fit target {}",
                c.name,
                c.native_type,
                t.native_type()
            )),
            Some(_) => {}
        }
    }
    for t in &target.columns {
        if source.column(&t.name).is_none() && !t.nullable && !t.has_default {
            problems.push(format!(
                "column `{}`: the target's column is NOT NULL without a default and the source has no such column",
                t.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Schema {
            table: display.to_string(),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_catalog_shaped_type_text_goes_into_ddl() {
        for ok in [
            "int(10) unsigned",
            "bigint(20) unsigned zerofill",
            "decimal(10,2)",
            "point",
            "inet6",
            "timestamp",
            "enum('a','B','it''s','x)y; z')",
            "set('a\\'b','c')",
            "varchar(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci",
            "enum('a') CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        ] {
            assert!(is_column_type_text(ok), "{ok}");
        }
        for bad in [
            "int); DROP TABLE t; --",
            "int, evil int",
            "int AS (sleep(1))",
            "int DEFAULT 1",
            "enum('a'",
            "varchar(20) CHARACTER SET latin1; DROP TABLE t COLLATE x",
            "int(1) unsigned /* c */",
            "",
            "`int`",
        ] {
            assert!(!is_column_type_text(bad), "{bad}");
        }
    }
    use super::*;

    fn native(data_type: &str, column_type: &str) -> NativeColumn {
        NativeColumn {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            declared: column_type.into(),
            precision: None,
            scale: None,
            char_len: None,
            nullable: true,
            has_default: false,
            generated: false,
            json: false,
            charset: None,
            collation: None,
        }
    }

    #[test]
    fn maps_integers_by_signedness() {
        let t = |d: &str, c: &str| column_type(&native(d, c));
        assert_eq!(t("tinyint", "tinyint(1)"), Some(ColumnType::Int16));
        assert_eq!(t("tinyint", "tinyint(4)"), Some(ColumnType::Int16));
        assert_eq!(t("tinyint", "tinyint(3) unsigned"), Some(ColumnType::Int32));
        assert_eq!(
            t("smallint", "smallint(5) unsigned"),
            Some(ColumnType::Int32)
        );
        assert_eq!(t("int", "int(10) unsigned"), Some(ColumnType::Int64));
        assert_eq!(
            t("bigint", "bigint(20) unsigned"),
            Some(ColumnType::Decimal {
                precision: 20,
                scale: 0
            })
        );
        assert_eq!(t("geometry", "geometry"), Some(ColumnType::Binary));
        assert_eq!(t("point", "point"), Some(ColumnType::Binary));
        assert_eq!(
            t("inet6", "inet6"),
            Some(ColumnType::Text {
                max_chars: None,
                fixed: false
            })
        );
        assert_eq!(t("vector", "vector(3)"), None);
    }

    #[test]
    fn bits_are_flags_or_numbers() {
        let t = |c: &str| column_type(&native("bit", c));
        assert_eq!(t("bit(1)"), Some(ColumnType::Bool));
        assert_eq!(t("bit(8)"), Some(ColumnType::Int64));
        assert_eq!(t("bit(63)"), Some(ColumnType::Int64));
        assert_eq!(
            t("bit(64)"),
            Some(ColumnType::Decimal {
                precision: 20,
                scale: 0
            })
        );
    }

    #[test]
    fn own_ddl_maps_back_to_a_fitting_type() {
        let all = ColumnType::examples();
        for ty in all {
            let ddl = ddl_type(&ty, true).to_ascii_lowercase();
            let data_type = ddl.split('(').next().unwrap_or_default().to_string();
            let mut n = native(&data_type, &ddl);
            n.char_len = match &ty {
                ColumnType::Text {
                    max_chars: Some(m), ..
                } => Some(*m as u64),
                _ => None,
            };
            if let ColumnType::Decimal { precision, scale } = ty {
                n.precision = Some(precision as u64);
                n.scale = Some(scale as u64);
            }
            let back = column_type(&n).expect("maps back");
            assert!(fits(&ty, &n, &back), "{ty} -> {ddl} -> {back}");
        }
    }

    fn mysql_col(name: &str, ty: ColumnType, native: &str) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            ty,
            nullable: true,
            native_type: native.into(),
            dialect: Some(DIALECT),
        }
    }

    #[test]
    fn same_dialect_columns_are_created_with_their_exact_type() {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                mysql_col("u", ColumnType::Int64, "int(10) unsigned"),
                mysql_col(
                    "e",
                    ColumnType::Text {
                        max_chars: None,
                        fixed: false,
                    },
                    "enum('A','b c') CHARACTER SET latin1 COLLATE latin1_swedish_ci",
                ),
                ColumnDef {
                    dialect: None,
                    ..mysql_col("x", ColumnType::Int16, "int16")
                },
            ],
            primary_key: vec![],
        };
        let sql = create_table_sql("`d`.`t`", &schema, true);
        assert!(sql.contains("`u` int(10) unsigned NULL"), "{sql}");
        assert!(
            sql.contains("`e` enum('A','b c') CHARACTER SET latin1 COLLATE latin1_swedish_ci NULL"),
            "{sql}"
        );
        assert!(sql.contains("`x` SMALLINT NULL"), "{sql}");
    }

    #[test]
    fn only_a_read_of_an_unmapped_column_is_refused() {
        let n = |name: &str, data_type: &str, column_type: &str| NativeColumn {
            name: name.into(),
            ..native(data_type, column_type)
        };
        let info = TableInfo {
            table_type: "BASE TABLE".into(),
            estimated_rows: None,
            columns: vec![n("id", "int", "int(11)"), n("v", "vector", "vector(3)")],
            primary_key: vec!["id".into()],
        };
        let schema = table_schema("d.t", &info);
        assert_eq!(schema.columns[1].ty, ColumnType::Binary);
        let err = refuse_unmapped("d.t", &schema).expect_err("reads v");
        assert!(
            err.to_string().contains("`v` (vector(3))") && err.to_string().contains("columns:"),
            "{err}"
        );
        let only_id = schema.project(&["id".into()]).expect("projects");
        assert!(refuse_unmapped("d.t", &only_id).is_ok());
    }

    #[test]
    fn unbounded_key_columns_get_prefixes() {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                ColumnDef {
                    name: "k".into(),
                    ty: ColumnType::Text {
                        max_chars: None,
                        fixed: false,
                    },
                    nullable: false,
                    native_type: "text".into(),
                    dialect: None,
                },
                ColumnDef {
                    name: "n".into(),
                    ty: ColumnType::Int64,
                    nullable: false,
                    native_type: "bigint".into(),
                    dialect: None,
                },
            ],
            primary_key: vec!["k".into(), "n".into()],
        };
        let sql = create_table_sql("`d`.`t`", &schema, true);
        assert!(sql.contains("PRIMARY KEY (`k`(766), `n`)"), "{sql}");
        assert!(sql.contains("`k` LONGTEXT NOT NULL"), "{sql}");
    }
}
