//! Publishing a run's staged files into a partition, so that a reader that
//! honours the manifest always sees one complete set of files (the old or
//! the new), one that honours `_SUCCESS` never sees a partition mid-publish,
//! and a rerun replaces exactly the partition's files.
//!
//! ```text
//!  staged:  _ferry/staging/<attempt>/<partition>/part-<attempt>-<n>.parquet
//!  plan:        the partition's committed files (below) and the new manifest:
//!               the run's files (overwrite), or the committed ones and the run's (append)
//!  publish of one partition P:
//!   1. intent   _ferry/intents/<sha256 of P>.json: the committed files (one per partition,
//!               replaced by each publish)
//!   2. unmark   delete P/_SUCCESS
//!   3. move     staged files → P/ (a rename on a filesystem; copy + delete on S3)
//!   4. manifest P/_ferry_manifest.json replaced in one PUT: files, rows, bytes, SHA-256, run
//!   5. sweep    delete P's other Parquet files (not in the manifest)
//!   6. mark     P/_SUCCESS
//!   7. done     delete the intent (a failure here is only logged)
//! ```
//!
//! Until step 4 the old manifest names the old files, which are still there;
//! from step 4 the new one names the new files, already moved in; the sweep
//! only removes what no manifest names any more. A crash before step 4 of a
//! partition's first publish leaves no manifest: it was never committed, and
//! Ferry's source skips it. The committed files of a partition are its
//! manifest's; without one, those an interrupted publish recorded in its
//! intent; in a directory no Ferry run wrote, its Parquet files (their row
//! counts from their footers). Only Parquet files are ever swept.
//!
//! Files are named by the attempt, so a retried move finds its own files
//! already in place, and the sweep never deletes the run's own files.

use chrono::Utc;
use ferry_core::{Error, Result};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::store::Storage;
use super::write::WrittenFile;

/// Where Ferry keeps its own objects under a dataset (hidden from readers:
/// Spark, Hive, pyarrow and DuckDB skip paths starting with `_`).
pub(crate) const FERRY_DIR: &str = "_ferry";
/// A partition's manifest.
pub(crate) const MANIFEST: &str = "_ferry_manifest.json";
/// A partition's completion marker.
pub(crate) const SUCCESS: &str = "_SUCCESS";
/// The manifest's format tag.
const MANIFEST_FORMAT: &str = "ferry.files.manifest/1";

/// One data file in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ManifestFile {
    /// File name within the partition.
    pub(crate) name: String,
    /// The task and window that wrote it (`task@start/end`), when the run
    /// had a window: an append of the same window again replaces these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<String>,
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

/// A partition's manifest: exactly the files that make it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: String,
    /// The partition directory (`dt=2026-11-25`), empty for the dataset root.
    pub(crate) partition: String,
    /// The run that published it.
    pub(crate) run_id: String,
    pub(crate) committed_at: String,
    pub(crate) rows: u64,
    pub(crate) files: Vec<ManifestFile>,
}

/// What a publish that may be interrupted records first.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intent {
    partition: String,
    /// The partition's committed files when the publish began.
    committed: Vec<ManifestFile>,
}

/// How the run's files join the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    /// The partition becomes exactly the run's files.
    Overwrite,
    /// The run's files are added to the partition's committed files.
    Append,
}

/// `dir` joined with `name` (either may be empty).
pub(crate) fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => dir.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

/// Whether `rel` (a path relative to the dataset) is data, not a hidden
/// object: no segment starts with `_` or `.`.
pub(crate) fn is_data(rel: &str) -> bool {
    rel.split('/')
        .all(|s| !s.starts_with('_') && !s.starts_with('.'))
}

/// Reads the manifest of `partition`, if there is one.
pub(crate) async fn read_manifest(storage: &Storage, partition: &str) -> Result<Option<Manifest>> {
    let path = storage.path(&join(partition, MANIFEST));
    let got = match storage.store.get(&path).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(storage.error("reading a manifest", e)),
    };
    let bytes = got
        .bytes()
        .await
        .map_err(|e| storage.error("reading a manifest", e))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Server {
        context: storage.show(&path),
        message: format!("not a Ferry manifest: {e}"),
        transient: false,
    })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(Error::Server {
            context: storage.show(&path),
            message: format!(
                "manifest format `{}` is not {MANIFEST_FORMAT}",
                manifest.format
            ),
            transient: false,
        });
    }
    Ok(Some(manifest))
}

/// The data files (`.<extension>`) directly in `partition` (not in its
/// subdirectories).
async fn data_files(
    storage: &Storage,
    partition: &str,
    extension: &str,
) -> Result<Vec<ObjectMeta>> {
    let suffix = format!(".{extension}");
    let all = storage.list(partition).await?;
    Ok(all
        .into_iter()
        .filter(|m| {
            let rel = storage.relative(&m.location);
            let name = rel.strip_prefix(partition).unwrap_or(&rel);
            let name = name.trim_start_matches('/');
            !name.contains('/') && is_data(name) && name.ends_with(&suffix)
        })
        .collect())
}

/// Where the intent of a publish into `partition` is kept.
fn intent_path(storage: &Storage, partition: &str) -> Path {
    use sha2::{Digest, Sha256};
    let key = hex::encode(Sha256::digest(partition.as_bytes()));
    storage.path(&join(FERRY_DIR, &format!("intents/{key}.json")))
}

/// The files `partition` holds as committed (see the module doc), each
/// still present.
async fn committed(
    storage: &Storage,
    partition: &str,
    extension: &str,
) -> Result<Vec<ManifestFile>> {
    let present = data_files(storage, partition, extension).await?;
    let here = |name: &str| present.iter().any(|m| file_name(&m.location) == name);
    if let Some(m) = read_manifest(storage, partition).await? {
        return Ok(m.files.into_iter().filter(|f| here(&f.name)).collect());
    }
    match storage.store.get(&intent_path(storage, partition)).await {
        Ok(got) => {
            let bytes = got
                .bytes()
                .await
                .map_err(|e| storage.error("reading a publish intent", e))?;
            if let Ok(intent) = serde_json::from_slice::<Intent>(&bytes)
                && intent.partition == partition
            {
                return Ok(intent
                    .committed
                    .into_iter()
                    .filter(|f| here(&f.name))
                    .collect());
            }
        }
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(storage.error("reading a publish intent", e)),
    }
    let mut out = Vec::with_capacity(present.len());
    for m in &present {
        out.push(ManifestFile {
            name: file_name(&m.location),
            origin: None,
            rows: if extension == "parquet" {
                super::schema::row_count(storage, m).await?
            } else {
                0
            },
            bytes: m.size,
            sha256: String::new(),
        });
    }
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.filename().unwrap_or_default().to_string()
}

/// A publish of one partition, planned: what it held and what it will hold.
pub(crate) struct Planned {
    partition: String,
    extension: String,
    previous: Vec<ManifestFile>,
    /// The partition's manifest once published.
    pub(crate) manifest: Manifest,
}

/// Plans the publish of the run's `files` (staged, `.<extension>`) into `partition`;
/// `origin` names the task and window that wrote them, if windowed.
pub(crate) async fn plan(
    storage: &Storage,
    run_id: &str,
    origin: Option<&str>,
    partition: &str,
    files: &[WrittenFile],
    replace: Replace,
    extension: &str,
) -> Result<Planned> {
    let previous = committed(storage, partition, extension).await?;
    let ours: Vec<ManifestFile> = files
        .iter()
        .map(|f| ManifestFile {
            name: file_name(&f.path),
            origin: origin.map(str::to_string),
            rows: f.rows,
            bytes: f.bytes,
            sha256: f.sha256.clone(),
        })
        .collect();
    let mut keep: Vec<ManifestFile> = match replace {
        Replace::Overwrite => Vec::new(),
        Replace::Append => previous.clone(),
    };
    // A rerun of the same window (a retry, a backfill) replaces its files.
    keep.retain(|k| !ours.iter().any(|o| o.name == k.name));
    if origin.is_some() {
        keep.retain(|k| k.origin.as_deref() != origin);
    }
    keep.extend(ours);
    Ok(Planned {
        partition: partition.to_string(),
        extension: extension.to_string(),
        previous,
        manifest: Manifest {
            format: MANIFEST_FORMAT.to_string(),
            partition: partition.to_string(),
            run_id: run_id.to_string(),
            committed_at: Utc::now().to_rfc3339(),
            rows: keep.iter().map(|k| k.rows).sum(),
            files: keep,
        },
    })
}

impl Planned {
    /// Publishes the run's staged `files` (steps 1–7 of the module doc).
    pub(crate) async fn apply(self, storage: &Storage, files: &[WrittenFile]) -> Result<Manifest> {
        let partition = &self.partition;
        let intent_at = intent_path(storage, partition);
        let intent = Intent {
            partition: partition.clone(),
            committed: self.previous,
        };
        put(storage, &intent_at, serde_json::to_vec(&intent)).await?;
        delete(storage, &storage.path(&join(partition, SUCCESS))).await?;
        for f in files {
            let to = storage.path(&join(partition, &file_name(&f.path)));
            match storage.store.rename(&f.path, &to).await {
                Ok(()) => {}
                // Moved by an earlier try of this publish.
                Err(object_store::Error::NotFound { .. }) if exists(storage, &to).await? => {}
                Err(e) => {
                    return Err(
                        storage.error(&format!("moving a file into {}", storage.show(&to)), e)
                    );
                }
            }
        }
        put(
            storage,
            &storage.path(&join(partition, MANIFEST)),
            serde_json::to_vec_pretty(&self.manifest),
        )
        .await?;
        for old in data_files(storage, partition, &self.extension).await? {
            let name = file_name(&old.location);
            if !self.manifest.files.iter().any(|k| k.name == name) {
                delete(storage, &old.location).await?;
            }
        }
        put(
            storage,
            &storage.path(&join(partition, SUCCESS)),
            Ok(Vec::new()),
        )
        .await?;
        if let Err(e) = delete(storage, &intent_at).await {
            tracing::warn!(partition = %partition, error = %e, "the partition is published; its publish intent could not be deleted (the next publish replaces it)");
        }
        Ok(self.manifest)
    }
}

async fn exists(storage: &Storage, p: &Path) -> Result<bool> {
    match storage.store.head(p).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(storage.error("checking a file", e)),
    }
}

async fn put(storage: &Storage, p: &Path, body: serde_json::Result<Vec<u8>>) -> Result<()> {
    let body = body.map_err(|e| Error::Internal(format!("encoding {p}: {e}")))?;
    storage
        .store
        .put(p, PutPayload::from(body))
        .await
        .map(|_| ())
        .map_err(|e| storage.error(&format!("writing {}", storage.show(p)), e))
}

/// Deletes `p`; a missing object is fine.
pub(crate) async fn delete(storage: &Storage, p: &Path) -> Result<()> {
    match storage.store.delete(p).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(storage.error(&format!("deleting {}", storage.show(p)), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_objects_are_not_data() {
        assert!(is_data("dt=2026-11-25/part-1.parquet"));
        assert!(!is_data("_ferry/staging/a/part-1.parquet"));
        assert!(!is_data("dt=2026-11-25/_SUCCESS"));
        assert!(!is_data(".hidden/x"));
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("a", "x"), "a/x");
    }
}
