//! SSO connections (SAML or OIDC) of an org: a JSON config without secrets,
//! and a sealed secret part (private keys, client secrets).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;

#[derive(Clone, Debug)]
pub struct ConnectionRow {
    pub id: String,
    pub org_id: String,
    /// `saml` or `oidc`.
    pub kind: String,
    pub name: String,
    /// JSON, never a secret.
    pub config: String,
    /// Sealed with `SecretBox` (context `connection:<id>`).
    pub secret: Option<Vec<u8>>,
    pub created_at: String,
    pub updated_at: String,
}

const COLS: &str = "id, org_id, kind, name, config, secret, created_at, updated_at";

fn row(r: &Row<'_>) -> rusqlite::Result<ConnectionRow> {
    Ok(ConnectionRow {
        id: r.get(0)?,
        org_id: r.get(1)?,
        kind: r.get(2)?,
        name: r.get(3)?,
        config: r.get(4)?,
        secret: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

pub fn insert(conn: &Connection, c: &ConnectionRow) -> Result<(), StoreError> {
    conn.execute(
        &format!("INSERT INTO connections ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![c.id, c.org_id, c.kind, c.name, c.config, c.secret, c.created_at, c.updated_at],
    )?;
    Ok(())
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<ConnectionRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLS} FROM connections WHERE id = ?1"))?
        .query_row(params![id], row)
        .optional()?)
}

pub fn list(conn: &Connection, org_id: &str) -> Result<Vec<ConnectionRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM connections WHERE org_id = ?1 ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(params![org_id], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replace name, config and secret; true if the row exists.
pub fn update(conn: &Connection, c: &ConnectionRow) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE connections SET name = ?2, config = ?3, secret = ?4, updated_at = ?5 WHERE id = ?1",
        params![c.id, c.name, c.config, c.secret, c.updated_at],
    )? == 1)
}

pub fn delete(conn: &Connection, org_id: &str, id: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM connections WHERE org_id = ?1 AND id = ?2", params![org_id, id])? == 1)
}
