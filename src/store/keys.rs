//! Session signing keys: the public JWK in clear, the private key sealed.

use super::sql::p;
use super::{StoreError, Tx};

#[derive(Clone, Debug)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub private_key: Vec<u8>,
    pub created_at: String,
    pub retired_at: Option<String>,
    pub expires_at: Option<String>,
}

pub fn insert(conn: &Tx<'_>, k: &KeyRow) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO signing_keys (kid, alg, public_jwk, private_key, created_at, retired_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p![k.kid, k.alg, k.public_jwk, k.private_key, k.created_at, k.retired_at, k.expires_at],
    )?;
    Ok(())
}

/// Keys that still verify (not expired at `now`), newest first.
pub fn live(conn: &Tx<'_>, now: &str) -> Result<Vec<KeyRow>, StoreError> {
    conn.query_vec(
        "SELECT kid, alg, public_jwk, private_key, created_at, retired_at, expires_at FROM signing_keys
         WHERE expires_at IS NULL OR expires_at > ?1 ORDER BY retired_at IS NOT NULL, created_at DESC, kid",
        p![now],
        |r| {
            Ok(KeyRow {
                kid: r.get(0)?,
                alg: r.get(1)?,
                public_jwk: r.get(2)?,
                private_key: r.get(3)?,
                created_at: r.get(4)?,
                retired_at: r.get(5)?,
                expires_at: r.get(6)?,
            })
        },
    )
}

/// Retire every signing key: they stop signing now and verify until `expires_at`.
pub fn retire_all(conn: &Tx<'_>, now: &str, expires_at: &str) -> Result<usize, StoreError> {
    conn.exec(
        "UPDATE signing_keys SET retired_at = ?1, expires_at = ?2 WHERE retired_at IS NULL",
        p![now, expires_at],
    )
}
