//! Reading a Delta table: its rows at the latest version (or `version`), or
//! the rows appended by the commits of a version range.
//!
//! ```text
//!  schema     the table's Arrow schema (Ferry's types from `ferry.type` where Ferry
//!             wrote it) ─ partition columns included
//!  open_read  the version read is fixed (a later commit is not seen by this run)
//!             ─ `versions`: the data files the commits (after, until] added; a
//!             commit that removed data in the range fails the read, naming it
//!  read_split delta-rs's scan (deletion vectors, partition values, column
//!             defaults applied) ─ the task's columns ─ cast to the planned types
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use deltalake::DeltaTable;
use deltalake::datafusion::common::{Column, ScalarValue};
use deltalake::datafusion::logical_expr::{Expr, lit};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::delta_datafusion::create_session;
use ferry_core::connector::{ReadOptions, ReadSession, Source, Split};
use ferry_core::{BatchStream, ColumnDef, Error, Rejects, Result, TableSchema};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::CONNECTOR;
use super::spec::DeltaEndpoint;
use super::table::TableLocation;
use super::types::{from_stored, planned_type, primary_key};

/// The column delta-rs adds with each row's data file (version ranges).
const FILE_COLUMN: &str = "__ferry_delta_file";

/// Reads a Delta table.
#[derive(Debug)]
pub(crate) struct DeltaSource {
    pub(crate) endpoint: DeltaEndpoint,
    pub(crate) location: TableLocation,
}

/// What the one split reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionSplit {
    /// The table version read.
    version: u64,
    /// Only the rows of these data files (URLs), when reading a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    files: Option<Vec<String>>,
}

impl DeltaSource {
    /// The version a run reads: `version`, `versions.until`, or the latest.
    fn pinned(&self) -> Option<u64> {
        self.endpoint
            .version
            .or(self.endpoint.versions.and_then(|r| r.until))
    }

    /// The data files the commits `(after, until]` added; refuses a commit
    /// that removed data.
    async fn appended_files(
        &self,
        table: &DeltaTable,
        after: u64,
        until: u64,
    ) -> Result<Vec<String>> {
        let store = table.log_store();
        let root = self.location.url.clone();
        let mut files = Vec::new();
        for v in after + 1..=until {
            let entry = store
                .read_commit_entry(v)
                .await
                .map_err(|e| self.location.error(&format!("reading commit {v}"), e))?
                .ok_or_else(|| Error::NotFound {
                    what: "Delta commit",
                    name: format!("{} version {v}", self.location.display()),
                    hint: Some("the log no longer holds it (checkpointed and cleaned up?)".into()),
                })?;
            for line in entry.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let action: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                    Error::Internal(format!("{}: commit {v}: {e}", self.location.display()))
                })?;
                if let Some(path) = action.pointer("/add/path").and_then(|p| p.as_str()) {
                    if !super::table::confined(path) {
                        return Err(Error::Unsupported {
                            connector: CONNECTOR,
                            capability: format!(
                                "{}: commit {v} adds a file outside the table (`{path}`)",
                                self.location.display()
                            ),
                        });
                    }
                    let url = root.join(path).map_err(|e| {
                        Error::Internal(format!(
                            "{}: commit {v}: `{path}`: {e}",
                            self.location.display()
                        ))
                    })?;
                    files.push(url.to_string());
                }
                let removes_data = action
                    .get("remove")
                    .is_some_and(|r| r.get("dataChange").and_then(|d| d.as_bool()) != Some(false));
                if removes_data {
                    return Err(Error::Unsupported {
                        connector: CONNECTOR,
                        capability: format!(
                            "reading versions ({after}, {until}] of {}: commit {v} removes rows \
                             (an overwrite, delete, update or merge); a version range reads appended rows only",
                            self.location.display()
                        ),
                    });
                }
            }
        }
        Ok(files)
    }
}

#[async_trait]
impl Source for DeltaSource {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    async fn schema(&self) -> Result<TableSchema> {
        let table = self.location.existing(self.pinned()).await?;
        let state = table
            .snapshot()
            .map_err(|e| self.location.error("reading the snapshot", e))?;
        let arrow = state.snapshot().arrow_schema();
        let columns = arrow
            .fields()
            .iter()
            .map(|f| {
                let (ty, native) = match planned_type(f) {
                    Ok(ty) => (ty, f.data_type().to_string()),
                    Err(_) => (
                        ferry_core::ColumnType::Binary,
                        format!("unsupported: {}", f.data_type()),
                    ),
                };
                ColumnDef {
                    name: f.name().clone(),
                    ty,
                    nullable: f.is_nullable(),
                    native_type: native,
                    dialect: None,
                }
            })
            .collect();
        Ok(TableSchema {
            table: self.location.display().to_string(),
            columns,
            primary_key: primary_key(&arrow),
        })
    }

    async fn open_read(
        &self,
        schema: &TableSchema,
        options: &ReadOptions,
    ) -> Result<Box<dyn ReadSession>> {
        let table = self.location.existing(self.pinned()).await?;
        let version = table.version().unwrap_or(0);
        let files = match self.endpoint.versions {
            Some(r) if r.after >= version => Some(Vec::new()),
            Some(r) => Some(self.appended_files(&table, r.after, version).await?),
            None => None,
        };
        let description = match (&files, self.endpoint.versions) {
            (Some(f), Some(r)) => {
                format!("versions ({}, {version}]: {} data files", r.after, f.len())
            }
            _ => format!("version {version}"),
        };
        let split = Split {
            index: 0,
            description,
            payload: serde_json::to_value(VersionSplit { version, files })
                .map_err(|e| Error::Internal(e.to_string()))?,
            estimated_rows: None,
        };
        let planned = schema.project(&options.columns)?.arrow_schema();
        Ok(Box::new(DeltaRead {
            location: self.location.clone(),
            planned,
            splits: vec![split],
        }))
    }
}

/// A run's read of one table version.
struct DeltaRead {
    location: TableLocation,
    planned: deltalake::arrow::datatypes::SchemaRef,
    splits: Vec<Split>,
}

#[async_trait]
impl ReadSession for DeltaRead {
    fn splits(&self) -> &[Split] {
        &self.splits
    }

    async fn read_split(&self, split: &Split, _rejects: &Rejects) -> Result<BatchStream> {
        let vs: VersionSplit = serde_json::from_value(split.payload.clone())
            .map_err(|e| Error::Internal(format!("split payload: {e}")))?;
        let planned = Arc::clone(&self.planned);
        let columns: Vec<String> = planned.fields().iter().map(|f| f.name().clone()).collect();
        if vs.files.as_ref().is_some_and(Vec::is_empty) {
            return Ok(futures::stream::empty().boxed());
        }
        let table = self.location.existing(Some(vs.version)).await?;
        self.location.check_confined(&table).await?;
        let session: SessionContext = create_session().into_inner();
        table
            .update_datafusion_session(&session.state())
            .map_err(|e| self.location.error("reading", e))?;
        let mut provider = table.table_provider();
        if vs.files.is_some() {
            provider = provider.with_file_column(FILE_COLUMN);
        }
        let df_error = |e: deltalake::datafusion::error::DataFusionError| Error::Server {
            context: format!("{CONNECTOR} table {} (reading)", self.location.display()),
            message: e.to_string(),
            transient: false,
        };
        let provider = provider.await.map_err(df_error)?;
        let mut frame = session.read_table(provider).map_err(df_error)?;
        if let Some(files) = vs.files {
            let list: Vec<Expr> = files
                .into_iter()
                .map(|f| lit(ScalarValue::Utf8(Some(f))))
                .collect();
            frame = frame
                .filter(Expr::Column(Column::new_unqualified(FILE_COLUMN)).in_list(list, false))
                .map_err(df_error)?;
        }
        let projection: Vec<Expr> = columns
            .iter()
            .map(|c| Expr::Column(Column::new_unqualified(c)))
            .collect();
        let frame = frame.select(projection).map_err(df_error)?;
        let stream = frame.execute_stream().await.map_err(df_error)?;
        let display = self.location.display().to_string();
        Ok(stream
            .map_err(move |e| Error::Server {
                context: format!("{CONNECTOR} table (reading)"),
                message: e.to_string(),
                transient: false,
            })
            .and_then(move |batch| {
                let planned = Arc::clone(&planned);
                let display = display.clone();
                async move {
                    let columns = batch
                        .columns()
                        .iter()
                        .zip(planned.fields())
                        .map(|(a, f)| from_stored(a, f, &display))
                        .collect::<Result<Vec<_>>>()?;
                    deltalake::arrow::record_batch::RecordBatch::try_new_with_options(
                        planned,
                        columns,
                        &deltalake::arrow::record_batch::RecordBatchOptions::new()
                            .with_row_count(Some(batch.num_rows())),
                    )
                    .map_err(|e| Error::Internal(e.to_string()))
                }
            })
            .boxed())
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
