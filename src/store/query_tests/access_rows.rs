//! Grants, mapping versions, API keys.

use super::*;
use crate::model::Role;
use crate::store::{api_keys, grants, mappings};

#[test]
fn a_manual_project_grant_is_created_changed_and_removed() {
    let db = seeded();
    let tx = db.tx();
    add_user(&tx, "u1", "o1", "ann@acme.com");
    assert_eq!(grants::put_manual_project_grant(&tx, "p1", "u1", Role::Member, T0).unwrap(), None);
    assert_eq!(
        grants::put_manual_project_grant(&tx, "p1", "u1", Role::Admin, T1).unwrap(),
        Some(Role::Member)
    );
    let roles = grants::stored_roles(&tx, "u1").unwrap();
    assert_eq!(roles.org, None);
    assert_eq!(roles.projects, vec![("p1".to_string(), "research".to_string(), Role::Admin)]);
    let rows = grants::of_user(&tx, "u1").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].project.as_deref(), Some("research"));
    assert_eq!(grants::delete_manual_project_grant(&tx, "p1", "u1").unwrap(), Some(Role::Admin));
    assert_eq!(grants::delete_manual_project_grant(&tx, "p1", "u1").unwrap(), None);
    assert!(grants::of_user(&tx, "u1").unwrap().is_empty());
}

#[test]
fn mapping_versions_count_up_per_org() {
    let db = seeded();
    let tx = db.tx();
    assert_eq!(mappings::latest(&tx, "o1").unwrap(), None);
    assert_eq!(mappings::insert_next(&tx, "o1", "{\"a\":1}", T0, "op").unwrap(), 1);
    assert_eq!(mappings::insert_next(&tx, "o1", "{\"a\":2}", T1, "op").unwrap(), 2);
    assert_eq!(mappings::insert_next(&tx, "o2", "{}", T1, "op").unwrap(), 1, "versions are per org");
    assert_eq!(mappings::latest(&tx, "o1").unwrap(), Some((2, "{\"a\":2}".to_string())));
}

fn key(id: &str, project: &str, org: &str, user: &str) -> api_keys::ApiKeyRow {
    api_keys::ApiKeyRow {
        id: id.into(),
        org_id: org.into(),
        project_id: project.into(),
        user_id: user.into(),
        name: format!("key {id}"),
        prefix: format!("pfx_{id}"),
        secret_hash: vec![1; 32],
        created_at: T0.into(),
        revoked_at: None,
    }
}

#[test]
fn api_keys_are_found_by_prefix_and_revoked_per_project_or_all() {
    let db = seeded();
    let tx = db.tx();
    add_user(&tx, "u1", "o1", "ann@acme.com");
    api_keys::insert(&tx, &key("k1", "p1", "o1", "u1")).unwrap();
    api_keys::insert(&tx, &key("k2", "p1", "o1", "u1")).unwrap();
    assert_eq!(api_keys::by_prefix(&tx, "pfx_k1").unwrap().map(|k| k.id), Some("k1".into()));
    assert!(api_keys::by_id(&tx, "p2", "k1").unwrap().is_none(), "keys are project-scoped");
    assert_eq!(api_keys::projects_with_live_keys(&tx, "u1").unwrap(), vec!["p1".to_string()]);
    assert!(api_keys::revoke(&tx, "k1", T1).unwrap());
    assert!(!api_keys::revoke(&tx, "k1", T1).unwrap(), "revoking twice changes nothing");
    let rest = api_keys::revoke_user_all(&tx, "u1", T1).unwrap();
    assert_eq!(rest.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["k2"]);
    assert_eq!(rest[0].project, "research");
    assert!(api_keys::users_with_live_keys(&tx, "o1").unwrap().is_empty());
    assert_eq!(api_keys::list(&tx, "p1", Some("u1")).unwrap().len(), 2, "revoked keys stay listed");
}
