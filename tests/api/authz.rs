//! `POST /v1/authz/check` against the permission matrix row by row, and
//! project-scoped API keys end to end.

use idbridge::access::permissions::matrix;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::helpers::{TestApp, spawn_app};

async fn setup() -> TestApp {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    app.project("acme", "research").await;
    app.project("acme", "inference").await;
    let (s, b) = app
        .put_mapping(
            "acme",
            json!({"default_org_role": "none", "rules": [
                {"group": "IT-Admins", "org_role": "admin"},
                {"group": "Staff", "org_role": "member"},
                {"group": "Research-Admins", "projects": {"research": "admin"}},
                {"group": "Research-Members", "projects": {"research": "member"}}
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app
}

async fn check(app: &TestApp, credential: &str, action: &str, org: &str, project: Option<&str>) -> Value {
    let mut body = json!({"credential": credential, "action": action, "org": org});
    if let Some(p) = project {
        body["project"] = json!(p);
    }
    let (s, v) = app.send(Method::POST, "/v1/authz/check", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn authz_check_follows_the_matrix_row_by_row() {
    let app = setup().await;
    // One persona per column of the matrix.
    let personas = [
        (app.login("acme", "admin@acme.com", &["IT-Admins"]).await.unwrap(), 0usize),
        (app.login("acme", "member@acme.com", &["Staff"]).await.unwrap(), 1),
        (app.login("acme", "padmin@acme.com", &["Research-Admins"]).await.unwrap(), 2),
        (app.login("acme", "pmember@acme.com", &["Research-Members"]).await.unwrap(), 3),
    ];
    for (action, row) in matrix() {
        for (token, col) in &personas {
            // What a persona holds: an org admin every column; a project admin
            // also the project-member column.
            let expected = match col {
                0 => row.iter().any(|c| *c),
                2 => row[2] || row[3],
                c => row[*c],
            };
            let v = check(&app, token, action.as_str(), "acme", Some("research")).await;
            assert_eq!(v["allow"], expected, "{action} for column {col}: {v}");
            assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
        }
    }
    // Project roles do not reach other projects; org admins reach all.
    let v = check(&app, &personas[2].0, "models.use", "acme", Some("inference")).await;
    assert_eq!(v["allow"], false);
    let v = check(&app, &personas[0].0, "models.delete", "acme", Some("inference")).await;
    assert_eq!(v["allow"], true);
    // A session never works in another org.
    let v = check(&app, &personas[0].0, "org.read", "globex", None).await;
    assert_eq!(v["allow"], false);
}

#[tokio::test]
async fn authz_check_refuses_bad_requests_and_credentials() {
    let app = setup().await;
    let token = app.login("acme", "admin@acme.com", &["IT-Admins"]).await.unwrap();
    let (s, err) = app
        .send(
            Method::POST,
            "/v1/authz/check",
            None,
            Some(json!({"credential": token, "action": "launch.missiles", "org": "acme"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (s, _) = app.send(Method::POST, "/v1/authz/check", None, Some(json!({"credential": token}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for bad in ["", "garbage", "idb_key_", "idb_key_0123456789ab_xyz", "a.b.c"] {
        let v = check(&app, bad, "org.read", "acme", None).await;
        assert_eq!(v["allow"], false, "{bad}");
    }
}

#[tokio::test]
async fn api_keys_are_project_scoped_and_die_with_access() {
    let app = setup().await;
    let member = app.login("acme", "m@acme.com", &["Staff", "Research-Members"]).await.unwrap();
    let padmin = app.login("acme", "a@acme.com", &["Staff", "Research-Admins"]).await.unwrap();
    let outsider = app.login("acme", "o@acme.com", &["Staff"]).await.unwrap();
    let keys = "/v1/orgs/acme/projects/research/api-keys";

    let (s, k) = app.send(Method::POST, keys, Some(&member), Some(json!({"name": "ci"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let key = k["key"].as_str().unwrap().to_string();
    assert!(key.starts_with(&format!("idb_key_{}_", k["prefix"].as_str().unwrap())));
    let (s, k2) = app.send(Method::POST, keys, Some(&padmin), None).await;
    assert_eq!(s, StatusCode::CREATED);
    let admin_key_id = k2["id"].as_str().unwrap().to_string();

    // Not a collaborator: no keys on that project.
    let (s, _) = app.send(Method::POST, keys, Some(&outsider), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) =
        app.send(Method::POST, "/v1/orgs/globex/projects/research/api-keys", Some(&member), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.send(Method::POST, keys, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Members see their own keys, project admins all; never a secret.
    let (_, mine) = app.send(Method::GET, keys, Some(&member), None).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert!(!mine.to_string().contains(&key) && mine[0].get("secret_hash").is_none());
    let (_, all) = app.send(Method::GET, keys, Some(&padmin), None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    // A member cannot revoke someone else's key.
    let (s, _) = app.send(Method::DELETE, &format!("{keys}/{admin_key_id}"), Some(&member), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let v = check(&app, &key, "models.use", "acme", Some("research")).await;
    assert_eq!((v["allow"].as_bool(), v["credential"].as_str()), (Some(true), Some("api_key")));
    let v = check(&app, &key, "models.use", "acme", None).await;
    assert_eq!(v["allow"], false, "a project-scoped action must name the key's project: {v}");
    for (action, org, project) in [
        ("models.use", "acme", Some("inference")),
        ("org.read", "acme", Some("research")),
        ("models.delete", "acme", Some("research")),
        ("models.use", "globex", Some("research")),
    ] {
        let v = check(&app, &key, action, org, project).await;
        assert_eq!(v["allow"], false, "{action} {org} {project:?}: {v}");
    }
    // Tampering with the secret part fails.
    let last = if key.ends_with('A') { 'B' } else { 'A' };
    let v = check(&app, &format!("{}{last}", &key[..key.len() - 1]), "models.use", "acme", Some("research"))
        .await;
    assert_eq!(v["allow"], false);

    // The member leaves Research-Members: the key stops working at once and is revoked.
    app.login("acme", "m@acme.com", &["Staff"]).await.unwrap();
    let v = check(&app, &key, "models.use", "acme", Some("research")).await;
    assert_eq!(v["allow"], false);
    let (_, all) = app.send(Method::GET, keys, Some(&padmin), None).await;
    let revoked = all.as_array().unwrap().iter().find(|k| k["name"] == "ci").unwrap();
    assert!(revoked["revoked_at"].is_string(), "{all}");
    // Regaining access does not revive a revoked key.
    app.login("acme", "m@acme.com", &["Staff", "Research-Members"]).await.unwrap();
    let v = check(&app, &key, "models.use", "acme", Some("research")).await;
    assert_eq!(v["allow"], false);

    // Explicit revocation by its owner.
    let (s, _) = app.send(Method::DELETE, &format!("{keys}/{admin_key_id}"), Some(&padmin), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let v = check(&app, k2["key"].as_str().unwrap(), "models.use", "acme", Some("research")).await;
    assert_eq!(v["allow"], false);
}
