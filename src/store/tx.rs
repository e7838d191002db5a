//! The handle domain code holds while it reads or writes: one transaction on the writer
//! thread (inside its savepoint) or one read connection from the pool. Opaque outside
//! the store — its methods that reach the engine are visible only inside `store/`, so the
//! domain can call the per-aggregate operations (`store::users::…`, `store::grants::…`)
//! and nothing else. A second engine adds its own variant of the inner handle.

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::Connection;

use super::StoreError;
use super::pg::conn::PgConn;
use super::sql::{Params, Row, sqlite_params};

/// One transaction (or read snapshot) of the store.
pub struct Tx<'a> {
    inner: Inner<'a>,
}

#[derive(Clone, Copy)]
enum Inner<'a> {
    Sqlite(&'a Connection, Option<&'a ReadCache>),
    Pg(&'a PgConn),
}

/// What a read connection remembers — the counts it answered, and values its
/// callers asked it to keep (index paging's page ends) — valid while nothing has been
/// committed since: SQLite's `PRAGMA data_version` of this connection changes
/// exactly when another connection (the writer, another process) commits.
/// Index paging states `totalResults` on every page; without this, walking an
/// org's users page by page counted the whole org again for each page.
#[derive(Default)]
pub struct ReadCache {
    inner: RefCell<Counts>,
}

#[derive(Default)]
struct Counts {
    data_version: Option<i64>,
    by_query: HashMap<String, i64>,
    /// Values the caller asked to keep (index paging's page positions).
    marks: HashMap<String, String>,
}

/// Most counts (and, apart, values) one connection remembers for one data version.
const MAX_COUNTS: usize = 256;

/// This connection's `PRAGMA data_version`; what `cache` remembers is dropped
/// when it has changed (another connection committed).
fn data_version(c: &Connection, cache: &ReadCache) -> Result<i64, StoreError> {
    let version: i64 = c.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
    let mut counts = cache.inner.borrow_mut();
    if counts.data_version != Some(version) {
        counts.by_query.clear();
        counts.marks.clear();
        counts.data_version = Some(version);
    }
    Ok(version)
}

/// Which engine a statement runs on, for the few statements whose SQL differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl<'a> Tx<'a> {
    pub(super) fn new(conn: &'a Connection) -> Tx<'a> {
        Tx { inner: Inner::Sqlite(conn, None) }
    }

    /// A read connection's handle, with the counts it remembers.
    pub(super) fn reading(conn: &'a Connection, counts: &'a ReadCache) -> Tx<'a> {
        Tx { inner: Inner::Sqlite(conn, Some(counts)) }
    }

    pub(super) fn pg(conn: &'a PgConn) -> Tx<'a> {
        Tx { inner: Inner::Pg(conn) }
    }

    /// The engine under this handle.
    pub(in crate::store) fn engine(&self) -> Engine {
        match self.inner {
            Inner::Sqlite(..) => Engine::Sqlite,
            Inner::Pg(_) => Engine::Postgres,
        }
    }

    // The engine-neutral statements (store::sql): what the per-aggregate files use.

    /// Run a statement that returns no rows; how many rows it changed.
    pub(in crate::store) fn exec(&self, sql: &str, params: Params<'_>) -> Result<usize, StoreError> {
        match self.inner {
            Inner::Sqlite(c, _) => Ok(c.prepare_cached(sql)?.execute(sqlite_params(params))?),
            Inner::Pg(c) => c.exec(sql, params),
        }
    }

    /// Run an INSERT into a table with an engine-assigned integer `id`; that id.
    pub(in crate::store) fn insert_id(&self, sql: &str, params: Params<'_>) -> Result<i64, StoreError> {
        match self.inner {
            Inner::Sqlite(c, _) => {
                c.prepare_cached(sql)?.execute(sqlite_params(params))?;
                Ok(c.last_insert_rowid())
            }
            Inner::Pg(c) => {
                let rows = c.query(&format!("{sql} RETURNING id"), params)?;
                let row = rows.first().ok_or_else(|| StoreError::Postgres("INSERT returned no id".into()))?;
                Row::pg(row).get(0)
            }
        }
    }

    /// Visit each row in order until `visit` answers false.
    pub(in crate::store) fn query_each(
        &self,
        sql: &str,
        params: Params<'_>,
        mut visit: impl FnMut(&Row<'_>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        match self.inner {
            Inner::Sqlite(c, _) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(sqlite_params(params))?;
                while let Some(r) = rows.next()? {
                    if !visit(&Row::sqlite(r))? {
                        break;
                    }
                }
            }
            Inner::Pg(c) => c.query_each(sql, params, &mut |r| visit(&Row::pg(r)))?,
        }
        Ok(())
    }

    /// Every row, mapped.
    pub(in crate::store) fn query_vec<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        mut map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.query_each(sql, params, |r| {
            out.push(map(r)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The first row, mapped, if there is one.
    pub(in crate::store) fn query_opt<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        match self.inner {
            Inner::Sqlite(c, _) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(sqlite_params(params))?;
                match rows.next()? {
                    Some(r) => map(&Row::sqlite(r)).map(Some),
                    None => Ok(None),
                }
            }
            Inner::Pg(c) => match c.query(sql, params)?.first() {
                Some(r) => map(&Row::pg(r)).map(Some),
                None => Ok(None),
            },
        }
    }

    /// `SELECT count(*) …`: the count, remembered by a read connection until the
    /// next commit of any other connection (see [`ReadCache`]). PostgreSQL and
    /// the writer always count.
    pub(in crate::store) fn count(&self, sql: &str, params: Params<'_>) -> Result<i64, StoreError> {
        let Inner::Sqlite(c, Some(cache)) = self.inner else {
            return self.query_one(sql, params, |r| r.get(0));
        };
        let version = data_version(c, cache)?;
        let key = format!("{sql}\u{0}{:?}", params.iter().map(|p| p.value()).collect::<Vec<_>>());
        {
            let counts = cache.inner.borrow();
            if let Some(n) = counts.by_query.get(&key) {
                return Ok(*n);
            }
        }
        let n: i64 = self.query_one(sql, params, |r| r.get(0))?;
        // Kept under the version read before counting: a commit in between
        // changes the version, so the next call counts again.
        let mut counts = cache.inner.borrow_mut();
        if counts.data_version == Some(version) && counts.by_query.len() < MAX_COUNTS {
            counts.by_query.insert(key, n);
        }
        Ok(n)
    }

    /// The state of the data this read sees, for [`Tx::recall`] and
    /// [`Tx::remember`]: None where nothing is remembered (PostgreSQL, the writer).
    pub fn read_stamp(&self) -> Result<Option<i64>, StoreError> {
        match self.inner {
            Inner::Sqlite(c, Some(cache)) => Ok(Some(data_version(c, cache)?)),
            _ => Ok(None),
        }
    }

    /// A value remembered under `key` at `stamp`, if nothing has been committed since.
    pub fn recall(&self, stamp: Option<i64>, key: &str) -> Option<String> {
        let (Inner::Sqlite(_, Some(cache)), Some(stamp)) = (self.inner, stamp) else { return None };
        let counts = cache.inner.borrow();
        if counts.data_version != Some(stamp) {
            return None;
        }
        counts.marks.get(key).cloned()
    }

    /// Keep `value` under `key` until the next commit of another connection,
    /// if nothing has been committed since `stamp` was read.
    pub fn remember(&self, stamp: Option<i64>, key: String, value: String) {
        let (Inner::Sqlite(_, Some(cache)), Some(stamp)) = (self.inner, stamp) else { return };
        let mut counts = cache.inner.borrow_mut();
        if counts.data_version == Some(stamp) && counts.marks.len() < MAX_COUNTS {
            counts.marks.insert(key, value);
        }
    }

    /// The first row, mapped; no row is an error (an aggregate such as COUNT always has one).
    pub(in crate::store) fn query_one<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, map)?.ok_or(StoreError::NoRow)
    }
}

/// A throw-away migrated in-memory database for unit tests of code above the store.
#[cfg(test)]
pub struct MemoryDb {
    conn: Connection,
}

#[cfg(test)]
impl Default for MemoryDb {
    fn default() -> Self {
        MemoryDb::new()
    }
}

#[cfg(test)]
impl MemoryDb {
    /// Open and migrate; panics on failure (tests only).
    #[allow(clippy::unwrap_used)]
    pub fn new() -> MemoryDb {
        let mut conn = Connection::open_in_memory().unwrap();
        super::functions::register(&conn).unwrap();
        super::migrate::apply(&mut conn).unwrap();
        MemoryDb { conn }
    }

    /// The handle over this database.
    pub fn tx(&self) -> Tx<'_> {
        Tx::new(&self.conn)
    }
}

#[cfg(test)]
impl MemoryDb {
    /// The raw connection, for store-internal tests that compare plans or rows.
    pub fn raw(&self) -> &Connection {
        &self.conn
    }
}
