//! The files connector's spec: where the files are (a local directory or an
//! S3-compatible bucket and prefix), their format, and how a sink lays out
//! partitions. A named connection holds the storage (`url` and `s3`, the
//! secret sealed by the server); an endpoint adds its `path` under it.

use std::fmt;

use ferry_core::spec::{REDACTED, Trust};
use ferry_core::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::connector::unresolved;

/// Files under a directory or object-store prefix, in one format.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilesEndpoint {
    /// Where the dataset is: `s3://bucket/prefix`, `file:///abs/dir`, or a
    /// local directory. Give `url` or `connection`. On `ferry server`, a
    /// local directory must lie under its `--files-root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Name of a files connection kept by `ferry server` (its `url` and
    /// `s3` settings); instead of `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// A relative path under `url` (`orders/`): the dataset's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// S3-compatible object storage settings (for `s3://` URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Options>,
    /// File format.
    #[serde(default)]
    pub format: Format,
    /// Parquet compression codec (sink; CSV and JSON lines are not compressed).
    #[serde(default)]
    pub compression: Compression,
    /// Target size of a Parquet row group in bytes, as buffered before
    /// encoding (sink).
    #[serde(default = "default_row_group_bytes")]
    pub row_group_bytes: u64,
    /// A file is closed and the next one started once it holds this many
    /// bytes (sink).
    #[serde(default = "default_file_bytes")]
    pub file_bytes: u64,
    /// Hive-style partition directories (sink), e.g. `dt=2026-11-25/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partitioning>,
    /// A Hive Metastore table: a sink registers the dataset as an external
    /// Parquet table and each published partition; a source reads the
    /// partitions the metastore lists (which must lie under `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hive: Option<HiveTable>,
}

/// A table of a Hive Metastore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HiveTable {
    /// The metastore's Thrift address: `thrift://host:9083`.
    pub metastore: String,
    /// Database (created if missing).
    #[serde(default = "default_database")]
    pub database: String,
    /// Table name (created as an EXTERNAL table if missing).
    pub table: String,
}

fn default_database() -> String {
    "default".into()
}

impl HiveTable {
    /// `database.table`.
    pub(crate) fn display(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    /// `host:port` of the metastore.
    pub(crate) fn address(&self) -> &str {
        self.metastore
            .strip_prefix("thrift://")
            .unwrap_or(&self.metastore)
    }

    fn check(&mut self, field: &str, trust: &Trust) -> Result<()> {
        let host = self
            .metastore
            .strip_prefix("thrift://")
            .and_then(|a| a.rsplit_once(':'))
            .filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
            .map(|(h, _)| h.trim_matches(|c| c == '[' || c == ']').to_string());
        let Some(host) = host else {
            return Err(Error::invalid(
                format!("{field}.metastore"),
                format!("`{}` must be thrift://host:port", self.metastore),
            ));
        };
        refuse_link_local(&format!("{field}.metastore"), &host, trust)?;
        for (name, value) in [("database", &mut self.database), ("table", &mut self.table)] {
            let ok = value
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && value.len() <= 128;
            if !ok {
                return Err(Error::invalid(
                    format!("{field}.{name}"),
                    format!(
                        "`{value}` must be a Hive name: letters, digits and _, not first a digit"
                    ),
                ));
            }
            *value = value.to_ascii_lowercase();
        }
        Ok(())
    }
}

fn default_row_group_bytes() -> u64 {
    64 << 20
}

fn default_file_bytes() -> u64 {
    256 << 20
}

/// How a sink places rows into partition directories: the window's levels
/// first, then one level per column (`dt=2026-11-25/region=eu/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Partitioning {
    /// The directory of a run's rows from its window start, as
    /// `name=<strftime>` segments: `dt=%Y-%m-%d` or `dt=%Y-%m-%d/hour=%H`.
    /// A rerun of the window replaces exactly that directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// IANA time zone the window start is formatted in (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Columns whose values name further levels (`region=eu`), Hive style:
    /// the values are in the directory names, not in the files. A run
    /// replaces (overwrite) or adds to (append) the partitions it writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

/// Settings of an S3-compatible store.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// The service's URL (`http://127.0.0.1:9000`); default: AWS S3 of
    /// `region`. An `http://` endpoint sends requests, and the secret's
    /// signatures, in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint`
    /// (most S3-compatible servers want this).
    #[serde(default)]
    pub path_style: bool,
    /// Access key id. Without keys, requests are anonymous (`ferry run`
    /// also takes the usual `AWS_*` environment variables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Secret access key (sealed by the server, never shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| REDACTED),
            )
            .finish()
    }
}

impl fmt::Debug for FilesEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilesEndpoint")
            .field("url", &self.url)
            .field("connection", &self.connection)
            .field("path", &self.path)
            .field("s3", &self.s3)
            .field("format", &self.format)
            .field("partition", &self.partition)
            .field("hive", &self.hive)
            .finish_non_exhaustive()
    }
}

/// File format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Apache Parquet, with the Arrow schema (and Ferry's column types) in
    /// its metadata.
    #[default]
    Parquet,
    /// CSV with a header line (sink only): NULL an empty field, strings
    /// quoted, values in exact text.
    Csv,
    /// One JSON object per line (sink only), values in exact typed JSON.
    Jsonl,
}

impl Format {
    /// The file name extension.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Parquet compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Snappy: fast, read by every engine.
    #[default]
    Snappy,
    /// LZ4 (Parquet's `LZ4_RAW`).
    Lz4,
    /// Gzip: smaller, slower.
    Gzip,
    /// None.
    None,
}

/// The storage of a named files connection: a location and, for S3, its
/// settings (flat, so the server seals `secret_access_key`).
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilesConnection {
    /// `s3://bucket/prefix`, `file:///abs/dir` or a local directory.
    pub url: String,
    /// S3: the service's URL (`http://127.0.0.1:9000`); default AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// S3: region (default `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// S3: address buckets as `endpoint/bucket`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub path_style: bool,
    /// S3: access key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// S3: secret access key (sealed by the server, never shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
}

impl fmt::Debug for FilesConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilesConnection")
            .field("url", &self.url)
            .field("s3", &self.s3())
            .finish()
    }
}

impl FilesConnection {
    /// The S3 settings as an endpoint takes them (`None` without any).
    pub(crate) fn s3(&self) -> Option<S3Options> {
        let s3 = S3Options {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            path_style: self.path_style,
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
        };
        (s3 != S3Options::default()).then_some(s3)
    }

    /// What `connection: NAME` puts into an endpoint: `url` and `s3`.
    pub(crate) fn endpoint(&self) -> FilesEndpoint {
        FilesEndpoint {
            url: Some(self.url.clone()),
            s3: self.s3(),
            ..FilesEndpoint::default()
        }
    }
}

impl FilesEndpoint {
    /// The storage of another connector's endpoint (a Delta or Iceberg
    /// table's location): Parquet defaults, no partitions, no metastore.
    pub(crate) fn storage_at(url: String, path: Option<String>, s3: Option<S3Options>) -> Self {
        FilesEndpoint {
            url: Some(url),
            path,
            s3,
            row_group_bytes: default_row_group_bytes(),
            file_bytes: default_file_bytes(),
            ..FilesEndpoint::default()
        }
    }

    /// Checks the endpoint as `trust` allows: a resolved `connection`, a
    /// `url` of a known scheme (local directories under the files root), a
    /// relative `path` without `..`, sizes within bounds.
    pub(crate) fn check(&mut self, field: &str, trust: &Trust) -> Result<()> {
        let at = |name: &str| match field {
            "" => name.to_string(),
            _ => format!("{field}.{name}"),
        };
        if let Some(name) = &self.connection {
            return Err(unresolved(field, name));
        }
        let url = self.url.as_deref().unwrap_or_default();
        if url.is_empty() {
            return Err(Error::invalid(
                at("url"),
                "must name the files' location: s3://bucket/prefix, file:///dir or a directory",
            ));
        }
        self.url = Some(check_url(&at("url"), url, trust)?);
        if let Some(p) = self.path.take() {
            check_relative(&at("path"), &p)?;
            // The joined location is checked as a whole (a local one again
            // under the files root, symbolic links resolved).
            let joined = format!(
                "{}/{}",
                self.url.as_deref().unwrap_or_default(),
                p.trim_end_matches('/')
            );
            self.url = Some(check_url(&at("path"), &joined, trust)?);
        }
        let is_s3 = self.url.as_deref().is_some_and(|u| u.starts_with("s3://"));
        if self.s3.is_some() && !is_s3 {
            return Err(Error::invalid(at("s3"), "is only for s3:// URLs"));
        }
        if let Some(s3) = &self.s3 {
            s3.check(&at("s3"), trust)?;
        }
        // S3 moves a file with one CopyObject, which takes at most 5 GiB.
        let max = if is_s3 { 5u64 << 30 } else { 16u64 << 30 };
        for (name, value, min) in [
            ("row_group_bytes", self.row_group_bytes, 1 << 10),
            ("file_bytes", self.file_bytes, 1 << 10),
        ] {
            if !(min..=max).contains(&value) {
                return Err(Error::invalid(
                    at(name),
                    format!("must be between {min} and {max} bytes, not {value}"),
                ));
            }
        }
        if let Some(p) = &self.partition {
            super::partition::Layout::parse(&at("partition"), p)?;
        }
        if let Some(h) = &mut self.hive {
            h.check(&at("hive"), trust)?;
            if self.format != Format::Parquet {
                return Err(Error::invalid(
                    at("hive"),
                    "registers Parquet datasets only; write format: parquet",
                ));
            }
        }
        Ok(())
    }

    /// The dataset's location as Hive, Spark and Trino name it (`s3a://`
    /// for S3, as Hadoop's connector is named).
    pub(crate) fn hive_location(&self) -> String {
        let loc = self.location();
        match loc.strip_prefix("s3://") {
            Some(rest) => format!("s3a://{rest}"),
            None => loc,
        }
    }

    /// The dataset's location: `url` joined with `path`.
    pub(crate) fn location(&self) -> String {
        let url = self
            .url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/');
        match self.path.as_deref().map(|p| p.trim_matches('/')) {
            Some(p) if !p.is_empty() => format!("{url}/{p}"),
            _ => url.to_string(),
        }
    }
}

impl S3Options {
    fn check(&self, field: &str, trust: &Trust) -> Result<()> {
        if let Some(e) = &self.endpoint {
            let host = url::Url::parse(e)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .and_then(|u| u.host_str().map(str::to_string));
            let Some(host) = host else {
                return Err(Error::invalid(
                    format!("{field}.endpoint"),
                    format!("must be an http:// or https:// URL with a host, not `{e}`"),
                ));
            };
            refuse_link_local(&format!("{field}.endpoint"), &host, trust)?;
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(Error::invalid(
                format!("{field}.secret_access_key"),
                "give access_key_id and secret_access_key together (or neither, for anonymous access)",
            ));
        }
        Ok(())
    }
}

/// `url` checked and normalized: `s3://bucket[/prefix]`, or a local
/// directory as `file:///abs/dir` (resolved under the files root on the
/// server).
pub(crate) fn check_url(field: &str, url: &str, trust: &Trust) -> Result<String> {
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(Error::invalid(
                field,
                format!(
                    "`{bucket}` is not a bucket name (3-63 lowercase letters, digits, `-` and `.`)"
                ),
            ));
        }
        if !prefix.is_empty() {
            check_relative(field, prefix)?;
        }
        return Ok(url.trim_end_matches('/').to_string());
    }
    let path = match url.strip_prefix("file://") {
        Some(p) => p,
        None if url.contains("://") => {
            return Err(Error::invalid(
                field,
                format!("`{url}`: the scheme must be s3:// or file://"),
            ));
        }
        None => url,
    };
    let resolved = trust.local_path(field, std::path::Path::new(path))?;
    let abs = if resolved.is_absolute() {
        resolved
    } else {
        std::env::current_dir()
            .map_err(|e| Error::invalid(field, format!("cannot resolve `{path}`: {e}")))?
            .join(resolved)
    };
    Ok(format!(
        "file://{}",
        abs.display().to_string().trim_end_matches('/')
    ))
}

/// On the server, a link-local address (a cloud's instance metadata
/// service: 169.254.169.254, fe80::/10) is refused: its credentials are the
/// server's, not the task's.
fn refuse_link_local(field: &str, host: &str, trust: &Trust) -> Result<()> {
    if matches!(trust, Trust::Local) {
        return Ok(());
    }
    let link_local = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_link_local(),
        Ok(std::net::IpAddr::V6(a)) => (a.segments()[0] & 0xffc0) == 0xfe80,
        Err(_) => host.eq_ignore_ascii_case("metadata.google.internal"),
    };
    if link_local {
        return Err(Error::invalid(
            field,
            format!(
                "`{host}` is a link-local address (an instance metadata service); tasks sent to the server may not reach it"
            ),
        ));
    }
    Ok(())
}

/// A relative path: no leading `/`, no `.` or `..` segment, no `\`.
fn check_relative(field: &str, path: &str) -> Result<()> {
    let bad = path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path
            .trim_end_matches('/')
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(Error::invalid(
            field,
            format!(
                "`{path}` must be a relative path of plain segments (no `/` first, no `.`/`..`, no `//`)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_normalized() {
        let t = Trust::Local;
        assert_eq!(
            check_url("u", "s3://lake/a/b/", &t).unwrap(),
            "s3://lake/a/b"
        );
        assert_eq!(check_url("u", "/tmp/x/", &t).unwrap(), "file:///tmp/x");
        assert_eq!(
            check_url("u", "file:///tmp/x", &t).unwrap(),
            "file:///tmp/x"
        );
        for bad in ["s3://A_b", "s3://lake/../x", "http://x/y", "s3://lake//x"] {
            assert!(check_url("u", bad, &t).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_stay_below_the_url() {
        for bad in ["/etc", "a/../b", "./a", "a//b", "a\\b"] {
            assert!(check_relative("p", bad).is_err(), "{bad}");
        }
        assert!(check_relative("p", "orders/2026/").is_ok());
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let s = S3Options {
            secret_access_key: Some("hunter2".into()),
            access_key_id: Some("id".into()),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
