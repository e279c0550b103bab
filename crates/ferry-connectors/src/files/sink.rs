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

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use ferry_core::connector::{
    FloatSpecials, PublishReport, Sink, SinkWriter, TargetPlan, WriteSpec,
};
use ferry_core::spec::SyncMode;
use ferry_core::{BatchStream, ColumnType, Error, Rejects, Result, TableSchema};
use futures::StreamExt;

use super::CONNECTOR;
use super::hive::Registration;
use super::partition::WindowLayout;
use super::publish::{FERRY_DIR, Replace, delete, join, publish};
use super::schema::{PRIMARY_KEY, existing_schema};
use super::spec::FilesEndpoint;
use super::store::Storage;
use super::write::{FileWriter, WrittenFile};

/// Staging left by runs that ended without abort (killed) is removed by a
/// later run once it is this old.
const STALE_STAGING: Duration = Duration::from_secs(6 * 3600);

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
        refuse_unwritable(&self.storage.display, schema)?;
        let (partition, keys) = match &self.endpoint.partition {
            Some(p) => {
                let layout = WindowLayout::parse("sink.partition", p)?;
                (run_partition(&layout, write)?, layout.keys())
            }
            None => (String::new(), Vec::new()),
        };
        let registration = match &self.endpoint.hive {
            Some(h) => {
                let r = Registration::new(h, schema, keys, self.endpoint.hive_location())?;
                r.check().await?;
                Some(r)
            }
            None => None,
        };
        self.storage.probe().await?;
        let whole_overwrite = partition.is_empty() && write.mode == SyncMode::FullOverwrite;
        if !whole_overwrite && let Some((file, existing)) = existing_schema(&self.storage).await? {
            check_fits(&self.storage.show(&file), &existing, schema)?;
        }
        remove_stale_staging(&self.storage).await?;
        let attempt = format!(
            "{}-{:08x}",
            Utc::now().format("%Y%m%dT%H%M%S"),
            rand::random::<u32>()
        );
        let plan = TargetPlan {
            table: self.storage.show(&self.storage.path(&partition)),
            creates_table: false,
            ddl: None,
        };
        Ok(Box::new(FilesWriter {
            sink: self.endpoint.clone(),
            storage: self.storage.clone(),
            arrow_schema: with_primary_key(schema),
            attempt,
            run_id: write.run_id.clone(),
            partition,
            replace: match write.mode {
                SyncMode::FullAppend => Replace::Append,
                _ => Replace::Overwrite,
            },
            plan,
            files: Vec::new(),
            current: None,
            registration,
        }))
    }
}

/// The batches' Arrow schema, with the primary key in its metadata (the
/// files source gives it back, so keys survive a trip through files).
fn with_primary_key(schema: &TableSchema) -> arrow::datatypes::SchemaRef {
    let arrow = schema.arrow_schema();
    if schema.primary_key.is_empty() {
        return arrow;
    }
    let key = serde_json::to_string(&schema.primary_key).unwrap_or_default();
    let metadata = std::collections::HashMap::from([(PRIMARY_KEY.to_string(), key)]);
    std::sync::Arc::new(arrow.as_ref().clone().with_metadata(metadata))
}

/// Columns Parquet cannot hold exactly: a month-day-nanosecond interval.
fn refuse_unwritable(display: &str, schema: &TableSchema) -> Result<()> {
    let problems: Vec<String> = schema
        .columns
        .iter()
        .filter(|c| {
            matches!(&c.ty, ColumnType::Interval)
                || matches!(&c.ty, ColumnType::List(e) if **e == ColumnType::Interval)
        })
        .map(|c| {
            format!(
                "column `{}` is {}: Parquet has no interval of months, days and nanoseconds; \
                 cast it to text (`mapping.cast: {{{}: text}}`)",
                c.name, c.ty, c.name
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Schema {
            table: display.to_string(),
            problems,
        })
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
    Ok(dir)
}

/// The batches must have exactly the existing files' columns and types.
fn check_fits(file: &str, existing: &arrow::datatypes::Schema, schema: &TableSchema) -> Result<()> {
    let incoming = schema.arrow_schema();
    let mut problems = Vec::new();
    for f in incoming.fields() {
        match existing.field_with_name(f.name()) {
            Err(_) => problems.push(format!(
                "column `{}` is not in the existing files",
                f.name()
            )),
            Ok(e) if e.data_type() != f.data_type() => problems.push(format!(
                "column `{}` is {} in the existing files, the run writes {}",
                f.name(),
                e.data_type(),
                f.data_type()
            )),
            Ok(_) => {}
        }
    }
    for e in existing.fields() {
        if incoming.field_with_name(e.name()).is_err() {
            problems.push(format!(
                "column `{}` of the existing files is not written",
                e.name()
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.push(format!(
        "(compared with {file}; overwrite the whole dataset, or write a new path)"
    ));
    Err(Error::Schema {
        table: file.to_string(),
        problems,
    })
}

/// Deletes staging objects of earlier attempts older than [`STALE_STAGING`].
async fn remove_stale_staging(storage: &Storage) -> Result<()> {
    let cutoff = Utc::now() - chrono::Duration::from_std(STALE_STAGING).unwrap_or_default();
    for meta in storage.list(&join(FERRY_DIR, "staging")).await? {
        if meta.last_modified < cutoff {
            delete(storage, &meta.location).await?;
        }
    }
    Ok(())
}

/// An open write: files staged so far, and the one being written.
struct FilesWriter {
    sink: FilesEndpoint,
    storage: Storage,
    arrow_schema: arrow::datatypes::SchemaRef,
    attempt: String,
    run_id: String,
    partition: String,
    replace: Replace,
    plan: TargetPlan,
    files: Vec<WrittenFile>,
    current: Option<FileWriter>,
    /// The Hive Metastore table to register the partition in, if any.
    registration: Option<Registration>,
}

impl FilesWriter {
    fn staging(&self) -> String {
        join(FERRY_DIR, &format!("staging/{}", self.attempt))
    }

    fn next_file(&self) -> Result<FileWriter> {
        let name = format!(
            "part-{}-{:05}.{}",
            self.attempt,
            self.files.len(),
            self.sink.format.extension()
        );
        let rel = join(&join(&self.staging(), &self.partition), &name);
        FileWriter::create(
            &self.storage,
            self.storage.path(&rel),
            self.arrow_schema.clone(),
            self.sink.compression,
            self.sink.row_group_bytes,
        )
    }

    async fn close_current(&mut self) -> Result<()> {
        if let Some(w) = self.current.take() {
            self.files.push(w.close().await?);
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

    async fn write_all(&mut self, mut input: BatchStream, _rejects: &Rejects) -> Result<u64> {
        let mut rows = 0u64;
        while let Some(batch) = input.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            if self.current.is_none() {
                self.current = Some(self.next_file()?);
            }
            let w = self
                .current
                .as_mut()
                .ok_or_else(|| Error::Internal("no open file".into()))?;
            w.write(&batch).await?;
            rows += batch.num_rows() as u64;
            if w.bytes() >= self.sink.file_bytes {
                self.close_current().await?;
            }
        }
        Ok(rows)
    }

    async fn commit(self: Box<Self>) -> Result<u64> {
        Ok(self.commit_reporting().await?.0)
    }

    async fn commit_reporting(mut self: Box<Self>) -> Result<(u64, Option<PublishReport>)> {
        if self.files.is_empty() && self.current.is_none() {
            // No rows: one empty file keeps the dataset's schema readable.
            self.current = Some(self.next_file()?);
        }
        self.close_current().await?;
        let started = std::time::Instant::now();
        let manifest = publish(
            &self.storage,
            &self.attempt,
            &self.run_id,
            &self.partition,
            &self.files,
            self.replace,
        )
        .await?;
        self.remove_staging().await?;
        if let Some(r) = self.registration.take() {
            r.register(&self.partition, &manifest).await?;
        }
        let rows = self.files.iter().map(|f| f.rows).sum();
        let report = PublishReport {
            strategy: match self.replace {
                Replace::Overwrite => "files: partition replaced".into(),
                Replace::Append => "files: appended".into(),
            },
            note: Some(format!(
                "{} file(s) into {}",
                self.files.len(),
                self.plan.table
            )),
            lock: "none (readers honouring _SUCCESS or the manifest skip the partition while it is published)".into(),
            blocks_readers: false,
            lock_wait_ms: None,
            lock_held_ms: started.elapsed().as_millis() as u64,
        };
        Ok((rows, Some(report)))
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        if let Some(w) = self.current.take() {
            w.abort().await;
        }
        self.remove_staging().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::spec::Partitioning;

    #[test]
    fn a_window_lies_in_one_partition() {
        let layout = WindowLayout::parse(
            "p",
            &Partitioning {
                window: "dt=%Y-%m-%d".into(),
                time_zone: None,
            },
        )
        .unwrap();
        let mut w = WriteSpec::plain(SyncMode::FullOverwrite);
        let t = |s: &str| s.parse::<chrono::DateTime<Utc>>().unwrap();
        w.run.window = Some((t("2026-11-25T00:00:00Z"), t("2026-11-26T00:00:00Z")));
        assert_eq!(run_partition(&layout, &w).unwrap(), "dt=2026-11-25");
        w.run.window = Some((t("2026-11-25T00:00:00Z"), t("2026-11-26T00:00:01Z")));
        assert!(run_partition(&layout, &w).is_err());
        w.run.window = None;
        assert!(run_partition(&layout, &w).is_err());
    }
}
