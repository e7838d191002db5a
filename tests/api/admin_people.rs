//! Members, collaborators with manual grants (external users), access
//! explanation, and the audit log's paging.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::spawn_app;

#[tokio::test]
async fn manual_grant_to_external_user_and_role_change() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let path = "/admin/v1/orgs/acme/projects/research/collaborators";

    let (s, c) = app.admin_post(path, json!({"email": "Partner@Other.com", "role": "member"})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["email"], "Partner@Other.com");
    assert_eq!(c["role"], "member");
    assert_eq!(c["source"], "manual");
    assert_eq!(c["external"], true);
    let user_id = c["user_id"].as_str().unwrap().to_string();

    // Same person, different case: the grant changes, no second user appears.
    let (s, c2) = app.admin_post(path, json!({"email": "partner@other.com", "role": "admin"})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(c2["user_id"], user_id.as_str());
    assert_eq!(c2["role"], "admin");

    let (s, list) = app.admin_get(path).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["role"], "admin");
    assert_eq!(list[0]["external"], true);

    // An external collaborator is not an org member.
    let (_, members) = app.admin_get("/admin/v1/orgs/acme/members").await;
    assert_eq!(members, json!([]));

    let (s, access) = app.admin_get(&format!("/admin/v1/orgs/acme/users/{user_id}/access")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(access["org"]["role"], serde_json::Value::Null);
    assert_eq!(access["projects"][0]["slug"], "research");
    assert_eq!(access["projects"][0]["role"], "admin");
    assert_eq!(access["projects"][0]["grants"][0]["source"], "manual");
    assert_eq!(access["projects"][0]["grants"][0]["reason"]["kind"], "manual");

    let (s, _) = app.admin_delete(&format!("{path}/{user_id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = app.admin_get(path).await;
    assert_eq!(list, json!([]));
    let (s, _) = app.admin_delete(&format!("{path}/{user_id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn collaborator_bad_input_changes_nothing() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let path = "/admin/v1/orgs/acme/projects/research/collaborators";
    for (body, status) in [
        (json!({"email": "not-an-email", "role": "member"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"email": "a@b.com", "role": "owner"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"email": "a@b.com"}), StatusCode::BAD_REQUEST),
        (json!({"email": ["a@b.com"], "role": "member"}), StatusCode::BAD_REQUEST),
    ] {
        let (s, err) = app.admin_post(path, body.clone()).await;
        assert_eq!(s, status, "{body} -> {err}");
        assert!(err["error"]["message"].is_string());
    }
    let (s, _) = app
        .admin_post(
            "/admin/v1/orgs/acme/projects/nope/collaborators",
            json!({"email": "a@b.com", "role": "member"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .admin_post(
            "/admin/v1/orgs/nope/projects/research/collaborators",
            json!({"email": "a@b.com", "role": "member"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = app.admin_get(path).await;
    assert_eq!(list, json!([]));
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    assert_eq!(audit.as_array().unwrap().len(), 2, "only org and project creation: {audit}");
    let (s, _) = app.admin_get("/admin/v1/orgs/acme/users/nobody/access").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn grants_do_not_leak_across_orgs() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    app.project("acme", "research").await;
    app.project("globex", "research").await;
    let (_, c) = app
        .admin_post(
            "/admin/v1/orgs/acme/projects/research/collaborators",
            json!({"email": "a@x.com", "role": "admin"}),
        )
        .await;
    let user_id = c["user_id"].as_str().unwrap();
    let (_, list) = app.admin_get("/admin/v1/orgs/globex/projects/research/collaborators").await;
    assert_eq!(list, json!([]));
    let (s, _) = app.admin_get(&format!("/admin/v1/orgs/globex/users/{user_id}/access")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) =
        app.admin_delete(&format!("/admin/v1/orgs/globex/projects/research/collaborators/{user_id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn audit_pages_with_after_and_limit() {
    let app = spawn_app().await;
    app.org("acme").await;
    for i in 0..5 {
        app.project("acme", &format!("p{i}")).await;
    }
    let (s, all) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    assert_eq!(s, StatusCode::OK);
    let all = all.as_array().unwrap().clone();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0]["action"], "org.create");
    assert_eq!(all[0]["actor"], "operator");
    assert_eq!(all[1]["target"], "project:p0");
    for key in ["id", "at", "actor", "action", "target", "detail"] {
        assert!(all[3].get(key).is_some(), "missing {key}");
    }
    let second = all[1]["id"].as_i64().unwrap();
    let (_, page) = app.admin_get(&format!("/admin/v1/orgs/acme/audit?after={second}&limit=2")).await;
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["id"], all[2]["id"]);
    assert_eq!(page[1]["id"], all[3]["id"]);
    for bad in ["limit=0", "limit=100000", "limit=abc", "after=x", "bogus=1"] {
        let (s, err) = app.admin_get(&format!("/admin/v1/orgs/acme/audit?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {err}");
    }
    let (s, _) = app.admin_get("/admin/v1/orgs/nope/audit").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
