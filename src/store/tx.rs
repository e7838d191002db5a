//! The handle domain code holds while it reads or writes: one transaction on the writer
//! thread (inside its savepoint) or one read connection from the pool. Opaque outside
//! the store — its methods that reach the engine are visible only inside `store/`, so the
//! domain can call the per-aggregate operations (`store::users::…`, `store::grants::…`)
//! and nothing else. A second engine adds its own variant of the inner handle.

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
    Sqlite(&'a Connection),
    Pg(&'a PgConn),
}

/// Which engine a statement runs on, for the few statements whose SQL differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl<'a> Tx<'a> {
    pub(super) fn new(conn: &'a Connection) -> Tx<'a> {
        Tx { inner: Inner::Sqlite(conn) }
    }

    pub(super) fn pg(conn: &'a PgConn) -> Tx<'a> {
        Tx { inner: Inner::Pg(conn) }
    }

    /// The engine under this handle.
    pub(in crate::store) fn engine(&self) -> Engine {
        match self.inner {
            Inner::Sqlite(_) => Engine::Sqlite,
            Inner::Pg(_) => Engine::Postgres,
        }
    }

    // The engine-neutral statements (store::sql): what the per-aggregate files use.

    /// Run a statement that returns no rows; how many rows it changed.
    pub(in crate::store) fn exec(&self, sql: &str, params: Params<'_>) -> Result<usize, StoreError> {
        match self.inner {
            Inner::Sqlite(c) => Ok(c.prepare_cached(sql)?.execute(sqlite_params(params))?),
            Inner::Pg(c) => c.exec(sql, params),
        }
    }

    /// Run an INSERT into a table with an engine-assigned integer `id`; that id.
    pub(in crate::store) fn insert_id(&self, sql: &str, params: Params<'_>) -> Result<i64, StoreError> {
        match self.inner {
            Inner::Sqlite(c) => {
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
            Inner::Sqlite(c) => {
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
            Inner::Sqlite(c) => {
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
