//! Issue 10 over HTTP, OIDC side: a connection created with only `kind` and
//! `name` is pending — redirect URI and login URL shown, login and callback
//! refused (409 `connection_pending`, nothing written) — PATCHes accumulate
//! issuer, client id and secret, and the one that completes them runs
//! discovery (a failure is 422 and leaves it pending) and activates it. And
//! Microsoft Entra issuers: `match_by` defaults to `external_id` (`oid`), an
//! explicit mutable claim is accepted with a warning.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{TestApp, spawn_app};
use crate::support::oidc_forge::{CLIENT_ID, CLIENT_SECRET, Forge, Plan};
use crate::support::oidc_support::{
    Browser, assert_refused, create_connection, mapping, patch_connection, refusals, rows,
};

const ENTRA: &str = "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0";

async fn acme() -> TestApp {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let (s, b) = app.put_mapping("acme", mapping()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app
}

async fn shown(app: &TestApp, id: &str) -> Value {
    app.admin_get(&format!("/admin/v1/orgs/acme/connections/{id}")).await.1
}

#[tokio::test]
async fn oidc_pending_connection_accumulates_patches_and_activates() {
    let forge = Forge::start().await;
    let app = acme().await;
    let created = create_connection(&app, "acme", json!({"kind": "oidc", "name": "Okta"})).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "pending", "{created}");
    assert_eq!(created["redirect_uri"], app.url(&format!("/oidc/{id}/callback")));
    assert_eq!(created["login_url"], app.url(&format!("/oidc/{id}/login")));
    assert_eq!((&created["issuer"], &created["client_secret_set"]), (&Value::Null, &json!(false)));

    // Login and callback: the set-up-unfinished page, counted, nothing written.
    let states = rows(&app, "login_states").await;
    let browser = Browser::new();
    for url in [format!("/oidc/{id}/login"), format!("/oidc/{id}/callback?state=abc&code=xyz")] {
        let before = refusals(&app, "connection_pending").await;
        let page = browser.get(&app.url(&url)).await;
        assert_refused(&app, &page, StatusCode::CONFLICT, "connection_pending", before).await;
        assert!(page.body.contains("not set up yet"), "{}", page.body);
    }
    assert_eq!(rows(&app, "login_states").await, states, "no login state written");

    // Issuer and client id first: stored, still pending, nothing fetched yet.
    let (s, b) =
        patch_connection(&app, "acme", &id, json!({"issuer": forge.base, "client_id": CLIENT_ID})).await;
    assert_eq!((s, &b["status"]), (StatusCode::OK, &json!("pending")), "{b}");
    assert_eq!(b["client_id"], CLIENT_ID);
    assert_eq!(forge.hits().discovery.load(std::sync::atomic::Ordering::SeqCst), 0);
    let before = refusals(&app, "connection_pending").await;
    let page = browser.get(&app.url(&format!("/oidc/{id}/login"))).await;
    assert_refused(&app, &page, StatusCode::CONFLICT, "connection_pending", before).await;

    // The secret completes it; discovery fails (another issuer): 422, unchanged.
    let (s, b) = patch_connection(
        &app,
        "acme",
        &id,
        json!({"client_secret": CLIENT_SECRET, "issuer": "http://127.0.0.1:9"}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("discovery_failed"))
    );
    let now = shown(&app, &id).await;
    assert_eq!((&now["status"], &now["issuer"]), (&json!("pending"), &json!(forge.base)), "{now}");
    assert_eq!(now["client_secret_set"], false);

    let (s, b) = patch_connection(&app, "acme", &id, json!({"client_secret": CLIENT_SECRET})).await;
    assert_eq!((s, &b["status"]), (StatusCode::OK, &json!("active")), "{b}");
    assert_eq!(b["client_secret_set"], true);
    assert_eq!(b["match_by"], "email", "not an Entra issuer: the usual default");

    // Signs in now.
    forge.plan(Plan::default());
    let page = Browser::new().login(&app.url(&format!("/oidc/{id}/login?return_to=%2Fv1%2Fme"))).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (st, me) = app.me(&page.session().expect("a session")).await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "admin"}]));
}

#[tokio::test]
async fn oidc_partial_create_is_refused_rather_than_left_pending() {
    let app = acme().await;
    let (s, b) = app
        .admin_post(
            "/admin/v1/orgs/acme/connections",
            json!({"kind": "oidc", "name": "x", "issuer": ENTRA, "client_id": "c"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().starts_with("client_secret"), "{b}");
    assert_eq!(app.admin_get("/admin/v1/orgs/acme/connections").await.1, json!([]));
}

#[tokio::test]
async fn oidc_entra_issuer_defaults_to_oid_matching_and_warns_on_mutable_claims() {
    let app = acme().await;
    let created = create_connection(&app, "acme", json!({"kind": "oidc", "name": "Entra"})).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!((&created["match_by"], &created["warnings"]), (&json!("email"), &json!([])));

    // The issuer arrives: Entra's default is the immutable oid.
    let (s, b) = patch_connection(&app, "acme", &id, json!({"issuer": ENTRA, "client_id": "app-id"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((&b["match_by"], &b["warnings"]), (&json!("external_id"), &json!([])), "{b}");

    // An explicit mutable claim is accepted, with a warning where it is made.
    for (choice, claim) in [("user_name", "preferred_username"), ("email", "email")] {
        let (s, b) = patch_connection(&app, "acme", &id, json!({"match_by": choice})).await;
        assert_eq!((s, &b["match_by"]), (StatusCode::OK, &json!(choice)), "{b}");
        let w = b["warnings"].as_array().unwrap();
        assert_eq!(w.len(), 1, "{b}");
        assert!(
            w[0].as_str().unwrap().contains(claim) && w[0].as_str().unwrap().contains("Microsoft"),
            "{b}"
        );
        assert_eq!(shown(&app, &id).await["warnings"], b["warnings"], "GET shows it too");
    }
    // Back to the default.
    let (s, b) = patch_connection(&app, "acme", &id, json!({"match_by": null})).await;
    assert_eq!((s, &b["match_by"], &b["warnings"]), (StatusCode::OK, &json!("external_id"), &json!([])));

    // Chosen before the issuer is known: kept, and warned about once it is.
    let created =
        create_connection(&app, "acme", json!({"kind": "oidc", "name": "E2", "match_by": "user_name"})).await;
    let id2 = created["id"].as_str().unwrap().to_string();
    let (_, b) = patch_connection(&app, "acme", &id2, json!({"issuer": ENTRA, "client_id": "app-id"})).await;
    assert_eq!(b["match_by"], "user_name");
    assert_eq!(b["warnings"].as_array().map(Vec::len), Some(1), "{b}");
    assert!(!b.to_string().contains("match_by_set"), "internal field not shown: {b}");
}
