//! The Delta connector's spec: where the table is (the storage settings of
//! the files connector: a local directory or an S3-compatible prefix), how
//! a new table is partitioned, and which version(s) a source reads.

use std::fmt;

use ferry_core::spec::Trust;
use ferry_core::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::files::{Compression, FilesEndpoint, S3Options};

/// A Delta Lake table at a location.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeltaEndpoint {
    /// Where the table is (the directory holding `_delta_log/`):
    /// `s3://bucket/prefix`, `file:///abs/dir`, or a local directory. On
    /// `ferry server`, a local directory must lie under its `--files-root`.
    pub url: String,
    /// A relative path under `url` (`orders/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// S3-compatible object storage settings (for `s3://` URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Options>,
    /// Sink: the partition columns of a table the run creates (an existing
    /// table keeps its own; naming others is an error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_by: Vec<String>,
    /// Sink: Parquet compression codec of the data files.
    #[serde(default)]
    pub compression: Compression,
    /// Sink: a data file is closed once it holds about this many bytes.
    #[serde(default = "default_file_bytes")]
    pub file_bytes: u64,
    /// Source: read the table as of this version (default: the latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Source: read only the rows that the commits after version `after`,
    /// up to and including `until` (default: the latest), appended. Every
    /// commit in the range must only add data files (appends); a commit that
    /// removes or rewrites files fails the read, naming its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<VersionRange>,
}

/// Commits `(after, until]` of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionRange {
    /// The version already read (its rows are not read again).
    pub after: u64,
    /// The last version read (default: the latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
}

fn default_file_bytes() -> u64 {
    128 << 20
}

impl fmt::Debug for DeltaEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeltaEndpoint")
            .field("url", &self.url)
            .field("path", &self.path)
            .field("s3", &self.s3)
            .field("partition_by", &self.partition_by)
            .field("version", &self.version)
            .field("versions", &self.versions)
            .finish()
    }
}

impl DeltaEndpoint {
    /// The storage part, as the files connector checks and opens it.
    pub(crate) fn storage(&self) -> FilesEndpoint {
        FilesEndpoint::storage_at(self.url.clone(), self.path.clone(), self.s3.clone())
    }

    /// Checks the endpoint as `trust` allows; returns its checked storage.
    pub(crate) fn check(&mut self, field: &str, trust: &Trust) -> Result<FilesEndpoint> {
        let at = |name: &str| match field {
            "" => name.to_string(),
            _ => format!("{field}.{name}"),
        };
        let mut storage = self.storage();
        storage.check(field, trust)?;
        self.url = storage.url.clone().unwrap_or_default();
        self.path = storage.path.clone();
        if !(1 << 20..=1 << 40).contains(&self.file_bytes) {
            return Err(Error::invalid(
                at("file_bytes"),
                format!("{} is out of range: 1 MiB to 1 TiB", self.file_bytes),
            ));
        }
        if self.version.is_some() && self.versions.is_some() {
            return Err(Error::invalid(
                at("versions"),
                "give `version` (a snapshot) or `versions` (appended rows), not both",
            ));
        }
        if let Some(r) = self.versions
            && r.until.is_some_and(|u| u <= r.after)
        {
            return Err(Error::invalid(
                at("versions.until"),
                format!("must be greater than `after` ({})", r.after),
            ));
        }
        for (i, c) in self.partition_by.iter().enumerate() {
            if c.is_empty() || self.partition_by[..i].contains(c) {
                return Err(Error::invalid(
                    at("partition_by"),
                    format!("`{c}` must be a column name, given once"),
                ));
            }
        }
        Ok(storage)
    }
}
