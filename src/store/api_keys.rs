//! Project-scoped API keys: a public prefix and the SHA-256 of the secret.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{StoreError, Tx};

#[derive(Clone, Debug, Serialize)]
pub struct ApiKeyRow {
    pub id: String,
    #[serde(skip)]
    pub org_id: String,
    #[serde(skip)]
    pub project_id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    #[serde(skip)]
    pub secret_hash: Vec<u8>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

const COLS: &str = "id, org_id, project_id, user_id, name, prefix, secret_hash, created_at, revoked_at";

fn row(r: &Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: r.get(0)?,
        org_id: r.get(1)?,
        project_id: r.get(2)?,
        user_id: r.get(3)?,
        name: r.get(4)?,
        prefix: r.get(5)?,
        secret_hash: r.get(6)?,
        created_at: r.get(7)?,
        revoked_at: r.get(8)?,
    })
}

pub fn insert(conn: &Tx<'_>, k: &ApiKeyRow) -> Result<(), StoreError> {
    conn.execute(
        &format!("INSERT INTO api_keys ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            k.id,
            k.org_id,
            k.project_id,
            k.user_id,
            k.name,
            k.prefix,
            k.secret_hash,
            k.created_at,
            k.revoked_at
        ],
    )?;
    Ok(())
}

pub fn by_prefix(conn: &Tx<'_>, prefix: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLS} FROM api_keys WHERE prefix = ?1"))?
        .query_row(params![prefix], row)
        .optional()?)
}

pub fn by_id(conn: &Tx<'_>, project_id: &str, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLS} FROM api_keys WHERE project_id = ?1 AND id = ?2"))?
        .query_row(params![project_id, id], row)
        .optional()?)
}

/// Keys of a project, optionally only one user's, newest first.
pub fn list(conn: &Tx<'_>, project_id: &str, user_id: Option<&str>) -> Result<Vec<ApiKeyRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM api_keys WHERE project_id = ?1 AND (?2 IS NULL OR user_id = ?2)
         ORDER BY created_at DESC, id"
    ))?;
    let rows = stmt.query_map(params![project_id, user_id], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn revoke(conn: &Tx<'_>, id: &str, now: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now],
    )? == 1)
}

/// A key just revoked: its id, owner and project slug (for `api_key.revoked`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedKey {
    pub id: String,
    pub user_id: String,
    pub project: String,
}

/// `RETURNING` of the revoking statements below.
const REVOKED: &str =
    "RETURNING id, user_id, (SELECT p.slug FROM projects p WHERE p.id = api_keys.project_id)";

fn revoked(r: &Row<'_>) -> rusqlite::Result<RevokedKey> {
    Ok(RevokedKey {
        id: r.get(0)?,
        user_id: r.get(1)?,
        project: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
    })
}

/// Revoke a user's live keys on the projects in `project_ids`; returns them.
pub fn revoke_user_projects(
    conn: &Tx<'_>,
    user_id: &str,
    project_ids: &[String],
    now: &str,
) -> Result<Vec<RevokedKey>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE api_keys SET revoked_at = ?3 WHERE user_id = ?1 AND project_id = ?2 AND revoked_at IS NULL {REVOKED}"
    ))?;
    let mut out = Vec::new();
    for p in project_ids {
        for k in stmt.query_map(params![user_id, p, now], revoked)? {
            out.push(k?);
        }
    }
    Ok(out)
}

/// Project ids on which a user holds live keys.
pub fn projects_with_live_keys(conn: &Tx<'_>, user_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT project_id FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL",
    )?;
    let rows = stmt.query_map(params![user_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Users of an org holding at least one live key.
pub fn users_with_live_keys(
    conn: &Tx<'_>,
    org_id: &str,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT DISTINCT user_id FROM api_keys WHERE org_id = ?1 AND revoked_at IS NULL")?;
    let rows = stmt.query_map(params![org_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revoke every live key of a user, on every project (the IdP ended the
/// person's access: Universal Logout, RISC signals); returns them.
pub fn revoke_user_all(conn: &Tx<'_>, user_id: &str, now: &str) -> Result<Vec<RevokedKey>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE api_keys SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL {REVOKED}"
    ))?;
    let rows = stmt.query_map(params![user_id, now], revoked)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
