//! CSRF defence for cookie-authenticated `/v1` writes: another site's form
//! or `text/plain` fetch carrying the session cookie changes nothing; JSON
//! writes from idbridge's own origin and bearer-authenticated writes work.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::spawn_app;

const KEYS: &str = "/v1/orgs/acme/projects/research/api-keys";

async fn csrf_setup() -> (crate::support::helpers::TestApp, String) {
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let (s, b) = app
        .put_mapping(
            "acme",
            json!({"default_org_role": "member",
                   "rules": [{"group": "Eng", "org_role": "member", "projects": {"research": "member"}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token = app.login("acme", "ann@acme.com", &["Eng"]).await.unwrap();
    (app, token)
}

/// A request carrying the session cookie, with `headers`.
async fn with_cookie(
    app: &crate::support::helpers::TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut r =
        app.client.request(method, app.url(path)).header("cookie", format!("idbridge_session={token}"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.body(body.to_string()).send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

async fn session_refusals(app: &crate::support::helpers::TestApp, reason: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let needle = format!("idbridge_refusals_total{{surface=\"session\",reason=\"{reason}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&needle)).map(|v| v.trim().parse().unwrap()).unwrap_or(0)
}

async fn key_count(app: &crate::support::helpers::TestApp, token: &str) -> usize {
    let (s, keys) = app.send(reqwest::Method::GET, KEYS, Some(token), None).await;
    assert_eq!(s, StatusCode::OK, "{keys}");
    keys.as_array().unwrap().len()
}

#[tokio::test]
async fn cookie_authenticated_writes_from_another_site_are_refused() {
    let (app, token) = csrf_setup().await;
    let own = app.base.clone();
    let post = reqwest::Method::POST;
    // What another site's page can make a browser send with the cookie.
    for headers in [
        // A form or a text/plain fetch: no preflight.
        vec![("content-type", "text/plain")],
        vec![("content-type", "application/x-www-form-urlencoded")],
        vec![("content-type", "multipart/form-data; boundary=x")],
        vec![],
        vec![("content-type", "application/jsonx")],
        vec![("content-type", "text/plain; application/json")],
        // JSON, but the browser says the request comes from elsewhere.
        vec![("content-type", "application/json"), ("origin", "https://evil.example")],
        vec![("content-type", "application/json"), ("origin", "null")],
        vec![("content-type", "application/json"), ("sec-fetch-site", "cross-site")],
        vec![("content-type", "application/json"), ("sec-fetch-site", "same-site")],
        vec![("content-type", "application/json"), ("origin", &own), ("sec-fetch-site", "cross-site")],
    ] {
        let before = session_refusals(&app, "csrf").await;
        let (s, b) = with_cookie(&app, post.clone(), KEYS, &token, &headers, r#"{"name":"x"}"#).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{headers:?}: {b}");
        assert_eq!(b["error"]["code"], "csrf", "{headers:?}: {b}");
        assert!(b["error"]["message"].as_str().unwrap().len() > 10, "{b}");
        assert_eq!(session_refusals(&app, "csrf").await, before + 1, "counted");
    }
    assert_eq!(key_count(&app, &token).await, 0, "no key was created");

    // Logout and key deletion are writes too.
    let (s, b) =
        with_cookie(&app, post.clone(), "/v1/logout", &token, &[("content-type", "text/plain")], "").await;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf")));
    assert_eq!(app.me(&token).await.0, StatusCode::OK, "the session was not ended");
    let (s, key) = app.send(post.clone(), KEYS, Some(&token), Some(json!({"name": "k"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let one = format!("{KEYS}/{}", key["id"].as_str().unwrap());
    let (s, _) =
        with_cookie(&app, reqwest::Method::DELETE, &one, &token, &[("origin", "https://evil.example")], "")
            .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(key_count(&app, &token).await, 1, "the key was not revoked");
}

#[tokio::test]
async fn cookie_authenticated_json_writes_from_idbridge_itself_and_bearer_writes_work() {
    let (app, token) = csrf_setup().await;
    let own = app.base.clone();
    let post = reqwest::Method::POST;
    for headers in [
        vec![("content-type", "application/json")],
        vec![("content-type", "application/json; charset=utf-8"), ("origin", &own)],
        vec![("content-type", "Application/JSON"), ("sec-fetch-site", "same-origin"), ("origin", &own)],
        vec![("content-type", "application/json"), ("sec-fetch-site", "none")],
    ] {
        let (s, b) = with_cookie(&app, post.clone(), KEYS, &token, &headers, r#"{"name":"x"}"#).await;
        assert_eq!(s, StatusCode::CREATED, "{headers:?}: {b}");
    }
    // Bearer-authenticated writes have no CSRF exposure: unaffected.
    let (s, b) = app.send(post.clone(), KEYS, Some(&token), None).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let r = app
        .client
        .post(app.url(KEYS))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Reads with the cookie need nothing.
    let (s, _) =
        with_cookie(&app, reqwest::Method::GET, "/v1/me", &token, &[("origin", "https://evil.example")], "")
            .await;
    assert_eq!(s, StatusCode::OK);
    // Logout with the cookie: JSON content type, no body needed.
    let (s, b) =
        with_cookie(&app, post, "/v1/logout", &token, &[("content-type", "application/json")], "").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(app.me(&token).await.0, StatusCode::UNAUTHORIZED);
}
