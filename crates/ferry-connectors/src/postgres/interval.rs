//! PostgreSQL `interval` in binary form ↔ Arrow `Interval(MonthDayNano)`.
//!
//! ```text
//!  time:i64 (microseconds)  days:i32  months:i32          (16 bytes, big-endian)
//! ```
//!
//! The three parts stay separate, as PostgreSQL keeps them (`1 month` is not
//! `30 days`, `1 day` is not `24 hours` across a DST change). Arrow keeps
//! nanoseconds, so a value with digits below the microsecond has no
//! PostgreSQL form, and a time part beyond ±292 years of hours has no Arrow
//! form: both are errors naming the value.

use arrow::datatypes::IntervalMonthDayNano;

/// Decodes a binary `interval` (exactly 16 bytes).
pub(super) fn decode(v: &[u8]) -> Result<IntervalMonthDayNano, String> {
    if v.len() != 16 {
        return Err(format!("unexpected {}-byte interval", v.len()));
    }
    let (Ok(time), Ok(days), Ok(months)) = (
        <[u8; 8]>::try_from(&v[..8]),
        <[u8; 4]>::try_from(&v[8..12]),
        <[u8; 4]>::try_from(&v[12..16]),
    ) else {
        return Err(format!("unexpected {}-byte interval", v.len()));
    };
    let micros = i64::from_be_bytes(time);
    let nanos = micros.checked_mul(1_000).ok_or_else(|| {
        format!("interval time part of {micros} µs is beyond Arrow's ±292 years of nanoseconds")
    })?;
    Ok(IntervalMonthDayNano::new(
        i32::from_be_bytes(months),
        i32::from_be_bytes(days),
        nanos,
    ))
}

/// Appends `v` as a length-prefixed binary `interval`.
pub(super) fn encode(out: &mut Vec<u8>, v: IntervalMonthDayNano) -> Result<(), String> {
    if v.nanoseconds % 1_000 != 0 {
        return Err(format!(
            "interval time part of {} ns has digits below the microsecond, which PostgreSQL cannot keep",
            v.nanoseconds
        ));
    }
    out.extend_from_slice(&16i32.to_be_bytes());
    out.extend_from_slice(&(v.nanoseconds / 1_000).to_be_bytes());
    out.extend_from_slice(&v.days.to_be_bytes());
    out.extend_from_slice(&v.months.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_does_not_fit() {
        for v in [
            IntervalMonthDayNano::new(14, 3, 14_706_789_000_000),
            IntervalMonthDayNano::new(-14, 3, -1_000),
            IntervalMonthDayNano::new(i32::MIN, i32::MAX, 0),
        ] {
            let mut buf = Vec::new();
            encode(&mut buf, v).expect("encodes");
            assert_eq!(&buf[..4], &16i32.to_be_bytes());
            assert_eq!(decode(&buf[4..]), Ok(v));
        }
        assert!(encode(&mut Vec::new(), IntervalMonthDayNano::new(0, 0, 1)).is_err());
        let mut huge = i64::MAX.to_be_bytes().to_vec();
        huge.extend_from_slice(&[0; 8]);
        assert!(decode(&huge).is_err());
    }
}
