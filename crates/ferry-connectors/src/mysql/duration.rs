//! MariaDB's `TIME`: not only a time of day but a signed duration from
//! -838:59:59.999999 to 838:59:59.999999, carried as `time` microseconds
//! (which may then lie outside one day; PostgreSQL's `24:00:00` does too).
//! The source parses the server's text of it, the sink writes it back and
//! refuses (as a dirty row) only what the type cannot hold.

/// MariaDB's `TIME` range: ±838:59:59.999999, in microseconds.
pub(crate) const TIME_MAX_MICROS: i64 = 839 * 3_600_000_000 - 1;

/// Why a `time` value does not fit MariaDB's `TIME` (±838:59:59.999999),
/// `None` when it does (PostgreSQL's `24:00:00` does).
pub(crate) fn time_out_of_range(micros: i64) -> Option<String> {
    (micros.unsigned_abs() > TIME_MAX_MICROS.unsigned_abs()).then(|| {
        let mut t = Vec::new();
        write_signed_time(&mut t, micros);
        format!(
            "time {} is outside MariaDB's TIME range (-838:59:59.999999 to 838:59:59.999999)",
            String::from_utf8_lossy(&t)
        )
    })
}

/// Writes `[-]H…H:MM:SS.ffffff`: a time of day, or a MariaDB `TIME`
/// duration beyond one day or below zero.
pub(crate) fn write_signed_time(out: &mut Vec<u8>, micros: i64) {
    if micros < 0 {
        out.push(b'-');
    }
    let m = micros.unsigned_abs();
    let secs = m / 1_000_000;
    let mut b = itoa::Buffer::new();
    let hours = b.format(secs / 3600);
    if hours.len() < 2 {
        out.push(b'0');
    }
    out.extend_from_slice(hours.as_bytes());
    let two = |v: u64, out: &mut Vec<u8>| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    out.push(b':');
    two((secs / 60) % 60, out);
    out.push(b':');
    two(secs % 60, out);
    out.push(b'.');
    let frac = b.format(m % 1_000_000);
    out.extend(std::iter::repeat_n(b'0', 6 - frac.len()));
    out.extend_from_slice(frac.as_bytes());
}

/// Parses MariaDB's text of a `TIME` — `[-]H…H:MM:SS[.ffffff]`, a signed
/// duration up to 838:59:59.999999 — into microseconds.
pub(crate) fn parse_mysql_time(b: &[u8]) -> Option<i64> {
    let (neg, rest) = match b.strip_prefix(b"-") {
        Some(r) => (true, r),
        None => (false, b),
    };
    let colon = rest.iter().position(|&c| c == b':')?;
    let (h, tail) = (&rest[..colon], &rest[colon..]);
    if !(1..=3).contains(&h.len()) || tail.len() < 6 || tail[3] != b':' {
        return None;
    }
    let num = |d: &[u8]| -> Option<i64> {
        (!d.is_empty() && d.iter().all(u8::is_ascii_digit))
            .then(|| d.iter().fold(0i64, |v, &c| v * 10 + i64::from(c - b'0')))
    };
    let (hours, minutes, seconds) = (num(h)?, num(&tail[1..3])?, num(&tail[4..6])?);
    let frac = match &tail[6..] {
        [] => 0,
        [b'.', f @ ..] if (1..=6).contains(&f.len()) => num(f)? * 10i64.pow(6 - f.len() as u32),
        _ => return None,
    };
    if minutes > 59 || seconds > 59 {
        return None;
    }
    let micros = (hours * 3600 + minutes * 60 + seconds) * 1_000_000 + frac;
    if micros > TIME_MAX_MICROS {
        return None;
    }
    Some(if neg { -micros } else { micros })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_time_over_its_whole_range() {
        let h = 3_600_000_000i64;
        assert_eq!(parse_mysql_time(b"00:00:00"), Some(0));
        assert_eq!(parse_mysql_time(b"23:59:59.999999"), Some(24 * h - 1));
        assert_eq!(parse_mysql_time(b"24:00:00"), Some(24 * h));
        assert_eq!(parse_mysql_time(b"838:59:59"), Some(839 * h - 1_000_000));
        assert_eq!(parse_mysql_time(b"-838:59:59.999999"), Some(-(839 * h - 1)));
        assert_eq!(parse_mysql_time(b"-00:00:00.5"), Some(-500_000));
        assert_eq!(
            parse_mysql_time(b"-01:30:00.125"),
            Some(-(h + h / 2 + 125_000))
        );
        for bad in [
            &b"839:00:00"[..],
            b"12:60:00",
            b"1:2:3",
            b"",
            b"-",
            b"12:00:00.1234567",
        ] {
            assert_eq!(parse_mysql_time(bad), None, "{bad:?}");
        }
        for micros in [0, 1, -1, 24 * h, -(839 * h - 1), 839 * h - 1, -500_000] {
            let mut t = Vec::new();
            write_signed_time(&mut t, micros);
            assert_eq!(parse_mysql_time(&t), Some(micros), "{t:?}");
        }
    }
}
