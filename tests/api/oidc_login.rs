//! The whole authorization code flow against a real, certified OpenID
//! Provider (panva/oidc-provider from fixtures/oidc, on loopback), driven over
//! HTTP like a browser: idbridge's login → the provider's authorization
//! endpoint and its (non-interactive) login → idbridge's callback → a session
//! whose /v1/me shows the roles the mapping gives the provider's groups.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::{TestApp, spawn_app};
use crate::support::oidc_support::{
    Browser, REAL_CLIENT_ID, REAL_CLIENT_SECRET, RealProvider, assert_refused, create_connection,
    is_callback, mapping, query_param, refusals, rows,
};

async fn setup(op: &RealProvider) -> (TestApp, String) {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let (s, b) = app.put_mapping("acme", mapping()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let created = create_connection(
        &app,
        "acme",
        json!({
            "kind": "oidc",
            "name": "Fixture provider",
            "issuer": op.issuer,
            "client_id": REAL_CLIENT_ID,
            "client_secret": REAL_CLIENT_SECRET,
            "scopes": ["openid", "email", "profile", "groups"],
            "allowed_origins": ["https://app.example.com"],
        }),
    )
    .await;
    (app, created["id"].as_str().unwrap().to_string())
}

fn login_url(app: &TestApp, conn: &str, user: &str, return_to: &str) -> String {
    let rt: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    app.url(&format!("/oidc/{conn}/login?return_to={rt}&login_hint={user}"))
}

#[tokio::test]
async fn oidc_real_provider_code_flow_gives_a_session_with_mapped_roles() {
    let op = RealProvider::start(&[]);
    let (app, conn) = setup(&op).await;
    let browser = Browser::new();

    // The redirect to the provider carries PKCE S256, state and nonce.
    let start = browser.get(&login_url(&app, &conn, "ann", "https://app.example.com/welcome")).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let auth = start.location.clone().unwrap();
    assert!(auth.starts_with(&format!("{}/auth?", op.issuer)), "{auth}");
    assert_eq!(query_param(&auth, "code_challenge_method").as_deref(), Some("S256"));
    for p in ["state", "nonce", "code_challenge"] {
        assert!(query_param(&auth, p).is_some_and(|v| v.len() >= 43), "{p} missing or short in {auth}");
    }
    assert_eq!(query_param(&auth, "redirect_uri"), Some(app.url(&format!("/oidc/{conn}/callback"))));
    assert_eq!(rows(&app, "login_states").await, 1);

    let page = browser.login(&auth).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("https://app.example.com/welcome"));
    let cookie = page.set_cookies.iter().find(|c| c.starts_with("idbridge_session=")).unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let token = page.session().unwrap();
    assert_eq!(rows(&app, "login_states").await, 0, "the state was used up");

    // By default the provider puts email, name and groups only in userinfo.
    let (s, me) = app.me(&token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], "ann@example.com");
    assert_eq!(me["user"]["name"], "Ann Example");
    assert_eq!(me["org"], json!({"slug": "acme", "role": "admin"}));
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "admin"}]));

    // A second login of the same person finds the same user.
    let again = browser.login(&login_url(&app, &conn, "ann", "/v1/me")).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(again.location, Some(app.url("/v1/me")));
    assert_eq!(rows(&app, "users").await, 1);
}

#[tokio::test]
async fn oidc_real_provider_with_claims_in_the_id_token() {
    let op = RealProvider::start(&[("OIDC_ID_TOKEN_CLAIMS", "1")]);
    let (app, conn) = setup(&op).await;
    let page = Browser::new().login(&login_url(&app, &conn, "bob", "https://evil.example.com/")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location, Some(app.url("/v1/me")), "a return address off the allow-list is replaced");
    let (_, me) = app.me(&page.session().unwrap()).await;
    assert_eq!(me["user"]["email"], "bob@example.com");
    assert_eq!(me["org"]["role"], "member");
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "admin"}]));
}

#[tokio::test]
async fn oidc_real_provider_access_denied_gives_a_clear_page() {
    let op = RealProvider::start(&[]);
    let (app, conn) = setup(&op).await;
    let before = refusals(&app, "provider_denied").await;
    let page = Browser::new().login(&login_url(&app, &conn, "deny", "/v1/me")).await;
    assert_refused(&app, &page, StatusCode::FORBIDDEN, "provider_denied", before).await;
    assert!(page.body.contains("did not allow"), "{}", page.body);
    assert_eq!(rows(&app, "users").await, 0);
}

#[tokio::test]
async fn oidc_real_provider_unverified_email_and_non_members_are_refused() {
    let op = RealProvider::start(&[]);
    let (app, conn) = setup(&op).await;
    let browser = Browser::new();
    let before = refusals(&app, "email_not_verified").await;
    let page = browser.login(&login_url(&app, &conn, "eve", "/v1/me")).await;
    assert_refused(&app, &page, StatusCode::FORBIDDEN, "email_not_verified", before).await;

    // No group the mapping knows and no default role: refused, and the
    // just-in-time user is not kept. (A new browser: the provider's session
    // would otherwise still be eve's.)
    let before = refusals(&app, "not_member").await;
    let page = Browser::new().login(&login_url(&app, &conn, "nogroups", "/v1/me")).await;
    assert_refused(&app, &page, StatusCode::FORBIDDEN, "not_member", before).await;
    assert_eq!(rows(&app, "users").await, 0);
    assert_eq!(rows(&app, "sessions").await, 0);
}

#[tokio::test]
async fn oidc_real_provider_callback_replay_is_refused() {
    let op = RealProvider::start(&[]);
    let (app, conn) = setup(&op).await;
    let browser = Browser::new();
    let callback = browser.follow_until(&login_url(&app, &conn, "ann", "/v1/me"), is_callback).await;
    let binding: Vec<String> = browser.cookie_names();
    let first = browser.get(&callback).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert!(
        !browser.cookie_names().iter().any(|c| c.starts_with("idbridge_oidc_")),
        "binding cookie cleared"
    );
    assert!(binding.iter().any(|c| c.starts_with("idbridge_oidc_")), "binding cookie was set: {binding:?}");
    let before = refusals(&app, "unknown_state").await;
    let replay = browser.get(&callback).await;
    assert_refused(&app, &replay, StatusCode::BAD_REQUEST, "unknown_state", before).await;
    assert_eq!(rows(&app, "sessions").await, 1);
}
