//! Setting a task's watermark by hand (`ferry state set`), with validation:
//! the values must name exactly the columns the task compares (cursor, then
//! tie-breaker) and parse as those columns' types. They are stored in the
//! text form the source itself prints, so the next run binds them unchanged.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ferry_core::{ColumnType, Error, Result, ValidatedTask};
use ferry_engine::{RunInput, plan_run};
use ferry_store::{Store, Watermark};

/// Checks `values` (`column → text`) against the task's cursor and the
/// source's column types, then saves them as the task's watermark.
pub async fn set_watermark(
    task: &ValidatedTask,
    store: &Store,
    values: &[(String, String)],
) -> Result<Watermark> {
    let watermark = validate_watermark(task, values).await?;
    store
        .set_watermark(&task.spec.name, &watermark, true, None)
        .await?;
    Ok(watermark)
}

/// The watermark `values` would set, checked against the source.
pub async fn validate_watermark(
    task: &ValidatedTask,
    values: &[(String, String)],
) -> Result<Watermark> {
    if !task.spec.mode.is_incremental() {
        return Err(Error::invalid(
            "mode",
            format!(
                "task {} is {}; only incremental_append and incremental_merge keep a watermark",
                task.spec.name, task.spec.mode
            ),
        ));
    }
    let source = task.source.open()?;
    let schema = match &task.declared_schema {
        Some(declared) => declared.clone(),
        None => source.schema().await?,
    };
    let plan = plan_run(task, &schema, &RunInput::default())?;
    let xmin = plan.is_xmin();
    let cursor = plan
        .cursor
        .ok_or_else(|| Error::Internal("incremental plan without a cursor".into()))?;
    let given: Vec<&String> = values.iter().map(|(n, _)| n).collect();
    if given.len() != cursor.columns.len()
        || given.iter().zip(&cursor.columns).any(|(g, c)| *g != c)
    {
        return Err(Error::invalid(
            "value",
            format!(
                "the watermark of task {} is over ({}) in this order; give --value COLUMN=VALUE for each (got: {})",
                task.spec.name,
                cursor.columns.join(", "),
                given
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if xmin {
        // A snapshot (`xmin:xmax:xip,…`); the source casts it to
        // `pg_snapshot` on the next run and refuses one ahead of it.
        let text = values[0].1.trim();
        let ok = text.split(':').count() == 3
            && text
                .split([':', ','])
                .all(|n| n.is_empty() || n.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(Error::invalid(
                "value.xmin",
                format!(
                    "{text:?} is not a PostgreSQL snapshot; write it as SELECT pg_current_snapshot() prints it, \
                     e.g. \"1234:1240:1236\""
                ),
            ));
        }
        return Ok(Watermark {
            columns: cursor.columns,
            values: vec![text.to_string()],
        });
    }
    let mut out = Vec::with_capacity(cursor.columns.len());
    for (name, text) in values {
        let col = schema
            .column(name)
            .ok_or_else(|| Error::Internal(format!("cursor column {name} vanished")))?;
        out.push(normalize(
            &col.ty,
            task.spec.source.connector(),
            name,
            text,
        )?);
    }
    Ok(Watermark {
        columns: cursor.columns,
        values: out,
    })
}

/// `text` as a value of `ty` in the text form `connector` prints it in.
pub fn normalize(ty: &ColumnType, connector: &str, column: &str, text: &str) -> Result<String> {
    let field = format!("value.{column}");
    let bad = |what: &str| {
        Error::invalid(
            &field,
            format!("{text:?} is not {what} (column `{column}` is {ty})"),
        )
    };
    let t = text.trim();
    match ty {
        ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => {
            let v: i64 = t.parse().map_err(|_| bad("an integer"))?;
            let (lo, hi) = match ty {
                ColumnType::Int16 => (i16::MIN as i64, i16::MAX as i64),
                ColumnType::Int32 => (i32::MIN as i64, i32::MAX as i64),
                _ => (i64::MIN, i64::MAX),
            };
            if v < lo || v > hi {
                return Err(bad("in the column's range"));
            }
            Ok(v.to_string())
        }
        ColumnType::Decimal { .. } | ColumnType::DecimalText => {
            let digits = t.strip_prefix('-').unwrap_or(t);
            let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
            let ok = !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(bad("a decimal number like 12.50"));
            }
            if let ColumnType::Decimal { scale, .. } = ty
                && frac.len() > usize::from(*scale)
            {
                return Err(bad("within the column's scale"));
            }
            Ok(t.to_string())
        }
        ColumnType::Text { .. } | ColumnType::Uuid => Ok(text.to_string()),
        ColumnType::Date => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(|d| d.format("%Y-%m-%d").to_string())
            .map_err(|_| bad("a date like 2026-01-31")),
        ColumnType::Timestamp | ColumnType::TimestampTz => {
            let utc = parse_instant(t).ok_or_else(|| {
                bad("a timestamp like 2026-01-31 12:00:00.123456 or 2026-01-31T12:00:00Z")
            })?;
            let base = utc.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            Ok(
                if *ty == ColumnType::TimestampTz && connector == "postgres" {
                    base + "+00"
                } else {
                    base
                },
            )
        }
        other => Err(Error::invalid(
            field,
            format!("column `{column}` is {other}, which cannot be a cursor"),
        )),
    }
}

/// RFC 3339 (any offset, converted to UTC) or a plain date-time taken as UTC.
fn parse_instant(t: &str) -> Option<NaiveDateTime> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc).naive_utc());
    }
    if let Ok(dt) = DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Some(dt.with_timezone(&Utc).naive_utc());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_and_normalized_by_type() {
        let ts = ColumnType::TimestampTz;
        assert_eq!(
            normalize(&ts, "postgres", "u", "2026-01-31T12:00:00.5+01:00").unwrap(),
            "2026-01-31 11:00:00.500000+00"
        );
        assert_eq!(
            normalize(&ColumnType::Timestamp, "mysql", "u", "2026-01-31 12:00:00").unwrap(),
            "2026-01-31 12:00:00.000000"
        );
        assert_eq!(
            normalize(&ColumnType::Int64, "postgres", "id", " 42 ").unwrap(),
            "42"
        );
        let e = normalize(&ColumnType::Int16, "postgres", "id", "70000").unwrap_err();
        assert!(e.to_string().contains("value.id"), "{e}");
        assert!(normalize(&ts, "postgres", "u", "yesterday").is_err());
        let dec = ColumnType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(normalize(&dec, "mysql", "d", "-12.50").unwrap(), "-12.50");
        assert!(normalize(&dec, "mysql", "d", "1.234").is_err());
        assert!(normalize(&dec, "mysql", "d", "1e5").is_err());
    }
}
