//! Group commit of run records. Runs hand their record to one writer task and respond without
//! waiting for it. The writer gathers records for a short while and stores them in one
//! transaction. Readers of the run log first ask the writer to flush, so a listing
//! read after a run's response includes that run.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};

use super::records::{self, RunRecord};
use crate::ExecError;

/// Maximum records stored in one transaction.
const MAX_BATCH: usize = 256;

/// Maximum messages queued for the writer. A run that finds the queue full waits for room, so a
/// slow database slows runs down rather than growing memory.
const QUEUE_CAPACITY: usize = 8192;

enum Message {
    Record(Box<RunRecord>),
    /// Replied to once every record queued before it is stored or has failed.
    Flush(oneshot::Sender<()>),
}

/// Handle to the task that stores run records. The task stores what is queued and ends when
/// the last handle is dropped.
#[derive(Clone)]
pub struct RecordWriter {
    queue: mpsc::Sender<Message>,
    /// Wakes the writer from its gathering window when a flush is queued.
    flush_requested: Arc<Notify>,
}

impl RecordWriter {
    /// Starts the writer task on the current Tokio runtime. After the first record arrives, the
    /// writer waits `window` for more unless a reader requests a flush. So `window` is the
    /// longest time a record stays in memory only.
    pub fn start(db: sea_orm::DatabaseConnection, window: Duration) -> RecordWriter {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let flush_requested = Arc::new(Notify::new());
        tokio::spawn(write_batches(db, receiver, flush_requested.clone(), window));
        RecordWriter {
            queue,
            flush_requested,
        }
    }

    /// Queues one record. It is stored at the end of the writer's window, or at the next flush.
    pub async fn submit(&self, record: RunRecord) -> Result<(), ExecError> {
        self.queue
            .send(Message::Record(Box::new(record)))
            .await
            .map_err(|_| writer_stopped())
    }

    /// Returns once every record queued before the call is stored, or its failure logged.
    pub async fn flush(&self) -> Result<(), ExecError> {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_err() {
            return Err(writer_stopped());
        }
        self.flush_requested.notify_one();
        flushed.await.map_err(|_| writer_stopped())
    }
}

fn writer_stopped() -> ExecError {
    ExecError::Internal(anyhow::anyhow!("the run record writer has stopped"))
}

/// Stores queued records in batches until every handle is gone and the queue is empty.
async fn write_batches(
    db: sea_orm::DatabaseConnection,
    mut receiver: mpsc::Receiver<Message>,
    flush_requested: Arc<Notify>,
    window: Duration,
) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut messages, MAX_BATCH).await > 0 {
        // Waiting out the window, rather than taking each record as it arrives, keeps runs from
        // waking the writer one by one.
        if !has_flush(&messages) && messages.len() < MAX_BATCH {
            tokio::select! {
                _ = tokio::time::sleep(window) => {}
                _ = flush_requested.notified() => {}
            }
        }
        while messages.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(message) => messages.push(message),
                Err(_) => break,
            }
        }

        let mut records = Vec::with_capacity(messages.len());
        let mut flushes = Vec::new();
        for message in messages.drain(..) {
            match message {
                Message::Record(record) => records.push(*record),
                Message::Flush(done) => flushes.push(done),
            }
        }
        store(&db, records).await;

        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Returns true when a reader is waiting for a flush among `messages`.
fn has_flush(messages: &[Message]) -> bool {
    messages
        .iter()
        .any(|message| matches!(message, Message::Flush(_)))
}

/// Stores one batch of records, logging a failure with the batch's size and first run id.
async fn store(db: &sea_orm::DatabaseConnection, records: Vec<RunRecord>) {
    let count = records.len();
    let first = records.first().map(|record| record.id);
    if let Err(error) = records::insert_many(db, records).await {
        tracing::error!(
            records = count,
            first_run_id = ?first,
            error = %error,
            "storing run records failed"
        );
    }
}
