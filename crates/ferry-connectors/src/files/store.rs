//! The object store under a files endpoint: a local directory or an
//! S3-compatible bucket, through `object_store`, with the dataset's prefix.
//!
//! Built without reading the server's environment: a task sent to `ferry
//! server` (`Trust::Server`) uses only the keys it names (or none:
//! anonymous requests), never `AWS_*` variables or an instance's metadata
//! service. `ferry run` (`Trust::Local`) also takes the environment's
//! credentials, as the AWS tools do. Requests are retried briefly (a down
//! endpoint fails the run within about 20 s, naming it).

use std::sync::Arc;
use std::time::Duration;

use ferry_core::spec::Trust;
use ferry_core::{Error, Result};
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectMeta, ObjectStore, RetryConfig};

use super::spec::{FilesEndpoint, S3Options};

/// A dataset's store and prefix.
#[derive(Clone)]
pub(crate) struct Storage {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The dataset's prefix in the store.
    pub(crate) root: Path,
    /// The dataset's location for messages (no secret).
    pub(crate) display: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl Storage {
    /// The store of a checked endpoint.
    pub(crate) fn open(endpoint: &FilesEndpoint, trust: &Trust) -> Result<Storage> {
        let display = endpoint.location();
        let (store, root): (Arc<dyn ObjectStore>, Path) =
            if let Some(rest) = display.strip_prefix("s3://") {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let s3 = endpoint.s3.clone().unwrap_or_default();
                (
                    Arc::new(s3_store(bucket, &s3, trust, &display)?),
                    Path::from(prefix),
                )
            } else {
                let dir = display.strip_prefix("file://").unwrap_or(&display);
                let root = Path::from_absolute_path(dir).map_err(|e| {
                    Error::invalid("url", format!("`{dir}` is not a usable directory: {e}"))
                })?;
                (Arc::new(LocalFileSystem::new()), root)
            };
        Ok(Storage {
            store,
            root,
            display,
        })
    }

    /// `rel` (slash-separated, already checked) under the dataset's prefix.
    /// Taken as already encoded (`Path::parse`): partition directories carry
    /// Hive's own escapes (`region=a%2Fb`), which must not be escaped again.
    pub(crate) fn path(&self, rel: &str) -> Path {
        let root: &str = self.root.as_ref();
        let full = match (root.is_empty(), rel.is_empty()) {
            (_, true) => root.to_string(),
            (true, false) => rel.to_string(),
            (false, false) => format!("{root}/{rel}"),
        };
        Path::parse(&full).unwrap_or_else(|_| {
            let mut p = self.root.clone();
            for part in rel.split('/').filter(|s| !s.is_empty()) {
                p = p.clone().join(part);
            }
            p
        })
    }

    /// The path of `p` relative to the dataset's prefix.
    pub(crate) fn relative(&self, p: &Path) -> String {
        match p.prefix_match(&self.root) {
            Some(parts) => parts
                .map(|s| s.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            None => p.to_string(),
        }
    }

    /// Every object under `rel` (recursively).
    pub(crate) async fn list(&self, rel: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = self.path(rel);
        self.store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.error(&format!("listing {}", self.show(&prefix)), e))
    }

    /// Checks that the store answers (the bucket exists, the keys are
    /// accepted): one listing request.
    pub(crate) async fn probe(&self) -> Result<()> {
        let mut listing = self.store.list(Some(&self.root));
        listing
            .try_next()
            .await
            .map(|_| ())
            .map_err(|e| self.error("listing the dataset", e))
    }

    /// `p` as people see it: the location with the object's path.
    pub(crate) fn show(&self, p: &Path) -> String {
        let rel = self.relative(p);
        if rel.is_empty() {
            self.display.clone()
        } else {
            format!("{}/{rel}", self.display)
        }
    }

    /// An `object_store` error as Ferry's, naming the dataset and what was done.
    pub(crate) fn error(&self, doing: &str, e: object_store::Error) -> Error {
        let context = format!("{} ({doing})", self.display);
        let text = e.to_string();
        match e {
            object_store::Error::NotFound { .. } if text.contains("NoSuchBucket") => {
                Error::NotFound {
                    what: "bucket",
                    name: self.display.clone(),
                    hint: Some(text),
                }
            }
            object_store::Error::NotFound { path, .. } => Error::NotFound {
                what: "object",
                name: path,
                hint: Some(context),
            },
            object_store::Error::Unauthenticated { .. }
            | object_store::Error::PermissionDenied { .. } => Error::Auth {
                endpoint: context,
                message: text,
            },
            _ if text.contains("NoSuchBucket") => Error::NotFound {
                what: "bucket",
                name: self.display.clone(),
                hint: Some(text),
            },
            _ if is_transient(&text) => Error::Transient {
                endpoint: context,
                message: text,
            },
            _ => Error::Server {
                context,
                message: text,
                transient: false,
            },
        }
    }
}

impl Storage {
    /// A Parquet error while writing or reading: the store's error inside
    /// it (a missing bucket, a refused connection) keeps its kind.
    pub(crate) fn failure(&self, doing: &str, e: parquet::errors::ParquetError) -> Error {
        match e {
            parquet::errors::ParquetError::External(inner) => {
                match inner.downcast::<object_store::Error>() {
                    Ok(store) => self.error(doing, *store),
                    Err(other) => self.io_failure(doing, other.to_string()),
                }
            }
            other => self.io_failure(doing, other.to_string()),
        }
    }

    fn io_failure(&self, doing: &str, message: String) -> Error {
        let endpoint = format!("{} ({doing})", self.display);
        if is_transient(&message) {
            Error::Transient { endpoint, message }
        } else {
            Error::Server {
                context: endpoint,
                message,
                transient: false,
            }
        }
    }
}

/// Connection failures and timeouts: worth a retry of the run.
fn is_transient(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "connection refused",
        "error sending request",
        "timed out",
        "timeout",
        "connection reset",
        "dns error",
    ]
    .iter()
    .any(|s| m.contains(s))
}

fn s3_store(
    bucket: &str,
    s3: &S3Options,
    trust: &Trust,
    display: &str,
) -> Result<object_store::aws::AmazonS3> {
    let mut b = match trust {
        Trust::Local if s3.access_key_id.is_none() => AmazonS3Builder::from_env(),
        _ => AmazonS3Builder::new(),
    };
    b = b
        .with_bucket_name(bucket)
        .with_region(s3.region.as_deref().unwrap_or("us-east-1"))
        .with_virtual_hosted_style_request(!s3.path_style)
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..RetryConfig::default()
        })
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(300)),
        );
    if let Some(e) = &s3.endpoint {
        b = b
            .with_endpoint(e.trim_end_matches('/'))
            .with_allow_http(e.starts_with("http://"));
    }
    match (&s3.access_key_id, &s3.secret_access_key) {
        (Some(id), Some(secret)) => {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        _ if matches!(trust, Trust::Server(_)) => b = b.with_skip_signature(true),
        _ => {}
    }
    b.build().map_err(|e| Error::InvalidConfig {
        field: "s3".into(),
        message: format!("{display}: {e}"),
    })
}
