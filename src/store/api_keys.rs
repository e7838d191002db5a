//! Project-scoped API keys: a public prefix and the SHA-256 of the secret.

use serde::Serialize;

use super::sql::{Row, p};
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

fn row(r: &Row<'_>) -> Result<ApiKeyRow, StoreError> {
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
    conn.exec(
        &format!("INSERT INTO api_keys ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        p![
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
    conn.query_opt(&format!("SELECT {COLS} FROM api_keys WHERE prefix = ?1"), p![prefix], row)
}

pub fn by_id(conn: &Tx<'_>, project_id: &str, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLS} FROM api_keys WHERE project_id = ?1 AND id = ?2"),
        p![project_id, id],
        row,
    )
}

/// Keys of a project, optionally only one user's, newest first.
pub fn list(conn: &Tx<'_>, project_id: &str, user_id: Option<&str>) -> Result<Vec<ApiKeyRow>, StoreError> {
    conn.query_vec(
        &format!(
            "SELECT {COLS} FROM api_keys WHERE project_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR user_id = ?2)
         ORDER BY created_at DESC, id"
        ),
        p![project_id, user_id],
        row,
    )
}

pub fn revoke(conn: &Tx<'_>, id: &str, now: &str) -> Result<bool, StoreError> {
    Ok(conn.exec("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", p![id, now])?
        == 1)
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

fn revoked(r: &Row<'_>) -> Result<RevokedKey, StoreError> {
    Ok(RevokedKey {
        id: r.get(0)?,
        user_id: r.get(1)?,
        project: r.get::<Option<String>>(2)?.unwrap_or_default(),
    })
}

/// Revoke a user's live keys on the projects in `project_ids`; returns them.
pub fn revoke_user_projects(
    conn: &Tx<'_>,
    user_id: &str,
    project_ids: &[String],
    now: &str,
) -> Result<Vec<RevokedKey>, StoreError> {
    let sql = format!(
        "UPDATE api_keys SET revoked_at = ?3 WHERE user_id = ?1 AND project_id = ?2 AND revoked_at IS NULL {REVOKED}"
    );
    let mut out = Vec::new();
    for project_id in project_ids {
        out.extend(conn.query_vec(&sql, p![user_id, project_id, now], revoked)?);
    }
    Ok(out)
}

/// Project ids on which a user holds live keys.
pub fn projects_with_live_keys(conn: &Tx<'_>, user_id: &str) -> Result<Vec<String>, StoreError> {
    conn.query_vec(
        "SELECT DISTINCT project_id FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL",
        p![user_id],
        |r| r.get(0),
    )
}

/// Users of an org holding at least one live key.
pub fn users_with_live_keys(
    conn: &Tx<'_>,
    org_id: &str,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut users = std::collections::HashSet::new();
    conn.query_each(
        "SELECT DISTINCT user_id FROM api_keys WHERE org_id = ?1 AND revoked_at IS NULL",
        p![org_id],
        |r| {
            users.insert(r.get(0)?);
            Ok(true)
        },
    )?;
    Ok(users)
}

/// Revoke every live key of a user, on every project (the IdP ended the
/// person's access: Universal Logout, RISC signals); returns them.
pub fn revoke_user_all(conn: &Tx<'_>, user_id: &str, now: &str) -> Result<Vec<RevokedKey>, StoreError> {
    conn.query_vec(
        &format!("UPDATE api_keys SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL {REVOKED}"),
        p![user_id, now],
        revoked,
    )
}
