//! Session records: a JWT is valid only while its `jti` row is live.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub jti: String,
    pub user_id: String,
    pub org_id: String,
    pub connection_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub last_seen_at: String,
    pub revoked_at: Option<String>,
}

pub fn insert(conn: &Connection, s: &SessionRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sessions (jti, user_id, org_id, connection_id, created_at, expires_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        s.jti,
        s.user_id,
        s.org_id,
        s.connection_id,
        s.created_at,
        s.expires_at,
        s.last_seen_at
    ])?;
    Ok(())
}

pub fn get(conn: &Connection, jti: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT jti, user_id, org_id, connection_id, created_at, expires_at, last_seen_at, revoked_at
             FROM sessions WHERE jti = ?1",
        )?
        .query_row(params![jti], |r| {
            Ok(SessionRow {
                jti: r.get(0)?,
                user_id: r.get(1)?,
                org_id: r.get(2)?,
                connection_id: r.get(3)?,
                created_at: r.get(4)?,
                expires_at: r.get(5)?,
                last_seen_at: r.get(6)?,
                revoked_at: r.get(7)?,
            })
        })
        .optional()?)
}

pub fn touch(conn: &Connection, jti: &str, now: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE sessions SET last_seen_at = ?2 WHERE jti = ?1 AND revoked_at IS NULL")?
        .execute(params![jti, now])?;
    Ok(())
}

pub fn revoke(conn: &Connection, jti: &str, now: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE jti = ?1 AND revoked_at IS NULL",
        params![jti, now],
    )? == 1)
}

/// End every live session of a user; returns how many.
pub fn revoke_user(conn: &Connection, user_id: &str, now: &str) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL")?
        .execute(params![user_id, now])?)
}

/// End every live session made through a connection (it is being deleted);
/// returns how many.
pub fn revoke_connection(conn: &Connection, connection_id: &str, now: &str) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE sessions SET revoked_at = ?2 WHERE connection_id = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![connection_id, now])?)
}

/// Delete sessions that expired before `before` (kept a while after expiry
/// for investigation); returns how many.
pub fn purge_expired(conn: &Connection, before: &str) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM sessions WHERE expires_at < ?1", params![before])?)
}
