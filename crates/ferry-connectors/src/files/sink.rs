//! Writing a run into a files dataset: Parquet files staged under the
//! dataset's hidden `_ferry/staging/<attempt>/`, then published into their
//! partition at commit (see [`super::publish`]).
//!
//! ```text
//!  prepare    the store answers (bucket, keys) ─ the partition of the run's window
//!             ─ an existing dataset's schema must equal the batches' (except a whole
//!             overwrite of an unpartitioned dataset) ─ stale staging removed
//!  write_all  batches ─▶ part-<attempt>-00000.parquet, a new file every `file_bytes`
//!             (no rows: one file with the schema and no row group)
//!  commit     close the file ─ publish (intent, unmark, move, sweep, manifest, _SUCCESS)
//!  abort      abort the upload ─ delete the attempt's staging: the dataset is as it was
//! ```

use std::collections::HashMap;
use std::time::Duration;

use arrow::array::UInt32Array;
use arrow::record_batch::RecordBatch;

use async_trait::async_trait;
use chrono::Utc;
use ferry_core::connector::{
    FloatSpecials, PublishReport, Sink, SinkWriter, TargetPlan, WriteSpec,
};
use ferry_core::reject::{row_json, row_position};
use ferry_core::spec::DirtyReason;
use ferry_core::spec::SyncMode;
use ferry_core::{BatchStream, Error, Rejected, Rejects, Result, TableSchema};
use futures::StreamExt;
use object_store::ObjectStoreExt;

use super::CONNECTOR;
use super::columns;
use super::hive::Registration;
use super::lock::PartitionLock;
use super::partition::{Layout, WindowLayout};
use super::publish::{FERRY_DIR, Replace, delete, join, plan};
use super::schema::existing_schema;
use super::spec::{FilesEndpoint, Format};
use super::store::Storage;
use super::stored::{
    check_fits, file_arrow_schema, hive_keys, partition_columns, refuse_unwritable, stored_schema,
};
use super::write::{FileWriter, WrittenFile};

/// Staging left by runs that ended without abort (killed) is removed by a
/// later run once it is this old.
const STALE_STAGING: Duration = Duration::from_secs(6 * 3600);
/// How often a run refreshes its staging's `_lease`, so a long run's
/// staging is never taken for stale.
const LEASE_EVERY: Duration = Duration::from_secs(600);

/// Writes Parquet files into a directory or object-store prefix.
#[derive(Debug)]
pub(crate) struct FilesSink {
    pub(crate) endpoint: FilesEndpoint,
    pub(crate) storage: Storage,
}

#[async_trait]
impl Sink for FilesSink {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    async fn prepare(&self, schema: &TableSchema, mode: SyncMode) -> Result<Box<dyn SinkWriter>> {
        self.prepare_write(schema, &WriteSpec::plain(mode)).await
    }

    async fn prepare_write(
        &self,
        schema: &TableSchema,
        write: &WriteSpec,
    ) -> Result<Box<dyn SinkWriter>> {
        self.supports_mode(write.mode)?;
        if self.endpoint.format == Format::Parquet {
            refuse_unwritable(&self.storage.display, schema)?;
        }
        let layout = self
            .endpoint
            .partition
            .as_ref()
            .map(|p| Layout::parse("sink.partition", p))
            .transpose()?;
        let window_dir = match layout.as_ref().and_then(|l| l.window.as_ref()) {
            Some(w) => run_partition(w, write)?,
            None => String::new(),
        };
        let part_columns = partition_columns(schema, layout.as_ref())?;
        let stored = stored_schema(schema, &part_columns);
        let registration = match &self.endpoint.hive {
            Some(h) => {
                let keys = hive_keys(schema, layout.as_ref());
                let r = Registration::new(h, &stored, keys, self.endpoint.hive_location())?;
                r.check().await?;
                Some(r)
            }
            None => None,
        };
        self.storage.probe().await?;
        let whole_overwrite = layout.is_none() && write.mode == SyncMode::FullOverwrite;
        let parquet = self.endpoint.format == Format::Parquet;
        if parquet
            && !whole_overwrite
            && let Some((file, existing)) = existing_schema(&self.storage).await?
        {
            check_fits(&self.storage.show(&file), &existing, &stored)?;
        }
        remove_stale_staging(&self.storage).await?;
        let attempt = format!(
            "{}-{:08x}",
            Utc::now().format("%Y%m%dT%H%M%S"),
            rand::random::<u32>()
        );
        let plan = TargetPlan {
            table: self.storage.show(&self.storage.path(&window_dir)),
            creates_table: false,
            ddl: None,
        };
        let keep: Vec<usize> = (0..schema.columns.len())
            .filter(|i| !part_columns.iter().any(|(p, _)| p == i))
            .collect();
        Ok(Box::new(FilesWriter {
            sink: self.endpoint.clone(),
            storage: self.storage.clone(),
            arrow_schema: file_arrow_schema(&stored, schema, &part_columns),
            attempt,
            run_id: write.run_id.clone(),
            origin: write
                .run
                .window
                .map(|(s, e)| format!("{}@{}/{}", write.task, s.to_rfc3339(), e.to_rfc3339())),
            window_dir,
            part_columns,
            keep,
            key: schema.primary_key.clone(),
            replace: match write.mode {
                SyncMode::FullAppend => Replace::Append,
                _ => Replace::Overwrite,
            },
            plan,
            files: Vec::new(),
            open: HashMap::new(),
            tick: 0,
            rows_seen: 0,
            leased: None,
            registration,
        }))
    }
}

/// The partition directory of the run: its window's start (or logical
/// time); a window must lie inside one partition.
fn run_partition(layout: &WindowLayout, write: &WriteSpec) -> Result<String> {
    let (start, last) = match (write.run.window, write.run.logical_time) {
        (Some((s, e)), _) => (s, e - chrono::Duration::microseconds(1)),
        (None, Some(t)) => (t, t),
        (None, None) => {
            return Err(Error::invalid(
                "sink.partition",
                "a partitioned sink needs the run's window or logical time: run it from a \
                 schedule, or give --window-start/--window-end (or --logical-time)",
            ));
        }
    };
    let dir = layout.directory(start);
    let last_dir = layout.directory(last);
    if dir != last_dir {
        return Err(Error::invalid(
            "sink.partition.window",
            format!(
                "the run's window spans several partitions ({dir} … {last_dir}); \
                 schedule runs no longer than one partition"
            ),
        ));
    }
    // An overwrite replaces the whole partition: the window must be all of it.
    if let (Some((s, e)), true) = (write.run.window, write.mode == SyncMode::FullOverwrite) {
        let whole = layout.period_start(&dir) == Some(s) && layout.directory(e) != dir;
        if !whole {
            return Err(Error::invalid(
                "sink.partition.window",
                format!(
                    "full_overwrite replaces the whole partition {dir}, but the run's window \
                     [{s}, {e}) is only part of it: schedule one run per partition, or use \
                     full_append"
                ),
            ));
        }
    }
    Ok(dir)
}

/// Deletes the staging of earlier attempts whose newest object (a live
/// run refreshes its `_lease` every [`LEASE_EVERY`]) is older than
/// [`STALE_STAGING`]: runs that ended without abort (killed).
async fn remove_stale_staging(storage: &Storage) -> Result<()> {
    let cutoff = Utc::now() - chrono::Duration::from_std(STALE_STAGING).unwrap_or_default();
    let staging = join(FERRY_DIR, "staging");
    let objects = storage.list(&staging).await?;
    let attempt_of = |m: &object_store::ObjectMeta| {
        let rel = storage.relative(&m.location);
        rel.strip_prefix(&format!("{staging}/"))
            .and_then(|r| r.split('/').next())
            .unwrap_or_default()
            .to_string()
    };
    let mut newest: HashMap<String, chrono::DateTime<Utc>> = HashMap::new();
    for m in &objects {
        let e = newest.entry(attempt_of(m)).or_insert(m.last_modified);
        *e = (*e).max(m.last_modified);
    }
    for m in &objects {
        if newest.get(&attempt_of(m)).is_some_and(|t| *t < cutoff) {
            delete(storage, &m.location).await?;
        }
    }
    Ok(())
}

/// Plans, registers and publishes one partition (under its lock).
#[allow(clippy::too_many_arguments)] // one partition's whole publish
async fn publish_locked(
    storage: &Storage,
    run_id: &str,
    origin: Option<&str>,
    extension: &str,
    dir: &str,
    files: &[WrittenFile],
    replace: Replace,
    registration: Option<&Registration>,
) -> Result<()> {
    let planned = plan(storage, run_id, origin, dir, files, replace, extension).await?;
    // Registered first: a metastore that refuses leaves the files unpublished.
    if let Some(r) = registration {
        r.register(dir, &planned.manifest).await?;
    }
    planned.apply(storage, files).await?;
    Ok(())
}

/// Files open at once (one per partition being written); past it, the
/// least recently written is closed (its partition gets another file if
/// more rows come).
const MAX_OPEN_FILES: usize = 64;
/// Bytes all open files may buffer in their row groups; past it, the
/// largest row group is closed early.
const OPEN_BYTES_BUDGET: u64 = 256 << 20;

/// A file being written into one partition.
struct OpenFile {
    writer: FileWriter,
    /// When it was last written to (a counter), for closing the least recent.
    used: u64,
}

/// An open write: the files staged so far, and those being written.
struct FilesWriter {
    sink: FilesEndpoint,
    storage: Storage,
    /// The files' schema: the stored columns (`keep`).
    arrow_schema: arrow::datatypes::SchemaRef,
    attempt: String,
    run_id: String,
    /// `task@start/end` of a windowed run (see `ManifestFile::origin`).
    origin: Option<String>,
    /// The window's partition directory (empty without a window layout).
    window_dir: String,
    /// Partition columns: index in the input batches, name.
    part_columns: Vec<(usize, String)>,
    /// Indices of the input columns stored in the files.
    keep: Vec<usize>,
    /// The input's key, for dirty rows' positions.
    key: Vec<String>,
    replace: Replace,
    plan: TargetPlan,
    /// Closed files and their partition directories.
    files: Vec<(String, WrittenFile)>,
    open: HashMap<String, OpenFile>,
    tick: u64,
    rows_seen: u64,
    /// When the staging's `_lease` was last written.
    leased: Option<std::time::Instant>,
    /// The Hive Metastore table to register the partitions in, if any.
    registration: Option<Registration>,
}

impl FilesWriter {
    fn staging(&self) -> String {
        join(FERRY_DIR, &format!("staging/{}", self.attempt))
    }

    fn new_file(&self, dir: &str, number: usize) -> Result<FileWriter> {
        let name = format!(
            "part-{}-{number:05}.{}",
            self.attempt,
            self.sink.format.extension()
        );
        let rel = join(&join(&self.staging(), dir), &name);
        FileWriter::create(
            &self.storage,
            self.storage.path(&rel),
            self.arrow_schema.clone(),
            self.sink.format,
            self.sink.compression,
            self.sink.row_group_bytes,
        )
    }

    /// Closes the open file of `dir`.
    async fn close(&mut self, dir: &str) -> Result<()> {
        if let Some(f) = self.open.remove(dir) {
            let written = f.writer.close().await?;
            self.files.push((dir.to_string(), written));
        }
        Ok(())
    }

    /// Writes the staging's `_lease` when it is due (see [`remove_stale_staging`]).
    async fn refresh_lease(&mut self) -> Result<()> {
        if self.leased.is_some_and(|t| t.elapsed() < LEASE_EVERY) {
            return Ok(());
        }
        let lease = self.storage.path(&join(&self.staging(), "_lease"));
        self.storage
            .store
            .put(
                &lease,
                object_store::PutPayload::from(self.run_id.clone().into_bytes()),
            )
            .await
            .map_err(|e| self.storage.error("writing the staging lease", e))?;
        self.leased = Some(std::time::Instant::now());
        Ok(())
    }

    /// Writes `batch` (stored columns only) into the partition `dir`.
    async fn write_to(&mut self, dir: String, batch: &RecordBatch) -> Result<()> {
        self.refresh_lease().await?;
        if !self.open.contains_key(&dir) {
            if self.open.len() >= MAX_OPEN_FILES
                && let Some(oldest) = self
                    .open
                    .iter()
                    .min_by_key(|(_, f)| f.used)
                    .map(|(d, _)| d.clone())
            {
                self.close(&oldest).await?;
            }
            let number = self.files.len() + self.open.len();
            let writer = self.new_file(&dir, number)?;
            self.open.insert(dir.clone(), OpenFile { writer, used: 0 });
        }
        self.tick += 1;
        let tick = self.tick;
        let file = self
            .open
            .get_mut(&dir)
            .ok_or_else(|| Error::Internal("no open file".into()))?;
        file.used = tick;
        file.writer.write(batch).await?;
        if file.writer.bytes() >= self.sink.file_bytes {
            self.close(&dir).await?;
        }
        let buffered: u64 = self.open.values().map(|f| f.writer.buffered()).sum();
        if buffered > OPEN_BYTES_BUDGET
            && let Some(largest) = self.open.values_mut().max_by_key(|f| f.writer.buffered())
        {
            largest.writer.flush_row_group().await?;
        }
        Ok(())
    }

    /// Deletes the attempt's staged objects. Takes `&mut self`: the writer
    /// is `Send` but not `Sync` (the Parquet encoder), so no `&self` may be
    /// held across an await.
    async fn remove_staging(&mut self) -> Result<()> {
        let staging = self.staging();
        for meta in self.storage.list(&staging).await? {
            delete(&self.storage, &meta.location).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl SinkWriter for FilesWriter {
    fn target_plan(&self) -> &TargetPlan {
        &self.plan
    }

    fn float_specials(&self) -> FloatSpecials {
        FloatSpecials::ALL
    }

    async fn write_all(&mut self, mut input: BatchStream, rejects: &Rejects) -> Result<u64> {
        let mut rows = 0u64;
        while let Some(batch) = input.next().await {
            let batch = batch?;
            let first_row = self.rows_seen;
            self.rows_seen += batch.num_rows() as u64;
            if batch.num_rows() == 0 {
                continue;
            }
            let stored = batch
                .project(&self.keep)
                .map_err(|e| Error::Internal(format!("projecting the stored columns: {e}")))?;
            if self.part_columns.is_empty() {
                rows += stored.num_rows() as u64;
                self.write_to(self.window_dir.clone(), &stored).await?;
                continue;
            }
            // Rows grouped by partition, in input order within each.
            let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
            for (row, dir) in columns::row_dirs(&batch, &self.part_columns)?
                .into_iter()
                .enumerate()
            {
                match dir {
                    Ok(d) => {
                        let d = join(&self.window_dir, &d);
                        match groups.iter_mut().find(|(g, _)| *g == d) {
                            Some((_, ids)) => ids.push(row as u32),
                            None => groups.push((d, vec![row as u32])),
                        }
                    }
                    Err((column, message)) => rejects.reject(Rejected {
                        position: row_position(&batch, row, &self.key, first_row),
                        column,
                        reason: DirtyReason::Conversion,
                        message,
                        row: row_json(&batch, row),
                    })?,
                }
            }
            for (dir, ids) in groups {
                let ids = UInt32Array::from(ids);
                let part = arrow::compute::take_record_batch(&stored, &ids)
                    .map_err(|e| Error::Internal(format!("taking a partition's rows: {e}")))?;
                rows += part.num_rows() as u64;
                self.write_to(dir, &part).await?;
            }
        }
        Ok(rows)
    }

    async fn commit(self: Box<Self>) -> Result<u64> {
        Ok(self.commit_reporting().await?.0)
    }

    async fn commit_reporting(mut self: Box<Self>) -> Result<(u64, Option<PublishReport>)> {
        if self.files.is_empty() && self.open.is_empty() && self.part_columns.is_empty() {
            // No rows: one empty file keeps the dataset's schema readable.
            let writer = self.new_file(&self.window_dir.clone(), 0)?;
            self.open
                .insert(self.window_dir.clone(), OpenFile { writer, used: 0 });
        }
        let dirs: Vec<String> = self.open.keys().cloned().collect();
        for dir in dirs {
            self.close(&dir).await?;
        }
        let started = std::time::Instant::now();
        let mut partitions: Vec<String> = self.files.iter().map(|(d, _)| d.clone()).collect();
        partitions.sort();
        partitions.dedup();
        let registration = self.registration.take();
        for dir in &partitions {
            let files: Vec<WrittenFile> = self
                .files
                .iter()
                .filter(|(d, _)| d == dir)
                .map(|(_, f)| f.clone())
                .collect();
            let lock = PartitionLock::take(&self.storage, dir, &self.run_id, &self.attempt).await?;
            let published = publish_locked(
                &self.storage,
                &self.run_id,
                self.origin.as_deref(),
                self.sink.format.extension(),
                dir,
                &files,
                self.replace,
                registration.as_ref(),
            )
            .await;
            lock.release(&self.storage).await;
            published?;
        }
        if let Err(e) = self.remove_staging().await {
            tracing::warn!(dataset = %self.storage.display, error = %e, "the run is published; its staging could not be removed (a later run removes it)");
        }
        let rows = self.files.iter().map(|(_, f)| f.rows).sum();
        let report = PublishReport {
            strategy: match self.replace {
                Replace::Overwrite => "files: partitions replaced".into(),
                Replace::Append => "files: appended".into(),
            },
            note: Some(format!(
                "{} file(s) into {} partition(s) of {}",
                self.files.len(),
                partitions.len(),
                self.storage.display
            )),
            lock: "none (readers honouring _SUCCESS or the manifest skip a partition while it is published)".into(),
            blocks_readers: false,
            lock_wait_ms: None,
            lock_held_ms: started.elapsed().as_millis() as u64,
        };
        Ok((rows, Some(report)))
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        for (_, f) in self.open.drain() {
            f.writer.abort().await;
        }
        self.remove_staging().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_lies_in_one_partition() {
        let layout = WindowLayout::parse("p", "dt=%Y-%m-%d", None).unwrap();
        let mut w = WriteSpec::plain(SyncMode::FullOverwrite);
        let t = |s: &str| s.parse::<chrono::DateTime<Utc>>().unwrap();
        w.run.window = Some((t("2026-11-25T00:00:00Z"), t("2026-11-26T00:00:00Z")));
        assert_eq!(run_partition(&layout, &w).unwrap(), "dt=2026-11-25");
        w.run.window = Some((t("2026-11-25T00:00:00Z"), t("2026-11-26T00:00:01Z")));
        assert!(run_partition(&layout, &w).is_err());
        // An hour of the day: appended, but not overwriting the whole day.
        w.run.window = Some((t("2026-11-25T03:00:00Z"), t("2026-11-25T04:00:00Z")));
        assert!(run_partition(&layout, &w).is_err());
        w.mode = SyncMode::FullAppend;
        assert_eq!(run_partition(&layout, &w).unwrap(), "dt=2026-11-25");
        w.run.window = None;
        assert!(run_partition(&layout, &w).is_err());
    }
}
