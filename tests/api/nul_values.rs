//! U+0000 in a value: refused with a 4xx on both engines (PostgreSQL cannot
//! store it in TEXT or jsonb; SQLite could, so refusing everywhere keeps the
//! engines' answers the same), and nothing is written.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::spawn_app;

#[tokio::test]
async fn a_nul_character_in_a_scim_body_a_filter_or_an_admin_body_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;

    // The JSON escape \u0000 inside a userName and inside a key.
    for body in [
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a\u0000b@example.com"}"#,
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"c@example.com","x\u0000":1}"#,
    ] {
        let r = app
            .client
            .post(scim.url("/Users"))
            .bearer_auth(&scim.token)
            .header("content-type", "application/scim+json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["detail"].as_str().unwrap().contains("U+0000"), "{v}");
    }
    // A literal backslash before u0000 is ordinary text.
    let (s, _) = scim
        .post(
            "/Users",
            json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"d\\u0000@example.com"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // In a filter literal: invalidFilter, not a server error.
    let (s, v) = scim.get("/Users?filter=userName%20eq%20%22a%5Cu0000b%22").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["scimType"], "invalidFilter", "{v}");

    let (s, v) = scim.get("/Users").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["totalResults"], 1, "only the ordinary user was written: {v}");

    // The admin API refuses it too.
    let r = app
        .client
        .post(app.url("/admin/v1/orgs"))
        .bearer_auth(crate::support::helpers::ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"slug":"nul","name":"N\u0000"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (s, _) = app.admin_get("/admin/v1/orgs/nul").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
