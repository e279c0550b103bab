//! The conform step: between the source (or transform) and the sink, check
//! each value that goes into a narrower target column, and route the rows
//! whose values do not fit to dirty data — never cut, round or wrap them.
//!
//! ```text
//!  batch ──▶ per checked column: value fits target? ──no──▶ DirtyRecord (reason, key, row JSON)
//!                       │ yes                                    │
//!                       ▼                                        ▼
//!              filter out dirty rows ──▶ sink         DirtyRouter (count, threshold, sink)
//! ```
//!
//! Only the columns whose source type does not already fit the target type
//! losslessly ([`ColumnType::fits_into`]) are checked, so an identical
//! schema costs nothing. Float columns are also checked when the sink cannot
//! store NaN or ±Infinity ([`SinkWriter::float_specials`]: MariaDB stores
//! neither, SQLite turns NaN into NULL): such a value makes its row dirty
//! (reason `conversion`) instead of being altered or failing the load.
//!
//! [`SinkWriter::float_specials`]: ferry_core::SinkWriter::float_specials

use ferry_core::types::POW10;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type};
use arrow::record_batch::RecordBatch;
use ferry_core::connector::FloatSpecials;
use ferry_core::reject::row_json;
use ferry_core::spec::{DirtyReason, DirtyRecord};
use ferry_core::{ColumnType, Error, Result, TableSchema};

use crate::dirty::DirtyRouter;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    MaxChars(u32),
    IntRange(i64, i64),
    IntToDecimal {
        limit: i128,
    },
    Rescale {
        from: u8,
        to: u8,
        precision: u8,
    },
    ExactFloat32,
    /// A float the target must hold; `FloatSpecials` says which special values it can.
    FloatSpecial(FloatSpecials, &'static str),
}

impl Check {
    fn between(src: &ColumnType, dst: &ColumnType) -> Option<Check> {
        use ColumnType::*;
        if src.fits_into(dst) {
            return None;
        }
        Some(match (src, dst) {
            (
                Text { .. } | Json | DecimalText,
                Text {
                    max_chars: Some(n), ..
                },
            ) => Check::MaxChars(*n),
            (Int16 | Int32 | Int64, Int16) => Check::IntRange(i16::MIN.into(), i16::MAX.into()),
            (Int16 | Int32 | Int64, Int32) => Check::IntRange(i32::MIN.into(), i32::MAX.into()),
            (Int16 | Int32 | Int64, Decimal { precision, scale }) => Check::IntToDecimal {
                limit: POW10[(precision - scale) as usize],
            },
            (
                Decimal { scale: from, .. },
                Decimal {
                    precision,
                    scale: to,
                },
            ) => Check::Rescale {
                from: *from,
                to: *to,
                precision: *precision,
            },
            (Float64, Float32) => Check::ExactFloat32,
            _ => return None,
        })
    }

    /// Whether any value of `array` may violate the check: a quick scan of
    /// the whole column where one exists (float columns are almost always
    /// finite), so the row-by-row check runs only when it can find something.
    fn may_fail(&self, array: &ArrayRef) -> bool {
        match self {
            Check::FloatSpecial(..) => match array.as_primitive_opt::<Float64Type>() {
                Some(a) => a.values().iter().any(|v| !v.is_finite()),
                None => array
                    .as_primitive::<Float32Type>()
                    .values()
                    .iter()
                    .any(|v| !v.is_finite()),
            },
            _ => true,
        }
    }

    /// `None` if the value fits, else why not.
    fn violation(
        &self,
        array: &ArrayRef,
        i: usize,
        dst: &ColumnType,
    ) -> Option<(DirtyReason, String)> {
        match *self {
            Check::MaxChars(n) => {
                let s = array.as_string::<i32>().value(i);
                let chars = if s.len() <= n as usize {
                    s.len()
                } else {
                    s.chars().count()
                };
                (chars > n as usize).then(|| {
                    (
                        DirtyReason::Truncation,
                        format!("{chars} characters do not fit {dst} (at most {n})"),
                    )
                })
            }
            Check::IntRange(lo, hi) => {
                let v = int_value(array, i);
                (v < lo || v > hi).then(|| {
                    (
                        DirtyReason::Overflow,
                        format!("{v} is out of range for {dst}"),
                    )
                })
            }
            Check::IntToDecimal { limit } => {
                let v = int_value(array, i) as i128;
                (v.abs() >= limit)
                    .then(|| (DirtyReason::Overflow, format!("{v} does not fit {dst}")))
            }
            Check::Rescale {
                from,
                to,
                precision,
            } => {
                let v = array.as_primitive::<Decimal128Type>().value(i);
                let rescaled = if from > to {
                    let p = POW10[(from - to) as usize];
                    if v % p != 0 {
                        return Some((
                            DirtyReason::Truncation,
                            format!(
                                "{} has more than {to} decimal places for {dst}",
                                display(array, i)
                            ),
                        ));
                    }
                    Some(v / p)
                } else {
                    v.checked_mul(POW10[(to - from) as usize])
                };
                match rescaled {
                    Some(r) if r.unsigned_abs() < POW10[precision as usize] as u128 => None,
                    _ => Some((
                        DirtyReason::Overflow,
                        format!("{} does not fit {dst}", display(array, i)),
                    )),
                }
            }
            Check::ExactFloat32 => {
                let v = array.as_primitive::<Float64Type>().value(i);
                let exact = v.is_nan() || (v as f32) as f64 == v;
                (!exact).then(|| {
                    (
                        DirtyReason::Truncation,
                        format!("{v} has no exact float32 value"),
                    )
                })
            }
            Check::FloatSpecial(holds, connector) => {
                let v = match array.as_primitive_opt::<Float64Type>() {
                    Some(a) => a.value(i),
                    None => array.as_primitive::<Float32Type>().value(i).into(),
                };
                let refused = (v.is_nan() && !holds.nan) || (v.is_infinite() && !holds.infinity);
                refused.then(|| {
                    (
                        DirtyReason::Conversion,
                        format!(
                            "{v} cannot be stored in a {connector} {dst} column (it holds {})",
                            if holds.infinity {
                                "no NaN"
                            } else {
                                "only finite numbers"
                            }
                        ),
                    )
                })
            }
        }
    }
}

/// What the conform step checks against: the sink's view of the target.
#[derive(Debug, Clone, Copy)]
pub struct TargetChecks<'a> {
    /// The target's column types aligned with the schema, when the sink
    /// accepts values that must be checked ([`ferry_core::SinkWriter::target_types`]).
    pub types: Option<&'a [ColumnType]>,
    /// Special float values the target stores.
    pub float_specials: FloatSpecials,
    /// The sink's connector name, for messages.
    pub connector: &'static str,
}

fn int_value(array: &ArrayRef, i: usize) -> i64 {
    if let Some(a) = array.as_primitive_opt::<Int64Type>() {
        a.value(i)
    } else if let Some(a) = array.as_primitive_opt::<Int32Type>() {
        a.value(i).into()
    } else {
        array.as_primitive::<Int16Type>().value(i).into()
    }
}

fn display(array: &ArrayRef, i: usize) -> String {
    ferry_core::reject::display_value(array.as_ref(), i)
}

/// Checks batches against the target's column types.
pub struct Conform {
    checks: Vec<(usize, Check, ColumnType)>,
    schema: TableSchema,
    key_columns: Vec<usize>,
    task: String,
    run_id: String,
    router: Arc<DirtyRouter>,
    rows_seen: AtomicU64,
}

impl Conform {
    /// A conform step from `schema` into the target; `None` when every value
    /// of every column already fits.
    pub fn new(
        schema: &TableSchema,
        target: TargetChecks<'_>,
        task: &str,
        run_id: &str,
        router: Arc<DirtyRouter>,
    ) -> Option<Conform> {
        let mut checks: Vec<_> = match target.types {
            Some(targets) => schema
                .columns
                .iter()
                .zip(targets)
                .enumerate()
                .filter_map(|(i, (c, t))| Check::between(&c.ty, t).map(|k| (i, k, t.clone())))
                .collect(),
            None => Vec::new(),
        };
        if target.float_specials != FloatSpecials::ALL {
            for (i, c) in schema.columns.iter().enumerate() {
                if matches!(c.ty, ColumnType::Float32 | ColumnType::Float64) {
                    let dst = target.types.and_then(|t| t.get(i)).unwrap_or(&c.ty).clone();
                    checks.push((
                        i,
                        Check::FloatSpecial(target.float_specials, target.connector),
                        dst,
                    ));
                }
            }
        }
        if checks.is_empty() {
            return None;
        }
        let key_columns = schema
            .primary_key
            .iter()
            .filter_map(|k| schema.columns.iter().position(|c| &c.name == k))
            .collect();
        Some(Conform {
            checks,
            schema: schema.clone(),
            key_columns,
            task: task.to_string(),
            run_id: run_id.to_string(),
            router,
            rows_seen: AtomicU64::new(0),
        })
    }

    /// Removes and reports the rows of `batch` that do not fit the target.
    pub fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let base = self.rows_seen.fetch_add(n as u64, Ordering::Relaxed);
        let mut keep: Option<Vec<bool>> = None;
        for (ci, check, dst) in &self.checks {
            let array = batch.column(*ci);
            if !check.may_fail(array) {
                continue;
            }
            for i in 0..n {
                if array.is_null(i) || keep.as_ref().is_some_and(|k| !k[i]) {
                    continue;
                }
                if let Some((reason, message)) = check.violation(array, i, dst) {
                    keep.get_or_insert_with(|| vec![true; n])[i] = false;
                    self.router.report(DirtyRecord {
                        task: self.task.clone(),
                        run_id: self.run_id.clone(),
                        split: None,
                        position: self.position(&batch, i, base),
                        column: self.schema.columns[*ci].name.clone(),
                        reason,
                        message,
                        row: row_json(&batch, i),
                    })?;
                }
            }
        }
        match keep {
            None => Ok(batch),
            Some(k) => filter_record_batch(&batch, &BooleanArray::from(k))
                .map_err(|e| Error::Internal(format!("filtering dirty rows: {e}"))),
        }
    }

    fn position(&self, batch: &RecordBatch, i: usize, base: u64) -> String {
        if self.key_columns.is_empty() {
            return format!("row {}", base + i as u64 + 1);
        }
        self.key_columns
            .iter()
            .map(|&k| {
                format!(
                    "{}={}",
                    self.schema.columns[k].name,
                    display(batch.column(k), i)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ColumnDef;
    use ferry_core::spec::{DirtyPolicy, DirtySinkSpec};

    #[test]
    fn routes_values_that_do_not_fit_and_keeps_the_rest() {
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: ColumnType::Int64,
                    nullable: false,
                    native_type: "bigint".into(),
                    dialect: None,
                },
                ColumnDef {
                    name: "s".into(),
                    ty: ColumnType::Text {
                        max_chars: None,
                        fixed: false,
                    },
                    nullable: true,
                    native_type: "text".into(),
                    dialect: None,
                },
            ],
            primary_key: vec!["id".into()],
        };
        let path = std::env::temp_dir().join(format!("ferry-conform-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let policy = DirtyPolicy {
            max_rows: Some(10),
            sink: Some(DirtySinkSpec::Jsonl { path: path.clone() }),
            max_ratio: None,
        };
        let router = Arc::new(DirtyRouter::open(&policy, "run1").expect("router"));
        let targets = [
            ColumnType::Int16,
            ColumnType::Text {
                max_chars: Some(3),
                fixed: false,
            },
        ];
        let c = Conform::new(
            &schema,
            TargetChecks {
                types: Some(&targets),
                float_specials: FloatSpecials::ALL,
                connector: "postgres",
            },
            "t",
            "run1",
            router.clone(),
        )
        .expect("checks");
        let batch = RecordBatch::try_new(
            schema.arrow_schema(),
            vec![
                Arc::new(arrow::array::Int64Array::from(vec![1, 2, 70000, 4])),
                Arc::new(arrow::array::StringArray::from(vec![
                    Some("abc"),
                    Some("abcd"),
                    Some("x"),
                    None,
                ])),
            ],
        )
        .expect("batch");
        let out = c.apply(batch).expect("under the limit");
        assert_eq!(out.num_rows(), 2);
        assert_eq!(router.count(), 2);
        router.finish(4).expect("no ratio");
        let text = std::fs::read_to_string(&path).expect("dirty file");
        let recs: Vec<DirtyRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(
            (
                recs[0].column.as_str(),
                recs[0].reason,
                recs[0].position.as_str()
            ),
            ("id", DirtyReason::Overflow, "id=70000")
        );
        assert_eq!(
            (
                recs[1].column.as_str(),
                recs[1].reason,
                recs[1].position.as_str()
            ),
            ("s", DirtyReason::Truncation, "id=2")
        );
        assert_eq!(recs[1].row["s"], "abcd");
    }

    #[test]
    fn floats_the_target_cannot_hold_are_dirty() {
        let col = |name: &str, ty| ColumnDef {
            name: name.into(),
            native_type: String::new(),
            dialect: None,
            ty,
            nullable: true,
        };
        let schema = TableSchema {
            table: "t".into(),
            columns: vec![
                col("id", ColumnType::Int64),
                col("f", ColumnType::Float64),
                col("g", ColumnType::Float32),
            ],
            primary_key: vec!["id".into()],
        };
        let batch = RecordBatch::try_new(
            schema.arrow_schema(),
            vec![
                Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3, 4, 5])),
                Arc::new(arrow::array::Float64Array::from(vec![
                    Some(1.5),
                    Some(f64::NAN),
                    Some(f64::INFINITY),
                    None,
                    Some(-0.0),
                ])),
                Arc::new(arrow::array::Float32Array::from(vec![
                    1.0,
                    2.0,
                    3.0,
                    f32::NEG_INFINITY,
                    5.0,
                ])),
            ],
        )
        .expect("batch");
        let run = |specials: FloatSpecials| {
            let path = std::env::temp_dir().join(format!(
                "ferry-conform-f-{}-{}.jsonl",
                std::process::id(),
                specials.infinity
            ));
            let _ = std::fs::remove_file(&path);
            let policy = DirtyPolicy {
                max_rows: Some(10),
                sink: Some(DirtySinkSpec::Jsonl { path: path.clone() }),
                max_ratio: None,
            };
            let router = Arc::new(DirtyRouter::open(&policy, "run1").expect("router"));
            let target = TargetChecks {
                types: None,
                float_specials: specials,
                connector: "mysql",
            };
            let c = Conform::new(&schema, target, "t", "r", router.clone()).expect("checks");
            let out = c.apply(batch.clone()).expect("under the limit");
            router.finish(5).expect("flush");
            let recs: Vec<DirtyRecord> = std::fs::read_to_string(&path)
                .expect("dirty file")
                .lines()
                .map(|l| serde_json::from_str(l).expect("json"))
                .collect();
            let got: Vec<(String, String)> = recs
                .iter()
                .map(|r| {
                    assert_eq!(r.reason, DirtyReason::Conversion);
                    (r.position.clone(), r.column.clone())
                })
                .collect();
            (out.num_rows(), got, recs)
        };
        let (rows, got, recs) = run(FloatSpecials::FINITE);
        assert_eq!(rows, 2);
        let want = [("id=2", "f"), ("id=3", "f"), ("id=4", "g")];
        assert_eq!(
            got,
            want.map(|(p, c)| (p.to_string(), c.to_string())).to_vec()
        );
        assert!(
            recs[0]
                .message
                .contains("NaN cannot be stored in a mysql float64 column")
        );
        assert_eq!(recs[0].row["f"], "NaN");
        let (rows, got, _) = run(FloatSpecials::NO_NAN);
        assert_eq!((rows, got), (4, vec![("id=2".into(), "f".into())]));
        assert!(
            Conform::new(
                &schema,
                TargetChecks {
                    types: None,
                    float_specials: FloatSpecials::ALL,
                    connector: "postgres",
                },
                "t",
                "r",
                Arc::new(DirtyRouter::open(&DirtyPolicy::default(), "run1").expect("router")),
            )
            .is_none(),
            "a target that holds every float costs nothing"
        );
    }
}
