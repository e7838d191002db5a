//! The grants owned by the mapping engine (source `mapping`), and the facts it
//! reads (group memberships, SSO claim groups) — per user and in bulk per org.

use std::collections::HashMap;

use super::sql::p;
use super::{StoreError, Tx};
use crate::model::{Origin, Role};

/// One group fact of a user: (display name, externalId, raw claim value).
pub type Fact = (Option<String>, Option<String>, Option<String>);

/// A user's mapping grants: org role and (project slug → role).
#[derive(Clone, Debug, Default)]
pub struct MappingGrants {
    pub org: Option<Role>,
    pub projects: Vec<(String, Role)>,
}

fn role(s: String) -> Result<Role, StoreError> {
    s.parse::<Role>().map_err(|_| StoreError::Corrupt { what: "grant role", message: s })
}

const USER_FACTS: &str = "SELECT m.user_id, g.display_name, g.external_id, NULL
     FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = ?1
     UNION ALL
     SELECT user_id, NULL, NULL, value FROM user_claim_groups WHERE user_id = ?1";

const ORG_FACTS: &str = "SELECT m.user_id, g.display_name, g.external_id, NULL
     FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.org_id = ?1
     UNION ALL
     SELECT c.user_id, NULL, NULL, c.value FROM user_claim_groups c JOIN users u ON u.id = c.user_id
     WHERE u.org_id = ?1";

fn collect_facts(conn: &Tx<'_>, sql: &str, key: &str) -> Result<HashMap<String, Vec<Fact>>, StoreError> {
    let mut out: HashMap<String, Vec<Fact>> = HashMap::new();
    conn.query_each(sql, p![key], |r| {
        out.entry(r.get(0)?).or_default().push((r.get(1)?, r.get(2)?, r.get(3)?));
        Ok(true)
    })?;
    Ok(out)
}

pub fn user_facts(conn: &Tx<'_>, user_id: &str) -> Result<Vec<Fact>, StoreError> {
    Ok(collect_facts(conn, USER_FACTS, user_id)?.remove(user_id).unwrap_or_default())
}

pub fn org_facts(conn: &Tx<'_>, org_id: &str) -> Result<HashMap<String, Vec<Fact>>, StoreError> {
    collect_facts(conn, ORG_FACTS, org_id)
}

pub fn of_user(conn: &Tx<'_>, user_id: &str) -> Result<MappingGrants, StoreError> {
    let org = conn.query_opt(
        "SELECT role FROM org_grants WHERE user_id = ?1 AND source = 'mapping'",
        p![user_id],
        |r| role(r.get(0)?),
    )?;
    let projects = conn.query_vec(
        "SELECT p.slug, g.role FROM project_grants g JOIN projects p ON p.id = g.project_id
         WHERE g.user_id = ?1 AND g.source = 'mapping'",
        p![user_id],
        |r| Ok((r.get(0)?, role(r.get(1)?)?)),
    )?;
    Ok(MappingGrants { org, projects })
}

pub fn of_org(conn: &Tx<'_>, org_id: &str) -> Result<HashMap<String, MappingGrants>, StoreError> {
    let mut out: HashMap<String, MappingGrants> = HashMap::new();
    conn.query_each(
        "SELECT user_id, role FROM org_grants WHERE org_id = ?1 AND source = 'mapping'",
        p![org_id],
        |r| {
            out.entry(r.get(0)?).or_default().org = Some(role(r.get(1)?)?);
            Ok(true)
        },
    )?;
    conn.query_each(
        "SELECT g.user_id, p.slug, g.role FROM project_grants g JOIN projects p ON p.id = g.project_id
         WHERE p.org_id = ?1 AND g.source = 'mapping'",
        p![org_id],
        |r| {
            out.entry(r.get(0)?).or_default().projects.push((r.get(1)?, role(r.get(2)?)?));
            Ok(true)
        },
    )?;
    Ok(out)
}

/// Set (insert or change) the mapping's org grant of a user.
pub fn put_org(
    conn: &Tx<'_>,
    org_id: &str,
    user_id: &str,
    role: Role,
    reason: &str,
    version: i64,
    at: &str,
) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO org_grants (org_id, user_id, source, role, reason, mapping_version, created_at)
         VALUES (?1, ?2, 'mapping', ?3, ?4, ?5, ?6)
         ON CONFLICT (user_id, source) DO UPDATE SET role = excluded.role, reason = excluded.reason,
             mapping_version = excluded.mapping_version",
        p![org_id, user_id, role.as_str(), reason, version, at],
    )?;
    Ok(())
}

pub fn delete_org(conn: &Tx<'_>, user_id: &str) -> Result<(), StoreError> {
    conn.exec("DELETE FROM org_grants WHERE user_id = ?1 AND source = 'mapping'", p![user_id])?;
    Ok(())
}

pub fn put_project(
    conn: &Tx<'_>,
    project_id: &str,
    user_id: &str,
    role: Role,
    reason: &str,
    version: i64,
    at: &str,
) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO project_grants (project_id, user_id, source, role, reason, mapping_version, created_at)
         VALUES (?1, ?2, 'mapping', ?3, ?4, ?5, ?6)
         ON CONFLICT (project_id, user_id, source) DO UPDATE SET role = excluded.role,
             reason = excluded.reason, mapping_version = excluded.mapping_version",
        p![project_id, user_id, role.as_str(), reason, version, at],
    )?;
    Ok(())
}

pub fn delete_project(conn: &Tx<'_>, project_id: &str, user_id: &str) -> Result<(), StoreError> {
    conn.exec(
        "DELETE FROM project_grants WHERE project_id = ?1 AND user_id = ?2 AND source = 'mapping'",
        p![project_id, user_id],
    )?;
    Ok(())
}

/// One user of an org as reconciliation needs them.
#[derive(Clone, Debug)]
pub struct OrgUser {
    pub id: String,
    /// Email, or else userName.
    pub email: String,
    pub active: bool,
    /// `users.origin`.
    pub origin: Origin,
}

/// Every user of an org, by id.
pub fn org_users(conn: &Tx<'_>, org_id: &str) -> Result<Vec<OrgUser>, StoreError> {
    conn.query_vec(
        "SELECT id, COALESCE(email, user_name), active, origin FROM users WHERE org_id = ?1 ORDER BY id",
        p![org_id],
        |r| Ok(OrgUser { id: r.get(0)?, email: r.get(1)?, active: r.get(2)?, origin: r.get(3)? }),
    )
}
