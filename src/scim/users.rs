//! SCIM Users: create, read, replace, delete, list. Every change records the
//! facts and asks access/ to reconcile the user in the same transaction, with
//! an audit event. DELETE and `active: false` deprovision: mapping grants go,
//! sessions and API keys are revoked; manual grants stay.

use serde_json::{Value, json};

use super::adopt;
use super::auth::ScimClient;
use super::compile::{user_cond, user_sort};
use super::error::ScimError;
use super::filter::matches;
use super::limits::Page;
use super::query::{ListParams, list_response, project};
use super::resource::{etag, normalize_user, user_resource};
use super::schema::{Kind, case_exact};
use crate::access::reconcile::{reconcile_user, reconcile_user_for};
use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::users as dir;
use crate::error::Error;
use crate::events::emit::{self, Deprovision};
use crate::model::Origin;
use crate::store::scim::{self as st, ScimUserRow};
use crate::store::scim_query::{Cond, Paging, UserQuery};
use crate::store::{Db, Tx};

/// Who is asking, and the base URL of their org's SCIM endpoint.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub client: ScimClient,
    pub base: String,
}

/// RFC 7644 §3.14: If-Match with a stale version → 412.
pub fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    let Some(h) = if_match else { return Ok(()) };
    let current = etag(version);
    let ok = h
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current || t.trim_start_matches("W/") == &current[2..]);
    if ok { Ok(()) } else { Err(ScimError::PreconditionFailed { current, sent: h.to_string() }) }
}

/// Append an audit event by this SCIM client; `target` like `user:<id>`.
pub fn audit_scim(
    conn: &Tx<'_>,
    ctx: &Ctx,
    action: AuditAction,
    target: &str,
    detail: Value,
) -> Result<(), ScimError> {
    crate::store::audit::append(
        conn,
        &clock::now_str(),
        audit::Event { org_id: Some(&ctx.client.org_id), actor: &ctx.client.actor(), action, target, detail },
    )?;
    Ok(())
}

fn audit_user(
    conn: &Tx<'_>,
    ctx: &Ctx,
    action: AuditAction,
    id: &str,
    detail: Value,
) -> Result<(), ScimError> {
    audit_scim(conn, ctx, action, &format!("user:{id}"), detail)
}

fn render(conn: &Tx<'_>, ctx: &Ctx, row: &ScimUserRow) -> Result<Value, ScimError> {
    let groups = st::groups_of_user(conn, &row.id)?;
    Ok(user_resource(&ctx.base, row, &groups))
}

fn load(conn: &Tx<'_>, ctx: &Ctx, id: &str) -> Result<ScimUserRow, ScimError> {
    st::get_user(conn, &ctx.client.org_id, id)?.ok_or_else(|| ScimError::not_found("User", id))
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

pub async fn create(db: &Db, ctx: &Ctx, body: Value) -> Result<(Value, i64), ScimError> {
    let cols = normalize_user(body)?;
    let ctx = ctx.clone();
    db.write(move |tx| {
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
                    &ctx,
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
        reconcile(tx, &ctx, &id)?;
        audit_user(
            tx,
            &ctx,
            AuditAction::ScimUserCreate,
            &id,
            json!({"userName": cols.user_name, "externalId": cols.external_id, "active": cols.active}),
        )?;
        let row = load(tx, &ctx, &id)?;
        Ok((render(tx, &ctx, &row)?, row.version))
    })
    .await
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

pub async fn get(db: &Db, ctx: &Ctx, id: &str) -> Result<(Value, i64), ScimError> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    db.read(move |c| {
        let row = load(c, &ctx, &id)?;
        Ok((render(c, &ctx, &row)?, row.version))
    })
    .await
}

/// PUT: the body replaces every client attribute (Okta sends the full user).
pub async fn replace(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    body: Value,
    if_match: Option<String>,
) -> Result<(Value, i64), ScimError> {
    // Refuse a bad body before taking the writer.
    normalize_user(body.clone())?;
    rewrite(db, ctx, id, move |_| Ok(body), if_match, AuditAction::ScimUserReplace).await
}

/// Store an already-patched resource (PATCH goes through here).
pub async fn store_patched(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    patch: impl FnOnce(Value) -> Result<Value, ScimError> + Send + 'static,
    if_match: Option<String>,
) -> Result<(Value, i64), ScimError> {
    rewrite(db, ctx, id, patch, if_match, AuditAction::ScimUserPatch).await
}

/// Replace a user with `change(current representation)`, in one transaction
/// with reconciliation and an audit event (`action`, or (de)activate).
async fn rewrite(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    change: impl FnOnce(Value) -> Result<Value, ScimError> + Send + 'static,
    if_match: Option<String>,
    action: AuditAction,
) -> Result<(Value, i64), ScimError> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    db.write(move |tx| {
        let before = load(tx, &ctx, &id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        let cols = normalize_user(change(render(tx, &ctx, &before)?)?)?;
        let now = clock::now_str();
        let adopted = dir::replace(tx, &ctx.client.org_id, &id, &cols, &now).map_err(uniqueness)?;
        // A just-in-time row that the SCIM client found (Entra by userName or
        // externalId, Okta by userName) and now writes is SCIM-managed from here
        // on, as if its POST had adopted it: its SCIM memberships become the
        // authority for roles (docs/mapping.md, "One person, one user").
        if adopted {
            audit_user(
                tx,
                &ctx,
                AuditAction::UserAdopt,
                &id,
                json!({"from": "sso", "origin": "scim", "by": action.as_str()}),
            )?;
        }
        let cause = (before.active && !cols.active).then_some(Deprovision::ScimDeactivated);
        if let Some(cause) = cause {
            deprovisioned(tx, &ctx, &id, cause)?;
        }
        reconcile_user_for(tx, &ctx.client.org_id, &id, &ctx.client.actor(), cause)?;
        let action = match (before.active, cols.active) {
            (true, false) => AuditAction::ScimUserDeactivate,
            (false, true) => AuditAction::ScimUserActivate,
            _ => action,
        };
        audit_user(
            tx,
            &ctx,
            action,
            &id,
            json!({"userName": cols.user_name, "externalId": cols.external_id, "active": cols.active}),
        )?;
        let row = load(tx, &ctx, &id)?;
        Ok((render(tx, &ctx, &row)?, row.version))
    })
    .await
}

pub async fn delete(db: &Db, ctx: &Ctx, id: &str, if_match: Option<String>) -> Result<(), ScimError> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    db.write(move |tx| {
        let before = load(tx, &ctx, &id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        let now = clock::now_str();
        deprovisioned(tx, &ctx, &id, Deprovision::ScimDelete)?;
        // Memberships go with the user; the row stays (inactive, hidden) for manual grants.
        dir::remove(tx, &ctx.client.org_id, &id, &now)?;
        reconcile_user_for(tx, &ctx.client.org_id, &id, &ctx.client.actor(), Some(Deprovision::ScimDelete))?;
        audit_user(tx, &ctx, AuditAction::ScimUserDelete, &id, json!({"userName": before.user_name}))?;
        Ok(())
    })
    .await
}

/// GET /Users with filter, paging, sorting and projection. Rows are streamed
/// (one statement, groups aggregated in it) into a page bounded by `count`
/// and by `MAX_PAGE_BYTES` (RFC 7644 §3.4.2.4: fewer than `count` may be
/// returned; `itemsPerPage` says how many, `totalResults` stays exact).
pub async fn list(db: &Db, ctx: &Ctx, p: ListParams) -> Result<Value, ScimError> {
    let ctx = ctx.clone();
    db.read(move |c| {
        let org = &ctx.client.org_id;
        let sort = user_sort(p.sort_by.as_ref(), p.descending);
        let mut page = Page::new(p.count);
        let compiled = p.filter.as_ref().map(|f| (f, user_cond(f)));
        let total = match compiled {
            Some((f, None)) => {
                // Parts only the evaluator knows (rendered `groups`, `meta`):
                // one streamed pass over the org, counting every match.
                let exact = |path: &super::filter::AttrPath| case_exact(Kind::User, path);
                let mut total = 0i64;
                let all =
                    UserQuery { cond: Cond::Always(true), sort, paging: Paging { limit: None, offset: 0 } };
                st::each_user(c, org, &all, &mut |row, groups| {
                    let res = user_resource(&ctx.base, &row, &groups);
                    if matches(f, &res, &exact) {
                        total += 1;
                        if total >= p.start_index && !page.is_full() {
                            page.offer(project(res, &p.attributes, &p.excluded));
                        }
                    }
                    true
                })?;
                total
            }
            compiled => {
                let cond = compiled.and_then(|(_, s)| s).unwrap_or(Cond::Always(true));
                let q = UserQuery {
                    cond,
                    sort,
                    paging: Paging { limit: Some(p.count), offset: p.start_index - 1 },
                };
                let streamed = if page.is_full() {
                    st::Streamed { seen: 0, exhausted: false }
                } else {
                    st::each_user(c, org, &q, &mut |row, g| {
                        page.offer(project(user_resource(&ctx.base, &row, &g), &p.attributes, &p.excluded))
                    })?
                };
                // A first page that read every match holds them all: no count
                // query (the common `userName eq` lookup costs one indexed probe).
                if p.start_index == 1 && streamed.exhausted && streamed.seen < p.count {
                    streamed.seen
                } else {
                    st::count_users(c, org, &q.cond)?
                }
            }
        };
        Ok(list_response(total, p.start_index, page.resources))
    })
    .await
}
