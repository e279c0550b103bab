//! SQLite declared types ↔ [`ColumnType`] (the table is in the module docs of
//! [`crate::sqlite`]), and SQLite's column affinity.

use ferry_core::ColumnType;

/// Largest decimal precision declared `DECIMAL(p,s)` (NUMERIC affinity): SQLite
/// keeps 15 significant digits of a REAL, so wider decimals are declared
/// `DECIMAL_TEXT(p,s)` (TEXT affinity) to keep every digit.
pub(crate) const NUMERIC_AFFINITY_MAX_PRECISION: u8 = 15;

/// SQLite's column affinity, from the rules of "Datatypes In SQLite" §3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

/// The affinity SQLite gives a column declared `declared`.
pub(crate) fn affinity(declared: &str) -> Affinity {
    let u = declared.to_ascii_uppercase();
    if u.contains("INT") {
        Affinity::Integer
    } else if u.contains("CHAR") || u.contains("CLOB") || u.contains("TEXT") {
        Affinity::Text
    } else if u.contains("BLOB") || u.trim().is_empty() {
        Affinity::Blob
    } else if u.contains("REAL") || u.contains("FLOA") || u.contains("DOUB") {
        Affinity::Real
    } else {
        Affinity::Numeric
    }
}

/// Splits `VARCHAR ( 10 )` into the upper-cased, space-normalized name
/// (`VARCHAR`) and its numeric arguments (`[10]`); arguments that are not
/// non-negative integers make the list empty.
fn split_declared(declared: &str) -> (String, Vec<u32>) {
    let (head, args) = match declared.find('(') {
        Some(i) => (&declared[..i], Some(&declared[i + 1..])),
        None => (declared, None),
    };
    let name = head
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    let nums = args
        .and_then(|a| a.split(')').next())
        .map(|a| {
            a.split(',')
                .map(|x| x.trim().trim_start_matches('+').parse::<u32>())
                .collect::<Result<Vec<u32>, _>>()
                .unwrap_or_default()
        })
        .unwrap_or_default();
    (name, nums)
}

/// The [`ColumnType`] of a column declared `declared` (case-insensitive).
pub fn column_type(declared: &str) -> ColumnType {
    let (name, args) = split_declared(declared);
    let text = |max_chars, fixed| ColumnType::Text { max_chars, fixed };
    match name.as_str() {
        "BOOL" | "BOOLEAN" => ColumnType::Bool,
        "TINYINT" | "SMALLINT" | "INT2" => ColumnType::Int16,
        "INT" | "INT4" | "MEDIUMINT" => ColumnType::Int32,
        "INTEGER" | "BIGINT" | "INT8" => ColumnType::Int64,
        "FLOAT" | "FLOAT4" => ColumnType::Float32,
        "REAL" | "DOUBLE" | "DOUBLE PRECISION" | "FLOAT8" => ColumnType::Float64,
        "DECIMAL" | "NUMERIC" | "DECIMAL_TEXT" => {
            ColumnType::decimal(args.first().copied(), args.get(1).copied())
        }
        "CHAR" | "CHARACTER" | "NCHAR" | "NATIVE CHARACTER" => match args.first() {
            Some(n) => text(Some(*n), true),
            None => text(None, false),
        },
        "VARCHAR"
        | "CHARACTER VARYING"
        | "NVARCHAR"
        | "VARYING CHARACTER"
        | "NATIONAL VARYING CHARACTER" => text(args.first().copied(), false),
        "TEXT" | "CLOB" | "" => text(None, false),
        "BLOB" | "BYTEA" => ColumnType::Binary,
        "DATE" => ColumnType::Date,
        "TIME" => ColumnType::Time,
        "DATETIME" | "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => ColumnType::Timestamp,
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => ColumnType::TimestampTz,
        "UUID" => ColumnType::Uuid,
        "JSON" | "JSONB" | "JSON_TEXT" => ColumnType::Json,
        _ => match affinity(declared) {
            Affinity::Integer => ColumnType::Int64,
            Affinity::Text => text(None, false),
            Affinity::Blob => ColumnType::Binary,
            Affinity::Real => ColumnType::Float64,
            Affinity::Numeric => ColumnType::DecimalText,
        },
    }
}

/// The declared type the sink gives a new column of type `ty`; [`column_type`]
/// maps it back to `ty`, except for `interval` (back as `text`) and
/// `list<T>` (back as `json`), which SQLite stores as their text forms.
pub fn declared_type(ty: &ColumnType) -> String {
    match ty {
        ColumnType::Bool => "BOOLEAN".into(),
        ColumnType::Int16 => "SMALLINT".into(),
        ColumnType::Int32 => "INT".into(),
        ColumnType::Int64 => "INTEGER".into(),
        ColumnType::Float32 => "FLOAT".into(),
        ColumnType::Float64 => "REAL".into(),
        ColumnType::Decimal { precision, scale }
            if *precision <= NUMERIC_AFFINITY_MAX_PRECISION =>
        {
            format!("DECIMAL({precision},{scale})")
        }
        ColumnType::Decimal { precision, scale } => format!("DECIMAL_TEXT({precision},{scale})"),
        ColumnType::DecimalText => "DECIMAL_TEXT".into(),
        ColumnType::Text {
            max_chars: Some(n),
            fixed: true,
        } => format!("CHAR({n})"),
        ColumnType::Text {
            max_chars: Some(n),
            fixed: false,
        } => format!("VARCHAR({n})"),
        ColumnType::Text {
            max_chars: None, ..
        } => "TEXT".into(),
        ColumnType::Binary => "BLOB".into(),
        ColumnType::Date => "DATE".into(),
        ColumnType::Time => "TIME".into(),
        ColumnType::Timestamp => "TIMESTAMP".into(),
        ColumnType::TimestampTz => "TIMESTAMPTZ".into(),
        ColumnType::Uuid => "UUID".into(),
        ColumnType::Json => "JSON_TEXT".into(),
        // SQLite has no interval or array type: ISO 8601 duration text, and a
        // JSON array (see ferry_core::text_form); they read back as text / json.
        ColumnType::Interval => "TEXT".into(),
        ColumnType::List(_) => "JSON_TEXT".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_types() -> Vec<ColumnType> {
        let d = |precision, scale| ColumnType::Decimal { precision, scale };
        let mut all = ColumnType::examples();
        all.extend([d(38, 10), d(1, 0)]);
        all
    }

    #[test]
    fn declared_types_round_trip() {
        for t in all_types() {
            let decl = declared_type(&t);
            let back = match &t {
                ColumnType::Interval => ColumnType::Text {
                    max_chars: None,
                    fixed: false,
                },
                ColumnType::List(_) => ColumnType::Json,
                other => other.clone(),
            };
            assert_eq!(column_type(&decl), back, "{decl}");
            assert_eq!(column_type(&decl.to_lowercase()), back, "{decl}");
            assert!(t.fits_into(&back), "{t} -> {decl}");
        }
    }

    #[test]
    fn exact_decimals_keep_their_digits() {
        // Wide decimals need TEXT affinity, narrow ones may be numbers.
        let wide = declared_type(&ColumnType::Decimal {
            precision: 38,
            scale: 10,
        });
        assert_eq!(affinity(&wide), Affinity::Text);
        assert_eq!(
            affinity(&declared_type(&ColumnType::DecimalText)),
            Affinity::Text
        );
        assert_eq!(affinity(&declared_type(&ColumnType::Json)), Affinity::Text);
        let narrow = declared_type(&ColumnType::Decimal {
            precision: 15,
            scale: 2,
        });
        assert_eq!(affinity(&narrow), Affinity::Numeric);
    }

    #[test]
    fn parses_what_people_write() {
        let text = |max_chars, fixed| ColumnType::Text { max_chars, fixed };
        for (decl, ty) in [
            ("integer", ColumnType::Int64),
            ("BIGINT", ColumnType::Int64),
            ("int", ColumnType::Int32),
            ("INT(11)", ColumnType::Int32),
            ("tinyint", ColumnType::Int16),
            ("unsigned big int", ColumnType::Int64),
            ("double precision", ColumnType::Float64),
            ("Double  Precision", ColumnType::Float64),
            ("float", ColumnType::Float32),
            ("numeric( 10 , 2 )", ColumnType::decimal(Some(10), Some(2))),
            ("decimal(12)", ColumnType::decimal(Some(12), Some(0))),
            ("decimal(50,2)", ColumnType::DecimalText),
            ("numeric", ColumnType::DecimalText),
            ("character(4)", text(Some(4), true)),
            ("character varying(20)", text(Some(20), false)),
            ("nvarchar(7)", text(Some(7), false)),
            ("varchar", text(None, false)),
            ("", text(None, false)),
            ("clob", text(None, false)),
            ("datetime", ColumnType::Timestamp),
            ("timestamp with time zone", ColumnType::TimestampTz),
            ("jsonb", ColumnType::Json),
            ("bytea", ColumnType::Binary),
            // affinity fallbacks
            ("STRING", ColumnType::DecimalText),
            ("LONGTEXT", text(None, false)),
            ("BIGSERIAL INT", ColumnType::Int64),
            ("MEDIUMBLOB", ColumnType::Binary),
            ("DOUBLE(10,2)", ColumnType::Float64),
            ("REAL_ISH", ColumnType::Float64),
            ("MONEY", ColumnType::DecimalText),
        ] {
            assert_eq!(column_type(decl), ty, "{decl}");
        }
    }
}
