//! The single writer: a dedicated thread owns the read-write connection and
//! takes jobs from a bounded channel. Whatever is queued when it wakes is
//! committed together in one transaction (group commit): one fsync serves many
//! writers. Each job runs in its own savepoint so one failure rolls back only
//! that job. Answers are sent only after COMMIT returns, so an acknowledged
//! write is durable (synchronous=FULL).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use crate::metrics::Metrics;

/// Most jobs in one transaction: bounds the latency one batch adds.
const MAX_BATCH: usize = 256;
/// Queue capacity: callers wait (back-pressure) beyond this.
const QUEUE: usize = 8_192;

trait Job: Send {
    /// Run inside the open transaction; `true` if the job succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Deliver the answer once the transaction's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct Typed<T, E, F> {
    f: Option<F>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Job for Typed<T, E, F>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else { return false };
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| Err(E::from(StoreError::Panicked)));
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let answer = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(msg), Some(Ok(_))) => Err(E::from(StoreError::Setup(format!("commit failed: {msg}")))),
            (_, Some(Err(e))) => Err(e),
            (_, None) => Err(E::from(StoreError::Panicked)),
        };
        let _ = self.reply.send(answer);
    }
}

type JobSender = mpsc::Sender<Box<dyn Job>>;

#[derive(Clone)]
pub struct Writer {
    tx: Arc<Mutex<Option<JobSender>>>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
    metrics: Arc<Metrics>,
}

impl Writer {
    /// `events` is notified after a commit that wrote change events (the webhook
    /// dispatcher waits on it, so delivery starts at once).
    pub fn start(
        conn: Connection,
        metrics: Arc<Metrics>,
        events: Arc<tokio::sync::Notify>,
    ) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>(QUEUE);
        let m = metrics.clone();
        let thread = std::thread::Builder::new()
            .name("idbridge-store-writer".into())
            .spawn(move || run(conn, rx, m, events))
            .map_err(|e| StoreError::Setup(format!("spawn writer: {e}")))?;
        Ok(Writer { tx: Arc::new(Mutex::new(Some(tx))), thread: Arc::new(Mutex::new(Some(thread))), metrics })
    }

    pub async fn submit<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let sender = match self.tx.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let Some(sender) = sender else { return Err(E::from(StoreError::WriterGone)) };
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Typed { f: Some(f), result: None, reply });
        self.metrics.write_queue_inc();
        if sender.send(job).await.is_err() {
            self.metrics.write_queue_dec(1);
            return Err(E::from(StoreError::WriterGone));
        }
        answer.await.unwrap_or_else(|_| Err(E::from(StoreError::WriterGone)))
    }

    /// Close the queue; the thread drains what is queued, then exits.
    pub fn close(&self) {
        match self.tx.lock() {
            Ok(mut g) => drop(g.take()),
            Err(p) => drop(p.into_inner().take()),
        }
        let handle = match self.thread.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    metrics: Arc<Metrics>,
    events: Arc<tokio::sync::Notify>,
) {
    // The newest change event counted in `idbridge_events_written_total`.
    let mut last_event = super::events::max_id(&super::Tx::new(&conn)).unwrap_or(0);
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        metrics.write_queue_dec(batch.len());
        let started = Instant::now();
        let commit = run_batch(&conn, &mut batch);
        if let Err(msg) = &commit {
            tracing::error!(error = %msg, jobs = batch.len(), "store commit failed; batch rolled back");
        }
        metrics.observe_commit(batch.len(), started.elapsed().as_secs_f64());
        if commit.is_ok() {
            match super::events::kinds_after(&super::Tx::new(&conn), last_event) {
                Ok(written) => {
                    if !written.is_empty() {
                        events.notify_one();
                    }
                    for (id, kind) in written {
                        metrics.event_written(&kind);
                        last_event = id;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "counting written change events failed"),
            }
        }
        for job in batch {
            job.finish(commit.clone());
        }
    }
    tracing::debug!("store writer stopped");
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    for job in batch.iter_mut() {
        let step = (|| -> Result<(), rusqlite::Error> {
            conn.execute_batch("SAVEPOINT job")?;
            if job.run(conn) {
                conn.execute_batch("RELEASE job")
            } else {
                conn.execute_batch("ROLLBACK TO job; RELEASE job")
            }
        })();
        if let Err(e) = step {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.to_string());
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.to_string());
    }
    Ok(())
}
