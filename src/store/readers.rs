//! A small pool of read-only connections used from `spawn_blocking`.

use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::pg::conn::PgConn;
use super::tx::ReadCache;
use super::{StoreError, Tx};

/// A read connection of either engine.
pub enum ReadConn {
    Sqlite(Connection, Box<ReadCache>),
    Pg(Box<PgConn>),
}

impl ReadConn {
    /// The handle over this connection; on PostgreSQL, reconnected first if it was lost.
    fn tx(&self) -> Result<Tx<'_>, StoreError> {
        match self {
            ReadConn::Sqlite(c, counts) => Ok(Tx::reading(c, counts)),
            ReadConn::Pg(c) => {
                c.ensure_fresh()?;
                c.take_failed();
                Ok(Tx::pg(c))
            }
        }
    }
}

pub struct Readers {
    conns: Mutex<Vec<ReadConn>>,
    permits: Semaphore,
}

impl Readers {
    pub fn new(conns: Vec<ReadConn>) -> Self {
        let n = conns.len();
        Readers { conns: Mutex::new(conns), permits: Semaphore::new(n) }
    }

    pub async fn run<T, E, F>(self: &std::sync::Arc<Self>, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        // The permit guarantees a connection is in the vector when we take one.
        let permit = self.permits.acquire().await.map_err(|_| StoreError::WriterGone)?;
        let pool = self.clone();
        let out = tokio::task::spawn_blocking(move || {
            let conn = match pool.conns.lock() {
                Ok(mut v) => v.pop(),
                Err(poisoned) => poisoned.into_inner().pop(),
            };
            let Some(conn) = conn else {
                return Err(E::from(StoreError::Setup("reader pool empty".into())));
            };
            pool.run_on(conn, job)
        })
        .await;
        drop(permit);
        out.unwrap_or_else(|_| Err(E::from(StoreError::Panicked)))
    }
}

impl Readers {
    /// Run `job` on the calling (async worker) thread with an idle SQLite
    /// connection, or None (the job handed back) when none is idle or the
    /// engine is PostgreSQL, whose reads wait on the network.
    pub fn try_inline<T, E, F>(&self, job: F) -> Result<Result<T, E>, F>
    where
        E: From<StoreError>,
        F: FnOnce(&Tx<'_>) -> Result<T, E>,
    {
        let Ok(permit) = self.permits.try_acquire() else { return Err(job) };
        let conn = match self.conns.lock() {
            Ok(mut v) => match v.last() {
                Some(ReadConn::Sqlite(..)) => v.pop(),
                _ => None,
            },
            Err(_) => None,
        };
        let Some(conn) = conn else {
            drop(permit);
            return Err(job);
        };
        let result = self.run_on(conn, job);
        drop(permit);
        Ok(result)
    }

    /// Run `job` on `conn` (a panic is contained), then give `conn` back to the pool.
    fn run_on<T, E, F>(&self, conn: ReadConn, job: F) -> Result<T, E>
    where
        E: From<StoreError>,
        F: FnOnce(&Tx<'_>) -> Result<T, E>,
    {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match conn.tx() {
            Ok(tx) => job(&tx),
            Err(e) => Err(E::from(e)),
        }));
        match self.conns.lock() {
            Ok(mut v) => v.push(conn),
            Err(poisoned) => poisoned.into_inner().push(conn),
        }
        result.unwrap_or_else(|_| Err(E::from(StoreError::Panicked)))
    }
}

impl Drop for Readers {
    /// The PostgreSQL client closes its connection by blocking on its own
    /// runtime, which must not happen on an async worker (the last `Db`
    /// handle may be dropped there): hand the connections to a plain thread.
    fn drop(&mut self) {
        let conns = match self.conns.get_mut() {
            Ok(v) => std::mem::take(v),
            Err(p) => std::mem::take(p.into_inner()),
        };
        if conns.iter().any(|c| matches!(c, ReadConn::Pg(_))) {
            let _ =
                std::thread::Builder::new().name("idbridge-store-close".into()).spawn(move || drop(conns));
        }
    }
}
