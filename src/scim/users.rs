//! SCIM Users: what the pipeline (pipeline.rs) needs to know of a user.
//! Every change records the facts (directory::users) and asks access/ to
//! reconcile the user in the same transaction, with an audit event. DELETE
//! and `active: false` deprovision: mapping grants go, sessions and API keys
//! are revoked; manual grants stay.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::adopt;
use super::compile::{user_cond, user_sort};
use super::error::ScimError;
use super::filter::Filter;
use super::patch::{PatchRequest, UserSchema, apply};
use super::pipeline::{Change, Ctx, Resource, audit_scim};
use super::query::ListParams;
use super::resource::{normalize_user, user_resource};
use super::schema::Kind;
use crate::access::reconcile::{reconcile_user, reconcile_user_for};
use crate::audit::AuditAction;
use crate::clock;
use crate::directory::users as dir;
use crate::error::Error;
use crate::events::emit::{self, Deprovision};
use crate::model::{Origin, User};
use crate::store::scim::{self as st, Streamed, UserGroups};
use crate::store::scim_query::{Cond, NoMembership, Paging, Sort, UserColumn, UserQuery, UserSort};
use crate::store::users::UserFacts;
use crate::store::{StoreError, Tx};

/// The SCIM User resource type.
pub struct Users;

fn audit_user(
    conn: &Tx<'_>,
    ctx: &Ctx,
    action: AuditAction,
    id: &str,
    detail: Value,
) -> Result<(), ScimError> {
    audit_scim(conn, ctx, action, &format!("user:{id}"), detail)
}

fn reconcile(conn: &Tx<'_>, ctx: &Ctx, id: &str) -> Result<(), ScimError> {
    reconcile_user(conn, &ctx.client.org_id, id, &ctx.client.actor()).map_err(ScimError::from)?;
    Ok(())
}

/// `user.deprovisioned` for a SCIM delete or deactivation.
fn deprovisioned(conn: &Tx<'_>, ctx: &Ctx, id: &str, cause: Deprovision) -> Result<(), ScimError> {
    let email = crate::store::users::by_id(conn, &ctx.client.org_id, id)?.and_then(|u| u.email);
    emit::user_deprovisioned(conn, &ctx.client.org_id, id, email.as_deref(), cause)?;
    Ok(())
}

/// Map a uniqueness failure to SCIM's 409 `uniqueness` naming the attribute.
pub fn uniqueness(e: Error) -> ScimError {
    match e {
        Error::Conflict { what } => {
            let attr = if what.contains("user_name") {
                "userName"
            } else if what.contains("external_id") {
                "externalId"
            } else {
                "a unique attribute"
            };
            ScimError::Uniqueness { attribute: attr }
        }
        other => other.into(),
    }
}

impl Resource for Users {
    const NAME: &'static str = "User";
    const ENDPOINT: &'static str = "Users";
    const KIND: Kind = Kind::User;
    type Row = User;
    type Input = UserFacts;
    type Related = UserGroups;
    type Query = UserQuery;
    type Column = UserColumn;
    type Member = NoMembership;
    type Sort = Sort<UserSort>;

    fn id(row: &User) -> &str {
        row.id.as_str()
    }

    fn version(row: &User) -> i64 {
        row.version
    }

    fn normalize(body: Value) -> Result<UserFacts, ScimError> {
        normalize_user(body)
    }

    fn get_row(conn: &Tx<'_>, org_id: &str, id: &str) -> Result<Option<User>, StoreError> {
        st::get_user(conn, org_id, id)
    }

    /// A user always carries its groups.
    fn render(conn: &Tx<'_>, ctx: &Ctx, row: &User, _related: bool) -> Result<Value, ScimError> {
        let groups = st::groups_of_user(conn, &row.id)?;
        Ok(user_resource(&ctx.base, row, &groups))
    }

    fn related_wanted(_p: &ListParams) -> bool {
        true
    }

    /// A user PATCH answers the whole user; query parameters are not read.
    fn patch_params(_q: &HashMap<String, String>) -> Result<ListParams, ScimError> {
        Ok(ListParams::default())
    }

    fn patch_received(id: &str, req: &PatchRequest) {
        if req.password_dropped() {
            tracing::info!(user = id, "PATCH carried a password; dropped (never stored)");
        }
    }

    fn patched(conn: &Tx<'_>, ctx: &Ctx, before: &User, req: &PatchRequest) -> Result<UserFacts, ScimError> {
        let mut resource = Self::render(conn, ctx, before, true)?;
        apply(&mut resource, &req.ops, &UserSchema)?;
        normalize_user(resource)
    }

    /// A new user, or the row of someone the org already knows, adopted.
    fn write_new(tx: &Tx<'_>, ctx: &Ctx, cols: UserFacts) -> Result<String, ScimError> {
        let now = clock::now_str();
        let org = &ctx.client.org_id;
        let id = match adopt::adoptable(tx, org, &cols)? {
            Some(a) => {
                // The person is already here: an operator added the address by hand
                // (an external collaborator), or they signed in just in time before
                // SCIM ran. SCIM takes that row over — same id, so sessions, grants
                // and claim facts stay and deprovisioning reaches them — instead of
                // duplicating it (docs/mapping.md, "One person, one user").
                dir::adopt(tx, org, &a.user_id, a.from, Origin::Scim, &cols, &now).map_err(uniqueness)?;
                let rule = a.rule.map(|r| serde_json::to_value(r).unwrap_or(Value::Null));
                audit_user(
                    tx,
                    ctx,
                    AuditAction::UserAdopt,
                    &a.user_id,
                    json!({"from": a.from, "origin": "scim", "match_by": rule, "connections": a.connections}),
                )?;
                tracing::info!(org_id = %org, user_id = %a.user_id, from = %a.from, match_by = ?a.rule,
                "SCIM create adopted an existing user");
                a.user_id
            }
            None => dir::create(tx, org, Origin::Scim, &cols, &now).map_err(uniqueness)?,
        };
        reconcile(tx, ctx, &id)?;
        audit_user(
            tx,
            ctx,
            AuditAction::ScimUserCreate,
            &id,
            json!({"userName": cols.user_name, "externalId": cols.external_id, "active": cols.active}),
        )?;
        Ok(id)
    }

    /// Replace a user's facts, with reconciliation and an audit event
    /// (`change`'s action, or (de)activate).
    fn write_replace(
        tx: &Tx<'_>,
        ctx: &Ctx,
        before: &User,
        cols: UserFacts,
        change: Change,
    ) -> Result<(), ScimError> {
        let id = before.id.as_str();
        let action = match change {
            Change::Replace => AuditAction::ScimUserReplace,
            Change::Patch => AuditAction::ScimUserPatch,
        };
        let now = clock::now_str();
        let adopted = dir::replace(tx, &ctx.client.org_id, id, &cols, &now).map_err(uniqueness)?;
        // A just-in-time row that the SCIM client found (Entra by userName or
        // externalId, Okta by userName) and now writes is SCIM-managed from here
        // on, as if its POST had adopted it: its SCIM memberships become the
        // authority for roles (docs/mapping.md, "One person, one user").
        if adopted {
            audit_user(
                tx,
                ctx,
                AuditAction::UserAdopt,
                id,
                json!({"from": "sso", "origin": "scim", "by": action.as_str()}),
            )?;
        }
        let cause = (before.active && !cols.active).then_some(Deprovision::ScimDeactivated);
        if let Some(cause) = cause {
            deprovisioned(tx, ctx, id, cause)?;
        }
        reconcile_user_for(tx, &ctx.client.org_id, id, &ctx.client.actor(), cause)?;
        let action = match (before.active, cols.active) {
            (true, false) => AuditAction::ScimUserDeactivate,
            (false, true) => AuditAction::ScimUserActivate,
            _ => action,
        };
        audit_user(
            tx,
            ctx,
            action,
            id,
            json!({"userName": cols.user_name, "externalId": cols.external_id, "active": cols.active}),
        )?;
        Ok(())
    }

    fn remove(tx: &Tx<'_>, ctx: &Ctx, before: &User) -> Result<(), ScimError> {
        let id = before.id.as_str();
        let now = clock::now_str();
        deprovisioned(tx, ctx, id, Deprovision::ScimDelete)?;
        // Memberships go with the user; the row stays (inactive, hidden) for manual grants.
        dir::remove(tx, &ctx.client.org_id, id, &now)?;
        reconcile_user_for(tx, &ctx.client.org_id, id, &ctx.client.actor(), Some(Deprovision::ScimDelete))?;
        audit_user(tx, ctx, AuditAction::ScimUserDelete, id, json!({"userName": before.user_name}))?;
        Ok(())
    }

    fn compile(f: &Filter) -> Option<Cond<UserColumn, NoMembership>> {
        user_cond(f)
    }

    fn sort(p: &ListParams) -> Sort<UserSort> {
        user_sort(p.sort_by.as_ref(), p.descending)
    }

    fn query(
        cond: Cond<UserColumn, NoMembership>,
        sort: Sort<UserSort>,
        paging: Paging,
        _related: bool,
    ) -> UserQuery {
        UserQuery { cond, sort, paging }
    }

    fn each(
        conn: &Tx<'_>,
        org_id: &str,
        q: &UserQuery,
        visit: &mut dyn FnMut(User, UserGroups, Option<String>) -> bool,
    ) -> Result<Streamed, StoreError> {
        st::each_user(conn, org_id, q, visit)
    }

    fn count(conn: &Tx<'_>, org_id: &str, q: &UserQuery) -> Result<i64, StoreError> {
        st::count_users(conn, org_id, &q.cond)
    }

    fn render_listed(base: &str, row: &User, groups: &UserGroups, _related: bool) -> Value {
        user_resource(base, row, groups)
    }
}
