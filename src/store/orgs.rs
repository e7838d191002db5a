//! Orgs and projects.

use super::sql::{Row, p};
use super::{StoreError, Tx};
use crate::model::{Org, Project};

fn org_row(r: &Row<'_>) -> Result<Org, StoreError> {
    Ok(Org { id: r.get(0)?, slug: r.get(1)?, name: r.get(2)?, created_at: r.get(3)? })
}

fn project_row(r: &Row<'_>) -> Result<Project, StoreError> {
    Ok(Project { id: r.get(0)?, org_id: r.get(1)?, slug: r.get(2)?, name: r.get(3)?, created_at: r.get(4)? })
}

pub fn insert_org(conn: &Tx<'_>, org: &Org) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO orgs (id, slug, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        p![org.id, org.slug, org.name, org.created_at],
    )?;
    Ok(())
}

pub fn org_by_slug(conn: &Tx<'_>, slug: &str) -> Result<Option<Org>, StoreError> {
    conn.query_opt("SELECT id, slug, name, created_at FROM orgs WHERE slug = ?1", p![slug], org_row)
}

pub fn org_by_id(conn: &Tx<'_>, id: &str) -> Result<Option<Org>, StoreError> {
    conn.query_opt("SELECT id, slug, name, created_at FROM orgs WHERE id = ?1", p![id], org_row)
}

pub fn list_orgs(conn: &Tx<'_>) -> Result<Vec<Org>, StoreError> {
    conn.query_vec("SELECT id, slug, name, created_at FROM orgs ORDER BY slug", p![], org_row)
}

pub fn insert_project(conn: &Tx<'_>, p: &Project) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO projects (id, org_id, slug, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        p![p.id, p.org_id, p.slug, p.name, p.created_at],
    )?;
    Ok(())
}

pub fn project_by_slug(conn: &Tx<'_>, org_id: &str, slug: &str) -> Result<Option<Project>, StoreError> {
    conn.query_opt(
        "SELECT id, org_id, slug, name, created_at FROM projects WHERE org_id = ?1 AND slug = ?2",
        p![org_id, slug],
        project_row,
    )
}

pub fn list_projects(conn: &Tx<'_>, org_id: &str) -> Result<Vec<Project>, StoreError> {
    conn.query_vec(
        "SELECT id, org_id, slug, name, created_at FROM projects WHERE org_id = ?1 ORDER BY slug",
        p![org_id],
        project_row,
    )
}
