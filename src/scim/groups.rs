//! SCIM Groups: what the pipeline (pipeline.rs) needs to know of a group,
//! and membership changes that cost O(change). When no mapping rule names a
//! group (by displayName or externalId), its membership cannot change
//! anyone's grants and no reconciliation runs; otherwise exactly the users
//! who joined or left (or every member, when the group's name changes) are
//! reconciled.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::compile::{group_cond, group_sort};
use super::error::ScimError;
use super::filter::Filter;
use super::limits::MAX_NAME_BYTES;
use super::patch::{GroupSchema, MemberChanges, PatchRequest, apply};
use super::pipeline::{Change, Ctx, Resource, audit_scim};
use super::query::{ListParams, excludes};
use super::resource::{group_resource, normalize_group};
use super::schema::Kind;
use crate::access::evaluate::GroupFact;
use crate::access::reconcile::{active_mapping, reconcile_user};
use crate::audit::AuditAction;
use crate::clock;
use crate::directory::groups as dir;
pub use crate::directory::groups::MemberOps;
use crate::directory::orgs::new_id;
use crate::error::Error;
use crate::store::scim::{self as st, Members, ScimGroupRow, Streamed};
use crate::store::scim_query::{Cond, GroupColumn, GroupQuery, GroupSort, Membership, Paging, Sort};
use crate::store::{StoreError, Tx};

/// The SCIM Group resource type.
pub struct Groups;

/// What a group write states about the members.
pub enum MembersSent {
    /// POST/PUT: the whole list (absent: none).
    List(Vec<String>),
    /// PATCH: the changes to the current list.
    Changes(MemberOps),
}

/// A group as a write states it.
pub struct GroupWrite {
    pub display_name: String,
    pub external_id: Option<String>,
    pub attributes: String,
    pub members: MembersSent,
}

fn member_ops(m: MemberChanges) -> MemberOps {
    MemberOps { add: m.add, remove: m.remove, replace_all: m.replace_all, remove_all: m.remove_all }
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
    audit_scim(conn, ctx, action, &format!("group:{id}"), detail)
}

/// Write new attributes and member changes; reconcile who is affected.
fn update_in(
    tx: &Tx<'_>,
    ctx: &Ctx,
    before: &ScimGroupRow,
    after: ScimGroupRow,
    ops: &MemberOps,
    action: AuditAction,
) -> Result<(), ScimError> {
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
    )
}

impl Resource for Groups {
    const NAME: &'static str = "Group";
    const ENDPOINT: &'static str = "Groups";
    const KIND: Kind = Kind::Group;
    type Row = ScimGroupRow;
    type Input = GroupWrite;
    type Related = Option<Members>;
    type Query = GroupQuery;
    type Column = GroupColumn;
    type Member = Membership;
    type Sort = Sort<GroupSort>;

    fn id(row: &ScimGroupRow) -> &str {
        &row.id
    }

    fn version(row: &ScimGroupRow) -> i64 {
        row.version
    }

    fn normalize(body: Value) -> Result<GroupWrite, ScimError> {
        let (display_name, external_id, attributes, members) = normalize_group(body)?;
        Ok(GroupWrite {
            display_name,
            external_id,
            attributes,
            members: MembersSent::List(members.unwrap_or_default()),
        })
    }

    fn get_row(conn: &Tx<'_>, org_id: &str, id: &str) -> Result<Option<ScimGroupRow>, StoreError> {
        st::get_group(conn, org_id, id)
    }

    fn render(conn: &Tx<'_>, ctx: &Ctx, row: &ScimGroupRow, related: bool) -> Result<Value, ScimError> {
        let members = if related { Some(st::members_of(conn, &row.id)?) } else { None };
        Ok(group_resource(&ctx.base, row, members.as_deref()))
    }

    /// `excludedAttributes=members` never loads members.
    fn related_wanted(p: &ListParams) -> bool {
        !excludes(p, "members")
    }

    /// Members live in their own table: the JSON given to `apply` has none,
    /// and member operations come back as changes (O(change)).
    fn patched(
        _conn: &Tx<'_>,
        ctx: &Ctx,
        before: &ScimGroupRow,
        req: &PatchRequest,
    ) -> Result<GroupWrite, ScimError> {
        let mut resource = group_resource(&ctx.base, before, None);
        let applied = apply(&mut resource, &req.ops, &GroupSchema)?;
        let (display_name, external_id, attributes, _) = normalize_group(resource)?;
        let members = MembersSent::Changes(member_ops(applied.members));
        Ok(GroupWrite { display_name, external_id, attributes, members })
    }

    fn write_new(tx: &Tx<'_>, ctx: &Ctx, input: GroupWrite) -> Result<String, ScimError> {
        let now = clock::now_str();
        let row = ScimGroupRow {
            id: new_id(),
            display_name: input.display_name,
            external_id: input.external_id,
            attributes: input.attributes,
            version: 1,
            created_at: now.clone(),
            updated_at: now,
        };
        dir::create(tx, &ctx.client.org_id, &row).map_err(uniqueness(&row.display_name))?;
        let ops = match input.members {
            MembersSent::List(add) => MemberOps { add, ..Default::default() },
            MembersSent::Changes(ops) => ops,
        };
        let (added, _) = change_members(tx, ctx, &row.id, &ops)?;
        if mapped(tx, &ctx.client.org_id, &row.display_name, row.external_id.as_deref())? {
            reconcile_all(tx, ctx, added.clone())?;
        }
        audit_group(
            tx,
            ctx,
            AuditAction::ScimGroupCreate,
            &row.id,
            json!({"displayName": row.display_name, "members_added": added.len()}),
        )?;
        Ok(row.id)
    }

    /// PUT replaces displayName, externalId, other attributes and the member list.
    fn write_replace(
        tx: &Tx<'_>,
        ctx: &Ctx,
        before: &ScimGroupRow,
        input: GroupWrite,
        change: Change,
    ) -> Result<(), ScimError> {
        let GroupWrite { display_name, external_id, attributes, members } = input;
        let after = ScimGroupRow { display_name, external_id, attributes, ..before.clone() };
        let ops = match members {
            MembersSent::List(all) => MemberOps { replace_all: Some(all), ..Default::default() },
            MembersSent::Changes(ops) => ops,
        };
        let action = match change {
            Change::Replace => AuditAction::ScimGroupReplace,
            Change::Patch => AuditAction::ScimGroupPatch,
        };
        update_in(tx, ctx, before, after, &ops, action)
    }

    fn remove(tx: &Tx<'_>, ctx: &Ctx, before: &ScimGroupRow) -> Result<(), ScimError> {
        let members = dir::delete(tx, &ctx.client.org_id, &before.id)?;
        if mapped(tx, &ctx.client.org_id, &before.display_name, before.external_id.as_deref())? {
            reconcile_all(tx, ctx, members.clone())?;
        }
        audit_group(
            tx,
            ctx,
            AuditAction::ScimGroupDelete,
            &before.id,
            json!({"displayName": before.display_name, "members": members.len()}),
        )
    }

    fn compile(f: &Filter) -> Option<Cond<GroupColumn, Membership>> {
        group_cond(f)
    }

    fn sort(p: &ListParams) -> Sort<GroupSort> {
        group_sort(p.sort_by.as_ref(), p.descending)
    }

    fn query(
        cond: Cond<GroupColumn, Membership>,
        sort: Sort<GroupSort>,
        paging: Paging,
        related: bool,
    ) -> GroupQuery {
        GroupQuery { cond, sort, paging, with_members: related }
    }

    /// Streamed like users: a page of groups with large member lists stops at
    /// `MAX_PAGE_BYTES` (at least one group per page).
    fn each(
        conn: &Tx<'_>,
        org_id: &str,
        q: &GroupQuery,
        visit: &mut dyn FnMut(ScimGroupRow, Option<Members>, Option<String>) -> bool,
    ) -> Result<Streamed, StoreError> {
        st::each_group(conn, org_id, q, visit)
    }

    fn count(conn: &Tx<'_>, org_id: &str, q: &GroupQuery) -> Result<i64, StoreError> {
        st::count_groups(conn, org_id, &q.cond)
    }

    fn render_listed(base: &str, row: &ScimGroupRow, members: &Option<Members>, related: bool) -> Value {
        group_resource(base, row, if related { members.as_deref() } else { None })
    }
}
