//! Key/value settings (the operator token hash, ...).

use super::sql::p;
use super::{StoreError, Tx};

pub fn get(conn: &Tx<'_>, key: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt("SELECT value FROM settings WHERE key = ?1", p![key], |r| r.get(0))
}

pub fn put(conn: &Tx<'_>, key: &str, value: &str) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        p![key, value],
    )?;
    Ok(())
}

/// A cheap query that proves the database answers (readiness).
pub fn ping(conn: &Tx<'_>) -> Result<(), StoreError> {
    conn.query_one("SELECT count(*) FROM orgs", p![], |r| r.get::<i64>(0))?;
    Ok(())
}
