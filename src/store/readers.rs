//! A small pool of read-only connections used from `spawn_blocking`.

use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::StoreError;

pub struct Readers {
    conns: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    pub fn new(conns: Vec<Connection>) -> Self {
        let n = conns.len();
        Readers { conns: Mutex::new(conns), permits: Semaphore::new(n) }
    }

    pub async fn run<T, E, F>(self: &std::sync::Arc<Self>, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
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
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&conn)));
            match pool.conns.lock() {
                Ok(mut v) => v.push(conn),
                Err(poisoned) => poisoned.into_inner().push(conn),
            }
            result.unwrap_or_else(|_| Err(E::from(StoreError::Panicked)))
        })
        .await;
        drop(permit);
        out.unwrap_or_else(|_| Err(E::from(StoreError::Panicked)))
    }
}
