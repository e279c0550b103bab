//! PostgreSQL `numeric` in binary form ↔ exact scaled integers.
//!
//! ```text
//!  ndigits:i16 weight:i16 sign:i16 dscale:i16 digits:i16[ndigits]   (base 10000)
//!  value = Σ digits[i] × 10000^(weight − i)
//! ```

use ferry_core::types::POW10;

/// Sign word of a positive numeric.
const POS: u16 = 0x0000;
/// Sign word of a negative numeric.
const NEG: u16 = 0x4000;

/// Whether `x` has at most `precision` digits.
#[inline]
pub fn fits_precision(x: i128, precision: u8) -> bool {
    (precision as usize) >= 39 || x.unsigned_abs() < POW10[precision as usize] as u128
}

/// Sign word of NaN.
const NAN: u16 = 0xC000;
/// Sign word of +Infinity (PostgreSQL 14+).
const PINF: u16 = 0xD000;
/// Sign word of -Infinity (PostgreSQL 14+).
const NINF: u16 = 0xF000;

/// Why a binary numeric has no value at the requested scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericError {
    /// `NaN`.
    NaN,
    /// `Infinity` or `-Infinity`.
    Infinity {
        /// `-Infinity`.
        negative: bool,
    },
    /// More than 38 digits.
    Overflow,
    /// Non-zero digits beyond the scale.
    Lossy,
    /// Not a binary numeric at all.
    Malformed(&'static str),
}

/// Decodes a binary numeric into its unscaled value at `scale`. Fails on NaN,
/// ±Infinity, overflow, or digits beyond `scale` that are not zero.
pub fn decode_to_i128(v: &[u8], scale: u8) -> Result<i128, NumericError> {
    if v.len() < 8 {
        return Err(NumericError::Malformed("truncated numeric"));
    }
    let rd = |i: usize| u16::from_be_bytes([v[i], v[i + 1]]);
    let ndigits = rd(0) as usize;
    let weight = rd(2) as i16 as i32;
    let sign = rd(4);
    if v.len() != 8 + 2 * ndigits {
        return Err(NumericError::Malformed("malformed numeric"));
    }
    match sign {
        POS | NEG => {}
        NAN => return Err(NumericError::NaN),
        PINF => return Err(NumericError::Infinity { negative: false }),
        NINF => return Err(NumericError::Infinity { negative: true }),
        _ => return Err(NumericError::Malformed("malformed numeric sign")),
    }
    let overflow = || NumericError::Overflow;
    let lossy = || NumericError::Lossy;
    // Sum each base-10000 group at its power of ten in the scaled integer:
    // group i is worth digits[i] × 10^(4·(weight − i) + scale).
    let mut acc: i128 = 0;
    for i in 0..ndigits {
        let d = rd(8 + 2 * i) as i128;
        if d == 0 {
            continue;
        }
        let e = 4 * (weight - i as i32) + scale as i32;
        let part = if e >= 0 {
            let p = POW10.get(e as usize).ok_or_else(overflow)?;
            d.checked_mul(*p).ok_or_else(overflow)?
        } else if e > -4 {
            let p = POW10[(-e) as usize];
            if d % p != 0 {
                return Err(lossy());
            }
            d / p
        } else {
            return Err(lossy());
        };
        acc = acc.checked_add(part).ok_or_else(overflow)?;
    }
    Ok(if sign == NEG { -acc } else { acc })
}

/// Encodes `unscaled × 10^-scale` as a binary numeric with display scale `scale`.
pub fn encode_i128(out: &mut Vec<u8>, unscaled: i128, scale: u8) {
    let neg = unscaled < 0;
    let mut v = unscaled.unsigned_abs();
    // Pad the scale to a multiple of 4 so base-10000 groups align with the point.
    let pad = (4 - (scale as u32 % 4)) % 4;
    let mut groups: [u16; 12] = [0; 12];
    let mut n = 0;
    // v × 10^pad may exceed u128 for 38-digit values: split instead of multiplying.
    // Take the lowest (4 − pad) digits as the first group, scaled by 10^pad.
    if pad > 0 {
        let first = 10u64.pow(4 - pad);
        if v <= u64::MAX as u128 {
            let w = v as u64;
            groups[0] = ((w % first) * 10u64.pow(pad)) as u16;
            v = (w / first) as u128;
        } else {
            groups[0] = ((v % first as u128) * 10u128.pow(pad)) as u16;
            v /= first as u128;
        }
        n = 1;
    }
    // Most values fit 64 bits, where division is a single instruction.
    while v > u64::MAX as u128 {
        groups[n] = (v % 10_000) as u16;
        v /= 10_000;
        n += 1;
    }
    let mut v = v as u64;
    while v > 0 {
        groups[n] = (v % 10_000) as u16;
        v /= 10_000;
        n += 1;
    }
    let frac_groups = (scale as i32 + pad as i32) / 4;
    // Trim leading zero groups (top) and trailing zero groups (bottom).
    while n > 0 && groups[n - 1] == 0 {
        n -= 1;
    }
    let mut low = 0;
    while low < n && groups[low] == 0 {
        low += 1;
    }
    let ndigits = n - low;
    let weight: i16 = if ndigits == 0 {
        0
    } else {
        (n as i32 - 1 - frac_groups) as i16
    };
    let len = 8 + 2 * ndigits;
    out.extend_from_slice(&(len as i32).to_be_bytes());
    out.extend_from_slice(&(ndigits as u16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&(if neg && ndigits > 0 { NEG } else { POS }).to_be_bytes());
    out.extend_from_slice(&(scale as u16).to_be_bytes());
    for i in (low..n).rev() {
        out.extend_from_slice(&groups[i].to_be_bytes());
    }
}

/// Encodes exact decimal text (`-123.4500`) as a binary numeric; `None` if
/// the text is not a plain decimal. `NaN`, `Infinity` and `-Infinity` (the
/// text PostgreSQL writes for them, which a `decimal_text` column carries)
/// become the same special values, never a number.
pub fn encode_text(out: &mut Vec<u8>, text: &str) -> Option<()> {
    let t = text.trim();
    let special = |out: &mut Vec<u8>, sign: u16| {
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        Some(())
    };
    if t.eq_ignore_ascii_case("nan") {
        return special(out, NAN);
    }
    let (neg, t) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if t.eq_ignore_ascii_case("infinity") {
        return special(out, if neg { NINF } else { PINF });
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let dscale = frac.len();
    // Integer part grouped from the point leftwards, fraction rightwards.
    let mut digits: Vec<u16> = Vec::new();
    let lead = int.len() % 4;
    let mut int_groups = 0;
    if lead > 0 {
        digits.push(int[..lead].parse().ok()?);
        int_groups += 1;
    }
    for c in int.as_bytes()[lead..].chunks(4) {
        digits.push(std::str::from_utf8(c).ok()?.parse().ok()?);
        int_groups += 1;
    }
    for c in frac.as_bytes().chunks(4) {
        let mut g: u16 = std::str::from_utf8(c).ok()?.parse().ok()?;
        for _ in c.len()..4 {
            g *= 10;
        }
        digits.push(g);
    }
    let mut weight = int_groups - 1;
    // Strip leading zero groups (adjusting the weight) and trailing zero groups.
    let mut start = 0;
    while start < digits.len() && digits[start] == 0 {
        start += 1;
        weight -= 1;
    }
    let mut end = digits.len();
    while end > start && digits[end - 1] == 0 {
        end -= 1;
    }
    let digits = &digits[start..end];
    if digits.is_empty() {
        weight = 0;
    }
    let len = 8 + 2 * digits.len();
    out.extend_from_slice(&(len as i32).to_be_bytes());
    out.extend_from_slice(&(digits.len() as u16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&(if neg && !digits.is_empty() { NEG } else { POS }).to_be_bytes());
    out.extend_from_slice(&(dscale as u16).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(x: i128, scale: u8) {
        let mut buf = Vec::new();
        encode_i128(&mut buf, x, scale);
        let got = decode_to_i128(&buf[4..], scale).expect("decodes");
        assert_eq!(got, x, "scale {scale}");
    }

    #[test]
    fn i128_round_trips() {
        for scale in [0u8, 1, 2, 3, 4, 5, 10, 20, 37, 38] {
            for x in [
                0i128,
                1,
                -1,
                5,
                1250,
                -99_999,
                10_000,
                123_456_789_012_345_678,
            ] {
                round_trip(x, scale);
            }
            round_trip(POW10[38] - 1, scale);
            round_trip(-(POW10[38] - 1), scale);
        }
    }

    #[test]
    fn text_matches_i128_encoding() {
        for (text, x, s) in [
            ("12.50", 1250i128, 2u8),
            ("-0.05", -5, 2),
            ("0.000", 0, 3),
            ("10000", 10000, 0),
        ] {
            let mut a = Vec::new();
            encode_i128(&mut a, x, s);
            let mut b = Vec::new();
            encode_text(&mut b, text).expect("parses");
            assert_eq!(a, b, "{text}");
        }
    }

    #[test]
    fn special_values_round_trip_as_text_and_fail_as_decimals() {
        for (text, err) in [
            ("NaN", NumericError::NaN),
            ("Infinity", NumericError::Infinity { negative: false }),
            ("-Infinity", NumericError::Infinity { negative: true }),
        ] {
            let mut b = Vec::new();
            encode_text(&mut b, text).expect("special");
            assert_eq!(decode_to_i128(&b[4..], 2), Err(err), "{text}");
        }
        assert!(encode_text(&mut Vec::new(), "-NaN").is_none());
        assert!(encode_text(&mut Vec::new(), "inf").is_none());
    }

    #[test]
    fn decode_rejects_lossy_scale() {
        let mut buf = Vec::new();
        encode_i128(&mut buf, 12345, 3); // 12.345
        assert!(decode_to_i128(&buf[4..], 2).is_err());
        assert_eq!(decode_to_i128(&buf[4..], 4), Ok(123_450));
    }
}
