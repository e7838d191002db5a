//! Settings, signing keys, connections, the audit log.

use serde_json::json;

use super::*;
use crate::store::{audit, connections, keys, settings};

#[test]
fn settings_are_put_over_and_read_back() {
    let db = seeded();
    let tx = db.tx();
    assert_eq!(settings::get(&tx, "k").unwrap(), None);
    settings::put(&tx, "k", "a").unwrap();
    settings::put(&tx, "k", "b").unwrap();
    assert_eq!(settings::get(&tx, "k").unwrap().as_deref(), Some("b"));
    settings::ping(&tx).unwrap();
}

#[test]
fn retired_signing_keys_stay_live_until_they_expire() {
    let db = seeded();
    let tx = db.tx();
    let k = keys::KeyRow {
        kid: "k1".into(),
        alg: "EdDSA".into(),
        public_jwk: "{}".into(),
        private_key: vec![1, 2, 3],
        created_at: T0.into(),
        retired_at: None,
        expires_at: None,
    };
    keys::insert(&tx, &k).unwrap();
    assert_eq!(keys::live(&tx, T0).unwrap().len(), 1);
    assert_eq!(keys::retire_all(&tx, T0, T1).unwrap(), 1);
    assert_eq!(keys::live(&tx, "2026-01-01T12:00:00.000Z").unwrap().len(), 1, "retired, not yet expired");
    assert!(keys::live(&tx, "2026-01-03T00:00:00.000Z").unwrap().is_empty(), "expired");
    // The cheap check the nodes poll: the same keys, their dates, no key material.
    let stamps = keys::live_stamps(&tx, T0).unwrap();
    let from_rows: Vec<keys::KeyStamp> =
        keys::live(&tx, T0).unwrap().iter().map(keys::KeyStamp::from).collect();
    assert_eq!(stamps, from_rows);
    assert_eq!(stamps[0].retired_at.as_deref(), Some(T0));
    assert_eq!(stamps[0].expires_at.as_deref(), Some(T1));
    assert!(keys::live_stamps(&tx, "2026-01-03T00:00:00.000Z").unwrap().is_empty(), "expired");
    assert!(keys::is_live(&tx, "k1", T0).unwrap());
    assert!(!keys::is_live(&tx, "k1", "2026-01-03T00:00:00.000Z").unwrap(), "expired");
    assert!(!keys::is_live(&tx, "made-up", T0).unwrap());
}

fn connection(id: &str, org: &str) -> connections::ConnectionRow {
    connections::ConnectionRow {
        id: id.into(),
        org_id: org.into(),
        kind: "saml".parse().unwrap_or_else(|_| unreachable!()),
        name: format!("conn {id}"),
        config: "{\"login\":{}}".into(),
        secret: None,
        created_at: T0.into(),
        updated_at: T0.into(),
        groups_overage_seen_at: None,
    }
}

#[test]
fn connections_are_updated_flagged_and_deleted_within_their_org() {
    let db = seeded();
    let tx = db.tx();
    connections::insert(&tx, &connection("c1", "o1")).unwrap();
    connections::insert(&tx, &connection("c2", "o2")).unwrap();
    assert_eq!(connections::list(&tx, "o1").unwrap().len(), 1);
    let mut c = connections::by_id(&tx, "c1").unwrap().unwrap();
    c.config = "{\"login\":{\"x\":1}}".into();
    assert!(connections::update(&tx, &c).unwrap());
    assert_eq!(connections::by_id(&tx, "c1").unwrap().unwrap().config, c.config);
    assert_eq!(connections::ids_with_config_containing(&tx, "\"x\":1").unwrap(), vec!["c1".to_string()]);
    assert!(connections::mark_groups_overage(&tx, "c1", T1).unwrap());
    assert_eq!(connections::by_id(&tx, "c1").unwrap().unwrap().groups_overage_seen_at.as_deref(), Some(T1));
    assert!(connections::clear_groups_overage(&tx, "c1").unwrap());
    assert!(!connections::delete(&tx, "o2", "c1").unwrap(), "another org cannot delete it");
    assert!(connections::delete(&tx, "o1", "c1").unwrap());
    assert!(connections::by_id(&tx, "c1").unwrap().is_none());
}

#[test]
fn the_audit_log_pages_by_id_within_an_org() {
    let db = seeded();
    let tx = db.tx();
    let mut ids = Vec::new();
    for (org, target) in [("o1", "a"), ("o2", "b"), ("o1", "c"), ("o1", "d")] {
        let e = crate::audit::Event {
            org_id: Some(org),
            actor: "op",
            action: crate::audit::AuditAction::UserActivate,
            target,
            detail: json!({"n": target}),
        };
        ids.push(audit::append(&tx, T0, e).unwrap());
    }
    let all = audit::list(&tx, "o1", 0, 10).unwrap();
    assert_eq!(all.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(), ["a", "c", "d"]);
    assert_eq!(all[0].detail, json!({"n": "a"}));
    let page = audit::list(&tx, "o1", ids[0], 1).unwrap();
    assert_eq!(page.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(), ["c"]);
}
