//! People of an org as the operator sees them: members, project collaborators,
//! manual grants (to members or to people external to the org), and the
//! explanation of one user's access.

use serde::Serialize;
use serde_json::json;

use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::orgs::{new_id, org_in, project_in};
use crate::directory::{Collaborator, Email, GrantRow, Member, Origin, Role, User};
use crate::error::Error;
use crate::events::emit::{self, Source};
use crate::store::{self, Db};

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

/// Grant `role` on a project to the person with `email`, creating them as an
/// external user of the org (origin `manual`) if the org does not know them.
/// The grant is never touched by SCIM, SSO or the mapping afterwards; the
/// mapping gives such a user nothing and SCIM cannot reach them, until the org's
/// IdP brings the same address and adopts the row (docs/mapping.md).
pub async fn add_collaborator(
    db: &Db,
    actor: &str,
    org: &str,
    project: &str,
    email: &str,
    role: &str,
) -> Result<Collaborator, Error> {
    let email = Email::parse(email).map_err(|e| Error::invalid("email", e.to_string()))?;
    let role = role.parse::<Role>().ok().ok_or_else(|| {
        Error::invalid("role", format!("{role:?} is not a role; use \"admin\" or \"member\""))
    })?;
    let (actor, org, project) = (actor.to_string(), org.to_string(), project.to_string());
    db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let p = project_in(tx, &org, &project)?;
        let now = clock::now_str();
        let user = match store::users::by_email(tx, &org.id, &email.key())? {
            Some(u) => u,
            None => {
                let u = User {
                    id: new_id().into(),
                    org_id: org.id.clone(),
                    origin: Origin::Manual,
                    user_name: email.as_str().to_string(),
                    external_id: None,
                    email: Some(email.as_str().to_string()),
                    display_name: None,
                    given_name: None,
                    family_name: None,
                    active: true,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                };
                store::users::insert(tx, &u)?;
                u
            }
        };
        let before = store::grants::put_manual_project_grant(tx, &p.id, &user.id, role, &now)?;
        emit::collaborator(
            tx,
            &org.id,
            &p.slug,
            &user.id,
            user.email.as_deref(),
            (before, Some(role)),
            Source::Manual,
        )?;
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&org.id),
                actor: &actor,
                action: AuditAction::ProjectCollaboratorGrant,
                target: &format!("user:{}", user.id),
                detail: json!({
                    "project": p.slug, "email": user.email, "source": "manual",
                    "before": before.map(Role::as_str), "after": role.as_str(),
                }),
            },
        )?;
        let all = store::grants::collaborators(tx, &org.id, &p.id)?;
        all.into_iter()
            .find(|c| c.user_id == user.id)
            .ok_or_else(|| Error::not_found("collaborator", user.id))
    })
    .await
}

/// Remove the operator's grant on a project (mapping grants are untouched).
pub async fn remove_collaborator(
    db: &Db,
    actor: &str,
    org: &str,
    project: &str,
    user_id: &str,
) -> Result<(), Error> {
    let (actor, org, project, user_id) =
        (actor.to_string(), org.to_string(), project.to_string(), user_id.to_string());
    db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let p = project_in(tx, &org, &project)?;
        let Some(before) = store::grants::delete_manual_project_grant(tx, &p.id, &user_id)? else {
            return Err(Error::not_found("manual grant for user", user_id));
        };
        if let Some(user) = store::users::by_id(tx, &org.id, &user_id)? {
            let email = user.email.as_deref();
            emit::collaborator(tx, &org.id, &p.slug, &user.id, email, (Some(before), None), Source::Manual)?;
            crate::access::reconcile::enforce(tx, &user, &actor, &crate::clock::now_str())?;
        }
        store::audit::append(
            tx,
            &clock::now_str(),
            audit::Event {
                org_id: Some(&org.id),
                actor: &actor,
                action: AuditAction::ProjectCollaboratorRevoke,
                target: &format!("user:{user_id}"),
                detail: json!({"project": p.slug, "source": "manual"}),
            },
        )?;
        Ok(())
    })
    .await
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

/// Activate or deactivate a user, then re-evaluate their grants (deactivation
/// removes every mapping grant and ends their sessions; manual grants stay).
pub async fn set_active(db: &Db, actor: &str, org: &str, user_id: &str, active: bool) -> Result<bool, Error> {
    let (actor, org, user_id) = (actor.to_string(), org.to_string(), user_id.to_string());
    db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let now = clock::now_str();
        let changed = store::users::set_active(tx, &org.id, &user_id, active, &now)?;
        if changed {
            store::audit::append(
                tx,
                &now,
                audit::Event {
                    org_id: Some(&org.id),
                    actor: &actor,
                    action: if active { AuditAction::UserActivate } else { AuditAction::UserDeactivate },
                    target: &format!("user:{user_id}"),
                    detail: json!({}),
                },
            )?;
        }
        crate::access::reconcile::reconcile_user(tx, &org.id, &user_id, &actor)?;
        Ok(changed)
    })
    .await
}
