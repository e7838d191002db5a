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

/// A key's identity and lifecycle, without its key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStamp {
    pub kid: String,
    pub retired_at: Option<String>,
    pub expires_at: Option<String>,
}

impl From<&KeyRow> for KeyStamp {
    fn from(k: &KeyRow) -> Self {
        KeyStamp { kid: k.kid.clone(), retired_at: k.retired_at.clone(), expires_at: k.expires_at.clone() }
    }
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

/// What identifies the state of each key that still verifies at `now` — (kid,
/// retired_at, expires_at), in `live`'s order — without reading the sealed
/// private keys: the cheap check of whether the stored keys changed.
pub fn live_stamps(conn: &Tx<'_>, now: &str) -> Result<Vec<KeyStamp>, StoreError> {
    conn.query_vec(
        "SELECT kid, retired_at, expires_at FROM signing_keys
         WHERE expires_at IS NULL OR expires_at > ?1 ORDER BY retired_at IS NOT NULL, created_at DESC, kid",
        p![now],
        |r| Ok(KeyStamp { kid: r.get(0)?, retired_at: r.get(1)?, expires_at: r.get(2)? }),
    )
}

/// Whether `kid` names a key that still verifies at `now` (one primary-key read).
pub fn is_live(conn: &Tx<'_>, kid: &str, now: &str) -> Result<bool, StoreError> {
    // The kid itself is read back (not a literal 1, whose integer type differs between engines).
    let found = conn.query_opt(
        "SELECT kid FROM signing_keys WHERE kid = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        p![kid, now],
        |r| r.get::<String>(0),
    )?;
    Ok(found.is_some())
}

/// Retire every signing key: they stop signing now and verify until `expires_at`.
pub fn retire_all(conn: &Tx<'_>, now: &str, expires_at: &str) -> Result<usize, StoreError> {
    conn.exec(
        "UPDATE signing_keys SET retired_at = ?1, expires_at = ?2 WHERE retired_at IS NULL",
        p![now, expires_at],
    )
}
