//! A lock per partition, so two runs never publish into one partition at
//! once (a backfill racing the schedule, two hourly runs appending to one
//! day): each would read the same committed files and sweep the other's.
//!
//! The lock is an object created only if absent (`PutMode::Create`: a
//! create-exclusive file on a filesystem, `If-None-Match: *` on S3) at
//! `_ferry/locks/<sha256 of the partition>.lock`, naming its holder and
//! when it was taken. A publish waits up to [`WAIT`] for a held lock, then
//! fails with a transient error naming the holder; a lock older than
//! [`STALE`] was left by a killed run and is taken over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ferry_core::{Error, Result};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::publish::{FERRY_DIR, delete, join};
use super::store::Storage;

/// How long a publish waits for another run's lock on its partition.
const WAIT: Duration = Duration::from_secs(120);
/// A lock this old was left by a run that died while publishing.
const STALE: Duration = Duration::from_secs(3600);
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    run_id: String,
    attempt: String,
    taken_at: DateTime<Utc>,
}

/// A held partition lock; [`PartitionLock::release`] gives it back.
pub(crate) struct PartitionLock {
    path: Path,
}

impl PartitionLock {
    /// Takes the lock of `partition`, waiting for another holder.
    pub(crate) async fn take(
        storage: &Storage,
        partition: &str,
        run_id: &str,
        attempt: &str,
    ) -> Result<PartitionLock> {
        use sha2::{Digest, Sha256};
        let key = hex::encode(Sha256::digest(partition.as_bytes()));
        let path = storage.path(&join(FERRY_DIR, &format!("locks/{key}.lock")));
        let started = std::time::Instant::now();
        loop {
            let holder = Holder {
                run_id: run_id.to_string(),
                attempt: attempt.to_string(),
                taken_at: Utc::now(),
            };
            let body = serde_json::to_vec(&holder).map_err(|e| Error::Internal(e.to_string()))?;
            let create = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match storage
                .store
                .put_opts(&path, PutPayload::from(body), create)
                .await
            {
                Ok(_) => return Ok(PartitionLock { path }),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(storage.error("taking a partition lock", e)),
            }
            let held = current(storage, &path).await?;
            let stale = held.as_ref().is_none_or(|h| {
                Utc::now().signed_duration_since(h.taken_at)
                    > chrono::Duration::from_std(STALE).unwrap_or_default()
            });
            if stale {
                tracing::warn!(
                    partition,
                    "taking over a partition lock left by a run that died"
                );
                delete(storage, &path).await?;
                continue;
            }
            if started.elapsed() > WAIT {
                let h = held.map(|h| format!("run {} since {}", h.run_id, h.taken_at));
                return Err(Error::Transient {
                    endpoint: storage.display.clone(),
                    message: format!(
                        "partition `{partition}` is being published by another run ({}); retry later",
                        h.unwrap_or_default()
                    ),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Gives the lock back (a failure is only logged: it goes stale).
    pub(crate) async fn release(self, storage: &Storage) {
        if let Err(e) = delete(storage, &self.path).await {
            tracing::warn!(error = %e, "a partition lock could not be released; it is taken over once stale");
        }
    }
}

/// The lock's holder, if the lock still exists and reads as one.
async fn current(storage: &Storage, path: &Path) -> Result<Option<Holder>> {
    match storage.store.get(path).await {
        Ok(got) => {
            let bytes = got
                .bytes()
                .await
                .map_err(|e| storage.error("reading a partition lock", e))?;
            Ok(serde_json::from_slice(&bytes).ok())
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(storage.error("reading a partition lock", e)),
    }
}
