//! Every error answers the surface's own shape: the SCIM error schema (application/scim+json,
//! `status` as a string) under /scim, `{"error":{"code","message"}}` elsewhere — for unknown
//! paths, wrong methods, path segments that are not UTF-8, bad query strings and bodies the
//! framework refuses before a handler runs. A SCIM client with a valid token never gets 401.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::helpers::{ADMIN_TOKEN, TestApp, spawn_app};

const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> (StatusCode, String, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some((ct, b)) = body {
        req = req.header("content-type", ct).body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status} {ct}: not JSON: {text:?}"));
    (status, ct, json)
}

fn assert_scim(status: StatusCode, ct: &str, v: &Value, want: StatusCode) {
    assert_eq!(status, want, "{v}");
    assert!(ct.starts_with("application/scim+json"), "{want}: content-type {ct}");
    assert_eq!(v["schemas"], serde_json::json!([ERROR]), "{v}");
    assert_eq!(v["status"], want.as_str(), "status is a string: {v}");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
}

fn assert_api(status: StatusCode, ct: &str, v: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{v}");
    assert!(ct.starts_with("application/json"), "{want}: content-type {ct}");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[tokio::test]
async fn scim_errors_answer_the_scim_error_schema() {
    let app = spawn_app().await;
    app.org("acme").await;
    let scim = app.scim("acme").await;
    let t = Some(scim.token.as_str());
    // 405: a known SCIM endpoint with a method it does not have.
    let (s, ct, v) = call(&app, Method::DELETE, "/scim/v2/acme/Users", t, None).await;
    assert_scim(s, &ct, &v, StatusCode::METHOD_NOT_ALLOWED);
    let (s, ct, v) = call(&app, Method::PUT, "/scim/v2/acme/ServiceProviderConfig", t, None).await;
    assert_scim(s, &ct, &v, StatusCode::METHOD_NOT_ALLOWED);
    // 400, not a misleading 401: a path segment that is not UTF-8, with a valid token.
    for path in ["/scim/v2/acme/Users/%FF", "/scim/v2/%FF/Users", "/scim/v2/acme/%FF/x"] {
        let (s, ct, v) = call(&app, Method::GET, path, t, None).await;
        assert_scim(s, &ct, &v, StatusCode::BAD_REQUEST);
        assert!(v["detail"].as_str().unwrap().contains("UTF-8"), "{path}: {v}");
    }
    // ... while without a valid token it stays 401.
    let (s, ct, v) = call(&app, Method::GET, "/scim/v2/acme/Users/%FF", Some("idb_scim_nope"), None).await;
    assert_scim(s, &ct, &v, StatusCode::UNAUTHORIZED);
    // A query string the framework cannot decode.
    let (s, ct, v) = call(&app, Method::GET, "/scim/v2/acme/Users?filter=%FF", t, None).await;
    assert_scim(s, &ct, &v, StatusCode::BAD_REQUEST);
    // 404 under /scim outside an org's base.
    for path in ["/scim/v2/acme", "/scim/v1/acme/Users", "/scim"] {
        let (s, ct, v) = call(&app, Method::GET, path, t, None).await;
        assert_scim(s, &ct, &v, StatusCode::NOT_FOUND);
    }
    // 413 stays SCIM too.
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(5 * 1024 * 1024));
    let (s, ct, v) =
        call(&app, Method::POST, "/scim/v2/acme/Users", t, Some(("application/scim+json", &big))).await;
    assert_scim(s, &ct, &v, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn other_errors_answer_the_json_error_shape() {
    let app = spawn_app().await;
    app.org("acme").await;
    let op = Some(ADMIN_TOKEN);
    let (s, ct, v) = call(&app, Method::GET, "/admin/v1/orgs/%FF", op, None).await;
    assert_api(s, &ct, &v, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(v["error"]["message"].as_str().unwrap().contains("UTF-8"), "{v}");
    let (s, ct, v) = call(&app, Method::GET, "/admin/v1/orgs/acme/projects/%C3%28", op, None).await;
    assert_api(s, &ct, &v, StatusCode::BAD_REQUEST, "invalid_request");
    let (s, ct, v) = call(&app, Method::GET, "/admin/v1/orgs/acme/audit?limit=lots", op, None).await;
    assert_api(s, &ct, &v, StatusCode::BAD_REQUEST, "invalid_request");
    let (s, ct, v) = call(&app, Method::DELETE, "/healthz", None, None).await;
    assert_api(s, &ct, &v, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let (s, ct, v) = call(&app, Method::GET, "/nowhere", None, None).await;
    assert_api(s, &ct, &v, StatusCode::NOT_FOUND, "not_found");
    // Not a SCIM path just because it starts with the letters.
    let (s, ct, v) = call(&app, Method::GET, "/scimx", None, None).await;
    assert_api(s, &ct, &v, StatusCode::NOT_FOUND, "not_found");
}
