//! People of an org as the operator sees them: members, project collaborators, the
//! explanation of one user's access, and the facts behind the operator's changes (a
//! person known by email, a user's active flag). Granting, revoking and re-evaluating
//! are access/'s part (`access::people`).

use serde::Serialize;
use serde_json::json;

use crate::audit::{self, AuditAction};
use crate::directory::orgs::{new_id, org_in, project_in};
use crate::directory::{Collaborator, Email, GrantRow, Member, Origin, Role, User};
use crate::error::Error;
use crate::store::{self, Db, Tx};

pub async fn members(db: &Db, org: &str) -> Result<Vec<Member>, Error> {
    let org = org.to_string();
    db.read(move |c| {
        let org = org_in(c, &org)?;
        Ok(store::grants::members(c, &org.id)?)
    })
    .await
}

pub async fn collaborators(db: &Db, org: &str, project: &str) -> Result<Vec<Collaborator>, Error> {
    let (org, project) = (org.to_string(), project.to_string());
    db.read(move |c| {
        let org = org_in(c, &org)?;
        let p = project_in(c, &org, &project)?;
        Ok(store::grants::collaborators(c, &org.id, &p.id)?)
    })
    .await
}

/// The user of the org with `email`, creating them as an external user of the org
/// (origin `manual`) if the org does not know them: the fact behind an operator's
/// grant to a person (`access::people::add_collaborator`). Such a user is never
/// touched by SCIM, SSO or the mapping until the org's IdP brings the same address
/// and adopts the row (docs/mapping.md).
pub fn person_by_email(tx: &Tx<'_>, org_id: &str, email: &Email, now: &str) -> Result<User, Error> {
    if let Some(u) = store::users::by_email(tx, org_id, &email.key())? {
        return Ok(u);
    }
    let u = User {
        id: new_id().into(),
        org_id: org_id.into(),
        origin: Origin::Manual,
        user_name: email.as_str().to_string(),
        external_id: None,
        email: Some(email.as_str().to_string()),
        display_name: None,
        given_name: None,
        family_name: None,
        active: true,
        created_at: now.to_string(),
        updated_at: now.to_string(),
        attributes: "{}".into(),
        version: 1,
    };
    store::users::insert(tx, &u)?;
    Ok(u)
}

/// One user's access with what gave each role.
#[derive(Debug, Serialize)]
pub struct Access {
    pub user: User,
    pub org: RoleExplained,
    pub projects: Vec<ProjectAccess>,
}

#[derive(Debug, Serialize)]
pub struct RoleExplained {
    /// The effective role (null: no role), or null for an inactive user.
    pub role: Option<Role>,
    pub grants: Vec<GrantRow>,
}

#[derive(Debug, Serialize)]
pub struct ProjectAccess {
    pub slug: String,
    pub role: Option<Role>,
    pub grants: Vec<GrantRow>,
}

pub async fn access(db: &Db, org: &str, user_id: &str) -> Result<Access, Error> {
    let (org, user_id) = (org.to_string(), user_id.to_string());
    db.read(move |c| {
        let org = org_in(c, &org)?;
        let user =
            store::users::by_id(c, &org.id, &user_id)?.ok_or_else(|| Error::not_found("user", &user_id))?;
        let rows = store::grants::of_user(c, &user.id)?;
        let effective = |g: &[GrantRow]| if user.active { g.iter().map(|r| r.role).max() } else { None };
        let (org_rows, project_rows): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.project.is_none());
        let mut projects: Vec<ProjectAccess> = Vec::new();
        for row in project_rows {
            let slug = row.project.clone().unwrap_or_default();
            match projects.last_mut() {
                Some(p) if p.slug == slug => p.grants.push(row),
                _ => projects.push(ProjectAccess { slug, role: None, grants: vec![row] }),
            }
        }
        for p in &mut projects {
            p.role = effective(&p.grants);
        }
        let org_role = RoleExplained { role: effective(&org_rows), grants: org_rows };
        Ok(Access { user, org: org_role, projects })
    })
    .await
}

/// Record that the user is active or not, audited when it changed (`user.activate`,
/// `user.deactivate`); returns whether it changed. Re-evaluating their grants is
/// access/'s part (`access::people::set_active`).
pub fn record_active(
    tx: &Tx<'_>,
    org_id: &str,
    user_id: &str,
    active: bool,
    actor: &str,
    now: &str,
) -> Result<bool, Error> {
    let changed = store::users::set_active(tx, org_id, user_id, active, now)?;
    if changed {
        store::audit::append(
            tx,
            now,
            audit::Event {
                org_id: Some(org_id),
                actor,
                action: if active { AuditAction::UserActivate } else { AuditAction::UserDeactivate },
                target: &format!("user:{user_id}"),
                detail: json!({}),
            },
        )?;
    }
    Ok(changed)
}
