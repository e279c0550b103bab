//! The read filter in SQLite: cursor range, window and `source_filter`,
//! and the window bounds of `window_overwrite`.
//!
//! Every value is a bound parameter (`?N`); the split's payload carries
//! them. SQLite compares what it stores, so each value is bound in the
//! storage class and form its column holds:
//!
//! * **numbers** (INTEGER, REAL or NUMERIC affinity: integers, floats,
//!   `DECIMAL(p,s)` with p ≤ 15): a watermark is the stored number's text
//!   (`42`, or the shortest text that reads back as the same double,
//!   `0.30000000000000004`) and is bound back as an INTEGER or REAL, parsed
//!   exactly in Rust. A decimal declared `DECIMAL_TEXT` (TEXT affinity) is
//!   stored as text, whose order is not numeric order: refused as a cursor.
//! * **text, dates, times, timestamps, UUIDs**: the stored text, bound as
//!   TEXT and compared as text (with the column's collation, as `ORDER BY`
//!   sorts). Ferry's storage forms are fixed-width — dates `YYYY-MM-DD`,
//!   timestamps `YYYY-MM-DD HH:MM:SS.ffffff`, instants
//!   `YYYY-MM-DDTHH:MM:SS.ffffffZ` — so text order is time order, and the
//!   bounds Ferry computes (window, lag, lookback) are written in the same
//!   form as the column's type: a window `[start, end)` on a `DATE` column
//!   becomes `[ceil(start), ceil(end))` in days, as a date compares with a
//!   timestamp in PostgreSQL and MariaDB. Values other tools wrote in
//!   another layout (`T` instead of a space, no fraction, an offset)
//!   compare as their text does.
//! * `source_filter` parameters are TEXT `YYYY-MM-DD HH:MM:SS.ffffff` (UTC),
//!   which SQLite's date functions read.
//!
//! `lag` and `lookback` are computed in Rust: `max(cursor[0])` (or the
//! watermark) is read in the snapshot, shifted, and bound like the others.
//! Tuple comparisons are expanded as for MariaDB (see
//! [`crate::common::cursor`]).

use chrono::{DateTime, Utc};
use ferry_core::pushdown::{CursorRange, ReadFilter, WindowRange};
use ferry_core::spec::CursorOffset;
use ferry_core::{ColumnType, Error, Result};
use rusqlite::types::{ToSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde::{Deserialize, Serialize};

use super::read::is_decimal_literal;
use super::types::{Affinity, affinity, column_type};
use super::{TableColumn, TableInfo, quote_ident, sql_error};
use crate::common::cursor::{TupleOp, all_not_null, tuple_cmp, with_null_cursors};
use crate::common::values::{
    parse_date, parse_timestamp, write_date, write_timestamp, write_timestamp_utc,
};

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// One bound value, in the storage class SQLite compares it as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class", content = "value", rename_all = "snake_case")]
pub(super) enum Param {
    Integer(i64),
    Real(f64),
    Text(String),
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Integer(i) => ValueRef::Integer(*i),
            Param::Real(r) => ValueRef::Real(*r),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

/// Values bound as `?1`, `?2`, … in order.
#[derive(Debug, Default, Clone)]
pub(super) struct Params {
    pub values: Vec<Param>,
}

impl Params {
    fn bind(&mut self, p: Param) -> String {
        self.values.push(p);
        format!("?{}", self.values.len())
    }
}

/// How a column's values are stored, compared and shifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Text,
    Date,
    Timestamp,
    TimestampTz,
}

fn kind(col: &TableColumn, field: &str) -> Result<Kind> {
    let ty = column_type(&col.declared);
    let aff = affinity(&col.declared);
    let refuse = |why: &str| {
        Error::invalid(
            field,
            format!(
                "`{}` ({}) cannot be compared exactly as a cursor in SQLite: {why}",
                col.name,
                if col.declared.is_empty() {
                    "no declared type"
                } else {
                    &col.declared
                }
            ),
        )
    };
    Ok(match ty {
        ColumnType::Int16
        | ColumnType::Int32
        | ColumnType::Int64
        | ColumnType::Float32
        | ColumnType::Float64
        | ColumnType::Decimal { .. }
        | ColumnType::DecimalText => match aff {
            Affinity::Integer | Affinity::Real | Affinity::Numeric => Kind::Number,
            Affinity::Text | Affinity::Blob => {
                return Err(refuse(
                    "its decimals are stored as text, and text order is not numeric order",
                ));
            }
        },
        ColumnType::Text { .. } | ColumnType::Uuid | ColumnType::Time => {
            if aff == Affinity::Blob {
                return Err(refuse(
                    "without a declared type SQLite keeps each value's own storage class; declare it TEXT",
                ));
            }
            Kind::Text
        }
        ColumnType::Date => Kind::Date,
        ColumnType::Timestamp => Kind::Timestamp,
        ColumnType::TimestampTz => Kind::TimestampTz,
        ColumnType::Bool
        | ColumnType::Binary
        | ColumnType::Json
        | ColumnType::Interval
        | ColumnType::List(_) => {
            return Err(refuse(
                "use a timestamp, date, integer, decimal or text column",
            ));
        }
    })
}

fn column<'a>(info: &'a TableInfo, name: &str) -> Result<&'a TableColumn> {
    info.columns
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::NotFound {
            what: "column",
            name: name.to_string(),
            hint: Some(format!("in table {}", info.name)),
        })
}

fn kinds(info: &TableInfo, c: &CursorRange) -> Result<Vec<Kind>> {
    c.columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let field = if i < c.cursor_len {
                format!("incremental.cursor[{i}]")
            } else {
                format!("incremental.tie_breaker[{}]", i - c.cursor_len)
            };
            kind(column(info, name)?, &field)
        })
        .collect()
}

/// A watermark text bound in its column's storage class.
fn param(kind: Kind, text: &str) -> Param {
    if kind == Kind::Number && is_decimal_literal(text) {
        if let Ok(i) = text.parse::<i64>() {
            return Param::Integer(i);
        }
        if let Ok(r) = text.parse::<f64>()
            && r.is_finite()
        {
            return Param::Real(r);
        }
    }
    Param::Text(text.to_string())
}

/// The exact text of a stored value, as a watermark.
fn value_text(v: ValueRef<'_>, column: &str) -> Result<String> {
    match v {
        ValueRef::Integer(i) => Ok(i.to_string()),
        // `{:?}` is the shortest text that parses back to the same double.
        ValueRef::Real(r) if r.is_finite() => Ok(format!("{r:?}")),
        ValueRef::Text(t) => std::str::from_utf8(t).map(str::to_string).map_err(|_| {
            Error::invalid(
                "incremental",
                format!("`{column}` holds text that is not UTF-8 in the newest rows"),
            )
        }),
        ValueRef::Real(_) | ValueRef::Blob(_) | ValueRef::Null => Err(Error::invalid(
            "incremental",
            format!(
                "`{column}` holds {} in the newest rows, which cannot be a watermark{}",
                match v {
                    ValueRef::Real(_) => "an infinite number",
                    ValueRef::Blob(_) => "a BLOB",
                    _ => "NULL",
                },
                if matches!(v, ValueRef::Null) {
                    " (tie-breaker columns must not be NULL)"
                } else {
                    ""
                }
            ),
        )),
    }
}

/// Which side of a range a shifted bound is on: dates round towards the inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `col <= bound`: a date is at most the day of the instant.
    Upper,
    /// `col >= bound`: a date is at least the first midnight at or after the instant.
    Lower,
}

/// An instant (µs since 1970 UTC) in the storage form of `kind`.
fn instant(kind: Kind, micros: i64, side: Side) -> Result<Param> {
    let mut out = Vec::new();
    match kind {
        Kind::Date => {
            let days = match side {
                Side::Upper => micros.div_euclid(DAY_MICROS),
                Side::Lower => {
                    micros.div_euclid(DAY_MICROS) + i64::from(micros.rem_euclid(DAY_MICROS) != 0)
                }
            };
            let days = i32::try_from(days).map_err(|_| {
                Error::invalid("window", "an instant is outside the dates SQLite stores")
            })?;
            write_date(&mut out, days)
        }
        Kind::TimestampTz => write_timestamp_utc(&mut out, micros),
        _ => write_timestamp(&mut out, micros),
    }
    .map_err(|e| Error::invalid("window", e.to_string()))?;
    Ok(Param::Text(String::from_utf8_lossy(&out).into_owned()))
}

fn utc_micros(v: &DateTime<Utc>) -> i64 {
    v.timestamp_micros()
}

/// `[start, end)` of a window on a column of type `ty`, as bound values.
pub(super) fn window_bounds(ty: &ColumnType, w: &WindowRange) -> Result<(Param, Param)> {
    let kind = match ty {
        ColumnType::Date => Kind::Date,
        ColumnType::Timestamp => Kind::Timestamp,
        ColumnType::TimestampTz => Kind::TimestampTz,
        other => {
            return Err(Error::invalid(
                "window.column",
                format!(
                    "`{}` is {other}; a window column must be a date or timestamp",
                    w.column
                ),
            ));
        }
    };
    // A date d is in [start, end) when its midnight is: d >= ceil(start), d < ceil(end).
    Ok((
        instant(kind, utc_micros(&w.start), Side::Lower)?,
        instant(kind, utc_micros(&w.end), Side::Lower)?,
    ))
}

/// `value − offset` as a bound on `kind`; `None` when nothing can be below it.
fn shifted(
    kind: Kind,
    value: &Param,
    off: CursorOffset,
    side: Side,
    column: &str,
) -> Result<Option<Param>> {
    let bad = || {
        Error::invalid(
            "incremental",
            format!(
                "cannot subtract {off:?} from `{column}` value {value:?}: Ferry computes lag and lookback \
                 on numbers and on dates and timestamps in the forms it writes"
            ),
        )
    };
    match (kind, value, off) {
        (Kind::Number, Param::Integer(i), CursorOffset::Units(n)) => {
            Ok(i.checked_sub(n).map(Param::Integer))
        }
        (Kind::Number, Param::Real(r), CursorOffset::Units(n)) => {
            Ok(Some(Param::Real(r - n as f64)))
        }
        (
            Kind::Date | Kind::Timestamp | Kind::TimestampTz,
            Param::Text(t),
            CursorOffset::Micros(us),
        ) => {
            let micros = match kind {
                Kind::Date => parse_date(t).map(|d| i64::from(d) * DAY_MICROS),
                _ => parse_timestamp(t),
            }
            .ok_or_else(bad)?;
            match micros.checked_sub(us) {
                Some(m) => instant(kind, m, side).map(Some),
                None => Ok(None),
            }
        }
        _ => Err(bad()),
    }
}

fn window(info: &TableInfo, w: &WindowRange, p: &mut Params) -> Result<String> {
    let col = column(info, &w.column)?;
    let (start, end) = window_bounds(&column_type(&col.declared), w)?;
    let q = quote_ident(&w.column);
    Ok(format!(
        "{q} >= {} AND {q} < {}",
        p.bind(start),
        p.bind(end)
    ))
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` of a UTC instant.
fn utc_text(v: &DateTime<Utc>) -> String {
    v.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn base_conditions(info: &TableInfo, f: &ReadFilter, p: &mut Params) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(w) = &f.window {
        out.push(window(info, w, p)?);
    }
    if let Some(pred) = &f.predicate {
        // Checked again here, in this source's dialect and against its columns.
        pred.check(
            &sqlparser::dialect::SQLiteDialect {},
            info.columns.iter().map(|c| c.name.as_str()),
        )?;
        out.push(pred.render(|v| p.bind(Param::Text(utc_text(v)))));
    }
    Ok(out)
}

fn quoted(cols: &[String]) -> Vec<String> {
    cols.iter().map(|c| quote_ident(c)).collect()
}

fn bound(kinds: &[Kind], values: &[String], p: &mut Params) -> Vec<String> {
    kinds
        .iter()
        .zip(values)
        .map(|(k, v)| p.bind(param(*k, v)))
        .collect()
}

fn stored(v: Value) -> Param {
    match v {
        Value::Integer(i) => Param::Integer(i),
        Value::Real(r) => Param::Real(r),
        Value::Text(t) => Param::Text(t),
        Value::Null | Value::Blob(_) => Param::Text(String::new()),
    }
}

/// Finds the newest cursor tuple of the read in the connection's read
/// transaction: at most `max(cursor[0]) − lag`, past the watermark, within
/// the window and the predicate. `None` when no row qualifies.
pub(super) fn cursor_high(
    conn: &Connection,
    path: &std::path::Path,
    info: &TableInfo,
    f: &ReadFilter,
    c: &CursorRange,
) -> Result<Option<Vec<String>>> {
    let kinds = kinds(info, c)?;
    let table = quote_ident(&info.name);
    let cols = quoted(&c.columns);
    let err = |doing: &'static str| move |e| sql_error(path, doing, e);
    let mut p = Params::default();
    let mut cond = base_conditions(info, f, &mut p)?;
    cond.push(all_not_null(&cols[..c.cursor_len]));
    if let Some(after) = &c.after {
        let vals = bound(&kinds, after, &mut p);
        cond.push(tuple_cmp(&cols, &vals, TupleOp::After));
    }
    if let Some(lag) = c.lag {
        let max: Value = conn
            .query_row(&format!("SELECT max({}) FROM {table}", cols[0]), [], |r| {
                r.get(0)
            })
            .map_err(err("find the newest cursor value"))?;
        if max == Value::Null {
            return Ok(None);
        }
        match shifted(kinds[0], &stored(max), lag, Side::Upper, &c.columns[0])? {
            Some(b) => cond.push(format!("{} <= {}", cols[0], p.bind(b))),
            None => return Ok(None),
        }
    }
    let order: Vec<String> = cols.iter().map(|c| format!("{c} DESC")).collect();
    let sql = format!(
        "SELECT {} FROM {table} WHERE {} ORDER BY {} LIMIT 1",
        cols.join(", "),
        cond.join(" AND "),
        order.join(", ")
    );
    let mut stmt = conn
        .prepare(&sql)
        .map_err(err("find the newest cursor tuple"))?;
    let n = c.columns.len();
    let row = stmt
        .query_row(params_from_iter(&p.values), |r| {
            (0..n)
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .optional()
        .map_err(err("find the newest cursor tuple"))?;
    let Some(values) = row else {
        return Ok(None);
    };
    values
        .iter()
        .zip(&c.columns)
        .map(|(v, name)| value_text(v.into(), name))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The `WHERE` condition of the split's query, and the values it binds.
/// `high` is the result of [`cursor_high`].
pub(super) fn read_condition(
    info: &TableInfo,
    f: &ReadFilter,
    high: Option<&[String]>,
) -> Result<(Option<String>, Params)> {
    let mut p = Params::default();
    let mut cond = base_conditions(info, f, &mut p)?;
    if let Some(c) = &f.cursor {
        let kinds = kinds(info, c)?;
        let cols = quoted(&c.columns);
        let range = match high {
            None => "FALSE".to_string(),
            Some(high) => {
                let mut parts = vec![all_not_null(&cols[..c.cursor_len])];
                match (&c.after, c.lookback) {
                    (Some(after), Some(back)) => {
                        let from = param(kinds[0], &after[0]);
                        // Without a bound (nothing is below it), no lower bound.
                        if let Some(b) = shifted(kinds[0], &from, back, Side::Lower, &c.columns[0])?
                        {
                            parts.push(format!("{} >= {}", cols[0], p.bind(b)));
                        }
                    }
                    (Some(after), None) => {
                        let vals = bound(&kinds, after, &mut p);
                        parts.push(tuple_cmp(&cols, &vals, TupleOp::After));
                    }
                    (None, _) => {}
                }
                let vals = bound(&kinds, high, &mut p);
                parts.push(tuple_cmp(&cols, &vals, TupleOp::UpTo));
                format!("({})", parts.join(" AND "))
            }
        };
        cond.push(with_null_cursors(range, &cols[..c.cursor_len], c.nulls));
    }
    Ok(((!cond.is_empty()).then(|| cond.join(" AND ")), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn watermarks_bind_in_their_storage_class() {
        assert_eq!(param(Kind::Number, "42"), Param::Integer(42));
        assert_eq!(
            param(Kind::Number, "0.30000000000000004"),
            Param::Real(0.1 + 0.2)
        );
        assert_eq!(param(Kind::Number, "abc"), Param::Text("abc".into()));
        assert_eq!(param(Kind::Text, "42"), Param::Text("42".into()));
        assert_eq!(
            value_text(ValueRef::Real(0.1 + 0.2), "c").unwrap(),
            "0.30000000000000004"
        );
        assert!(value_text(ValueRef::Null, "c").is_err());
    }

    #[test]
    fn window_bounds_on_dates_round_up_to_midnight() {
        let w = |s: &str, e: &str| WindowRange {
            column: "d".into(),
            start: at(s),
            end: at(e),
        };
        let text = |p: Param| match p {
            Param::Text(t) => t,
            other => panic!("{other:?}"),
        };
        let (s, e) = window_bounds(
            &ColumnType::Date,
            &w("2026-01-01T00:00:00Z", "2026-01-02T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            (text(s), text(e)),
            ("2026-01-01".into(), "2026-01-03".into())
        );
        let (s, _) = window_bounds(
            &ColumnType::Timestamp,
            &w("2026-01-01T00:00:00.5Z", "2026-01-02T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(text(s), "2026-01-01 00:00:00.500000");
        let (s, _) = window_bounds(
            &ColumnType::TimestampTz,
            &w("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(text(s), "2026-01-01T00:00:00.000000Z");
    }

    #[test]
    fn offsets_shift_in_rust() {
        let t = Param::Text("2026-01-02 00:00:00.000000".into());
        assert_eq!(
            shifted(
                Kind::Timestamp,
                &t,
                CursorOffset::Micros(1),
                Side::Upper,
                "c"
            )
            .unwrap(),
            Some(Param::Text("2026-01-01 23:59:59.999999".into()))
        );
        let d = Param::Text("2026-01-02".into());
        assert_eq!(
            shifted(Kind::Date, &d, CursorOffset::Micros(1), Side::Upper, "c").unwrap(),
            Some(Param::Text("2026-01-01".into()))
        );
        assert_eq!(
            shifted(Kind::Date, &d, CursorOffset::Micros(1), Side::Lower, "c").unwrap(),
            Some(Param::Text("2026-01-02".into()))
        );
        assert_eq!(
            shifted(
                Kind::Number,
                &Param::Integer(10),
                CursorOffset::Units(3),
                Side::Upper,
                "c"
            )
            .unwrap(),
            Some(Param::Integer(7))
        );
        assert!(
            shifted(
                Kind::Number,
                &Param::Integer(10),
                CursorOffset::Micros(3),
                Side::Upper,
                "c"
            )
            .is_err()
        );
    }
}
