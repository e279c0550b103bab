//! Split planning for a MySQL/MariaDB table, inside the read snapshot: an
//! integer first primary-key column is cut into equal-width ranges between
//! its `MIN` and `MAX`. The first and last ranges are open-ended, so every
//! row belongs to exactly one split whatever the estimates said. Bounds are
//! integers the server printed, so no user text reaches the statement.
//! Other keys (and tables without one) are read as one split.

use ferry_core::Result;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::conn::{Endpoint, NativeColumn, TableInfo, quote};

/// The integer first key column of `info`, if it has one.
pub(crate) fn integer_key(info: &TableInfo) -> Option<&NativeColumn> {
    let first = info.primary_key.first()?;
    info.columns.iter().find(|c| {
        &c.name == first
            && matches!(
                c.data_type.as_str(),
                "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
            )
    })
}

/// How many splits to plan for `estimated_rows` (see `ReadOptions`).
pub(crate) fn wanted(
    estimated_rows: Option<u64>,
    max_splits: u32,
    min_rows_per_split: u64,
) -> usize {
    let rows = estimated_rows.unwrap_or(0);
    (rows / min_rows_per_split.max(1)).clamp(1, max_splits.max(1) as u64) as usize
}

/// At most `n` range predicates over `key` that cover every row (one empty
/// predicate, the whole table, when the table is empty or narrow).
pub(crate) async fn ranges(
    conn: &mut Conn,
    ep: &Endpoint,
    key: &NativeColumn,
    n: usize,
) -> Result<Vec<String>> {
    let k = quote(&key.name);
    let row: Option<(Option<String>, Option<String>)> = conn
        .query_first(format!(
            "SELECT CAST(MIN({k}) AS CHAR), CAST(MAX({k}) AS CHAR) FROM {}",
            ep.qualified(&ep.table)
        ))
        .await
        .map_err(|e| ep.error("reading the key range", e))?;
    let bounds = match row {
        Some((Some(lo), Some(hi))) => match (lo.parse::<i128>(), hi.parse::<i128>()) {
            (Ok(lo), Ok(hi)) => cut(lo, hi, n),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    Ok(predicates(&k, &bounds))
}

/// `n − 1` inner bounds cutting `lo..=hi` into equal-width ranges (fewer
/// when the range is narrower than `n`).
fn cut(lo: i128, hi: i128, n: usize) -> Vec<i128> {
    let width = (hi - lo + 1).max(1) as u128;
    let n = (n as u128).min(width).max(1);
    let step = width.div_ceil(n);
    (1..n).map(|i| lo + (i * step) as i128).collect()
}

/// `k < b1`, `k >= b1 AND k < b2`, …, `k >= bn`; one empty predicate without bounds.
fn predicates(k: &str, bounds: &[i128]) -> Vec<String> {
    (0..=bounds.len())
        .map(|i| {
            let lo = i.checked_sub(1).map(|j| format!("{k} >= {}", bounds[j]));
            let hi = bounds.get(i).map(|b| format!("{k} < {b}"));
            match (lo, hi) {
                (Some(l), Some(h)) => format!("{l} AND {h}"),
                (Some(l), None) => l,
                (None, Some(h)) => h,
                (None, None) => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_key_once() {
        assert_eq!(cut(1, 100, 4), vec![26, 51, 76]);
        assert_eq!(cut(5, 6, 4), vec![6]);
        assert_eq!(cut(7, 7, 4), Vec::<i128>::new());
        let max = u64::MAX as i128;
        assert_eq!(cut(0, max, 2), vec![(max + 1) / 2]);
        assert_eq!(
            predicates("`id`", &[10, 20]),
            vec!["`id` < 10", "`id` >= 10 AND `id` < 20", "`id` >= 20"]
        );
        assert_eq!(predicates("`id`", &[]), vec![String::new()]);
    }

    #[test]
    fn small_tables_get_one_split() {
        assert_eq!(wanted(Some(1_000), 8, 200_000), 1);
        assert_eq!(wanted(None, 8, 200_000), 1);
        assert_eq!(wanted(Some(5_000_000), 8, 200_000), 8);
        assert_eq!(wanted(Some(500_000), 8, 200_000), 2);
    }
}
