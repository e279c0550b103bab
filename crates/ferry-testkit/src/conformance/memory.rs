//! A [`Source`] over in-memory batches: one split, one snapshot. It feeds
//! test values into any sink through the real engine, and, endless and
//! slowed down, keeps a run busy for cancellation tests.

use std::time::Duration;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use ferry_core::connector::ReadOptions;
use ferry_core::{BatchStream, ReadSession, Rejects, Result, Source, Split, TableSchema};
use futures::StreamExt;

/// In-memory batches, read as one split.
#[derive(Clone)]
pub struct MemorySource {
    schema: TableSchema,
    batches: Vec<RecordBatch>,
    /// Repeat the batches forever.
    pub endless: bool,
    /// Pause before each batch.
    pub delay: Option<Duration>,
}

impl MemorySource {
    /// A source of `batches`, all of `schema`.
    pub fn new(schema: TableSchema, batches: Vec<RecordBatch>) -> Self {
        MemorySource {
            schema,
            batches,
            endless: false,
            delay: None,
        }
    }
}

#[async_trait]
impl Source for MemorySource {
    fn connector(&self) -> &'static str {
        "memory"
    }

    async fn schema(&self) -> Result<TableSchema> {
        Ok(self.schema.clone())
    }

    async fn open_read(
        &self,
        _schema: &TableSchema,
        _options: &ReadOptions,
    ) -> Result<Box<dyn ReadSession>> {
        let rows: usize = self.batches.iter().map(RecordBatch::num_rows).sum();
        Ok(Box::new(MemorySession {
            source: self.clone(),
            splits: vec![Split {
                index: 0,
                description: "memory".into(),
                payload: serde_json::Value::Null,
                estimated_rows: (!self.endless).then_some(rows as u64),
            }],
        }))
    }
}

struct MemorySession {
    source: MemorySource,
    splits: Vec<Split>,
}

#[async_trait]
impl ReadSession for MemorySession {
    fn splits(&self) -> &[Split] {
        &self.splits
    }

    async fn read_split(&self, _split: &Split, _rejects: &Rejects) -> Result<BatchStream> {
        let batches = self.source.batches.clone();
        let delay = self.source.delay;
        let items: Box<dyn Iterator<Item = RecordBatch> + Send> = if self.source.endless {
            Box::new(batches.into_iter().cycle())
        } else {
            Box::new(batches.into_iter())
        };
        Ok(futures::stream::iter(items)
            .then(move |b| async move {
                if let Some(d) = delay {
                    tokio_sleep(d).await;
                }
                Ok(b)
            })
            .boxed())
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

async fn tokio_sleep(d: Duration) {
    tokio::time::sleep(d).await;
}
