//! Explicit cast rules: which `mapping.cast` conversions are allowed (checked
//! at plan time), and the conversion of one column of a batch (at run time),
//! which reports each value that does not convert
//! exactly — never a silent NULL or a rounded value.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Int64Type, IntervalMonthDayNanoType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use ferry_core::spec::DirtyReason;
use ferry_core::{ColumnType, Error, Result};

/// One planned cast of an output column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CastOp {
    /// Position of the column in the output.
    pub index: usize,
    /// Output column name.
    pub column: String,
    /// The input column's type.
    pub from: ColumnType,
    /// The target type.
    pub to: ColumnType,
    /// The zone of timestamp → timestamptz wall-clock values.
    pub time_zone: Option<String>,
}

fn is_int(t: &ColumnType) -> bool {
    matches!(t, ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64)
}

/// Characters the text form of any value of an integer type can take.
fn int_chars(t: &ColumnType) -> u32 {
    match t {
        ColumnType::Int16 => 6,
        ColumnType::Int32 => 11,
        _ => 20,
    }
}

/// Whether `from` may be cast to `to`; the error names the column and both types.
pub(crate) fn check(
    column: &str,
    from: &ColumnType,
    to: &ColumnType,
    time_zone: Option<&str>,
) -> Result<()> {
    use ColumnType as T;
    let field = format!("mapping.cast.{column}");
    let refuse = |why: &str| {
        Err(Error::invalid(
            &field,
            format!("cannot cast column `{column}` from {from} to {to}: {why}"),
        ))
    };
    if let Some(tz) = time_zone {
        if !(from == &T::Timestamp && to == &T::TimestampTz) {
            return refuse("`time_zone` applies only to a timestamp → timestamptz cast");
        }
        let probe = DataType::Timestamp(TimeUnit::Microsecond, Some(tz.into()));
        let empty =
            arrow::array::new_empty_array(&DataType::Timestamp(TimeUnit::Microsecond, None));
        if let Err(e) = cast_with_options(&empty, &probe, &CastOptions::default()) {
            return refuse(&format!("time zone {tz:?} is not known ({e})"));
        }
        return Ok(());
    }
    let unconstrained_text = matches!(
        to,
        T::Text {
            max_chars: None,
            fixed: false
        }
    );
    let varchar = match to {
        T::Text {
            max_chars: Some(n),
            fixed: false,
        } => Some(*n),
        _ => None,
    };
    let ok = from == to
        || from.fits_into(to)
        || (is_int(from) && to == &T::Float64)
        // A MariaDB `tinyint(1)` flag made a bool: 0 and 1 only, checked per value.
        || (is_int(from) && to == &T::Bool)
        || (is_int(from) && (unconstrained_text || varchar.is_some_and(|n| n >= int_chars(from))))
        || matches!(from, T::Decimal { precision, .. }
            if unconstrained_text || varchar.is_some_and(|n| n >= u32::from(*precision) + 2))
        || (from == &T::DecimalText && unconstrained_text)
        || (matches!(from, T::Text { .. })
            && matches!(
                to,
                T::Int16 | T::Int32 | T::Int64 | T::Decimal { .. } | T::Date | T::Timestamp
            ));
    if ok {
        return Ok(());
    }
    match (from, to) {
        (T::Timestamp, T::TimestampTz) => refuse(
            "a wall-clock timestamp needs an explicit time zone; write \
             `{to: timestamptz, time_zone: UTC}` (or the zone the values are in)",
        ),
        _ => refuse(
            "the cast is narrowing or not lossless; allowed are widening integers and \
             decimals, integer → decimal/float64/text, integer → bool (0 and 1 only), \
             decimal → text, interval → text \
             (ISO 8601), list → json/text (a JSON array), widening list elements, and \
             text → int/decimal/date/timestamp (checked per value)",
        ),
    }
}

fn show(array: &ArrayRef, i: usize) -> String {
    ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
        .map(|f| f.value(i).to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A value that did not convert: its row, why, and the reason kind.
pub(crate) type BadValue = (usize, DirtyReason, String);

/// Casts one column. A non-NULL value that does not convert exactly is
/// never turned into NULL or a rounded value: it is returned in the list of
/// bad values (row, reason, message naming the value and both types), and
/// the caller routes its row to dirty data.
pub(crate) fn apply(op: &CastOp, array: &ArrayRef) -> Result<(ArrayRef, Vec<BadValue>)> {
    if let Some(out) = to_text_form(op, array)? {
        return Ok((out, Vec::new()));
    }
    let target = op.to.arrow_type();
    let mut bad: Vec<BadValue> = Vec::new();
    let mut dirty = |i: usize, reason: DirtyReason, why: &str| {
        bad.push((
            i,
            reason,
            format!(
                "value {:?} cannot be cast from {} to {}: {why}",
                show(array, i),
                op.from,
                op.to
            ),
        ))
    };
    let safe = CastOptions {
        safe: true,
        ..Default::default()
    };
    let out = match &op.time_zone {
        Some(tz) => {
            // The values are wall-clock times in `tz`: arrow reads them as local
            // times of the zone, then the instant is relabelled as UTC.
            let local = DataType::Timestamp(TimeUnit::Microsecond, Some(tz.as_str().into()));
            let zoned = cast_with_options(array, &local, &safe)?;
            cast_with_options(&zoned, &target, &safe)?
        }
        None => cast_with_options(array, &target, &safe)?,
    };
    for i in 0..array.len() {
        if array.is_valid(i) && out.is_null(i) {
            dirty(i, DirtyReason::Conversion, "the value does not convert");
        }
    }
    match (&op.from, &op.to) {
        (ColumnType::Int64, ColumnType::Float64) => {
            let ints = array.as_primitive::<Int64Type>();
            for i in 0..ints.len() {
                if ints.is_valid(i) && ints.value(i).unsigned_abs() > (1u64 << 53) {
                    dirty(
                        i,
                        DirtyReason::Overflow,
                        "float64 holds integers exactly only up to 2^53",
                    );
                }
            }
        }
        (ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64, ColumnType::Bool) => {
            let ints = cast_with_options(array, &DataType::Int64, &safe)?;
            let ints = ints.as_primitive::<Int64Type>();
            for i in 0..ints.len() {
                if ints.is_valid(i) && !matches!(ints.value(i), 0 | 1) {
                    dirty(
                        i,
                        DirtyReason::Conversion,
                        "only 0 and 1 are booleans (the cast would make it true)",
                    );
                }
            }
        }
        (ColumnType::Text { .. }, ColumnType::Decimal { scale, .. }) => {
            let texts = array.as_string::<i32>();
            for i in 0..texts.len() {
                if texts.is_valid(i)
                    && out.is_valid(i)
                    && fraction_digits(texts.value(i)) > usize::from(*scale)
                {
                    dirty(
                        i,
                        DirtyReason::Truncation,
                        "more digits after the point than the scale keeps",
                    );
                }
            }
        }
        _ => {}
    }
    Ok((out, bad))
}

/// Interval → text and list → json/text: the exact text forms of
/// [`ferry_core::text_form`] (ISO 8601, a JSON array), the same the sinks
/// without such types store; Arrow's own display forms are not exact text.
fn to_text_form(op: &CastOp, array: &ArrayRef) -> Result<Option<ArrayRef>> {
    use ferry_core::text_form::{write_interval_iso, write_list_json};
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    let mut s = String::new();
    match (&op.from, &op.to) {
        (ColumnType::Interval, ColumnType::Text { .. }) => {
            let a = array.as_primitive::<IntervalMonthDayNanoType>();
            for i in 0..a.len() {
                if a.is_null(i) {
                    out.append_null();
                    continue;
                }
                s.clear();
                write_interval_iso(&mut s, a.value(i));
                out.append_value(&s);
            }
        }
        (ColumnType::List(elem), ColumnType::Text { .. } | ColumnType::Json) => {
            let a = array.as_list::<i32>();
            for i in 0..a.len() {
                if a.is_null(i) {
                    out.append_null();
                    continue;
                }
                s.clear();
                write_list_json(&mut s, a, i, elem).map_err(|m| {
                    Error::dirty(
                        &op.column,
                        format!("list cannot be cast from {} to {}: {m}", op.from, op.to),
                    )
                })?;
                out.append_value(&s);
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(Arc::new(out.finish())))
}

/// Significant digits after the decimal point of a number's text (trailing
/// zeros do not count; exponents are taken into account).
fn fraction_digits(text: &str) -> usize {
    let t = text.trim();
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (t, 0),
    };
    let frac = mantissa
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches('0').len())
        .unwrap_or(0) as i64;
    (frac - exp).max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;

    fn op(from: ColumnType, to: ColumnType, tz: Option<&str>) -> CastOp {
        CastOp {
            index: 0,
            column: "c".into(),
            from,
            to,
            time_zone: tz.map(Into::into),
        }
    }

    #[test]
    fn integer_flags_cast_to_bool_only_when_0_or_1() {
        use arrow::array::Int16Array;
        check("c", &ColumnType::Int16, &ColumnType::Bool, None).expect("allowed");
        let array: ArrayRef = Arc::new(Int16Array::from(vec![Some(0), Some(1), None, Some(2)]));
        let (out, bad) =
            apply(&op(ColumnType::Int16, ColumnType::Bool, None), &array).expect("cast");
        let out = out.as_boolean();
        assert!(!out.value(0) && out.value(1) && out.is_null(2));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!((bad[0].0, bad[0].1), (3, DirtyReason::Conversion));
        assert!(bad[0].2.contains("only 0 and 1"), "{bad:?}");
    }

    #[test]
    fn rules_accept_lossless_and_reject_narrowing_with_both_types() {
        let d = |p, s| ColumnType::Decimal {
            precision: p,
            scale: s,
        };
        let text = ColumnType::Text {
            max_chars: None,
            fixed: false,
        };
        for (from, to) in [
            (ColumnType::Int16, ColumnType::Int64),
            (ColumnType::Int32, d(12, 2)),
            (ColumnType::Int64, ColumnType::Float64),
            (ColumnType::Int64, text.clone()),
            (d(12, 2), d(14, 4)),
            (d(12, 2), text.clone()),
            (text.clone(), ColumnType::Int32),
            (text.clone(), ColumnType::Date),
        ] {
            check("c", &from, &to, None).unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
        }
        let err =
            check("qty", &ColumnType::Int64, &ColumnType::Int16, None).expect_err("narrowing");
        let msg = err.to_string();
        assert!(
            msg.contains("`qty`") && msg.contains("int64") && msg.contains("int16"),
            "{msg}"
        );
        assert!(check("c", &d(12, 2), &d(12, 1), None).is_err());
        let err =
            check("ts", &ColumnType::Timestamp, &ColumnType::TimestampTz, None).expect_err("tz");
        assert!(err.to_string().contains("time_zone"), "{err}");
        check(
            "ts",
            &ColumnType::Timestamp,
            &ColumnType::TimestampTz,
            Some("UTC"),
        )
        .expect("rule");
        check(
            "ts",
            &ColumnType::Timestamp,
            &ColumnType::TimestampTz,
            Some("+02:00"),
        )
        .expect("offset");
    }

    #[test]
    fn unparsable_text_is_dirty_never_null() {
        let text = ColumnType::Text {
            max_chars: None,
            fixed: false,
        };
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("12"), None, Some("abc")]));
        let (_, bad) = apply(&op(text.clone(), ColumnType::Int64, None), &a).expect("cast");
        assert_eq!(bad.len(), 1);
        let (row, reason, message) = &bad[0];
        assert_eq!((*row, *reason), (2, DirtyReason::Conversion));
        assert!(
            message.contains("abc") && message.contains("int64"),
            "{message}"
        );
    }

    #[test]
    fn decimal_parse_checks_the_scale() {
        let text = ColumnType::Text {
            max_chars: None,
            fixed: false,
        };
        let dec = ColumnType::Decimal {
            precision: 12,
            scale: 2,
        };
        let good: ArrayRef = Arc::new(StringArray::from(vec![Some("1.25"), Some("-3.500"), None]));
        let (out, bad) = apply(&op(text.clone(), dec.clone(), None), &good).expect("exact");
        assert_eq!((out.null_count(), bad.len()), (1, 0));
        let input: ArrayRef = Arc::new(StringArray::from(vec![Some("1.255")]));
        let (_, bad) = apply(&op(text, dec, None), &input).expect("cast");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].1, DirtyReason::Truncation);
        assert!(bad[0].2.contains("1.255"), "{:?}", bad[0]);
    }

    #[test]
    fn intervals_and_lists_cast_to_their_exact_text() {
        use arrow::array::{IntervalMonthDayNanoArray, ListArray};
        use arrow::datatypes::{Int32Type, IntervalMonthDayNano};
        let text = ColumnType::Text {
            max_chars: None,
            fixed: false,
        };
        check("iv", &ColumnType::Interval, &text, None).expect("interval -> text");
        let ints = ColumnType::list(ColumnType::Int32);
        check("l", &ints, &ColumnType::Json, None).expect("list -> json");
        check("l", &ints, &ColumnType::list(ColumnType::Int64), None).expect("widening");
        let err = check("l", &ints, &ColumnType::list(ColumnType::Int16), None)
            .expect_err("narrowing elements");
        assert!(err.to_string().contains("list<int32>"), "{err}");
        assert!(check("iv", &ColumnType::Interval, &ColumnType::Int64, None).is_err());

        let a: ArrayRef = Arc::new(IntervalMonthDayNanoArray::from(vec![
            Some(IntervalMonthDayNano::new(14, 3, 6_789_000_000)),
            None,
        ]));
        let (out, _) = apply(&op(ColumnType::Interval, text.clone(), None), &a).expect("cast");
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "P1Y2M3DT6.789S");
        assert!(out.is_null(1));

        let l: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![]),
        ]));
        let (out, _) = apply(&op(ints.clone(), ColumnType::Json, None), &l).expect("cast");
        let out = out.as_string::<i32>();
        assert_eq!(
            (out.value(0), out.is_null(1), out.value(2)),
            ("[1,null]", true, "[]")
        );
        let (wide, bad) =
            apply(&op(ints, ColumnType::list(ColumnType::Int64), None), &l).expect("cast");
        assert!(bad.is_empty());
        assert_eq!(
            wide.data_type(),
            &ColumnType::list(ColumnType::Int64).arrow_type()
        );
    }

    #[test]
    fn big_int64_to_float64_is_dirty() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, i64::MAX]));
        let (_, bad) = apply(&op(ColumnType::Int64, ColumnType::Float64, None), &a).expect("cast");
        assert_eq!(bad.iter().map(|b| b.0).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn wall_clock_in_a_zone_becomes_the_right_instant() {
        let a: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![7_200_000_000i64]));
        let (out, bad) = apply(
            &op(
                ColumnType::Timestamp,
                ColumnType::TimestampTz,
                Some("+02:00"),
            ),
            &a,
        )
        .expect("cast");
        assert!(bad.is_empty());
        assert_eq!(out.data_type(), &ColumnType::TimestampTz.arrow_type());
        let v = out
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .value(0);
        assert_eq!(v, 0, "02:00 at +02:00 is midnight UTC");
    }
}
