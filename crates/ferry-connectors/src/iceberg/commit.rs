//! One snapshot per run: Ferry's own snapshot producer, because
//! iceberg-rust 0.10 can only fast-append (no overwrite action, and its
//! commit type cannot be built outside the crate).
//!
//! ```text
//!  current snapshot's manifests ─ untouched ones carried as they are
//!                               ─ ones holding a replaced file rewritten: replaced
//!                                 files DELETED, the others EXISTING
//!  + one manifest of the run's files (ADDED)
//!  ─▶ manifest list ─▶ snapshot (append or overwrite; Ferry's run in the summary)
//!  ─▶ metadata file vN+1 ─▶ the catalog's pointer swapped vN → vN+1 (or, for a new
//!     table, the table registered at v0 with its first snapshot)
//! ```
//!
//! Readers (PyIceberg, Spark, Trino, Ferry) see the table at the old
//! metadata file until the pointer moves, then at the new one: the
//! publish is the one catalog row update. Totals in the summary
//! (`total-records`, …) carry the parent's forward, as iceberg-rust's own
//! producer does.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use iceberg::MetadataLocation;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, FormatVersion, MAIN_BRANCH, ManifestContentType, ManifestFile, ManifestListWriter,
    ManifestWriter, ManifestWriterBuilder, Operation, PartitionSpec, SchemaRef, Snapshot,
    SnapshotReference, SnapshotRetention, SnapshotSummaryCollector, Struct, Summary, TableMetadata,
    TableMetadataBuilder, UNASSIGNED_SEQUENCE_NUMBER,
};
use iceberg::table::Table;
use uuid::Uuid;

/// Which live data files of the current snapshot a commit removes.
pub(crate) enum Replace<'a> {
    /// None (an append).
    Nothing,
    /// All (a full overwrite).
    Everything,
    /// Those whose partition `keep` says to drop (a window overwrite); the
    /// closure may refuse a file (a partition straddling the window).
    Partitions(&'a (dyn Fn(&Struct) -> iceberg::Result<bool> + Sync)),
}

/// A metadata file written and the location it was written to.
pub(crate) struct Staged {
    pub(crate) location: String,
    pub(crate) removed_files: u64,
}

/// Keys of the totals iceberg keeps in each snapshot's summary.
const TOTALS: [(&str, &str, &str); 4] = [
    ("total-records", "added-records", "deleted-records"),
    ("total-data-files", "added-data-files", "deleted-data-files"),
    ("total-files-size", "added-files-size", "removed-files-size"),
    (
        "total-delete-files",
        "added-delete-files",
        "removed-delete-files",
    ),
];

fn new_snapshot_id(md: &TableMetadata) -> i64 {
    loop {
        let (a, b) = Uuid::new_v4().as_u64_pair();
        let id = ((a ^ b) & (i64::MAX as u64)) as i64;
        if id != 0 && md.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

fn manifest_writer(
    fio: &FileIO,
    md: &TableMetadata,
    path: String,
    snapshot_id: i64,
    schema: SchemaRef,
    spec: PartitionSpec,
) -> iceberg::Result<ManifestWriter> {
    let builder =
        ManifestWriterBuilder::new(fio.new_output(path)?, Some(snapshot_id), schema, spec);
    Ok(match md.format_version() {
        FormatVersion::V1 => builder.build_v1(),
        _ => builder.build_v2_data(),
    })
}

/// Writes the snapshot that adds `added` and removes what `replace` says
/// to `base` (`base_location`: its metadata file, `None` for a table not
/// yet in the catalog), and the metadata file holding it.
pub(crate) async fn stage(
    table: &Table,
    base_location: Option<&str>,
    added: &[DataFile],
    replace: &Replace<'_>,
    properties: HashMap<String, String>,
) -> iceberg::Result<Staged> {
    let md = table.metadata();
    if md.format_version() == FormatVersion::V3 {
        return Err(iceberg::Error::new(
            iceberg::ErrorKind::FeatureUnsupported,
            "Ferry writes Iceberg format v1 and v2 tables (v3 row lineage is not supported)",
        ));
    }
    let fio = table.file_io();
    let spec = Arc::clone(md.default_partition_spec());
    let schema = Arc::clone(md.current_schema());
    let snapshot_id = new_snapshot_id(md);
    let commit = Uuid::now_v7();
    let seq = md.next_sequence_number();
    let parent = md.current_snapshot();
    let mut summary = SnapshotSummaryCollector::default();
    let mut manifests: Vec<ManifestFile> = Vec::new();
    let mut removed_files = 0u64;
    let mut n = 0;
    let mut next_path = || {
        n += 1;
        format!("{}/metadata/{commit}-m{}.avro", md.location(), n - 1)
    };
    if let Some(current) = parent {
        let list = table.manifest_list_reader(current).load().await?;
        let entries: Vec<ManifestFile> = list.consume_entries().into_iter().collect();
        for mf in entries {
            if matches!(replace, Replace::Nothing)
                || mf.content != ManifestContentType::Data
                || !(mf.has_added_files() || mf.has_existing_files())
            {
                manifests.push(mf);
                continue;
            }
            let manifest = mf.load_manifest(fio).await?;
            let mut drops = Vec::new();
            for e in manifest.entries().iter().filter(|e| e.is_alive()) {
                let drop = match replace {
                    Replace::Nothing => false,
                    Replace::Everything => true,
                    Replace::Partitions(pick) => {
                        mf.partition_spec_id == spec.spec_id() && pick(e.data_file().partition())?
                    }
                };
                drops.push(drop);
            }
            if !drops.iter().any(|d| *d) {
                manifests.push(mf);
                continue;
            }
            let (entries, meta) = manifest.into_parts();
            let mut w = manifest_writer(
                fio,
                md,
                next_path(),
                snapshot_id,
                meta.schema.clone(),
                meta.partition_spec.clone(),
            )?;
            let entry_spec = Arc::new(meta.partition_spec.clone());
            for (e, drop) in entries.iter().filter(|e| e.is_alive()).zip(drops) {
                let s = e.sequence_number.unwrap_or(0);
                let fs = e.file_sequence_number.or(Some(s));
                if drop {
                    summary.remove_file(
                        e.data_file(),
                        meta.schema.clone(),
                        Arc::clone(&entry_spec),
                    );
                    w.add_delete_file(e.data_file().clone(), s, fs)?;
                    removed_files += 1;
                } else {
                    let id = e.snapshot_id.unwrap_or(mf.added_snapshot_id);
                    w.add_existing_file(e.data_file().clone(), id, s, fs)?;
                }
            }
            manifests.push(w.write_manifest_file().await?);
        }
    }
    if !added.is_empty() {
        let mut w = manifest_writer(
            fio,
            md,
            next_path(),
            snapshot_id,
            Arc::clone(&schema),
            (*spec).clone(),
        )?;
        for f in added {
            summary.add_file(f, Arc::clone(&schema), Arc::clone(&spec));
            w.add_file(f.clone(), UNASSIGNED_SEQUENCE_NUMBER)?;
        }
        manifests.push(w.write_manifest_file().await?);
    }
    let mut props = properties;
    let collected = summary.build();
    for (total, plus, minus) in TOTALS {
        let previous = match parent {
            None => Some(0),
            Some(p) => p
                .summary()
                .additional_properties
                .get(total)
                .and_then(|v| v.parse::<i64>().ok()),
        };
        if let Some(previous) = previous {
            let get = |k: &str| {
                collected
                    .get(k)
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            props.insert(
                total.to_string(),
                (previous + get(plus) - get(minus)).to_string(),
            );
        }
    }
    props.extend(collected);
    // Iceberg's meaning: `append` adds files only; `overwrite` also removed some.
    let operation = if removed_files == 0 {
        Operation::Append
    } else {
        Operation::Overwrite
    };
    let list_path = format!(
        "{}/metadata/snap-{snapshot_id}-0-{commit}.avro",
        md.location()
    );
    let parent_id = parent.map(|p| p.snapshot_id());
    let out = fio.new_output(&list_path)?.writer().await?;
    let mut list = match md.format_version() {
        FormatVersion::V1 => ManifestListWriter::v1(out, snapshot_id, parent_id),
        _ => ManifestListWriter::v2(out, snapshot_id, parent_id, seq),
    };
    list.add_manifests(manifests.into_iter())?;
    list.close().await?;
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent_id)
        .with_sequence_number(seq)
        .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
        .with_manifest_list(list_path)
        .with_summary(Summary {
            operation,
            additional_properties: props,
        })
        .with_schema_id(md.current_schema_id())
        .build();
    let metadata =
        TableMetadataBuilder::new_from_metadata(md.clone(), base_location.map(str::to_string))
            .add_snapshot(snapshot)?
            .set_ref(
                MAIN_BRANCH,
                SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
            )?
            .build()?
            .metadata;
    let next = match base_location {
        Some(from) => MetadataLocation::from_str(from)?
            .with_next_version()
            .with_new_metadata(&metadata),
        None => MetadataLocation::new_with_metadata(md.location(), &metadata),
    };
    metadata.write_to(fio, &next).await?;
    Ok(Staged {
        location: next.to_string(),
        removed_files,
    })
}
