//! SSO connections (SAML or OIDC) of an org: a JSON config without secrets,
//! a sealed secret part (private keys, client secrets), and what logins
//! record about the connection (when a groups overage was last seen).

use super::sql::{Row, p};
use super::{Engine, StoreError, Tx};
use crate::model::{ConnectionId, ConnectionKind, OrgId};

#[derive(Clone, Debug)]
pub struct ConnectionRow {
    pub id: ConnectionId,
    pub org_id: OrgId,
    /// Stored as `saml` or `oidc`.
    pub kind: ConnectionKind,
    pub name: String,
    /// JSON, never a secret.
    pub config: String,
    /// Sealed with `SecretBox` (context `connection:<id>`).
    pub secret: Option<Vec<u8>>,
    pub created_at: String,
    pub updated_at: String,
    /// When a login last came without the user's groups (Entra's SAML
    /// groups overage); set by logins, never by `update`.
    pub groups_overage_seen_at: Option<String>,
}

const COLS: &str = "id, org_id, kind, name, config, secret, created_at, updated_at, groups_overage_seen_at";

fn row(r: &Row<'_>) -> Result<ConnectionRow, StoreError> {
    Ok(ConnectionRow {
        id: r.get(0)?,
        org_id: r.get(1)?,
        kind: r.get(2)?,
        name: r.get(3)?,
        config: r.get(4)?,
        secret: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        groups_overage_seen_at: r.get(8)?,
    })
}

pub fn insert(conn: &Tx<'_>, c: &ConnectionRow) -> Result<(), StoreError> {
    conn.exec(
        &format!("INSERT INTO connections ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        p![
            c.id,
            c.org_id,
            c.kind,
            c.name,
            c.config,
            c.secret,
            c.created_at,
            c.updated_at,
            c.groups_overage_seen_at
        ],
    )?;
    Ok(())
}

pub fn by_id(conn: &Tx<'_>, id: &str) -> Result<Option<ConnectionRow>, StoreError> {
    conn.query_opt(&format!("SELECT {COLS} FROM connections WHERE id = ?1"), p![id], row)
}

pub fn list(conn: &Tx<'_>, org_id: &str) -> Result<Vec<ConnectionRow>, StoreError> {
    conn.query_vec(
        &format!("SELECT {COLS} FROM connections WHERE org_id = ?1 ORDER BY created_at, id"),
        p![org_id],
        row,
    )
}

/// Ids of the connections whose stored JSON config contains `needle` (a
/// cheap prefilter: the caller parses each config).
pub fn ids_with_config_containing(conn: &Tx<'_>, needle: &str) -> Result<Vec<String>, StoreError> {
    let sql = match conn.engine() {
        Engine::Sqlite => "SELECT id FROM connections WHERE instr(config, ?1) > 0 ORDER BY id",
        Engine::Postgres => "SELECT id FROM connections WHERE strpos(config, ?1) > 0 ORDER BY id",
    };
    conn.query_vec(sql, p![needle], |r| r.get(0))
}

/// Replace name, config and secret; true if the row exists.
pub fn update(conn: &Tx<'_>, c: &ConnectionRow) -> Result<bool, StoreError> {
    Ok(conn.exec(
        "UPDATE connections SET name = ?2, config = ?3, secret = ?4, updated_at = ?5 WHERE id = ?1",
        p![c.id, c.name, c.config, c.secret, c.updated_at],
    )? == 1)
}

/// Record that a login of this connection came without the user's groups
/// (a groups overage) at `at`; true if the row exists.
pub fn mark_groups_overage(conn: &Tx<'_>, id: &str, at: &str) -> Result<bool, StoreError> {
    Ok(conn.exec("UPDATE connections SET groups_overage_seen_at = ?2 WHERE id = ?1", p![id, at])? == 1)
}

/// Forget the recorded groups overage (the operator has dealt with it).
pub fn clear_groups_overage(conn: &Tx<'_>, id: &str) -> Result<bool, StoreError> {
    Ok(conn.exec("UPDATE connections SET groups_overage_seen_at = NULL WHERE id = ?1", p![id])? == 1)
}

pub fn delete(conn: &Tx<'_>, org_id: &str, id: &str) -> Result<bool, StoreError> {
    Ok(conn.exec("DELETE FROM connections WHERE org_id = ?1 AND id = ?2", p![org_id, id])? == 1)
}
