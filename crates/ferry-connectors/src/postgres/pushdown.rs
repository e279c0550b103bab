//! The read filter in PostgreSQL: cursor range, window and `source_filter`.
//!
//! `COPY (SELECT …) TO STDOUT` takes no bind parameters, so values reach the
//! query as transaction-local settings: the reader binds them with
//! `SELECT set_config('ferry.pN', $1, true)` (ordinary bound text
//! parameters) and the query reads `current_setting('ferry.pN')::<type>`, cast
//! to the column's exact type. No value is ever pasted into SQL, and because
//! `current_setting` is stable the planner still uses indexes on the bounds.
//! Watermark values are the server's own text of the column (`::text`, UTC,
//! ISO dates), so microseconds and numeric scale survive the round trip.
//! `cursor: xmin` compares transaction ids with snapshots instead (see
//! [`super::xmin`]).

use chrono::{DateTime, Utc};
use ferry_core::pushdown::{CursorRange, ReadFilter, WindowRange};
use ferry_core::spec::CursorOffset;
use ferry_core::{Error, Result};
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::catalog::PgTable;
use super::types::quote_ident;
use super::{PgEndpoint, map_err, read_err, xmin};
use crate::common::late_commits::{AutoBound, OpenWrites};

/// Values bound as `ferry.pN` settings, in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pub values: Vec<String>,
}

impl Params {
    /// Binds `text`; returns the SQL that reads it back as `cast`.
    pub(crate) fn bind(&mut self, text: String, cast: &str) -> String {
        let i = self.values.len();
        self.values.push(text);
        format!("current_setting('ferry.p{i}')::{cast}")
    }
}

/// Sets the bound values in the current transaction.
pub(crate) async fn set_params(client: &Client, ep: &PgEndpoint, values: &[String]) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT {}",
        (0..values.len())
            .map(|i| format!("set_config('ferry.p{i}', ${}, true)", i + 1))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let args: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    client
        .query(&sql, &args)
        .await
        .map_err(|e| map_err(&ep.display, "binding the read filter's values", e))?;
    Ok(())
}

/// How a time cursor column compares with an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeKind {
    /// `timestamp with time zone`
    Zoned,
    /// `timestamp without time zone`
    Local,
    /// `date`
    Date,
}

/// The kind of a time column by its `format_type`; `None` for other types.
pub(crate) fn time_kind(formatted: &str) -> Option<TimeKind> {
    if formatted.starts_with("timestamp") {
        Some(if formatted.ends_with("with time zone") {
            TimeKind::Zoned
        } else {
            TimeKind::Local
        })
    } else if formatted == "date" {
        Some(TimeKind::Date)
    } else {
        None
    }
}

fn column_type<'a>(table: &'a PgTable, name: &str) -> Result<&'a str> {
    table
        .column(name)
        .map(|c| c.formatted.as_str())
        .ok_or_else(|| Error::NotFound {
            what: "column",
            name: name.to_string(),
            hint: Some(format!("in table {}", table.display)),
        })
}

fn tuple(cols: &[String]) -> String {
    format!(
        "({})",
        cols.iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn bound_tuple(
    table: &PgTable,
    cols: &[String],
    values: &[String],
    p: &mut Params,
) -> Result<String> {
    let parts = cols
        .iter()
        .zip(values)
        .map(|(c, v)| Ok(p.bind(v.clone(), column_type(table, c)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!("({})", parts.join(", ")))
}

fn offset(off: CursorOffset, p: &mut Params) -> String {
    match off {
        CursorOffset::Micros(us) => p.bind(format!("{us} microseconds"), "interval"),
        CursorOffset::Units(n) => p.bind(n.to_string(), "numeric"),
    }
}

/// `c1 IS NOT NULL AND …` over the cursor columns.
fn not_null(c: &CursorRange) -> String {
    c.columns[..c.cursor_len]
        .iter()
        .map(|col| format!("{} IS NOT NULL", quote_ident(col)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The conditions every row of the read meets besides the cursor range:
/// the window and the user's predicate.
fn base_conditions(table: &PgTable, f: &ReadFilter, p: &mut Params) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Some(w) = &f.window {
        out.push(window(table, w, p)?);
    }
    if let Some(pred) = &f.predicate {
        // Checked again here, in this source's dialect and against its columns.
        pred.check(
            &sqlparser::dialect::PostgreSqlDialect {},
            table.columns.iter().map(|c| c.name.as_str()),
        )?;
        out.push(pred.render(|v| p.bind(utc_text(v, true), "timestamptz")));
    }
    Ok(out)
}

/// An instant as PostgreSQL input text, in UTC (`+00` for `timestamptz`).
pub(crate) fn utc_text(v: &DateTime<Utc>, with_zone: bool) -> String {
    let base = v.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    if with_zone { base + "+00" } else { base }
}

fn window(table: &PgTable, w: &WindowRange, p: &mut Params) -> Result<String> {
    let ty = column_type(table, &w.column)?;
    let zoned = time_kind(ty) == Some(TimeKind::Zoned);
    let cast = if zoned { "timestamptz" } else { "timestamp" };
    let col = quote_ident(&w.column);
    Ok(format!(
        "{col} >= {} AND {col} < {}",
        p.bind(utc_text(&w.start, zoned), cast),
        p.bind(utc_text(&w.end, zoned), cast)
    ))
}

/// Finds the newest cursor tuple of the read in the current snapshot: past
/// the watermark, within the window and the predicate, and with a lag at
/// most the server's clock − lag (time cursors) or `max(cursor[0]) − lag`
/// (numeric cursors), or, with `lag: auto`, within `auto.bound`. `None` when no row qualifies.
pub(crate) async fn cursor_high(
    client: &Client,
    ep: &PgEndpoint,
    table: &PgTable,
    f: &ReadFilter,
    c: &CursorRange,
    auto: Option<&OpenWrites>,
) -> Result<Option<Vec<String>>> {
    let mut p = Params::default();
    let mut cond = base_conditions(table, f, &mut p)?;
    cond.push(not_null(c));
    if let Some(after) = &c.after {
        cond.push(format!(
            "{} > {}",
            tuple(&c.columns),
            bound_tuple(table, &c.columns, after, &mut p)?
        ));
    }
    if let Some(lag) = c.lag {
        let first = quote_ident(&c.columns[0]);
        let upper = match lag {
            // A time cursor: the server's clock at the snapshot minus the
            // lag. Transactions still open then (shorter than the lag) can
            // only commit rows above it, and an idle table is read to its end.
            // `timestamp`/`date` columns hold wall-clock times of the
            // server's default zone (what `now()` writes into them).
            CursorOffset::Micros(_) => {
                let ty = column_type(table, &c.columns[0])?;
                if time_kind(ty) == Some(TimeKind::Zoned) {
                    "now()".to_string()
                } else {
                    "(now() AT TIME ZONE (SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'))"
                        .to_string()
                }
            }
            // A number: the newest value in the snapshot.
            CursorOffset::Units(_) => format!("(SELECT max({first}) FROM {})", table.quoted),
        };
        cond.push(format!("{first} <= {upper} - {}", offset(lag, &mut p)));
    }
    if let Some(auto) = auto.filter(|_| c.lag.is_none()) {
        let ty = column_type(table, &c.columns[0])?;
        let first = quote_ident(&c.columns[0]);
        match &auto.bound {
            AutoBound::Hold => cond.push("false".into()),
            AutoBound::AtMost(v) => cond.push(format!("{first} <= {}", p.bind(v.clone(), ty))),
            AutoBound::Before(before) => {
                let instant = p.bind(utc_text(before, true), "timestamptz");
                // `timestamp`/`date` hold wall-clock times of the server's default zone.
                let local = format!(
                    "({instant} AT TIME ZONE (SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'))"
                );
                match time_kind(ty) {
                    Some(TimeKind::Zoned) => cond.push(format!("{first} < {instant}")),
                    Some(TimeKind::Local) => cond.push(format!("{first} < {local}")),
                    Some(TimeKind::Date) => cond.push(format!("{first} < {local}::date")),
                    None => {}
                }
            }
        }
    }
    // Aliased: in ORDER BY a bare name would mean the text output column.
    let texts: Vec<String> = c
        .columns
        .iter()
        .enumerate()
        .map(|(i, col)| format!("{}::text AS ferry_w{i}", quote_ident(col)))
        .collect();
    let order: Vec<String> = c
        .columns
        .iter()
        .map(|col| format!("{} DESC", quote_ident(col)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1",
        texts.join(", "),
        table.quoted,
        cond.join(" AND "),
        order.join(", ")
    );
    set_params(client, ep, &p.values).await?;
    let row = client.query_opt(&sql, &[]).await.map_err(|e| {
        read_err(
            &ep.display,
            "finding the newest cursor value",
            e,
            f.predicate.is_some(),
        )
    })?;
    Ok(row.map(|r| {
        (0..c.columns.len())
            .map(|i| r.get::<_, String>(i))
            .collect()
    }))
}

/// The `WHERE` condition of every split's query (besides its key range), and
/// the values it binds. `high` is the result of [`cursor_high`].
pub(crate) fn read_condition(
    table: &PgTable,
    f: &ReadFilter,
    high: Option<&[String]>,
) -> Result<(Option<String>, Params)> {
    let mut p = Params::default();
    let mut cond = base_conditions(table, f, &mut p)?;
    if let Some(c) = f.cursor.as_ref().filter(|c| c.xmin) {
        // The first run reads every row; `high` is the read's own snapshot.
        if let Some(after) = c.after.as_ref().and_then(|a| a.first()) {
            let current = high
                .and_then(|h| h.first())
                .ok_or_else(|| Error::Internal("an xmin read without its snapshot".into()))?;
            cond.push(xmin::condition(after, current, &mut p));
        }
    } else if let Some(c) = &f.cursor {
        let range = match high {
            None => "false".to_string(),
            Some(high) => {
                let t = tuple(&c.columns);
                let mut parts = vec![not_null(c)];
                match (&c.after, c.lookback) {
                    (Some(after), Some(back)) => {
                        let first = &c.columns[0];
                        let from = p.bind(after[0].clone(), column_type(table, first)?);
                        parts.push(format!(
                            "{} >= {from} - {}",
                            quote_ident(first),
                            offset(back, &mut p)
                        ));
                    }
                    (Some(after), None) => {
                        parts.push(format!(
                            "{t} > {}",
                            bound_tuple(table, &c.columns, after, &mut p)?
                        ));
                    }
                    (None, _) => {}
                }
                parts.push(format!(
                    "{t} <= {}",
                    bound_tuple(table, &c.columns, high, &mut p)?
                ));
                format!("({})", parts.join(" AND "))
            }
        };
        if c.nulls {
            let nulls = c.columns[..c.cursor_len]
                .iter()
                .map(|col| format!("{} IS NULL", quote_ident(col)))
                .collect::<Vec<_>>()
                .join(" OR ");
            cond.push(format!("({range} OR {nulls})"));
        } else {
            cond.push(range);
        }
    }
    Ok(((!cond.is_empty()).then(|| cond.join(" AND ")), p))
}

/// The planner's estimate of the rows matching `condition`, to plan splits:
/// an incremental delta is often a tiny part of the table. (The planner
/// evaluates the bound `current_setting` values when it estimates, so the
/// figure follows the actual bounds; it costs no scan.)
pub(crate) async fn estimate_rows(
    client: &Client,
    ep: &PgEndpoint,
    table: &PgTable,
    condition: &str,
    params: &Params,
    filtered: bool,
) -> Result<Option<u64>> {
    set_params(client, ep, &params.values).await?;
    let rows = client
        .query(
            &format!("EXPLAIN SELECT 1 FROM {} WHERE {condition}", table.quoted),
            &[],
        )
        .await
        .map_err(|e| {
            read_err(
                &ep.display,
                "estimating the rows of the filtered read",
                e,
                filtered,
            )
        })?;
    // The top plan line: `… (cost=0.43..123.45 rows=9467 width=0)`.
    let Some(line) = rows.first().map(|r| r.get::<_, String>(0)) else {
        return Ok(None);
    };
    Ok(line
        .split("rows=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok()))
}
