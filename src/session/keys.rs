//! Session signing keys (Ed25519, JWS alg EdDSA): generated on first start,
//! private halves sealed with the secret key, rotated with overlap by
//! `idbridge keys rotate` (the old key stops signing and keeps verifying until
//! every session it signed has expired). Every node reads the same keys from
//! the store: it checks them every `RELOAD_EVERY` (a cheap read of the keys'
//! ids and dates, the ring rebuilt only when they changed) and at once when a
//! token names a `kid` the ring lacks but the store holds. So a key rotated
//! through any node verifies everywhere on first sight, signs everywhere within
//! about a second, and a key past its `expires_at` stops verifying everywhere
//! within about a second too (docs/deployment.md).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::RngCore;
use serde_json::{Value, json};

use crate::clock;
use crate::error::Error;
use crate::secrets::{self, SecretBox};
use crate::store::keys::{KeyRow, KeyStamp};
use crate::store::{self, Db, StoreError};

/// The only signing algorithm idbridge issues and accepts for its sessions.
pub const ALG: &str = "EdDSA";
/// How often a node checks the store for keys rotated or retired elsewhere.
/// The check reads a few short rows (no private keys); the contract is that
/// signing switches and an expired key stops verifying on every node within
/// about a second.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// PKCS#8 v1 prefix for an Ed25519 private key (RFC 8410 §7): the 32-byte seed follows.
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

pub struct KeyRing {
    pub signing: Option<(String, EncodingKey)>,
    pub verifying: HashMap<String, DecodingKey>,
    pub jwks: Value,
    /// The keys this ring was built from, as the store listed them: the
    /// periodic check compares them with the store's current list.
    pub stamps: Vec<KeyStamp>,
}

pub struct Keys {
    ring: RwLock<Arc<KeyRing>>,
}

fn context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// A new Ed25519 key row (private seed sealed).
fn generate(sb: &SecretBox) -> KeyRow {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let kid = secrets::random_hex(8);
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public),
                     "kid": kid, "alg": ALG, "use": "sig"});
    KeyRow {
        private_key: sb.seal(&context(&kid), &seed),
        kid,
        alg: ALG.into(),
        public_jwk: jwk.to_string(),
        created_at: clock::now_str(),
        retired_at: None,
        expires_at: None,
    }
}

fn build_ring(rows: &[KeyRow], sb: &SecretBox) -> Result<KeyRing, Error> {
    let mut verifying = HashMap::new();
    let mut jwks = Vec::new();
    let mut signing = None;
    for row in rows {
        let jwk: Value = serde_json::from_str(&row.public_jwk).map_err(StoreError::from)?;
        let x = jwk["x"].as_str().unwrap_or_default();
        let dk = DecodingKey::from_ed_components(x)
            .map_err(|e| Error::Store(StoreError::Corrupt { what: "signing key", message: e.to_string() }))?;
        verifying.insert(row.kid.clone(), dk);
        jwks.push(jwk);
        if signing.is_none() && row.retired_at.is_none() {
            let seed = sb.open(&context(&row.kid), &row.private_key).map_err(|e| {
                Error::Store(StoreError::Corrupt { what: "signing key", message: e.to_string() })
            })?;
            let mut der = PKCS8_ED25519_PREFIX.to_vec();
            der.extend_from_slice(&seed);
            signing = Some((row.kid.clone(), EncodingKey::from_ed_der(&der)));
        }
    }
    let stamps = rows.iter().map(KeyStamp::from).collect();
    Ok(KeyRing { signing, verifying, jwks: json!({ "keys": jwks }), stamps })
}

impl Keys {
    /// Load the key ring, generating the first key if the store has none.
    pub async fn load(db: &Db, sb: &SecretBox) -> Result<Keys, Error> {
        let sb2 = sb.clone();
        let rows = db
            .write(move |tx| {
                let now = clock::now_str();
                let mut rows = store::keys::live(tx, &now)?;
                if !rows.iter().any(|r| r.retired_at.is_none()) {
                    let k = generate(&sb2);
                    store::keys::insert(tx, &k)?;
                    rows.insert(0, k);
                }
                Ok::<_, Error>(rows)
            })
            .await?;
        let ring = build_ring(&rows, sb)?;
        Ok(Keys { ring: RwLock::new(Arc::new(ring)) })
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-read the keys from the store (after a rotation by the CLI).
    pub async fn reload(&self, db: &Db, sb: &SecretBox) -> Result<(), Error> {
        let rows = db.read(|c| Ok::<_, Error>(store::keys::live(c, &clock::now_str())?)).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let ring = Arc::new(build_ring(&rows, sb)?);
        match self.ring.write() {
            Ok(mut g) => *g = ring,
            Err(p) => *p.into_inner() = ring,
        }
        Ok(())
    }

    /// Reload only if the stored keys differ from the ring's (rotated,
    /// retired, expired or removed); true if the ring was rebuilt.
    pub async fn reload_if_changed(&self, db: &Db, sb: &SecretBox) -> Result<bool, Error> {
        let stamps = db.read(|c| Ok::<_, Error>(store::keys::live_stamps(c, &clock::now_str())?)).await?;
        if stamps.is_empty() || stamps == self.ring().stamps {
            return Ok(false);
        }
        self.reload(db, sb).await?;
        Ok(true)
    }

    /// A token named `kid`, which the ring lacks: reload if the store holds it
    /// as a live key (rotated through another node moments ago); true if
    /// reloaded. Not rate-limited: a made-up kid costs one primary-key read
    /// (as a session's jti lookup does on every request) and never a rebuild,
    /// and a real new kid must verify on first sight, not after a throttle.
    pub async fn reload_for_unknown_kid(&self, db: &Db, sb: &SecretBox, kid: &str) -> bool {
        let kid = kid.to_string();
        let live = db.read(move |c| Ok::<_, Error>(store::keys::is_live(c, &kid, &clock::now_str())?)).await;
        match live {
            Ok(true) => self.reload(db, sb).await.is_ok(),
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(error = %e, "checking an unknown session key id failed");
                false
            }
        }
    }
}

/// Rotate: retire the current key (it verifies for `overlap` more) and create
/// a new signing key. Returns the new kid.
pub async fn rotate(db: &Db, sb: &SecretBox, overlap: Duration) -> Result<String, Error> {
    let sb = sb.clone();
    db.write(move |tx| {
        let now = clock::now();
        let expires = clock::format(now + overlap);
        store::keys::retire_all(tx, &clock::format(now), &expires)?;
        let k = generate(&sb);
        store::keys::insert(tx, &k)?;
        store::audit::append(
            tx,
            &clock::format(now),
            crate::audit::Event {
                org_id: None,
                actor: "operator",
                action: crate::audit::AuditAction::SigningKeyRotate,
                target: &format!("signing_key:{}", k.kid),
                detail: json!({"old_keys_verify_until": expires}),
            },
        )?;
        Ok(k.kid)
    })
    .await
}
