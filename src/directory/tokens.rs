//! Per-org SCIM bearer tokens: shown once, stored as SHA-256, revocable at once.

use serde_json::json;

use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::ScimTokenInfo;
use crate::directory::orgs::{new_id, org_in};
use crate::error::Error;
use crate::secrets::{self, Secret};
use crate::store::{self, Db};

/// Prefix of every SCIM token, so a leaked one is recognisable.
pub const SCIM_TOKEN_PREFIX: &str = "idb_scim_";

/// A freshly minted token: the only time the secret exists outside the client.
pub struct IssuedToken {
    pub id: String,
    pub token: Secret,
}

pub async fn create(db: &Db, actor: &str, org: &str, description: &str) -> Result<IssuedToken, Error> {
    if description.chars().count() > 200 || description.chars().any(char::is_control) {
        return Err(Error::invalid("description", "at most 200 characters, no control characters"));
    }
    let (actor, org, description) = (actor.to_string(), org.to_string(), description.trim().to_string());
    db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let token = secrets::new_token(SCIM_TOKEN_PREFIX);
        let id = new_id();
        let now = clock::now_str();
        // The public prefix names the token in lists and logs without revealing it.
        let prefix: String = token.expose().chars().take(SCIM_TOKEN_PREFIX.len() + 6).collect();
        store::tokens::insert(
            tx,
            &store::tokens::NewToken {
                id: &id,
                org_id: &org.id,
                description: &description,
                hash: &secrets::hash_token(token.expose()),
                prefix: &prefix,
                created_at: &now,
            },
        )?;
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&org.id),
                actor: &actor,
                action: AuditAction::ScimTokenCreate,
                target: &format!("scim_token:{id}"),
                detail: json!({"description": description, "prefix": prefix}),
            },
        )?;
        Ok(IssuedToken { id, token })
    })
    .await
}

pub async fn revoke(db: &Db, actor: &str, org: &str, id: &str) -> Result<(), Error> {
    let (actor, org, id) = (actor.to_string(), org.to_string(), id.to_string());
    db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let now = clock::now_str();
        if !store::tokens::revoke(tx, &org.id, &id, &now)? {
            return Err(Error::not_found("scim token", id));
        }
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&org.id),
                actor: &actor,
                action: AuditAction::ScimTokenRevoke,
                target: &format!("scim_token:{id}"),
                detail: json!({}),
            },
        )?;
        Ok(())
    })
    .await
}

pub async fn list(db: &Db, org: &str) -> Result<Vec<ScimTokenInfo>, Error> {
    let org = org.to_string();
    db.read(move |c| {
        let org = org_in(c, &org)?;
        Ok(store::tokens::list(c, &org.id)?)
    })
    .await
}

/// The org id and token id a presented SCIM token belongs to, if it is live.
pub async fn verify(db: &Db, presented: &str) -> Result<Option<(String, String)>, Error> {
    if !presented.starts_with(SCIM_TOKEN_PREFIX) || presented.len() > 200 {
        return Ok(None);
    }
    let hash = secrets::hash_token(presented);
    db.read(move |c| Ok(store::tokens::live_by_hash(c, &hash)?)).await
}

/// What a verified token resolves to: (org id, org slug, token id).
pub type TokenOwner = (String, String, String);

/// Verified SCIM tokens by hash, so a hot SCIM client costs few store reads.
/// Cleared whenever a token is revoked through this process; entries older than
/// `TTL` are re-verified, which is what bounds a revocation through another
/// node (or the CLI) — and a verification that raced a local revoke and cached
/// the token again just after the clear.
#[derive(Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<[u8; 32], (TokenOwner, std::time::Instant)>>,
}

impl TokenCache {
    /// How long a verification is trusted without asking the store again.
    /// The deployment's contract is that a token revoked through any node is
    /// refused by every node within one second; half a second leaves room for
    /// the read itself and clock jitter, and still spares a client that sends
    /// dozens of requests a second all but two store reads a second per node.
    const TTL: std::time::Duration = std::time::Duration::from_millis(500);
    /// Bound on the number of cached tokens.
    const MAX: usize = 10_000;

    pub fn clear(&self) {
        match self.entries.lock() {
            Ok(mut m) => m.clear(),
            Err(p) => p.into_inner().clear(),
        }
    }

    /// The owner of a presented token, from the cache or the store.
    pub async fn verify(&self, db: &Db, presented: &str) -> Result<Option<TokenOwner>, Error> {
        if !presented.starts_with(SCIM_TOKEN_PREFIX) || presented.len() > 200 {
            return Ok(None);
        }
        let hash = secrets::hash_token(presented);
        {
            let m = match self.entries.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            if let Some((owner, at)) = m.get(&hash) {
                if at.elapsed() < Self::TTL {
                    return Ok(Some(owner.clone()));
                }
            }
        }
        let found = db
            .read(move |c| {
                let Some((org_id, token_id)) = store::tokens::live_by_hash(c, &hash)? else {
                    return Ok(None);
                };
                let org = store::orgs::org_by_id(c, &org_id)?;
                Ok::<_, Error>(org.map(|o| (org_id, o.slug, token_id)))
            })
            .await?;
        let mut m = match self.entries.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        match &found {
            Some(owner) => {
                if m.len() >= Self::MAX {
                    m.clear();
                }
                m.insert(hash, (owner.clone(), std::time::Instant::now()));
            }
            None => {
                m.remove(&hash);
            }
        }
        Ok(found)
    }
}
