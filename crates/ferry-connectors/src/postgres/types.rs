//! PostgreSQL ↔ [`ColumnType`] mapping.
//!
//! | PostgreSQL | ColumnType | wire (binary COPY) |
//! |---|---|---|
//! | boolean | bool | 1 byte |
//! | smallint / integer / bigint | int16 / int32 / int64 | big-endian |
//! | real / double precision | float32 / float64 | IEEE 754 big-endian |
//! | numeric(p,s), p ≤ 38 | decimal(p,s) | numeric (base 10000) |
//! | numeric, numeric(p>38,s) | decimal_text | selected as `::text` |
//! | text / varchar(n) / char(n) / name | text / varchar(n) / char(n) | UTF-8 |
//! | bytea | binary | raw |
//! | date / time / timestamp / timestamptz | date / time / timestamp / timestamptz | days / µs since 2000-01-01 |
//! | uuid | uuid | 16 bytes |
//! | json / jsonb | json | UTF-8 / version byte + UTF-8 |
//! | interval | interval | µs, days, months |
//! | T[] (one-dimensional, T one of the types above) | list<T> | array header + elements (see [`super::array`]) |
//! | enums | text | the label (UTF-8); written back from text |
//! | anything else (inet, ranges, arrays of other types, …) | text | selected as `::text`, lossless text form |
//!
//! Towards a PostgreSQL sink (no transform on the column), every type whose
//! values the table above does not hold exactly is carried in its binary COPY
//! form instead and written back unchanged (see [`super::native`]).

use ferry_core::ColumnType;

pub use super::array::ArrayElem;

/// How a column travels in binary COPY, as Ferry reads or writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Wire {
    /// `bool`
    Bool,
    /// `int2`
    Int2,
    /// `int4`
    Int4,
    /// `int8`
    Int8,
    /// `float4`
    Float4,
    /// `float8`
    Float8,
    /// `numeric`
    Numeric,
    /// text-like: text, varchar, bpchar, name, json, enum input
    Text,
    /// `jsonb` (a version byte, then text)
    Jsonb,
    /// `bytea`
    Bytea,
    /// `date`
    Date,
    /// `time`
    Time,
    /// `timestamp` and `timestamptz`
    Timestamp,
    /// `uuid`
    Uuid,
    /// `interval` (µs, days, months)
    Interval,
    /// a one-dimensional array of this element type
    Array(ArrayElem),
}

/// A PostgreSQL column as the catalog describes it.
#[derive(Debug, Clone)]
pub struct PgColumn {
    /// Column name.
    pub name: String,
    /// `pg_type.typname` of the column's type.
    pub typname: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `character varying(44)`.
    pub formatted: String,
    /// `atttypmod`.
    pub typmod: i32,
    /// `attnotnull`.
    pub not_null: bool,
    /// Whether the column has a default (or is identity/generated).
    pub has_default: bool,
    /// Whether the column's type is an enum (`pg_type.typtype = 'e'`).
    pub is_enum: bool,
    /// `atttypid` (0 when not read from a catalog).
    pub type_oid: u32,
}

impl PgColumn {
    /// The logical type and the wire format Ferry reads it in. `None` wire means
    /// the column is read through `::text`.
    pub fn mapping(&self) -> (ColumnType, Option<Wire>) {
        let text = |n: Option<u32>, fixed| ColumnType::Text {
            max_chars: n,
            fixed,
        };
        let len = if self.typmod >= 4 {
            Some((self.typmod - 4) as u32)
        } else {
            None
        };
        if self.is_enum {
            // Binary COPY carries an enum value as its label.
            return (text(None, false), Some(Wire::Text));
        }
        if let Some(elem) = self
            .typname
            .strip_prefix('_')
            .and_then(ArrayElem::of_typname)
        {
            // The column's typmod applies to the elements (`numeric(10,2)[]`).
            let scalar = PgColumn {
                typname: self.typname[1..].to_string(),
                ..self.clone()
            };
            return (
                ColumnType::list(scalar.mapping().0),
                Some(Wire::Array(elem)),
            );
        }
        match self.typname.as_str() {
            "bool" => (ColumnType::Bool, Some(Wire::Bool)),
            "int2" => (ColumnType::Int16, Some(Wire::Int2)),
            "int4" => (ColumnType::Int32, Some(Wire::Int4)),
            "int8" => (ColumnType::Int64, Some(Wire::Int8)),
            "float4" => (ColumnType::Float32, Some(Wire::Float4)),
            "float8" => (ColumnType::Float64, Some(Wire::Float8)),
            "numeric" => {
                let (p, s) = if self.typmod >= 4 {
                    let m = self.typmod - 4;
                    // PostgreSQL 15 keeps the scale in 11 bits, signed
                    // (`numeric(10,-2)`): a negative scale has no Arrow decimal.
                    let scale = ((m & 0x7ff) ^ 0x400) - 0x400;
                    if scale < 0 {
                        return (ColumnType::DecimalText, None);
                    }
                    (Some(((m >> 16) & 0xffff) as u32), Some(scale as u32))
                } else {
                    (None, None)
                };
                match ColumnType::decimal(p, s) {
                    t @ ColumnType::Decimal { .. } => (t, Some(Wire::Numeric)),
                    t => (t, None),
                }
            }
            "text" | "name" => (text(None, false), Some(Wire::Text)),
            "varchar" => (text(len, false), Some(Wire::Text)),
            "bpchar" => (text(len.or(Some(1)), true), Some(Wire::Text)),
            "bytea" => (ColumnType::Binary, Some(Wire::Bytea)),
            "date" => (ColumnType::Date, Some(Wire::Date)),
            "time" => (ColumnType::Time, Some(Wire::Time)),
            "timestamp" => (ColumnType::Timestamp, Some(Wire::Timestamp)),
            "timestamptz" => (ColumnType::TimestampTz, Some(Wire::Timestamp)),
            "uuid" => (ColumnType::Uuid, Some(Wire::Uuid)),
            "json" => (ColumnType::Json, Some(Wire::Text)),
            "jsonb" => (ColumnType::Json, Some(Wire::Jsonb)),
            "interval" => (ColumnType::Interval, Some(Wire::Interval)),
            _ => (text(None, false), None),
        }
    }

    /// Whether every value the column can hold has an exact form in the
    /// Arrow type of [`PgColumn::mapping`]. The others (±infinity dates and
    /// timestamps, NaN in `numeric(p,s)`, multi-dimensional arrays, and every
    /// type read through `::text`) take the same-dialect exact path towards a
    /// PostgreSQL sink: their binary COPY form, unchanged (see [`super::native`]).
    pub fn arrow_exact(&self) -> bool {
        if self.is_enum {
            return true;
        }
        match self.typname.as_str() {
            "bool" | "int2" | "int4" | "int8" | "float4" | "float8" | "text" | "varchar"
            | "bpchar" | "name" | "bytea" | "uuid" | "json" | "jsonb" | "interval" | "time" => true,
            // Unconstrained, wide or negative-scale numerics travel as exact text.
            "numeric" => self.mapping().0 == ColumnType::DecimalText,
            _ => false,
        }
    }

    /// The wire format Ferry must write for this (target) column, if it can.
    pub fn write_wire(&self) -> Option<Wire> {
        match self.typname.as_str() {
            "numeric" => Some(Wire::Numeric),
            "json" | "text" | "varchar" | "bpchar" | "name" => Some(Wire::Text),
            _ => self.mapping().1,
        }
    }
}

/// The PostgreSQL type Ferry creates for a column of type `ty` (whose source
/// called it `native`).
pub fn ddl_type(ty: &ColumnType, native: &str) -> String {
    match ty {
        ColumnType::Bool => "boolean".into(),
        ColumnType::Int16 => "smallint".into(),
        ColumnType::Int32 => "integer".into(),
        ColumnType::Int64 => "bigint".into(),
        ColumnType::Float32 => "real".into(),
        ColumnType::Float64 => "double precision".into(),
        ColumnType::Decimal { precision, scale } => format!("numeric({precision},{scale})"),
        ColumnType::DecimalText => "numeric".into(),
        ColumnType::Text {
            max_chars: None, ..
        } => "text".into(),
        ColumnType::Text {
            max_chars: Some(n),
            fixed: false,
        } => format!("varchar({n})"),
        ColumnType::Text {
            max_chars: Some(n),
            fixed: true,
        } => format!("char({n})"),
        ColumnType::Binary => "bytea".into(),
        ColumnType::Date => "date".into(),
        ColumnType::Time => "time".into(),
        ColumnType::Timestamp => "timestamp".into(),
        ColumnType::TimestampTz => "timestamptz".into(),
        ColumnType::Uuid => "uuid".into(),
        ColumnType::Json if native.eq_ignore_ascii_case("jsonb") => "jsonb".into(),
        ColumnType::Json => "json".into(),
        ColumnType::Interval => "interval".into(),
        ColumnType::List(elem) => format!("{}[]", ddl_type(elem, native.trim_end_matches("[]"))),
    }
}

/// Whether a source column of `from` can be written into a target column
/// whose wire is `to` (the binary encoder converts only these).
pub fn encodable(from: &ColumnType, to: Wire) -> bool {
    use ColumnType as C;
    matches!(
        (from, to),
        (C::Bool, Wire::Bool)
            // Narrower targets: the engine's conform step checks each value.
            | (
                C::Int16 | C::Int32 | C::Int64,
                Wire::Int2 | Wire::Int4 | Wire::Int8 | Wire::Numeric
            )
            | (C::Float32 | C::Float64, Wire::Float4 | Wire::Float8)
            | (C::Decimal { .. } | C::DecimalText, Wire::Numeric)
            | (C::Text { .. }, Wire::Text)
            | (C::Json, Wire::Text | Wire::Jsonb)
            | (C::Binary, Wire::Bytea)
            | (C::Date, Wire::Date)
            | (C::Time, Wire::Time)
            | (C::Timestamp | C::TimestampTz, Wire::Timestamp)
            | (C::Uuid, Wire::Uuid | Wire::Text)
            // ISO 8601 text of an interval, JSON array text of a list.
            | (C::Interval, Wire::Interval | Wire::Text)
            | (C::List(_), Wire::Text | Wire::Jsonb)
    ) || matches!((from, to), (C::List(e), Wire::Array(a)) if encodable(e, a.wire()))
}

/// Double-quotes an identifier for PostgreSQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string as a PostgreSQL literal (standard_conforming_strings on).
/// Used only for server-produced values (snapshot ids, split bounds).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
