//! SCIM storage: users and groups as SCIM resources (the client's JSON in
//! `attributes`, with indexed columns beside it), group memberships changed
//! one row at a time (O(change), not O(group size)), and list queries built
//! from a [`UserQuery`] / [`GroupQuery`] (compiled in scim_sql.rs, always
//! bound parameters).
//!
//! SCIM reaches only the users the org's IdP made — by SCIM or by an SSO login
//! ([`SCIM_VISIBLE`]); an operator-made (`manual`) user is invisible to every
//! query here until the IdP adopts it (`store::users::adopt`).

use std::collections::HashSet;

use super::scim_query::{Cond, GroupSort, Sort, UserSort};
use super::scim_query::{GroupCond, GroupQuery, UserCond, UserQuery};
use super::scim_sql::{Frag, Members as MemberCond, Table};
use super::sql::{Param, Row, p};
use super::users::{USER_COLUMN_COUNT, USER_COLUMNS, UserFacts, user_row};
use super::{Engine, StoreError, Tx};
use super::{scim_sql, scim_sql_pg};
use crate::model::User;

/// Insert a SCIM user: `users::insert_facts` with origin `scim`.
pub fn insert_user(
    conn: &Tx<'_>,
    org_id: &str,
    id: &str,
    c: &UserFacts,
    now: &str,
) -> Result<(), StoreError> {
    super::users::insert_facts(conn, org_id, id, crate::model::Origin::Scim, c, (now, now))
}

/// Which users the org's SCIM client may see and change: those SCIM or an SSO
/// login of the org created. Secure default: a positive list, so a new origin
/// stays out of SCIM's reach until it is added here on purpose.
pub const SCIM_VISIBLE: &str = "u.origin IN ('scim', 'sso')";

/// Replace a user's columns and JSON, bumping its version; true if found.
pub fn replace_user(
    conn: &Tx<'_>,
    org_id: &str,
    id: &str,
    c: &UserFacts,
    now: &str,
) -> Result<bool, StoreError> {
    Ok(conn.exec(
        "UPDATE users SET user_name = ?3, user_name_key = ?4, external_id = ?5, email = ?6, email_key = ?7,
                display_name = ?8, given_name = ?9, family_name = ?10, active = ?11, attributes = ?12,
                updated_at = ?13, version = version + 1
             WHERE org_id = ?1 AND id = ?2 AND deleted = 0 AND origin IN ('scim', 'sso')", // SCIM_VISIBLE
        p![
            org_id,
            id,
            c.user_name,
            c.user_name.to_lowercase(),
            c.external_id,
            c.email,
            c.email.as_ref().map(|e| e.to_lowercase()),
            c.display_name,
            c.given_name,
            c.family_name,
            c.active,
            c.attributes,
            now
        ],
    )? == 1)
}

/// A user SCIM may see, as every user read returns it.
pub fn get_user(conn: &Tx<'_>, org_id: &str, id: &str) -> Result<Option<User>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.org_id = ?1 AND u.id = ?2 AND u.deleted = 0 AND {SCIM_VISIBLE}"
        ),
        p![org_id, id],
        user_row,
    )
}

/// SCIM DELETE: inactive, hidden from SCIM, userName and externalId freed;
/// the row stays for manual grants and the audit trail.
pub fn soft_delete_user(conn: &Tx<'_>, org_id: &str, id: &str, now: &str) -> Result<bool, StoreError> {
    Ok(conn.exec(
        "UPDATE users SET deleted = 1, active = 0, external_id = NULL,
                user_name_key = 'deleted:' || id || ':' || user_name_key, updated_at = ?3, version = version + 1
             WHERE org_id = ?1 AND id = ?2 AND deleted = 0 AND origin IN ('scim', 'sso')", // SCIM_VISIBLE
        p![org_id, id, now],
    )? == 1)
}

/// A user's groups as (group id, displayName), ordered by name.
pub type UserGroups = Vec<(String, String)>;

/// How a streamed list ended: rows visited, and whether the statement ran out
/// of rows (rather than the visitor stopping it).
#[derive(Clone, Copy, Debug)]
pub struct Streamed {
    pub seen: i64,
    pub exhausted: bool,
}

/// The groups of `u.id`, aggregated in the same statement (no query per user):
/// a JSON array of `[id, displayName, sort key]`, `[]` for none. Unordered: an
/// ORDER BY inside the aggregate made SQLite build and drop a temporary b-tree
/// for every listed user; [`user_groups`] sorts the few groups in Rust instead.
fn user_groups_sql(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => {
            "(SELECT json_group_array(json_array(g.id, g.display_name, g.display_name_key))
              FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id)"
        }
        Engine::Postgres => {
            "(SELECT COALESCE(json_agg(json_build_array(g.id, g.display_name, g.display_name_key)), '[]')::text
              FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.id)"
        }
    }
}

/// A listed user's groups from [`user_groups_sql`], by name key (byte order, as
/// `ORDER BY display_name_key` on both engines: the keys are unique per org).
fn user_groups(json: Option<String>) -> Result<UserGroups, StoreError> {
    let mut rows: Vec<(String, String, String)> = decode("user groups", json)?;
    rows.sort_unstable_by(|a, b| a.2.cmp(&b.2));
    Ok(rows.into_iter().map(|(id, name, _)| (id, name)).collect())
}

/// The filter compiled for the engine under `conn`.
fn compile<C: Table, M: MemberCond>(conn: &Tx<'_>, cond: &Cond<C, M>) -> Frag {
    match conn.engine() {
        Engine::Sqlite => scim_sql::compile(cond),
        Engine::Postgres => scim_sql_pg::compile(cond),
    }
}

fn user_order(conn: &Tx<'_>, s: Sort<UserSort>) -> String {
    match conn.engine() {
        Engine::Sqlite => scim_sql::user_order(s),
        Engine::Postgres => scim_sql_pg::user_order(s),
    }
}

/// A user list's condition, with the keyset condition of `paging` (cursor pages) ANDed.
fn user_where(conn: &Tx<'_>, q: &UserQuery) -> Frag {
    let w = compile(conn, &q.cond);
    let Some(a) = &q.paging.after else { return w };
    let after = match conn.engine() {
        Engine::Sqlite => scim_sql::user_after(q.sort, a),
        Engine::Postgres => scim_sql_pg::user_after(q.sort, a),
    };
    Frag::lit("(").then(w).t(") AND ").then(after)
}

/// A group list's condition, with the keyset condition of `paging` ANDed.
fn group_where(conn: &Tx<'_>, q: &GroupQuery) -> Frag {
    let w = compile(conn, &q.cond);
    let Some(a) = &q.paging.after else { return w };
    let after = match conn.engine() {
        Engine::Sqlite => scim_sql::group_after(q.sort, a),
        Engine::Postgres => scim_sql_pg::group_after(q.sort, a),
    };
    Frag::lit("(").then(w).t(") AND ").then(after)
}

fn group_order(conn: &Tx<'_>, s: Sort<GroupSort>) -> String {
    match conn.engine() {
        Engine::Sqlite => scim_sql::group_order(s),
        Engine::Postgres => scim_sql_pg::group_order(s),
    }
}

/// "No limit" as both engines take it in `LIMIT ?` (SQLite's -1 is an error in PostgreSQL).
const NO_LIMIT: i64 = i64::MAX;

/// A compiled query's parameters: `?` for the org, the condition's, then
/// (when `page` is given) LIMIT and OFFSET.
fn query_params<'a>(org_id: &'a dyn Param, w: &'a Frag, page: Option<&'a (i64, i64)>) -> Vec<&'a dyn Param> {
    let mut all: Vec<&dyn Param> = vec![org_id];
    all.extend(w.args.iter().map(|a| a as &dyn Param));
    if let Some((limit, offset)) = page {
        all.push(limit);
        all.push(offset);
    }
    all
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, json: Option<String>) -> Result<T, StoreError> {
    serde_json::from_str(json.as_deref().unwrap_or("[]"))
        .map_err(|e| StoreError::Corrupt { what, message: e.to_string() })
}

/// Users matching `q.cond`, in `q.sort` order, the page `q.paging`, each
/// with its groups and its sort key (the position a cursor resumes after),
/// streamed one row at a time to `visit` (which returns false to stop):
/// memory stays bounded whatever the size of the org.
pub fn each_user(
    conn: &Tx<'_>,
    org_id: &str,
    q: &UserQuery,
    visit: &mut dyn FnMut(User, UserGroups, Option<String>) -> bool,
) -> Result<Streamed, StoreError> {
    let w = user_where(conn, q);
    let sql = format!(
        "SELECT {USER_COLUMNS}, {}, u.{} FROM users u WHERE u.org_id = ? AND u.deleted = 0 AND {SCIM_VISIBLE} AND ({})
         ORDER BY {} LIMIT ? OFFSET ?",
        user_groups_sql(conn.engine()),
        scim_sql::user_sort_column(q.sort.by).0,
        w.sql,
        user_order(conn, q.sort)
    );
    let page = (q.paging.limit.unwrap_or(NO_LIMIT), q.paging.offset);
    let mut seen = 0;
    let mut exhausted = true;
    conn.query_each(&sql, &query_params(&org_id, &w, Some(&page)), |r| {
        seen += 1;
        let groups = user_groups(r.get(USER_COLUMN_COUNT)?)?;
        let key = r.get(USER_COLUMN_COUNT + 1)?;
        if !visit(user_row(r)?, groups, key) {
            exhausted = false;
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(Streamed { seen, exhausted })
}

pub fn count_users(conn: &Tx<'_>, org_id: &str, cond: &UserCond) -> Result<i64, StoreError> {
    let w = compile(conn, cond);
    let sql = format!(
        "SELECT count(*) FROM users u WHERE u.org_id = ? AND u.deleted = 0 AND {SCIM_VISIBLE} AND ({})",
        w.sql
    );
    conn.count(&sql, &query_params(&org_id, &w, None))
}

/// The groups a user belongs to: (group id, displayName).
pub fn groups_of_user(conn: &Tx<'_>, user_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    conn.query_vec(
        "SELECT g.id, g.display_name FROM group_members m JOIN groups g ON g.id = m.group_id
         WHERE m.user_id = ?1 ORDER BY g.display_name_key",
        p![user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

#[derive(Clone, Debug)]
pub struct ScimGroupRow {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub attributes: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

const GROUP_COLS: &str =
    "g.id, g.display_name, g.external_id, g.attributes, g.version, g.created_at, g.updated_at";

fn group_row(r: &Row<'_>) -> Result<ScimGroupRow, StoreError> {
    Ok(ScimGroupRow {
        id: r.get(0)?,
        display_name: r.get(1)?,
        external_id: r.get(2)?,
        attributes: r.get(3)?,
        version: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

pub fn insert_group(conn: &Tx<'_>, org_id: &str, g: &ScimGroupRow) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO groups (id, org_id, display_name, display_name_key, external_id, attributes, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        p![g.id, org_id, g.display_name, g.display_name.to_lowercase(), g.external_id, g.attributes, g.created_at],
    )?;
    Ok(())
}

/// Replace displayName/externalId/attributes and bump the version.
pub fn update_group(conn: &Tx<'_>, org_id: &str, g: &ScimGroupRow, now: &str) -> Result<bool, StoreError> {
    Ok(conn.exec(
        "UPDATE groups SET display_name = ?3, display_name_key = ?4, external_id = ?5, attributes = ?6,
                updated_at = ?7, version = version + 1
             WHERE org_id = ?1 AND id = ?2",
        p![org_id, g.id, g.display_name, g.display_name.to_lowercase(), g.external_id, g.attributes, now],
    )? == 1)
}

/// A membership change: bump version and lastModified only.
pub fn touch_group(conn: &Tx<'_>, group_id: &str, now: &str) -> Result<(), StoreError> {
    conn.exec("UPDATE groups SET updated_at = ?2, version = version + 1 WHERE id = ?1", p![group_id, now])?;
    Ok(())
}

pub fn get_group(conn: &Tx<'_>, org_id: &str, id: &str) -> Result<Option<ScimGroupRow>, StoreError> {
    conn.query_opt(
        &format!("SELECT {GROUP_COLS} FROM groups g WHERE g.org_id = ?1 AND g.id = ?2"),
        p![org_id, id],
        group_row,
    )
}

pub fn delete_group(conn: &Tx<'_>, org_id: &str, id: &str) -> Result<bool, StoreError> {
    Ok(conn.exec("DELETE FROM groups WHERE org_id = ?1 AND id = ?2", p![org_id, id])? == 1)
}

/// A group's members as (user id, userName, displayName), ordered by id.
pub type Members = Vec<(String, String, Option<String>)>;

/// The members of `g.id` SCIM may see, aggregated in the same statement;
/// unordered (see [`user_groups_sql`]), sorted by [`group_members`].
fn group_members_sql(engine: Engine) -> String {
    match engine {
        Engine::Sqlite => format!(
            "(SELECT json_group_array(json_array(u.id, u.user_name, u.display_name))
              FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = g.id AND {SCIM_VISIBLE})"
        ),
        Engine::Postgres => format!(
            "(SELECT COALESCE(json_agg(json_build_array(u.id, u.user_name, u.display_name)), '[]')::text
              FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = g.id AND {SCIM_VISIBLE})"
        ),
    }
}

/// A listed group's members from [`group_members_sql`], by user id.
fn group_members(json: Option<String>) -> Result<Members, StoreError> {
    let mut rows: Members = decode("group members", json)?;
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(rows)
}

/// Groups matching `q.cond`, like `each_user`; with their members
/// (aggregated in the same statement) when `q.with_members`.
pub fn each_group(
    conn: &Tx<'_>,
    org_id: &str,
    q: &GroupQuery,
    visit: &mut dyn FnMut(ScimGroupRow, Option<Members>, Option<String>) -> bool,
) -> Result<Streamed, StoreError> {
    let members = if q.with_members { group_members_sql(conn.engine()) } else { "NULL".to_string() };
    let w = group_where(conn, q);
    let sql = format!(
        "SELECT {GROUP_COLS}, {members}, g.{} FROM groups g WHERE g.org_id = ? AND ({})
         ORDER BY {} LIMIT ? OFFSET ?",
        scim_sql::group_sort_column(q.sort.by).0,
        w.sql,
        group_order(conn, q.sort)
    );
    let page = (q.paging.limit.unwrap_or(NO_LIMIT), q.paging.offset);
    let mut seen = 0;
    let mut exhausted = true;
    conn.query_each(&sql, &query_params(&org_id, &w, Some(&page)), |r| {
        seen += 1;
        let m = if q.with_members { Some(group_members(r.get(7)?)?) } else { None };
        if !visit(group_row(r)?, m, r.get(8)?) {
            exhausted = false;
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(Streamed { seen, exhausted })
}

pub fn count_groups(conn: &Tx<'_>, org_id: &str, cond: &GroupCond) -> Result<i64, StoreError> {
    let w = compile(conn, cond);
    let sql = format!("SELECT count(*) FROM groups g WHERE g.org_id = ? AND ({})", w.sql);
    conn.count(&sql, &query_params(&org_id, &w, None))
}

/// Members of a group: (user id, userName, displayName).
pub fn members_of(
    conn: &Tx<'_>,
    group_id: &str,
) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
    conn.query_vec(
        &format!(
            "SELECT u.id, u.user_name, u.display_name FROM group_members m JOIN users u ON u.id = m.user_id
             WHERE m.group_id = ?1 AND {SCIM_VISIBLE} ORDER BY u.id"
        ),
        p![group_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Whether the group has more than `n` member rows (reads at most n + 1 of them).
pub fn has_more_members_than(conn: &Tx<'_>, group_id: &str, n: i64) -> Result<bool, StoreError> {
    let seen: i64 = conn.query_one(
        "SELECT count(*) FROM (SELECT 1 FROM group_members WHERE group_id = ?1 LIMIT ?2) AS m",
        p![group_id, n + 1],
        |r| r.get(0),
    )?;
    Ok(seen > n)
}

pub fn member_ids(conn: &Tx<'_>, group_id: &str) -> Result<Vec<String>, StoreError> {
    conn.query_vec("SELECT user_id FROM group_members WHERE group_id = ?1", p![group_id], |r| r.get(0))
}

/// Add members; returns those that were not members before.
pub fn add_members(conn: &Tx<'_>, group_id: &str, user_ids: &[String]) -> Result<Vec<String>, StoreError> {
    let mut added = Vec::new();
    for u in user_ids {
        if conn.exec(
            "INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            p![group_id, u],
        )? == 1
        {
            added.push(u.clone());
        }
    }
    Ok(added)
}

/// Remove members; returns those that were members.
pub fn remove_members(conn: &Tx<'_>, group_id: &str, user_ids: &[String]) -> Result<Vec<String>, StoreError> {
    let mut removed = Vec::new();
    for u in user_ids {
        if conn.exec("DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2", p![group_id, u])? == 1
        {
            removed.push(u.clone());
        }
    }
    Ok(removed)
}

/// Which of `ids` are live (not deleted) users of the org that SCIM may see.
pub fn live_user_ids(conn: &Tx<'_>, org_id: &str, ids: &[String]) -> Result<HashSet<String>, StoreError> {
    let sql = format!(
        "SELECT 1 FROM users u WHERE u.org_id = ?1 AND u.id = ?2 AND u.deleted = 0 AND {SCIM_VISIBLE}"
    );
    let mut out = HashSet::new();
    for id in ids {
        if conn.query_opt(&sql, p![org_id, id], |_| Ok(()))?.is_some() {
            out.insert(id.clone());
        }
    }
    Ok(out)
}

/// Remove a user from every group (SCIM DELETE of the user).
pub fn remove_user_from_all_groups(conn: &Tx<'_>, user_id: &str) -> Result<usize, StoreError> {
    conn.exec("DELETE FROM group_members WHERE user_id = ?1", p![user_id])
}
