//! Writing one Parquet file: Arrow batches encoded and streamed to the
//! object store (multipart above 10 MiB), with the SHA-256 and size of the
//! bytes written for the manifest.
//!
//! Memory stays bounded: the writer keeps at most one row group being
//! encoded (closed at `row_group_bytes`), and the upload buffers one part.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use ferry_core::Result;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::basic::{Compression as Codec, GzipLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::spec::Compression;
use super::store::Storage;

/// Upload part size.
const PART_BYTES: usize = 10 << 20;

/// The bytes of one object on their way to the store, hashed as they go.
struct HashingUpload {
    inner: BufWriter,
    hasher: Sha256,
    bytes: u64,
}

impl AsyncFileWriter for HashingUpload {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move {
            self.hasher.update(&bs);
            self.bytes += bs.len() as u64;
            self.inner
                .put(bs)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move {
            tokio::io::AsyncWriteExt::shutdown(&mut self.inner)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}

/// A file written and closed.
#[derive(Debug, Clone)]
pub(crate) struct WrittenFile {
    pub(crate) path: Path,
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

/// One data file being written.
pub(crate) struct FileWriter {
    writer: AsyncArrowWriter<HashingUpload>,
    storage: Storage,
    path: Path,
    rows: u64,
    row_group_bytes: usize,
}

/// Parquet writer settings for `compression`.
fn properties(compression: Compression) -> WriterProperties {
    let codec = match compression {
        Compression::Snappy => Codec::SNAPPY,
        Compression::Lz4 => Codec::LZ4_RAW,
        Compression::Gzip => Codec::GZIP(GzipLevel::default()),
        Compression::None => Codec::UNCOMPRESSED,
    };
    WriterProperties::builder()
        .set_compression(codec)
        // Row groups are closed by size (`row_group_bytes`), not row count.
        .set_max_row_group_row_count(None)
        .set_created_by(format!("ferry {}", env!("CARGO_PKG_VERSION")))
        .build()
}

impl FileWriter {
    /// Starts a file at `path` for batches of `schema`.
    pub(crate) fn create(
        storage: &Storage,
        path: Path,
        schema: arrow::datatypes::SchemaRef,
        compression: Compression,
        row_group_bytes: u64,
    ) -> Result<FileWriter> {
        let store: Arc<dyn ObjectStore> = storage.store.clone();
        let upload = HashingUpload {
            inner: BufWriter::with_capacity(store, path.clone(), PART_BYTES),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let writer = AsyncArrowWriter::try_new(upload, schema, Some(properties(compression)))
            .map_err(|e| storage.failure(&format!("starting {}", storage.show(&path)), e))?;
        Ok(FileWriter {
            writer,
            storage: storage.clone(),
            path,
            rows: 0,
            row_group_bytes: usize::try_from(row_group_bytes).unwrap_or(usize::MAX),
        })
    }

    /// Bytes the file holds so far (uploaded, buffered or being encoded).
    pub(crate) fn bytes(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Bytes of the row group being encoded (in memory).
    pub(crate) fn buffered(&self) -> u64 {
        self.writer.in_progress_size() as u64
    }

    /// Closes the row group being encoded, freeing its memory.
    pub(crate) async fn flush_row_group(&mut self) -> Result<()> {
        let doing = format!("writing {}", self.storage.show(&self.path));
        self.writer
            .flush()
            .await
            .map_err(|e| self.storage.failure(&doing, e))
    }

    /// Appends `batch`.
    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        let doing = || format!("writing {}", self.storage.show(&self.path));
        self.writer
            .write(batch)
            .await
            .map_err(|e| self.storage.failure(&doing(), e))?;
        if self.writer.in_progress_size() >= self.row_group_bytes {
            self.writer
                .flush()
                .await
                .map_err(|e| self.storage.failure(&doing(), e))?;
        }
        Ok(())
    }

    /// Closes the file: the object exists once this returns.
    pub(crate) async fn close(mut self) -> Result<WrittenFile> {
        let doing = format!("closing {}", self.storage.show(&self.path));
        self.writer
            .finish()
            .await
            .map_err(|e| self.storage.failure(&doing, e))?;
        let upload = self.writer.into_inner();
        Ok(WrittenFile {
            path: self.path,
            rows: self.rows,
            bytes: upload.bytes,
            sha256: hex::encode(upload.hasher.finalize()),
        })
    }

    /// Gives the file up: its multipart upload is aborted (a partial object
    /// can only be under the staging prefix, removed with it).
    pub(crate) async fn abort(self) {
        let mut upload = self.writer.into_inner();
        let _ = upload.inner.abort().await;
    }
}
