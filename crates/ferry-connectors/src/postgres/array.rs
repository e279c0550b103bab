//! One-dimensional PostgreSQL arrays in binary form ↔ Arrow `List<element>`.
//!
//! ```text
//!  ndim:i32  has_null:i32  element_oid:u32
//!  { dim_size:i32  lower_bound:i32 }[ndim]
//!  { len:i32 (-1 = NULL)  element bytes }[dim sizes multiplied]
//! ```
//!
//! An empty array has `ndim = 0` and nothing after the element oid. Elements
//! are decoded and encoded by the scalar code of their type
//! ([`super::decode`], [`super::encode`]), so `int4[]` elements are exactly
//! `int4` values. The element type is decided once per column from the
//! catalog (`_int4` → `int4`), but dimensions belong to each value:
//! PostgreSQL lets any `int4[]` column hold `'{{1,2},{3,4}}'` or
//! `'[0:1]={1,2}'`. Ferry reads one-dimensional arrays with lower bound 1 as
//! lists; any other value is an error naming the column and what was found
//! (a dirty row where the reader rejects rows), never a flattened list.
//!
//! Writing is the reverse: a one-dimensional array with lower bound 1 whose
//! element oid is the *target's* element type (PostgreSQL refuses any
//! other), with elements converted like scalar columns (`int4` → `int8`).

use arrow::array::ListArray;
use ferry_core::ColumnType;
use serde::{Deserialize, Serialize};

use super::types::Wire;
use crate::common::builder::ColumnBuilder;
use crate::common::list::ListColumn;
use crate::common::values::ColumnValues;

/// The element type of an array Ferry reads and writes in binary form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArrayElem {
    /// `bool[]`
    Bool,
    /// `int2[]`
    Int2,
    /// `int4[]`
    Int4,
    /// `int8[]`
    Int8,
    /// `float4[]`
    Float4,
    /// `float8[]`
    Float8,
    /// `numeric[]`, with or without precision
    Numeric,
    /// `text[]`
    Text,
    /// `varchar[]`
    Varchar,
    /// `bpchar[]` (`char(n)[]`)
    Bpchar,
    /// `name[]`
    Name,
    /// `bytea[]`
    Bytea,
    /// `date[]`
    Date,
    /// `time[]`
    Time,
    /// `timestamp[]`
    Timestamp,
    /// `timestamptz[]`
    Timestamptz,
    /// `uuid[]`
    Uuid,
    /// `interval[]`
    Interval,
    /// `json[]`
    Json,
    /// `jsonb[]`
    Jsonb,
}

impl ArrayElem {
    /// The element type of an array whose element `pg_type.typname` is `typname`.
    pub fn of_typname(typname: &str) -> Option<ArrayElem> {
        use ArrayElem as E;
        Some(match typname {
            "bool" => E::Bool,
            "int2" => E::Int2,
            "int4" => E::Int4,
            "int8" => E::Int8,
            "float4" => E::Float4,
            "float8" => E::Float8,
            "numeric" => E::Numeric,
            "text" => E::Text,
            "varchar" => E::Varchar,
            "bpchar" => E::Bpchar,
            "name" => E::Name,
            "bytea" => E::Bytea,
            "date" => E::Date,
            "time" => E::Time,
            "timestamp" => E::Timestamp,
            "timestamptz" => E::Timestamptz,
            "uuid" => E::Uuid,
            "interval" => E::Interval,
            "json" => E::Json,
            "jsonb" => E::Jsonb,
            _ => return None,
        })
    }

    /// The element type Ferry creates for list elements of type `ty`
    /// (`jsonb` when the source called the column `jsonb[]`).
    pub fn for_type(ty: &ColumnType, native: &str) -> Option<ArrayElem> {
        use ArrayElem as E;
        use ColumnType as C;
        Some(match ty {
            C::Bool => E::Bool,
            C::Int16 => E::Int2,
            C::Int32 => E::Int4,
            C::Int64 => E::Int8,
            C::Float32 => E::Float4,
            C::Float64 => E::Float8,
            C::Decimal { .. } | C::DecimalText => E::Numeric,
            C::Text {
                max_chars: None, ..
            } => E::Text,
            C::Text { fixed: false, .. } => E::Varchar,
            C::Text { fixed: true, .. } => E::Bpchar,
            C::Binary => E::Bytea,
            C::Date => E::Date,
            C::Time => E::Time,
            C::Timestamp => E::Timestamp,
            C::TimestampTz => E::Timestamptz,
            C::Uuid => E::Uuid,
            C::Interval => E::Interval,
            C::Json if native.eq_ignore_ascii_case("jsonb[]") => E::Jsonb,
            C::Json => E::Json,
            C::List(_) => return None,
        })
    }

    /// The element's `pg_type` oid (binary arrays carry it; PostgreSQL
    /// refuses an array whose element oid is not the column's).
    pub fn oid(self) -> u32 {
        use ArrayElem as E;
        match self {
            E::Bool => 16,
            E::Bytea => 17,
            E::Name => 19,
            E::Int8 => 20,
            E::Int2 => 21,
            E::Int4 => 23,
            E::Text => 25,
            E::Json => 114,
            E::Float4 => 700,
            E::Float8 => 701,
            E::Bpchar => 1042,
            E::Varchar => 1043,
            E::Date => 1082,
            E::Time => 1083,
            E::Timestamp => 1114,
            E::Timestamptz => 1184,
            E::Interval => 1186,
            E::Numeric => 1700,
            E::Uuid => 2950,
            E::Jsonb => 3802,
        }
    }

    /// How one element travels: as a scalar of that type.
    pub fn wire(self) -> Wire {
        use ArrayElem as E;
        match self {
            E::Bool => Wire::Bool,
            E::Int2 => Wire::Int2,
            E::Int4 => Wire::Int4,
            E::Int8 => Wire::Int8,
            E::Float4 => Wire::Float4,
            E::Float8 => Wire::Float8,
            E::Numeric => Wire::Numeric,
            E::Text | E::Varchar | E::Bpchar | E::Name | E::Json => Wire::Text,
            E::Jsonb => Wire::Jsonb,
            E::Bytea => Wire::Bytea,
            E::Date => Wire::Date,
            E::Time => Wire::Time,
            E::Timestamp | E::Timestamptz => Wire::Timestamp,
            E::Uuid => Wire::Uuid,
            E::Interval => Wire::Interval,
        }
    }
}

#[inline]
fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Appends one binary array value (`v`, without its length) as a list;
/// returns its variable-length bytes. Only one-dimensional arrays with lower
/// bound 1 are lists; anything else is an error saying what was found.
pub(super) fn decode(
    elem: ArrayElem,
    decimal: (u8, u8),
    v: &[u8],
    list: &mut ListColumn,
) -> Result<usize, String> {
    if v.len() < 12 {
        return Err(format!("truncated array ({} bytes)", v.len()));
    }
    let ndim = be_i32(v);
    let oid = u32::from_be_bytes([v[8], v[9], v[10], v[11]]);
    if oid != elem.oid() {
        return Err(format!(
            "array elements have type oid {oid}, expected {} ({elem:?})",
            elem.oid()
        ));
    }
    if ndim == 0 {
        list.append(true);
        return Ok(0);
    }
    if ndim != 1 {
        return Err(format!(
            "the array has {ndim} dimensions; Ferry reads only one-dimensional arrays as lists"
        ));
    }
    if v.len() < 20 {
        return Err("truncated array dimensions".into());
    }
    let (count, lower) = (be_i32(&v[12..]), be_i32(&v[16..]));
    if count < 0 {
        return Err(format!("malformed array of {count} elements"));
    }
    if lower != 1 {
        return Err(format!(
            "the array starts at index {lower}; Ferry reads only arrays that start at 1 \
             (a list would lose the bounds)"
        ));
    }
    let mut p = 20;
    // Check the framing of every element before appending any, so a
    // malformed value leaves no half-appended list behind.
    for _ in 0..count {
        let len = v
            .get(p..p + 4)
            .map(be_i32)
            .ok_or("truncated array element")?;
        p += 4;
        if len > 0 {
            p += len as usize;
        }
        if p > v.len() {
            return Err("truncated array element".into());
        }
    }
    if p != v.len() {
        return Err("array has bytes after its last element".into());
    }
    let mut p = 20;
    for _ in 0..count {
        let len = be_i32(&v[p..]);
        p += 4;
        let values = list.values();
        if len < 0 {
            values.append_null();
            continue;
        }
        let e = &v[p..p + len as usize];
        p += len as usize;
        if let Err(m) = decode_element(elem, decimal, e, values) {
            // Leave the column as before this value, like a failed scalar.
            list.discard_open();
            return Err(m);
        }
    }
    list.append(true);
    Ok(v.len())
}

fn decode_element(
    elem: ArrayElem,
    decimal: (u8, u8),
    e: &[u8],
    values: &mut ColumnBuilder,
) -> Result<usize, String> {
    match (elem, &mut *values) {
        // numeric without a precision (or wider than 38 digits): exact text.
        (ArrayElem::Numeric, ColumnBuilder::Utf8(b)) => {
            let text = numeric_text(e)?;
            b.append_value(&text);
            Ok(text.len())
        }
        _ => super::decode::decode_value(elem.wire(), decimal, e, values)
            .map_err(|bad| format!("element: {}", bad.message)),
    }
}

/// The exact decimal text of a binary `numeric` (`NaN`, `Infinity`,
/// `-Infinity` for the special values), as PostgreSQL prints it.
pub(super) fn numeric_text(v: &[u8]) -> Result<String, String> {
    if v.len() < 8 {
        return Err("truncated numeric".into());
    }
    let rd = |i: usize| u16::from_be_bytes([v[i], v[i + 1]]);
    let (ndigits, weight, sign, dscale) = (rd(0) as usize, rd(2) as i16 as i32, rd(4), rd(6));
    if v.len() != 8 + 2 * ndigits {
        return Err("malformed numeric".into());
    }
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return Err("malformed numeric sign".into()),
    }
    let digit = |i: i32| -> u16 {
        if i >= 0 && (i as usize) < ndigits {
            rd(8 + 2 * i as usize)
        } else {
            0
        }
    };
    let mut s = String::with_capacity(8 + 4 * ndigits);
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        s.push_str(&digit(0).to_string());
        for i in 1..=weight {
            s.push_str(&format!("{:04}", digit(i)));
        }
    }
    if dscale > 0 {
        s.push('.');
        let mut frac = String::with_capacity(dscale as usize + 4);
        let mut i = weight + 1;
        while frac.len() < dscale as usize {
            frac.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        frac.truncate(dscale as usize);
        s.push_str(&frac);
    }
    Ok(s)
}

/// Appends list `i` of `lists` as a length-prefixed binary array of `elem`
/// (a one-dimensional array with lower bound 1; an empty list is an empty
/// array). `elements` views all the lists' elements.
pub(super) fn encode(
    out: &mut Vec<u8>,
    lists: &ListArray,
    elements: &ColumnValues<'_>,
    i: usize,
    elem: ArrayElem,
) -> Result<(), String> {
    let offsets = lists.value_offsets();
    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let n = end - start;
    let has_null = (start..end).any(|j| elements.is_null(j));
    out.extend_from_slice(&i32::from(n > 0).to_be_bytes());
    out.extend_from_slice(&i32::from(has_null).to_be_bytes());
    out.extend_from_slice(&elem.oid().to_be_bytes());
    if n > 0 {
        let count = i32::try_from(n).map_err(|_| format!("a list of {n} elements is too long"))?;
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
    }
    for j in start..end {
        super::encode::encode_value(elements, j, elem.wire(), out)
            .map_err(|m| format!("element {}: {m}", j - start + 1))?;
    }
    let len = i32::try_from(out.len() - len_at - 4)
        .map_err(|_| "the array is larger than 2 GiB".to_string())?;
    out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::numeric;

    #[test]
    fn numeric_text_is_exact() {
        for text in [
            "0",
            "12.50",
            "-0.05",
            "10000",
            "123456789012345678901234567890.123456789",
            "0.0001",
            "-99999999",
        ] {
            let mut buf = Vec::new();
            numeric::encode_text(&mut buf, text).expect("encodes");
            assert_eq!(numeric_text(&buf[4..]).as_deref(), Ok(text), "{text}");
        }
        assert_eq!(
            numeric_text(&[0, 0, 0, 0, 0xC0, 0, 0, 0]).as_deref(),
            Ok("NaN")
        );
    }

    #[test]
    fn elements_map_to_their_oids() {
        assert_eq!(ArrayElem::of_typname("int4").map(ArrayElem::oid), Some(23));
        assert_eq!(ArrayElem::of_typname("inet"), None);
        assert_eq!(
            ArrayElem::for_type(&ColumnType::Json, "jsonb[]"),
            Some(ArrayElem::Jsonb)
        );
        assert_eq!(
            ArrayElem::for_type(
                &ColumnType::Text {
                    max_chars: Some(3),
                    fixed: true
                },
                ""
            ),
            Some(ArrayElem::Bpchar)
        );
    }
}
