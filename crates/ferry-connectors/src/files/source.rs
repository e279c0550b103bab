//! Reading a files dataset: the Parquet files under its prefix, one split
//! per file.
//!
//! ```text
//!  open_read  list the prefix ─ group files by directory ─ keep a directory's
//!             manifest files (Ferry's datasets: a directory without a manifest is
//!             being published or was left by a crash, and is skipped) or, in a
//!             dataset Ferry never wrote, every data file ─ with `partition.window`
//!             and a run window, only the window's partitions ─ one split per file
//!  read_split footer ─ the task's columns by name ─ row groups streamed ─ cast to
//!             the planned types
//! ```
//!
//! Hidden paths (a segment starting with `_` or `.`: `_ferry/`, `_SUCCESS`)
//! are never data, as for Spark, Hive and pyarrow.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ferry_core::connector::{ReadOptions, ReadSession, Source, Split};
use ferry_core::{BatchStream, Error, Rejects, Result, TableSchema};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;
use object_store::path::Path;
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use serde::{Deserialize, Serialize};

use super::CONNECTOR;
use super::partition::WindowLayout;
use super::publish::{FERRY_DIR, MANIFEST, is_data, read_manifest};
use super::schema::{conform, existing_schema, table_schema};
use super::spec::FilesEndpoint;
use super::store::Storage;

/// Reads Parquet files under a directory or object-store prefix.
#[derive(Debug)]
pub(crate) struct FilesSource {
    pub(crate) endpoint: FilesEndpoint,
    pub(crate) storage: Storage,
}

/// What one split reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileSplit {
    /// Object path in the store.
    path: String,
    size: u64,
}

#[async_trait]
impl Source for FilesSource {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    async fn schema(&self) -> Result<TableSchema> {
        self.storage.probe().await?;
        match existing_schema(&self.storage).await? {
            Some((_, schema)) => Ok(table_schema(&self.storage.display, &schema)),
            None => Err(Error::NotFound {
                what: "Parquet files",
                name: self.storage.display.clone(),
                hint: Some("the prefix holds no .parquet data file".into()),
            }),
        }
    }

    async fn open_read(
        &self,
        schema: &TableSchema,
        options: &ReadOptions,
    ) -> Result<Box<dyn ReadSession>> {
        let layout = match &self.endpoint.partition {
            Some(p) => Some(WindowLayout::parse("source.partition", p)?),
            None => None,
        };
        let files = self.select(layout.as_ref(), options).await?;
        let splits = files
            .into_iter()
            .enumerate()
            .map(|(i, (meta, rows))| {
                let payload = FileSplit {
                    path: meta.location.to_string(),
                    size: meta.size,
                };
                Ok(Split {
                    index: i as u32,
                    description: self.storage.relative(&meta.location),
                    payload: serde_json::to_value(payload)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                    estimated_rows: rows,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(FilesRead {
            storage: self.storage.clone(),
            planned: schema.arrow_schema(),
            columns: options.columns.clone(),
            batch_bytes: options.batch_bytes,
            splits,
        }))
    }
}

impl FilesSource {
    /// The files to read with their row counts where a manifest gives them.
    async fn select(
        &self,
        layout: Option<&WindowLayout>,
        options: &ReadOptions,
    ) -> Result<Vec<(ObjectMeta, Option<u64>)>> {
        let all = self.storage.list("").await?;
        let managed = all.iter().any(|m| {
            let rel = self.storage.relative(&m.location);
            rel.ends_with(MANIFEST) || rel.starts_with(&format!("{FERRY_DIR}/"))
        });
        let mut by_dir: BTreeMap<String, Vec<ObjectMeta>> = BTreeMap::new();
        for meta in all {
            let rel = self.storage.relative(&meta.location);
            if !is_data(&rel) || !rel.ends_with(".parquet") {
                continue;
            }
            let dir = rel.rsplit_once('/').map_or("", |(d, _)| d).to_string();
            by_dir.entry(dir).or_default().push(meta);
        }
        let mut out = Vec::new();
        for (dir, files) in by_dir {
            if let Some(layout) = layout {
                if dir.split('/').count() != layout.depth() || layout.period_start(&dir).is_none() {
                    continue;
                }
                if let Some((start, end)) = options.params.window
                    && !layout.overlaps(&dir, start, end)
                {
                    continue;
                }
            }
            if !managed {
                out.extend(files.into_iter().map(|m| (m, None)));
                continue;
            }
            let Some(manifest) = read_manifest(&self.storage, &dir).await? else {
                tracing::warn!(dataset = %self.storage.display, partition = %dir, "skipping a partition without a manifest (being published, or left by a failed run)");
                continue;
            };
            for entry in &manifest.files {
                match files
                    .iter()
                    .find(|m| m.location.filename() == Some(entry.name.as_str()))
                {
                    Some(m) => out.push((m.clone(), Some(entry.rows))),
                    None => {
                        return Err(Error::Server {
                            context: self.storage.display.clone(),
                            message: format!(
                                "the manifest of `{dir}` lists {} but the file is missing",
                                entry.name
                            ),
                            transient: false,
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

struct FilesRead {
    storage: Storage,
    planned: arrow::datatypes::SchemaRef,
    columns: Vec<String>,
    batch_bytes: usize,
    splits: Vec<Split>,
}

#[async_trait]
impl ReadSession for FilesRead {
    fn splits(&self) -> &[Split] {
        &self.splits
    }

    async fn read_split(&self, split: &Split, _rejects: &Rejects) -> Result<BatchStream> {
        let fs: FileSplit = serde_json::from_value(split.payload.clone())
            .map_err(|e| Error::Internal(format!("split payload: {e}")))?;
        let path = Path::from(fs.path.as_str());
        let shown = self.storage.show(&path);
        let reader =
            ParquetObjectReader::new(self.storage.store.clone(), path).with_file_size(fs.size);
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| self.storage.failure(&format!("opening {shown}"), e))?;
        let file_schema = builder.schema().clone();
        let mut indices = Vec::with_capacity(self.columns.len());
        let mut missing = Vec::new();
        for c in &self.columns {
            match file_schema.index_of(c) {
                Ok(i) => indices.push(i),
                Err(_) => missing.push(format!("column `{c}` is not in this file")),
            }
        }
        if !missing.is_empty() {
            return Err(Error::Schema {
                table: shown,
                problems: missing,
            });
        }
        let meta = builder.metadata().clone();
        let row_bytes = meta
            .row_groups()
            .first()
            .filter(|g| g.num_rows() > 0)
            .map_or(256, |g| {
                (g.total_byte_size() / g.num_rows()).max(1) as usize
            });
        let batch_rows = (self.batch_bytes / row_bytes).clamp(1024, 1 << 17);
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        let stream = builder
            .with_projection(mask)
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| self.storage.failure(&format!("reading {shown}"), e))?;
        let (storage, planned, columns) = (
            self.storage.clone(),
            self.planned.clone(),
            self.columns.clone(),
        );
        Ok(stream
            .map_err(move |e| storage.failure(&format!("reading {shown}"), e))
            .and_then(move |batch| {
                let result = columns
                    .iter()
                    .map(|c| {
                        batch
                            .column_by_name(c)
                            .cloned()
                            .ok_or_else(|| Error::Internal(format!("projected column {c} missing")))
                    })
                    .collect::<Result<Vec<_>>>()
                    .and_then(|cols| conform(cols, batch.num_rows(), &planned, &fs.path));
                futures::future::ready(result)
            })
            .boxed())
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
