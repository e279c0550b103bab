//! Writing a run into an Iceberg table: Parquet data files written through
//! iceberg-rust's writers as the batches come, then ONE snapshot at publish
//! ([`super::commit`]).
//!
//! ```text
//!  prepare    the catalog ─ the table (or, for a new one, its metadata built in memory:
//!             the catalog sees it only at publish) ─ an existing table's columns must
//!             take the run's ─ window_overwrite: the table is partitioned on the window
//!  write_all  batches ─ cast to the table's columns ─ split by partition ─ data files
//!             under the table's data/ (`file_bytes` each)
//!  commit     close the files ─ the snapshot (append, or overwrite of the whole table or
//!             of the window's partitions) with Ferry's run in its summary ─ the catalog
//!             pointer swapped (a new table: registered with its first snapshot);
//!             another commit first: redone on the new current snapshot (3 times)
//!  abort      the files written are deleted: the table is as it was
//! ```
//!
//! # Idempotence
//! Each snapshot's summary carries `ferry.task`, `ferry.run-id` and
//! `ferry.instance` (the task at its window or logical time). An append
//! whose instance already has an append snapshot is not applied again: the
//! retried run reports that snapshot's rows and commits nothing. Overwrite
//! modes replace what they cover, so their reruns are idempotent by
//! content.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef as ArrowSchemaRef;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_core::connector::{Sink, SinkWriter, TargetPlan, WriteSpec, unsupported};
use ferry_core::spec::SyncMode;
use ferry_core::{BatchStream, Error, Rejects, Result, TableSchema};
use futures::StreamExt;
use iceberg::arrow::{
    RecordBatchPartitionSplitter, arrow_schema_to_schema_auto_assign_ids, schema_to_arrow_schema,
};
use iceberg::io::FileIO;
use iceberg::io::{FileIOBuilder, LocalFsStorageFactory};
use iceberg::spec::{
    DataFile, DataFileFormat, Literal, PartitionSpec, PrimitiveLiteral, Struct,
    TableMetadataBuilder, Transform,
};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::{DataFileWriter, DataFileWriterBuilder};
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::{IcebergWriter as _, IcebergWriterBuilder as _};
use iceberg::{Catalog as _, TableCreation};

use super::CONNECTOR;
use super::catalog::Catalog;
use super::commit::{Replace, stage};
use super::spec::{IcebergEndpoint, PartitionTransform};
use super::types::{KEY_PROPERTY, TYPES_PROPERTY, check_fits, creation_schema, to_table};

/// Summary keys of Ferry's snapshots.
pub(crate) const TASK_KEY: &str = "ferry.task";
pub(crate) const RUN_KEY: &str = "ferry.run-id";
pub(crate) const INSTANCE_KEY: &str = "ferry.instance";

/// Commit attempts when other writers commit in between.
const COMMIT_ATTEMPTS: usize = 3;

type FilesBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

/// Writes one snapshot per run into an Iceberg table.
#[derive(Debug)]
pub(crate) struct IcebergSink {
    pub(crate) endpoint: IcebergEndpoint,
}

#[async_trait]
impl Sink for IcebergSink {
    fn connector(&self) -> &'static str {
        CONNECTOR
    }

    fn supports_mode(&self, mode: SyncMode) -> Result<()> {
        match mode {
            SyncMode::FullOverwrite
            | SyncMode::FullAppend
            | SyncMode::IncrementalAppend
            | SyncMode::WindowOverwrite => Ok(()),
            SyncMode::IncrementalMerge => Err(unsupported(
                CONNECTOR,
                "mode incremental_merge (use window_overwrite or an append mode)",
            )),
        }
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
        let catalog = Catalog::open(&self.endpoint).await?;
        let display = catalog.display().to_string();
        let (table, creates) = match catalog.load().await? {
            Some(t) => {
                let arrow = schema_to_arrow_schema(t.metadata().current_schema())
                    .map_err(|e| catalog.error("reading the schema", e))?;
                check_fits(&display, &arrow, schema)?;
                (t, false)
            }
            None => (self.new_table(&catalog, schema).await?, true),
        };
        let window = match (write.mode, &write.window) {
            (SyncMode::WindowOverwrite, Some(w)) => Some(WindowPartitions::new(
                &table, &w.column, w.start, w.end, &display,
            )?),
            (SyncMode::WindowOverwrite, None) => {
                return Err(Error::invalid(
                    "mode",
                    "window_overwrite needs the run's window (a scheduled or --window run)",
                ));
            }
            _ => None,
        };
        let instance = crate::common::instance(write);
        let appends = matches!(
            write.mode,
            SyncMode::FullAppend | SyncMode::IncrementalAppend
        );
        let already = match (&instance, appends) {
            (Some(i), true) => committed_rows(&table, i),
            _ => None,
        };
        let target: ArrowSchemaRef = Arc::new(
            schema_to_arrow_schema(table.metadata().current_schema())
                .map_err(|e| catalog.error("reading the schema", e))?,
        );
        let files = DataFiles::open(&table, self.endpoint.file_bytes, &write.run_id)
            .await
            .map_err(|e| catalog.error("starting the data files", e))?;
        let mut properties = HashMap::from([
            (TASK_KEY.to_string(), write.task.clone()),
            (RUN_KEY.to_string(), write.run_id.clone()),
        ]);
        if let Some(i) = &instance {
            properties.insert(INSTANCE_KEY.to_string(), i.clone());
        }
        Ok(Box::new(IcebergTableWriter {
            plan: TargetPlan {
                table: display,
                creates_table: creates,
                ddl: None,
            },
            catalog,
            table,
            creates,
            mode: write.mode,
            window,
            target,
            files: tokio::sync::Mutex::new(Some(files)),
            properties,
            already,
            rows: 0,
        }))
    }
}

impl IcebergSink {
    /// The table a run creates, built in memory (the catalog registers it
    /// at publish, with its first snapshot).
    async fn new_table(&self, catalog: &Catalog, schema: &TableSchema) -> Result<Table> {
        let display = catalog.display();
        let (arrow, types) = creation_schema(display, schema)?;
        let ischema = arrow_schema_to_schema_auto_assign_ids(&arrow)
            .map_err(|e| catalog.error("converting the schema", e))?;
        let mut spec = PartitionSpec::builder(ischema.clone());
        for p in &self.endpoint.partition_by {
            let (transform, suffix) = match p.transform {
                PartitionTransform::Identity => (Transform::Identity, ""),
                PartitionTransform::Year => (Transform::Year, "_year"),
                PartitionTransform::Month => (Transform::Month, "_month"),
                PartitionTransform::Day => (Transform::Day, "_day"),
                PartitionTransform::Hour => (Transform::Hour, "_hour"),
            };
            spec = spec
                .add_partition_field(&p.column, format!("{}{suffix}", p.column), transform)
                .map_err(|e| Error::invalid("sink.partition_by", format!("`{}`: {e}", p.column)))?;
        }
        let spec = spec
            .build()
            .map_err(|e| Error::invalid("sink.partition_by", e.to_string()))?;
        let location = format!(
            "{}/{}/{}",
            self.endpoint.catalog.warehouse.trim_end_matches('/'),
            self.endpoint.namespace.replace('.', "/"),
            self.endpoint.table
        );
        let mut properties = HashMap::from([(TYPES_PROPERTY.to_string(), types)]);
        if !schema.primary_key.is_empty() {
            properties.insert(
                KEY_PROPERTY.to_string(),
                serde_json::to_string(&schema.primary_key)
                    .map_err(|e| Error::Internal(e.to_string()))?,
            );
        }
        let creation = TableCreation::builder()
            .name(self.endpoint.table.clone())
            .schema(ischema)
            .partition_spec(spec)
            .properties(properties)
            .location(location)
            .build();
        let metadata = TableMetadataBuilder::from_table_creation(creation)
            .and_then(|b| b.build())
            .map_err(|e| catalog.error("planning the table", e))?
            .metadata;
        Table::builder()
            .metadata(metadata)
            .identifier(catalog.ident.clone())
            .file_io(FileIOBuilder::new(Arc::new(LocalFsStorageFactory)).build())
            .runtime(
                iceberg::Runtime::try_current()
                    .map_err(|e| catalog.error("planning the table", e))?,
            )
            .build()
            .map_err(|e| catalog.error("planning the table", e))
    }
}

/// The rows of the append snapshot `instance` already committed, if any.
fn committed_rows(table: &Table, instance: &str) -> Option<u64> {
    table.metadata().snapshots().find_map(|s| {
        let p = &s.summary().additional_properties;
        (p.get(INSTANCE_KEY).map(String::as_str) == Some(instance)
            && s.summary().operation == iceberg::spec::Operation::Append)
            .then(|| {
                p.get("added-records")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0)
            })
    })
}

/// The data files of a run: one writer, or one per partition.
enum DataFiles {
    Plain(
        Box<
            DataFileWriter<
                ParquetWriterBuilder,
                DefaultLocationGenerator,
                DefaultFileNameGenerator,
            >,
        >,
    ),
    Partitioned(
        Box<FanoutWriter<FilesBuilder>>,
        Box<RecordBatchPartitionSplitter>,
    ),
}

impl DataFiles {
    async fn open(table: &Table, file_bytes: u64, run_id: &str) -> iceberg::Result<DataFiles> {
        let md = table.metadata();
        let schema = Arc::clone(md.current_schema());
        let parquet = ParquetWriterBuilder::new(
            crate::files::parquet_properties(crate::files::Compression::Snappy),
            Arc::clone(&schema),
        );
        let names = DefaultFileNameGenerator::new(
            format!("ferry-{run_id}-{}", uuid::Uuid::now_v7()),
            None,
            DataFileFormat::Parquet,
        );
        let rolling = RollingFileWriterBuilder::new(
            parquet,
            usize::try_from(file_bytes).unwrap_or(usize::MAX),
            table.file_io().clone(),
            DefaultLocationGenerator::new(md)?,
            names,
        );
        let builder = DataFileWriterBuilder::new(rolling);
        let spec = Arc::clone(md.default_partition_spec());
        if spec.is_unpartitioned() {
            Ok(DataFiles::Plain(Box::new(builder.build(None).await?)))
        } else {
            let splitter =
                RecordBatchPartitionSplitter::try_new_with_computed_values(schema, spec)?;
            Ok(DataFiles::Partitioned(
                Box::new(FanoutWriter::new(builder)),
                Box::new(splitter),
            ))
        }
    }

    async fn write(&mut self, batch: arrow::record_batch::RecordBatch) -> iceberg::Result<()> {
        match self {
            DataFiles::Plain(w) => w.write(batch).await,
            DataFiles::Partitioned(w, splitter) => {
                for (key, part) in splitter.split(&batch)? {
                    w.write(key, part).await?;
                }
                Ok(())
            }
        }
    }

    async fn close(self) -> iceberg::Result<Vec<DataFile>> {
        match self {
            DataFiles::Plain(mut w) => w.close().await,
            DataFiles::Partitioned(w, _) => w.close().await,
        }
    }
}

/// Deletes data files of a run (they are in no snapshot).
async fn delete(file_io: &FileIO, files: &[DataFile]) {
    for f in files {
        let _ = file_io.delete(f.file_path()).await;
    }
}

/// The partitions of a window: a table partitioned on the window column by
/// a time transform (or identity), each partition wholly inside or outside
/// the window.
struct WindowPartitions {
    /// Position of the window field in the partition struct.
    field: usize,
    transform: Transform,
    /// The source column is a date (values in days) rather than a timestamp.
    date: bool,
    start_us: i64,
    end_us: i64,
    display: String,
}

impl WindowPartitions {
    fn new(
        table: &Table,
        column: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        display: &str,
    ) -> Result<WindowPartitions> {
        let md = table.metadata();
        let schema = md.current_schema();
        let spec = md.default_partition_spec();
        let source = schema
            .field_by_name(column)
            .ok_or_else(|| Error::NotFound {
                what: "window column",
                name: column.to_string(),
                hint: Some(format!("not a column of {display}")),
            })?;
        let found = spec
            .fields()
            .iter()
            .enumerate()
            .find(|(_, f)| f.source_id == source.id);
        let Some((field, pf)) = found else {
            return Err(Error::invalid(
                "sink.partition_by",
                format!(
                    "window_overwrite replaces the window's partitions: {display} must be partitioned on `{column}` (e.g. partition_by: [{{column: {column}, transform: day}}])"
                ),
            ));
        };
        let date = matches!(
            *source.field_type,
            iceberg::spec::Type::Primitive(iceberg::spec::PrimitiveType::Date)
        );
        if !matches!(
            pf.transform,
            Transform::Identity
                | Transform::Year
                | Transform::Month
                | Transform::Day
                | Transform::Hour
        ) {
            return Err(Error::invalid(
                "sink.partition_by",
                format!(
                    "`{column}` is partitioned by {}; a window needs identity, year, month, day or hour",
                    pf.transform
                ),
            ));
        }
        Ok(WindowPartitions {
            field,
            transform: pf.transform,
            date,
            start_us: start.timestamp_micros(),
            end_us: end.timestamp_micros(),
            display: display.to_string(),
        })
    }

    /// Whether the partition `p` lies in the window; an error if it
    /// straddles a window edge (its rows outside the window would be lost).
    fn covers(&self, p: &Struct) -> iceberg::Result<bool> {
        let value = p.fields().get(self.field).and_then(|l| match l {
            Some(Literal::Primitive(PrimitiveLiteral::Int(v))) => Some(i64::from(*v)),
            Some(Literal::Primitive(PrimitiveLiteral::Long(v))) => Some(*v),
            _ => None,
        });
        let Some(v) = value else {
            // NULL partition values are never in a window.
            return Ok(false);
        };
        const DAY: i64 = 86_400_000_000;
        // Microseconds at the first day of month `m` after 1970-01.
        let months = |m: i64| {
            let (y, mo) = (1970 + m.div_euclid(12), m.rem_euclid(12) as u32 + 1);
            i32::try_from(y)
                .ok()
                .and_then(|y| chrono::NaiveDate::from_ymd_opt(y, mo, 1))
                .map(|d| (d - chrono::DateTime::UNIX_EPOCH.date_naive()).num_days() * DAY)
                .unwrap_or(i64::MAX)
        };
        let (from, to) = match (self.transform, self.date) {
            (Transform::Identity, true) | (Transform::Day, _) => (v * DAY, (v + 1) * DAY),
            (Transform::Identity, false) => (v, v + 1),
            (Transform::Hour, _) => (v * 3_600_000_000, (v + 1) * 3_600_000_000),
            (Transform::Month, _) => (months(v), months(v + 1)),
            (Transform::Year, _) => (months(v * 12), months((v + 1) * 12)),
            _ => return Ok(false),
        };
        if from >= self.start_us && to <= self.end_us {
            Ok(true)
        } else if to <= self.start_us || from >= self.end_us {
            Ok(false)
        } else {
            Err(iceberg::Error::new(
                iceberg::ErrorKind::DataInvalid,
                format!(
                    "{}: a partition ({} {v}) straddles the run's window: replacing it would drop its rows outside the window; partition by a finer transform or align the schedule",
                    self.display, self.transform
                ),
            ))
        }
    }
}

/// An open write: data files written, no snapshot yet.
struct IcebergTableWriter {
    plan: TargetPlan,
    catalog: Catalog,
    table: Table,
    creates: bool,
    mode: SyncMode,
    window: Option<WindowPartitions>,
    target: ArrowSchemaRef,
    /// In a mutex only to make the writer `Sync` (iceberg-rust's writers
    /// are not); only `&mut self` methods touch it.
    files: tokio::sync::Mutex<Option<DataFiles>>,
    properties: HashMap<String, String>,
    /// Rows of this instance's earlier append snapshot, if there is one.
    already: Option<u64>,
    rows: u64,
}

impl IcebergTableWriter {
    async fn publish(&self, added: &[DataFile]) -> Result<()> {
        let replace_window = |p: &Struct| match &self.window {
            Some(w) => w.covers(p),
            None => Ok(false),
        };
        let replace = match self.mode {
            SyncMode::FullOverwrite => Replace::Everything,
            SyncMode::WindowOverwrite => Replace::Partitions(&replace_window),
            _ => Replace::Nothing,
        };
        if self.creates {
            self.catalog.ensure_namespace().await?;
            let staged = stage(&self.table, None, added, &replace, self.properties.clone())
                .await
                .map_err(|e| self.catalog.error("writing the first snapshot", e))?;
            return match self
                .catalog
                .inner
                .register_table(&self.catalog.ident, staged.location)
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => Err(Error::Conflict(format!(
                    "{}: the table could not be registered (another run created it meanwhile?): {e}; this run published nothing",
                    self.plan.table
                ))),
            };
        }
        for _ in 0..COMMIT_ATTEMPTS {
            let table = self.catalog.existing().await?;
            let from = table
                .metadata_location_result()
                .map_err(|e| self.catalog.error("loading the table", e))?
                .to_string();
            let run = self.properties.get(RUN_KEY);
            if table
                .metadata()
                .snapshots()
                .any(|s| s.summary().additional_properties.get(RUN_KEY) == run)
            {
                // This run's snapshot landed (a retried commit): done once.
                return Ok(());
            }
            let staged = stage(
                &table,
                Some(&from),
                added,
                &replace,
                self.properties.clone(),
            )
            .await
            .map_err(|e| self.catalog.error("writing the snapshot", e))?;
            tracing::debug!(table = %self.plan.table, removed = staged.removed_files, "snapshot staged");
            if self.catalog.swap(&from, &staged.location).await? {
                return Ok(());
            }
            let _ = table.file_io().delete(&staged.location).await;
        }
        Err(Error::Conflict(format!(
            "{}: other commits kept landing first ({COMMIT_ATTEMPTS} attempts); this run published nothing",
            self.plan.table
        )))
    }
}

#[async_trait]
impl SinkWriter for IcebergTableWriter {
    fn target_plan(&self) -> &TargetPlan {
        &self.plan
    }

    async fn write_all(&mut self, mut input: BatchStream, _rejects: &Rejects) -> Result<u64> {
        let mut rows = 0u64;
        while let Some(batch) = input.next().await {
            let batch = to_table(&batch?, &self.target, &self.plan.table)?;
            rows += batch.num_rows() as u64;
            let files = self
                .files
                .get_mut()
                .as_mut()
                .ok_or_else(|| Error::Internal("the Iceberg write is closed".into()))?;
            files
                .write(batch)
                .await
                .map_err(|e| self.catalog.error("writing data files", e))?;
        }
        self.rows += rows;
        Ok(rows)
    }

    async fn commit(mut self: Box<Self>) -> Result<u64> {
        let files = self
            .files
            .get_mut()
            .take()
            .ok_or_else(|| Error::Internal("the Iceberg write is closed".into()))?;
        let added = files
            .close()
            .await
            .map_err(|e| self.catalog.error("closing data files", e))?;
        if let Some(rows) = self.already {
            // An earlier attempt of this instance appended already.
            delete(self.table.file_io(), &added).await;
            if rows != self.rows {
                return Err(Error::Conflict(format!(
                    "{}: this instance's append was committed already with {rows} rows, this attempt read {}; nothing was added (use window_overwrite to replace a window)",
                    self.plan.table, self.rows
                )));
            }
            tracing::warn!(table = %self.plan.table, rows, "the instance's append was committed by an earlier attempt; not applied twice");
            return Ok(rows);
        }
        let written: u64 = added.iter().map(DataFile::record_count).sum();
        if written != self.rows {
            delete(self.table.file_io(), &added).await;
            return Err(Error::Internal(format!(
                "{}: sent {} rows, the data files hold {written}",
                self.plan.table, self.rows
            )));
        }
        if let Err(e) = self.publish(&added).await {
            delete(self.table.file_io(), &added).await;
            return Err(e);
        }
        Ok(written)
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        if let Some(files) = self.files.get_mut().take()
            && let Ok(added) = files.close().await
        {
            delete(self.table.file_io(), &added).await;
        }
        Ok(())
    }
}
