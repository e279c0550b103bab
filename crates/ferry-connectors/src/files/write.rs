//! Writing one data file: Arrow batches encoded as Parquet (or CSV / JSON
//! lines, see [`super::text`]) and streamed to the object store (multipart
//! above 10 MiB), with the SHA-256 and size of the bytes written for the
//! manifest.
//!
//! Memory stays bounded: a Parquet writer keeps at most one row group being
//! encoded (closed at `row_group_bytes`), a text writer one batch's text,
//! and the upload buffers one part.

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

use super::spec::{Compression, Format};
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

/// How a file's bytes are made.
enum Encoding {
    Parquet(Box<AsyncArrowWriter<HashingUpload>>),
    Text {
        upload: Box<HashingUpload>,
        format: Format,
        header_done: bool,
    },
}

/// One data file being written.
pub(crate) struct FileWriter {
    writer: Encoding,
    storage: Storage,
    path: Path,
    rows: u64,
    row_group_bytes: usize,
}

/// Parquet writer settings for `compression`.
pub(crate) fn properties(compression: Compression) -> WriterProperties {
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
        format: Format,
        compression: Compression,
        row_group_bytes: u64,
    ) -> Result<FileWriter> {
        let store: Arc<dyn ObjectStore> = storage.store.clone();
        let upload = HashingUpload {
            inner: BufWriter::with_capacity(store, path.clone(), PART_BYTES),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let writer = match format {
            Format::Parquet => Encoding::Parquet(Box::new(
                AsyncArrowWriter::try_new(upload, schema, Some(properties(compression))).map_err(
                    |e| storage.failure(&format!("starting {}", storage.show(&path)), e),
                )?,
            )),
            Format::Csv | Format::Jsonl => Encoding::Text {
                upload: Box::new(upload),
                format,
                header_done: false,
            },
        };
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
        match &self.writer {
            Encoding::Parquet(w) => (w.bytes_written() + w.in_progress_size()) as u64,
            Encoding::Text { upload, .. } => upload.bytes,
        }
    }

    /// Bytes of the row group being encoded (in memory).
    pub(crate) fn buffered(&self) -> u64 {
        match &self.writer {
            Encoding::Parquet(w) => w.in_progress_size() as u64,
            Encoding::Text { .. } => 0,
        }
    }

    /// Closes the row group being encoded, freeing its memory.
    pub(crate) async fn flush_row_group(&mut self) -> Result<()> {
        let doing = format!("writing {}", self.storage.show(&self.path));
        match &mut self.writer {
            Encoding::Parquet(w) => w.flush().await.map_err(|e| self.storage.failure(&doing, e)),
            Encoding::Text { .. } => Ok(()),
        }
    }

    /// Appends `batch`.
    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        let doing = format!("writing {}", self.storage.show(&self.path));
        let failed = |e| self.storage.failure(&doing, e);
        match &mut self.writer {
            Encoding::Parquet(w) => {
                w.write(batch).await.map_err(failed)?;
                if w.in_progress_size() >= self.row_group_bytes {
                    w.flush().await.map_err(failed)?;
                }
            }
            Encoding::Text {
                upload,
                format,
                header_done,
            } => {
                let mut out = Vec::new();
                super::text::encode(*format, batch, !*header_done, &mut out);
                *header_done = true;
                upload.write(Bytes::from(out)).await.map_err(failed)?;
            }
        }
        Ok(())
    }

    /// Closes the file: the object exists once this returns.
    pub(crate) async fn close(self) -> Result<WrittenFile> {
        let doing = format!("closing {}", self.storage.show(&self.path));
        let upload = match self.writer {
            Encoding::Parquet(mut w) => {
                w.finish()
                    .await
                    .map_err(|e| self.storage.failure(&doing, e))?;
                w.into_inner()
            }
            Encoding::Text { mut upload, .. } => {
                upload
                    .complete()
                    .await
                    .map_err(|e| self.storage.failure(&doing, e))?;
                *upload
            }
        };
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
        let mut upload = match self.writer {
            Encoding::Parquet(w) => w.into_inner(),
            Encoding::Text { upload, .. } => *upload,
        };
        let _ = upload.inner.abort().await;
    }
}
