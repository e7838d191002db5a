//! SCIM bearer tokens: only their SHA-256 hashes are stored.

use super::sql::p;
use super::{StoreError, Tx};
use crate::model::ScimTokenInfo;

pub struct NewToken<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub description: &'a str,
    pub hash: &'a [u8; 32],
    pub prefix: &'a str,
    pub created_at: &'a str,
}

pub fn insert(conn: &Tx<'_>, t: &NewToken<'_>) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO scim_tokens (id, org_id, description, token_hash, prefix, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        p![t.id, t.org_id, t.description, &t.hash[..], t.prefix, t.created_at],
    )?;
    Ok(())
}

/// Revoke; true if a live token of that org was revoked.
pub fn revoke(conn: &Tx<'_>, org_id: &str, id: &str, at: &str) -> Result<bool, StoreError> {
    let n = conn.exec(
        "UPDATE scim_tokens SET revoked_at = ?3 WHERE org_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        p![org_id, id, at],
    )?;
    Ok(n == 1)
}

pub fn list(conn: &Tx<'_>, org_id: &str) -> Result<Vec<ScimTokenInfo>, StoreError> {
    conn.query_vec(
        "SELECT id, description, prefix, created_at, revoked_at FROM scim_tokens
         WHERE org_id = ?1 ORDER BY created_at, id",
        p![org_id],
        |r| {
            Ok(ScimTokenInfo {
                id: r.get(0)?,
                description: r.get(1)?,
                prefix: r.get(2)?,
                created_at: r.get(3)?,
                revoked_at: r.get(4)?,
            })
        },
    )
}

/// The org id and token id of a live token with this hash. The lookup is by
/// hash (an index probe), so no timing difference reveals a token's bytes.
pub fn live_by_hash(conn: &Tx<'_>, hash: &[u8; 32]) -> Result<Option<(String, String)>, StoreError> {
    conn.query_opt(
        "SELECT org_id, id FROM scim_tokens WHERE token_hash = ?1 AND revoked_at IS NULL",
        p![&hash[..]],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}
