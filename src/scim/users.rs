//! SCIM Users: create, read, replace, delete, list. Every change records the
//! facts and asks access/ to reconcile the user in the same transaction, with
//! an audit event. DELETE and `active: false` deprovision: mapping grants go,
//! sessions and API keys are revoked; manual grants stay.

use serde_json::{Value, json};

use super::auth::ScimClient;
use super::error::ScimError;
use super::filter::matches;
use super::query::{ListParams, compile, list_response, order_by, project};
use super::resource::{etag, normalize_user, user_resource};
use super::schema::{Kind, case_exact};
use crate::access::reconcile::reconcile_user;
use crate::clock;
use crate::directory::orgs::new_id;
use crate::store::audit::{self, NewEvent};
use crate::store::scim::{self as st, ScimUserRow};
use crate::store::{Connection, Db};

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
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            axum::http::StatusCode::PRECONDITION_FAILED,
            None,
            format!("resource version is {current}, not {h}"),
        ))
    }
}

/// Append an audit event by this SCIM client; `target` like `user:<id>`.
pub fn audit_scim(
    conn: &Connection,
    ctx: &Ctx,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), ScimError> {
    audit::append(
        conn,
        &clock::now_str(),
        NewEvent { org_id: Some(&ctx.client.org_id), actor: &ctx.client.actor(), action, target, detail },
    )?;
    Ok(())
}

fn audit_user(conn: &Connection, ctx: &Ctx, action: &str, id: &str, detail: Value) -> Result<(), ScimError> {
    audit_scim(conn, ctx, action, &format!("user:{id}"), detail)
}

fn render(conn: &Connection, ctx: &Ctx, row: &ScimUserRow) -> Result<Value, ScimError> {
    let groups = st::groups_of_user(conn, &row.id)?;
    Ok(user_resource(&ctx.base, row, &groups))
}

fn load(conn: &Connection, ctx: &Ctx, id: &str) -> Result<ScimUserRow, ScimError> {
    st::get_user(conn, &ctx.client.org_id, id)?
        .ok_or_else(|| ScimError::not_found(format!("User {id} not found")))
}

fn reconcile(conn: &Connection, ctx: &Ctx, id: &str) -> Result<(), ScimError> {
    reconcile_user(conn, &ctx.client.org_id, id, &ctx.client.actor()).map_err(ScimError::from)?;
    Ok(())
}

pub async fn create(db: &Db, ctx: &Ctx, body: Value) -> Result<(Value, i64), ScimError> {
    let cols = normalize_user(body)?;
    let ctx = ctx.clone();
    db.write(move |tx| {
        let now = clock::now_str();
        let id = match adoptable(tx, &ctx, &cols)? {
            Some(manual) => {
                // The IdP brings an address an operator added by hand (an external
                // collaborator): SCIM adopts that row instead of refusing the userName
                // as taken; it keeps its manual grants (docs/mapping.md).
                crate::store::users::adopt(tx, &ctx.client.org_id, &manual, "scim", &now)?;
                st::replace_user(tx, &ctx.client.org_id, &manual, &cols, &now).map_err(uniqueness)?;
                audit_user(tx, &ctx, "user.adopt", &manual, json!({"from": "manual", "origin": "scim"}))?;
                manual
            }
            None => {
                let id = new_id();
                st::insert_user(tx, &ctx.client.org_id, &id, &cols, &now).map_err(uniqueness)?;
                id
            }
        };
        reconcile(tx, &ctx, &id)?;
        audit_user(
            tx,
            &ctx,
            "scim.user.create",
            &id,
            json!({"userName": cols.user_name, "externalId": cols.external_id, "active": cols.active}),
        )?;
        let row = load(tx, &ctx, &id)?;
        Ok((render(tx, &ctx, &row)?, row.version))
    })
    .await
}

/// The operator-made user whose address is the new user's userName, else its email.
fn adoptable(conn: &Connection, ctx: &Ctx, cols: &st::UserColumns) -> Result<Option<String>, ScimError> {
    let user_name_key = cols.user_name.to_lowercase();
    let email_key = cols.email.as_deref().map(str::to_lowercase);
    let keys: Vec<&str> = std::iter::once(user_name_key.as_str()).chain(email_key.as_deref()).collect();
    Ok(crate::store::users::manual_by_address(conn, &ctx.client.org_id, &keys)?.map(|u| u.id))
}

/// Map a uniqueness failure to SCIM's 409 `uniqueness` naming the attribute.
pub fn uniqueness(e: crate::store::StoreError) -> ScimError {
    match e {
        crate::store::StoreError::Conflict { what } => {
            let attr = if what.contains("user_name") {
                "userName"
            } else if what.contains("external_id") {
                "externalId"
            } else {
                "a unique attribute"
            };
            ScimError::uniqueness(format!("{attr} is already in use in this organization"))
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
    rewrite(db, ctx, id, move |_| Ok(body), if_match, "scim.user.replace").await
}

/// Store an already-patched resource (PATCH goes through here).
pub async fn store_patched(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    patch: impl FnOnce(Value) -> Result<Value, ScimError> + Send + 'static,
    if_match: Option<String>,
) -> Result<(Value, i64), ScimError> {
    rewrite(db, ctx, id, patch, if_match, "scim.user.patch").await
}

/// Replace a user with `change(current representation)`, in one transaction
/// with reconciliation and an audit event (`action`, or (de)activate).
async fn rewrite(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    change: impl FnOnce(Value) -> Result<Value, ScimError> + Send + 'static,
    if_match: Option<String>,
    action: &'static str,
) -> Result<(Value, i64), ScimError> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    db.write(move |tx| {
        let before = load(tx, &ctx, &id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        let cols = normalize_user(change(render(tx, &ctx, &before)?)?)?;
        st::replace_user(tx, &ctx.client.org_id, &id, &cols, &clock::now_str()).map_err(uniqueness)?;
        reconcile(tx, &ctx, &id)?;
        let action = match (before.active, cols.active) {
            (true, false) => "scim.user.deactivate",
            (false, true) => "scim.user.activate",
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
        // Memberships go with the user; the row stays (inactive, hidden) for manual grants.
        st::remove_user_from_all_groups(tx, &id)?;
        st::soft_delete_user(tx, &ctx.client.org_id, &id, &now)?;
        reconcile(tx, &ctx, &id)?;
        audit_user(tx, &ctx, "scim.user.delete", &id, json!({"userName": before.user_name}))?;
        Ok(())
    })
    .await
}

/// GET /Users with filter, paging, sorting and projection.
pub async fn list(db: &Db, ctx: &Ctx, p: ListParams) -> Result<Value, ScimError> {
    let ctx = ctx.clone();
    db.read(move |c| {
        let org = &ctx.client.org_id;
        let order = order_by(Kind::User, p.sort_by.as_ref(), p.descending);
        // Compile once: None (no filter) or Some(Some(sql)) run in SQL, Some(None) in memory.
        let compiled = p.filter.as_ref().map(|f| (f, compile(Kind::User, f)));
        let (total, rows) = match compiled {
            None | Some((_, Some(_))) => {
                let sql = compiled.and_then(|(_, s)| s).unwrap_or_default();
                let w = if sql.where_sql.is_empty() { "1".to_string() } else { sql.where_sql.clone() };
                let rows = if p.count == 0 {
                    Vec::new()
                } else {
                    st::list_users(c, org, &w, &sql.args, &order, p.count, p.start_index - 1)?
                };
                // A first page that is not full holds every match: no count query
                // (the common `userName eq` lookup costs one indexed probe).
                let total = if p.start_index == 1 && (rows.len() as i64) < p.count {
                    rows.len() as i64
                } else {
                    st::count_users(c, org, &w, &sql.args)?
                };
                let rendered = rows.iter().map(|r| render(c, &ctx, r)).collect::<Result<Vec<_>, _>>()?;
                (total, rendered)
            }
            Some((f, None)) => {
                // Not expressible on indexed columns: evaluate on every user of the org.
                let all = st::list_users(c, org, "1", &[], &order, i64::MAX, 0)?;
                let exact = |path: &super::filter::AttrPath| case_exact(Kind::User, path);
                let mut hits = Vec::new();
                for r in &all {
                    let res = render(c, &ctx, r)?;
                    if matches(f, &res, &exact) {
                        hits.push(res);
                    }
                }
                let total = hits.len() as i64;
                let page =
                    hits.into_iter().skip((p.start_index - 1) as usize).take(p.count as usize).collect();
                (total, page)
            }
        };
        let resources: Vec<Value> =
            rows.into_iter().map(|r| project(r, &p.attributes, &p.excluded)).collect();
        Ok(list_response(total, p.start_index, resources))
    })
    .await
}
