//! The gate in front of `source_filter`: the one piece of user SQL that a
//! source pastes into its own query.
//!
//! A filter is text the source evaluates, so it must not be able to change
//! the query around it (`1=1) UNION SELECT …`, `…; DROP TABLE …`, a comment
//! that swallows the rest of the statement, a subquery that reads another
//! table, a function with side effects). It is therefore tokenised and parsed
//! with the *source's* dialect (MySQL's backslash escapes and backticks, or
//! PostgreSQL's dollar quotes, change where a string ends) and accepted only
//! if it is exactly one boolean-valued expression built from:
//!
//! * plain column names (no `schema.table.column`, no `@variables`),
//! * literals, comparison/arithmetic/logical operators, `IN (list)`,
//!   `BETWEEN`, `LIKE`, `IS [NOT] NULL`, `CASE`, `CAST`, `EXTRACT`, …,
//! * calls of the pure functions in [`ALLOWED_FUNCTIONS`],
//! * the run parameters `${window_start}`, `${window_end}` and
//!   `${logical_time}`, which must stand where a value goes (not inside a
//!   string) and are bound by the source, never pasted.
//!
//! ```text
//!  text ─► ${…} → ␠__ferry_param__␠ ─► tokenise (dialect) ─► no comment, `;`, placeholder,
//!                                                             param outside literals
//!        ─► parse one expression, nothing after it ─► walk: allowed nodes only ─► columns
//! ```
//!
//! The source renders each parameter as ` <its placeholder> ` (spaces
//! around it), so the text it sends tokenises like the text checked here.
//! Once the schema is known, the returned columns are checked against it
//! ([`check_filter_columns`]).

use sqlparser::ast::{
    BinaryOperator, CastFormat, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectNamePart, UnaryOperator, Value,
};
use sqlparser::dialect::Dialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, Tokenizer, Whitespace};

use crate::{Error, Result};

/// The functions a `source_filter` may call: pure, no I/O, no sleeping, no
/// access to other tables, files or the server's state.
pub const ALLOWED_FUNCTIONS: &[&str] = &[
    "abs",
    "btrim",
    "ceil",
    "ceiling",
    "char_length",
    "character_length",
    "coalesce",
    "concat",
    "current_date",
    "current_timestamp",
    "date",
    "date_part",
    "date_trunc",
    "datetime",
    "floor",
    "greatest",
    "ifnull",
    "julianday",
    "least",
    "left",
    "length",
    "localtimestamp",
    "lower",
    "ltrim",
    "mod",
    "now",
    "nullif",
    "octet_length",
    "replace",
    "right",
    "round",
    "rtrim",
    "strftime",
    "substr",
    "substring",
    "trim",
    "trunc",
    "unixepoch",
    "upper",
];

/// Words that PostgreSQL evaluates as functions when written without
/// parentheses: never column references.
const SESSION_WORDS: &[&str] = &[
    "user",
    "current_user",
    "session_user",
    "current_role",
    "current_catalog",
    "current_schema",
    "system_user",
];

/// The longest `source_filter` accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 16 * 1024;

/// What a `${…}` run parameter stands for while the filter is checked.
const PARAM: &str = "__ferry_param__";

const ALLOWED: &str = "one boolean expression over the source's columns: literals, operators, \
     IN (list), BETWEEN, LIKE, IS NULL, CASE, CAST, and the functions lower, upper, coalesce, \
     abs, length, substring, trim, date_trunc, date, …; with ${window_start}, ${window_end} and \
     ${logical_time} as values";

/// Checks `text`, the value of `field` (a `source_filter`), in `dialect`:
/// it must be exactly one boolean-valued expression of the allowed forms
/// (see the module docs). Returns the column names it references, each
/// once, in order of appearance (unquoted names as written).
pub fn check_source_filter(field: &str, text: &str, dialect: &dyn Dialect) -> Result<Vec<String>> {
    let (sql, params) = substitute(field, text)?;
    check_sql(field, &sql, params, dialect)
}

/// Checks that every column `referenced` by `field` is one of `columns`
/// (compared without regard to ASCII case, as unquoted names are).
pub fn check_filter_columns<'a>(
    field: &str,
    referenced: &[String],
    columns: impl IntoIterator<Item = &'a str> + Clone,
) -> Result<()> {
    for name in referenced {
        if !columns
            .clone()
            .into_iter()
            .any(|c| c.eq_ignore_ascii_case(name))
        {
            let mut have: Vec<&str> = columns.clone().into_iter().collect();
            have.truncate(50);
            return Err(Error::invalid(
                field,
                format!(
                    "column `{name}` is not a column of the source (it has: {}); a source \
                     filter may only use the source's own columns",
                    have.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Replaces each `${name}` by ` __ferry_param__ `; returns the text and how
/// many parameters it has. Names are checked by `SourcePredicate::parse`.
fn substitute(field: &str, text: &str) -> Result<(String, usize)> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    let mut n = 0;
    while let Some(at) = rest.find("${") {
        let Some(close) = rest[at..].find('}') else {
            return Err(Error::invalid(field, "`${` without a closing `}`"));
        };
        out.push_str(&rest[..at]);
        out.push(' ');
        out.push_str(PARAM);
        out.push(' ');
        n += 1;
        rest = &rest[at + close + 1..];
    }
    out.push_str(rest);
    Ok((out, n))
}

/// Checks SQL whose run parameters are already replaced by [`PARAM`].
pub(crate) fn check_sql(
    field: &str,
    sql: &str,
    params: usize,
    dialect: &dyn Dialect,
) -> Result<Vec<String>> {
    let refuse = |what: String| Error::invalid(field, format!("{what}; allowed: {ALLOWED}"));
    if sql.len() > MAX_FILTER_BYTES {
        return Err(refuse(format!(
            "is {} bytes long, more than {MAX_FILTER_BYTES}",
            sql.len()
        )));
    }
    // Characters a database may read differently from the tokeniser:
    // control characters (MySQL ends a `--` comment at any of them) and
    // whitespace outside ASCII (PostgreSQL reads it as part of a name).
    if let Some(c) = sql.chars().find(|c| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || (c.is_whitespace() && !c.is_ascii())
    }) {
        return Err(refuse(format!(
            "contains the character U+{:04X}, which is not allowed",
            u32::from(c)
        )));
    }
    let tokens = Tokenizer::new(dialect, sql)
        .tokenize_with_location()
        .map_err(|e| refuse(format!("is not valid SQL ({e})")))?;
    // The tokens must cover the text end to end. The MySQL dialect expands
    // an executable comment `/*! … */` into the tokens inside it (as MariaDB
    // runs them), which leaves a gap where the comment markers were.
    let mut at = Location::of(1, 1);
    for t in &tokens {
        if t.span.start != at {
            return Err(refuse("contains a comment".into()));
        }
        at = t.span.end;
    }
    if at != end_of(sql) {
        return Err(refuse("contains a comment".into()));
    }
    let mut seen_params = 0;
    let mut kept = Vec::with_capacity(tokens.len());
    for t in tokens.into_iter().map(|t| t.token) {
        match &t {
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => {
                return Err(refuse("contains a comment".into()));
            }
            Token::Whitespace(_) => continue,
            Token::SemiColon => return Err(refuse("contains `;` (one expression only)".into())),
            Token::Placeholder(p) => {
                return Err(refuse(format!(
                    "contains the placeholder `{p}`; write run parameters as ${{window_start}}, \
                     ${{window_end}} or ${{logical_time}}"
                )));
            }
            Token::Word(w) if w.quote_style.is_none() && w.value == PARAM => seen_params += 1,
            _ => {}
        }
        kept.push(t);
    }
    if seen_params != params {
        return Err(refuse(
            "uses `${…}` inside a quoted string or name, or mentions __ferry_param__; a run \
             parameter stands where a value goes, e.g. `created_at < ${window_end}`"
                .into(),
        ));
    }
    let mut parser = Parser::new(dialect).with_tokens(kept);
    let expr = parser
        .parse_expr()
        .map_err(|e| refuse(format!("is not one SQL expression ({e})")))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(refuse(format!(
            "has `{}` after the end of the expression",
            next.token
        )));
    }
    if !is_boolean(&expr) {
        return Err(refuse(format!("`{expr}` is not a condition (true/false)")));
    }
    let mut columns = Vec::new();
    walk(&expr, &mut columns).map_err(refuse)?;
    Ok(columns)
}

/// Where the tokeniser's location is after the whole of `text`.
fn end_of(text: &str) -> Location {
    let (mut line, mut column) = (1, 1);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Location::of(line, column)
}

/// Whether `expr` is a condition by its form (a bare column may be a
/// boolean column; the source decides).
fn is_boolean(expr: &Expr) -> bool {
    use BinaryOperator as B;
    match expr {
        Expr::BinaryOp { op, .. } => matches!(
            op,
            B::Gt
                | B::Lt
                | B::GtEq
                | B::LtEq
                | B::Eq
                | B::NotEq
                | B::Spaceship
                | B::And
                | B::Or
                | B::Xor
                | B::PGRegexMatch
                | B::PGRegexIMatch
                | B::PGRegexNotMatch
                | B::PGRegexNotIMatch
                | B::PGLikeMatch
                | B::PGILikeMatch
                | B::PGNotLikeMatch
                | B::PGNotILikeMatch
                | B::Regexp
        ),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        } => true,
        Expr::Nested(e) => is_boolean(e),
        Expr::Identifier(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::InList { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::SimilarTo { .. }
        | Expr::RLike { .. } => true,
        Expr::Value(v) => matches!(v.value, Value::Boolean(_)),
        _ => false,
    }
}

/// Walks `expr`, refusing every node that is not on the allow-list and
/// collecting the columns it names.
fn walk(expr: &Expr, columns: &mut Vec<String>) -> std::result::Result<(), String> {
    use BinaryOperator as B;
    match expr {
        Expr::Identifier(id) => {
            if id.quote_style.is_none() && id.value == PARAM {
                return Ok(());
            }
            if id.quote_style.is_none() {
                if id.value.starts_with('@') {
                    return Err(format!("`{}` is a server variable, not a column", id.value));
                }
                if SESSION_WORDS.contains(&id.value.to_ascii_lowercase().as_str()) {
                    return Err(format!(
                        "`{}` is a session function, not a column",
                        id.value
                    ));
                }
            }
            if id.value.is_empty() {
                return Err("an empty column name".into());
            }
            if !columns.contains(&id.value) {
                columns.push(id.value.clone());
            }
            Ok(())
        }
        Expr::CompoundIdentifier(parts) => Err(format!(
            "`{}` names another object; use plain column names",
            parts
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(".")
        )),
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => Err(format!("the placeholder `{p}`")),
            _ => Ok(()),
        },
        Expr::TypedString(t) => match &t.value.value {
            Value::Placeholder(p) => Err(format!("the placeholder `{p}`")),
            _ => Ok(()),
        },
        Expr::BinaryOp { left, op, right } => {
            let ok = matches!(
                op,
                B::Plus
                    | B::Minus
                    | B::Multiply
                    | B::Divide
                    | B::Modulo
                    | B::StringConcat
                    | B::Gt
                    | B::Lt
                    | B::GtEq
                    | B::LtEq
                    | B::Spaceship
                    | B::Eq
                    | B::NotEq
                    | B::And
                    | B::Or
                    | B::Xor
                    | B::BitwiseOr
                    | B::BitwiseAnd
                    | B::BitwiseXor
                    | B::MyIntegerDivide
                    | B::Regexp
                    | B::PGRegexMatch
                    | B::PGRegexIMatch
                    | B::PGRegexNotMatch
                    | B::PGRegexNotIMatch
                    | B::PGLikeMatch
                    | B::PGILikeMatch
                    | B::PGNotLikeMatch
                    | B::PGNotILikeMatch
                    | B::Arrow
                    | B::LongArrow
            );
            if !ok {
                return Err(format!("the operator `{op}`"));
            }
            walk(left, columns)?;
            walk(right, columns)
        }
        Expr::UnaryOp { op, expr } => {
            if !matches!(
                op,
                UnaryOperator::Not | UnaryOperator::Plus | UnaryOperator::Minus
            ) {
                return Err(format!("the operator `{op}`"));
            }
            walk(expr, columns)
        }
        Expr::Nested(e)
        | Expr::IsFalse(e)
        | Expr::IsNotFalse(e)
        | Expr::IsTrue(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsUnknown(e)
        | Expr::IsNotUnknown(e) => walk(e, columns),
        Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
            walk(a, columns)?;
            walk(b, columns)
        }
        Expr::InList { expr, list, .. } => {
            walk(expr, columns)?;
            list.iter().try_for_each(|e| walk(e, columns))
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            walk(expr, columns)?;
            walk(low, columns)?;
            walk(high, columns)
        }
        Expr::Like {
            any: false,
            expr,
            pattern,
            ..
        }
        | Expr::ILike {
            any: false,
            expr,
            pattern,
            ..
        }
        | Expr::SimilarTo { expr, pattern, .. }
        | Expr::RLike { expr, pattern, .. } => {
            walk(expr, columns)?;
            walk(pattern, columns)
        }
        Expr::Cast { expr, format, .. } => {
            match format {
                None => {}
                Some(CastFormat::Value(v)) | Some(CastFormat::ValueAtTimeZone(v, _)) => {
                    if let Value::Placeholder(p) = v {
                        return Err(format!("the placeholder `{p}`"));
                    }
                }
            }
            walk(expr, columns)
        }
        Expr::AtTimeZone {
            timestamp,
            time_zone,
        } => {
            walk(timestamp, columns)?;
            walk(time_zone, columns)
        }
        Expr::Extract { expr, .. } | Expr::Ceil { expr, .. } | Expr::Floor { expr, .. } => {
            walk(expr, columns)
        }
        Expr::Collate { expr, collation } => {
            if collation.0.len() != 1 {
                return Err(format!("the collation `{collation}`"));
            }
            walk(expr, columns)
        }
        Expr::Position { expr, r#in } => {
            walk(expr, columns)?;
            walk(r#in, columns)
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            walk(expr, columns)?;
            for e in [substring_from, substring_for].into_iter().flatten() {
                walk(e, columns)?;
            }
            Ok(())
        }
        Expr::Trim {
            expr,
            trim_what,
            trim_characters,
            ..
        } => {
            walk(expr, columns)?;
            if let Some(e) = trim_what {
                walk(e, columns)?;
            }
            for e in trim_characters.iter().flatten() {
                walk(e, columns)?;
            }
            Ok(())
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(e) = operand {
                walk(e, columns)?;
            }
            for w in conditions {
                walk(&w.condition, columns)?;
                walk(&w.result, columns)?;
            }
            if let Some(e) = else_result {
                walk(e, columns)?;
            }
            Ok(())
        }
        Expr::Tuple(items) => items.iter().try_for_each(|e| walk(e, columns)),
        Expr::Interval(i) => walk(&i.value, columns),
        Expr::Function(f) => walk_function(f, columns),
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
            Err("a subquery".into())
        }
        other => Err(format!("`{other}`")),
    }
}

fn walk_function(f: &Function, columns: &mut Vec<String>) -> std::result::Result<(), String> {
    let name = match f.name.0.as_slice() {
        [ObjectNamePart::Identifier(id)] if id.quote_style.is_none() => {
            id.value.to_ascii_lowercase()
        }
        _ => return Err(format!("the function `{}`", f.name)),
    };
    if !ALLOWED_FUNCTIONS.contains(&name.as_str()) {
        return Err(format!("the function `{}`", f.name));
    }
    if f.filter.is_some()
        || f.over.is_some()
        || f.null_treatment.is_some()
        || !f.within_group.is_empty()
        || !matches!(f.parameters, FunctionArguments::None)
    {
        return Err(format!("`{f}` (only plain calls)"));
    }
    match &f.args {
        FunctionArguments::None => Ok(()),
        FunctionArguments::Subquery(_) => Err("a subquery".into()),
        FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(format!("`{f}` (only plain calls)"));
            }
            for a in &list.args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => walk(e, columns)?,
                    _ => return Err(format!("the argument `{a}` of `{name}`")),
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
