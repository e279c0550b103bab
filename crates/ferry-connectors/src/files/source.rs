//! Reading a files dataset: the Parquet files under its prefix, one split
//! per file.
//!
//! ```text
//!  open_read  list the prefix ─ group files by directory ─ keep a directory's
//!             manifest files (Ferry's datasets: a directory without a manifest is
//!             being published or was left by a crash, and is skipped) or, in a
//!             dataset Ferry never wrote, every data file ─ with `partition.window`
//!             and a run window, only the window's partitions ─ one split per file, or
//!             per group of row groups when there are fewer files than splits wanted
//!  read_split footer ─ the task's columns by name ─ row groups streamed ─ cast to
//!             the planned types
//! ```
//!
//! Hidden paths (a segment starting with `_` or `.`: `_ferry/`, `_SUCCESS`)
//! are never data, as for Spark, Hive and pyarrow.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ferry_core::connector::{ReadOptions, ReadSession, Source, Split};
use ferry_core::schema::field_column_type;
use ferry_core::{BatchStream, Error, Rejects, Result, TableSchema};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;
use object_store::path::Path;
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use serde::{Deserialize, Serialize};

use super::CONNECTOR;
use super::columns;
use super::metastore::Metastore;
use super::partition::Layout;
use super::publish::{FERRY_DIR, MANIFEST, is_data, read_manifest};
use super::schema::{conform, existing_schema, footer, partition_columns, table_schema};
use super::spec::{FilesEndpoint, Format, HiveTable};
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
    /// The row groups to read (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    row_groups: Option<Vec<usize>>,
}

/// The row count of each row group of the Parquet file `meta`.
async fn row_group_rows(storage: &Storage, meta: &ObjectMeta) -> Result<Vec<u64>> {
    let builder = footer(storage, meta).await?;
    Ok(builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| u64::try_from(g.num_rows()).unwrap_or(0))
        .collect())
}

#[async_trait]
impl Source for FilesSource {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    async fn schema(&self) -> Result<TableSchema> {
        if self.endpoint.format != Format::Parquet {
            return Err(Error::Unsupported {
                connector: CONNECTOR,
                capability: format!(
                    "reading {:?} files (the files source reads Parquet; CSV and JSON lines are written only)",
                    self.endpoint.format
                ),
            });
        }
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
        let layout = self
            .endpoint
            .partition
            .as_ref()
            .map(|p| Layout::parse("source.partition", p))
            .transpose()?;
        let files = self.select(layout.as_ref(), options).await?;
        let mut splits = Vec::new();
        // Fewer files than readers: a file's row groups are split among them.
        let wanted = (options.max_splits as usize).max(1);
        let per_file = wanted.div_ceil(files.len().max(1));
        for (meta, rows) in files {
            let groups = if per_file > 1 {
                row_group_rows(&self.storage, &meta).await?
            } else {
                Vec::new()
            };
            let parts = per_file.min(groups.len());
            if parts <= 1 {
                splits.push(self.split(splits.len(), &meta, None, rows)?);
                continue;
            }
            let chunk = groups.len().div_ceil(parts);
            let indices: Vec<usize> = (0..groups.len()).collect();
            for part in indices.chunks(chunk) {
                let part_rows = part.iter().map(|&g| groups[g]).sum();
                splits.push(self.split(
                    splits.len(),
                    &meta,
                    Some(part.to_vec()),
                    Some(part_rows),
                )?);
            }
        }
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
    /// A split of `meta` (its `row_groups`, or the whole file).
    fn split(
        &self,
        index: usize,
        meta: &ObjectMeta,
        row_groups: Option<Vec<usize>>,
        rows: Option<u64>,
    ) -> Result<Split> {
        let mut description = self.storage.relative(&meta.location);
        if let Some(g) = &row_groups {
            description.push_str(&format!(
                " (row groups {}–{})",
                g.first().unwrap_or(&0),
                g.last().unwrap_or(&0)
            ));
        }
        let payload = FileSplit {
            path: meta.location.to_string(),
            size: meta.size,
            row_groups,
        };
        Ok(Split {
            index: index as u32,
            description,
            payload: serde_json::to_value(payload).map_err(|e| Error::Internal(e.to_string()))?,
            estimated_rows: rows,
        })
    }

    /// The files to read with their row counts where a manifest gives them.
    async fn select(
        &self,
        layout: Option<&Layout>,
        options: &ReadOptions,
    ) -> Result<Vec<(ObjectMeta, Option<u64>)>> {
        let registered = match &self.endpoint.hive {
            Some(h) => Some(self.registered_dirs(h).await?),
            None => None,
        };
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
            if registered.as_ref().is_some_and(|r| !r.contains(&dir)) {
                continue;
            }
            if let Some(layout) = layout
                && !layout.selects(&dir, options.params.window)
            {
                continue;
            }
            if !managed {
                out.extend(files.into_iter().map(|m| (m, None)));
                continue;
            }
            let Some(manifest) = read_manifest(&self.storage, &dir).await? else {
                // Never committed: the first publish into it has not reached its manifest.
                tracing::debug!(dataset = %self.storage.display, partition = %dir, "skipping a partition without a manifest");
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

impl FilesSource {
    /// The directories (relative to the dataset) of the Hive table's
    /// partitions; a location outside the source's `url` is refused, so
    /// a metastore cannot point the read elsewhere.
    async fn registered_dirs(&self, hive: &HiveTable) -> Result<Vec<String>> {
        let ms = Metastore { hive: hive.clone() };
        let (_, locations) = ms.locations().await?;
        let root = same_location(&self.endpoint.hive_location());
        locations
            .iter()
            .map(|l| {
                let l = same_location(l);
                if l == root {
                    return Ok(String::new());
                }
                match l.strip_prefix(&format!("{root}/")) {
                    Some(rel) if rel.split('/').all(|s| !s.is_empty() && s != "..") => {
                        Ok(rel.to_string())
                    }
                    _ => Err(Error::invalid(
                        "source.hive",
                        format!(
                            "the metastore places a partition of {} at {l}, outside the source's url {root}",
                            hive.display()
                        ),
                    )),
                }
            })
            .collect()
    }
}

/// A location in one spelling: `file:/x` and `file:///x` alike, no trailing `/`.
pub(crate) fn same_location(l: &str) -> String {
    let l = l.trim_end_matches('/');
    match l.strip_prefix("file:") {
        Some(rest) => format!("file:/{}", rest.trim_start_matches('/')),
        None => l.to_string(),
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
        // The location as listed (already encoded: Hive's `%2F` escapes stay).
        let path = Path::parse(&fs.path)
            .map_err(|e| Error::Internal(format!("split path {}: {e}", fs.path)))?;
        let shown = self.storage.show(&path);
        let reader = ParquetObjectReader::new(self.storage.store.clone(), path.clone())
            .with_file_size(fs.size);
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| self.storage.failure(&format!("opening {shown}"), e))?;
        let file_schema = builder.schema().clone();
        // Partition columns come from the file's directory, the rest from the file.
        let recorded = partition_columns(&file_schema);
        let dir_values = columns::values_of(
            self.storage
                .relative(&path)
                .rsplit_once('/')
                .map_or("", |(d, _)| d),
        );
        let mut indices = Vec::with_capacity(self.columns.len());
        let mut from_dir: Vec<(usize, Option<String>)> = Vec::new();
        let mut missing = Vec::new();
        for (pos, c) in self.columns.iter().enumerate() {
            match file_schema.index_of(c) {
                Ok(i) => indices.push(i),
                Err(_) if recorded.iter().any(|p| &p.name == c) => match dir_values.get(c) {
                    Some(v) => from_dir.push((pos, v.clone())),
                    None => missing.push(format!(
                        "partition column `{c}` has no `{c}=` directory above this file"
                    )),
                },
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
        let mut builder = builder.with_projection(mask).with_batch_size(batch_rows);
        if let Some(groups) = fs.row_groups.clone() {
            builder = builder.with_row_groups(groups);
        }
        let stream = builder
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
                let rows = batch.num_rows();
                let result = columns
                    .iter()
                    .enumerate()
                    .map(|(pos, c)| match from_dir.iter().find(|(p, _)| *p == pos) {
                        Some((_, value)) => {
                            let ty = field_column_type(planned.field(pos))?;
                            columns::constant(&ty, value.as_deref(), rows, c)
                        }
                        None => batch.column_by_name(c).cloned().ok_or_else(|| {
                            Error::Internal(format!("projected column {c} missing"))
                        }),
                    })
                    .collect::<Result<Vec<_>>>()
                    .and_then(|cols| conform(cols, rows, &planned, &fs.path));
                futures::future::ready(result)
            })
            .boxed())
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
