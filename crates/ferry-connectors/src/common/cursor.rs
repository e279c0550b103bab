//! The shape of an incremental read's cursor condition, for the SQL
//! connectors that spell tuple comparisons out (MariaDB, SQLite).
//!
//! A watermark is a tuple `(cursor…, tie_breaker…)` compared as a whole.
//! MariaDB does not reliably use an index for a row-value comparison
//! `(a, b) > (x, y)`, so the comparison is expanded lexicographically, with
//! a leading range on the first column that an index on it can serve:
//!
//! ```text
//!  (a, b, c) >  (x, y, z)   a >= x AND (a > x OR (a = x AND (b > y OR (b = y AND c > z))))
//!  (a, b, c) <= (x, y, z)   a <= x AND (a < x OR (a = x AND (b < y OR (b = y AND c <= z))))
//! ```
//!
//! With SQL's three-valued logic this selects exactly the rows a row-value
//! comparison selects (a NULL decides nothing, so the row is left out).
//! Columns and values arrive already rendered: quoted identifiers, and bound
//! placeholders (possibly typed with a cast); nothing here sees user text.

/// Which tuple comparison to expand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TupleOp {
    /// `(cols) > (vals)`: strictly after the watermark.
    After,
    /// `(cols) <= (vals)`: up to and including the run's upper bound.
    UpTo,
}

/// `(cols) OP (vals)` expanded lexicographically (see the module docs).
/// `cols` and `vals` have the same, non-zero length.
pub(crate) fn tuple_cmp(cols: &[String], vals: &[String], op: TupleOp) -> String {
    debug_assert_eq!(cols.len(), vals.len());
    let n = cols.len().min(vals.len());
    if n == 0 {
        return "TRUE".into();
    }
    let (strict, last) = match op {
        TupleOp::After => (">", ">"),
        TupleOp::UpTo => ("<", "<="),
    };
    // Built from the last column outwards.
    let mut inner = format!("{} {last} {}", cols[n - 1], vals[n - 1]);
    for i in (0..n - 1).rev() {
        inner = format!(
            "{c} {strict} {v} OR ({c} = {v} AND ({inner}))",
            c = cols[i],
            v = vals[i]
        );
    }
    if n == 1 {
        return inner;
    }
    let lead = match op {
        TupleOp::After => ">=",
        TupleOp::UpTo => "<=",
    };
    format!("({} {lead} {} AND ({inner}))", cols[0], vals[0])
}

/// `a IS NOT NULL AND b IS NOT NULL …` over rendered columns.
pub(crate) fn all_not_null(cols: &[String]) -> String {
    cols.iter()
        .map(|c| format!("{c} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `(range OR a IS NULL OR b IS NULL …)` when rows with a NULL cursor are
/// read too, else `range` alone.
pub(crate) fn with_null_cursors(range: String, cursor_cols: &[String], nulls: bool) -> String {
    if !nulls {
        return range;
    }
    let any_null = cursor_cols
        .iter()
        .map(|c| format!("{c} IS NULL"))
        .collect::<Vec<_>>()
        .join(" OR ");
    format!("({range} OR {any_null})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn expands_tuples_lexicographically() {
        assert_eq!(tuple_cmp(&s(&["a"]), &s(&["?1"]), TupleOp::After), "a > ?1");
        assert_eq!(tuple_cmp(&s(&["a"]), &s(&["?1"]), TupleOp::UpTo), "a <= ?1");
        assert_eq!(
            tuple_cmp(&s(&["a", "b", "c"]), &s(&["x", "y", "z"]), TupleOp::After),
            "(a >= x AND (a > x OR (a = x AND (b > y OR (b = y AND (c > z))))))"
        );
        assert_eq!(
            tuple_cmp(&s(&["a", "b"]), &s(&["x", "y"]), TupleOp::UpTo),
            "(a <= x AND (a < x OR (a = x AND (b <= y))))"
        );
    }

    /// The expansion selects what SQLite's own row-value comparison selects,
    /// NULLs included, on every pair of small tuples.
    #[cfg(feature = "sqlite")]
    #[test]
    fn expansion_agrees_with_row_values() {
        let conn = rusqlite::Connection::open_in_memory().expect("in-memory sqlite");
        let vals = ["NULL", "0", "1", "2"];
        let cols = s(&["a", "b", "c"]);
        for a in vals {
            for b in vals {
                for c in vals {
                    for (x, y, z) in [("1", "1", "1"), ("0", "2", "0"), ("2", "0", "1")] {
                        let marks = s(&[x, y, z]);
                        for (op, sql_op) in [(TupleOp::After, ">"), (TupleOp::UpTo, "<=")] {
                            let sql = format!(
                                "SELECT coalesce(({e}), 0) = coalesce(((a, b, c) {sql_op} ({x}, {y}, {z})), 0) \
                                 FROM (SELECT {a} AS a, {b} AS b, {c} AS c)",
                                e = tuple_cmp(&cols, &marks, op)
                            );
                            let same: bool = conn.query_row(&sql, [], |r| r.get(0)).expect("query");
                            assert!(same, "{sql}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn null_cursors_widen_the_range() {
        assert_eq!(
            with_null_cursors("r".into(), &s(&["a", "b"]), true),
            "(r OR a IS NULL OR b IS NULL)"
        );
        assert_eq!(with_null_cursors("r".into(), &s(&["a"]), false), "r");
        assert_eq!(
            all_not_null(&s(&["a", "b"])),
            "a IS NOT NULL AND b IS NOT NULL"
        );
    }
}
