//! A batch stream fed by a spawned task, so sources can do their reading on
//! their own task (or blocking thread) while the consumer pulls batches.
//!
//! The task is aborted when the stream is dropped (no detached work), and a
//! task that panics or ends early surfaces as an error, never as a silently
//! shorter stream.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use arrow::record_batch::RecordBatch;
use ferry_core::{BatchStream, Error, Result};
use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Sends batches from a producer task to the stream's consumer.
pub type BatchSender = mpsc::Sender<Result<RecordBatch>>;

/// Spawns `produce(sender)` and returns the stream of what it sends. The
/// producer returns `Ok(())` after its last batch, or an error.
pub fn spawn_batch_stream<F, Fut>(capacity: usize, produce: F) -> BatchStream
where
    F: FnOnce(BatchSender) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let err_tx = tx.clone();
    let fut = produce(tx);
    let task = tokio::spawn(async move {
        if let Err(e) = fut.await {
            // The consumer may be gone already; then nobody needs the error.
            let _ = err_tx.send(Err(e)).await;
        }
    });
    Box::pin(TaskStream {
        rx,
        task: Some(task),
    })
}

struct TaskStream {
    rx: mpsc::Receiver<Result<RecordBatch>>,
    task: Option<JoinHandle<()>>,
}

impl Stream for TaskStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                // Every sender is gone: the producer has finished. Make sure it
                // finished normally rather than by panicking.
                let Some(task) = self.task.as_mut() else {
                    return Poll::Ready(None);
                };
                match Pin::new(task).poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(res) => {
                        self.task = None;
                        match res {
                            Ok(()) => Poll::Ready(None),
                            Err(e) => Poll::Ready(Some(Err(Error::Internal(format!(
                                "split reader failed: {e}"
                            ))))),
                        }
                    }
                }
            }
        }
    }
}

impl Drop for TaskStream {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
