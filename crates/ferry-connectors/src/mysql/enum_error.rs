//! An `ENUM`'s error value `''` carried from MySQL/MariaDB to MySQL/MariaDB.
//!
//! A server whose `sql_mode` is not strict stores a value that is not a
//! member of an `ENUM` as the special error value `''` (index 0). It is a
//! real value of the column: it reads back as `''`, sorts first, and
//! `e + 0` is `0`. A strict session refuses every statement that would store
//! it (`VALUES(0)`, `IF(…)`, a subquery: error 1265); only
//! `LOAD DATA LOCAL` stores it, as the non-strict server did, with warning
//! 1265 ("Data truncated for column") — the same warning it gives a
//! non-member such as `'zz'`, which it also stores as `''`.
//!
//! So the sink tells the two apart by counting: for a column read from a
//! MySQL/MariaDB `ENUM` going into an `ENUM` that has no `''` member, each
//! `''` sent gives exactly one warning. A load whose warning count equals the
//! number of those `''` values stored every other value exactly; any other
//! warning makes the count larger, and the load is refused as before. Values
//! from other sources (PostgreSQL text `''`) are not counted: into an `ENUM`
//! they stay a refused value.

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use ferry_core::{ColumnDef, Error, Result};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::conn::TableInfo;
use super::types::DIALECT;
use crate::common::values::ColumnValues;

/// Whether `''` read from column `c` goes into its target as the `ENUM`
/// error value: `c` is a MySQL/MariaDB `ENUM` and the target column (the
/// existing one, or `c`'s own type when Ferry creates it) is an `ENUM`
/// without a `''` member.
pub(super) fn carries_error_value(c: &ColumnDef, target: Option<&TableInfo>) -> bool {
    // A source whose own members include `''` holds a real `''` member, not
    // the error value: it must not be counted as one.
    let source_has_blank = members(&c.native_type).is_none_or(|m| m.iter().any(String::is_empty));
    if c.dialect != Some(DIALECT) || !is_enum(&c.native_type) || source_has_blank {
        return false;
    }
    let target_type = match target {
        Some(t) => match t.columns.iter().find(|n| n.name == c.name) {
            Some(n) => n.declared.as_str(),
            None => return false,
        },
        None => c.native_type.as_str(),
    };
    is_enum(target_type) && members(target_type).is_some_and(|m| !m.iter().any(String::is_empty))
}

fn is_enum(column_type: &str) -> bool {
    column_type
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("enum("))
}

/// The members of `enum('a','it''s')` as the server reports the type;
/// `None` if the text is not such a list.
fn members(column_type: &str) -> Option<Vec<String>> {
    let mut rest = column_type.get(5..)?.chars().peekable();
    let mut out = Vec::new();
    loop {
        if rest.next()? != '\'' {
            return None;
        }
        let mut member = String::new();
        loop {
            match rest.next()? {
                '\'' if rest.peek() == Some(&'\'') => {
                    rest.next();
                    member.push('\'');
                }
                '\'' => break,
                ch => member.push(ch),
            }
        }
        out.push(member);
        match rest.next()? {
            ',' => continue,
            ')' => return Some(out),
            _ => return None,
        }
    }
}

/// The `''` values of `batch` in the columns `carried` marks: the warnings
/// a `LOAD` of it is expected to give.
pub(super) fn count(carried: &[bool], batch: &RecordBatch, views: &[ColumnValues<'_>]) -> u64 {
    let mut n = 0;
    for (_, v) in carried.iter().zip(views).filter(|(c, _)| **c) {
        if let ColumnValues::Utf8(a) = v {
            n += (0..batch.num_rows())
                .filter(|&i| a.is_valid(i) && a.value(i).is_empty())
                .count() as u64;
        }
    }
    n
}

/// Whether the last statement's warnings are exactly the `expected` error
/// values. The protocol's count stops at 65535; `@@warning_count` does not.
pub(super) async fn only_error_values(conn: &mut Conn, expected: u64) -> Result<bool> {
    let shown = conn.get_warnings();
    if shown < u16::MAX {
        return Ok(u64::from(shown) == expected);
    }
    let total: Option<u64> = conn
        .query_first("SELECT @@warning_count")
        .await
        .map_err(|e| Error::Server {
            context: "reading the warning count of a load".into(),
            message: e.to_string(),
            transient: false,
        })?;
    Ok(total == Some(expected))
}

/// `messages` without the warnings error values give (`Data truncated for
/// column 'e'` on a column in `columns`), so they do not name the culprit;
/// all of them if nothing else is left.
pub(super) fn other_warnings(messages: &[String], columns: &[&str]) -> Vec<String> {
    let gives_error_value = |m: &String| {
        m.contains("Warning 1265:")
            && columns
                .iter()
                .any(|c| m.contains(&format!("for column '{c}'")))
    };
    let others: Vec<String> = messages
        .iter()
        .filter(|m| !gives_error_value(m))
        .cloned()
        .collect();
    if others.is_empty() {
        messages.to_vec()
    } else {
        others
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_members_as_the_server_reports_them() {
        assert_eq!(
            members("enum('a','B','it''s','x)y; z')").unwrap(),
            ["a", "B", "it's", "x)y; z"]
        );
        assert_eq!(members("enum('','a')").unwrap(), ["", "a"]);
        assert_eq!(members("ENUM('a')").unwrap(), ["a"]);
        assert_eq!(members("enum('a'"), None);
        assert_eq!(members("enum(a)"), None);
    }

    #[test]
    fn only_enum_sources_into_enums_without_a_blank_member_carry_it() {
        let col = |native: &str, dialect| ColumnDef {
            name: "e".into(),
            ty: ferry_core::ColumnType::Text {
                max_chars: None,
                fixed: false,
            },
            nullable: true,
            native_type: native.into(),
            dialect,
        };
        assert!(carries_error_value(
            &col("enum('a','b')", Some(DIALECT)),
            None
        ));
        assert!(!carries_error_value(
            &col("enum('','b')", Some(DIALECT)),
            None
        ));
        assert!(!carries_error_value(
            &col("enum('a','b')", Some("postgres")),
            None
        ));
        assert!(!carries_error_value(
            &col("varchar(3)", Some(DIALECT)),
            None
        ));
    }

    #[test]
    fn the_warnings_of_error_values_do_not_name_the_culprit() {
        let w = |s: &str| s.to_string();
        let messages = [
            w("Warning 1265: Data truncated for column 'e' at row 1"),
            w("Warning 1264: Out of range value for column 'n' at row 3"),
        ];
        assert_eq!(other_warnings(&messages, &["e"]), [messages[1].clone()]);
        assert_eq!(
            other_warnings(&messages[..1], &["e"]),
            [messages[0].clone()]
        );
        assert_eq!(other_warnings(&messages, &["x"]), messages);
    }
}
