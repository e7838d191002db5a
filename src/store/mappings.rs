//! Versioned mapping documents per org (every version kept, so an audit event
//! can name the version that made a change).

use super::sql::p;
use super::{StoreError, Tx};

/// The newest (version, document JSON) of an org, if any was ever set.
pub fn latest(conn: &Tx<'_>, org_id: &str) -> Result<Option<(i64, String)>, StoreError> {
    conn.query_opt(
        "SELECT version, document FROM mappings WHERE org_id = ?1 ORDER BY version DESC LIMIT 1",
        p![org_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Store a new version; returns its number.
pub fn insert_next(
    conn: &Tx<'_>,
    org_id: &str,
    document: &str,
    at: &str,
    by: &str,
) -> Result<i64, StoreError> {
    let next: i64 = conn.query_one(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM mappings WHERE org_id = ?1",
        p![org_id],
        |r| r.get(0),
    )?;
    conn.exec(
        "INSERT INTO mappings (org_id, version, document, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        p![org_id, next, document, at, by],
    )?;
    Ok(next)
}
