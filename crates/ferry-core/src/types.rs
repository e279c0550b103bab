//! The type-mapping contract.
//!
//! Every connector maps its native column types to a [`ColumnType`] when it
//! reads, and maps a [`ColumnType`] back to a native type when it creates or
//! checks a target. The Arrow type of a column is a pure function of its
//! [`ColumnType`], so batches between connectors carry a schema that is fixed at
//! plan time:
//!
//! ```text
//!  native (source) ──▶ ColumnType ──▶ Arrow DataType ──▶ ColumnType ──▶ native (target)
//!  numeric(15,2)       decimal(15,2)  Decimal128(15,2)                  DECIMAL(15,2)
//! ```
//!
//! The [`ColumnType`] travels in each Arrow field's metadata under
//! [`FIELD_TYPE_KEY`] in its canonical text form (`varchar(44)`, `decimal(15,2)`),
//! so a sink knows the declared length and precision, not only the Arrow type.

use std::fmt;
use std::str::FromStr;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};

/// Arrow field metadata key holding the column's [`ColumnType`] in canonical text form.
pub const FIELD_TYPE_KEY: &str = "ferry.type";
/// Arrow field metadata key holding the source's native type name (for messages and same-dialect DDL).
pub const FIELD_NATIVE_KEY: &str = "ferry.native_type";
/// Arrow field metadata key naming the dialect of [`FIELD_NATIVE_KEY`] (see `ColumnDef::dialect`).
pub const FIELD_DIALECT_KEY: &str = "ferry.dialect";

/// Largest decimal precision that fits Arrow's `Decimal128`.
pub const DECIMAL128_MAX_PRECISION: u8 = 38;

/// Powers of ten that fit an `i128`: `POW10[n] = 10^n` for n in 0..=38.
pub const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// A column's logical type: what the values mean, independent of any database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// true/false.
    Bool,
    /// 16-bit signed integer.
    Int16,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// IEEE 754 single precision.
    Float32,
    /// IEEE 754 double precision.
    Float64,
    /// Exact decimal with `precision` ≤ 38 digits, `scale` of them after the point.
    Decimal {
        /// Total number of significant digits (1..=38).
        precision: u8,
        /// Digits after the decimal point (0..=precision).
        scale: u8,
    },
    /// Exact decimal wider than 38 digits, or unconstrained: carried as canonical
    /// decimal text so no digit is ever lost.
    DecimalText,
    /// Character data; `max_chars` for `varchar(n)`/`char(n)`, `fixed` for `char(n)`.
    Text {
        /// Declared maximum length in characters, if any.
        max_chars: Option<u32>,
        /// Blank-padded fixed-length (`char(n)`).
        fixed: bool,
    },
    /// Byte strings.
    Binary,
    /// Calendar date.
    Date,
    /// Time of day, microsecond precision, no zone.
    Time,
    /// Wall-clock date and time (no zone), microsecond precision; never shifted.
    Timestamp,
    /// An instant in time (UTC), microsecond precision.
    TimestampTz,
    /// 128-bit UUID.
    Uuid,
    /// JSON document, carried as its text.
    Json,
    /// A span of calendar time kept as its three parts — months, days and
    /// nanoseconds (PostgreSQL's `interval`: months, days, microseconds) —
    /// because a month is not a fixed number of days nor a day of seconds.
    Interval,
    /// A one-dimensional list of values of one scalar type (PostgreSQL
    /// arrays); elements may be NULL. Lists do not nest.
    List(Box<ColumnType>),
}

impl ColumnType {
    /// The Arrow type that carries values of this column type.
    pub fn arrow_type(&self) -> DataType {
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int16 => DataType::Int16,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Decimal { precision, scale } => {
                DataType::Decimal128(*precision, *scale as i8)
            }
            ColumnType::DecimalText | ColumnType::Text { .. } | ColumnType::Json => DataType::Utf8,
            ColumnType::Binary => DataType::Binary,
            ColumnType::Date => DataType::Date32,
            ColumnType::Time => DataType::Time64(TimeUnit::Microsecond),
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::TimestampTz => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            ColumnType::Uuid => DataType::FixedSizeBinary(16),
            ColumnType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            ColumnType::List(elem) => {
                DataType::List(Arc::new(Field::new_list_field(elem.arrow_type(), true)))
            }
        }
    }

    /// Whether this type may be the element of a [`ColumnType::List`]: any
    /// type but a list.
    pub fn is_list_element(&self) -> bool {
        !matches!(self, ColumnType::List(_))
    }

    /// A list of `elem`.
    pub fn list(elem: ColumnType) -> ColumnType {
        ColumnType::List(Box::new(elem))
    }

    /// One value of every variant, with typical parameters: what type-matrix
    /// and round-trip tests iterate over.
    pub fn examples() -> Vec<ColumnType> {
        let text = |max_chars, fixed| ColumnType::Text { max_chars, fixed };
        vec![
            ColumnType::Bool,
            ColumnType::Int16,
            ColumnType::Int32,
            ColumnType::Int64,
            ColumnType::Float32,
            ColumnType::Float64,
            ColumnType::Decimal {
                precision: 15,
                scale: 2,
            },
            ColumnType::DecimalText,
            text(None, false),
            text(Some(44), false),
            text(Some(3), true),
            ColumnType::Binary,
            ColumnType::Date,
            ColumnType::Time,
            ColumnType::Timestamp,
            ColumnType::TimestampTz,
            ColumnType::Uuid,
            ColumnType::Json,
            ColumnType::Interval,
            ColumnType::list(ColumnType::Int32),
            ColumnType::list(text(None, false)),
        ]
    }

    /// A decimal type, or [`ColumnType::DecimalText`] when it does not fit `Decimal128`.
    pub fn decimal(precision: Option<u32>, scale: Option<u32>) -> ColumnType {
        match (precision, scale) {
            (Some(p), s) if (1..=DECIMAL128_MAX_PRECISION as u32).contains(&p) => {
                let s = s.unwrap_or(0).min(p);
                ColumnType::Decimal {
                    precision: p as u8,
                    scale: s as u8,
                }
            }
            _ => ColumnType::DecimalText,
        }
    }

    /// Whether every value of `self` can be stored in a column of type `target`
    /// without loss (used to check an existing target).
    pub fn fits_into(&self, target: &ColumnType) -> bool {
        use ColumnType::*;
        if self == target {
            return true;
        }
        match (self, target) {
            (Int16, Int32 | Int64) | (Int32, Int64) => true,
            (Int16, Decimal { precision, scale }) => precision - scale >= 5,
            (Int32, Decimal { precision, scale }) => precision - scale >= 10,
            (Int64, Decimal { precision, scale }) => precision - scale >= 19,
            (Int16 | Int32 | Int64 | Decimal { .. }, DecimalText) => true,
            (Float32, Float64) => true,
            (
                Decimal {
                    precision: p1,
                    scale: s1,
                },
                Decimal {
                    precision: p2,
                    scale: s2,
                },
            ) => s1 <= s2 && (p1 - s1) <= (p2 - s2),
            (
                Text { max_chars: a, .. },
                Text {
                    max_chars: b,
                    fixed,
                },
            ) => match (a, b) {
                (_, None) => !fixed,
                (Some(a), Some(b)) => a <= b,
                (None, Some(_)) => false,
            },
            // UUID and JSON have exact text forms.
            (
                Uuid | Json,
                Text {
                    max_chars: None,
                    fixed: false,
                },
            ) => true,
            (
                Uuid,
                Text {
                    max_chars: Some(n),
                    fixed: false,
                },
            ) => *n >= 36,
            // An interval's ISO 8601 text (`P1Y2M3DT4H5M6.789S`) and a
            // list's JSON array text are exact.
            (
                Interval | List(_),
                Text {
                    max_chars: None,
                    fixed: false,
                },
            ) => true,
            (List(_), Json) => true,
            (List(a), List(b)) => a.fits_into(b),
            (Timestamp, TimestampTz) | (TimestampTz, Timestamp) => false,
            _ => false,
        }
    }
}

impl ColumnType {
    /// Whether values of `self` can go into `target` when each value is
    /// checked on the way (the engine's conform step): text into a shorter
    /// `varchar(n)`/`char(n)`, integers into narrower integers or decimals,
    /// decimals into fewer digits, float64 into float32. A value that does
    /// not fit makes its row dirty; it is never cut or rounded.
    pub fn fits_with_checks(&self, target: &ColumnType) -> bool {
        use ColumnType::*;
        if self.fits_into(target) {
            return true;
        }
        matches!(
            (self, target),
            (Text { .. } | Json | DecimalText, Text { .. })
                | (
                    Int16 | Int32 | Int64,
                    Int16 | Int32 | Int64 | Decimal { .. }
                )
                | (Decimal { .. }, Decimal { .. })
                | (Float64, Float32)
        )
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Bool => f.write_str("bool"),
            ColumnType::Int16 => f.write_str("int16"),
            ColumnType::Int32 => f.write_str("int32"),
            ColumnType::Int64 => f.write_str("int64"),
            ColumnType::Float32 => f.write_str("float32"),
            ColumnType::Float64 => f.write_str("float64"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::DecimalText => f.write_str("decimal_text"),
            ColumnType::Text {
                max_chars: None,
                fixed: false,
            } => f.write_str("text"),
            ColumnType::Text {
                max_chars: Some(n),
                fixed: false,
            } => write!(f, "varchar({n})"),
            ColumnType::Text {
                max_chars: Some(n),
                fixed: true,
            } => write!(f, "char({n})"),
            ColumnType::Text {
                max_chars: None,
                fixed: true,
            } => f.write_str("char(1)"),
            ColumnType::Binary => f.write_str("binary"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Time => f.write_str("time"),
            ColumnType::Timestamp => f.write_str("timestamp"),
            ColumnType::TimestampTz => f.write_str("timestamptz"),
            ColumnType::Uuid => f.write_str("uuid"),
            ColumnType::Json => f.write_str("json"),
            ColumnType::Interval => f.write_str("interval"),
            ColumnType::List(elem) => write!(f, "list<{elem}>"),
        }
    }
}

/// Error parsing a [`ColumnType`] from text.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown column type `{0}` (expected one of: bool, int16, int32, int64, float32, float64, decimal(p,s), decimal_text, text, varchar(n), char(n), binary, date, time, timestamp, timestamptz, uuid, json, interval, list<T> of any of these but list)"
)]
pub struct ParseColumnTypeError(String);

impl FromStr for ColumnType {
    type Err = ParseColumnTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseColumnTypeError(s.to_string());
        if let Some(inner) = s.strip_prefix("list<").and_then(|r| r.strip_suffix('>')) {
            let elem: ColumnType = inner.trim().parse().map_err(|_| err())?;
            if !elem.is_list_element() {
                return Err(err());
            }
            return Ok(ColumnType::list(elem));
        }
        let (head, args) = match s.find('(') {
            Some(i) if s.ends_with(')') => (&s[..i], Some(&s[i + 1..s.len() - 1])),
            Some(_) => return Err(err()),
            None => (s, None),
        };
        let nums: Vec<u32> = match args {
            Some(a) => a
                .split(',')
                .map(|x| x.trim().parse::<u32>().map_err(|_| err()))
                .collect::<Result<_, _>>()?,
            None => vec![],
        };
        Ok(match (head, nums.as_slice()) {
            ("bool", []) => ColumnType::Bool,
            ("int16", []) => ColumnType::Int16,
            ("int32", []) => ColumnType::Int32,
            ("int64", []) => ColumnType::Int64,
            ("float32", []) => ColumnType::Float32,
            ("float64", []) => ColumnType::Float64,
            ("decimal", [p, s]) if *p >= 1 && *p <= 38 && s <= p => ColumnType::Decimal {
                precision: *p as u8,
                scale: *s as u8,
            },
            ("decimal_text", []) => ColumnType::DecimalText,
            ("text", []) => ColumnType::Text {
                max_chars: None,
                fixed: false,
            },
            ("varchar", [n]) => ColumnType::Text {
                max_chars: Some(*n),
                fixed: false,
            },
            ("char", [n]) => ColumnType::Text {
                max_chars: Some(*n),
                fixed: true,
            },
            ("binary", []) => ColumnType::Binary,
            ("date", []) => ColumnType::Date,
            ("time", []) => ColumnType::Time,
            ("timestamp", []) => ColumnType::Timestamp,
            ("timestamptz", []) => ColumnType::TimestampTz,
            ("uuid", []) => ColumnType::Uuid,
            ("json", []) => ColumnType::Json,
            ("interval", []) => ColumnType::Interval,
            _ => return Err(err()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_round_trips() {
        let all = ColumnType::examples();
        for t in all {
            let text = t.to_string();
            assert_eq!(text.parse::<ColumnType>().expect("parses"), t, "{text}");
        }
        assert!("decimal(40,2)".parse::<ColumnType>().is_err());
        assert!("int128".parse::<ColumnType>().is_err());
        assert!("list<list<int32>>".parse::<ColumnType>().is_err());
        assert!("list<int32".parse::<ColumnType>().is_err());
        assert_eq!(
            "list<decimal(10,2)>".parse::<ColumnType>().expect("parses"),
            ColumnType::list(ColumnType::Decimal {
                precision: 10,
                scale: 2
            })
        );
    }

    #[test]
    fn intervals_and_lists_fit_their_text_forms() {
        let text = ColumnType::Text {
            max_chars: None,
            fixed: false,
        };
        let list = |t| ColumnType::list(t);
        assert!(ColumnType::Interval.fits_into(&text));
        assert!(ColumnType::Interval.fits_with_checks(&text));
        assert!(!ColumnType::Interval.fits_into(&ColumnType::Json));
        assert!(list(ColumnType::Int32).fits_into(&ColumnType::Json));
        assert!(list(ColumnType::Int32).fits_into(&text));
        assert!(list(ColumnType::Int32).fits_into(&list(ColumnType::Int64)));
        assert!(!list(ColumnType::Int64).fits_into(&list(ColumnType::Int32)));
        assert!(!list(ColumnType::Int64).fits_with_checks(&list(ColumnType::Int32)));
        assert!(!text.fits_into(&ColumnType::Interval));
        assert_eq!(
            list(ColumnType::Int32).arrow_type().to_string(),
            "List(Int32)"
        );
    }

    #[test]
    fn wide_decimals_become_text() {
        assert_eq!(
            ColumnType::decimal(Some(39), Some(2)),
            ColumnType::DecimalText
        );
        assert_eq!(ColumnType::decimal(None, None), ColumnType::DecimalText);
        assert_eq!(
            ColumnType::decimal(Some(10), None),
            ColumnType::Decimal {
                precision: 10,
                scale: 0
            }
        );
    }

    #[test]
    fn fits_into_is_lossless_only() {
        let v = |n| ColumnType::Text {
            max_chars: Some(n),
            fixed: false,
        };
        assert!(v(10).fits_into(&v(20)));
        assert!(!v(20).fits_into(&v(10)));
        assert!(ColumnType::Int32.fits_into(&ColumnType::Int64));
        assert!(!ColumnType::Int64.fits_into(&ColumnType::Int32));
        let d = |p, s| ColumnType::Decimal {
            precision: p,
            scale: s,
        };
        assert!(d(15, 2).fits_into(&d(17, 4)));
        assert!(!d(15, 2).fits_into(&d(15, 3)));
        assert!(!ColumnType::Timestamp.fits_into(&ColumnType::TimestampTz));
    }
}
