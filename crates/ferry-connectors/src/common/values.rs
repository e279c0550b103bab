//! Reading Arrow values back, and the canonical text forms of the types that
//! text-based protocols (MySQL `LOAD DATA`, SQLite) need.
//!
//! The text forms are exact: decimals keep every digit of their scale,
//! timestamps keep microseconds, nothing goes through floating point.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    FixedSizeBinaryArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    IntervalMonthDayNanoArray, ListArray, StringArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNanoType, Time64MicrosecondType, TimestampMicrosecondType,
};
use ferry_core::{ColumnType, Error, Result};

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

/// A typed view of one column of a batch.
pub enum ColumnValues<'a> {
    /// bool
    Bool(&'a BooleanArray),
    /// int16
    Int16(&'a Int16Array),
    /// int32
    Int32(&'a Int32Array),
    /// int64
    Int64(&'a Int64Array),
    /// float32
    Float32(&'a Float32Array),
    /// float64
    Float64(&'a Float64Array),
    /// decimal(p,s), with its scale
    Decimal(&'a Decimal128Array, u8),
    /// text-like
    Utf8(&'a StringArray),
    /// binary
    Binary(&'a BinaryArray),
    /// date
    Date(&'a Date32Array),
    /// time
    Time(&'a Time64MicrosecondArray),
    /// timestamp / timestamptz
    Timestamp(&'a TimestampMicrosecondArray),
    /// uuid
    Uuid(&'a FixedSizeBinaryArray),
    /// interval
    Interval(&'a IntervalMonthDayNanoArray),
    /// list<T>: the lists, a view of all their elements (indexed by the
    /// lists' offsets), and the element type
    List(&'a ListArray, Box<ColumnValues<'a>>, ColumnType),
}

impl<'a> ColumnValues<'a> {
    /// Views `array` as the Arrow type of `ty`; errors if the batch does not match.
    pub fn new(array: &'a ArrayRef, ty: &ColumnType, column: &str) -> Result<Self> {
        let mismatch = || {
            Error::Internal(format!(
                "column {column}: batch has Arrow type {} but the plan says {ty}",
                array.data_type()
            ))
        };
        if array.data_type() != &ty.arrow_type() {
            return Err(mismatch());
        }
        Ok(match ty {
            ColumnType::Bool => ColumnValues::Bool(array.as_boolean()),
            ColumnType::Int16 => ColumnValues::Int16(array.as_primitive::<Int16Type>()),
            ColumnType::Int32 => ColumnValues::Int32(array.as_primitive::<Int32Type>()),
            ColumnType::Int64 => ColumnValues::Int64(array.as_primitive::<Int64Type>()),
            ColumnType::Float32 => ColumnValues::Float32(array.as_primitive::<Float32Type>()),
            ColumnType::Float64 => ColumnValues::Float64(array.as_primitive::<Float64Type>()),
            ColumnType::Decimal { scale, .. } => {
                ColumnValues::Decimal(array.as_primitive::<Decimal128Type>(), *scale)
            }
            ColumnType::DecimalText | ColumnType::Text { .. } | ColumnType::Json => {
                ColumnValues::Utf8(array.as_string::<i32>())
            }
            ColumnType::Binary => ColumnValues::Binary(array.as_binary::<i32>()),
            ColumnType::Date => ColumnValues::Date(array.as_primitive::<Date32Type>()),
            ColumnType::Time => ColumnValues::Time(array.as_primitive::<Time64MicrosecondType>()),
            ColumnType::Timestamp | ColumnType::TimestampTz => {
                ColumnValues::Timestamp(array.as_primitive::<TimestampMicrosecondType>())
            }
            ColumnType::Uuid => ColumnValues::Uuid(array.as_fixed_size_binary()),
            ColumnType::Interval => {
                ColumnValues::Interval(array.as_primitive::<IntervalMonthDayNanoType>())
            }
            ColumnType::List(elem) => {
                let lists = array.as_list::<i32>();
                let elements = ColumnValues::new(lists.values(), elem, column)?;
                ColumnValues::List(lists, Box::new(elements), (**elem).clone())
            }
        })
    }

    /// Whether row `i` is NULL.
    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        match self {
            ColumnValues::Bool(a) => a.is_null(i),
            ColumnValues::Int16(a) => a.is_null(i),
            ColumnValues::Int32(a) => a.is_null(i),
            ColumnValues::Int64(a) => a.is_null(i),
            ColumnValues::Float32(a) => a.is_null(i),
            ColumnValues::Float64(a) => a.is_null(i),
            ColumnValues::Decimal(a, _) => a.is_null(i),
            ColumnValues::Utf8(a) => a.is_null(i),
            ColumnValues::Binary(a) => a.is_null(i),
            ColumnValues::Date(a) => a.is_null(i),
            ColumnValues::Time(a) => a.is_null(i),
            ColumnValues::Timestamp(a) => a.is_null(i),
            ColumnValues::Uuid(a) => a.is_null(i),
            ColumnValues::Interval(a) => a.is_null(i),
            ColumnValues::List(a, _, _) => a.is_null(i),
        }
    }
}

/// Appends the ISO 8601 duration of row `i` of an interval array
/// (see [`ferry_core::text_form`]).
pub fn write_interval_text(out: &mut Vec<u8>, a: &IntervalMonthDayNanoArray, i: usize) {
    let mut s = String::with_capacity(24);
    ferry_core::text_form::write_interval_iso(&mut s, a.value(i));
    out.extend_from_slice(s.as_bytes());
}

/// Appends list `i` of `a` (elements of type `elem`) as a JSON array (see
/// [`ferry_core::text_form`]); the error says which element has no JSON form.
pub fn write_list_json(
    out: &mut Vec<u8>,
    a: &ListArray,
    i: usize,
    elem: &ColumnType,
) -> std::result::Result<(), String> {
    let mut s = String::new();
    ferry_core::text_form::write_list_json(&mut s, a, i, elem)?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Writes the exact decimal text of `unscaled × 10^-scale` (e.g. `-12.50`).
pub fn write_decimal(out: &mut Vec<u8>, unscaled: i128, scale: u8) {
    let mut digits = itoa::Buffer::new();
    let s = digits.format(unscaled.unsigned_abs());
    if unscaled < 0 {
        out.push(b'-');
    }
    let scale = scale as usize;
    if scale == 0 {
        out.extend_from_slice(s.as_bytes());
    } else if s.len() > scale {
        let (int, frac) = s.split_at(s.len() - scale);
        out.extend_from_slice(int.as_bytes());
        out.push(b'.');
        out.extend_from_slice(frac.as_bytes());
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - s.len()));
        out.extend_from_slice(s.as_bytes());
    }
}

/// Parses exact decimal text into its unscaled value at `scale`; `None` if the
/// text is not a plain decimal or has more fractional digits than `scale`
/// (digits beyond the scale are only accepted when they are zeros).
pub fn parse_decimal(text: &str, scale: u8) -> Option<i128> {
    let t = text.trim();
    let (neg, t) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = scale as usize;
    let (kept, dropped) = if frac.len() > scale {
        frac.split_at(scale)
    } else {
        (frac, "")
    };
    if dropped.bytes().any(|b| b != b'0') {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(kept.bytes()) {
        v = v.checked_mul(10)?.checked_add((b - b'0') as i128)?;
    }
    for _ in kept.len()..scale {
        v = v.checked_mul(10)?;
    }
    Some(if neg { -v } else { v })
}

/// Writes `YYYY-MM-DD` for days since 1970-01-01.
pub fn write_date(out: &mut Vec<u8>, days: i32) -> Result<()> {
    let d = chrono::NaiveDate::from_num_days_from_ce_opt(days.saturating_add(UNIX_EPOCH_CE_DAYS))
        .ok_or_else(|| {
        Error::dirty("", format!("date {days} days from 1970 is out of range"))
    })?;
    use chrono::Datelike;
    let y = d.year();
    if !(0..=9999).contains(&y) {
        return Err(Error::dirty("", format!("year {y} is outside 0000-9999")));
    }
    push_padded(out, y as u32, 4);
    out.push(b'-');
    push_padded(out, d.month(), 2);
    out.push(b'-');
    push_padded(out, d.day(), 2);
    Ok(())
}

/// Writes `HH:MM:SS.ffffff` for microseconds since midnight.
pub fn write_time(out: &mut Vec<u8>, micros: i64) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000) as u32;
    push_padded(out, (secs / 3600) as u32, 2);
    out.push(b':');
    push_padded(out, ((secs / 60) % 60) as u32, 2);
    out.push(b':');
    push_padded(out, (secs % 60) as u32, 2);
    out.push(b'.');
    push_padded(out, frac, 6);
}

/// Writes `YYYY-MM-DD HH:MM:SS.ffffff` for microseconds since 1970-01-01 00:00:00.
pub fn write_timestamp(out: &mut Vec<u8>, micros: i64) -> Result<()> {
    let days = micros.div_euclid(86_400_000_000);
    let day_micros = micros.rem_euclid(86_400_000_000);
    let days = i32::try_from(days)
        .map_err(|_| Error::dirty("", format!("timestamp {micros} µs is out of range")))?;
    write_date(out, days)?;
    out.push(b' ');
    write_time(out, day_micros);
    Ok(())
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    use chrono::Datelike;
    Some(d.num_days_from_ce() - UNIX_EPOCH_CE_DAYS)
}

/// Parses `HH:MM:SS[.ffffff]` into microseconds since midnight.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M:%S%.f").ok()?;
    use chrono::Timelike;
    Some(t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1000) as i64)
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (or with `T`, optional trailing `Z`)
/// into microseconds since 1970-01-01 00:00:00.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim().trim_end_matches('Z').trim_end_matches("+00:00");
    let t = t.replacen('T', " ", 1);
    let dt = chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Some(dt.and_utc().timestamp_micros())
}

/// Writes the hyphenated lowercase form of a 16-byte UUID.
pub fn write_uuid(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

/// Parses a UUID in hyphenated (or plain 32-hex-digit) form.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.trim().bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let val = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = val(hex[2 * i])? << 4 | val(hex[2 * i + 1])?;
    }
    Some(out)
}

/// Like [`parse_decimal`], but also accepts an exponent (`1.5e3`, `-2E-2`), as
/// written by tools and by Rust's `{:e}` formatting of floats.
pub fn parse_decimal_sci(text: &str, scale: u8) -> Option<i128> {
    let t = text.trim();
    let Some(e) = t.find(['e', 'E']) else {
        return parse_decimal(t, scale);
    };
    let exp: i64 = t[e + 1..].parse().ok()?;
    let (sign, m) = match t.as_bytes().first()? {
        b'-' => ("-", &t[1..e]),
        b'+' => ("", &t[1..e]),
        _ => ("", &t[..e]),
    };
    let (int, frac) = m.split_once('.').unwrap_or((m, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{int}{frac}");
    if digits.bytes().all(|b| b == b'0') {
        return Some(0);
    }
    if exp.unsigned_abs() > 4096 {
        return None; // far outside i128 either way
    }
    // Move the decimal point `exp` places and parse the plain form.
    let point = int.len() as i64 + exp;
    let plain = if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else if point as usize >= digits.len() {
        format!(
            "{sign}{digits}{}",
            "0".repeat(point as usize - digits.len())
        )
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{sign}{a}.{b}")
    };
    parse_decimal(&plain, scale)
}

/// Whether an unscaled decimal value has at most `precision` digits.
pub fn decimal_fits_precision(unscaled: i128, precision: u8) -> bool {
    match 10u128.checked_pow(precision as u32) {
        Some(limit) => unscaled.unsigned_abs() < limit,
        None => true,
    }
}

/// Writes the instant `micros` since 1970-01-01 00:00:00 UTC as
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn write_timestamp_utc(out: &mut Vec<u8>, micros: i64) -> Result<()> {
    let start = out.len();
    write_timestamp(out, micros)?;
    // write_date always writes a 4-digit year, so the separator is at +10.
    if let Some(sep) = out.get_mut(start + 10) {
        *sep = b'T';
    }
    out.push(b'Z');
    Ok(())
}

fn push_padded(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = itoa::Buffer::new();
    let s = buf.format(v);
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(s.len())));
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).expect("utf8")
    }

    #[test]
    fn decimals_are_exact_both_ways() {
        for (u, sc, text) in [
            (1250i128, 2u8, "12.50"),
            (-5, 2, "-0.05"),
            (0, 3, "0.000"),
            (42, 0, "42"),
            (
                i128::MAX / 10,
                10,
                "1701411834604692317316873037.1588410572",
            ),
        ] {
            assert_eq!(s(|o| write_decimal(o, u, sc)), text);
            assert_eq!(parse_decimal(text, sc), Some(u), "{text}");
        }
        assert_eq!(parse_decimal("1.234", 2), None);
        assert_eq!(parse_decimal("1.230", 2), Some(123));
        assert_eq!(parse_decimal("abc", 2), None);
        assert_eq!(parse_decimal(".5", 1), Some(5));
    }

    #[test]
    fn dates_and_times_round_trip() {
        for (days, text) in [
            (0, "1970-01-01"),
            (-719_162, "0001-01-01"),
            (2_932_896, "9999-12-31"),
        ] {
            assert_eq!(s(|o| write_date(o, days).expect("date")), text);
            assert_eq!(parse_date(text), Some(days));
        }
        let micros = 1_700_000_000_123_456i64;
        let text = s(|o| write_timestamp(o, micros).expect("ts"));
        assert_eq!(text, "2023-11-14 22:13:20.123456");
        assert_eq!(parse_timestamp(&text), Some(micros));
        assert_eq!(parse_timestamp("2023-11-14T22:13:20.123456Z"), Some(micros));
        assert_eq!(s(|o| write_time(o, 3_723_000_001)), "01:02:03.000001");
        assert_eq!(parse_time("01:02:03.000001"), Some(3_723_000_001));
    }

    #[test]
    fn sci_decimals_and_precision() {
        assert_eq!(parse_decimal_sci("1.5e3", 2), Some(150_000));
        assert_eq!(parse_decimal_sci("-2E-2", 2), Some(-2));
        assert_eq!(parse_decimal_sci("1.2345e2", 2), Some(12_345));
        assert_eq!(parse_decimal_sci("1.2345e1", 2), None);
        assert_eq!(parse_decimal_sci("3e-1", 1), Some(3));
        assert_eq!(parse_decimal_sci("0e0", 5), Some(0));
        assert_eq!(parse_decimal_sci("12.50", 2), Some(1250));
        assert_eq!(parse_decimal_sci("1e", 2), None);
        assert_eq!(parse_decimal_sci("e5", 2), None);
        assert!(decimal_fits_precision(99_999, 5));
        assert!(!decimal_fits_precision(-100_000, 5));
        assert!(decimal_fits_precision(i128::MAX, 39));
        let text = s(|o| write_timestamp_utc(o, 1_700_000_000_123_456).expect("ts"));
        assert_eq!(text, "2023-11-14T22:13:20.123456Z");
    }

    #[test]
    fn uuids_round_trip() {
        let text = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        let b = parse_uuid(text).expect("uuid");
        assert_eq!(s(|o| write_uuid(o, &b)), text);
    }
}

// ---------------------------------------------------------------------------
// Fast parsers of the fixed ISO text forms, straight from bytes.
//
// Text protocols (MySQL's result sets, CSV) hand over bytes in exactly these
// shapes; parsing them without going through `str`, allocation or chrono's
// format interpreter keeps the per-value cost of a reader small.
// ---------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date; `None` if it does not exist
/// (month 0, day 0, 31 February, ...).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> Option<i32> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Howard Hinnant's `days_from_civil`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe as i32 - 719_468)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Parses exactly `YYYY-MM-DD` into days since 1970-01-01; `None` for anything
/// else, including zero dates such as `0000-00-00`.
pub fn parse_date_bytes(b: &[u8]) -> Option<i32> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    days_from_civil(
        digits(&b[..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )
}

/// Parses exactly `HH:MM:SS` with an optional `.f` of 1 to 6 digits into
/// microseconds since midnight; `None` outside 00:00:00–23:59:59.999999.
pub fn parse_time_bytes(b: &[u8]) -> Option<i64> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (digits(&b[..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let frac = match &b[8..] {
        [] => 0,
        [b'.', f @ ..] if (1..=6).contains(&f.len()) => digits(f)? * 10u32.pow(6 - f.len() as u32),
        _ => return None,
    };
    Some(((h * 3600 + m * 60 + s) as i64) * 1_000_000 + frac as i64)
}

/// Parses exactly `YYYY-MM-DD HH:MM:SS[.ffffff]` (or with `T` between date
/// and time) into microseconds since 1970-01-01 00:00:00.
pub fn parse_timestamp_bytes(b: &[u8]) -> Option<i64> {
    if b.len() < 19 || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    let days = parse_date_bytes(&b[..10])? as i64;
    Some(days * 86_400_000_000 + parse_time_bytes(&b[11..])?)
}

#[cfg(test)]
mod fast_parse_tests {
    use super::*;

    #[test]
    fn byte_parsers_agree_with_the_text_parsers() {
        for text in [
            "1970-01-01",
            "0001-01-01",
            "9999-12-31",
            "2024-02-29",
            "1900-03-01",
            "0000-03-01",
        ] {
            assert_eq!(
                parse_date_bytes(text.as_bytes()),
                parse_date(text),
                "{text}"
            );
        }
        for bad in [
            "0000-00-00",
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-01-01x",
        ] {
            assert_eq!(parse_date_bytes(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_time_bytes(b"01:02:03.000001"), Some(3_723_000_001));
        assert_eq!(parse_time_bytes(b"23:59:59.5"), Some(86_399_500_000));
        assert_eq!(parse_time_bytes(b"00:00:00"), Some(0));
        assert_eq!(parse_time_bytes(b"24:00:00"), None);
        assert_eq!(parse_time_bytes(b"-01:00:00"), None);
        assert_eq!(parse_time_bytes(b"838:59:59"), None);
        for text in [
            "2023-11-14 22:13:20.123456",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
        ] {
            assert_eq!(
                parse_timestamp_bytes(text.as_bytes()),
                parse_timestamp(text),
                "{text}"
            );
        }
        assert_eq!(parse_timestamp_bytes(b"0000-00-00 00:00:00"), None);
    }
}
