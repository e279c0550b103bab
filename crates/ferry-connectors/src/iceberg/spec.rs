//! The Iceberg connector's spec: the catalog (Iceberg's SQL catalog on a
//! SQLite file, the JDBC catalog's schema), the warehouse, the table, its
//! partition spec, and which snapshot(s) a source reads.

use ferry_core::spec::Trust;
use ferry_core::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::files::check_url;

/// An Iceberg table in a catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IcebergEndpoint {
    /// The catalog.
    pub catalog: CatalogSpec,
    /// The namespace, dotted for nested ones (`sales` or `lake.sales`);
    /// a sink creates it if missing.
    pub namespace: String,
    /// The table; a sink creates it if missing.
    pub table: String,
    /// Sink: the partition spec of a table the run creates (an existing
    /// table keeps its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_by: Vec<PartitionField>,
    /// Sink: a data file is closed once it holds about this many bytes.
    #[serde(default = "default_file_bytes")]
    pub file_bytes: u64,
    /// Source: read this snapshot (default: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<i64>,
    /// Source: read only the rows of the data files that the snapshots
    /// after `after`, up to and including `until` (default: the current),
    /// added and that are still live at `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<SnapshotRange>,
}

/// Iceberg's SQL catalog (the JDBC catalog's tables `iceberg_tables` and
/// `iceberg_namespace_properties`), readable by PyIceberg's `SqlCatalog`,
/// Spark's and Trino's JDBC catalogs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogSpec {
    /// The catalog database: a SQLite file (`sqlite:///abs/catalog.db` or a
    /// path); created if missing. On `ferry server` it must lie under the
    /// files root.
    pub uri: String,
    /// Where new tables' files go: `file:///abs/dir` or a directory (on
    /// `ferry server`, under the files root).
    pub warehouse: String,
    /// The catalog's name (its rows in the catalog tables).
    #[serde(default = "default_catalog_name")]
    pub name: String,
}

/// One field of a partition spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionField {
    /// The source column.
    pub column: String,
    /// The transform.
    #[serde(default)]
    pub transform: PartitionTransform,
}

/// Iceberg partition transforms Ferry creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartitionTransform {
    /// The value itself.
    #[default]
    Identity,
    /// Year of a date or timestamp.
    Year,
    /// Month of a date or timestamp.
    Month,
    /// Day of a date or timestamp.
    Day,
    /// Hour of a timestamp.
    Hour,
}

/// Snapshots `(after, until]` of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRange {
    /// The snapshot already read.
    pub after: i64,
    /// The last snapshot read (default: the current).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

fn default_file_bytes() -> u64 {
    128 << 20
}

fn default_catalog_name() -> String {
    "ferry".into()
}

/// A name part: letters, digits and `_`, not first a digit.
fn is_name(s: &str) -> bool {
    s.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.len() <= 255
}

impl IcebergEndpoint {
    /// Checks the endpoint as `trust` allows: local catalog and warehouse
    /// paths (under the files root on the server), names, sizes.
    pub(crate) fn check(&mut self, field: &str, trust: &Trust) -> Result<()> {
        let at = |name: &str| match field {
            "" => name.to_string(),
            _ => format!("{field}.{name}"),
        };
        // One absolute file path, nothing sqlx would decode or take as
        // options (`%`, `?`, `#`): the path checked is the path opened.
        let path = self
            .catalog
            .uri
            .strip_prefix("sqlite://")
            .or_else(|| self.catalog.uri.strip_prefix("sqlite:"))
            .unwrap_or(&self.catalog.uri)
            .to_string();
        if !path.starts_with('/') || path.ends_with('/') || path.contains(['%', '?', '#', '\0']) {
            return Err(Error::invalid(
                at("catalog.uri"),
                format!(
                    "`{}` must be a SQLite catalog file by absolute path (sqlite:///abs/catalog.db), without `%`, `?` or `#`",
                    self.catalog.uri
                ),
            ));
        }
        let file = check_url(&at("catalog.uri"), &path, trust)?;
        self.catalog.uri = file.strip_prefix("file://").unwrap_or(&file).to_string();
        let warehouse = check_url(&at("catalog.warehouse"), &self.catalog.warehouse, trust)?;
        if warehouse.starts_with("s3://") {
            return Err(Error::Unsupported {
                connector: super::CONNECTOR,
                capability:
                    "an S3 warehouse (Ferry's Iceberg tables are on local directories for now)"
                        .into(),
            });
        }
        self.catalog.warehouse = warehouse
            .strip_prefix("file://")
            .unwrap_or(&warehouse)
            .to_string();
        if !is_name(&self.catalog.name) {
            return Err(Error::invalid(
                at("catalog.name"),
                format!(
                    "`{}`: letters, digits and _, not first a digit",
                    self.catalog.name
                ),
            ));
        }
        if !self.namespace.split('.').all(is_name) {
            return Err(Error::invalid(
                at("namespace"),
                format!(
                    "`{}`: dotted names of letters, digits and _",
                    self.namespace
                ),
            ));
        }
        if !is_name(&self.table) {
            return Err(Error::invalid(
                at("table"),
                format!("`{}`: letters, digits and _, not first a digit", self.table),
            ));
        }
        if !(1 << 20..=1 << 40).contains(&self.file_bytes) {
            return Err(Error::invalid(
                at("file_bytes"),
                format!("{} is out of range: 1 MiB to 1 TiB", self.file_bytes),
            ));
        }
        if self.snapshot_id.is_some() && self.snapshots.is_some() {
            return Err(Error::invalid(
                at("snapshots"),
                "give `snapshot_id` (a snapshot) or `snapshots` (added rows), not both",
            ));
        }
        Ok(())
    }

    /// `namespace.table`.
    pub(crate) fn display(&self) -> String {
        format!("{}.{}", self.namespace, self.table)
    }
}
