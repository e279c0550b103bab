//! Exact text forms of the two types most databases cannot store natively:
//!
//! * an **interval** as an ISO 8601 duration, exactly as PostgreSQL prints it
//!   with `intervalstyle = iso_8601` (`P1Y2M3DT4H5M6.789S`, `P-1Y-2M3DT-4H`,
//!   `PT0S`): years and months come from the months part, days stay days, and
//!   hours, minutes and seconds from the nanoseconds part, each part keeping
//!   its own sign, so the three parts can be read back exactly;
//! * a **list** as a compact JSON array, as PostgreSQL's `to_json` prints an
//!   array (`[1,null,3]`, `["a\"b","☃"]`, `[1.50,2.00]`): numbers as JSON
//!   numbers with every digit, NaN/±Infinity floats as strings (JSON has no
//!   such numbers), dates and times as ISO text, bytes as `"\\x0102"`.
//!
//! MySQL/MariaDB and SQLite sinks store these texts (in `LONGTEXT`, `JSON`,
//! `TEXT`, `JSON_TEXT` columns), and the transform's casts to `text`/`json`
//! produce the same, so one value has one text wherever it lands.

use std::fmt::Write as _;

use arrow::array::{Array, AsArray, ListArray};
use arrow::datatypes::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNano, IntervalMonthDayNanoType, Time64MicrosecondType,
    TimestampMicrosecondType,
};

use crate::types::ColumnType;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_MIN: i64 = 60 * NANOS_PER_SEC;
const NANOS_PER_HOUR: i64 = 60 * NANOS_PER_MIN;
/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

/// Appends the ISO 8601 duration of `v` (PostgreSQL's `iso_8601` interval style).
pub fn write_interval_iso(out: &mut String, v: IntervalMonthDayNano) {
    let (years, months) = (v.months / 12, v.months % 12);
    let mut t = v.nanoseconds;
    let hours = t / NANOS_PER_HOUR;
    t -= hours * NANOS_PER_HOUR;
    let minutes = t / NANOS_PER_MIN;
    t -= minutes * NANOS_PER_MIN;
    let secs = t / NANOS_PER_SEC;
    let frac = t - secs * NANOS_PER_SEC;
    if v.months == 0 && v.days == 0 && v.nanoseconds == 0 {
        out.push_str("PT0S");
        return;
    }
    let part = |out: &mut String, n: i64, unit: char| {
        if n != 0 {
            let _ = write!(out, "{n}{unit}");
        }
    };
    out.push('P');
    part(out, years.into(), 'Y');
    part(out, months.into(), 'M');
    part(out, v.days.into(), 'D');
    if v.nanoseconds != 0 {
        out.push('T');
    }
    part(out, hours, 'H');
    part(out, minutes, 'M');
    if secs != 0 || frac != 0 {
        if secs < 0 || frac < 0 {
            out.push('-');
        }
        let _ = write!(out, "{}", secs.unsigned_abs());
        push_fraction(out, frac.unsigned_abs(), 9);
        out.push('S');
    }
}

/// Appends `.digits` of a fraction with `width` digits, trailing zeros cut;
/// nothing when it is zero.
fn push_fraction(out: &mut String, frac: u64, width: usize) {
    if frac == 0 {
        return;
    }
    let digits = format!("{frac:0width$}");
    out.push('.');
    out.push_str(digits.trim_end_matches('0'));
}

/// Parses an ISO 8601 duration (`P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]`, each
/// number with an optional sign; seconds may have up to 9 fractional digits)
/// into its months, days and nanoseconds. `None` for anything else, or when a
/// part overflows.
pub fn parse_interval_iso(text: &str) -> Option<IntervalMonthDayNano> {
    let s = text.trim().strip_prefix('P')?;
    if s.is_empty() {
        return None;
    }
    let (mut months, mut days, mut nanos) = (0i32, 0i32, 0i64);
    let mut in_time = false;
    let mut rest = s;
    let mut any = false;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('T') {
            if in_time {
                return None;
            }
            in_time = true;
            rest = r;
            continue;
        }
        let end = rest.find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.')))?;
        let (num, unit) = (&rest[..end], rest[end..].chars().next()?);
        rest = &rest[end + unit.len_utf8()..];
        any = true;
        match (in_time, unit) {
            (false, 'Y') => {
                months = months.checked_add(num.parse::<i32>().ok()?.checked_mul(12)?)?
            }
            (false, 'M') => months = months.checked_add(num.parse().ok()?)?,
            (false, 'W') => days = days.checked_add(num.parse::<i32>().ok()?.checked_mul(7)?)?,
            (false, 'D') => days = days.checked_add(num.parse().ok()?)?,
            (true, 'H') => {
                nanos = nanos.checked_add(num.parse::<i64>().ok()?.checked_mul(NANOS_PER_HOUR)?)?
            }
            (true, 'M') => {
                nanos = nanos.checked_add(num.parse::<i64>().ok()?.checked_mul(NANOS_PER_MIN)?)?
            }
            (true, 'S') => nanos = nanos.checked_add(parse_seconds(num)?)?,
            _ => return None,
        }
    }
    // `P1YT` (a time designator with no time part) is not a duration.
    if in_time && !rest_had_time(s) {
        return None;
    }
    any.then_some(IntervalMonthDayNano::new(months, days, nanos))
}

/// Whether the part after `T` of a duration (without its `P`) is not empty.
fn rest_had_time(s: &str) -> bool {
    s.split_once('T').is_some_and(|(_, t)| !t.is_empty())
}

/// `[-]S[.fffffffff]` as nanoseconds.
fn parse_seconds(num: &str) -> Option<i64> {
    let (neg, n) = match num.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int, frac) = n.split_once('.').unwrap_or((n, ""));
    if int.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = int.parse::<i64>().ok()?.checked_mul(NANOS_PER_SEC)?;
    let frac = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().ok()? * 10i64.pow(9 - frac.len() as u32)
    };
    let v = whole.checked_add(frac)?;
    Some(if neg { -v } else { v })
}

/// Appends list `i` of `list` (elements of type `elem`) as a compact JSON
/// array; an error says which element has no exact JSON form.
pub fn write_list_json(
    out: &mut String,
    list: &ListArray,
    i: usize,
    elem: &ColumnType,
) -> Result<(), String> {
    let offsets = list.value_offsets();
    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
    let values = list.values();
    out.push('[');
    for j in start..end {
        if j > start {
            out.push(',');
        }
        if values.is_null(j) {
            out.push_str("null");
            continue;
        }
        write_element_json(out, values.as_ref(), j, elem)
            .map_err(|m| format!("element {}: {m}", j - start + 1))?;
    }
    out.push(']');
    Ok(())
}

/// Appends element `j` of `a` (a non-list value of type `elem`, in the Arrow
/// type [`ColumnType::arrow_type`] gives it) as JSON, as in [`write_list_json`].
pub fn write_element_json(
    out: &mut String,
    a: &dyn Array,
    j: usize,
    elem: &ColumnType,
) -> Result<(), String> {
    use ColumnType as C;
    match elem {
        C::Bool => out.push_str(if a.as_boolean().value(j) {
            "true"
        } else {
            "false"
        }),
        C::Int16 => {
            let _ = write!(out, "{}", a.as_primitive::<Int16Type>().value(j));
        }
        C::Int32 => {
            let _ = write!(out, "{}", a.as_primitive::<Int32Type>().value(j));
        }
        C::Int64 => {
            let _ = write!(out, "{}", a.as_primitive::<Int64Type>().value(j));
        }
        C::Float32 => write_float(out, a.as_primitive::<Float32Type>().value(j).into(), |o| {
            let _ = write!(o, "{}", a.as_primitive::<Float32Type>().value(j));
        }),
        C::Float64 => write_float(out, a.as_primitive::<Float64Type>().value(j), |o| {
            let _ = write!(o, "{}", a.as_primitive::<Float64Type>().value(j));
        }),
        C::Decimal { scale, .. } => {
            write_decimal(out, a.as_primitive::<Decimal128Type>().value(j), *scale)
        }
        C::DecimalText => {
            let s = a.as_string::<i32>().value(j);
            if is_json_number(s) {
                out.push_str(s);
            } else {
                write_json_string(out, s);
            }
        }
        C::Text { .. } => write_json_string(out, a.as_string::<i32>().value(j)),
        C::Json => out.push_str(a.as_string::<i32>().value(j)),
        C::Binary => {
            let mut s = String::from("\\x");
            for b in a.as_binary::<i32>().value(j) {
                let _ = write!(s, "{b:02x}");
            }
            write_json_string(out, &s);
        }
        C::Date => {
            let d = a.as_primitive::<Date32Type>().value(j);
            let mut s = String::new();
            write_date(&mut s, d)?;
            write_json_string(out, &s);
        }
        C::Time => {
            let mut s = String::new();
            write_time(&mut s, a.as_primitive::<Time64MicrosecondType>().value(j));
            write_json_string(out, &s);
        }
        C::Timestamp | C::TimestampTz => {
            let micros = a.as_primitive::<TimestampMicrosecondType>().value(j);
            let mut s = String::new();
            write_date(
                &mut s,
                micros
                    .div_euclid(86_400_000_000)
                    .try_into()
                    .map_err(|_| format!("timestamp {micros} µs is out of range"))?,
            )?;
            s.push('T');
            write_time(&mut s, micros.rem_euclid(86_400_000_000));
            if elem == &C::TimestampTz {
                s.push_str("+00:00");
            }
            write_json_string(out, &s);
        }
        C::Uuid => {
            let b = a.as_fixed_size_binary().value(j);
            let mut s = String::with_capacity(36);
            for (k, x) in b.iter().enumerate() {
                if matches!(k, 4 | 6 | 8 | 10) {
                    s.push('-');
                }
                let _ = write!(s, "{x:02x}");
            }
            write_json_string(out, &s);
        }
        C::Interval => {
            let mut s = String::new();
            write_interval_iso(
                &mut s,
                a.as_primitive::<IntervalMonthDayNanoType>().value(j),
            );
            write_json_string(out, &s);
        }
        C::List(_) => return Err("lists do not nest".into()),
    }
    Ok(())
}

fn write_float(out: &mut String, x: f64, finite: impl FnOnce(&mut String)) {
    if x.is_nan() {
        out.push_str("\"NaN\"");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        // Rust's `{}` is the shortest text that reads back as the same float.
        finite(out);
    }
}

/// Whether `s` is a JSON number (`-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?`).
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[int_start] == b'0') {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Appends `s` as a JSON string (quotes, backslashes and control characters escaped).
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_decimal(out: &mut String, unscaled: i128, scale: u8) {
    let digits = unscaled.unsigned_abs().to_string();
    if unscaled < 0 {
        out.push('-');
    }
    let scale = scale as usize;
    if scale == 0 {
        out.push_str(&digits);
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    }
}

fn write_date(out: &mut String, days: i32) -> Result<(), String> {
    let d = days
        .checked_add(UNIX_EPOCH_CE_DAYS)
        .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
        .ok_or_else(|| format!("date {days} days from 1970 is out of range"))?;
    let _ = write!(out, "{}", d.format("%Y-%m-%d"));
    Ok(())
}

/// `HH:MM:SS[.ffffff]` (fraction cut of trailing zeros, as PostgreSQL prints it).
fn write_time(out: &mut String, micros: i64) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000) as u64;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    push_fraction(out, frac, 6);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Decimal128Array, Float64Array, Int32Array, IntervalMonthDayNanoArray, StringArray,
    };
    use arrow::buffer::OffsetBuffer;
    use arrow::datatypes::Field;

    fn iso(months: i32, days: i32, nanos: i64) -> String {
        let mut s = String::new();
        write_interval_iso(&mut s, IntervalMonthDayNano::new(months, days, nanos));
        s
    }

    #[test]
    fn intervals_print_as_postgres_iso_8601_and_parse_back() {
        // Expected texts are PostgreSQL 15's output with intervalstyle = iso_8601.
        let us = 1_000i64;
        for (m, d, n, text) in [
            (
                14,
                3,
                (4 * 3600 + 5 * 60 + 6) * NANOS_PER_SEC + 789_000 * us,
                "P1Y2M3DT4H5M6.789S",
            ),
            (
                -14,
                3,
                -((4 * 3600 + 5 * 60 + 6) * NANOS_PER_SEC + 789_000 * us),
                "P-1Y-2M3DT-4H-5M-6.789S",
            ),
            (0, 0, 0, "PT0S"),
            (0, 0, -500_000 * us, "PT-0.5S"),
            (0, 1, -NANOS_PER_SEC, "P1DT-1S"),
            (0, 0, 10 * NANOS_PER_MIN + us, "PT10M0.000001S"),
            (1, 0, 0, "P1M"),
            (0, 0, 7, "PT0.000000007S"),
        ] {
            assert_eq!(iso(m, d, n), text);
            assert_eq!(
                parse_interval_iso(text),
                Some(IntervalMonthDayNano::new(m, d, n)),
                "{text}"
            );
        }
        assert_eq!(
            parse_interval_iso("P2W"),
            Some(IntervalMonthDayNano::new(0, 14, 0))
        );
        for bad in ["", "P", "1Y", "P1X", "PT1.5H", "P1YT", "PT1.1234567891S"] {
            assert_eq!(parse_interval_iso(bad), None, "{bad}");
        }
        let extreme = IntervalMonthDayNano::new(i32::MIN, i32::MIN, i64::MIN);
        let mut s = String::new();
        write_interval_iso(&mut s, extreme);
        assert_eq!(parse_interval_iso(&s), Some(extreme), "{s}");
    }

    fn list(values: ArrayRef, offsets: Vec<i32>) -> ListArray {
        let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
        ListArray::new(field, OffsetBuffer::new(offsets.into()), values, None)
    }

    fn json(l: &ListArray, i: usize, elem: &ColumnType) -> String {
        let mut s = String::new();
        write_list_json(&mut s, l, i, elem).expect("json");
        s
    }

    #[test]
    fn lists_print_as_postgres_to_json() {
        let ints = list(
            Arc::new(Int32Array::from(vec![Some(1), None, Some(-3)])),
            vec![0, 3, 3],
        );
        assert_eq!(json(&ints, 0, &ColumnType::Int32), "[1,null,-3]");
        assert_eq!(json(&ints, 1, &ColumnType::Int32), "[]");
        let texts = list(
            Arc::new(StringArray::from(vec!["a\"b", "c,d", "☃", "x\\y\n\u{1}"])),
            vec![0, 4],
        );
        let text = ColumnType::Text {
            max_chars: None,
            fixed: false,
        };
        assert_eq!(
            json(&texts, 0, &text),
            r#"["a\"b","c,d","☃","x\\y\n\u0001"]"#
        );
        let decs = list(
            Arc::new(
                Decimal128Array::from(vec![150, -5, 200])
                    .with_precision_and_scale(10, 2)
                    .expect("decimal"),
            ),
            vec![0, 3],
        );
        let dec = ColumnType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(json(&decs, 0, &dec), "[1.50,-0.05,2.00]");
        let floats = list(
            Arc::new(Float64Array::from(vec![f64::NAN, f64::INFINITY, 1.5, 1e20])),
            vec![0, 4],
        );
        assert_eq!(
            json(&floats, 0, &ColumnType::Float64),
            r#"["NaN","Infinity",1.5,100000000000000000000]"#
        );
        let ivs = list(
            Arc::new(IntervalMonthDayNanoArray::from(vec![
                IntervalMonthDayNano::new(1, 2, 0),
            ])),
            vec![0, 1],
        );
        assert_eq!(json(&ivs, 0, &ColumnType::Interval), r#"["P1M2D"]"#);
        assert!(is_json_number("-0.50") && is_json_number("1e+20") && !is_json_number("NaN"));
        assert!(!is_json_number("01") && !is_json_number("1.") && !is_json_number(""));
    }
}
