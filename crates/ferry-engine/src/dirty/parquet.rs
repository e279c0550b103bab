//! The Parquet dirty sink: one file per run, `<dir>/<run_id>.parquet`.
//!
//! Parquet files cannot be appended to, so records are buffered in small
//! groups and written as row groups into `<dir>/.<run_id>.parquet.partial`;
//! when the run ends (success or failure) the writer is closed and the file
//! renamed into place. A run without dirty rows writes no file.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use ferry_core::spec::DirtyRecord;
use ferry_core::{Error, Result};

use super::{record_schema, records_batch};

/// Records per row group (and per buffered flush).
const GROUP_ROWS: usize = 8192;

/// Writes the dirty records of one run into one Parquet file.
pub(super) struct ParquetDirty {
    dir: PathBuf,
    run_id: String,
    pending: Vec<DirtyRecord>,
    writer: Option<ArrowWriter<File>>,
    written: u64,
}

impl ParquetDirty {
    /// Checks that `dir` exists or can be created (I/O).
    pub(super) fn open(dir: &Path, run_id: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::invalid(
                "dirty.sink.dir",
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
        Ok(ParquetDirty {
            dir: dir.to_path_buf(),
            run_id: run_id.to_string(),
            pending: Vec::new(),
            writer: None,
            written: 0,
        })
    }

    fn partial_path(&self) -> PathBuf {
        self.dir.join(format!(".{}.parquet.partial", self.run_id))
    }

    /// Where the file of this run ends up.
    pub(super) fn final_path(&self) -> PathBuf {
        self.dir.join(format!("{}.parquet", self.run_id))
    }

    /// Buffers `record`, writing a row group when enough are buffered.
    pub(super) fn push(&mut self, record: DirtyRecord) -> Result<()> {
        self.pending.push(record);
        if self.pending.len() >= GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let schema = record_schema();
        let batch = records_batch(&schema, &self.pending)?;
        if self.writer.is_none() {
            let path = self.partial_path();
            let file = File::create(&path).map_err(|e| io_error(&path, e))?;
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build();
            let writer = ArrowWriter::try_new(file, batch.schema(), Some(props))
                .map_err(|e| Error::Internal(format!("opening the Parquet dirty sink: {e}")))?;
            self.writer = Some(writer);
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::Internal("the Parquet dirty sink's writer is gone".into()))?;
        writer
            .write(&batch)
            .and_then(|()| writer.flush())
            .map_err(|e| Error::Internal(format!("writing the Parquet dirty sink: {e}")))?;
        self.written += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Writes what is buffered, closes the file and renames it into place;
    /// returns the records in the file. Later records start a new file
    /// under the same name only if this one was never created.
    pub(super) fn close(&mut self) -> Result<u64> {
        self.flush()?;
        let Some(writer) = self.writer.take() else {
            return Ok(0);
        };
        writer
            .close()
            .map_err(|e| Error::Internal(format!("closing the Parquet dirty sink: {e}")))?;
        let (from, to) = (self.partial_path(), self.final_path());
        std::fs::rename(&from, &to).map_err(|e| io_error(&to, e))?;
        Ok(self.written)
    }
}

impl Drop for ParquetDirty {
    fn drop(&mut self) {
        // A run that ends without `close` (a panic) still leaves its records.
        let _ = self.close();
    }
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Internal(format!("writing the dirty sink {}: {e}", path.display()))
}
