//! SCIM PATCH over HTTP with the request bodies Entra and Okta send
//! (fixtures/scim/), and membership changes at scale and under concurrency.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::spawn_app;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/scim/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn ops(list: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": list})
}

#[tokio::test]
async fn entra_user_patches() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let id = scim.user("ann@acme.com", "ext-ann").await;
    let u = format!("/Users/{id}");

    // Old-style Entra: capitalised op, boolean as a string.
    let (s, v) = scim.patch(&u, ops(json!([{"op": "Replace", "path": "active", "value": "False"}]))).await;
    assert_eq!((s, v["active"].as_bool()), (StatusCode::OK, Some(false)), "{v}");
    assert_eq!(v["name"]["givenName"], "Given", "replacing active wipes nothing");
    let (s, v) = scim.patch(&u, ops(json!([{"op": "replace", "value": {"active": true}}]))).await;
    assert_eq!((s, v["active"].as_bool()), (StatusCode::OK, Some(true)));

    // Path-less replace with dotted keys, and a filtered path with no match acting as add.
    let (s, v) = scim
        .patch(
            &u,
            ops(json!([
                {"op": "Replace", "value": {"name.givenName": "Annie", "displayName": "Annie A"}},
                {"op": "Replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0100"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "mgr-1"}
            ])),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"]["givenName"], "Annie");
    assert_eq!(v["name"]["familyName"], "Family");
    assert_eq!(v["phoneNumbers"], json!([{"type": "work", "value": "+1 555 0100"}]));
    assert_eq!(v["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"], "mgr-1");

    // emails[type eq "work"].value replaces the existing work email.
    let (_, v) = scim
        .patch(&u, ops(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ann.new@acme.com"}])))
        .await;
    assert_eq!(v["emails"][0]["value"], "ann.new@acme.com");
    assert_eq!(v["emails"].as_array().unwrap().len(), 1);

    // Every published Entra user fixture applies cleanly.
    for name in [
        "disable-user-legacy.json",
        "disable-user-aadoptscim062020.json",
        "add-single-value-legacy.json",
        "add-single-value-aadoptscim062020.json",
    ] {
        let (s, v) = scim.patch(&u, fixture(&format!("entra/{name}"))).await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
    }

    // Errors: read-only attribute, bad op, bad path, unknown user; nothing changes.
    let (_, before) = scim.get(&u).await;
    for (body, scim_type) in [
        (ops(json!([{"op": "replace", "path": "id", "value": "x"}])), "mutability"),
        (ops(json!([{"op": "frobnicate", "path": "title", "value": "x"}])), "invalidSyntax"),
        (ops(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}])), "invalidPath"),
        (ops(json!([{"op": "remove"}])), "noTarget"),
    ] {
        let (s, v) = scim.patch(&u, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {v}");
        assert_eq!(v["scimType"], scim_type, "{body} -> {v}");
    }
    let (_, after) = scim.get(&u).await;
    assert_eq!(before, after, "failed PATCHes changed nothing");
    assert_eq!(
        scim.patch("/Users/nope", ops(json!([{"op": "replace", "path": "title", "value": "x"}]))).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn group_member_patches_remove_exactly_what_is_named() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let a = scim.user("a@acme.com", "ea").await;
    let b = scim.user("b@acme.com", "eb").await;
    let c = scim.user("c@acme.com", "ec").await;
    let g = scim.group("Ops", &[&a, &b, &c]).await;
    let path = format!("/Groups/{g}");
    let members = |v: &Value| {
        let mut m: Vec<String> = v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect();
        m.sort();
        m
    };

    // Entra: Remove with path "members" and a value array removes exactly those.
    let (s, v) =
        scim.patch(&path, ops(json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}]))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut want = vec![b.clone(), c.clone()];
    want.sort();
    assert_eq!(members(&v), want);
    // members[value eq "…"] removal, and removing a non-member / deleted user succeeds.
    assert_eq!(scim.delete(&format!("/Users/{a}")).await, StatusCode::NO_CONTENT);
    let (s, v) = scim
        .patch(
            &path,
            ops(json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")},
                                 {"op": "Remove", "path": "members", "value": [{"value": a}]}])),
        )
        .await;
    assert_eq!((s, members(&v)), (StatusCode::OK, vec![c.clone()]));
    // Add, and Okta's path-less replace of members (Group Push).
    let d = scim.user("d@acme.com", "ed").await;
    let (_, v) =
        scim.patch(&path, ops(json!([{"op": "add", "path": "members", "value": [{"value": d}]}]))).await;
    assert_eq!(members(&v).len(), 2);
    let (s, v) = scim
        .patch(&path, ops(json!([{"op": "replace", "value": {"id": g, "displayName": "Ops Team", "members": [{"value": d}]}}])))
        .await;
    assert_eq!(
        (s, v["displayName"].as_str(), members(&v)),
        (StatusCode::OK, Some("Ops Team"), vec![d.clone()])
    );
    // Adding a user who does not exist is refused and changes nothing.
    let (s, v) = scim
        .patch(&path, ops(json!([{"op": "add", "path": "members", "value": [{"value": "ghost"}]}])))
        .await;
    assert_eq!((s, v["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")));
    let (_, v) = scim.get(&path).await;
    assert_eq!(members(&v), vec![d]);
    // Entra's published member removal bodies parse and apply.
    for name in ["remove-member-legacy.json", "remove-member-aadoptscim062020.json"] {
        let (s, v) = scim.patch(&path, fixture(&format!("entra/{name}"))).await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_and_concurrent_membership_changes_lose_nothing() {
    let app = Arc::new(spawn_app().await);
    app.org("acme").await;
    // 10,000 users straight into the store, then one PATCH adding them all.
    let org_id = app.org_id("acme").await;
    app.state
        .db
        .write(move |c| -> Result<(), idbridge::store::StoreError> {
            for i in 0..10_000 {
                let cols = idbridge::store::users::UserFacts {
                    user_name: format!("u{i}@acme.com"),
                    active: true,
                    attributes: "{}".into(),
                    ..Default::default()
                };
                idbridge::store::scim::insert_user(
                    c,
                    &org_id,
                    &format!("user-{i}"),
                    &cols,
                    "2026-01-01T00:00:00.000Z",
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let scim = app.scim("acme").await;
    let g = scim.group("Everyone", &[]).await;
    let all: Vec<Value> = (0..10_000).map(|i| json!({"value": format!("user-{i}")})).collect();
    let (s, _, v) = scim
        .req(
            reqwest::Method::PATCH,
            &format!("/Groups/{g}?excludedAttributes=members"),
            Some(ops(json!([{"op": "add", "path": "members", "value": all}]))),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("members").is_none());
    let (_, v) = scim.get("/Groups?filter=displayName%20eq%20%22Everyone%22&attributes=displayName").await;
    assert_eq!(v["totalResults"], 1);
    let (_, v) = scim.get(&format!("/Groups/{g}")).await;
    assert_eq!(v["members"].as_array().unwrap().len(), 10_000);

    // 8 clients remove disjoint slices of the same group at once: nothing lost.
    let mut tasks = Vec::new();
    for w in 0..8 {
        let app = app.clone();
        let (token, g) = (scim.token.clone(), g.clone());
        tasks.push(tokio::spawn(async move {
            let client = crate::support::helpers::Scim { app: &app, org: "acme".into(), token };
            for i in (w * 100)..(w * 100 + 100) {
                let (s, _, _) = client
                    .req(
                        reqwest::Method::PATCH,
                        &format!("/Groups/{g}?excludedAttributes=members"),
                        Some(ops(
                            json!([{"op": "remove", "path": format!("members[value eq \"user-{i}\"]")}]),
                        )),
                        &[],
                    )
                    .await;
                assert_eq!(s, StatusCode::OK);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, v) = scim.get(&format!("/Groups/{g}")).await;
    assert_eq!(v["members"].as_array().unwrap().len(), 10_000 - 800);
}
