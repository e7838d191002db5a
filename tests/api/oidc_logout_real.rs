//! Logout with the real OpenID Provider (panva/oidc-provider from
//! fixtures/oidc, back-channel and RP-initiated logout enabled): idbridge's
//! `/v1/logout` sends the browser to the provider's end_session_endpoint with
//! the ID token as hint; the person confirms; the provider POSTs a genuine
//! logout token to idbridge's `backchannel_logout_uri`, which ends the other
//! idbridge session of that provider session — and nobody else's.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::{TestApp, spawn_app};
use crate::support::oidc_support::{
    Browser, REAL_CLIENT_ID, REAL_CLIENT_SECRET, RealProvider, create_connection, mapping, patch_connection,
    query_param,
};

/// The value of `name="…"`-style attribute `attr` in the page's form.
fn attr(body: &str, attr: &str) -> String {
    let needle = format!("{attr}=\"");
    let start = body.find(&needle).unwrap_or_else(|| panic!("no {attr} in {body}")) + needle.len();
    body[start..].split('"').next().unwrap().replace("&amp;", "&")
}

async fn alive(app: &TestApp, token: &str) -> bool {
    app.me(token).await.0 == StatusCode::OK
}

#[tokio::test]
async fn oidc_real_provider_rp_initiated_and_backchannel_logout() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let (s, b) = app.put_mapping("acme", mapping()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Pending first: the provider's client registration needs idbridge's URIs.
    let pending = create_connection(&app, "acme", json!({"kind": "oidc", "name": "Fixture provider"})).await;
    let conn = pending["id"].as_str().unwrap().to_string();
    let backchannel = pending["backchannel_logout_uri"].as_str().unwrap().to_string();
    assert_eq!(backchannel, app.url(&format!("/oidc/{conn}/backchannel-logout")));
    let signed_out = app.url("/signed-out");
    let op = RealProvider::start(&[
        ("OIDC_BACKCHANNEL_LOGOUT_URI", &backchannel),
        ("OIDC_POST_LOGOUT_REDIRECT_URI", &signed_out),
    ]);
    let (s, b) = patch_connection(
        &app,
        "acme",
        &conn,
        json!({
            "issuer": op.issuer, "client_id": REAL_CLIENT_ID, "client_secret": REAL_CLIENT_SECRET,
            "scopes": ["openid", "email", "profile", "groups"], "post_logout_redirect_uri": signed_out,
        }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Ann signs in twice in one browser (one provider session, one sid); Bob elsewhere.
    let login = app.url(&format!("/oidc/{conn}/login?login_hint="));
    let ann_browser = Browser::new();
    let ann1 = ann_browser.login(&format!("{login}ann")).await.session().expect("ann 1");
    let ann2 = ann_browser.login(&format!("{login}ann")).await.session().expect("ann 2");
    let bob = Browser::new().login(&format!("{login}bob")).await.session().expect("bob");
    assert!(alive(&app, &ann1).await && alive(&app, &ann2).await && alive(&app, &bob).await);

    // idbridge's logout: the session ends, and the browser goes to the provider.
    let resp = app.client.post(app.url("/v1/logout")).bearer_auth(&ann1).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(!alive(&app, &ann1).await);
    assert!(to.starts_with(&op.issuer), "{to}");
    assert!(query_param(&to, "id_token_hint").is_some(), "{to}");
    assert_eq!(query_param(&to, "post_logout_redirect_uri").as_deref(), Some(signed_out.as_str()));

    // The provider accepts the hint and asks for confirmation; yes.
    let page = ann_browser.get(&to).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, xsrf) = (attr(&page.body, "action"), attr(&page.body, "value"));
    let done = ann_browser.post_form(&action, &[("xsrf", &xsrf), ("logout", "yes")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let back = done.location.unwrap();
    assert!(back.starts_with(&signed_out), "{back}");
    assert_eq!(query_param(&back, "state"), query_param(&to, "state"));

    // The provider's back-channel logout token has ended Ann's other session.
    let mut ended = false;
    for _ in 0..50 {
        if !alive(&app, &ann2).await {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "the provider's back-channel logout did not end ann's second session");
    assert!(alive(&app, &bob).await, "bob's session is untouched");
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;
    assert!(audit.to_string().contains("oidc_backchannel"), "{audit}");
}
