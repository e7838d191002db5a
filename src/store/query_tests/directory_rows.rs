//! Orgs, projects, users, SCIM tokens.

use super::*;
use crate::store::{StoreError, orgs, tokens, users};

#[test]
fn orgs_are_found_by_slug_and_id_and_a_second_slug_is_a_named_conflict() {
    let db = seeded();
    let tx = db.tx();
    assert_eq!(orgs::org_by_slug(&tx, "acme").unwrap().map(|o| o.id.to_string()).as_deref(), Some("o1"));
    assert_eq!(orgs::org_by_id(&tx, "o2").unwrap().map(|o| o.slug), Some("globex".into()));
    assert!(orgs::org_by_slug(&tx, "ACME").unwrap().is_none(), "slugs are exact");
    assert!(orgs::org_by_id(&tx, "nope").unwrap().is_none());
    let twin = Org { id: "o3".into(), slug: "acme".into(), name: "Twin".into(), created_at: T0.into() };
    match orgs::insert_org(&tx, &twin) {
        Err(StoreError::Conflict { what }) => assert!(what.contains("slug"), "{what}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(orgs::list_orgs(&tx).unwrap().len(), 2);
}

#[test]
fn projects_are_per_org() {
    let db = seeded();
    let tx = db.tx();
    assert_eq!(
        orgs::project_by_slug(&tx, "o1", "research").unwrap().map(|p| p.id.to_string()).as_deref(),
        Some("p1")
    );
    assert_eq!(
        orgs::project_by_slug(&tx, "o2", "research").unwrap().map(|p| p.id.to_string()).as_deref(),
        Some("p2")
    );
    assert!(orgs::project_by_slug(&tx, "o1", "Research").unwrap().is_none());
    let dup = Project {
        id: "p3".into(),
        org_id: "o1".into(),
        slug: "research".into(),
        name: "Again".into(),
        created_at: T0.into(),
    };
    assert!(matches!(orgs::insert_project(&tx, &dup), Err(StoreError::Conflict { .. })));
    assert_eq!(orgs::list_projects(&tx, "o1").unwrap().len(), 1);
}

#[test]
fn users_are_read_within_their_org_only() {
    let db = seeded();
    let tx = db.tx();
    add_user(&tx, "u1", "o1", "ann@acme.com");
    let got = users::by_id(&tx, "o1", "u1").unwrap().unwrap();
    assert_eq!(got, user("u1", "o1", "ann@acme.com"));
    assert!(users::by_id(&tx, "o2", "u1").unwrap().is_none(), "another org's id is not found");
}

#[test]
fn a_user_name_is_unique_per_org_case_insensitively() {
    let db = seeded();
    let tx = db.tx();
    add_user(&tx, "u1", "o1", "ann@acme.com");
    let twin = user("u2", "o1", "ANN@acme.com");
    assert!(matches!(users::insert(&tx, &twin), Err(StoreError::Conflict { .. })));
    users::insert(&tx, &user("u3", "o2", "ann@acme.com")).unwrap();
}

#[test]
fn scim_tokens_are_found_by_hash_until_revoked() {
    let db = seeded();
    let tx = db.tx();
    let hash = [7u8; 32];
    let t = tokens::NewToken {
        id: "t1",
        org_id: "o1",
        description: "okta",
        hash: &hash,
        prefix: "scim_abc",
        created_at: T0,
    };
    tokens::insert(&tx, &t).unwrap();
    assert_eq!(tokens::live_by_hash(&tx, &hash).unwrap(), Some(("o1".into(), "t1".into())));
    assert!(tokens::live_by_hash(&tx, &[8u8; 32]).unwrap().is_none());
    assert!(!tokens::revoke(&tx, "o2", "t1", T1).unwrap(), "another org cannot revoke it");
    assert!(tokens::live_by_hash(&tx, &hash).unwrap().is_some());
    assert!(tokens::revoke(&tx, "o1", "t1", T1).unwrap());
    assert!(tokens::live_by_hash(&tx, &hash).unwrap().is_none());
    let listed = tokens::list(&tx, "o1").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].revoked_at.as_deref(), Some(T1));
    assert!(tokens::list(&tx, "o2").unwrap().is_empty());
}
