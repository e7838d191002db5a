//! The change-event outbox: event rows written in the same transaction as the
//! access change they describe, read by the pull API and the webhook dispatcher.

use serde_json::Value;

use super::sql::p;
use super::{StoreError, Tx};

/// One stored change event.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    /// Monotonic per deployment.
    pub id: i64,
    pub org_id: String,
    /// `member.added`, `collaborator.removed`, `user.deprovisioned`, …
    pub kind: String,
    pub at: String,
    pub data: Value,
}

/// Append an event to the outbox; call it inside the change's own write
/// transaction. Returns the event's id.
pub fn append(conn: &Tx<'_>, org_id: &str, kind: &str, at: &str, data: &Value) -> Result<i64, StoreError> {
    conn.insert_id(
        "INSERT INTO change_events (org_id, type, at, data) VALUES (?1, ?2, ?3, ?4)",
        p![org_id, kind, at, data.to_string()],
    )
}

/// Events of one org with id > `after`, oldest first, at most `limit`.
pub fn list_after(
    conn: &Tx<'_>,
    org_id: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<ChangeEvent>, StoreError> {
    conn.query_vec(
        "SELECT id, org_id, type, at, data FROM change_events WHERE org_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        p![org_id, after, limit],
        |r| {
            let (id, org_id, kind, at, data) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<String>(4)?);
            let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
            Ok(ChangeEvent { id, org_id, kind, at, data })
        },
    )
}

/// The newest event id (0 when none).
pub fn max_id(conn: &Tx<'_>) -> Result<i64, StoreError> {
    conn.query_one("SELECT COALESCE(MAX(id), 0) FROM change_events", p![], |r| r.get(0))
}

/// (id, type) of every event with id > `after`, in id order (the writer counts
/// what each commit wrote for `idbridge_events_written_total`).
pub fn kinds_after(conn: &Tx<'_>, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
    conn.query_vec("SELECT id, type FROM change_events WHERE id > ?1 ORDER BY id", p![after], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// Delete events older than `before` (the retention period); returns how many.
pub fn purge_before(conn: &Tx<'_>, before: &str) -> Result<usize, StoreError> {
    conn.exec("DELETE FROM change_events WHERE at < ?1", p![before])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Tx;
    use rusqlite::Connection;
    use serde_json::json;

    #[test]
    fn events_are_appended_in_order_listed_per_org_and_purged_by_age() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO orgs VALUES ('o', 'acme', 'Acme', 't'), ('p', 'globex', 'Globex', 't');",
        )
        .unwrap();
        let a =
            append(&Tx::new(&c), "o", "member.added", "2026-01-01T00:00:00.000Z", &json!({"user_id": "u1"}))
                .unwrap();
        let b = append(&Tx::new(&c), "p", "member.added", "2026-01-02T00:00:00.000Z", &json!({})).unwrap();
        let d = append(
            &Tx::new(&c),
            "o",
            "member.removed",
            "2026-01-03T00:00:00.000Z",
            &json!({"user_id": "u1"}),
        )
        .unwrap();
        assert!(a < b && b < d);
        let o = list_after(&Tx::new(&c), "o", 0, 10).unwrap();
        assert_eq!(o.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["member.added", "member.removed"]);
        assert_eq!(o[0].data, json!({"user_id": "u1"}));
        assert_eq!(list_after(&Tx::new(&c), "o", a, 10).unwrap().len(), 1);
        assert_eq!(purge_before(&Tx::new(&c), "2026-01-02T12:00:00.000Z").unwrap(), 2);
        let next = append(&Tx::new(&c), "o", "member.added", "2026-01-04T00:00:00.000Z", &json!({})).unwrap();
        assert!(next > d, "ids are never reused");
    }
}
