//! Org and project grants, and the member/collaborator views built on them.

use std::collections::HashMap;

use super::sql::p;
use super::{StoreError, Tx};
use crate::model::{Collaborator, GrantRow, GrantSource, Member, Role};

fn parse_role(s: String) -> Result<Role, StoreError> {
    s.parse::<Role>().map_err(|_| StoreError::Corrupt { what: "grant role", message: s })
}

fn source(s: String) -> Result<GrantSource, StoreError> {
    GrantSource::parse(&s).ok_or(StoreError::Corrupt { what: "grant source", message: s })
}

/// Keep the higher role; on a tie the manual grant names the source.
fn better(cur: Option<(Role, GrantSource)>, next: (Role, GrantSource)) -> (Role, GrantSource) {
    match cur {
        None => next,
        Some(c) if next.0 > c.0 => next,
        Some(c) if next.0 == c.0 && next.1 == GrantSource::Manual => next,
        Some(c) => c,
    }
}

/// Everyone the org knows from its IdP, and everyone holding an org grant.
pub fn members(conn: &Tx<'_>, org_id: &str) -> Result<Vec<Member>, StoreError> {
    let mut out: Vec<Member> = Vec::new();
    let mut best: Vec<Option<(Role, GrantSource)>> = Vec::new();
    conn.query_each(
        "SELECT u.id, u.email, u.user_name, u.active, g.role, g.source
         FROM users u LEFT JOIN org_grants g ON g.user_id = u.id
         WHERE u.org_id = ?1 AND u.deleted = 0 AND (g.user_id IS NOT NULL OR u.origin IN ('scim', 'sso'))
         ORDER BY u.user_name_key, u.id",
        p![org_id],
        |r| {
            let id: String = r.get(0)?;
            let grant = match (r.get::<Option<String>>(4)?, r.get::<Option<String>>(5)?) {
                (Some(ro), Some(so)) => Some((parse_role(ro)?, source(so)?)),
                _ => None,
            };
            if out.last().map(|m| m.user_id != id).unwrap_or(true) {
                out.push(Member {
                    user_id: id.into(),
                    email: r.get(1)?,
                    user_name: r.get(2)?,
                    role: None,
                    source: None,
                    active: r.get(3)?,
                });
                best.push(None);
            }
            if let (Some(g), Some(b)) = (grant, best.last_mut()) {
                *b = Some(better(*b, g));
            }
            Ok(true)
        },
    )?;
    for (m, b) in out.iter_mut().zip(best) {
        m.role = b.map(|x| x.0);
        m.source = b.map(|x| x.1);
        m.active = m.active && b.is_some();
    }
    Ok(out)
}

/// Everyone holding a grant on the project.
pub fn collaborators(conn: &Tx<'_>, org_id: &str, project_id: &str) -> Result<Vec<Collaborator>, StoreError> {
    let mut out: Vec<Collaborator> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    conn.query_each(
        "SELECT u.id, u.email, u.user_name, u.active, p.role, p.source,
                EXISTS (SELECT 1 FROM org_grants og WHERE og.user_id = u.id)
         FROM project_grants p JOIN users u ON u.id = p.user_id
         WHERE p.project_id = ?1 AND u.org_id = ?2
         ORDER BY u.user_name_key, u.id",
        p![project_id, org_id],
        |r| {
            let id: String = r.get(0)?;
            let g = (parse_role(r.get(4)?)?, source(r.get(5)?)?);
            let in_org: bool = r.get(6)?;
            if let Some(&i) = index.get(&id) {
                let (ro, so) = better(Some((out[i].role, out[i].source)), g);
                out[i].role = ro;
                out[i].source = so;
                return Ok(true);
            }
            let email: Option<String> = r.get(1)?;
            let user_name: String = r.get(2)?;
            index.insert(id.clone(), out.len());
            out.push(Collaborator {
                user_id: id.into(),
                email: email.or(Some(user_name)),
                role: g.0,
                source: g.1,
                external: !in_org,
                active: r.get(3)?,
            });
            Ok(true)
        },
    )?;
    Ok(out)
}

/// Create or change the operator's grant of `role` on a project.
pub fn put_manual_project_grant(
    conn: &Tx<'_>,
    project_id: &str,
    user_id: &str,
    role: Role,
    at: &str,
) -> Result<Option<Role>, StoreError> {
    let before: Option<String> = conn.query_opt(
        "SELECT role FROM project_grants WHERE project_id = ?1 AND user_id = ?2 AND source = 'manual'",
        p![project_id, user_id],
        |r| r.get(0),
    )?;
    conn.exec(
        "INSERT INTO project_grants (project_id, user_id, source, role, reason, created_at)
         VALUES (?1, ?2, 'manual', ?3, '{\"kind\":\"manual\"}', ?4)
         ON CONFLICT (project_id, user_id, source) DO UPDATE SET role = excluded.role",
        p![project_id, user_id, role.as_str(), at],
    )?;
    before.map(parse_role).transpose()
}

/// Remove the operator's grant; its role if there was one.
pub fn delete_manual_project_grant(
    conn: &Tx<'_>,
    project_id: &str,
    user_id: &str,
) -> Result<Option<Role>, StoreError> {
    let role: Option<String> = conn.query_opt(
        "DELETE FROM project_grants WHERE project_id = ?1 AND user_id = ?2 AND source = 'manual'
             RETURNING role",
        p![project_id, user_id],
        |r| r.get(0),
    )?;
    role.map(parse_role).transpose()
}

/// Every grant a user holds: org grants (project None) then project grants.
pub fn of_user(conn: &Tx<'_>, user_id: &str) -> Result<Vec<GrantRow>, StoreError> {
    let mut out = conn.query_vec(
        "SELECT NULL, role, source, reason, mapping_version, created_at FROM org_grants WHERE user_id = ?1
         UNION ALL
         SELECT p.slug, g.role, g.source, g.reason, g.mapping_version, g.created_at
         FROM project_grants g JOIN projects p ON p.id = g.project_id WHERE g.user_id = ?1",
        p![user_id],
        |r| {
            let reason: String = r.get(3)?;
            Ok(GrantRow {
                project: r.get(0)?,
                role: parse_role(r.get(1)?)?,
                source: source(r.get(2)?)?,
                reason: serde_json::from_str(&reason)?,
                mapping_version: r.get(4)?,
                created_at: r.get(5)?,
            })
        },
    )?;
    out.sort_by(|a, b| a.project.cmp(&b.project).then(b.role.cmp(&a.role)));
    Ok(out)
}

/// A user's highest stored role in the org and on each project (all sources),
/// without regard to whether the user is active.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredRoles {
    pub org: Option<Role>,
    /// (project id, project slug, role), by slug.
    pub projects: Vec<(String, String, Role)>,
}

pub fn stored_roles(conn: &Tx<'_>, user_id: &str) -> Result<StoredRoles, StoreError> {
    let mut out = StoredRoles::default();
    conn.query_each("SELECT role FROM org_grants WHERE user_id = ?1", p![user_id], |r| {
        let ro = parse_role(r.get(0)?)?;
        out.org = out.org.max(Some(ro));
        Ok(true)
    })?;
    conn.query_each(
        "SELECT p.id, p.slug, g.role FROM project_grants g JOIN projects p ON p.id = g.project_id
         WHERE g.user_id = ?1 ORDER BY p.slug",
        p![user_id],
        |r| {
            let (id, slug, ro): (String, String, Role) = (r.get(0)?, r.get(1)?, parse_role(r.get(2)?)?);
            match out.projects.last_mut() {
                Some(last) if last.0 == id => last.2 = last.2.max(ro),
                _ => out.projects.push((id, slug, ro)),
            }
            Ok(true)
        },
    )?;
    Ok(out)
}
