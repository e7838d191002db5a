//! Orgs and projects.

use rusqlite::{OptionalExtension, Row, params};

use super::{StoreError, Tx};
use crate::model::{Org, Project};

fn org_row(r: &Row<'_>) -> rusqlite::Result<Org> {
    Ok(Org { id: r.get(0)?, slug: r.get(1)?, name: r.get(2)?, created_at: r.get(3)? })
}

fn project_row(r: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project { id: r.get(0)?, org_id: r.get(1)?, slug: r.get(2)?, name: r.get(3)?, created_at: r.get(4)? })
}

pub fn insert_org(conn: &Tx<'_>, org: &Org) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO orgs (id, slug, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![org.id, org.slug, org.name, org.created_at],
    )?;
    Ok(())
}

pub fn org_by_slug(conn: &Tx<'_>, slug: &str) -> Result<Option<Org>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, slug, name, created_at FROM orgs WHERE slug = ?1")?
        .query_row(params![slug], org_row)
        .optional()?)
}

pub fn org_by_id(conn: &Tx<'_>, id: &str) -> Result<Option<Org>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, slug, name, created_at FROM orgs WHERE id = ?1")?
        .query_row(params![id], org_row)
        .optional()?)
}

pub fn list_orgs(conn: &Tx<'_>) -> Result<Vec<Org>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, slug, name, created_at FROM orgs ORDER BY slug")?;
    let rows = stmt.query_map([], org_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert_project(conn: &Tx<'_>, p: &Project) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO projects (id, org_id, slug, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![p.id, p.org_id, p.slug, p.name, p.created_at],
    )?;
    Ok(())
}

pub fn project_by_slug(conn: &Tx<'_>, org_id: &str, slug: &str) -> Result<Option<Project>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, org_id, slug, name, created_at FROM projects WHERE org_id = ?1 AND slug = ?2",
        )?
        .query_row(params![org_id, slug], project_row)
        .optional()?)
}

pub fn list_projects(conn: &Tx<'_>, org_id: &str) -> Result<Vec<Project>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, org_id, slug, name, created_at FROM projects WHERE org_id = ?1 ORDER BY slug",
    )?;
    let rows = stmt.query_map(params![org_id], project_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
