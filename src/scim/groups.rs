//! SCIM Groups: create, read, replace, delete, list, and membership changes
//! that cost O(change). When no mapping rule names a group (by displayName or
//! externalId), its membership cannot change anyone's grants and no
//! reconciliation runs; otherwise exactly the users who joined or left (or
//! every member, when the group's name changes) are reconciled.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::compile::{group_cond, group_sort};
use super::error::ScimError;
use super::filter::matches;
use super::limits::{MAX_NAME_BYTES, Page};
use super::query::{ListParams, excludes, list_response, project};
use super::resource::{group_resource, normalize_group};
use super::schema::{Kind, case_exact};
use super::users::{Ctx, check_if_match};
use crate::access::evaluate::GroupFact;
use crate::access::reconcile::{active_mapping, reconcile_user};
use crate::audit::AuditAction;
use crate::clock;
use crate::directory::groups as dir;
pub use crate::directory::groups::MemberOps;
use crate::directory::orgs::new_id;
use crate::error::Error;
use crate::store::scim::{self as st, ScimGroupRow};
use crate::store::scim_query::{Cond, GroupQuery, Paging};
use crate::store::{Db, Tx};

fn load(conn: &Tx<'_>, ctx: &Ctx, id: &str) -> Result<ScimGroupRow, ScimError> {
    st::get_group(conn, &ctx.client.org_id, id)?.ok_or_else(|| ScimError::not_found("Group", id))
}

fn render(conn: &Tx<'_>, ctx: &Ctx, row: &ScimGroupRow, with_members: bool) -> Result<Value, ScimError> {
    let members = if with_members { Some(st::members_of(conn, &row.id)?) } else { None };
    Ok(group_resource(&ctx.base, row, members.as_deref()))
}

/// A uniqueness failure as SCIM's 409 `uniqueness`, naming the attribute.
/// displayName is unique per org case-insensitively (Entra matches groups by
/// it, and mapping rules name groups by it); RFC 7643 §2.4 lets the service
/// provider enforce `uniqueness` "server" on an attribute.
fn uniqueness(display_name: &str) -> impl Fn(Error) -> ScimError + '_ {
    move |e| match e {
        Error::Conflict { what } if what.contains("display_name_key") => {
            ScimError::GroupNameTaken { display_name: display_name.to_string() }
        }
        Error::Conflict { .. } => ScimError::GroupExternalIdTaken,
        other => other.into(),
    }
}

/// Does any rule of the org's mapping name this group?
fn mapped(
    conn: &Tx<'_>,
    org_id: &str,
    display_name: &str,
    external_id: Option<&str>,
) -> Result<bool, ScimError> {
    let m = active_mapping(conn, org_id).map_err(ScimError::from)?;
    let fact = GroupFact {
        display_name: Some(display_name.to_string()),
        external_id: external_id.map(String::from),
        raw_claim: None,
    };
    Ok(m.compiled.matches_group(&fact))
}

fn reconcile_all(conn: &Tx<'_>, ctx: &Ctx, users: impl IntoIterator<Item = String>) -> Result<(), ScimError> {
    let actor = ctx.client.actor();
    for u in users {
        reconcile_user(conn, &ctx.client.org_id, &u, &actor).map_err(ScimError::from)?;
    }
    Ok(())
}

/// Apply member changes; returns (added, removed). Adding an unknown user is
/// 400 invalidValue; removing a non-member (even a deleted user) is fine.
pub fn change_members(
    conn: &Tx<'_>,
    ctx: &Ctx,
    group_id: &str,
    ops: &MemberOps,
) -> Result<(Vec<String>, Vec<String>), ScimError> {
    Ok(dir::change_members(conn, &ctx.client.org_id, group_id, ops, MAX_NAME_BYTES)?)
}

fn audit_group(
    conn: &Tx<'_>,
    ctx: &Ctx,
    action: AuditAction,
    id: &str,
    detail: Value,
) -> Result<(), ScimError> {
    super::users::audit_scim(conn, ctx, action, &format!("group:{id}"), detail)
}

pub async fn create(db: &Db, ctx: &Ctx, body: Value) -> Result<(Value, i64), ScimError> {
    let (display_name, external_id, attributes, members) = normalize_group(body)?;
    let ctx = ctx.clone();
    db.write(move |tx| {
        let now = clock::now_str();
        let row = ScimGroupRow {
            id: new_id(),
            display_name,
            external_id,
            attributes,
            version: 1,
            created_at: now.clone(),
            updated_at: now,
        };
        dir::create(tx, &ctx.client.org_id, &row).map_err(uniqueness(&row.display_name))?;
        let ops = MemberOps { add: members.unwrap_or_default(), ..Default::default() };
        let (added, _) = change_members(tx, &ctx, &row.id, &ops)?;
        if mapped(tx, &ctx.client.org_id, &row.display_name, row.external_id.as_deref())? {
            reconcile_all(tx, &ctx, added.clone())?;
        }
        audit_group(
            tx,
            &ctx,
            AuditAction::ScimGroupCreate,
            &row.id,
            json!({"displayName": row.display_name, "members_added": added.len()}),
        )?;
        let row = load(tx, &ctx, &row.id)?;
        Ok((render(tx, &ctx, &row, true)?, row.version))
    })
    .await
}

pub async fn get(db: &Db, ctx: &Ctx, id: &str, p: ListParams) -> Result<(Value, i64), ScimError> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    db.read(move |c| {
        let row = load(c, &ctx, &id)?;
        let v = render(c, &ctx, &row, !excludes(&p, "members"))?;
        Ok((project(v, &p.attributes, &p.excluded), row.version))
    })
    .await
}

/// Write new attributes and member changes; reconcile who is affected.
pub fn update_in(
    tx: &Tx<'_>,
    ctx: &Ctx,
    before: &ScimGroupRow,
    after: ScimGroupRow,
    ops: &MemberOps,
    action: AuditAction,
) -> Result<ScimGroupRow, ScimError> {
    let now = clock::now_str();
    let renamed = before.display_name != after.display_name || before.external_id != after.external_id;
    if renamed || before.attributes != after.attributes {
        dir::update(tx, &ctx.client.org_id, &after, &now).map_err(uniqueness(&after.display_name))?;
    }
    let (added, removed) = change_members(tx, ctx, &before.id, ops)?;
    if !added.is_empty() || !removed.is_empty() {
        dir::touch(tx, &before.id, &now)?;
    }
    let org = &ctx.client.org_id;
    let was = mapped(tx, org, &before.display_name, before.external_id.as_deref())?;
    let is = mapped(tx, org, &after.display_name, after.external_id.as_deref())?;
    if renamed && (was || is) {
        let mut everyone: HashSet<String> = st::member_ids(tx, &before.id)?.into_iter().collect();
        everyone.extend(removed.iter().cloned());
        reconcile_all(tx, ctx, everyone)?;
    } else if was || is {
        reconcile_all(tx, ctx, added.iter().chain(removed.iter()).cloned())?;
    }
    audit_group(
        tx,
        ctx,
        action,
        &before.id,
        json!({"displayName": after.display_name, "members_added": added.len(), "members_removed": removed.len()}),
    )?;
    load(tx, ctx, &before.id)
}

/// PUT: replaces displayName, externalId, other attributes and the member list.
pub async fn replace(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    body: Value,
    if_match: Option<String>,
) -> Result<(Value, i64), ScimError> {
    let (display_name, external_id, attributes, members) = normalize_group(body)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    db.write(move |tx| {
        let before = load(tx, &ctx, &id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        let after = ScimGroupRow { display_name, external_id, attributes, ..before.clone() };
        let ops = MemberOps { replace_all: Some(members.unwrap_or_default()), ..Default::default() };
        let row = update_in(tx, &ctx, &before, after, &ops, AuditAction::ScimGroupReplace)?;
        Ok((render(tx, &ctx, &row, true)?, row.version))
    })
    .await
}

/// Load a group for PATCH (the caller computes the new row and member ops).
pub fn load_for_patch(conn: &Tx<'_>, ctx: &Ctx, id: &str) -> Result<ScimGroupRow, ScimError> {
    load(conn, ctx, id)
}

/// Render after a PATCH: members only when the client will see them.
pub fn render_after_patch(conn: &Tx<'_>, ctx: &Ctx, row: &ScimGroupRow) -> Result<Value, ScimError> {
    render(conn, ctx, row, true)
}

pub async fn delete(db: &Db, ctx: &Ctx, id: &str, if_match: Option<String>) -> Result<(), ScimError> {
    let (ctx, id) = (ctx.clone(), id.to_string());
    db.write(move |tx| {
        let before = load(tx, &ctx, &id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        let members = dir::delete(tx, &ctx.client.org_id, &id)?;
        if mapped(tx, &ctx.client.org_id, &before.display_name, before.external_id.as_deref())? {
            reconcile_all(tx, &ctx, members.clone())?;
        }
        audit_group(
            tx,
            &ctx,
            AuditAction::ScimGroupDelete,
            &id,
            json!({"displayName": before.display_name, "members": members.len()}),
        )?;
        Ok(())
    })
    .await
}

/// GET /Groups; `excludedAttributes=members` never loads members. Streamed
/// and bounded like users::list: a page of groups with large member lists
/// stops at `MAX_PAGE_BYTES` (at least one group per page).
pub async fn list(db: &Db, ctx: &Ctx, p: ListParams) -> Result<Value, ScimError> {
    let ctx = ctx.clone();
    db.read(move |c| {
        let org = &ctx.client.org_id;
        let sort = group_sort(p.sort_by.as_ref(), p.descending);
        let with_members = !excludes(&p, "members");
        let mut page = Page::new(p.count);
        let compiled = p.filter.as_ref().map(group_cond);
        let total = match (&p.filter, compiled) {
            (Some(f), Some(None)) => {
                let exact = |path: &super::filter::AttrPath| case_exact(Kind::Group, path);
                let mut total = 0i64;
                let all = GroupQuery {
                    cond: Cond::Always(true),
                    sort,
                    paging: Paging { limit: None, offset: 0 },
                    with_members: true,
                };
                st::each_group(c, org, &all, &mut |row, members| {
                    let res = group_resource(&ctx.base, &row, members.as_deref());
                    if matches(f, &res, &exact) {
                        total += 1;
                        if total >= p.start_index && !page.is_full() {
                            let res = if with_members { res } else { group_resource(&ctx.base, &row, None) };
                            page.offer(project(res, &p.attributes, &p.excluded));
                        }
                    }
                    true
                })?;
                total
            }
            (_, compiled) => {
                let q = GroupQuery {
                    cond: compiled.flatten().unwrap_or(Cond::Always(true)),
                    sort,
                    paging: Paging { limit: Some(p.count), offset: p.start_index - 1 },
                    with_members,
                };
                let total = st::count_groups(c, org, &q.cond)?;
                if !page.is_full() {
                    st::each_group(c, org, &q, &mut |row, m| {
                        page.offer(project(
                            group_resource(&ctx.base, &row, m.as_deref()),
                            &p.attributes,
                            &p.excluded,
                        ))
                    })?;
                }
                total
            }
        };
        Ok(list_response(total, p.start_index, page.resources))
    })
    .await
}
