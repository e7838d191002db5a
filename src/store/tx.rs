//! The handle domain code holds while it reads or writes: one transaction on the writer
//! thread (inside its savepoint) or one read connection from the pool. Opaque outside
//! the store — its methods that reach the engine are visible only inside `store/`, so the
//! domain can call the per-aggregate operations (`store::users::…`, `store::grants::…`)
//! and nothing else. A second engine adds its own variant of the inner handle.

use rusqlite::{CachedStatement, Connection, Params, Row};

/// One transaction (or read snapshot) of the store.
pub struct Tx<'a> {
    conn: &'a Connection,
}

impl<'a> Tx<'a> {
    pub(super) fn new(conn: &'a Connection) -> Tx<'a> {
        Tx { conn }
    }

    pub(in crate::store) fn prepare_cached(&self, sql: &str) -> rusqlite::Result<CachedStatement<'a>> {
        self.conn.prepare_cached(sql)
    }

    pub(in crate::store) fn execute<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.conn.execute(sql, params)
    }

    pub(in crate::store) fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.conn.query_row(sql, params, f)
    }

    pub(in crate::store) fn last_insert_rowid(&self) -> i64 {
        self.conn.last_insert_rowid()
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
