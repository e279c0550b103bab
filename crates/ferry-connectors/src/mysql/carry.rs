//! MariaDB → MariaDB dates that Arrow cannot hold: zero dates.
//!
//! MariaDB stores `0000-00-00` and dates with a zero month or day
//! (`2020-00-15`) in `DATE`, `DATETIME` and `TIMESTAMP` columns wherever the
//! writing session's `sql_mode` lacks `NO_ZERO_DATE` / `NO_ZERO_IN_DATE`
//! (MariaDB's default mode lacks both). Arrow has no such date, so on the
//! ordinary path such a value makes its row dirty. Towards a MySQL/MariaDB
//! sink, with no transform reading the values, the source instead carries
//! these columns as the text the server sends (type `binary`, `dialect`
//! `mysql`, the source's `COLUMN_TYPE` as `native_type`), and the sink loads
//! that text, unchanged, into a column of the same type:
//!
//! ```text
//!  SELECT d (text protocol) ─ "0000-00-00" ─► Arrow binary ─► LOAD DATA … SET d = UNHEX(@h) ─► DATE
//! ```
//!
//! Both sessions run in UTC, so a `TIMESTAMP` travels as the same instant.
//! The sink's session refuses zero dates only where the target server's own
//! (global) `sql_mode` does ([`session_sql_mode`]): a server configured to
//! hold them gets them, one configured to refuse them refuses the row (a
//! dirty row under the task's policy). An existing target column of another
//! type takes the column as Arrow values instead ([`refused`]).

use ferry_core::{ColumnDef, ColumnType, TableSchema};

use super::conn::TableInfo;
use super::types::DIALECT;

/// Whether a `COLUMN_TYPE` is a date type that can hold zero dates.
fn is_date_type(native: &str) -> bool {
    let lower = native.to_ascii_lowercase();
    let base = lower.split('(').next().unwrap_or_default().trim();
    matches!(base, "date" | "datetime" | "timestamp")
}

/// Whether a column travels as the server's date text (see the module docs).
pub(crate) fn is_carried(c: &ColumnDef) -> bool {
    c.dialect == Some(DIALECT) && c.ty == ColumnType::Binary && is_date_type(&c.native_type)
}

/// `schema` with its date columns carried as text, except those in
/// `needs_values` (cursor, window, merge key), which the run reads.
pub(crate) fn carry_dates(schema: &TableSchema, needs_values: &[String]) -> TableSchema {
    let mut out = schema.clone();
    for c in &mut out.columns {
        let date_valued = matches!(
            c.ty,
            ColumnType::Date | ColumnType::Timestamp | ColumnType::TimestampTz
        );
        if c.dialect == Some(DIALECT)
            && date_valued
            && is_date_type(&c.native_type)
            && !needs_values.contains(&c.name)
        {
            c.ty = ColumnType::Binary;
        }
    }
    out
}

/// The carried columns the existing `target` cannot take as text: its
/// column of that name has another type (they then travel as Arrow values,
/// checked on the way). A column the target lacks is left to the target
/// check, which names it.
pub(crate) fn refused(schema: &TableSchema, target: &TableInfo) -> Vec<String> {
    schema
        .columns
        .iter()
        .filter(|c| is_carried(c))
        .filter(|c| {
            target
                .columns
                .iter()
                .find(|t| t.name == c.name)
                .is_some_and(|t| !same_type(c, &t.column_type))
        })
        .map(|c| c.name.clone())
        .collect()
}

/// Whether a carried column's type is the target column's `COLUMN_TYPE`.
pub(crate) fn same_type(c: &ColumnDef, target_column_type: &str) -> bool {
    c.native_type.eq_ignore_ascii_case(target_column_type)
}

/// The modes every writing session has; the zero-date modes are added where
/// the server's own `sql_mode` has them.
const WRITE_MODES: &str = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_VALUE_ON_ZERO";

/// The `sql_mode` of a writing session on a server whose global mode is
/// `global`: strict, and refusing zero dates exactly where the server does.
pub(crate) fn session_sql_mode(global: &str) -> String {
    let mut mode = WRITE_MODES.to_string();
    for zero in ["NO_ZERO_DATE", "NO_ZERO_IN_DATE"] {
        if global
            .split(',')
            .any(|m| m.trim().eq_ignore_ascii_case(zero))
        {
            mode.push(',');
            mode.push_str(zero);
        }
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: ColumnType, native: &str, dialect: Option<&'static str>) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            ty,
            nullable: true,
            native_type: native.into(),
            dialect,
        }
    }

    #[test]
    fn only_mariadb_date_columns_the_run_does_not_read_are_carried() {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                col("d", ColumnType::Date, "date", Some(DIALECT)),
                col("dt", ColumnType::Timestamp, "datetime(3)", Some(DIALECT)),
                col("ts", ColumnType::TimestampTz, "timestamp", Some(DIALECT)),
                col(
                    "cursor",
                    ColumnType::TimestampTz,
                    "timestamp(6)",
                    Some(DIALECT),
                ),
                col("pg", ColumnType::Date, "date", None),
                col("n", ColumnType::Int32, "int(11)", Some(DIALECT)),
            ],
            primary_key: vec![],
        };
        let carried = carry_dates(&schema, &["cursor".to_string()]);
        let names: Vec<&str> = carried
            .columns
            .iter()
            .filter(|c| is_carried(c))
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["d", "dt", "ts"]);
    }

    #[test]
    fn zero_dates_are_refused_exactly_where_the_server_refuses_them() {
        let default_10_11 = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION";
        assert_eq!(session_sql_mode(default_10_11), WRITE_MODES);
        assert_eq!(
            session_sql_mode("TRADITIONAL,NO_ZERO_IN_DATE,no_zero_date"),
            format!("{WRITE_MODES},NO_ZERO_DATE,NO_ZERO_IN_DATE")
        );
        assert_eq!(session_sql_mode(""), WRITE_MODES);
    }
}
