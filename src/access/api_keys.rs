//! Project-scoped API keys. A key is `idb_key_<prefix>_<secret>`: the prefix
//! is public (it names the key in lists and logs), the whole key is stored
//! only as SHA-256. A key works only while its owner can still reach its
//! project: `enforce` revokes it when they lose access, and every check
//! re-reads the owner's current roles.

use serde::Serialize;
use serde_json::json;

use super::mapping::Role;
use super::permissions::{Action, check};
use super::reconcile::effective_roles;
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::orgs::{new_id, org_in, project_in};
use crate::directory::{Project, User};
use crate::error::Error;
use crate::model::SessionContext;
use crate::secrets;
use crate::store::api_keys::ApiKeyRow;
use crate::store::{self, Db, Tx};

pub const KEY_PREFIX: &str = "idb_key_";

/// A new key: the only time its secret is shown.
#[derive(Debug, Serialize)]
pub struct IssuedKey {
    pub id: String,
    pub key: String,
    pub prefix: String,
    pub name: String,
    pub project: String,
    pub created_at: String,
}

fn require_same_org(ctx: &SessionContext, org: &str) -> Result<(), Error> {
    if ctx.org_slug != org {
        return Err(Error::Forbidden { reason: "the session belongs to another org".into() });
    }
    Ok(())
}

fn may(ctx: &SessionContext, project: &str, action: Action) -> bool {
    check(ctx.org_role, ctx.project_role(project), action).allow
}

fn load(conn: &Tx<'_>, org: &str, project: &str) -> Result<Project, Error> {
    let org = org_in(conn, org)?;
    project_in(conn, &org, project)
}

pub async fn create(
    db: &Db,
    ctx: &SessionContext,
    org: &str,
    project: &str,
    name: &str,
) -> Result<IssuedKey, Error> {
    require_same_org(ctx, org)?;
    if !may(ctx, project, Action::ApiKeysManageOwn) {
        return Err(Error::Forbidden { reason: format!("no access to project {project:?}") });
    }
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "at most 100 characters, no control characters"));
    }
    let (org, project, name, user_id) =
        (org.to_string(), project.to_string(), name.trim().to_string(), ctx.user.id.clone());
    db.write(move |tx| {
        let p = load(tx, &org, &project)?;
        let prefix = secrets::random_hex(6);
        let secret = secrets::new_token("");
        let key = format!("{KEY_PREFIX}{prefix}_{}", secret.expose());
        let now = clock::now_str();
        let row = ApiKeyRow {
            id: new_id(),
            org_id: p.org_id.to_string(),
            project_id: p.id.to_string(),
            user_id: user_id.to_string(),
            name: name.clone(),
            prefix: prefix.clone(),
            secret_hash: secrets::hash_token(&key).to_vec(),
            created_at: now.clone(),
            revoked_at: None,
        };
        store::api_keys::insert(tx, &row)?;
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&p.org_id),
                actor: &format!("user:{user_id}"),
                action: AuditAction::ApiKeyCreate,
                target: &format!("api_key:{}", row.id),
                detail: json!({"project": p.slug, "prefix": prefix, "name": name}),
            },
        )?;
        Ok(IssuedKey { id: row.id, key, prefix, name, project: p.slug, created_at: now })
    })
    .await
}

/// Keys the caller may see: all of the project's for a project admin, else their own.
pub async fn list(db: &Db, ctx: &SessionContext, org: &str, project: &str) -> Result<Vec<ApiKeyRow>, Error> {
    require_same_org(ctx, org)?;
    let only = if may(ctx, project, Action::ApiKeysManageAll) {
        None
    } else if may(ctx, project, Action::ApiKeysManageOwn) {
        Some(ctx.user.id.clone())
    } else {
        return Err(Error::Forbidden { reason: format!("no access to project {project:?}") });
    };
    let (org, project) = (org.to_string(), project.to_string());
    db.read(move |c| {
        let p = load(c, &org, &project)?;
        Ok(store::api_keys::list(c, &p.id, only.as_deref())?)
    })
    .await
}

pub async fn revoke(db: &Db, ctx: &SessionContext, org: &str, project: &str, id: &str) -> Result<(), Error> {
    require_same_org(ctx, org)?;
    let all = may(ctx, project, Action::ApiKeysManageAll);
    let own = may(ctx, project, Action::ApiKeysManageOwn);
    if !own {
        return Err(Error::Forbidden { reason: format!("no access to project {project:?}") });
    }
    let (org, project, id, user_id) =
        (org.to_string(), project.to_string(), id.to_string(), ctx.user.id.clone());
    db.write(move |tx| {
        let p = load(tx, &org, &project)?;
        let key = store::api_keys::by_id(tx, &p.id, &id)?
            .filter(|k| all || k.user_id == user_id)
            .ok_or_else(|| Error::not_found("api key", &id))?;
        let now = clock::now_str();
        if !store::api_keys::revoke(tx, &key.id, &now)? {
            return Err(Error::not_found("live api key", &id));
        }
        let revoked = store::api_keys::RevokedKey {
            id: key.id.clone(),
            user_id: key.user_id.clone(),
            project: p.slug.clone(),
        };
        crate::events::emit::api_keys_revoked(tx, &p.org_id, &[revoked], "deleted")?;
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&p.org_id),
                actor: &format!("user:{user_id}"),
                action: AuditAction::ApiKeyRevoke,
                target: &format!("api_key:{}", key.id),
                detail: json!({"project": p.slug, "prefix": key.prefix}),
            },
        )?;
        Ok(())
    })
    .await
}

/// A live key, its owner and project, and the owner's current role there.
pub struct KeyHolder {
    pub key: ApiKeyRow,
    pub user: User,
    pub org_slug: String,
    pub project_slug: String,
    pub project_role: Option<Role>,
}

/// Verify a presented key (hash compared in constant time) and read its
/// owner's current access; None if unknown, revoked or malformed.
pub fn verify(conn: &Tx<'_>, presented: &str) -> Result<Option<KeyHolder>, Error> {
    let Some(rest) = presented.strip_prefix(KEY_PREFIX) else { return Ok(None) };
    let Some((prefix, _)) = rest.split_once('_') else { return Ok(None) };
    if prefix.len() != 12 || presented.len() > 200 {
        return Ok(None);
    }
    let Some(key) = store::api_keys::by_prefix(conn, prefix)? else { return Ok(None) };
    if key.revoked_at.is_some() || !secrets::ct_eq(&secrets::hash_token(presented), &key.secret_hash) {
        return Ok(None);
    }
    let Some(user) = store::users::by_id(conn, &key.org_id, &key.user_id)? else { return Ok(None) };
    let Some(org) = store::orgs::org_by_id(conn, &key.org_id)? else { return Ok(None) };
    let (_, projects) = effective_roles(conn, &user)?;
    let found = projects.iter().find(|(id, _, _)| *id == key.project_id);
    let project_role = found.map(|(_, _, r)| *r);
    let project_slug = match found {
        Some((_, slug, _)) => slug.clone(),
        None => store::orgs::list_projects(conn, &key.org_id)?
            .into_iter()
            .find(|p| p.id == key.project_id)
            .map(|p| p.slug)
            .unwrap_or_default(),
    };
    Ok(Some(KeyHolder { key, user, org_slug: org.slug, project_slug, project_role }))
}
