//! Registering a files dataset in a Hive Metastore, so Hive, Spark, Trino
//! and StarRocks external catalogs see it as an external Parquet table.
//!
//! ```text
//!  prepare  the metastore answers; an existing table must have the run's columns
//!           (names and Hive types), partition keys and location, else nothing is written
//!  commit   after the files are published: the database and the EXTERNAL table are
//!           created if missing (columns from the Arrow schema, partition keys from the
//!           layout, Parquet serde), then the run's partition is added — or, when it
//!           exists, altered with the new statistics (numRows, numFiles, totalSize)
//! ```
//!
//! The partition points at the same directory the files were published into, so
//! metastore readers see a replaced window change when its files do (see
//! [`super::publish`]).

use chrono::Utc;
use ferry_core::{ColumnType, Error, Result, TableSchema};

use super::columns::{DEFAULT_PARTITION, unescape};
use super::metastore::Metastore;
use super::publish::Manifest;
use super::source::same_location;
use super::spec::HiveTable;
use super::thrift::{Reply, TValue};

const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
const PARQUET_INPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
const PARQUET_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";

/// The Hive type of a column, `None` when Hive has none (`time`).
pub(crate) fn hive_type(ty: &ColumnType) -> Option<String> {
    Some(match ty {
        ColumnType::Bool => "boolean".into(),
        ColumnType::Int16 => "smallint".into(),
        ColumnType::Int32 => "int".into(),
        ColumnType::Int64 => "bigint".into(),
        ColumnType::Float32 => "float".into(),
        ColumnType::Float64 => "double".into(),
        ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        ColumnType::DecimalText | ColumnType::Text { .. } | ColumnType::Json => "string".into(),
        ColumnType::Binary | ColumnType::Uuid => "binary".into(),
        ColumnType::Date => "date".into(),
        ColumnType::Timestamp | ColumnType::TimestampTz => "timestamp".into(),
        ColumnType::Time | ColumnType::Interval => return None,
        ColumnType::List(e) => format!("array<{}>", hive_type(e)?),
    })
}

/// A metastore table of a files sink.
pub(crate) struct Registration {
    ms: Metastore,
    /// `(name, hive type)` of the columns.
    columns: Vec<(String, String)>,
    /// Partition key names (each `string`).
    keys: Vec<(String, String)>,
    /// The table's location as the metastore's readers name it.
    location: String,
}

impl Registration {
    /// The registration of `schema` with partition `keys` at `location`;
    /// refuses a column Hive cannot type.
    pub(crate) fn new(
        hive: &HiveTable,
        schema: &TableSchema,
        keys: Vec<(String, String)>,
        location: String,
    ) -> Result<Registration> {
        let keys: Vec<(String, String)> = keys
            .into_iter()
            .map(|(k, t)| (k.to_ascii_lowercase(), t))
            .collect();
        let mut problems = Vec::new();
        let mut columns = Vec::new();
        for c in &schema.columns {
            match hive_type(&c.ty) {
                Some(t) => columns.push((c.name.to_ascii_lowercase(), t)),
                None => problems.push(format!(
                    "column `{}` is {}: Hive has no such type; cast it to text (`mapping.cast: {{{}: text}}`)",
                    c.name, c.ty, c.name
                )),
            }
            if keys.iter().any(|(k, _)| k.eq_ignore_ascii_case(&c.name)) {
                problems.push(format!(
                    "column `{}` has the name of a partition key; rename it (`mapping.rename`)",
                    c.name
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Schema {
                table: hive.display(),
                problems,
            });
        }
        Ok(Registration {
            ms: Metastore { hive: hive.clone() },
            columns,
            keys,
            location,
        })
    }

    /// Checks the metastore answers and an existing table fits the run.
    pub(crate) async fn check(&self) -> Result<()> {
        let Some(table) = self.ms.get_table().await? else {
            return Ok(());
        };
        let mut problems = Vec::new();
        let sd = table.field(7);
        let cols = fields(sd.and_then(|s| s.field(1)));
        if cols != self.columns {
            problems.push(format!(
                "its columns are {}; the run writes {}",
                show(&cols),
                show(&self.columns)
            ));
        }
        let keys = fields(table.field(8));
        if keys != self.keys {
            problems.push(format!(
                "its partition keys are {}; the sink's layout gives {}",
                show(&keys),
                show(&self.keys)
            ));
        }
        let location = sd
            .and_then(|s| s.field(2))
            .and_then(TValue::as_str)
            .unwrap_or("");
        if same_location(location) != same_location(&self.location) {
            problems.push(format!(
                "its location is {location}; the sink writes {}",
                self.location
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Schema {
                table: self.ms.hive.display(),
                problems,
            })
        }
    }

    /// Creates what is missing and adds or alters the published partition.
    pub(crate) async fn register(&self, partition: &str, manifest: &Manifest) -> Result<()> {
        self.ensure_database().await?;
        if self.ms.get_table().await?.is_none() {
            let created = self
                .ms
                .call("create_table", vec![(1, self.table_value())])
                .await?;
            // Another run may have created it since the check.
            if let Reply::Thrown(id, m) = created
                && id != 1
            {
                return Err(self.ms.refused("create_table", &m));
            }
        }
        if self.keys.is_empty() {
            return Ok(());
        }
        let now = Utc::now().timestamp() as i32;
        let values: Vec<String> = partition
            .split('/')
            .map(|level| {
                let value = level.split_once('=').map_or("", |(_, v)| v);
                unescape(value).unwrap_or_else(|| DEFAULT_PARTITION.to_string())
            })
            .collect();
        let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
        let parameters = TValue::string_map([
            ("numRows", manifest.rows.to_string()),
            ("numFiles", manifest.files.len().to_string()),
            ("totalSize", bytes.to_string()),
            ("transient_lastDdlTime", now.to_string()),
            ("ferry.run_id", manifest.run_id.clone()),
        ]);
        let location = format!("{}/{partition}", self.location);
        let part = TValue::Struct(vec![
            (1, TValue::string_list(values)),
            (2, TValue::str(&self.ms.hive.database)),
            (3, TValue::str(&self.ms.hive.table)),
            (4, TValue::I32(now)),
            (5, TValue::I32(0)),
            (6, self.storage(&location)),
            (7, parameters),
        ]);
        let existing = self
            .ms
            .call(
                "get_partition_by_name",
                vec![
                    (1, TValue::str(&self.ms.hive.database)),
                    (2, TValue::str(&self.ms.hive.table)),
                    (3, TValue::str(partition)),
                ],
            )
            .await?;
        let (method, args) = match existing {
            Reply::Ok(Some(_)) => (
                "alter_partition",
                vec![
                    (1, TValue::str(&self.ms.hive.database)),
                    (2, TValue::str(&self.ms.hive.table)),
                    (3, part),
                ],
            ),
            _ => ("add_partition", vec![(1, part)]),
        };
        match self.ms.call(method, args.clone()).await? {
            Reply::Ok(_) => Ok(()),
            // 2: AlreadyExistsException: added meanwhile; alter it instead.
            Reply::Thrown(2, _) if method == "add_partition" => {
                let Some((_, part)) = args.into_iter().next() else {
                    return Err(Error::Internal("add_partition without a partition".into()));
                };
                let altered = self
                    .ms
                    .call(
                        "alter_partition",
                        vec![
                            (1, TValue::str(&self.ms.hive.database)),
                            (2, TValue::str(&self.ms.hive.table)),
                            (3, part),
                        ],
                    )
                    .await?;
                match altered {
                    Reply::Ok(_) => Ok(()),
                    Reply::Thrown(_, m) => Err(self.ms.refused("alter_partition", &m)),
                }
            }
            Reply::Thrown(_, m) => Err(self.ms.refused(method, &m)),
        }
    }

    async fn ensure_database(&self) -> Result<()> {
        let got = self
            .ms
            .call(
                "get_database",
                vec![(1, TValue::str(&self.ms.hive.database))],
            )
            .await?;
        if let Reply::Ok(Some(_)) = got {
            return Ok(());
        }
        let db = TValue::Struct(vec![
            (1, TValue::str(&self.ms.hive.database)),
            (2, TValue::str("created by Ferry")),
            (4, TValue::string_map([])),
        ]);
        match self.ms.call("create_database", vec![(1, db)]).await? {
            // 1: AlreadyExistsException (created meanwhile).
            Reply::Ok(_) | Reply::Thrown(1, _) => Ok(()),
            Reply::Thrown(_, m) => Err(self.ms.refused("create_database", &m)),
        }
    }

    fn table_value(&self) -> TValue {
        let keys = self.keys.iter().map(|(k, t)| field_schema(k, t)).collect();
        TValue::Struct(vec![
            (1, TValue::str(&self.ms.hive.table)),
            (2, TValue::str(&self.ms.hive.database)),
            (3, TValue::str("ferry")),
            (4, TValue::I32(Utc::now().timestamp() as i32)),
            (5, TValue::I32(0)),
            (6, TValue::I32(0)),
            (7, self.storage(&self.location)),
            (8, TValue::struct_list(keys)),
            (
                9,
                TValue::string_map([
                    ("EXTERNAL", "TRUE".to_string()),
                    ("ferry.format", "parquet".to_string()),
                ]),
            ),
            (12, TValue::str("EXTERNAL_TABLE")),
        ])
    }

    /// A Parquet storage descriptor at `location`.
    fn storage(&self, location: &str) -> TValue {
        let cols = self
            .columns
            .iter()
            .map(|(n, t)| field_schema(n, t))
            .collect();
        TValue::Struct(vec![
            (1, TValue::struct_list(cols)),
            (2, TValue::str(location)),
            (3, TValue::str(PARQUET_INPUT)),
            (4, TValue::str(PARQUET_OUTPUT)),
            (5, TValue::Bool(false)),
            (6, TValue::I32(-1)),
            (
                7,
                TValue::Struct(vec![
                    (1, TValue::str("")),
                    (2, TValue::str(PARQUET_SERDE)),
                    (
                        3,
                        TValue::string_map([("serialization.format", "1".to_string())]),
                    ),
                ]),
            ),
            (8, TValue::string_list([])),
            (9, TValue::struct_list(Vec::new())),
            (10, TValue::string_map([])),
        ])
    }
}

fn field_schema(name: &str, ty: &str) -> TValue {
    TValue::Struct(vec![
        (1, TValue::str(name)),
        (2, TValue::str(ty)),
        (3, TValue::str("")),
    ])
}

/// `(name, type)` of a `list<FieldSchema>`.
fn fields(list: Option<&TValue>) -> Vec<(String, String)> {
    list.map(TValue::as_list)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let s = |id| {
                f.field(id)
                    .and_then(TValue::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (s(1), s(2))
        })
        .collect()
}

fn show(cols: &[(String, String)]) -> String {
    let parts: Vec<String> = cols.iter().map(|(n, t)| format!("{n} {t}")).collect();
    format!("({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_types_follow_the_column_types() {
        assert_eq!(
            hive_type(&ColumnType::decimal(Some(12), Some(2))).as_deref(),
            Some("decimal(12,2)")
        );
        assert_eq!(
            hive_type(&ColumnType::list(ColumnType::Int32)).as_deref(),
            Some("array<int>")
        );
        assert_eq!(hive_type(&ColumnType::Time), None);
        assert_eq!(
            hive_type(&ColumnType::TimestampTz).as_deref(),
            Some("timestamp")
        );
    }
}
