//! Field mapping and transforms in the task spec: `mapping`, `filter`, `sql`.
//!
//! ```text
//!  source columns ──▶ mapping: rename ▶ drop ▶ cast ▶ add ──▶ filter ──▶ sink columns
//!                 └─▶ sql: SELECT … FROM input (instead of mapping/filter) ─┘
//! ```
//!
//! Only the shape is checked here (pure, no SQL engine): names, cast type
//! text, exclusivity. The engine checks columns, types and SQL against the
//! source schema at plan time, before anything is written.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::ColumnType;
use crate::{Error, Result};

/// Column mapping, applied in this order: `rename`, `drop`, `cast`, `add`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// Source column → new name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rename: BTreeMap<String, String>,
    /// Columns to leave out (by their name after `rename`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
    /// Column (name after `rename`) → target type, in canonical text form
    /// (`int64`, `decimal(12,2)`, `varchar(20)`, `date`, ...) or as a rule
    /// `{to: timestamptz, time_zone: "+02:00"}`. Only lossless casts and parses
    /// are accepted; a text value that does not parse fails the run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cast: BTreeMap<String, CastSpec>,
    /// New column → constant or SQL expression over the source row (source
    /// column names), e.g. `"'eu'"` or `"amount * 2"`. Columns are added after
    /// the mapped ones, in the order written.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "ordered::serialize",
        deserialize_with = "ordered::deserialize"
    )]
    #[schemars(with = "BTreeMap<String, String>")]
    pub add: Vec<(String, String)>,
}

/// The target of one cast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CastSpec {
    /// Target type in canonical text form, e.g. `decimal(12,2)`.
    Type(String),
    /// Target type with an explicit rule.
    Rule(CastRule),
}

/// A cast with an explicit rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CastRule {
    /// Target type in canonical text form.
    pub to: String,
    /// For `timestamp` → `timestamptz`: the time zone the wall-clock values are
    /// in (`UTC`, an offset like `+02:00`, or an IANA name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl CastSpec {
    /// The target type text.
    pub fn to(&self) -> &str {
        match self {
            CastSpec::Type(t) => t,
            CastSpec::Rule(r) => &r.to,
        }
    }

    /// The time zone of an explicit timestamp → timestamptz rule.
    pub fn time_zone(&self) -> Option<&str> {
        match self {
            CastSpec::Type(_) => None,
            CastSpec::Rule(r) => r.time_zone.as_deref(),
        }
    }

    /// The target type, parsed.
    pub fn target(&self) -> Result<ColumnType> {
        self.to()
            .parse()
            .map_err(|e: crate::types::ParseColumnTypeError| {
                Error::invalid("mapping.cast", e.to_string())
            })
    }
}

fn check_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.contains('\0') || name.len() > 128 {
        return Err(Error::invalid(
            field,
            format!("{name:?} is not a valid column name; use 1 to 128 characters, no NUL"),
        ));
    }
    Ok(())
}

fn check_text(field: &str, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if text.len() > 64 * 1024 || text.contains('\0') {
        return Err(Error::invalid(
            field,
            "must be at most 65536 bytes and contain no NUL",
        ));
    }
    Ok(())
}

/// Checks the transform fields of a task without knowing the source schema.
pub fn validate(
    mapping: Option<&MappingSpec>,
    filter: Option<&str>,
    sql: Option<&str>,
) -> Result<()> {
    if let Some(sql) = sql {
        if mapping.is_some() || filter.is_some() {
            return Err(Error::invalid(
                "sql",
                "`sql` replaces `mapping` and `filter`: use either `sql` alone, or `mapping`/`filter`; \
                 put renames, casts and the row filter into the SELECT",
            ));
        }
        check_text("sql", sql)?;
    }
    if let Some(f) = filter {
        check_text("filter", f)?;
    }
    let Some(m) = mapping else { return Ok(()) };
    let mut targets = HashSet::new();
    for (old, new) in &m.rename {
        check_name("mapping.rename", old)?;
        check_name(&format!("mapping.rename.{old}"), new)?;
        if !targets.insert(new) {
            return Err(Error::invalid(
                format!("mapping.rename.{old}"),
                format!("two columns are renamed to `{new}`"),
            ));
        }
    }
    let mut dropped = HashSet::new();
    for (i, d) in m.drop.iter().enumerate() {
        check_name(&format!("mapping.drop[{i}]"), d)?;
        if !dropped.insert(d) {
            return Err(Error::invalid(
                format!("mapping.drop[{i}]"),
                format!("column `{d}` is listed twice"),
            ));
        }
    }
    for (col, cast) in &m.cast {
        let field = format!("mapping.cast.{col}");
        check_name(&field, col)?;
        if dropped.contains(col) {
            return Err(Error::invalid(
                field,
                format!("column `{col}` is dropped; it cannot also be cast"),
            ));
        }
        let to: ColumnType =
            cast.to()
                .parse()
                .map_err(|e: crate::types::ParseColumnTypeError| {
                    Error::invalid(&field, e.to_string())
                })?;
        if let Some(tz) = cast.time_zone() {
            if to != ColumnType::TimestampTz {
                return Err(Error::invalid(
                    field,
                    "`time_zone` is only meaningful for a cast to `timestamptz`",
                ));
            }
            if tz.trim().is_empty() || tz.len() > 64 {
                return Err(Error::invalid(field, "`time_zone` must name a time zone"));
            }
        }
    }
    let mut added = HashSet::new();
    for (name, expr) in &m.add {
        let field = format!("mapping.add.{name}");
        check_name(&field, name)?;
        check_text(&field, expr)?;
        if !added.insert(name) {
            return Err(Error::invalid(
                field,
                format!("column `{name}` is added twice"),
            ));
        }
    }
    Ok(())
}

/// A string map that keeps the order it was written in.
mod ordered {
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(v.len()))?;
        for (k, x) in v {
            m.serialize_entry(k, x)?;
        }
        m.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of column name to SQL expression")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, String)> = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, String>()? {
                    if out.iter().any(|(x, _)| *x == k) {
                        return Err(serde::de::Error::custom(format!(
                            "column `{k}` is added twice"
                        )));
                    }
                    out.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use crate::TaskSpec;

    fn spec(extra: serde_json::Value) -> std::result::Result<TaskSpec, serde_json::Error> {
        let mut v = serde_json::json!({
            "name": "t",
            "source": {"type": "db", "url": "postgresql://h/db", "table": "a"},
            "sink": {"type": "db", "url": "postgresql://h/db", "table": "b"}
        });
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        serde_json::from_value(v)
    }

    #[test]
    fn mapping_parses_in_written_order_and_validates() {
        // From text: a JSON object's keys keep the order they are written in.
        let t: TaskSpec = serde_json::from_str(
            r#"{"name": "t",
                "source": {"type": "db", "url": "postgresql://h/db", "table": "a"},
                "sink": {"type": "db", "url": "postgresql://h/db", "table": "b"},
                "mapping": {
                    "rename": {"name": "customer"},
                    "drop": ["note"],
                    "cast": {"amount": "decimal(14,2)", "ts": {"to": "timestamptz", "time_zone": "UTC"}},
                    "add": {"z": "'eu'", "a": "amount * 2"}
                },
                "filter": "amount > 0"}"#,
        )
        .expect("parses");
        let m = t.mapping.as_ref().expect("mapping");
        assert_eq!(m.add[0].0, "z");
        assert_eq!(m.add[1], ("a".into(), "amount * 2".into()));
        assert_eq!(m.cast["ts"].time_zone(), Some("UTC"));
        t.check().expect("valid");
    }

    #[test]
    fn unknown_keys_in_mapping_are_named() {
        let err = spec(serde_json::json!({"mapping": {"renam": {"a": "b"}}})).expect_err("unknown");
        assert!(err.to_string().contains("renam"), "{err}");
        let err =
            spec(serde_json::json!({"mapping": {"cast": {"a": {"to": "int64", "zone": "x"}}}}))
                .expect_err("unknown rule key");
        assert!(
            err.to_string().contains("cast") || err.to_string().contains("variant"),
            "{err}"
        );
    }

    #[test]
    fn sql_with_mapping_or_filter_is_rejected() {
        for extra in [
            serde_json::json!({"sql": "SELECT * FROM input", "mapping": {"drop": ["x"]}}),
            serde_json::json!({"sql": "SELECT * FROM input", "filter": "x > 1"}),
        ] {
            let err = spec(extra).expect("parses").check().expect_err("exclusive");
            let msg = err.to_string();
            assert!(msg.contains("`sql`") && msg.contains("either"), "{msg}");
        }
    }

    #[test]
    fn bad_cast_type_text_names_the_column_and_the_allowed_types() {
        let err = spec(serde_json::json!({"mapping": {"cast": {"amount": "decimal(50,2)"}}}))
            .expect("parses")
            .check()
            .expect_err("bad type");
        let msg = err.to_string();
        assert!(
            msg.contains("mapping.cast.amount") && msg.contains("decimal(p,s)"),
            "{msg}"
        );
        let err = spec(
            serde_json::json!({"mapping": {"cast": {"d": {"to": "int64", "time_zone": "UTC"}}}}),
        )
        .expect("parses")
        .check()
        .expect_err("tz on int");
        assert!(err.to_string().contains("time_zone"), "{err}");
    }

    #[test]
    fn empty_texts_and_duplicates_are_rejected() {
        for (extra, needle) in [
            (serde_json::json!({"filter": "  "}), "filter"),
            (serde_json::json!({"sql": ""}), "sql"),
            (
                serde_json::json!({"mapping": {"add": {"x": ""}}}),
                "mapping.add.x",
            ),
            (
                serde_json::json!({"mapping": {"rename": {"a": "c", "b": "c"}}}),
                "renamed to `c`",
            ),
            (
                serde_json::json!({"mapping": {"drop": ["a", "a"]}}),
                "mapping.drop[1]",
            ),
            (
                serde_json::json!({"mapping": {"drop": ["a"], "cast": {"a": "int64"}}}),
                "dropped",
            ),
        ] {
            let err = spec(extra).expect("parses").check().expect_err("invalid");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
