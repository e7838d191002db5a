//! Users of an org (the columns every surface needs; SCIM keeps the full
//! resource in `attributes`).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::directory::User;

pub const USER_COLUMNS: &str = "id, org_id, origin, user_name, external_id, email, display_name, \
     given_name, family_name, active, created_at, updated_at";

pub fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        org_id: r.get(1)?,
        origin: r.get(2)?,
        user_name: r.get(3)?,
        external_id: r.get(4)?,
        email: r.get(5)?,
        display_name: r.get(6)?,
        given_name: r.get(7)?,
        family_name: r.get(8)?,
        active: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

/// Insert a user with no SCIM attributes (manual or just-in-time).
pub fn insert(conn: &Connection, u: &User) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO users (id, org_id, origin, user_name, user_name_key, external_id, email, email_key,
                            display_name, given_name, family_name, active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            u.id,
            u.org_id,
            u.origin,
            u.user_name,
            u.user_name.to_lowercase(),
            u.external_id,
            u.email,
            u.email.as_ref().map(|e| e.to_lowercase()),
            u.display_name,
            u.given_name,
            u.family_name,
            u.active,
            u.created_at,
            u.updated_at
        ],
    )?;
    Ok(())
}

pub fn by_id(conn: &Connection, org_id: &str, id: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE org_id = ?1 AND id = ?2");
    Ok(conn.prepare_cached(&sql)?.query_row(params![org_id, id], user_row).optional()?)
}

/// The user whose email, or else whose userName, equals `email_key` (lowercased).
pub fn by_email(conn: &Connection, org_id: &str, email_key: &str) -> Result<Option<User>, StoreError> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE org_id = ?1 AND (email_key = ?2 OR user_name_key = ?2)
         ORDER BY (email_key = ?2) DESC, created_at LIMIT 1"
    );
    Ok(conn.prepare_cached(&sql)?.query_row(params![org_id, email_key], user_row).optional()?)
}
