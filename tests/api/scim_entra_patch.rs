//! Entra's path-less `Replace` whose value keys are attribute paths (`name.givenName`,
//! `emails[type eq "work"].value`, `urn:...:enterprise:2.0:User:employeeNumber` and
//! `...:manager`), sent over HTTP and read back with GET.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::spawn_app;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[tokio::test]
async fn a_pathless_replace_applies_each_key_as_its_path() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let manager = scim.user("boss@acme.test", "ext-boss").await;
    let (s, created) = scim
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                   "userName": "ann@acme.test", "externalId": "ext-ann", "displayName": "Ann",
                   "name": {"givenName": "Ann", "familyName": "Smith", "formatted": "Ann Smith"},
                   "emails": [{"value": "ann@home.test", "type": "home"},
                              {"value": "ann@acme.test", "type": "work", "primary": true}],
                   ENT: {"employeeNumber": "1", "department": "Tours"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();

    let mut body: Value =
        serde_json::from_str(include_str!("../../fixtures/scim/entra/replace-pathless-path-keys.json"))
            .unwrap();
    body["Operations"][0]["value"][format!("{ENT}:manager")] = json!(manager);
    let (s, patched) = scim.patch(&format!("/Users/{id}"), body).await;
    assert_eq!(s, StatusCode::OK, "{patched}");

    let (s, got) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, patched);
    assert_eq!(got["displayName"], "Bjfe");
    assert_eq!(got["name"], json!({"givenName": "Kkom", "familyName": "Unua", "formatted": "Ann Smith"}));
    assert_eq!(
        got["emails"],
        json!([{"value": "ann@home.test", "type": "home"},
               {"value": "TestMhvaes@test.microsoft.com", "type": "work", "primary": true}]),
        "only the work email's value changed"
    );
    assert_eq!(got[ENT]["employeeNumber"], "Aklq");
    assert_eq!(got[ENT]["department"], "Tours", "other extension attributes are left");
    assert_eq!(got[ENT]["manager"]["value"], manager.as_str());
    // The indexed email follows: Entra's matching filter finds the user by the new address.
    let (_, found) = scim.get("/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22testmhvaes%40test.microsoft.com%22").await;
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], id);
    let (_, by_email) =
        scim.get("/Users?filter=emails.value%20eq%20%22testmhvaes%40test.microsoft.com%22").await;
    assert_eq!(by_email["totalResults"], 1, "{by_email}");
}

#[tokio::test]
async fn a_value_path_key_next_to_the_same_plain_attribute_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let id = scim.user("ann@acme.test", "ext-ann").await;
    let (_, before) = scim.get(&format!("/Users/{id}")).await;
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "Replace", "value": {
                          "emails": [{"value": "x@acme.test", "type": "work"}],
                          "emails[type eq \"work\"].value": "y@acme.test"}}]});
    let (s, err) = scim.patch(&format!("/Users/{id}"), body).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert_eq!(scim.get(&format!("/Users/{id}")).await.1, before);
}
