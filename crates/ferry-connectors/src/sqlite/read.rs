//! One SQLite value → one Arrow value, exactly or not at all.
//!
//! SQLite stores any storage class in any column, so each conversion accepts
//! the storage classes that carry the column's meaning without loss and
//! reports everything else with a reason; the caller rejects the row (dirty
//! data naming the column and the row):
//!
//! | value | reason |
//! |---|---|
//! | text that is not valid UTF-8 (in any column but a BLOB one) | `encoding` |
//! | an integer outside an `INT`/`SMALLINT` column's range, a decimal with more digits than its precision | `overflow` |
//! | text longer than `VARCHAR(n)`, more decimal places than the scale, a number not exact as a float, digits below the microsecond | `truncation` |
//! | anything else that is not a value of the column's type (`'abc'` in an `INTEGER`, `REAL`, `DATE` column) | `conversion` |

use std::borrow::Cow;

use ferry_core::ColumnType;
use ferry_core::spec::DirtyReason;
use rusqlite::types::ValueRef;

use crate::common::builder::{BadValue, ColumnBuilder};
use crate::common::values::{decimal_fits_precision, parse_decimal_sci, parse_uuid};

mod time;
use time::{to_date, to_time, to_timestamp};

use super::types::NUMERIC_AFFINITY_MAX_PRECISION;

/// Why a value does not fit, and its reason kind.
pub(super) type Why = (DirtyReason, String);

pub(super) fn conversion(message: String) -> Why {
    (DirtyReason::Conversion, message)
}

/// Why a value was not appended.
pub(super) enum Misfit {
    /// The value does not fit its column: the row is dirty.
    Value(Box<BadValue>),
    /// The builder does not match the column type (a bug): the read fails.
    Internal(String),
}

/// Appends `v` to `col` (whose column type is `ty`); returns the variable-length
/// bytes appended, or why the value does not fit (then nothing was appended).
pub(super) fn append(
    col: &mut ColumnBuilder,
    ty: &ColumnType,
    v: ValueRef<'_>,
) -> Result<usize, Misfit> {
    if let ValueRef::Null = v {
        col.append_null();
        return Ok(0);
    }
    append_value(col, ty, v).map_err(|f| match f {
        Failure::Internal(m) => Misfit::Internal(m),
        Failure::Value((reason, message)) => {
            // Text that is not UTF-8 is an encoding problem whatever the column.
            let (reason, message) = match v {
                ValueRef::Text(t)
                    if reason != DirtyReason::Encoding && std::str::from_utf8(t).is_err() =>
                {
                    (
                        DirtyReason::Encoding,
                        format!("{message}; its bytes are not valid UTF-8"),
                    )
                }
                _ => (reason, message),
            };
            Misfit::Value(BadValue::new(reason, message).with_raw(raw_text(v)))
        }
    })
}

/// What [`append_value`] can fail with.
enum Failure {
    Value(Why),
    Internal(String),
}

impl From<Why> for Failure {
    fn from(why: Why) -> Self {
        Failure::Value(why)
    }
}

/// The value as text for the row JSON: numbers as written, text (lossy if it
/// is not UTF-8) as is, a blob as `x'hex'`.
pub(super) fn raw_text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => format!("{r:e}"),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("x'{hex}'")
        }
    }
}

fn append_value(
    col: &mut ColumnBuilder,
    ty: &ColumnType,
    v: ValueRef<'_>,
) -> Result<usize, Failure> {
    match (col, ty) {
        (ColumnBuilder::Bool(b), _) => b.append_value(to_bool(v)?),
        (ColumnBuilder::Int16(b), _) => {
            b.append_value(to_int(v, i16::MIN.into(), i16::MAX.into())? as i16)
        }
        (ColumnBuilder::Int32(b), _) => {
            b.append_value(to_int(v, i32::MIN.into(), i32::MAX.into())? as i32)
        }
        (ColumnBuilder::Int64(b), _) => b.append_value(to_int(v, i64::MIN, i64::MAX)?),
        (ColumnBuilder::Float32(b), _) => b.append_value(to_f32(v)?),
        (ColumnBuilder::Float64(b), _) => b.append_value(to_f64(v)?),
        (ColumnBuilder::Decimal(b), ColumnType::Decimal { precision, scale }) => {
            b.append_value(to_decimal(v, *precision, *scale)?)
        }
        (ColumnBuilder::Utf8(b), ColumnType::DecimalText) => {
            let s = to_decimal_text(v)?;
            b.append_value(&s);
            return Ok(s.len());
        }
        (ColumnBuilder::Utf8(b), ColumnType::Text { max_chars, .. }) => {
            let s = to_text(v)?;
            if let Some(n) = max_chars {
                let chars = s.chars().count();
                if chars > *n as usize {
                    return Err(Failure::Value((
                        DirtyReason::Truncation,
                        format!(
                            "{} has {chars} characters, more than the declared {n}",
                            describe(v)
                        ),
                    )));
                }
            }
            b.append_value(&s);
            return Ok(s.len());
        }
        (ColumnBuilder::Utf8(b), ColumnType::Json) => {
            let s = to_text(v)?;
            b.append_value(&s);
            return Ok(s.len());
        }
        (ColumnBuilder::Binary(b), _) => {
            let bytes = match v {
                ValueRef::Blob(x) | ValueRef::Text(x) => x,
                _ => return Err(conversion(format!("{} is not a blob", describe(v))).into()),
            };
            b.append_value(bytes);
            return Ok(bytes.len());
        }
        (ColumnBuilder::Date(b), _) => b.append_value(to_date(v)?),
        (ColumnBuilder::Time(b), _) => b.append_value(to_time(v)?),
        (ColumnBuilder::Timestamp(b), ColumnType::TimestampTz) => {
            b.append_value(to_timestamp(v, true)?)
        }
        (ColumnBuilder::Timestamp(b), _) => b.append_value(to_timestamp(v, false)?),
        (ColumnBuilder::Uuid(b), _) => {
            let bytes = match v {
                ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(parse_uuid),
                ValueRef::Blob(x) => <[u8; 16]>::try_from(x).ok(),
                _ => None,
            };
            let bytes =
                bytes.ok_or_else(|| conversion(format!("{} is not a UUID", describe(v))))?;
            b.append_value(bytes)
                .map_err(|e| Failure::Internal(format!("appending a UUID: {e}")))?;
        }
        (_, ty) => return Err(Failure::Internal(format!("no Arrow builder for {ty}"))),
    }
    Ok(0)
}

/// A short description of a value for messages: its storage class and a prefix.
pub(super) fn describe(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => format!("integer {i}"),
        ValueRef::Real(r) => format!("real {r:e}"),
        ValueRef::Text(t) if std::str::from_utf8(t).is_err() => {
            // Show the bytes: a lossy rendering would hide what is wrong.
            let hex: String = t.iter().take(40).map(|b| format!("{b:02x}")).collect();
            let more = if t.len() > 40 { "…" } else { "" };
            format!("text x'{hex}{more}'")
        }
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            let mut short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                short.push('…');
            }
            format!("text {short:?}")
        }
        ValueRef::Blob(b) => format!("blob of {} bytes", b.len()),
    }
}

fn to_bool(v: ValueRef<'_>) -> Result<bool, Why> {
    match v {
        ValueRef::Integer(0) => Ok(false),
        ValueRef::Integer(1) => Ok(true),
        ValueRef::Real(0.0) => Ok(false),
        ValueRef::Real(1.0) => Ok(true),
        ValueRef::Text(t) if t.eq_ignore_ascii_case(b"true") => Ok(true),
        ValueRef::Text(t) if t.eq_ignore_ascii_case(b"false") => Ok(false),
        _ => Err(conversion(format!(
            "{} is not a boolean (0/1, true/false)",
            describe(v)
        ))),
    }
}

fn to_int(v: ValueRef<'_>, min: i64, max: i64) -> Result<i64, Why> {
    let i = match v {
        ValueRef::Integer(i) => Some(i),
        // 2^63 is exact as a double; every whole double below it fits i64.
        ValueRef::Real(r)
            if r.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r) =>
        {
            Some(r as i64)
        }
        _ => None,
    };
    match i {
        Some(i) if (min..=max).contains(&i) => Ok(i),
        Some(_) => Err((
            DirtyReason::Overflow,
            format!("{} is outside {min}..={max}", describe(v)),
        )),
        // A whole REAL beyond 64 bits is out of range too.
        None if matches!(v, ValueRef::Real(r) if r.fract() == 0.0) => Err((
            DirtyReason::Overflow,
            format!("{} is outside {min}..={max}", describe(v)),
        )),
        None => Err(conversion(format!("{} is not an integer", describe(v)))),
    }
}

fn to_f64(v: ValueRef<'_>) -> Result<f64, Why> {
    match v {
        ValueRef::Real(r) => Ok(r),
        ValueRef::Integer(i) if i.unsigned_abs() <= 1 << 53 => Ok(i as f64),
        ValueRef::Integer(_) => Err((
            DirtyReason::Truncation,
            format!("{} is not exact as a double", describe(v)),
        )),
        _ => Err(conversion(format!("{} is not a number", describe(v)))),
    }
}

fn to_f32(v: ValueRef<'_>) -> Result<f32, Why> {
    match v {
        ValueRef::Real(r) if (r as f32) as f64 == r => Ok(r as f32),
        ValueRef::Integer(i) if i.unsigned_abs() <= 1 << 24 => Ok(i as f32),
        ValueRef::Real(_) | ValueRef::Integer(_) => Err((
            DirtyReason::Truncation,
            format!("{} is not exact as a single-precision float", describe(v)),
        )),
        _ => Err(conversion(format!("{} is not a number", describe(v)))),
    }
}

/// Significant digits of a float's mantissa in `{:e}` form (`-1.25e3` → 3).
fn significant_digits(sci: &str) -> usize {
    let mantissa = sci.split(['e', 'E']).next().unwrap_or_default();
    let digits = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|b| *b == b'0');
    digits.count()
}

fn to_decimal(v: ValueRef<'_>, precision: u8, scale: u8) -> Result<i128, Why> {
    // The decimal text the value was read as, to tell too many places from too many digits.
    let mut text: Option<String> = None;
    let unscaled = match v {
        ValueRef::Integer(i) => 10i128
            .checked_pow(scale as u32)
            .and_then(|m| (i as i128).checked_mul(m)),
        ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(|s| {
            let s = s.trim();
            if is_decimal_literal(s) {
                text = Some(s.to_string());
            }
            parse_decimal_sci(s, scale)
        }),
        ValueRef::Real(r) if r.is_finite() => {
            // The shortest text that reads back as the same double is what was
            // written when it has at most 15 significant digits (SQLite's own
            // precision for REAL). Longer ones are float noise or rounded
            // digits: SQLite's 15 digits are the value when p ≤ 15; when p > 15
            // digits may have been lost on insert, so the value is dirty.
            let mut sci = format!("{r:e}");
            if significant_digits(&sci) > NUMERIC_AFFINITY_MAX_PRECISION as usize {
                if precision > NUMERIC_AFFINITY_MAX_PRECISION {
                    return Err((
                        DirtyReason::Truncation,
                        format!(
                            "{} has more than 15 significant digits, so SQLite may have rounded it; \
                             store decimal({precision},{scale}) values as TEXT (declare the column DECIMAL_TEXT({precision},{scale}))",
                            describe(v)
                        ),
                    ));
                }
                sci = format!("{r:.14e}");
            }
            let parsed = parse_decimal_sci(&sci, scale);
            text = Some(sci);
            parsed
        }
        _ => None,
    };
    let reason = match (unscaled, &text) {
        (Some(u), _) if decimal_fits_precision(u, precision) => return Ok(u),
        (Some(_), _) => DirtyReason::Overflow,
        (None, Some(t)) if excess_places(t, scale) => DirtyReason::Truncation,
        (None, Some(_)) => DirtyReason::Overflow,
        (None, None) if matches!(v, ValueRef::Integer(_)) => DirtyReason::Overflow,
        (None, None) => DirtyReason::Conversion,
    };
    Err((
        reason,
        format!("{} is not a decimal({precision},{scale})", describe(v)),
    ))
}

/// Whether the decimal literal `s` has non-zero digits beyond `scale` places.
fn excess_places(s: &str, scale: u8) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let trailing_zeros = int
        .bytes()
        .chain(frac.bytes())
        .rev()
        .take_while(|b| *b == b'0')
        .count() as i64;
    frac.len() as i64 - exp - trailing_zeros > scale as i64
}

fn to_decimal_text(v: ValueRef<'_>) -> Result<Cow<'_, str>, Why> {
    match v {
        ValueRef::Integer(i) => Ok(Cow::Owned(i.to_string())),
        // Rust's `{}` is the shortest round-trip digits, never an exponent.
        ValueRef::Real(r) if r.is_finite() => Ok(Cow::Owned(format!("{r}"))),
        ValueRef::Real(r) => Ok(Cow::Borrowed(if r > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        })),
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|_| {
                (
                    DirtyReason::Encoding,
                    format!("{} is not valid UTF-8", describe(v)),
                )
            })?;
            let s = s.trim();
            if is_decimal_literal(s) || matches!(s, "NaN" | "Infinity" | "-Infinity") {
                Ok(Cow::Borrowed(s))
            } else {
                Err(conversion(format!(
                    "{} is not a decimal number",
                    describe(v)
                )))
            }
        }
        _ => Err(conversion(format!(
            "{} is not a decimal number",
            describe(v)
        ))),
    }
}

/// `[+-]digits[.digits][e[+-]digits]`, with at least one mantissa digit.
pub(super) fn is_decimal_literal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac) && exp_ok
}

fn to_text(v: ValueRef<'_>) -> Result<Cow<'_, str>, Why> {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            std::str::from_utf8(t).map(Cow::Borrowed).map_err(|e| {
                (
                    DirtyReason::Encoding,
                    format!("{} is not valid UTF-8 text ({e})", describe(v)),
                )
            })
        }
        ValueRef::Integer(i) => Ok(Cow::Owned(i.to_string())),
        ValueRef::Real(r) if r.is_finite() => {
            Ok(Cow::Owned(ryu::Buffer::new().format_finite(r).to_string()))
        }
        ValueRef::Real(r) => Ok(Cow::Borrowed(if r > 0.0 { "Inf" } else { "-Inf" })),
        ValueRef::Null => Err(conversion("NULL".into())),
    }
}

/// The trimmed text of a TEXT value; `what` names the expected form.
pub(super) fn utf8<'a>(v: ValueRef<'a>, what: &str) -> Result<&'a str, Why> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).map(str::trim).map_err(|_| {
            (
                DirtyReason::Encoding,
                format!("{} is not valid UTF-8", describe(v)),
            )
        }),
        _ => Err(conversion(format!("{} is not a {what} text", describe(v)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::BatchBuilder;

    #[test]
    fn decimals_from_every_storage_class() {
        assert_eq!(to_decimal(ValueRef::Integer(42), 10, 2), Ok(4200));
        assert_eq!(to_decimal(ValueRef::Real(123.45), 10, 2), Ok(12345));
        assert_eq!(to_decimal(ValueRef::Real(0.1 + 0.2), 10, 2), Ok(30));
        assert!(to_decimal(ValueRef::Real(0.1 + 0.2), 20, 2).is_err());
        assert!(to_decimal(ValueRef::Real(1.234), 10, 2).is_err());
        assert_eq!(
            to_decimal(ValueRef::Real(1e20), 38, 0),
            Ok(100_000_000_000_000_000_000)
        );
        assert_eq!(to_decimal(ValueRef::Text(b"-0.05"), 5, 2), Ok(-5));
        assert!(to_decimal(ValueRef::Text(b"1000.00"), 5, 2).is_err());
        assert!(to_decimal(ValueRef::Text(b"abc"), 5, 2).is_err());
    }

    fn reason(ty: ColumnType, v: ValueRef<'_>) -> DirtyReason {
        let mut b = BatchBuilder::new(
            ferry_core::TableSchema {
                table: "t".into(),
                columns: vec![ferry_core::ColumnDef {
                    name: "c".into(),
                    ty,
                    nullable: true,
                    native_type: String::new(),
                    dialect: None,
                }],
                primary_key: vec![],
            }
            .arrow_schema(),
            1024,
            &[],
            ferry_core::Rejects::strict(),
        )
        .expect("builder");
        let ty = b.types()[0].clone();
        match append(&mut b.columns()[0], &ty, v) {
            Err(Misfit::Value(bad)) => {
                assert!(bad.raw.is_some());
                bad.reason
            }
            Err(Misfit::Internal(m)) => panic!("internal: {m}"),
            Ok(_) => panic!("{} was accepted", describe(v)),
        }
    }

    #[test]
    fn misfits_carry_their_reason() {
        use DirtyReason::*;
        let text = ColumnType::Text {
            max_chars: Some(3),
            fixed: false,
        };
        let dec = ColumnType::Decimal {
            precision: 5,
            scale: 2,
        };
        for (ty, v, want) in [
            (ColumnType::Int64, ValueRef::Text(b"abc"), Conversion),
            (ColumnType::Float64, ValueRef::Text(b"abc"), Conversion),
            (ColumnType::Date, ValueRef::Text(b"abc"), Conversion),
            (ColumnType::Int16, ValueRef::Integer(70_000), Overflow),
            (ColumnType::Int32, ValueRef::Integer(1 << 40), Overflow),
            (ColumnType::Int64, ValueRef::Real(1e30), Overflow),
            (ColumnType::Int64, ValueRef::Text(b"\xffA"), Encoding),
            (text.clone(), ValueRef::Text(b"\xffA"), Encoding),
            (text.clone(), ValueRef::Blob(b"\xffA"), Encoding),
            (text, ValueRef::Text(b"abcd"), Truncation),
            (dec.clone(), ValueRef::Text(b"1.234"), Truncation),
            (dec.clone(), ValueRef::Text(b"1.5e3"), Overflow),
            (dec.clone(), ValueRef::Text(b"1000"), Overflow),
            (dec.clone(), ValueRef::Integer(1000), Overflow),
            (dec, ValueRef::Text(b"abc"), Conversion),
            (ColumnType::Float32, ValueRef::Real(0.1), Truncation),
        ] {
            assert_eq!(reason(ty.clone(), v), want, "{ty} {}", describe(v));
        }
        assert!(!excess_places("1500e-3", 1) && excess_places("1.2345e1", 2));
    }

    #[test]
    fn strict_numbers() {
        assert!(to_int(ValueRef::Text(b"abc"), i64::MIN, i64::MAX).is_err());
        assert!(to_int(ValueRef::Integer(70_000), i16::MIN.into(), i16::MAX.into()).is_err());
        assert_eq!(to_int(ValueRef::Real(3.0), i64::MIN, i64::MAX), Ok(3));
        assert!(to_int(ValueRef::Real(9.3e18), i64::MIN, i64::MAX).is_err());
        assert!(to_f32(ValueRef::Real(0.1)).is_err());
        assert_eq!(to_f32(ValueRef::Real(0.5)), Ok(0.5));
        assert!(to_bool(ValueRef::Integer(2)).is_err());
        assert!(
            is_decimal_literal("-1.5e-3") && is_decimal_literal(".5") && !is_decimal_literal("1e")
        );
    }
}
