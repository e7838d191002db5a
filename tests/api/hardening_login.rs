//! Issue 9 hardening of the login surfaces: SP-initiated SAML bound to the
//! browser that started it (login CSRF / session fixation), the outbound
//! fetch guard (plain http, redirects, private and metadata-service
//! addresses), CSRF on cookie-authenticated `/v1` writes, and malformed ID
//! tokens answered as a refused sign-in rather than an unreachable provider.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::saml_client::*;
use crate::saml_idp::*;
use crate::saml_signer::*;

/// Start an SP-initiated login: the AuthnRequest ID and the binding cookie
/// (`name=value`) the answer set.
async fn sp_login(app: &crate::helpers::TestApp, conn: &Conn) -> (String, String, String) {
    let resp = app.client.get(&conn.login_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set_cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("idbridge_saml_"))
        .expect("the SAML login start binds the request to the browser with a cookie");
    let loc = url::Url::parse(&location(&resp)).unwrap();
    let id = loc.query_pairs().find(|(k, _)| k == "RelayState").unwrap().1.to_string();
    let pair = set_cookie.split(';').next().unwrap().to_string();
    (id, pair, set_cookie)
}

#[tokio::test]
async fn saml_sp_initiated_login_sets_a_cross_site_binding_cookie_for_the_acs() {
    let (app, conn) = setup().await;
    let (_, pair, set_cookie) = sp_login(&app, &conn).await;
    let attrs: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    // The ACS is a cross-site POST from the IdP: only SameSite=None (which
    // browsers require to be Secure) is sent on it.
    for want in ["HttpOnly", "Secure", "SameSite=None", &format!("Path=/saml/{}/acs", conn.id)] {
        assert!(attrs.contains(&want), "{want} missing in {set_cookie}");
    }
    assert!(pair.split_once('=').unwrap().1.len() >= 40, "a high-entropy value: {pair}");
    // Only a hash of it is stored.
    let value = pair.split_once('=').unwrap().1.to_string();
    let stored: Vec<String> = app
        .state
        .db
        .read(|c| -> Result<Vec<String>, idbridge::store::StoreError> {
            let mut st = c.prepare("SELECT data FROM login_states WHERE kind = 'saml_request'")?;
            let rows = st.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&value), "the cookie value itself is not stored: {}", stored[0]);
}

#[tokio::test]
async fn saml_sp_initiated_response_posted_from_another_browser_is_refused() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.put_mapping("acme", json!({"default_org_role": "member", "rules": []})).await;
    // Even with IdP-initiated login off, an SP-initiated answer must not
    // sign in a browser other than the one that asked.
    let conn = connect(&app, "acme", &Idp::okta(), json!({"allow_idp_initiated": false})).await;
    // The attacker starts a login in their own browser and has the IdP answer it.
    let (id, attacker_cookie, _) = sp_login(&app, &conn).await;
    let xml = okta_response(&Spec::okta(&conn, "mallory@acme.com", &[]).answering(&id), &Idp::okta());

    // Posted from the victim's browser (no binding cookie, or another
    // login's cookie, or the right name with a wrong value): refused, nothing changes.
    let (_, victim_cookie, _) = sp_login(&app, &conn).await;
    let name = attacker_cookie.split_once('=').unwrap().0;
    for cookie in [None, Some(victim_cookie), Some(format!("{name}=forged-value-0123456789abcdef0123456789"))]
    {
        let before_members = members(&app, "acme").await;
        let before = refusals(&app, "browser_mismatch").await;
        let resp = post_with_cookie(&app, &conn, &xml, cookie.as_deref()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "cookie {cookie:?}");
        assert!(
            resp.headers()
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap().starts_with("idbridge_session")),
            "a refusal sets no session"
        );
        assert!(resp.text().await.unwrap().contains("Sign-in refused"));
        assert_eq!(refusals(&app, "browser_mismatch").await, before + 1);
        assert_eq!(members(&app, "acme").await, before_members, "a refusal changes no user");
    }
    // Nothing was spent: the browser that started the login still completes it, once.
    let resp = post_with_cookie(&app, &conn, &xml, Some(&attacker_cookie)).await;
    session_of(&resp);
    // Its binding cookie is cleared.
    assert!(
        resp.headers().get_all("set-cookie").iter().any(|c| c
            .to_str()
            .unwrap()
            .starts_with(&format!("{name}=;"))
            && c.to_str().unwrap().contains("Max-Age=0")),
        "binding cookie cleared"
    );
    let again = post_with_cookie(&app, &conn, &xml, Some(&attacker_cookie)).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
}

// --- Item 10: a malformed ID token is a refused sign-in, not an unreachable provider.

use crate::oidc_forge::{Plan, Signer};
use crate::oidc_support::{assert_refused, refusals as oidc_refusals};
use crate::oidc_tokens::setup as oidc_setup;

fn with_claims(v: serde_json::Value) -> Plan {
    Plan { claims: v, ..Plan::default() }
}

#[tokio::test]
async fn oidc_malformed_id_token_is_refused_as_not_acceptable() {
    let s = oidc_setup(json!({})).await;
    let none = |alg: &str| Plan { signer: Signer::None, header: json!({"alg": alg}), ..Plan::default() };
    for (plan, reason) in [
        // Entra-style string boolean: not the JSON boolean OIDC Core 5.1 asks for.
        (with_claims(json!({"email_verified": "false"})), "id_token_claim_invalid"),
        // OIDC Core 2: exp is REQUIRED.
        (with_claims(json!({"exp": null})), "id_token_claim_invalid"),
        (with_claims(json!({"exp": "tomorrow"})), "id_token_claim_invalid"),
        (with_claims(json!({"aud": 42})), "id_token_claim_invalid"),
        // `none` in any case is never an algorithm idbridge accepts.
        (none("None"), "alg_not_allowed"),
        (none("NONE"), "alg_not_allowed"),
    ] {
        let page = s.refused(plan.clone(), StatusCode::FORBIDDEN, reason).await;
        assert!(page.body.contains("not acceptable"), "{plan:?}: {}", page.body);
        assert!(!page.body.contains("could not be reached"), "{}", page.body);
    }
}

#[tokio::test]
async fn oidc_malformed_token_response_is_refused_but_an_unreachable_provider_is_502() {
    let s = oidc_setup(json!({})).await;
    for (body, reason) in [
        (json!({"token_type": "Bearer"}), "token_response_invalid"),
        (json!({"access_token": 7, "token_type": "Bearer"}), "token_response_invalid"),
        (json!("junk"), "token_response_invalid"),
        (json!({"access_token": "at", "token_type": "Bearer"}), "missing_id_token"),
        (json!({"access_token": "at", "token_type": "Bearer", "id_token": "x.y"}), "id_token_malformed"),
    ] {
        let plan = Plan { token_response: Some(body.clone()), ..Plan::default() };
        let page = s.refused(plan, StatusCode::FORBIDDEN, reason).await;
        assert!(page.body.contains("not acceptable"), "{body}: {}", page.body);
    }
    // A token endpoint that refuses connections: the provider truly cannot be reached.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/token", l.local_addr().unwrap())
    };
    s.forge.set_token_endpoint(&closed);
    s.app.state.oidc.discovery.forget(&s.conn);
    let before = oidc_refusals(&s.app, "token_endpoint_failed").await;
    let page = s.login(Plan::default()).await;
    assert_refused(&s.app, &page, StatusCode::BAD_GATEWAY, "token_endpoint_failed", before).await;
    assert!(page.body.contains("could not be reached"), "{}", page.body);
}

// --- Item 7: cookie-authenticated /v1 writes need JSON and a same-origin browser.

const KEYS: &str = "/v1/orgs/acme/projects/research/api-keys";

async fn csrf_setup() -> (crate::helpers::TestApp, String) {
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
    app: &crate::helpers::TestApp,
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

async fn session_refusals(app: &crate::helpers::TestApp, reason: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let needle = format!("idbridge_refusals_total{{surface=\"session\",reason=\"{reason}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&needle)).map(|v| v.trim().parse().unwrap()).unwrap_or(0)
}

async fn key_count(app: &crate::helpers::TestApp, token: &str) -> usize {
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

// --- Item 6: one guard on every outbound fetch.

/// A loopback server with IdP metadata at /md and redirects to it and to
/// plain http on another host.
async fn metadata_and_redirects() -> String {
    use axum::http::{StatusCode as S, header};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let to_md = format!("{base}/md");
    let app = axum::Router::new()
        .route("/md", axum::routing::get(|| async { Idp::okta().metadata(&[]) }))
        .route(
            "/moved",
            axum::routing::get(move || {
                let to = to_md.clone();
                async move { (S::FOUND, [(header::LOCATION, to)]) }
            }),
        )
        .route(
            "/to-http",
            axum::routing::get(|| async {
                (S::MOVED_PERMANENTLY, [(header::LOCATION, "http://idp.example.test/md")])
            }),
        );
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    base
}

async fn create_saml(app: &crate::helpers::TestApp, url: &str) -> (StatusCode, serde_json::Value) {
    app.admin_post(
        "/admin/v1/orgs/acme/connections",
        json!({"kind": "saml", "name": "IdP", "idp_metadata_url": url}),
    )
    .await
}

fn refused_for(b: &serde_json::Value, words: &str) {
    let m = b["error"]["message"].as_str().unwrap_or_default();
    assert!(m.contains("refused") && m.contains(words), "expected a refusal naming {words:?}: {b}");
}

#[tokio::test]
async fn saml_metadata_url_of_a_cloud_metadata_service_or_private_address_is_refused_before_any_traffic() {
    let app = spawn_app().await;
    app.org("acme").await;
    for (url, words) in [
        ("http://169.254.169.254/latest/meta-data", "metadata-service"),
        ("https://169.254.169.254/latest/meta-data/iam/security-credentials/", "metadata-service"),
        ("https://[fd00:ec2::254]/latest/meta-data", "metadata-service"),
        ("https://[::ffff:169.254.169.254]/latest/meta-data", "metadata-service"),
        ("https://metadata.google.internal/computeMetadata/v1/", "metadata-service"),
        ("https://10.1.2.3/md", "private-network"),
        ("https://192.168.0.7/md", "private-network"),
        ("https://[::ffff:172.16.0.1]/md", "private-network"),
        ("https://169.254.10.1/md", "link-local"),
        ("https://100.64.0.9/md", "carrier-grade NAT"),
        ("https://0.0.0.0/md", "unspecified"),
        // Plain http to anything but loopback: anyone on the path could swap the certificates.
        ("http://idp.example.test/md", "https"),
    ] {
        let (s, b) = create_saml(&app, url).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {b}");
        refused_for(&b, words);
    }
    assert_eq!(app.admin_get("/admin/v1/orgs/acme/connections").await.1, json!([]), "nothing created");
}

#[tokio::test]
async fn saml_metadata_url_redirects_are_refused_on_create_and_patch() {
    let app = spawn_app().await;
    app.org("acme").await;
    let base = metadata_and_redirects().await;
    for path in ["/moved", "/to-http"] {
        let (s, b) = create_saml(&app, &format!("{base}{path}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {b}");
        refused_for(&b, "redirect");
    }
    // The final URL (loopback http, for tests and local IdPs) works.
    let (s, b) = create_saml(&app, &format!("{base}/md")).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    let (s, b) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/v1/orgs/acme/connections/{id}"),
            Some(crate::helpers::ADMIN_TOKEN),
            Some(json!({"idp_metadata_url": format!("{base}/moved")})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    refused_for(&b, "redirect");
    let (_, now) = app.admin_get("/admin/v1/orgs/acme/connections").await;
    assert_eq!(now[0]["idp"]["metadata_url"], format!("{base}/md"), "unchanged: {now}");
}

#[tokio::test]
async fn oidc_issuer_on_a_private_or_metadata_address_is_refused_before_any_traffic() {
    let app = spawn_app().await;
    app.org("acme").await;
    for (issuer, words) in [
        ("https://169.254.169.254", "metadata-service"),
        ("https://10.0.0.7/tenant", "private-network"),
        ("https://[fe80::1]", "link-local"),
    ] {
        let (s, b) = app
            .admin_post(
                "/admin/v1/orgs/acme/connections",
                json!({"kind": "oidc", "name": "x", "issuer": issuer, "client_id": "c", "client_secret": "s"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{issuer}: {b}");
        refused_for(&b, words);
    }
}

#[tokio::test]
async fn outbound_allow_private_is_the_operators_setting_and_never_opens_metadata_services() {
    // Through the real binary and its environment variable. Plain http to a
    // private address tells the settings apart without sending anything:
    // refused for its address by default, for its scheme once private
    // addresses are allowed.
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    for (allow, words) in [("false", "private-network"), ("true", "must use https")] {
        let db = dir.path().join(format!("idbridge-{allow}.db"));
        let p = crate::helpers::spawn_process(&db, &[("IDBRIDGE_OUTBOUND_ALLOW_PRIVATE", allow)]);
        let admin = |path: &str, body: serde_json::Value| {
            client
                .post(format!("{}{path}", p.base))
                .bearer_auth(crate::helpers::ADMIN_TOKEN)
                .json(&body)
                .send()
        };
        assert!(
            admin("/admin/v1/orgs", json!({"slug": "acme", "name": "Acme"}))
                .await
                .unwrap()
                .status()
                .is_success()
        );
        for (url, words) in
            [("http://10.1.2.3/md", words), ("https://169.254.169.254/latest/meta-data", "metadata-service")]
        {
            let r = admin(
                "/admin/v1/orgs/acme/connections",
                json!({"kind": "saml", "name": "x", "idp_metadata_url": url}),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
            refused_for(&r.json().await.unwrap(), words);
        }
    }
}
