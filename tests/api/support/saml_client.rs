//! Posting Responses to the ACS like a browser (HTTP-POST binding) and the
//! assertions every login test makes: 303 + session cookie, or a counted
//! refusal that leaves the org's users untouched.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{TestApp, spawn_app};
use crate::support::saml_idp::{Conn, Idp, Spec, connect};
use crate::support::saml_signer::entra_response;

/// POST a Response to the connection's ACS (HTTP-POST binding).
pub async fn post(app: &TestApp, conn: &Conn, xml: &str, relay_state: Option<&str>) -> reqwest::Response {
    post_encoded(app, &conn.acs_url, &STANDARD.encode(xml), relay_state).await
}

/// POST a Response from a browser holding `cookie` (`name=value`), e.g. the
/// binding cookie set by `GET /saml/{id}/login`.
pub async fn post_with_cookie(
    app: &TestApp,
    conn: &Conn,
    xml: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    post_form(app, &conn.acs_url, &STANDARD.encode(xml), None, cookie).await
}

pub async fn post_encoded(
    app: &TestApp,
    acs_url: &str,
    b64: &str,
    relay_state: Option<&str>,
) -> reqwest::Response {
    post_form(app, acs_url, b64, relay_state, None).await
}

async fn post_form(
    app: &TestApp,
    acs_url: &str,
    b64: &str,
    relay_state: Option<&str>,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("SAMLResponse", b64.to_string())];
    if let Some(r) = relay_state {
        form.push(("RelayState", r.to_string()));
    }
    let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut req = app.client.post(acs_url).header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.body(body).send().await.unwrap()
}

/// The session token from a successful ACS answer (303 + cookie).
pub fn session_of(resp: &reqwest::Response) -> String {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "login was not accepted");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap())
        .find(|c| c.starts_with("idbridge_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    cookie.split(';').next().unwrap().strip_prefix("idbridge_session=").unwrap().to_string()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_string()
}

/// How many SAML refusals with `reason` /metrics has counted.
pub async fn refusals(app: &TestApp, reason: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let needle = format!("idbridge_refusals_total{{surface=\"saml\",reason=\"{reason}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&needle)).map(|v| v.trim().parse().unwrap()).unwrap_or(0)
}

pub async fn members(app: &TestApp, org: &str) -> Value {
    app.admin_get(&format!("/admin/v1/orgs/{org}/members")).await.1
}

/// Post `xml` and assert it is refused with `status` for `reason`, changing no member of `org`.
pub async fn assert_refused(app: &TestApp, conn: &Conn, xml: &str, status: StatusCode, reason: &str) {
    let before_members = members(app, &conn.org).await;
    let before = refusals(app, reason).await;
    let resp = post(app, conn, xml, None).await;
    assert_eq!(resp.status(), status, "expected refusal {reason}");
    let sets_session =
        resp.headers().get_all("set-cookie").iter().any(|c| c.as_bytes().starts_with(b"idbridge_session="));
    assert!(!sets_session, "a refusal sets no session cookie");
    let page = resp.text().await.unwrap();
    assert!(page.contains("Sign-in refused"), "{page}");
    assert_eq!(refusals(app, reason).await, before + 1, "refusal counted as {reason}");
    assert_eq!(members(app, &conn.org).await, before_members, "a refusal changes no user");
}

/// An org whose mapping makes anyone who logs in a member.
pub async fn setup() -> (TestApp, Conn) {
    let app = spawn_app().await;
    app.org("acme").await;
    let (s, _) = app.put_mapping("acme", json!({"default_org_role": "member", "rules": []})).await;
    assert_eq!(s, StatusCode::OK);
    let conn = connect(&app, "acme", &Idp::okta(), json!({})).await;
    (app, conn)
}

pub fn okta_spec(conn: &Conn) -> Spec {
    Spec::okta(conn, "ann@acme.com", &["Engineering"])
}

pub fn strip_decl(xml: &str) -> String {
    match xml.find("?>") {
        Some(i) if xml.starts_with("<?xml") => xml[i + 2..].trim_start().to_string(),
        _ => xml.to_string(),
    }
}

/// An Okta-issued response where only the Assertion is signed.
pub fn entra_like_okta(conn: &Conn) -> String {
    strip_decl(&entra_response(&okta_spec(conn), &Idp::okta()))
}

pub fn span(xml: &str, open: &str, close: &str) -> (usize, usize) {
    let start = xml.find(open).unwrap_or_else(|| panic!("{open} not in {xml}"));
    let end = start + xml[start..].find(close).unwrap() + close.len();
    (start, end)
}

/// The (first) Assertion element's text.
pub fn assertion_of(xml: &str) -> String {
    let (a, b) = span(xml, "<saml:Assertion ", "</saml:Assertion>");
    xml[a..b].to_string()
}
