//! PATCH (RFC 7644 §3.5.2) wired to storage: the request is normalised
//! (client quirks), applied to the current representation (users) or folded
//! into membership changes (groups), and the result is stored like a PUT —
//! in one transaction with reconciliation and audit. A failure changes nothing.

use serde_json::Value;

use super::error::ScimError;
use super::groups::{MemberOps, load_for_patch, render_after_patch, update_in};
use super::patch::{GroupSchema, MemberChanges, UserSchema, apply, normalize_request};
use super::query::{ListParams, excludes, project};
use super::resource::{group_resource, normalize_group};
use super::users::{Ctx, check_if_match, store_patched};
use crate::store::Db;
use crate::store::scim::ScimGroupRow;

pub async fn patch_user(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    body: Value,
    if_match: Option<String>,
) -> Result<(Value, i64), ScimError> {
    let req = normalize_request(body)?;
    if req.password_dropped() {
        tracing::info!(user = id, "PATCH carried a password; dropped (never stored)");
    }
    store_patched(
        db,
        ctx,
        id,
        move |mut resource| {
            apply(&mut resource, &req.ops, &UserSchema)?;
            Ok(resource)
        },
        if_match,
    )
    .await
}

fn member_ops(m: MemberChanges) -> MemberOps {
    MemberOps { add: m.add, remove: m.remove, replace_all: m.replace_all, remove_all: m.remove_all }
}

pub async fn patch_group(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    body: Value,
    if_match: Option<String>,
    p: ListParams,
) -> Result<(Value, i64), ScimError> {
    let req = normalize_request(body)?;
    let (ctx, id) = (ctx.clone(), id.to_string());
    db.write(move |tx| {
        let before = load_for_patch(tx, &ctx, &id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        // Members live in their own table: the JSON given to `apply` has none,
        // and member operations come back as changes (O(change)).
        let mut resource = group_resource(&ctx.base, &before, None);
        let applied = apply(&mut resource, &req.ops, &GroupSchema)?;
        let (display_name, external_id, attributes, _) = normalize_group(resource)?;
        let after = ScimGroupRow { display_name, external_id, attributes, ..before.clone() };
        let row = update_in(
            tx,
            &ctx,
            &before,
            after,
            &member_ops(applied.members),
            crate::audit::AuditAction::ScimGroupPatch,
        )?;
        let v = if excludes(&p, "members") {
            group_resource(&ctx.base, &row, None)
        } else {
            render_after_patch(tx, &ctx, &row)?
        };
        Ok((project(v, &p.attributes, &p.excluded), row.version))
    })
    .await
}
