//! Dates, times and timestamps from their TEXT forms, as tools write them.

use rusqlite::types::ValueRef;

use super::{Why, conversion, describe, utf8};
use crate::common::values::{parse_date, parse_time, parse_timestamp};
use ferry_core::spec::DirtyReason;

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// Whether a time text has non-zero digits below the microsecond.
fn below_micros(s: &str) -> bool {
    let Some(dot) = s.rfind('.') else {
        return false;
    };
    let frac = s[dot + 1..].bytes().take_while(u8::is_ascii_digit);
    frac.skip(6).any(|b| b != b'0')
}

pub(super) fn to_date(v: ValueRef<'_>) -> Result<i32, Why> {
    let s = utf8(v, "YYYY-MM-DD date")?;
    parse_date(s).ok_or_else(|| conversion(format!("{} is not a YYYY-MM-DD date", describe(v))))
}

pub(super) fn to_time(v: ValueRef<'_>) -> Result<i64, Why> {
    let s = utf8(v, "HH:MM:SS time")?;
    let micros = if below_micros(s) {
        None
    } else {
        parse_time(s).or_else(|| parse_time(&format!("{s}:00")))
    };
    match micros {
        Some(m) if (0..DAY_MICROS).contains(&m) => Ok(m),
        _ if below_micros(s) => Err((
            DirtyReason::Truncation,
            format!(
                "{}: digits below the microsecond would be lost",
                describe(v)
            ),
        )),
        _ => Err(conversion(format!(
            "{} is not an HH:MM:SS[.ffffff] time",
            describe(v)
        ))),
    }
}

/// Reads `YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|±HH:MM]`; the offset, if any,
/// is applied (the result is UTC). Without `tz`, only a UTC suffix is accepted.
pub(super) fn to_timestamp(v: ValueRef<'_>, tz: bool) -> Result<i64, Why> {
    let s = utf8(v, "timestamp")?;
    let bad = || {
        conversion(format!(
            "{} is not a YYYY-MM-DD HH:MM:SS[.ffffff] timestamp",
            describe(v)
        ))
    };
    if below_micros(s) {
        return Err((
            DirtyReason::Truncation,
            format!(
                "{}: digits below the microsecond would be lost",
                describe(v)
            ),
        ));
    }
    let (local, offset_secs) = split_offset(s);
    if offset_secs != 0 && !tz {
        return Err(conversion(format!(
            "{} has a time zone offset but the column is a timestamp without time zone",
            describe(v)
        )));
    }
    let micros = match local.len() {
        10 => parse_timestamp(&format!("{local} 00:00:00")),
        16 => parse_timestamp(&format!("{local}:00")),
        _ => parse_timestamp(local),
    }
    .ok_or_else(bad)?;
    micros.checked_sub(offset_secs * 1_000_000).ok_or_else(bad)
}

/// Splits a trailing `Z` or `±HH:MM`/`±HHMM` offset from a timestamp text.
fn split_offset(s: &str) -> (&str, i64) {
    if let Some(rest) = s.strip_suffix(['Z', 'z']) {
        return (rest.trim_end(), 0);
    }
    // An offset can only follow the time part (the date has '-' at 4 and 7).
    if s.len() > 16 {
        for len in [6, 5] {
            let Some(split) = s.len().checked_sub(len) else {
                continue;
            };
            let Some(tail) = s.get(split..) else { continue };
            let sign = match tail.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => continue,
            };
            let hm = tail[1..].replace(':', "");
            if hm.len() == 4
                && hm.bytes().all(|b| b.is_ascii_digit())
                && (len == 5 || &tail[3..4] == ":")
            {
                let h: i64 = hm[..2].parse().unwrap_or(0);
                let m: i64 = hm[2..].parse().unwrap_or(0);
                return (s[..split].trim_end(), sign * (h * 3600 + m * 60));
            }
        }
    }
    (s, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_tools_write_them() {
        let base = parse_timestamp("2024-03-01 10:20:30").expect("ts");
        for text in [
            "2024-03-01 10:20:30",
            "2024-03-01T10:20:30",
            "2024-03-01T10:20:30.000000Z",
        ] {
            assert_eq!(
                to_timestamp(ValueRef::Text(text.as_bytes()), false),
                Ok(base),
                "{text}"
            );
        }
        let shifted = to_timestamp(ValueRef::Text(b"2024-03-01T12:20:30+02:00"), true);
        assert_eq!(shifted, Ok(base));
        assert_eq!(
            to_timestamp(ValueRef::Text(b"2024-03-01 05:20:30-0500"), true),
            Ok(base)
        );
        assert!(to_timestamp(ValueRef::Text(b"2024-03-01T12:20:30+02:00"), false).is_err());
        assert!(to_timestamp(ValueRef::Text(b"2024-03-01 10:20:30.1234567"), false).is_err());
        assert_eq!(
            to_timestamp(ValueRef::Text(b"2024-03-01"), false),
            parse_timestamp("2024-03-01 00:00:00").ok_or(conversion(String::new()))
        );
        assert_eq!(to_time(ValueRef::Text(b"10:20")), Ok(37_200_000_000));
        assert!(to_time(ValueRef::Text(b"25:00:00")).is_err());
    }
}
