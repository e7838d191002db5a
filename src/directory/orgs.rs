//! Orgs and projects: create, read, list. Each change is audited in its own transaction.

use serde_json::json;

use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::{Org, Project, Slug, names::display_text};
use crate::error::Error;
use crate::store::{self, Db, Tx};

/// Look up an org by slug inside a transaction or read.
pub fn org_in(conn: &Tx<'_>, slug: &str) -> Result<Org, Error> {
    store::orgs::org_by_slug(conn, slug)?.ok_or_else(|| Error::not_found("org", slug))
}

/// Look up a project of an org inside a transaction or read.
pub fn project_in(conn: &Tx<'_>, org: &Org, slug: &str) -> Result<Project, Error> {
    store::orgs::project_by_slug(conn, &org.id, slug)?.ok_or_else(|| Error::not_found("project", slug))
}

pub fn new_id() -> String {
    crate::model::random_id()
}

pub async fn create_org(db: &Db, actor: &str, slug: &str, name: &str) -> Result<Org, Error> {
    let slug = Slug::parse("slug", slug).map_err(|e| Error::invalid("slug", e.to_string()))?;
    let name = display_text("name", name).map_err(|e| Error::invalid("name", e.to_string()))?;
    let actor = actor.to_string();
    db.write(move |tx| {
        let now = clock::now_str();
        let org = Org { id: new_id().into(), slug: slug.to_string(), name, created_at: now.clone() };
        store::orgs::insert_org(tx, &org)?;
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&org.id),
                actor: &actor,
                action: AuditAction::OrgCreate,
                target: &format!("org:{}", org.slug),
                detail: json!({"id": org.id, "name": org.name}),
            },
        )?;
        Ok(org)
    })
    .await
}

pub async fn get_org(db: &Db, slug: &str) -> Result<Org, Error> {
    let slug = slug.to_string();
    db.read(move |c| org_in(c, &slug)).await
}

pub async fn list_orgs(db: &Db) -> Result<Vec<Org>, Error> {
    db.read(|c| Ok(store::orgs::list_orgs(c)?)).await
}

pub async fn create_project(
    db: &Db,
    actor: &str,
    org: &str,
    slug: &str,
    name: &str,
) -> Result<Project, Error> {
    let slug = Slug::parse("slug", slug).map_err(|e| Error::invalid("slug", e.to_string()))?;
    let name = display_text("name", name).map_err(|e| Error::invalid("name", e.to_string()))?;
    let (actor, org) = (actor.to_string(), org.to_string());
    db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let now = clock::now_str();
        let p = Project {
            id: new_id().into(),
            org_id: org.id.clone(),
            slug: slug.to_string(),
            name,
            created_at: now.clone(),
        };
        store::orgs::insert_project(tx, &p)?;
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&org.id),
                actor: &actor,
                action: AuditAction::ProjectCreate,
                target: &format!("project:{}", p.slug),
                detail: json!({"id": p.id, "name": p.name}),
            },
        )?;
        Ok(p)
    })
    .await
}

pub async fn get_project(db: &Db, org: &str, slug: &str) -> Result<Project, Error> {
    let (org, slug) = (org.to_string(), slug.to_string());
    db.read(move |c| {
        let org = org_in(c, &org)?;
        project_in(c, &org, &slug)
    })
    .await
}

pub async fn list_projects(db: &Db, org: &str) -> Result<Vec<Project>, Error> {
    let org = org.to_string();
    db.read(move |c| {
        let org = org_in(c, &org)?;
        Ok(store::orgs::list_projects(c, &org.id)?)
    })
    .await
}

pub async fn audit_events(
    db: &Db,
    org: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<crate::directory::AuditEvent>, Error> {
    let org = org.to_string();
    db.read(move |c| {
        let org = org_in(c, &org)?;
        Ok(store::audit::list(c, &org.id, after, limit)?)
    })
    .await
}
