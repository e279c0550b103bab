//! Publishing a run's staged files into a partition, so that a reader that
//! honours `_SUCCESS` or the manifest never sees a half-written partition,
//! and a rerun replaces exactly the partition's files.
//!
//! ```text
//!  staged:  _ferry/staging/<attempt>/<partition>/part-<attempt>-<n>.parquet
//!  publish of one partition P:
//!   1. intent   _ferry/intents/<attempt>.json: P and the files P held when
//!               the publish began (its committed set)
//!   2. unmark   delete P/_SUCCESS and P/_ferry_manifest.json
//!   3. move     staged files → P/ (a rename on a filesystem; copy + delete on S3)
//!   4. sweep    delete P's other data files: all of them (overwrite) or those
//!               not in the committed set (append: debris of a crashed publish)
//!   5. manifest P/_ferry_manifest.json: files, rows, bytes, SHA-256, run
//!   6. mark     P/_SUCCESS
//!   7. done     delete the intent
//! ```
//!
//! A crash between 2 and 6 leaves P without marker or manifest: readers
//! that honour them skip P, Ferry's own source too. The next publish into
//! P takes its committed set from P's manifest, or from the intent the
//! crashed publish left when the manifest is gone, or — a directory no
//! Ferry run wrote — every data file in it.
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

/// The data files directly in `partition` (not in its subdirectories).
async fn data_files(storage: &Storage, partition: &str) -> Result<Vec<ObjectMeta>> {
    let all = storage.list(partition).await?;
    Ok(all
        .into_iter()
        .filter(|m| {
            let rel = storage.relative(&m.location);
            let name = rel.strip_prefix(partition).unwrap_or(&rel);
            let name = name.trim_start_matches('/');
            !name.contains('/') && is_data(name)
        })
        .collect())
}

/// The files `partition` holds as committed: its manifest's, or those an
/// interrupted publish recorded, or (never written by Ferry) all its data files.
async fn committed(storage: &Storage, partition: &str) -> Result<Vec<ManifestFile>> {
    if let Some(m) = read_manifest(storage, partition).await? {
        return Ok(m.files);
    }
    for meta in storage.list(&join(FERRY_DIR, "intents")).await? {
        let got = storage
            .store
            .get(&meta.location)
            .await
            .map_err(|e| storage.error("reading a publish intent", e))?;
        let bytes = got
            .bytes()
            .await
            .map_err(|e| storage.error("reading a publish intent", e))?;
        if let Ok(intent) = serde_json::from_slice::<Intent>(&bytes)
            && intent.partition == partition
        {
            return Ok(intent.committed);
        }
    }
    Ok(data_files(storage, partition)
        .await?
        .into_iter()
        .map(|m| ManifestFile {
            name: file_name(&m.location),
            rows: 0,
            bytes: m.size,
            sha256: String::new(),
        })
        .collect())
}

fn file_name(p: &Path) -> String {
    p.filename().unwrap_or_default().to_string()
}

/// Publishes the run's `files` (staged) into `partition` (steps 1–7 above);
/// returns the partition's new manifest.
pub(crate) async fn publish(
    storage: &Storage,
    attempt: &str,
    run_id: &str,
    partition: &str,
    files: &[WrittenFile],
    replace: Replace,
) -> Result<Manifest> {
    let previous = committed(storage, partition).await?;
    let intent_path = storage.path(&join(FERRY_DIR, &format!("intents/{attempt}.json")));
    let intent = Intent {
        partition: partition.to_string(),
        committed: previous.clone(),
    };
    put(storage, &intent_path, serde_json::to_vec(&intent)).await?;
    for name in [SUCCESS, MANIFEST] {
        delete(storage, &storage.path(&join(partition, name))).await?;
    }
    let mut ours = Vec::with_capacity(files.len());
    for f in files {
        let name = file_name(&f.path);
        let to = storage.path(&join(partition, &name));
        match storage.store.rename(&f.path, &to).await {
            Ok(()) => {}
            // Moved by an earlier try of this publish.
            Err(object_store::Error::NotFound { .. }) if exists(storage, &to).await? => {}
            Err(e) => {
                return Err(storage.error(&format!("moving a file into {}", storage.show(&to)), e));
            }
        }
        ours.push(ManifestFile {
            name,
            rows: f.rows,
            bytes: f.bytes,
            sha256: f.sha256.clone(),
        });
    }
    let mut keep: Vec<ManifestFile> = match replace {
        Replace::Overwrite => Vec::new(),
        Replace::Append => previous,
    };
    keep.retain(|k| !ours.iter().any(|o| o.name == k.name));
    keep.extend(ours);
    for old in data_files(storage, partition).await? {
        let name = file_name(&old.location);
        if !keep.iter().any(|k| k.name == name) {
            delete(storage, &old.location).await?;
        }
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        partition: partition.to_string(),
        run_id: run_id.to_string(),
        committed_at: Utc::now().to_rfc3339(),
        rows: keep.iter().map(|k| k.rows).sum(),
        files: keep,
    };
    put(
        storage,
        &storage.path(&join(partition, MANIFEST)),
        serde_json::to_vec_pretty(&manifest),
    )
    .await?;
    put(
        storage,
        &storage.path(&join(partition, SUCCESS)),
        Ok(Vec::new()),
    )
    .await?;
    delete(storage, &intent_path).await?;
    Ok(manifest)
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
