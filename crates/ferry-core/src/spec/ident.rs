//! Table names as users write them (`orders`, `public.orders`, `"My Table"`),
//! parsed once at validation and quoted per dialect when statements are built.

use std::fmt;

use crate::{Error, Result};

/// A table name, optionally qualified by a schema (PostgreSQL) or database (MySQL).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    /// Schema or database, if given.
    pub schema: Option<String>,
    /// The table itself.
    pub name: String,
}

impl TableName {
    /// Parses `name`, `schema.name`, with `"double quotes"` around parts that
    /// contain dots; `field` names the spec field in errors.
    pub fn parse(field: &str, text: &str) -> Result<TableName> {
        let parts = split_parts(text).map_err(|m| Error::invalid(field, m))?;
        let bad = |m: &str| Error::invalid(field, format!("{text:?}: {m}"));
        for p in &parts {
            if p.is_empty() {
                return Err(bad("empty name part; write `table` or `schema.table`"));
            }
            if p.contains('\0') {
                return Err(bad("names cannot contain NUL"));
            }
            if p.len() > 63 {
                return Err(bad("name parts are at most 63 bytes"));
            }
        }
        match parts.len() {
            1 => Ok(TableName {
                schema: None,
                name: parts[0].clone(),
            }),
            2 => Ok(TableName {
                schema: Some(parts[0].clone()),
                name: parts[1].clone(),
            }),
            _ => Err(bad(
                "too many dots; write `table` or `schema.table` (quote names that contain dots)",
            )),
        }
    }
}

fn split_parts(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(p) = parts.last_mut() {
                    p.push('"');
                }
            }
            ('"', true) => quoted = false,
            ('.', false) => parts.push(String::new()),
            (c, _) => {
                if let Some(p) = parts.last_mut() {
                    p.push(c)
                }
            }
        }
    }
    if quoted {
        return Err(format!("{text:?}: unterminated double quote"));
    }
    Ok(parts)
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_qualified_and_quoted() {
        let t = TableName::parse("t", "orders").expect("plain");
        assert_eq!((t.schema, t.name.as_str()), (None, "orders"));
        let t = TableName::parse("t", "public.orders").expect("qualified");
        assert_eq!(t.schema.as_deref(), Some("public"));
        let t = TableName::parse("t", r#""my.schema"."We ""Quote""""#).expect("quoted");
        assert_eq!(t.schema.as_deref(), Some("my.schema"));
        assert_eq!(t.name, r#"We "Quote""#);
    }

    #[test]
    fn rejects_bad_names_naming_the_field() {
        for bad in ["", "a.b.c", "a.", "\"open", "x\0y"] {
            let err = TableName::parse("sink.table", bad).expect_err(bad);
            assert!(err.to_string().contains("sink.table"), "{err}");
        }
    }
}
