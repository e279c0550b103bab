//! Reading an Iceberg table: a snapshot (the current one, or
//! `snapshot_id`), or the data files the snapshots of a range added, one
//! split per group of data files.
//!
//! ```text
//!  schema     the table's columns (Ferry's types from the `ferry.types` property
//!             where Ferry created the table)
//!  open_read  the snapshot is fixed ─ its live data files (iceberg-rust's scan
//!             planning: manifests, deletes) ─ `snapshots`: only those live at
//!             `until` that were not live at `after` ─ split into groups
//!  read_split the group's files through iceberg-rust's Arrow reader (delete files
//!             applied) ─ cast to the planned types
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::connector::{ReadOptions, ReadSession, Source, Split};
use ferry_core::{BatchStream, Error, Rejects, Result, TableSchema};
use futures::{StreamExt, TryStreamExt};
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::scan::FileScanTask;
use iceberg::table::Table;
use serde::{Deserialize, Serialize};

use super::CONNECTOR;
use super::catalog::Catalog;
use super::spec::IcebergEndpoint;
use super::types::{KEY_PROPERTY, TYPES_PROPERTY, cast_exact, table_schema};

/// Reads an Iceberg table.
#[derive(Debug)]
pub(crate) struct IcebergSource {
    pub(crate) endpoint: IcebergEndpoint,
}

/// What one split reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FilesSplit {
    snapshot_id: i64,
    files: Vec<String>,
}

impl IcebergSource {
    fn pinned(&self) -> Option<i64> {
        self.endpoint
            .snapshot_id
            .or(self.endpoint.snapshots.and_then(|r| r.until))
    }
}

/// The live data files of `table` at `snapshot`, planned for `columns`.
async fn plan(
    catalog: &Catalog,
    table: &Table,
    snapshot: i64,
    columns: &[String],
) -> Result<Vec<FileScanTask>> {
    table
        .scan()
        .snapshot_id(snapshot)
        .select(columns.iter().cloned())
        .build()
        .map_err(|e| catalog.error(&format!("planning snapshot {snapshot}"), e))?
        .plan_files()
        .await
        .map_err(|e| catalog.error(&format!("planning snapshot {snapshot}"), e))?
        .try_collect()
        .await
        .map_err(|e| catalog.error(&format!("planning snapshot {snapshot}"), e))
}

#[async_trait]
impl Source for IcebergSource {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    async fn schema(&self) -> Result<TableSchema> {
        let catalog = Catalog::open(&self.endpoint).await?;
        let table = catalog.existing().await?;
        let md = table.metadata();
        let schema = match self.pinned() {
            Some(id) => md
                .snapshot_by_id(id)
                .ok_or_else(|| unknown_snapshot(&catalog, id))?
                .schema(md)
                .map_err(|e| catalog.error("reading the schema", e))?,
            None => Arc::clone(md.current_schema()),
        };
        let arrow =
            schema_to_arrow_schema(&schema).map_err(|e| catalog.error("reading the schema", e))?;
        Ok(table_schema(
            catalog.display(),
            &arrow,
            md.properties().get(TYPES_PROPERTY),
            md.properties().get(KEY_PROPERTY),
        ))
    }

    async fn open_read(
        &self,
        schema: &TableSchema,
        options: &ReadOptions,
    ) -> Result<Box<dyn ReadSession>> {
        let catalog = Catalog::open(&self.endpoint).await?;
        let table = catalog.existing().await?;
        let md = table.metadata();
        let snapshot = match self.pinned() {
            Some(id) => {
                md.snapshot_by_id(id)
                    .ok_or_else(|| unknown_snapshot(&catalog, id))?;
                Some(id)
            }
            None => md.current_snapshot_id(),
        };
        let mut splits = Vec::new();
        if let Some(snapshot) = snapshot {
            let mut tasks = plan(&catalog, &table, snapshot, &options.columns).await?;
            if let Some(range) = self.endpoint.snapshots {
                if md.snapshot_by_id(range.after).is_none() {
                    return Err(unknown_snapshot(&catalog, range.after));
                }
                let before: HashSet<String> = plan(&catalog, &table, range.after, &options.columns)
                    .await?
                    .into_iter()
                    .map(|t| t.data_file_path)
                    .collect();
                tasks.retain(|t| !before.contains(&t.data_file_path));
            }
            let groups = (options.max_splits.max(1) as usize).min(tasks.len().max(1));
            let mut files: Vec<Vec<(String, u64)>> = vec![Vec::new(); groups];
            for (i, t) in tasks.into_iter().enumerate() {
                files[i % groups].push((t.data_file_path, t.record_count.unwrap_or(0)));
            }
            for (index, group) in files.into_iter().filter(|g| !g.is_empty()).enumerate() {
                let rows = group.iter().map(|(_, r)| r).sum();
                splits.push(Split {
                    index: index as u32,
                    description: format!("snapshot {snapshot}: {} data files", group.len()),
                    payload: serde_json::to_value(FilesSplit {
                        snapshot_id: snapshot,
                        files: group.into_iter().map(|(f, _)| f).collect(),
                    })
                    .map_err(|e| Error::Internal(e.to_string()))?,
                    estimated_rows: Some(rows),
                });
            }
        }
        let planned = schema.project(&options.columns)?.arrow_schema();
        Ok(Box::new(IcebergRead {
            catalog,
            table,
            planned,
            columns: options.columns.clone(),
            splits,
        }))
    }
}

fn unknown_snapshot(catalog: &Catalog, id: i64) -> Error {
    Error::NotFound {
        what: "Iceberg snapshot",
        name: id.to_string(),
        hint: Some(format!("not a snapshot of {}", catalog.display())),
    }
}

/// A run's read of one table.
struct IcebergRead {
    catalog: Catalog,
    table: Table,
    planned: arrow::datatypes::SchemaRef,
    columns: Vec<String>,
    splits: Vec<Split>,
}

#[async_trait]
impl ReadSession for IcebergRead {
    fn splits(&self) -> &[Split] {
        &self.splits
    }

    async fn read_split(&self, split: &Split, _rejects: &Rejects) -> Result<BatchStream> {
        let fs: FilesSplit = serde_json::from_value(split.payload.clone())
            .map_err(|e| Error::Internal(format!("split payload: {e}")))?;
        let wanted: HashSet<&String> = fs.files.iter().collect();
        let tasks: Vec<FileScanTask> =
            plan(&self.catalog, &self.table, fs.snapshot_id, &self.columns)
                .await?
                .into_iter()
                .filter(|t| wanted.contains(&t.data_file_path))
                .collect();
        for t in &tasks {
            self.catalog.check_file(&self.table, &t.data_file_path)?;
            for d in &t.deletes {
                self.catalog.check_file(&self.table, &d.file_path)?;
            }
        }
        if tasks.len() != fs.files.len() {
            return Err(Error::Internal(format!(
                "{}: snapshot {} no longer lists the split's files",
                self.catalog.display(),
                fs.snapshot_id
            )));
        }
        let stream = self
            .table
            .reader_builder()
            .build()
            .read(futures::stream::iter(tasks.into_iter().map(Ok)).boxed())
            .map_err(|e| self.catalog.error("reading data files", e))?
            .stream();
        let planned = Arc::clone(&self.planned);
        let display = self.catalog.display().to_string();
        Ok(stream
            .map_err({
                let display = display.clone();
                move |e| Error::Server {
                    context: format!("{display} (reading)"),
                    message: e.to_string(),
                    transient: e.retryable(),
                }
            })
            .and_then(move |batch| {
                let planned = Arc::clone(&planned);
                let display = display.clone();
                async move {
                    let columns = planned
                        .fields()
                        .iter()
                        .map(|f| {
                            let i = batch.schema().index_of(f.name()).map_err(|_| {
                                Error::Internal(format!("{display}: no column `{}` read", f.name()))
                            })?;
                            cast_exact(batch.column(i), f.data_type(), f.name(), &display)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    arrow::record_batch::RecordBatch::try_new_with_options(
                        planned,
                        columns,
                        &arrow::record_batch::RecordBatchOptions::new()
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
