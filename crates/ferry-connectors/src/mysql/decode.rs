//! Decoding one text-protocol value into its column's Arrow builder.
//!
//! A value whose text has no exact Arrow form makes its row dirty
//! ([`BatchBuilder::reject_row`](crate::common::builder::BatchBuilder::reject_row))
//! instead of failing the read: zero dates
//! and dates with a zero month or day (`0000-00-00`, `2020-00-15`, also in
//! `DATETIME`/`TIMESTAMP`) are `conversion`, bytes that are not UTF-8 in a
//! text column `encoding`, text that is not a value of the column's type
//! `conversion` (or `overflow` for an integer out of range). `TIME` is read
//! over its whole range (±838:59:59.999999) into `time` microseconds that
//! may lie outside one day; a sink that holds only times of day refuses
//! those rows as dirty.

use ferry_core::ColumnType;
use ferry_core::spec::DirtyReason;

use super::duration::parse_mysql_time;
use crate::common::builder::{BadValue, ColumnBuilder};
use crate::common::values::{parse_date_bytes, parse_decimal, parse_timestamp_bytes, parse_uuid};

/// How one column's text is decoded.
#[derive(Debug, Clone, Copy)]
pub(super) enum Decode {
    Bool,
    Int,
    Float,
    Decimal(u8),
    Text,
    Binary,
    Date,
    Time,
    Timestamp,
    Uuid,
}

impl Decode {
    pub(super) fn of(ty: &ColumnType) -> Decode {
        match ty {
            ColumnType::Bool => Decode::Bool,
            ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => Decode::Int,
            ColumnType::Float32 | ColumnType::Float64 => Decode::Float,
            ColumnType::Decimal { scale, .. } => Decode::Decimal(*scale),
            ColumnType::DecimalText | ColumnType::Text { .. } | ColumnType::Json => Decode::Text,
            ColumnType::Binary => Decode::Binary,
            ColumnType::Date => Decode::Date,
            ColumnType::Time => Decode::Time,
            ColumnType::Timestamp | ColumnType::TimestampTz => Decode::Timestamp,
            ColumnType::Uuid => Decode::Uuid,
            // MySQL/MariaDB have no interval or array types: no column maps to these.
            ColumnType::Interval | ColumnType::List(_) => Decode::Text,
        }
    }
}

/// Why a value was not appended.
pub(super) enum Bad {
    /// The value has no exact Arrow form: its row is dirty.
    Value(Box<BadValue>),
    /// Ferry's own plan is inconsistent: the read fails.
    Internal(String),
}

/// Appends the value `b` (text-protocol bytes) to `col`; returns its
/// variable-length bytes. On error nothing was appended.
#[inline]
pub(super) fn decode(dec: Decode, col: &mut ColumnBuilder, b: &[u8]) -> Result<usize, Bad> {
    let bad = |what: &str| Bad::Value(not_a(b, what));
    match (dec, col) {
        (Decode::Bool, ColumnBuilder::Bool(c)) => match b {
            b"0" => c.append_value(false),
            b"1" => c.append_value(true),
            _ => return Err(bad("a boolean (0 or 1)")),
        },
        (Decode::Int, ColumnBuilder::Int16(c)) => {
            c.append_value(int_in_range(b, "a 16-bit integer")?)
        }
        (Decode::Int, ColumnBuilder::Int32(c)) => {
            c.append_value(int_in_range(b, "a 32-bit integer")?)
        }
        (Decode::Int, ColumnBuilder::Int64(c)) => {
            c.append_value(int_in_range(b, "a 64-bit integer")?)
        }
        (Decode::Float, ColumnBuilder::Float32(c)) => {
            let x = parse_float(b).ok_or_else(|| bad("a number"))?;
            let f = x as f32;
            if f64::from(f) != x {
                return Err(Bad::Value(
                    not_a(b, "exactly a 32-bit float").with_reason(DirtyReason::Truncation),
                ));
            }
            c.append_value(f)
        }
        (Decode::Float, ColumnBuilder::Float64(c)) => {
            c.append_value(parse_float(b).ok_or_else(|| bad("a number"))?)
        }
        (Decode::Decimal(scale), ColumnBuilder::Decimal(c)) => {
            let text = std::str::from_utf8(b).map_err(|_| bad("a decimal"))?;
            c.append_value(
                parse_decimal(text, scale).ok_or_else(|| bad("a decimal of this scale"))?,
            )
        }
        (Decode::Text, ColumnBuilder::Utf8(c)) => {
            c.append_value(std::str::from_utf8(b).map_err(|e| Bad::Value(not_utf8(b, e)))?);
            return Ok(b.len());
        }
        (Decode::Binary, ColumnBuilder::Binary(c)) => {
            c.append_value(b);
            return Ok(b.len());
        }
        (Decode::Date, ColumnBuilder::Date(c)) => {
            c.append_value(parse_date_bytes(b).ok_or_else(|| bad_date(b, "a valid date"))?)
        }
        (Decode::Time, ColumnBuilder::Time(c)) => c.append_value(
            parse_mysql_time(b)
                .ok_or_else(|| bad("a TIME (-838:59:59.999999 to 838:59:59.999999)"))?,
        ),
        (Decode::Timestamp, ColumnBuilder::Timestamp(c)) => c.append_value(
            parse_timestamp_bytes(b).ok_or_else(|| bad_date(b, "a valid date and time"))?,
        ),
        (Decode::Uuid, ColumnBuilder::Uuid(c)) => {
            let u = std::str::from_utf8(b)
                .ok()
                .and_then(parse_uuid)
                .ok_or_else(|| bad("a UUID"))?;
            c.append_value(u)
                .map_err(|e| Bad::Internal(e.to_string()))?
        }
        (dec, _) => {
            return Err(Bad::Internal(format!(
                "decoder {dec:?} does not match its Arrow builder"
            )));
        }
    }
    Ok(0)
}

/// `'<value>' is not <what>`: a `conversion` (the raw text goes into the row JSON).
#[cold]
fn not_a(b: &[u8], what: &str) -> Box<BadValue> {
    BadValue::new(
        DirtyReason::Conversion,
        format!("{} is not {what}", show(b)),
    )
    .with_raw(String::from_utf8_lossy(b))
}

/// An integer of the column's range; `overflow` for a whole number outside it.
#[inline]
fn int_in_range<T: TryFrom<i64>>(b: &[u8], what: &str) -> Result<T, Bad> {
    match parse_int(b) {
        Some(v) => T::try_from(v).map_err(|_| Bad::Value(overflow(b, what))),
        None if is_integer_text(b) => Err(Bad::Value(overflow(b, what))),
        None => Err(Bad::Value(not_a(b, what))),
    }
}

#[cold]
fn overflow(b: &[u8], what: &str) -> Box<BadValue> {
    not_a(b, what).with_reason(DirtyReason::Overflow)
}

/// `[+-]digits`: an integer, whatever its size.
fn is_integer_text(b: &[u8]) -> bool {
    let digits = b.strip_prefix(b"-").or(b.strip_prefix(b"+")).unwrap_or(b);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// A date or datetime that did not parse: a zero date (`0000-00-00`) or a
/// zero month or day (`2020-00-15`, `2020-01-00`) is named as such.
/// Either way `conversion`: Arrow has no such date, whatever the sink.
#[cold]
fn bad_date(b: &[u8], what: &str) -> Bad {
    let zero_part =
        b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && (&b[5..7] == b"00" || &b[8..10] == b"00");
    let message = if zero_part {
        format!(
            "{} has a zero month or day (a MariaDB zero date); Arrow has no such date",
            show(b)
        )
    } else {
        format!("{} is not {what}", show(b))
    };
    Bad::Value(BadValue::new(DirtyReason::Conversion, message).with_raw(String::from_utf8_lossy(b)))
}

/// Bytes that are not UTF-8 in a text column: `encoding`, the bad bytes shown in hex.
#[cold]
fn not_utf8(b: &[u8], e: std::str::Utf8Error) -> Box<BadValue> {
    let at = e.valid_up_to();
    let shown: Vec<String> = b[at..].iter().take(8).map(|x| format!("{x:02x}")).collect();
    BadValue::new(
        DirtyReason::Encoding,
        format!(
            "{} is not valid UTF-8 (bytes {} at offset {at})",
            show(b),
            shown.join(" ")
        ),
    )
    .with_raw(String::from_utf8_lossy(b))
}

/// A value for a message: lossy text, cut at 64 characters.
fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("'{}…'", &s[..i]),
        None => format!("'{s}'"),
    }
}

/// Parses a decimal integer (optional sign) without allocating.
#[inline]
fn parse_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

#[inline]
fn parse_float(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integers_at_the_edges() {
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b"12a"), None);
    }

    fn bad_value(dec: Decode, mut col: ColumnBuilder, b: &[u8]) -> BadValue {
        match decode(dec, &mut col, b) {
            Err(Bad::Value(v)) => *v,
            Err(Bad::Internal(m)) => panic!("internal: {m}"),
            Ok(_) => panic!("{} decoded", show(b)),
        }
    }

    #[test]
    fn values_without_an_arrow_form_are_row_rejects_with_a_reason() {
        use arrow::array::{
            Date32Builder, Int16Builder, StringBuilder, TimestampMicrosecondBuilder,
        };
        let date = || ColumnBuilder::Date(Date32Builder::new());
        for zero in [&b"0000-00-00"[..], b"2020-00-15", b"2020-01-00"] {
            let v = bad_value(Decode::Date, date(), zero);
            assert_eq!(v.reason, DirtyReason::Conversion);
            assert!(v.message.contains("zero month or day"), "{}", v.message);
            assert_eq!(v.raw.as_deref(), std::str::from_utf8(zero).ok());
        }
        let ts = ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new());
        let v = bad_value(Decode::Timestamp, ts, b"0000-00-00 00:00:00");
        assert_eq!(v.reason, DirtyReason::Conversion);
        let v = bad_value(Decode::Date, date(), b"2020-02-30");
        assert!(v.message.contains("is not a valid date"), "{}", v.message);
        let int16 = || ColumnBuilder::Int16(Int16Builder::new());
        assert_eq!(
            bad_value(Decode::Int, int16(), b"70000").reason,
            DirtyReason::Overflow
        );
        assert_eq!(
            bad_value(Decode::Int, int16(), b"99999999999999999999").reason,
            DirtyReason::Overflow
        );
        assert_eq!(
            bad_value(Decode::Int, int16(), b"abc").reason,
            DirtyReason::Conversion
        );
        let v = bad_value(
            Decode::Text,
            ColumnBuilder::Utf8(StringBuilder::new()),
            b"\xffA",
        );
        assert_eq!(v.reason, DirtyReason::Encoding);
        assert!(
            v.message.contains("bytes ff 41 at offset 0"),
            "{}",
            v.message
        );
        let mut col = date();
        assert!(decode(Decode::Date, &mut col, b"2020-01-15").is_ok());
    }

    #[test]
    fn shows_long_values_cut() {
        assert_eq!(show(b"abc"), "'abc'");
        assert!(show("é".repeat(100).as_bytes()).ends_with("…'"));
    }
}
