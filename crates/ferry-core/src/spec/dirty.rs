//! The dirty-data policy: how many rows may be rejected, and where the
//! rejected rows go. Nothing is ever dropped silently: allowing any dirty row
//! requires a dirty sink to record it.

use std::path::PathBuf;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connector::SinkEndpoint;
use crate::{Error, Result};

/// What to do with rows whose values the target cannot hold exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirtyPolicy {
    /// Dirty rows allowed before the run fails; default 0 (the first dirty
    /// row fails the run and nothing is published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
    /// Largest allowed share of dirty rows among the rows read (0.0–1.0),
    /// checked when the read ends, before publishing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<f64>,
    /// Where dirty rows are recorded, with their reason. Required when any
    /// dirty row is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<DirtySinkSpec>,
}

/// Where dirty rows are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DirtySinkSpec {
    /// A JSON-lines file; each run appends its records.
    Jsonl {
        /// Path of the file (created if missing).
        path: PathBuf,
    },
    /// A directory of Parquet files (created if missing): each run that
    /// rejects rows writes one file `<run_id>.parquet`, published by rename
    /// when the run ends (also when it fails), so a reader never sees half a
    /// file.
    Parquet {
        /// The directory.
        dir: PathBuf,
    },
    /// A table in any SQL sink connector (created if missing); each run
    /// appends its records in their own transaction, before the run publishes.
    Table {
        /// The table, as a sink: `{type: postgres, url: …, table: …}`.
        #[schemars(with = "super::SinkSchema")]
        target: super::SinkSpec,
    },
}

/// Why a row is dirty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DirtyReason {
    /// The value has no representation in the target type (e.g. `infinity`, NaN, a zero date).
    Conversion,
    /// A number outside the target's range or precision.
    Overflow,
    /// Text or digits the target would cut (longer than `varchar(n)`, more decimal places).
    Truncation,
    /// Bytes that are not valid text in the target's encoding.
    Encoding,
    /// The target rejected the row (key, NOT NULL, CHECK).
    Constraint,
    /// An incremental run cannot place the row: its cursor is NULL.
    NullCursor,
}

/// One rejected row, as recorded in the dirty sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirtyRecord {
    /// Task name.
    pub task: String,
    /// The run (instance attempt) that rejected it.
    pub run_id: String,
    /// Split index, when the source rejected it.
    pub split: Option<u32>,
    /// Source position: the primary-key values, or the row number in its split.
    pub position: String,
    /// The column whose value is dirty.
    pub column: String,
    /// Why.
    pub reason: DirtyReason,
    /// What exactly is wrong with the value.
    pub message: String,
    /// The whole row as typed JSON (`ferry_core::json_form`): numbers JSON
    /// carries exactly as numbers, others as exact strings, lists as arrays.
    pub row: serde_json::Value,
}

impl DirtyPolicy {
    /// The effective row limit (0 when none is set).
    pub fn row_limit(&self) -> u64 {
        self.max_rows.unwrap_or(if self.max_ratio.is_some() {
            u64::MAX
        } else {
            0
        })
    }

    /// Checks the policy; returns it with its local paths as the run uses
    /// them, and the dirty table's sink when the sink is a table.
    pub(crate) fn validate(
        &self,
        connectors: &dyn super::Connectors,
        trust: &super::Trust,
    ) -> Result<(DirtyPolicy, Option<Arc<dyn SinkEndpoint>>)> {
        if let Some(r) = self.max_ratio
            && !(0.0..=1.0).contains(&r)
        {
            return Err(Error::invalid(
                "dirty.max_ratio",
                format!("{r} is out of range; allowed: 0.0 to 1.0"),
            ));
        }
        let allows_dirty =
            self.max_rows.unwrap_or(0) > 0 || self.max_ratio.is_some_and(|r| r > 0.0);
        if allows_dirty && self.sink.is_none() {
            return Err(Error::invalid(
                "dirty.sink",
                "a dirty sink is required when dirty rows are allowed (max_rows > 0 or max_ratio > 0), \
                 so that no row is dropped without a record; e.g. sink: {type: jsonl, path: dirty.jsonl}",
            ));
        }
        let mut policy = self.clone();
        let table = match &mut policy.sink {
            Some(DirtySinkSpec::Jsonl { path }) => {
                *path = trust.local_path("dirty.sink.path", path)?;
                None
            }
            Some(DirtySinkSpec::Parquet { dir }) => {
                *dir = trust.local_path("dirty.sink.dir", dir)?;
                None
            }
            Some(DirtySinkSpec::Table { target }) => {
                let sink = connectors.sink("dirty.sink.target", target, trust)?;
                target.connector = sink.connector().to_string();
                Some(sink)
            }
            None => None,
        };
        Ok((policy, table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testing::{Fake, local};

    impl DirtyPolicy {
        fn check(&self) -> Result<()> {
            self.validate(&Fake, &local()).map(|_| ())
        }
    }

    #[test]
    fn allowing_dirty_rows_needs_a_sink() {
        let p = DirtyPolicy {
            max_rows: Some(10),
            ..Default::default()
        };
        assert!(
            p.check()
                .expect_err("no sink")
                .to_string()
                .contains("dirty.sink")
        );
        let p = DirtyPolicy {
            max_rows: Some(10),
            sink: Some(DirtySinkSpec::Jsonl {
                path: "d.jsonl".into(),
            }),
            ..Default::default()
        };
        assert!(p.check().is_ok());
        assert_eq!(DirtyPolicy::default().row_limit(), 0);
        let p = DirtyPolicy {
            max_ratio: Some(1.5),
            ..Default::default()
        };
        assert!(
            p.check()
                .expect_err("ratio")
                .to_string()
                .contains("dirty.max_ratio")
        );
    }
}
