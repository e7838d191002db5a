//! Orgs, projects, SCIM tokens, auth and bad input on the admin API.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::helpers::{ADMIN_TOKEN, spawn_app};

#[tokio::test]
async fn org_create_get_and_duplicate() {
    let app = spawn_app().await;
    let (s, org) = app.admin_post("/admin/v1/orgs", json!({"slug": "acme", "name": "Acme Inc"})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(org["slug"], "acme");
    assert_eq!(org["name"], "Acme Inc");
    assert_eq!(org["id"].as_str().map(str::len), Some(32));

    let (s, got) = app.admin_get("/admin/v1/orgs/acme").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, org);

    let (s, err) = app.admin_post("/admin/v1/orgs", json!({"slug": "acme", "name": "Other"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(err["error"]["code"], "conflict");

    let (s, err) = app.admin_get("/admin/v1/orgs/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "not_found");

    let (s, list) = app.admin_get("/admin/v1/orgs").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn bad_org_input_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    for body in [
        json!({"slug": "Acme", "name": "x"}),
        json!({"slug": "", "name": "x"}),
        json!({"slug": "a".repeat(64), "name": "x"}),
        json!({"slug": "a_b", "name": "x"}),
        json!({"slug": "ok", "name": ""}),
    ] {
        let (s, err) = app.admin_post("/admin/v1/orgs", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(err["error"]["message"].as_str().unwrap().len() > 5);
    }
    for body in
        [json!({"slug": 5, "name": "x"}), json!({"name": "x"}), json!({"slug": "a", "name": "x", "extra": 1})]
    {
        let (s, err) = app.admin_post("/admin/v1/orgs", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(err["error"]["code"], "invalid_request");
    }
    let resp = app
        .client
        .post(app.url("/admin/v1/orgs"))
        .bearer_auth(ADMIN_TOKEN)
        .body("{\"slug\": \"x\",")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(err["error"]["message"].as_str().unwrap().contains("malformed JSON"), "{err}");

    let (_, list) = app.admin_get("/admin/v1/orgs").await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let big = json!({"slug": "acme", "name": "x".repeat(1024 * 1024 + 10)});
    let (s, err) = app.admin_post("/admin/v1/orgs", big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(err["error"]["code"], "payload_too_large");
    let (_, list) = app.admin_get("/admin/v1/orgs").await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn admin_auth_is_required_and_checked() {
    let app = spawn_app().await;
    let (s, err) = app.send(Method::GET, "/admin/v1/orgs", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"]["code"], "unauthorized");
    let (s, _) = app.send(Method::GET, "/admin/v1/orgs", Some("wrong"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let almost = &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1];
    let (s, _) =
        app.send(Method::POST, "/admin/v1/orgs", Some(almost), Some(json!({"slug":"a","name":"a"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let resp = app
        .client
        .get(app.url("/admin/v1/orgs"))
        .header("authorization", format!("Basic {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    let (s, err) = app.admin_get("/admin/v1/nothing-here").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "not_found");
    let (s, err) = app.send(Method::PATCH, "/admin/v1/orgs", Some(ADMIN_TOKEN), None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(err["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn projects_create_list_and_errors() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    let (s, p) =
        app.admin_post("/admin/v1/orgs/acme/projects", json!({"slug": "research", "name": "Research"})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(p["slug"], "research");
    app.project("acme", "inference").await;
    // The same slug in another org is fine; twice in one org is a conflict.
    app.project("globex", "research").await;
    let (s, _) =
        app.admin_post("/admin/v1/orgs/acme/projects", json!({"slug": "research", "name": "R2"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = app.admin_post("/admin/v1/orgs/nope/projects", json!({"slug": "x", "name": "x"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) =
        app.admin_post("/admin/v1/orgs/acme/projects", json!({"slug": "Bad Slug", "name": "x"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, list) = app.admin_get("/admin/v1/orgs/acme/projects").await;
    assert_eq!(s, StatusCode::OK);
    let slugs: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["inference", "research"]);
    let (s, _) = app.admin_get("/admin/v1/orgs/nope/projects").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, one) = app.admin_get("/admin/v1/orgs/acme/projects/research").await;
    assert_eq!((s, one["name"].as_str()), (StatusCode::OK, Some("Research")));
}

#[tokio::test]
async fn scim_tokens_are_shown_once_stored_hashed_and_revoked_at_once() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    let (s, t) = app.admin_post("/admin/v1/orgs/acme/scim-tokens", json!({"description": "Okta"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let token = t["token"].as_str().unwrap().to_string();
    let id = t["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("idb_scim_") && token.len() > 40);

    // An empty body is fine too.
    let resp = app
        .client
        .post(app.url("/admin/v1/orgs/acme/scim-tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Listed without the secret.
    let (_, list) = app.admin_get("/admin/v1/orgs/acme/scim-tokens").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&token));
    let okta = list.as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(okta["description"], "Okta");

    // Stored hashed: the raw token is nowhere in the database file (on
    // PostgreSQL: in no stored value).
    let stored = if crate::support::helpers::on_postgres() {
        crate::support::helpers::raw_db(&app).every_value().await
    } else {
        let raw = std::fs::read(app.dir.path().join("idbridge.db")).unwrap();
        let wal = std::fs::read(app.dir.path().join("idbridge.db-wal")).unwrap_or_default();
        vec![raw, wal]
    };
    for bytes in &stored {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }

    let verify = |t: String| {
        let db = app.state.db.clone();
        async move { idbridge::directory::tokens::verify(&db, &t).await.unwrap() }
    };
    let (org_id, token_id) = verify(token.clone()).await.expect("live token verifies");
    assert_eq!(token_id, id);
    let (_, acme) = app.admin_get("/admin/v1/orgs/acme").await;
    assert_eq!(org_id, acme["id"].as_str().unwrap());
    assert_eq!(verify(format!("{token}x")).await, None);

    // Revoking under another org is not found and changes nothing.
    let (s, _) = app.admin_delete(&format!("/admin/v1/orgs/globex/scim-tokens/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(verify(token.clone()).await.is_some());

    let (s, body) = app.admin_delete(&format!("/admin/v1/orgs/acme/scim-tokens/{id}")).await;
    assert_eq!((s, body), (StatusCode::NO_CONTENT, serde_json::Value::Null));
    assert_eq!(verify(token.clone()).await, None, "revoked token must stop working at once");
    let (s, _) = app.admin_delete(&format!("/admin/v1/orgs/acme/scim-tokens/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    let actions: Vec<&str> =
        audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["org.create", "scim_token.create", "scim_token.create", "scim_token.revoke"]);
    assert!(!audit.to_string().contains(&token));
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    let (s, b) = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ready")));
    app.org("acme").await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(resp.headers().get("x-request-id").is_some());
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(r#"idbridge_http_requests_total{method="POST",route="/admin/v1/orgs",status="201"} 1"#),
        "{text}"
    );
    assert!(text.contains("idbridge_http_request_duration_seconds_bucket"));
    assert!(text.contains("idbridge_store_write_queue_depth"));
    assert!(text.contains("idbridge_store_commit_batch_size_count"));
}

/// `{org}` and `{project}` are parsed as slugs by the extractor. A segment that
/// cannot be a slug names nothing, so it gets the very answer a slug naming
/// nothing gets — after authentication, and for a bad `{project}` only once
/// the org is known to exist.
#[tokio::test]
async fn path_segments_that_are_not_slugs_are_answered_like_missing_ones() {
    let app = spawn_app().await;
    let (s, _) = app.admin_post("/admin/v1/orgs", json!({"slug": "acme", "name": "Acme"})).await;
    assert_eq!(s, StatusCode::CREATED);

    for (path, what, key) in [
        ("/admin/v1/orgs/ACME", "org", "ACME"),
        ("/admin/v1/orgs/a%20b/members", "org", "a b"),
        ("/admin/v1/orgs/Nope/projects/ok", "org", "Nope"),
        ("/admin/v1/orgs/nope/projects/Bad!", "org", "nope"),
        ("/admin/v1/orgs/acme/projects/Bad!", "project", "Bad!"),
        ("/admin/v1/orgs/acme/projects/Bad!/collaborators", "project", "Bad!"),
        ("/admin/v1/orgs/Acme/users/u1/access", "org", "Acme"),
    ] {
        let (s, err) = app.admin_get(path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {err}");
        assert_eq!(err["error"]["code"], "not_found", "{path}");
        // The same text a well-formed slug that names nothing gets.
        let (_, missing) = app.admin_get(&format!("/admin/v1/orgs/{}", "zz-missing")).await;
        let template = missing["error"]["message"].as_str().unwrap().replace("zz-missing", key);
        let expected = if what == "org" { template } else { template.replacen("org", "project", 1) };
        assert_eq!(err["error"]["message"], expected.as_str(), "{path}");
    }

    let (s, _) = app.admin_delete("/admin/v1/orgs/acme/projects/Bad!/collaborators/u1").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Authentication is still decided first.
    let resp = app.client.get(app.url("/admin/v1/orgs/NOT-A-SLUG")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
