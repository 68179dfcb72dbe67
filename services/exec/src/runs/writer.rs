//! Group commit of run records. Runs hand their record to one writer task, which stores every
//! record waiting at that moment in one statement. A run still waits until its own record is
//! committed, so a run listing read after a run's response includes it.

use tokio::sync::{mpsc, oneshot};

use super::records::{self, RunRecord};
use crate::ExecError;

/// Maximum records stored in one statement. At 20 columns each, 256 records bind 5,120
/// parameters, below the limits of SQLite (32,766 by default since 3.32) and PostgreSQL (65,535).
const MAX_BATCH: usize = 256;

/// Maximum records queued for the writer. A run that finds the queue full waits for room.
const QUEUE_CAPACITY: usize = 4096;

/// A record and the channel that reports whether it was stored.
struct Pending {
    record: RunRecord,
    stored: oneshot::Sender<Result<(), String>>,
}

/// Handle to the task that stores run records. The task ends when the last handle is dropped.
#[derive(Clone)]
pub struct RecordWriter {
    queue: mpsc::Sender<Pending>,
}

impl RecordWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub fn start(db: sea_orm::DatabaseConnection) -> RecordWriter {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(db, receiver));
        RecordWriter { queue }
    }

    /// Stores one record and returns once it is committed.
    pub async fn write(&self, record: RunRecord) -> Result<(), ExecError> {
        let (stored, outcome) = oneshot::channel();
        let pending = Pending { record, stored };
        if self.queue.send(pending).await.is_err() {
            return Err(writer_stopped());
        }
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(ExecError::Internal(anyhow::anyhow!(message))),
            Err(_) => Err(writer_stopped()),
        }
    }
}

fn writer_stopped() -> ExecError {
    ExecError::Internal(anyhow::anyhow!("the run record writer has stopped"))
}

/// Stores whatever records are waiting, one statement per batch, until every sender is gone.
async fn write_batches(db: sea_orm::DatabaseConnection, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (records, senders): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|pending| (pending.record, pending.stored))
            .unzip();
        // Each run logs a failure with its run id, so the batch does not log it again.
        let outcome = records::insert_many(&db, records)
            .await
            .map_err(|error| error.to_string());

        for sender in senders {
            let _ = sender.send(outcome.clone());
        }
    }
}
