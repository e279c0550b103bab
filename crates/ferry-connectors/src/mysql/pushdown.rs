//! The read filter in MariaDB/MySQL: cursor range, window and `source_filter`.
//!
//! The source reads with the text protocol (its decoder works on the
//! server's exact text), and a text-protocol query takes no bind
//! parameters. So values reach the query as user variables: the reader
//! binds them with one prepared `SET @ferry_p0 = ?, @ferry_p1 = ?, …`
//! (ordinary bound string parameters) on the snapshot's connection, and the
//! query reads each one through a cast to its column's type —
//! `CAST(@ferry_p0 AS DATETIME(6))`, `CAST(… AS DECIMAL(p,s))`,
//! `CONVERT(… USING cs) COLLATE <column collation>` for text. No value is
//! ever pasted into SQL. A user variable is a constant for the optimizer, so
//! an index on the cursor still serves the range.
//!
//! ```text
//!  open_read (inside START TRANSACTION WITH CONSISTENT SNAPSHOT):
//!    SET @ferry_p… = ?            window, predicate, watermark, lag values
//!    SELECT CAST(c AS CHAR)…  WHERE window AND predicate AND c IS NOT NULL
//!                                 AND (c…) > after AND c0 <= clock (or max(c0)) − lag
//!                              ORDER BY c… DESC LIMIT 1            → high
//!  read_split:
//!    SET @ferry_p… = ?            (the values carried by the split payload)
//!    SELECT cols WHERE window AND predicate
//!                  AND ((c NOT NULL AND (c…) > after AND (c…) <= high) OR c IS NULL)
//! ```
//!
//! Watermark values are the server's own text of the column (`CAST(c AS
//! CHAR)`: `DATETIME(6)` keeps its microseconds, `DECIMAL` its scale,
//! `TIMESTAMP` is UTC in Ferry's `+00:00` session). Tuple comparisons are
//! expanded (see [`crate::common::cursor`]). Cursor and tie-breaker columns
//! must compare in the same order as `ORDER BY` sorts them; `FLOAT`/`DOUBLE`
//! (no exact text), `ENUM`/`SET` (sorted by position, compared as text),
//! `BIT`, binary strings and JSON are refused.

use chrono::{DateTime, Utc};
use ferry_core::pushdown::{CursorRange, ReadFilter, WindowRange};
use ferry_core::spec::CursorOffset;
use ferry_core::{Error, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::conn::{Endpoint, NativeColumn, TableInfo, quote, text};
use crate::common::cursor::{TupleOp, all_not_null, tuple_cmp, with_null_cursors};
use crate::common::late_commits::{AutoBound, OpenWrites};

/// Values bound as user variables `@ferry_pN`, in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pub values: Vec<String>,
}

impl Params {
    /// Binds `text`; returns the variable that holds it.
    fn bind(&mut self, text: String) -> String {
        let i = self.values.len();
        self.values.push(text);
        format!("@ferry_p{i}")
    }
}

/// Sets the bound values on `conn` with one prepared statement.
pub(crate) async fn set_params(conn: &mut Conn, ep: &Endpoint, values: &[String]) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SET {}",
        (0..values.len())
            .map(|i| format!("@ferry_p{i} = ?"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let args: Vec<Value> = values.iter().map(|v| Value::from(v.as_str())).collect();
    conn.exec_drop(sql, mysql_async::Params::Positional(args))
        .await
        .map_err(|e| ep.error("binding the read filter's values", e))
}

/// How a bound text is turned into a value of a column's type.
#[derive(Debug, Clone, PartialEq)]
enum Typed {
    Signed,
    Unsigned,
    Decimal(u64, u64),
    Date,
    DateTime,
    Time,
    /// Text in the column's own character set and collation, so the
    /// comparison is the one `ORDER BY` uses (and an index can serve it).
    Text {
        charset: String,
        collation: String,
    },
    Uuid,
}

impl Typed {
    /// The SQL reading variable `var` as this type.
    fn read(&self, var: &str) -> String {
        match self {
            Typed::Signed => format!("CAST({var} AS SIGNED)"),
            Typed::Unsigned => format!("CAST({var} AS UNSIGNED)"),
            Typed::Decimal(p, s) => format!("CAST({var} AS DECIMAL({p},{s}))"),
            Typed::Date => format!("CAST({var} AS DATE)"),
            Typed::DateTime => format!("CAST({var} AS DATETIME(6))"),
            Typed::Time => format!("CAST({var} AS TIME(6))"),
            Typed::Text { charset, collation } => {
                format!("CONVERT({var} USING {charset}) COLLATE {collation}")
            }
            Typed::Uuid => format!("CAST({var} AS UUID)"),
        }
    }
}

/// A charset or collation name from the catalog, checked before it goes into SQL.
fn catalog_name(name: Option<&str>) -> Option<String> {
    name.filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map(str::to_string)
}

/// How values of `col` are compared; `field` names the option for errors.
fn typed(col: &NativeColumn, field: &str) -> Result<Typed> {
    let refuse = |why: &str| {
        Error::invalid(
            field,
            format!(
                "`{}` is {} in MariaDB, which cannot be compared exactly as a cursor: {why}",
                col.name,
                col.native_type()
            ),
        )
    };
    let unsigned = col.column_type.contains("unsigned");
    Ok(match col.data_type.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
            if unsigned {
                Typed::Unsigned
            } else {
                Typed::Signed
            }
        }
        "decimal" | "numeric" => {
            Typed::Decimal(col.precision.unwrap_or(65), col.scale.unwrap_or(0))
        }
        "date" => Typed::Date,
        "datetime" | "timestamp" => Typed::DateTime,
        "time" => Typed::Time,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" if !col.json => {
            match (
                catalog_name(col.charset.as_deref()),
                catalog_name(col.collation.as_deref()),
            ) {
                (Some(charset), Some(collation)) => Typed::Text { charset, collation },
                _ => return Err(refuse("its character set or collation is unknown")),
            }
        }
        "uuid" => Typed::Uuid,
        "float" | "double" | "real" => {
            return Err(refuse(
                "an approximate number has no exact text in MariaDB; use an integer, decimal or time column",
            ));
        }
        "enum" | "set" => {
            return Err(refuse(
                "ORDER BY sorts it by its position in the list but comparisons use its text",
            ));
        }
        _ => {
            return Err(refuse(
                "use a timestamp, date, integer, decimal or text column",
            ));
        }
    })
}

fn column<'a>(info: &'a TableInfo, ep: &Endpoint, name: &str) -> Result<&'a NativeColumn> {
    info.columns
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| Error::NotFound {
            what: "column",
            name: name.to_string(),
            hint: Some(format!("in table {}", ep.display())),
        })
}

/// The comparison type of each column of the cursor tuple.
fn typed_columns(info: &TableInfo, ep: &Endpoint, c: &CursorRange) -> Result<Vec<Typed>> {
    c.columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let field = if i < c.cursor_len {
                format!("incremental.cursor[{i}]")
            } else {
                format!("incremental.tie_breaker[{}]", i - c.cursor_len)
            };
            typed(column(info, ep, name)?, &field)
        })
        .collect()
}

fn quoted(cols: &[String]) -> Vec<String> {
    cols.iter().map(|c| quote(c)).collect()
}

/// Binds one text per column, each read as its column's type.
fn bound(types: &[Typed], values: &[String], p: &mut Params) -> Vec<String> {
    types
        .iter()
        .zip(values)
        .map(|(t, v)| t.read(&p.bind(v.clone())))
        .collect()
}

/// How a time cursor column compares with an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeKind {
    /// `timestamp[(n)]`: an instant, shown in the session's zone (UTC).
    Timestamp,
    /// `datetime[(n)]`: wall-clock time.
    Datetime,
    /// `date`
    Date,
}

/// The kind of a time column by its `COLUMN_TYPE`; `None` for other types.
pub(crate) fn time_kind(column_type: &str) -> Option<TimeKind> {
    let t = column_type.to_ascii_lowercase();
    if t.starts_with("timestamp") {
        Some(TimeKind::Timestamp)
    } else if t.starts_with("datetime") {
        Some(TimeKind::Datetime)
    } else if t == "date" {
        Some(TimeKind::Date)
    } else {
        None
    }
}

/// `- INTERVAL n MICROSECOND` or `- n`.
fn minus(off: CursorOffset, p: &mut Params) -> String {
    match off {
        CursorOffset::Micros(us) => format!(
            "- INTERVAL CAST({} AS SIGNED) MICROSECOND",
            p.bind(us.to_string())
        ),
        // As a decimal: an unsigned column minus a signed number would
        // fail below zero instead of going negative.
        CursorOffset::Units(n) => format!("- CAST({} AS DECIMAL(20,0))", p.bind(n.to_string())),
    }
}

/// An instant as UTC wall-clock text, `YYYY-MM-DD HH:MM:SS.ffffff`.
pub(crate) fn utc_text(v: &DateTime<Utc>) -> String {
    v.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn window(info: &TableInfo, ep: &Endpoint, w: &WindowRange, p: &mut Params) -> Result<String> {
    column(info, ep, &w.column)?;
    let col = quote(&w.column);
    Ok(format!(
        "{col} >= CAST({} AS DATETIME(6)) AND {col} < CAST({} AS DATETIME(6))",
        p.bind(utc_text(&w.start)),
        p.bind(utc_text(&w.end))
    ))
}

/// The window and the user's predicate: what every row of the read meets
/// besides the cursor range.
fn base_conditions(
    info: &TableInfo,
    ep: &Endpoint,
    f: &ReadFilter,
    p: &mut Params,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(w) = &f.window {
        out.push(window(info, ep, w, p)?);
    }
    if let Some(pred) = &f.predicate {
        // Checked again here, in this source's dialect and against its columns.
        pred.check(
            &sqlparser::dialect::MySqlDialect {},
            info.columns.iter().map(|c| c.name.as_str()),
        )?;
        out.push(pred.render(|v| format!("CAST({} AS DATETIME(6))", p.bind(utc_text(v)))));
    }
    Ok(out)
}

/// Finds the newest cursor tuple of the read in the connection's snapshot:
/// past the watermark, within the window and the predicate, and with a lag
/// at most the server's clock − lag (time cursors) or `max(cursor[0]) − lag`
/// (numeric cursors). `None` when no row qualifies.
pub(crate) async fn cursor_high(
    conn: &mut Conn,
    ep: &Endpoint,
    info: &TableInfo,
    f: &ReadFilter,
    c: &CursorRange,
    auto: Option<&OpenWrites>,
) -> Result<Option<Vec<String>>> {
    let types = typed_columns(info, ep, c)?;
    let table = ep.qualified(&ep.table);
    let cols = quoted(&c.columns);
    let mut p = Params::default();
    let mut cond = base_conditions(info, ep, f, &mut p)?;
    cond.push(all_not_null(&cols[..c.cursor_len]));
    if let Some(after) = &c.after {
        let vals = bound(&types, after, &mut p);
        cond.push(tuple_cmp(&cols, &vals, TupleOp::After));
    }
    if let Some(lag) = c.lag {
        let upper = match lag {
            // A time cursor: the server's clock at the snapshot minus the
            // lag; open transactions (shorter than the lag) can only commit
            // rows above it, and an idle table is read to its end. The
            // session is in UTC, so TIMESTAMP values compare with
            // UTC_TIMESTAMP; DATETIME/DATE values hold wall-clock times of
            // the server's default zone (what NOW() writes into them).
            CursorOffset::Micros(_) => {
                if column(info, ep, &c.columns[0])?
                    .column_type
                    .starts_with("timestamp")
                {
                    "UTC_TIMESTAMP(6)".to_string()
                } else {
                    "COALESCE(CONVERT_TZ(UTC_TIMESTAMP(6), '+00:00', @@global.time_zone), UTC_TIMESTAMP(6))"
                        .to_string()
                }
            }
            // A number: the newest value in the snapshot.
            CursorOffset::Units(_) => format!("(SELECT max({}) FROM {table})", cols[0]),
        };
        cond.push(format!("{} <= {upper} {}", cols[0], minus(lag, &mut p)));
    }
    if let Some(auto) = auto.filter(|_| c.lag.is_none()) {
        match &auto.bound {
            AutoBound::Hold => cond.push("FALSE".into()),
            // Compared as the column's own type: the text is the server's.
            AutoBound::AtMost(v) => cond.push(format!(
                "{} <= {}",
                cols[0],
                bound(&types[..1], std::slice::from_ref(v), &mut p)[0]
            )),
            AutoBound::Before(before) => {
                let kind = time_kind(&column(info, ep, &c.columns[0])?.column_type);
                // The session is in UTC: TIMESTAMP compares with the UTC instant;
                // DATETIME/DATE hold wall-clock times of the server's default zone.
                let instant = format!("CAST({} AS DATETIME(6))", p.bind(utc_text(before)));
                let local = format!(
                    "COALESCE(CONVERT_TZ({instant}, '+00:00', @@global.time_zone), {instant})"
                );
                match kind {
                    Some(TimeKind::Timestamp) => cond.push(format!("{} < {instant}", cols[0])),
                    Some(TimeKind::Datetime) => cond.push(format!("{} < {local}", cols[0])),
                    Some(TimeKind::Date) => cond.push(format!("{} < DATE({local})", cols[0])),
                    None => {}
                }
            }
        }
    }
    let texts: Vec<String> = cols.iter().map(|c| format!("CAST({c} AS CHAR)")).collect();
    let order: Vec<String> = cols.iter().map(|c| format!("{c} DESC")).collect();
    let sql = format!(
        "SELECT {} FROM {table} WHERE {} ORDER BY {} LIMIT 1",
        texts.join(", "),
        cond.join(" AND "),
        order.join(", ")
    );
    set_params(conn, ep, &p.values).await?;
    let row: Option<Row> = conn
        .query_first(sql)
        .await
        .map_err(|e| ep.read_error("finding the newest cursor value", e, f.predicate.is_some()))?;
    let Some(row) = row else {
        return Ok(None);
    };
    c.columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            text(&row, i).ok_or_else(|| {
                Error::invalid(
                    "incremental.tie_breaker",
                    format!(
                        "`{name}` is NULL in the newest rows of {}; tie-breaker columns must not be NULL",
                        ep.display()
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The `WHERE` condition of the split's query and the values it binds.
/// `high` is the result of [`cursor_high`].
pub(crate) fn read_condition(
    info: &TableInfo,
    ep: &Endpoint,
    f: &ReadFilter,
    high: Option<&[String]>,
) -> Result<(Option<String>, Params)> {
    let mut p = Params::default();
    let mut cond = base_conditions(info, ep, f, &mut p)?;
    if let Some(c) = &f.cursor {
        let types = typed_columns(info, ep, c)?;
        let cols = quoted(&c.columns);
        let range = match high {
            None => "FALSE".to_string(),
            Some(high) => {
                let mut parts = vec![all_not_null(&cols[..c.cursor_len])];
                match (&c.after, c.lookback) {
                    (Some(after), Some(back)) => {
                        let from = types[0].read(&p.bind(after[0].clone()));
                        parts.push(format!("{} >= {from} {}", cols[0], minus(back, &mut p)));
                    }
                    (Some(after), None) => {
                        let vals = bound(&types, after, &mut p);
                        parts.push(tuple_cmp(&cols, &vals, TupleOp::After));
                    }
                    (None, _) => {}
                }
                let vals = bound(&types, high, &mut p);
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

    fn native(name: &str, data_type: &str, column_type: &str) -> NativeColumn {
        NativeColumn {
            name: name.into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            declared: column_type.into(),
            precision: Some(12),
            scale: Some(4),
            char_len: None,
            nullable: true,
            has_default: false,
            generated: false,
            json: false,
            charset: Some("utf8mb4".into()),
            collation: Some("utf8mb4_bin".into()),
        }
    }

    #[test]
    fn types_bound_values_like_their_columns() {
        let t = |d: &str, c: &str| typed(&native("c", d, c), "incremental.cursor[0]");
        assert_eq!(t("bigint", "bigint(20) unsigned").unwrap(), Typed::Unsigned);
        assert_eq!(
            t("decimal", "decimal(12,4)").unwrap().read("@v"),
            "CAST(@v AS DECIMAL(12,4))"
        );
        assert_eq!(
            t("varchar", "varchar(10)").unwrap().read("@v"),
            "CONVERT(@v USING utf8mb4) COLLATE utf8mb4_bin"
        );
        for (d, c) in [
            ("double", "double"),
            ("enum", "enum('a','b')"),
            ("bit", "bit(3)"),
        ] {
            let e = t(d, c).unwrap_err();
            assert!(e.to_string().contains("incremental.cursor[0]"), "{e}");
        }
        let mut odd = native("c", "varchar", "varchar(3)");
        odd.collation = Some("x; DROP TABLE t".into());
        assert!(typed(&odd, "f").is_err());
    }
}
