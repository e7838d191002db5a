//! The operator's changes to people's access: manual grants on projects (to members
//! or to people external to the org) and a user's active flag. Each records the fact
//! through directory/, then decides the grant here: a manual grant is written with
//! its change event and audit, and the user's access is re-evaluated or enforced
//! (`reconcile`), all in one transaction.

use serde_json::json;

use super::reconcile::{enforce, reconcile_user};
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::orgs::{org_in, project_in};
use crate::directory::people::{person_by_email, record_active};
use crate::directory::{Collaborator, Email, Role};
use crate::error::Error;
use crate::events::emit::{self, Source};
use crate::store::{self, Db};

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
        let user = person_by_email(tx, &org.id, &email, &now)?;
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
            enforce(tx, &user, &actor, &clock::now_str())?;
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

/// Activate or deactivate a user, then re-evaluate their grants (deactivation
/// removes every mapping grant and ends their sessions; manual grants stay).
pub async fn set_active(db: &Db, actor: &str, org: &str, user_id: &str, active: bool) -> Result<bool, Error> {
    let (actor, org, user_id) = (actor.to_string(), org.to_string(), user_id.to_string());
    db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let now = clock::now_str();
        let changed = record_active(tx, &org.id, &user_id, active, &actor, &now)?;
        reconcile_user(tx, &org.id, &user_id, &actor)?;
        Ok(changed)
    })
    .await
}
