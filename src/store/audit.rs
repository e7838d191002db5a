//! Append-only audit events, written in the same transaction as the change.

use rusqlite::params;
use serde_json::Value;

use super::{StoreError, Tx};
use crate::audit::Event;
use crate::model::AuditEvent;

/// Append one event; returns its id.
pub fn append(conn: &Tx<'_>, at: &str, e: Event<'_>) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit_events (org_id, at, actor, action, target, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![e.org_id, at, e.actor, e.action.as_str(), e.target, e.detail.to_string()])?;
    Ok(conn.last_insert_rowid())
}

/// Events of one org with id > `after`, oldest first, at most `limit`.
pub fn list(conn: &Tx<'_>, org_id: &str, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor, action, target, detail FROM audit_events
         WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![org_id, after, limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, String>(5)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, at, actor, action, target, detail) = row?;
        let detail = serde_json::from_str(&detail).unwrap_or(Value::String(detail));
        out.push(AuditEvent { id, at, actor, action, target, detail });
    }
    Ok(out)
}
