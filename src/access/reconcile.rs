//! Reconciliation: desired grants (the org's mapping applied to a user's group
//! facts) against the grants the mapping owns; the difference is applied with
//! one audit event per change, inside the caller's transaction. Manual grants
//! are never read or written here. The mapping applies only to users the org's
//! IdP vouches for, and reads the facts their origin makes authoritative
//! (`access::origin`). After a change, `enforce` ends the sessions
//! of a user left without any role and revokes API keys for projects they lost.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::json;

use super::evaluate::{Change, CompiledMapping, Current, Desired, GroupFact, diff};
use super::mapping::{MappingDocument, Role, parse_json};
use super::origin::Origin;
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::User;
use crate::error::Error;
use crate::events::emit::{self, Deprovision, Source};
use crate::store::mapping_grants::{self, Fact, MappingGrants};
use crate::store::{self, StoreError, Tx};

/// The mapping in force for an org: the newest stored version, or the
/// built-in default (version 0: everyone provisioned is a member, no rules).
pub struct ActiveMapping {
    pub version: i64,
    pub doc: MappingDocument,
    pub compiled: CompiledMapping,
}

impl ActiveMapping {
    pub fn new(version: i64, doc: MappingDocument) -> Self {
        let compiled = CompiledMapping::new(&doc);
        ActiveMapping { version, doc, compiled }
    }
}

pub fn active_mapping(conn: &Tx<'_>, org_id: &str) -> Result<ActiveMapping, Error> {
    match store::mappings::latest(conn, org_id)? {
        Some((version, text)) => {
            let doc = parse_json(text.as_bytes())
                .map_err(|e| StoreError::Corrupt { what: "mapping document", message: e.to_string() })?;
            Ok(ActiveMapping::new(version, doc))
        }
        None => Ok(ActiveMapping::new(0, MappingDocument::default())),
    }
}

/// One change for one user, as the API lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserChange {
    pub user_id: String,
    pub email: String,
    #[serde(flatten)]
    pub change: Change,
}

fn to_group_facts(facts: Vec<Fact>) -> Vec<GroupFact> {
    facts
        .into_iter()
        .map(|(display_name, external_id, raw_claim)| GroupFact { display_name, external_id, raw_claim })
        .collect()
}

/// What the mapping wants for one user: nothing for a user the IdP does not
/// vouch for (an operator-made external collaborator), otherwise the mapping
/// applied to the facts that are authoritative for the user's origin.
fn desired_for(
    mapping: &CompiledMapping,
    origin: Origin,
    active: bool,
    facts: Vec<Fact>,
) -> Result<Desired, Error> {
    if !origin.vouched() {
        return Ok(Desired::default());
    }
    Ok(mapping.evaluate(active, &super::origin::usable_facts(origin, to_group_facts(facts))))
}

fn current(g: &MappingGrants) -> Current {
    Current { org: g.org, projects: g.projects.iter().cloned().collect::<BTreeMap<_, _>>() }
}

/// Write `changes` for one user, audit each and emit its change event.
#[allow(clippy::too_many_arguments)]
fn apply(
    conn: &Tx<'_>,
    org_id: &str,
    user_id: &str,
    email: Option<&str>,
    changes: &[Change],
    version: i64,
    project_ids: &HashMap<String, String>,
    actor: &str,
    now: &str,
) -> Result<(), Error> {
    for change in changes {
        let reason_of = |r: &Option<super::evaluate::Reason>| -> String {
            r.as_ref().map(|r| json!(r).to_string()).unwrap_or_else(|| "{}".into())
        };
        match change {
            Change::Org { after: Some(role), reason, .. } => {
                mapping_grants::put_org(conn, org_id, user_id, *role, &reason_of(reason), version, now)?
            }
            Change::Org { after: None, .. } => mapping_grants::delete_org(conn, user_id)?,
            Change::Project { project, after, reason, .. } => {
                let Some(pid) = project_ids.get(project) else {
                    // Validation refuses unknown projects; a stale one is skipped, not invented.
                    continue;
                };
                match after {
                    Some(role) => mapping_grants::put_project(
                        conn,
                        pid,
                        user_id,
                        *role,
                        &reason_of(reason),
                        version,
                        now,
                    )?,
                    None => mapping_grants::delete_project(conn, pid, user_id)?,
                }
            }
        }
        match change {
            Change::Org { before, after, .. } => {
                emit::member(conn, org_id, user_id, email, (*before, *after), Source::Mapping)?
            }
            Change::Project { project, before, after, .. } => {
                emit::collaborator(conn, org_id, project, user_id, email, (*before, *after), Source::Mapping)?
            }
        }
        let mut detail = json!(change);
        detail["mapping_version"] = json!(version);
        store::audit::append(
            conn,
            now,
            audit::Event {
                org_id: Some(org_id),
                actor,
                action: AuditAction::AccessChange,
                target: &format!("user:{user_id}"),
                detail,
            },
        )?;
    }
    Ok(())
}

fn project_ids(conn: &Tx<'_>, org_id: &str) -> Result<HashMap<String, String>, StoreError> {
    Ok(store::orgs::list_projects(conn, org_id)?.into_iter().map(|p| (p.slug, p.id.into())).collect())
}

/// Re-evaluate one user against the org's mapping and apply the difference.
pub fn reconcile_user(conn: &Tx<'_>, org_id: &str, user_id: &str, actor: &str) -> Result<Vec<Change>, Error> {
    reconcile_user_for(conn, org_id, user_id, actor, None)
}

/// `reconcile_user` after the user was deprovisioned for `cause` (SCIM
/// delete or deactivation): the sessions and keys it ends carry that reason.
pub fn reconcile_user_for(
    conn: &Tx<'_>,
    org_id: &str,
    user_id: &str,
    actor: &str,
    cause: Option<Deprovision>,
) -> Result<Vec<Change>, Error> {
    let user =
        store::users::by_id(conn, org_id, user_id)?.ok_or_else(|| Error::not_found("user", user_id))?;
    let mapping = active_mapping(conn, org_id)?;
    let facts = mapping_grants::user_facts(conn, user_id)?;
    let desired = desired_for(&mapping.compiled, user.origin, user.active, facts)?;
    let changes = diff(&current(&mapping_grants::of_user(conn, user_id)?), &desired);
    let now = clock::now_str();
    let pids = if changes.iter().any(|c| matches!(c, Change::Project { .. })) {
        project_ids(conn, org_id)?
    } else {
        HashMap::new()
    };
    apply(conn, org_id, user_id, user.email.as_deref(), &changes, mapping.version, &pids, actor, &now)?;
    // Only a loss, or an inactive user (who may still hold manual grants or
    // sessions), can require ending sessions or revoking keys.
    if !user.active || changes.iter().any(is_loss) {
        enforce_for(conn, &user, actor, &now, cause)?;
    }
    Ok(changes)
}

/// Re-evaluate every user of the org against `mapping`. With `write` false
/// (preview) nothing is written and the same changes are returned.
pub fn reconcile_org(
    conn: &Tx<'_>,
    org_id: &str,
    mapping: &ActiveMapping,
    actor: &str,
    write: bool,
) -> Result<Vec<UserChange>, Error> {
    let users = mapping_grants::org_users(conn, org_id)?;
    let mut facts = mapping_grants::org_facts(conn, org_id)?;
    let mut grants = mapping_grants::of_org(conn, org_id)?;
    let pids = project_ids(conn, org_id)?;
    let key_holders = store::api_keys::users_with_live_keys(conn, org_id)?;
    let now = clock::now_str();
    let mut out = Vec::new();
    for user in users {
        let (user_id, email) = (user.id, user.email);
        let f = facts.remove(&user_id).unwrap_or_default();
        let desired = desired_for(&mapping.compiled, user.origin, user.active, f)?;
        let changes = diff(&current(&grants.remove(&user_id).unwrap_or_default()), &desired);
        if changes.is_empty() {
            continue;
        }
        if write {
            apply(
                conn,
                org_id,
                &user_id,
                Some(email.as_str()),
                &changes,
                mapping.version,
                &pids,
                actor,
                &now,
            )?;
            // Only a loss can end sessions (when no mapping role is left) or
            // revoke keys (when the user holds some); everything else skips the check.
            let no_mapping_role = desired.org.is_none() && desired.projects.is_empty();
            if changes.iter().any(is_loss) && (no_mapping_role || key_holders.contains(&user_id)) {
                if let Some(user) = store::users::by_id(conn, org_id, &user_id)? {
                    enforce(conn, &user, actor, &now)?;
                }
            }
        }
        out.extend(changes.into_iter().map(|change| UserChange {
            user_id: user_id.clone(),
            email: email.clone(),
            change,
        }));
    }
    Ok(out)
}

/// A grant removed or lowered.
fn is_loss(c: &Change) -> bool {
    match c {
        Change::Org { before, after, .. } | Change::Project { before, after, .. } => after < before,
    }
}

/// (project id, project slug, role).
pub type ProjectRole = (String, String, Role);

/// A user's effective roles: nothing for an inactive user; an org admin is
/// admin of every project of the org. Returns (org role, [(project id, slug, role)]).
pub fn effective_roles(conn: &Tx<'_>, user: &User) -> Result<(Option<Role>, Vec<ProjectRole>), StoreError> {
    if !user.active {
        return Ok((None, Vec::new()));
    }
    let stored = store::grants::stored_roles(conn, &user.id)?;
    if stored.org == Some(Role::Admin) {
        let all = store::orgs::list_projects(conn, &user.org_id)?;
        return Ok((stored.org, all.into_iter().map(|p| (p.id.into(), p.slug, Role::Admin)).collect()));
    }
    Ok((stored.org, stored.projects))
}

/// After any change to a user's grants or state: a user left without any role
/// loses every session; API keys on projects the user can no longer reach are revoked.
pub fn enforce(conn: &Tx<'_>, user: &User, actor: &str, now: &str) -> Result<(), Error> {
    enforce_for(conn, user, actor, now, None)
}

/// `enforce`, with the events it emits naming `cause` (default `no_role`). An
/// active user left without any role is `user.deprovisioned` (`no_role`).
pub fn enforce_for(
    conn: &Tx<'_>,
    user: &User,
    actor: &str,
    now: &str,
    cause: Option<Deprovision>,
) -> Result<(), Error> {
    let (org_role, projects) = effective_roles(conn, user)?;
    let reason = cause.unwrap_or(Deprovision::NoRole).as_str();
    let mut detail = serde_json::Map::new();
    if org_role.is_none() && projects.is_empty() {
        if user.active && cause.is_none() {
            emit::user_deprovisioned(
                conn,
                &user.org_id,
                &user.id,
                user.email.as_deref(),
                Deprovision::NoRole,
            )?;
        }
        let n = store::sessions::revoke_user(conn, &user.id, now)?;
        if n > 0 {
            detail.insert("sessions_revoked".into(), json!(n));
            emit::session_revoked(conn, &user.org_id, &user.id, reason)?;
        }
    }
    let lost: Vec<String> = store::api_keys::projects_with_live_keys(conn, &user.id)?
        .into_iter()
        .filter(|pid| !projects.iter().any(|(id, _, _)| id == pid))
        .collect();
    if !lost.is_empty() {
        let keys = store::api_keys::revoke_user_projects(conn, &user.id, &lost, now)?;
        detail.insert("api_keys_revoked".into(), json!(keys.len()));
        emit::api_keys_revoked(conn, &user.org_id, &keys, reason)?;
    }
    if !detail.is_empty() {
        store::audit::append(
            conn,
            now,
            audit::Event {
                org_id: Some(&user.org_id),
                actor,
                action: AuditAction::AccessRevoke,
                target: &format!("user:{}", user.id),
                detail: serde_json::Value::Object(detail),
            },
        )?;
    }
    Ok(())
}
