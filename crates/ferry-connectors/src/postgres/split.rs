//! Split planning for a PostgreSQL table, inside the read snapshot.
//!
//! * a whole table (no cursor, window or filter), or one without a key:
//!   `ctid` page ranges. A TID range scan (PostgreSQL ≥ 14) reads only its
//!   split's pages, so N splits cost one pass over the table; a key range
//!   of a quarter of the table is a sequential scan of all of it that
//!   filters three quarters out (measured: four such splits made a 5M-row
//!   copy 10% slower than one `COPY` on two cores). Under the shared
//!   snapshot every visible row version has one `ctid`, so each row is in
//!   exactly one split;
//! * a filtered read with an integer first key column: `min`/`max`, then
//!   equal-width ranges;
//! * any other key (text, uuid, date, timestamp, numeric, composite): a
//!   `TABLESAMPLE SYSTEM` sample of the key, sorted, cut at quantiles — the
//!   bounds are row comparisons `(k1, k2) >= (…)` that use the key's index.
//!
//! The first and last ranges are open-ended, so every row belongs to exactly
//! one split whatever the estimates said. Bounds come from the server as
//! `quote_literal(...)` output and are cast back to the column's type; no user
//! text ever reaches the statement.

use ferry_core::Result;
use tokio_postgres::Client;

use super::catalog::PgTable;
use super::types::quote_ident;
use super::{PgEndpoint, map_err};

/// Rows to sample when cutting non-integer keys.
const SAMPLE_ROWS: f64 = 20_000.0;

/// One planned range: a `WHERE` predicate (empty = whole table) and a row estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRange {
    pub predicate: String,
    pub estimated_rows: Option<u64>,
}

/// Plans at most `max_splits` ranges over `table`; `rows_hint` is the
/// (bounded) count of rows a filtered read will return; `whole_table`: the
/// read has no condition (no cursor, window or filter).
pub async fn plan(
    client: &Client,
    ep: &PgEndpoint,
    table: &PgTable,
    max_splits: u32,
    min_rows_per_split: u64,
    rows_hint: Option<u64>,
    whole_table: bool,
) -> Result<Vec<PlannedRange>> {
    let err = |ctx: &str| {
        let ctx = format!("{ctx} of {}", table.display);
        move |e| map_err(&ep.display, &ctx, e)
    };
    let row = client
        .query_one(
            "SELECT reltuples::int8, pg_relation_size(oid) / current_setting('block_size')::int8
               FROM pg_class WHERE oid = $1",
            &[&table.oid],
        )
        .await
        .map_err(err("estimating the size"))?;
    let (reltuples, pages): (i64, i64) = (row.get(0), row.get(1));
    // reltuples is -1 before the first ANALYZE: estimate from pages then.
    let table_rows = if reltuples >= 0 {
        reltuples as u64
    } else {
        pages.max(0) as u64 * 60
    };
    // A filtered read (an incremental delta) may be far smaller than the table.
    let est_rows = rows_hint.unwrap_or(table_rows);
    let n = (est_rows / min_rows_per_split.max(1)).clamp(1, max_splits.max(1) as u64) as usize;
    let whole = || {
        vec![PlannedRange {
            predicate: String::new(),
            estimated_rows: Some(est_rows),
        }]
    };
    if n <= 1 {
        return Ok(whole());
    }
    let per = Some(est_rows / n as u64);
    let bounds_to_ranges = |lhs: &str, bounds: Vec<String>| -> Vec<PlannedRange> {
        let mut out = Vec::with_capacity(bounds.len() + 1);
        for i in 0..=bounds.len() {
            let lo = i.checked_sub(1).map(|j| format!("{lhs} >= {}", bounds[j]));
            let hi = bounds.get(i).map(|b| format!("{lhs} < {b}"));
            let predicate = match (lo, hi) {
                (Some(l), Some(h)) => format!("{l} AND {h}"),
                (Some(l), None) => l,
                (None, Some(h)) => h,
                (None, None) => String::new(),
            };
            out.push(PlannedRange {
                predicate,
                estimated_rows: per,
            });
        }
        out
    };

    if table.primary_key.is_empty() || whole_table {
        if pages < n as i64 {
            return Ok(whole());
        }
        let step = pages / n as i64;
        let bounds = (1..n as i64)
            .map(|i| format!("'({},0)'::tid", i * step))
            .collect();
        return Ok(bounds_to_ranges("ctid", bounds));
    }

    let key_cols: Vec<_> = table
        .primary_key
        .iter()
        .filter_map(|k| table.column(k))
        .collect();
    let first = key_cols[0];
    if matches!(first.typname.as_str(), "int2" | "int4" | "int8") {
        let k = quote_ident(&first.name);
        let row = client
            .query_one(
                &format!(
                    "SELECT min({k})::int8, max({k})::int8 FROM {}",
                    table.quoted
                ),
                &[],
            )
            .await
            .map_err(err("reading the key range"))?;
        let (Some(lo), Some(hi)): (Option<i64>, Option<i64>) = (row.get(0), row.get(1)) else {
            return Ok(whole());
        };
        let width = (hi as i128 - lo as i128 + 1) as u128;
        let n = (n as u128).min(width).max(1);
        let step = width.div_ceil(n);
        let bounds: Vec<String> = (1..n)
            .map(|i| (lo as i128 + (i * step) as i128).to_string())
            .collect();
        return Ok(bounds_to_ranges(&k, bounds));
    }

    // Sampled quantiles over the (possibly composite) key.
    let cols: Vec<String> = key_cols.iter().map(|c| quote_ident(&c.name)).collect();
    let lits: Vec<String> = cols
        .iter()
        .map(|c| format!("quote_literal({c}::text)"))
        .collect();
    let pct = (100.0 * SAMPLE_ROWS / est_rows.max(1) as f64).clamp(0.01, 100.0) as f32;
    let sql = format!(
        "SELECT {} FROM {} TABLESAMPLE SYSTEM ($1) ORDER BY {}",
        lits.join(", "),
        table.quoted,
        cols.join(", ")
    );
    let rows = client
        .query(&sql, &[&pct])
        .await
        .map_err(err("sampling the key"))?;
    if rows.len() < n * 2 {
        return Ok(whole());
    }
    let casts: Vec<String> = key_cols.iter().map(|c| c.formatted.clone()).collect();
    let mut bounds: Vec<String> = Vec::new();
    for i in 1..n {
        let r = &rows[i * rows.len() / n];
        let vals: Vec<String> = (0..cols.len())
            .map(|j| format!("{}::{}", r.get::<_, String>(j), casts[j]))
            .collect();
        let b = format!("({})", vals.join(", "));
        if bounds.last() != Some(&b) {
            bounds.push(b);
        }
    }
    Ok(bounds_to_ranges(&format!("({})", cols.join(", ")), bounds))
}
