//! The SQLite store: one writer thread with group commit, a small pool of
//! readers, numbered migrations. This module alone knows rusqlite; the domain
//! hands it closures built from the per-aggregate functions below.

mod error;
mod files;
mod functions;
pub(crate) mod migrate;
pub mod pg;
#[cfg(test)]
mod query_tests;
mod readers;
pub(crate) mod sql;
mod tx;
mod writer;

pub mod api_keys;
pub mod audit;
pub mod connections;
pub mod copy;
pub mod events;
pub mod grants;
pub mod keys;
pub mod login_states;
pub mod mapping_grants;
pub mod mappings;
pub mod orgs;
pub mod rate_limits;
pub mod scim;
pub mod scim_query;
#[cfg(test)]
mod scim_query_tests;
pub(crate) mod scim_sql;
pub(crate) mod scim_sql_pg;
#[doc(hidden)]
pub use scim_sql_pg::testing as scim_sql_pg_testing;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod users;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::StoreError;
#[cfg(test)]
pub use tx::MemoryDb;
pub use tx::{Engine, Tx};

use rusqlite::Connection;

use crate::metrics::Metrics;

/// How many read connections the pool holds (readers never block the writer in WAL).
const READERS: usize = 4;
/// How long a connection waits on a lock before SQLITE_BUSY.
const BUSY_TIMEOUT_MS: u64 = 5_000;

/// How many PostgreSQL read connections each node holds (reads wait on the
/// network, not the CPU, so more than SQLite's).
const PG_READERS: usize = 8;

/// Shared handle to the database: cheap to clone.
#[derive(Clone)]
pub struct Db {
    writer: writer::Writer,
    readers: Arc<readers::Readers>,
    location: Arc<Location>,
    events: Arc<tokio::sync::Notify>,
    /// PostgreSQL: whether this node runs the deployment's background work.
    leader: Option<pg::leader::Leadership>,
}

/// Where the data is.
enum Location {
    File(PathBuf),
    /// The URL (with its password: keep it out of messages, see `pg::redacted`).
    Postgres(String),
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 512;

/// Open a connection with the pragmas every connection needs.
fn open_conn(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    if !read_only {
        // Owner-only before SQLite creates anything; -wal/-shm inherit the mode.
        files::secure_db_files(path)?;
    }
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(path, flags)?;
    // Every statement of the store is prepared once per connection (store::sql); the
    // store has fewer distinct statements than this, so none is ever evicted.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The query planner stability guarantee: a plan never depends on the values
    // bound to it. Without it SQLite marks statements whose plan *could* depend on
    // a bound value (joins, compound SELECTs, LIMIT ?), and rusqlite's statement
    // cache clears the bindings when a statement comes back, which expires those
    // statements: every SCIM create re-compiled its address lookup and facts
    // query, two fifths of the writer thread's time. The store never runs ANALYZE,
    // so there are no statistics a bound value could improve a plan with.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    functions::register(&conn)?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    // WAL: readers do not block the writer. synchronous=FULL: a committed
    // transaction survives power loss, not only a process crash.
    // foreign_keys is per connection and off by default in SQLite.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;",
    )?;
    Ok(conn)
}

impl Db {
    /// Open (creating if needed) the database at `path`, apply migrations, and
    /// start the writer thread and the reader pool.
    pub fn open(path: &Path, metrics: Arc<Metrics>) -> Result<Db, StoreError> {
        let events = Arc::new(tokio::sync::Notify::new());
        let mut conn = open_conn(path, false)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Setup(format!("journal_mode is {mode}, WAL required")));
        }
        migrate::apply(&mut conn)?;
        let mut pool = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = open_conn(path, true)?;
            c.execute_batch("PRAGMA query_only = ON;")?;
            pool.push(readers::ReadConn::Sqlite(c, Default::default()));
        }
        Ok(Db {
            writer: writer::Writer::start(writer::WriteConn::Sqlite(conn), metrics, events.clone())?,
            readers: Arc::new(readers::Readers::new(pool)),
            location: Arc::new(Location::File(path.to_path_buf())),
            events,
            leader: None,
        })
    }

    /// Connect to the PostgreSQL database at `url` (blocking), apply its
    /// migrations (under the advisory lock, so nodes starting together do not
    /// race), and start the writer and the readers.
    pub fn open_postgres(url: &str, metrics: Arc<Metrics>) -> Result<Db, StoreError> {
        pg::migrate_url(url)?;
        let events = Arc::new(tokio::sync::Notify::new());
        let writer = pg::conn::PgConn::connect(url)?;
        let mut pool = Vec::with_capacity(PG_READERS);
        for _ in 0..PG_READERS {
            pool.push(readers::ReadConn::Pg(Box::new(pg::conn::PgConn::connect(url)?)));
        }
        Ok(Db {
            writer: writer::Writer::start(writer::WriteConn::Pg(Box::new(writer)), metrics, events.clone())?,
            readers: Arc::new(readers::Readers::new(pool)),
            location: Arc::new(Location::Postgres(url.to_string())),
            events,
            leader: Some(pg::leader::Leadership::start(url.to_string())),
        })
    }

    /// Whether this node should run the deployment's background work now
    /// (webhook delivery, housekeeping, SSF polling). SQLite: always (one
    /// server per file); PostgreSQL: the one node holding the leadership lock.
    pub fn leading(&self) -> bool {
        self.leader.as_ref().is_none_or(pg::leader::Leadership::leading)
    }

    /// The engine this handle stores in.
    pub fn engine(&self) -> Engine {
        match &*self.location {
            Location::File(_) => Engine::Sqlite,
            Location::Postgres(_) => Engine::Postgres,
        }
    }

    /// The database, for messages: the file, or the URL without its password.
    pub fn describe(&self) -> String {
        match &*self.location {
            Location::File(p) => p.display().to_string(),
            Location::Postgres(url) => pg::redacted(url),
        }
    }

    /// Notified after each commit that wrote change events.
    pub fn events_committed(&self) -> &tokio::sync::Notify {
        &self.events
    }

    /// Apply migrations only (for `idbridge migrate`); returns the versions applied.
    pub fn migrate_only(path: &Path) -> Result<Vec<u32>, StoreError> {
        let mut conn = open_conn(path, false)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
        migrate::apply(&mut conn)
    }

    /// The database file (SQLite only).
    pub fn path(&self) -> Option<&Path> {
        match &*self.location {
            Location::File(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// Run `job` on the writer thread inside a transaction (batched with other
    /// queued jobs; each in its own savepoint). The answer comes only after the
    /// commit is durable; if `job` fails, its changes are rolled back.
    pub async fn write<T, E, F>(&self, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        self.writer.submit(job).await
    }

    /// Run `job` on a pooled read connection off the async runtime.
    pub async fn read<T, E, F>(&self, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        self.readers.run(job).await
    }

    /// A read of a few rows by an index (a SCIM GET by id, a `userName eq`
    /// lookup): on SQLite it runs on the calling async worker with an idle
    /// read connection, because handing it to the blocking pool and back costs
    /// more than the read (scim_load GET `userName eq`, c=16, this machine:
    /// 19,000-19,300 req/s through the pool, 21,300-24,100 inline). Reads that
    /// may walk many rows must use [`Db::read`]; so does every PostgreSQL read,
    /// which waits on the network (it falls back to the pool, as when no
    /// connection is idle).
    pub async fn read_point<T, E, F>(&self, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        match self.readers.try_inline(job) {
            Ok(result) => result,
            Err(job) => self.readers.run(job).await,
        }
    }

    /// Stop the writer after the jobs already queued; waits for the thread.
    pub fn close(&self) {
        if let Some(l) = &self.leader {
            l.stop();
        }
        self.writer.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum TestError {
        Store,
        Refused,
    }
    impl From<StoreError> for TestError {
        fn from(_: StoreError) -> Self {
            TestError::Store
        }
    }

    /// A cached statement is compiled once: a join or a compound SELECT (the
    /// address lookup of every SCIM create, a user's facts) is not re-prepared
    /// each time it comes back from the statement cache.
    #[test]
    fn cached_statements_are_not_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut c = open_conn(&path, false).unwrap();
        migrate::apply(&mut c).unwrap();
        c.execute_batch("INSERT INTO orgs VALUES ('o', 'acme', 'Acme', 't');").unwrap();
        let sql = "SELECT m.user_id, g.display_name FROM group_members m JOIN groups g ON g.id = m.group_id
                   WHERE m.user_id = ?1
                   UNION SELECT id, NULL FROM users WHERE org_id = ?2 AND email_key = ?1";
        for i in 0..5 {
            c.execute(
                "INSERT INTO users (id, org_id, origin, user_name, user_name_key, created_at, updated_at)
                 VALUES (?1, 'o', 'scim', ?1, ?1, 't', 't')",
                [format!("u{i}")],
            )
            .unwrap();
            let mut st = c.prepare_cached(sql).unwrap();
            st.query(["u1", "o"]).unwrap().next().unwrap();
            assert_eq!(st.get_status(rusqlite::StatementStatus::RePrepare), 0, "round {i}");
        }
    }

    /// Read connections remember counts only until the next commit: every read
    /// after a write (on any pooled connection) counts the new row.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remembered_counts_end_with_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), Arc::new(Metrics::new())).unwrap();
        for i in 0..6i64 {
            for _ in 0..2 * READERS {
                let n: i64 = db
                    .read(|c| c.count("SELECT count(*) FROM settings WHERE value = ?1", sql::p!["x"]))
                    .await
                    .unwrap();
                assert_eq!(n, i);
            }
            let r: Result<usize, StoreError> = db
                .write(move |c| {
                    c.exec("INSERT INTO settings (key, value) VALUES (?1, 'x')", sql::p![format!("k{i}")])
                })
                .await;
            r.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_commit_isolates_failed_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::new());
        let db = Db::open(&dir.path().join("t.db"), metrics.clone()).unwrap();
        let mut handles = Vec::new();
        for i in 0..300i64 {
            let db = db.clone();
            handles.push(tokio::spawn(async move {
                db.write(move |c| {
                    c.exec("INSERT INTO settings (key, value) VALUES (?1, 'x')", sql::p![format!("k{i}")])?;
                    if i % 3 == 0 { Err(TestError::Refused) } else { Ok(i) }
                })
                .await
            }));
        }
        let mut ok = 0;
        for h in handles {
            match h.await.unwrap() {
                Ok(_) => ok += 1,
                Err(TestError::Refused) => {}
                Err(TestError::Store) => panic!("store error"),
            }
        }
        assert_eq!(ok, 200);
        let n: i64 = db
            .read(|c| c.query_one("SELECT count(*) FROM settings", sql::p![], |r| r.get::<i64>(0)))
            .await
            .unwrap();
        assert_eq!(n, 200, "failed jobs rolled back, the others committed");
        assert_eq!(metrics.write_queue_depth(), 0);
        // A panicking job is contained and the writer keeps serving.
        let r: Result<(), TestError> = db.write(|_| panic!("boom")).await;
        assert!(matches!(r, Err(TestError::Store)));
        let r: Result<i64, TestError> = db.write(|_| Ok(7)).await;
        assert_eq!(r.unwrap(), 7);
        db.close();
        let r: Result<i64, TestError> = db.write(|_| Ok(7)).await;
        assert!(matches!(r, Err(TestError::Store)), "closed writer refuses");
    }
}
