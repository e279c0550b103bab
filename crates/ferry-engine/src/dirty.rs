//! Dirty-row routing: every rejected row is recorded in the dirty sink with
//! its reason, and counted against the task's thresholds.
//!
//! `max_rows` is checked on every record (crossing it stops the run at once);
//! `max_ratio` is checked when the read ends, before anything is published.
//! Records are written before the check, so a run that fails on its
//! threshold still leaves every dirty row it saw on record.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_core::spec::{DirtyPolicy, DirtyRecord, DirtySinkSpec};
use ferry_core::{Error, Result};

/// Counts dirty rows and writes them to the dirty sink.
pub struct DirtyRouter {
    policy: DirtyPolicy,
    count: AtomicU64,
    file: Option<Mutex<BufWriter<File>>>,
    where_: String,
}

impl DirtyRouter {
    /// Opens the dirty sink of `policy` (I/O: creates the file).
    pub fn open(policy: &DirtyPolicy) -> Result<Self> {
        let (file, where_) = match &policy.sink {
            Some(DirtySinkSpec::Jsonl { path }) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        Error::invalid(
                            "dirty.sink.path",
                            format!("cannot open {}: {e}", path.display()),
                        )
                    })?;
                (
                    Some(Mutex::new(BufWriter::new(f))),
                    format!(" (recorded in {})", path.display()),
                )
            }
            None => (None, String::new()),
        };
        Ok(DirtyRouter {
            policy: policy.clone(),
            count: AtomicU64::new(0),
            file,
            where_,
        })
    }

    /// Dirty rows seen so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Records one dirty row; fails once `max_rows` is exceeded.
    pub fn report(&self, record: DirtyRecord) -> Result<()> {
        if let Some(f) = &self.file {
            let line =
                serde_json::to_string(&record).map_err(|e| Error::Internal(e.to_string()))?;
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            writeln!(f, "{line}")
                .map_err(|e| Error::Internal(format!("writing the dirty sink: {e}")))?;
        }
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let limit = self.policy.row_limit();
        if n > limit {
            return Err(Error::DirtyData {
                column: record.column.clone(),
                message: format!(
                    "{} ({:?} at {}); {n} dirty rows exceed dirty.max_rows = {limit}{}",
                    record.message, record.reason, record.position, self.where_
                ),
            });
        }
        Ok(())
    }

    /// Flushes the sink and checks `max_ratio` against the rows read.
    ///
    /// The sink is also flushed when the router is dropped, so the records
    /// of a failed run are kept.
    pub fn finish(&self, rows_read: u64) -> Result<()> {
        if let Some(f) = &self.file {
            f.lock()
                .unwrap_or_else(|e| e.into_inner())
                .flush()
                .map_err(|e| Error::Internal(format!("flushing the dirty sink: {e}")))?;
        }
        let n = self.count();
        if let Some(max) = self.policy.max_ratio
            && rows_read > 0
        {
            let ratio = n as f64 / rows_read as f64;
            if ratio > max {
                return Err(Error::DirtyData {
                    column: String::new(),
                    message: format!(
                        "{n} of {rows_read} rows are dirty ({:.2}%), above dirty.max_ratio = {max}{}",
                        ratio * 100.0,
                        self.where_
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Drop for DirtyRouter {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            let _ = f.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
    }
}
