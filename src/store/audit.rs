//! Append-only audit events, written in the same transaction as the change.

use serde_json::Value;

use super::sql::p;
use super::{StoreError, Tx};
use crate::audit::Event;
use crate::model::AuditEvent;

/// Append one event; returns its id.
pub fn append(conn: &Tx<'_>, at: &str, e: Event<'_>) -> Result<i64, StoreError> {
    conn.insert_id(
        "INSERT INTO audit_events (org_id, at, actor, action, target, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        p![e.org_id, at, e.actor, e.action.as_str(), e.target, e.detail.to_string()],
    )
}

/// Events of one org with id > `after`, oldest first, at most `limit`.
pub fn list(conn: &Tx<'_>, org_id: &str, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
    conn.query_vec(
        "SELECT id, at, actor, action, target, detail FROM audit_events
         WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        p![org_id, after, limit],
        |r| {
            let detail: String = r.get(5)?;
            let detail = serde_json::from_str(&detail).unwrap_or(Value::String(detail));
            Ok(AuditEvent {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail,
            })
        },
    )
}
