//! Unit tests of the store's per-aggregate operations, each on a fresh migrated
//! in-memory database (`MemoryDb`): what a query returns, what it refuses (named
//! conflicts), and that every operation keeps to its org.

mod access_rows;
mod directory_rows;
mod platform_rows;

use crate::model::{Org, Project, User};
use crate::store::{MemoryDb, Tx};

const T0: &str = "2026-01-01T00:00:00.000Z";
const T1: &str = "2026-01-02T00:00:00.000Z";

/// Two orgs (`o1` acme, `o2` globex), each with a project `p1` / `p2` slug `research`.
fn seeded() -> MemoryDb {
    let db = MemoryDb::new();
    {
        let tx = db.tx();
        for (id, slug) in [("o1", "acme"), ("o2", "globex")] {
            let org =
                Org { id: id.into(), slug: slug.into(), name: slug.to_uppercase(), created_at: T0.into() };
            crate::store::orgs::insert_org(&tx, &org).unwrap();
        }
        for (id, org) in [("p1", "o1"), ("p2", "o2")] {
            let p = Project {
                id: id.into(),
                org_id: org.into(),
                slug: "research".into(),
                name: "Research".into(),
                created_at: T0.into(),
            };
            crate::store::orgs::insert_project(&tx, &p).unwrap();
        }
    }
    db
}

fn user(id: &str, org: &str, name: &str) -> User {
    User {
        id: id.into(),
        org_id: org.into(),
        origin: crate::model::Origin::Sso,
        user_name: name.into(),
        external_id: None,
        email: Some(name.into()),
        display_name: None,
        given_name: None,
        family_name: None,
        active: true,
        created_at: T0.into(),
        updated_at: T0.into(),
        attributes: "{}".into(),
        version: 1,
    }
}

fn add_user(tx: &Tx<'_>, id: &str, org: &str, name: &str) {
    crate::store::users::insert(tx, &user(id, org, name)).unwrap();
}
