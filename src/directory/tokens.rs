//! Per-org SCIM bearer tokens: shown once, stored as SHA-256, revocable at once.

use serde_json::json;

use crate::clock;
use crate::directory::ScimTokenInfo;
use crate::directory::orgs::{new_id, org_in};
use crate::error::Error;
use crate::secrets::{self, Secret};
use crate::store::audit::{self, NewEvent};
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
        audit::append(
            tx,
            &now,
            NewEvent {
                org_id: Some(&org.id),
                actor: &actor,
                action: "scim_token.create",
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
        audit::append(
            tx,
            &now,
            NewEvent {
                org_id: Some(&org.id),
                actor: &actor,
                action: "scim_token.revoke",
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
