//! Opening a Delta table on the files connector's storage: the table's URL,
//! its log store over Ferry's own `object_store` (so the server's trust
//! rules for credentials and endpoints hold), and the commits Ferry made.
//!
//! Commits are made with put-if-absent (`PutMode::Create`), which local
//! directories and S3 (conditional writes, `If-None-Match: *`) both
//! provide: two writers can never both create version N.

use std::sync::{Arc, Once};

use deltalake::logstore::{
    LogStore, LogStoreFactory, StorageConfig, default_logstore, logstore_factories,
};
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError, ObjectStore};
use ferry_core::{Error, Result};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use url::Url;

use super::CONNECTOR;
use crate::files::{FilesEndpoint, Storage};

/// Key of Ferry's entry in a commit's `commitInfo`.
pub(crate) const COMMIT_INFO_KEY: &str = "ferry";

/// What Ferry records in the `commitInfo` of each commit it makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FerryCommit {
    /// The task.
    pub(crate) task: String,
    /// The run (attempt) that committed.
    pub(crate) run_id: String,
    /// The instance: the task with its logical time or window, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) instance: Option<String>,
}

/// The application id of a task's transactions (Delta `txn` action).
pub(crate) fn app_id(task: &str) -> String {
    format!("ferry:{task}")
}

/// A table location on a store.
#[derive(Debug, Clone)]
pub(crate) struct TableLocation {
    pub(crate) url: Url,
    pub(crate) storage: Storage,
}

/// Delta's log store for `s3://`: put-if-absent commits on the store given.
struct PutIfAbsent;

impl LogStoreFactory for PutIfAbsent {
    fn with_options(
        &self,
        prefixed_store: Arc<dyn ObjectStore>,
        root_store: Arc<dyn ObjectStore>,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

impl TableLocation {
    /// The table of a checked storage endpoint.
    pub(crate) fn new(endpoint: &FilesEndpoint, storage: Storage) -> Result<TableLocation> {
        static S3: Once = Once::new();
        S3.call_once(|| {
            logstore_factories().insert(
                Url::parse("s3://").expect("a valid scheme URL"),
                Arc::new(PutIfAbsent),
            );
        });
        let location = endpoint.location();
        let url = if location.starts_with("s3://") {
            Url::parse(&format!("{}/", location.trim_end_matches('/')))
                .map_err(|e| Error::invalid("url", format!("`{location}`: {e}")))?
        } else {
            let dir = location.strip_prefix("file://").unwrap_or(&location);
            Url::from_directory_path(dir).map_err(|_| {
                Error::invalid("url", format!("`{dir}` is not an absolute directory"))
            })?
        };
        Ok(TableLocation { url, storage })
    }

    /// How messages name the table.
    pub(crate) fn display(&self) -> &str {
        &self.storage.display
    }

    fn builder(&self) -> Result<DeltaTableBuilder> {
        Ok(DeltaTableBuilder::from_url(self.url.clone())
            .map_err(|e| self.error("opening", e))?
            .with_storage_backend(self.storage.store.clone(), self.url.clone()))
    }

    /// The table not loaded: its log store, for creating it.
    pub(crate) fn new_table(&self) -> Result<DeltaTable> {
        self.builder()?
            .build()
            .map_err(|e| self.error("opening", e))
    }

    /// The table at its latest version (or `version`), or `None` when there
    /// is no Delta table at the location.
    pub(crate) async fn open(&self, version: Option<u64>) -> Result<Option<DeltaTable>> {
        // No log, no table (asked first: delta-rs logs a missing log as an error).
        let log = self.storage.path("_delta_log");
        let mut listing = self.storage.store.list(Some(&log));
        match listing.next().await {
            None => return Ok(None),
            Some(Err(object_store::Error::NotFound { .. })) => return Ok(None),
            Some(Err(e)) => return Err(self.storage.error("listing _delta_log/", e)),
            Some(Ok(_)) => {}
        }
        drop(listing);
        let mut table = self
            .builder()?
            .build()
            .map_err(|e| self.error("opening", e))?;
        let loaded = match version {
            Some(v) => table.load_version(v).await,
            None => table.load().await,
        };
        match loaded {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) if version.is_none() && is_missing_table(&e) => Ok(None),
            Err(e) => Err(self.error("loading the table", e)),
        }
    }

    /// The table, which must exist.
    pub(crate) async fn existing(&self, version: Option<u64>) -> Result<DeltaTable> {
        self.open(version).await?.ok_or_else(|| Error::NotFound {
            what: "Delta table",
            name: self.storage.display.clone(),
            hint: Some("no _delta_log/ at this location".into()),
        })
    }

    /// Refuses a table whose log names data files (or deletion vectors)
    /// outside the table's location: Ferry reads and rewrites only its own.
    pub(crate) async fn check_confined(&self, table: &DeltaTable) -> Result<()> {
        let state = table
            .snapshot()
            .map_err(|e| self.error("reading the snapshot", e))?;
        let log_store = table.log_store();
        let mut files = state.snapshot().file_views(log_store.as_ref(), None);
        while let Some(view) = files.next().await {
            let view = view.map_err(|e| self.error("listing the data files", e))?;
            let path = view.path().to_string();
            // `PersistedAbsolute` (the kernel does not export the type).
            let absolute_dv = view
                .deletion_vector_descriptor()
                .is_some_and(|dv| format!("{:?}", dv.storage_type).contains("Absolute"));
            if !confined(&path) || absolute_dv {
                return Err(Error::Unsupported {
                    connector: CONNECTOR,
                    capability: format!(
                        "{}: the log names a data file or deletion vector outside the table (`{path}`); Ferry reads only files under the table's location",
                        self.storage.display
                    ),
                });
            }
        }
        Ok(())
    }

    /// A Delta error as Ferry's, naming the table and what was done.
    pub(crate) fn error(&self, doing: &str, e: DeltaTableError) -> Error {
        let text = e.to_string();
        match e {
            DeltaTableError::ObjectStore { source } => self.storage.error(doing, source),
            _ => Error::Server {
                context: format!("{CONNECTOR} table {} ({doing})", self.storage.display),
                message: text,
                transient: false,
            },
        }
    }
}

fn is_missing_table(e: &DeltaTableError) -> bool {
    let text = e.to_string();
    text.contains("No files in log segment") || text.contains("not a Delta table")
}

/// A commit Ferry made, as the table's history tells it.
#[derive(Debug, Clone)]
pub(crate) struct Committed {
    pub(crate) commit: FerryCommit,
    /// The rows it appended, when it was an append.
    pub(crate) appended_rows: Option<u64>,
}

/// The commits of `table` Ferry made for `task`, newest first.
pub(crate) async fn ferry_commits(
    location: &TableLocation,
    table: &DeltaTable,
    task: &str,
) -> Result<Vec<Committed>> {
    let history = table
        .history(None)
        .await
        .map_err(|e| location.error("reading the history", e))?;
    Ok(history
        .filter_map(|info| {
            let commit: FerryCommit =
                serde_json::from_value(info.info.get(COMMIT_INFO_KEY)?.clone()).ok()?;
            let append = info
                .operation_parameters
                .as_ref()
                .and_then(|p| p.get("mode"))
                .and_then(|m| m.as_str())
                == Some("Append");
            let rows = info
                .info
                .get("operationMetrics")
                .and_then(|m| m.get("num_added_rows"))
                .and_then(|n| n.as_u64());
            Some(Committed {
                commit,
                appended_rows: if append {
                    Some(rows.unwrap_or(0))
                } else {
                    None
                },
            })
        })
        .filter(|c| c.commit.task == task)
        .collect())
}

/// A data-file path of a Delta log that stays inside the table: relative,
/// no scheme, no `..` (decoded). delta-rs resolves an absolute URL or a
/// `../` path as it is, so a crafted log could otherwise make Ferry read
/// (or, rewriting a window, write) files anywhere the server can.
pub(crate) fn confined(path: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    !decoded.is_empty()
        && !decoded.contains("://")
        && !decoded.starts_with('/')
        && !decoded.contains('\\')
        && !decoded.split('/').any(|s| s == ".." || s == ".")
}
