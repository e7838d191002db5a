//! Key/value settings (the operator token hash, ...).

use rusqlite::{OptionalExtension, params};

use super::{StoreError, Tx};

pub fn get(conn: &Tx<'_>, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.query_row("SELECT value FROM settings WHERE key = ?1", params![key], |r| r.get(0)).optional()?)
}

pub fn put(conn: &Tx<'_>, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// A cheap query that proves the database answers (readiness).
pub fn ping(conn: &Tx<'_>) -> Result<(), StoreError> {
    conn.query_row("SELECT count(*) FROM orgs", [], |r| r.get::<_, i64>(0))?;
    Ok(())
}
