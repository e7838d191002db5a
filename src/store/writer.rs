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

use super::pg::conn::PgConn;
use super::{StoreError, Tx};
use crate::metrics::Metrics;

/// The writer's connection. On PostgreSQL, many nodes write one database:
/// every write transaction first takes one transaction-level advisory lock,
/// so write transactions run one at a time across the deployment, in the
/// order they take it — the single writer of SQLite, made deployment-wide.
/// Each statement after the lock sees every earlier commit (READ COMMITTED),
/// so a write that reads, checks and writes cannot race another node's
/// (a lost update or a second "unique" userName is impossible by
/// construction, and the unique indexes back it up). Batching jobs into one
/// transaction per node amortises the lock and the commit's fsync.
pub enum WriteConn {
    Sqlite(Connection),
    Pg(Box<PgConn>),
}

/// The advisory lock every PostgreSQL write transaction takes first
/// ("idbridgf": one past the migration lock's key, "idbridge").
pub(super) const PG_WRITE_LOCK: i64 = 0x6964_6272_6964_6766;

/// Why a batch failed, for every job in it.
#[derive(Clone, Debug)]
enum BatchFailure {
    /// The database could not be reached (answered 503).
    Unavailable(String),
    /// Anything else.
    Failed(String),
}

impl BatchFailure {
    fn of(e: StoreError) -> BatchFailure {
        match e {
            StoreError::Unavailable(m) => BatchFailure::Unavailable(m),
            other => BatchFailure::Failed(other.to_string()),
        }
    }
    fn message(&self) -> &str {
        match self {
            BatchFailure::Unavailable(m) | BatchFailure::Failed(m) => m,
        }
    }
    fn error(self) -> StoreError {
        match self {
            BatchFailure::Unavailable(m) => StoreError::Unavailable(m),
            BatchFailure::Failed(m) => StoreError::Setup(format!("commit failed: {m}")),
        }
    }
}

/// Most jobs in one transaction: bounds the latency one batch adds.
const MAX_BATCH: usize = 256;
/// Queue capacity: callers wait (back-pressure) beyond this.
const QUEUE: usize = 8_192;

trait Job: Send {
    /// Run inside the open transaction; `true` if the job succeeded.
    fn run(&mut self, tx: &Tx<'_>) -> bool;
    /// The job answered success although one of its statements failed
    /// (PostgreSQL then refuses the rest of the transaction): its savepoint
    /// is rolled back and it answers this error instead.
    fn poison(&mut self, why: &str);
    /// Deliver the answer once the transaction's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), BatchFailure>);
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
    F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
{
    fn run(&mut self, tx: &Tx<'_>) -> bool {
        let Some(f) = self.f.take() else { return false };
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(tx)))
            .unwrap_or_else(|_| Err(E::from(StoreError::Panicked)));
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn poison(&mut self, why: &str) {
        self.result = Some(Err(E::from(StoreError::Postgres(why.to_string()))));
    }

    fn finish(self: Box<Self>, commit: Result<(), BatchFailure>) {
        let answer = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(f), Some(Ok(_))) => Err(E::from(f.error())),
            (_, Some(Err(e))) => Err(e),
            // The batch failed before this job ran (BEGIN on a lost connection).
            (Err(f), None) => Err(E::from(f.error())),
            (Ok(()), None) => Err(E::from(StoreError::Panicked)),
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
        conn: WriteConn,
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
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
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
    conn: WriteConn,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    metrics: Arc<Metrics>,
    events: Arc<tokio::sync::Notify>,
) {
    // The newest change event counted in `idbridge_events_written_total`.
    let mut last_event = super::events::max_id(&conn.tx()).unwrap_or(0);
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
        let commit = match &conn {
            WriteConn::Sqlite(c) => run_batch(c, &mut batch).map_err(BatchFailure::Failed),
            WriteConn::Pg(c) => run_pg_batch(c, &mut batch),
        };
        if let Err(f) = &commit {
            tracing::error!(error = %f.message(), jobs = batch.len(), "store commit failed; batch rolled back");
        }
        metrics.observe_commit(batch.len(), started.elapsed().as_secs_f64());
        if commit.is_ok() {
            match super::events::kinds_after(&conn.tx(), last_event) {
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

impl WriteConn {
    fn tx(&self) -> Tx<'_> {
        match self {
            WriteConn::Sqlite(c) => Tx::new(c),
            WriteConn::Pg(c) => Tx::pg(c),
        }
    }
}

/// One PostgreSQL transaction for the batch, under the deployment-wide write
/// lock; a savepoint per job when there are several.
fn run_pg_batch(conn: &PgConn, batch: &mut [Box<dyn Job>]) -> Result<(), BatchFailure> {
    conn.ensure_fresh().map_err(BatchFailure::of)?;
    conn.take_failed();
    let single = batch.len() == 1;
    // Each round trip counts on PostgreSQL: the savepoint bookkeeping rides
    // with the statements around it (BEGIN…SAVEPOINT, RELEASE…SAVEPOINT,
    // RELEASE…COMMIT), one simple query each.
    let begin = if single {
        format!("BEGIN; SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")
    } else {
        format!("BEGIN; SELECT pg_advisory_xact_lock({PG_WRITE_LOCK}); SAVEPOINT job")
    };
    match conn.batch(&begin) {
        Ok(()) => {}
        // The session died since its last use (a server restart, a terminated
        // backend): nothing has run yet, so reconnect and begin once more.
        Err(StoreError::Unavailable(_)) => {
            conn.take_failed();
            conn.ensure().map_err(BatchFailure::of)?;
            conn.batch(&begin).map_err(BatchFailure::of)?;
        }
        Err(e) => return Err(BatchFailure::of(e)),
    }
    let tx = Tx::pg(conn);
    let last = batch.len().saturating_sub(1);
    let mut wrote = false;
    for (i, job) in batch.iter_mut().enumerate() {
        let ok = job.run(&tx);
        let statement_failed = conn.take_failed();
        if ok && statement_failed {
            tracing::error!("a write job continued after a failed statement; its changes are rolled back");
            job.poison("a statement of this write failed; nothing of it was written");
        }
        let keep = ok && !statement_failed;
        wrote |= keep;
        let mut next = String::new();
        if !single {
            next.push_str(if keep { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" });
            next.push_str("; ");
        }
        if i == last {
            // Nothing kept (e.g. a lone job that failed): roll back; each job's own answer stands.
            next.push_str(if wrote { "COMMIT" } else { "ROLLBACK" });
        } else {
            next.push_str("SAVEPOINT job");
        }
        if let Err(e) = conn.batch(&next) {
            let _ = conn.batch("ROLLBACK");
            return Err(BatchFailure::of(e));
        }
    }
    Ok(())
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    let tx = Tx::new(conn);
    for job in batch.iter_mut() {
        let step = (|| -> Result<(), rusqlite::Error> {
            conn.execute_batch("SAVEPOINT job")?;
            if job.run(&tx) {
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
