//! Webhooks of an org and their delivery state (migration 0008). `cursor` is
//! the id of the last event the webhook acknowledged; `events` is a JSON list
//! of types (`[]` = all), applied in SQL with `json_each`.

use super::events::ChangeEvent;
use super::sql::{Row, p};
use super::{Engine, StoreError, Tx};

/// One webhook row with its org's slug.
#[derive(Clone, Debug)]
pub struct WebhookRow {
    pub id: String,
    pub org_id: String,
    pub org_slug: String,
    pub url: String,
    /// JSON list of event types; `[]` = every type.
    pub events: String,
    /// Sealed (SecretBox).
    pub secret: Vec<u8>,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_until: Option<String>,
    pub cursor: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub failing_since: Option<String>,
    pub last_success_at: Option<String>,
    pub last_failure: Option<String>,
    pub created_at: String,
}

const COLUMNS: &str = "w.id, w.org_id, o.slug, w.url, w.events, w.secret, w.previous_secret, w.previous_until,
     w.cursor, w.attempts, w.next_attempt_at, w.failing_since, w.last_success_at, w.last_failure, w.created_at";

fn row(r: &Row<'_>) -> Result<WebhookRow, StoreError> {
    Ok(WebhookRow {
        id: r.get(0)?,
        org_id: r.get(1)?,
        org_slug: r.get(2)?,
        url: r.get(3)?,
        events: r.get(4)?,
        secret: r.get(5)?,
        previous_secret: r.get(6)?,
        previous_until: r.get(7)?,
        cursor: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_at: r.get(10)?,
        failing_since: r.get(11)?,
        last_success_at: r.get(12)?,
        last_failure: r.get(13)?,
        created_at: r.get(14)?,
    })
}

/// The filter clause on `change_events e` for a webhook `w`.
fn matches(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => {
            "e.org_id = w.org_id AND e.id > w.cursor
             AND (w.events = '[]' OR e.type IN (SELECT value FROM json_each(w.events)))"
        }
        Engine::Postgres => {
            "e.org_id = w.org_id AND e.id > w.cursor
             AND (w.events = '[]' OR e.type IN (SELECT jsonb_array_elements_text(w.events::jsonb)))"
        }
    }
}

/// Insert a new webhook. Its cursor starts at the newest event of the org, so
/// it receives the changes made from now on.
pub fn insert(conn: &Tx<'_>, w: &WebhookRow) -> Result<i64, StoreError> {
    let cursor: i64 = conn.query_one(
        "SELECT COALESCE(MAX(id), 0) FROM change_events WHERE org_id = ?1",
        p![w.org_id],
        |r| r.get(0),
    )?;
    conn.exec(
        "INSERT INTO webhooks (id, org_id, url, events, secret, cursor, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p![w.id, w.org_id, w.url, w.events, w.secret, cursor, w.created_at],
    )?;
    Ok(cursor)
}

/// A live (not deleted) webhook of an org.
pub fn get(conn: &Tx<'_>, org_id: &str, id: &str) -> Result<Option<WebhookRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhooks w JOIN orgs o ON o.id = w.org_id
         WHERE w.org_id = ?1 AND w.id = ?2 AND w.deleted_at IS NULL"
    );
    conn.query_opt(&sql, p![org_id, id], row)
}

/// A live webhook by id alone (the dispatcher).
pub fn get_live(conn: &Tx<'_>, id: &str) -> Result<Option<WebhookRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhooks w JOIN orgs o ON o.id = w.org_id
         WHERE w.id = ?1 AND w.deleted_at IS NULL"
    );
    conn.query_opt(&sql, p![id], row)
}

/// Live webhooks of an org, oldest first, each with its pending-event count.
pub fn list(conn: &Tx<'_>, org_id: &str) -> Result<Vec<(WebhookRow, i64)>, StoreError> {
    let m = matches(conn.engine());
    let sql = format!(
        "SELECT {COLUMNS}, (SELECT count(*) FROM change_events e WHERE {m})
         FROM webhooks w JOIN orgs o ON o.id = w.org_id
         WHERE w.org_id = ?1 AND w.deleted_at IS NULL ORDER BY w.created_at, w.id"
    );
    conn.query_vec(&sql, p![org_id], |r| Ok((row(r)?, r.get(15)?)))
}

/// Ids of live webhooks that have an event to deliver and are due at `now`.
pub fn due(conn: &Tx<'_>, now: &str) -> Result<Vec<String>, StoreError> {
    let m = matches(conn.engine());
    let sql = format!(
        "SELECT w.id FROM webhooks w
         WHERE w.deleted_at IS NULL AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= ?1)
           AND EXISTS (SELECT 1 FROM change_events e WHERE {m})"
    );
    conn.query_vec(&sql, p![now], |r| r.get(0))
}

/// The next event this webhook should receive (after its cursor, matching its filter).
pub fn next_event(conn: &Tx<'_>, w: &WebhookRow) -> Result<Option<ChangeEvent>, StoreError> {
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "SELECT e.id, e.org_id, e.type, e.at, e.data FROM change_events e
             WHERE e.org_id = ?1 AND e.id > ?2
               AND (?3 = '[]' OR e.type IN (SELECT value FROM json_each(?3)))
             ORDER BY e.id LIMIT 1"
        }
        Engine::Postgres => {
            "SELECT e.id, e.org_id, e.type, e.at, e.data FROM change_events e
             WHERE e.org_id = ?1 AND e.id > ?2
               AND (CAST(?3 AS TEXT) = '[]' OR e.type IN (SELECT jsonb_array_elements_text(CAST(?3 AS TEXT)::jsonb)))
             ORDER BY e.id LIMIT 1"
        }
    };
    let found = conn.query_opt(sql, p![w.org_id, w.cursor, w.events], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<String>(4)?))
    })?;
    Ok(found.map(|(id, org_id, kind, at, data)| {
        let data = serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data));
        ChangeEvent { id, org_id, kind, at, data }
    }))
}

/// A 2xx for event `cursor`: advance, clear the failure run.
pub fn record_success(conn: &Tx<'_>, id: &str, cursor: i64, at: &str) -> Result<(), StoreError> {
    conn.exec(
        "UPDATE webhooks SET cursor = CASE WHEN cursor > ?2 THEN cursor ELSE ?2 END, attempts = 0, next_attempt_at = NULL,
         failing_since = NULL, last_success_at = ?3 WHERE id = ?1",
        p![id, cursor, at],
    )?;
    Ok(())
}

/// A failed attempt: count it, schedule the next, keep the run's first failure time.
pub fn record_failure(
    conn: &Tx<'_>,
    id: &str,
    at: &str,
    next_attempt_at: &str,
    last_failure: &str,
) -> Result<(), StoreError> {
    conn.exec(
        "UPDATE webhooks SET attempts = attempts + 1, next_attempt_at = ?3,
         failing_since = COALESCE(failing_since, ?2), last_failure = ?4 WHERE id = ?1",
        p![id, at, next_attempt_at, last_failure],
    )?;
    Ok(())
}

/// Replace the secret, keeping the old one (sealed) until `previous_until`.
pub fn rotate(
    conn: &Tx<'_>,
    id: &str,
    secret: &[u8],
    previous: &[u8],
    previous_until: &str,
) -> Result<(), StoreError> {
    conn.exec(
        "UPDATE webhooks SET secret = ?2, previous_secret = ?3, previous_until = ?4
         WHERE id = ?1 AND deleted_at IS NULL",
        p![id, secret, previous, previous_until],
    )?;
    Ok(())
}

/// Soft-delete; returns whether a live webhook was deleted. Secrets are wiped.
pub fn delete(conn: &Tx<'_>, org_id: &str, id: &str, at: &str) -> Result<bool, StoreError> {
    let wiped: &[u8] = &[];
    let n = conn.exec(
        "UPDATE webhooks SET deleted_at = ?3, secret = ?4, previous_secret = NULL
             WHERE org_id = ?1 AND id = ?2 AND deleted_at IS NULL",
        p![org_id, id, at, wiped],
    )?;
    Ok(n == 1)
}

/// For the gauges: live webhooks failing since before `before`, and the
/// `at` of the oldest event some live webhook has not acknowledged.
pub fn health(conn: &Tx<'_>, before: &str) -> Result<(i64, Option<String>), StoreError> {
    let m = matches(conn.engine());
    let failing: i64 = conn.query_one(
        "SELECT count(*) FROM webhooks WHERE deleted_at IS NULL AND failing_since IS NOT NULL
             AND failing_since <= ?1",
        p![before],
        |r| r.get(0),
    )?;
    let sql = format!(
        "SELECT MIN((SELECT e.at FROM change_events e WHERE {m} ORDER BY e.id LIMIT 1))
         FROM webhooks w WHERE w.deleted_at IS NULL"
    );
    let oldest: Option<String> = conn.query_one(&sql, p![], |r| r.get(0))?;
    Ok((failing, oldest))
}
