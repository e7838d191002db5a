//! Sessions end when the OpenID Provider says so: Back-Channel Logout 1.0
//! against logout tokens minted by the crafted provider (oidc_forge; keys on
//! a loopback JWKS) — the targeted sessions end, nobody else's, and every
//! forged, replayed or malformed token is a 400 `invalid_request` that
//! changes nothing and counts its precise reason; the IPSIE SL1
//! `session_expiry` bound; RP-initiated logout from `/v1/logout`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::oidc_tokens::{Setup, setup};
use crate::support::helpers::TestApp;
use crate::support::oidc_forge::{CLIENT_ID, Forge, Plan, SUB, Signer, jwk, sign};
use crate::support::oidc_support::{Browser, create_connection, mapping, query_param, rows};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn jti() -> String {
    format!("jti-{}", rand::random::<u64>())
}

/// A logout token for `forge`: the genuine claims with `over` merged (`null` removes).
fn logout_token(forge: &Forge, signer: Signer, header: Value, over: Value) -> String {
    let t = now();
    let mut claims = json!({
        "iss": forge.base, "aud": CLIENT_ID, "iat": t, "exp": t + 120, "jti": jti(),
        "events": {EVENT: {}}, "sub": SUB, "sid": "sid-1",
    });
    for (k, v) in over.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    let mut h = json!({"typ": "logout+jwt", "kid": "key-a"});
    for (k, v) in header.as_object().unwrap() {
        if v.is_null() {
            h.as_object_mut().unwrap().remove(k);
        } else {
            h[k] = v.clone();
        }
    }
    sign(&signer, &h, &claims)
}

fn good(forge: &Forge, over: Value) -> String {
    logout_token(forge, Signer::Rsa("rsa-a"), json!({}), over)
}

/// POST a form body to the connection's back-channel logout endpoint.
async fn post_raw(
    app: &TestApp,
    conn: &str,
    ctype: &str,
    body: String,
) -> (StatusCode, Option<String>, String) {
    let resp = app
        .client
        .post(app.url(&format!("/oidc/{conn}/backchannel-logout")))
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .unwrap();
    let cc = resp.headers().get("cache-control").map(|v| v.to_str().unwrap().to_string());
    (resp.status(), cc, resp.text().await.unwrap())
}

async fn post(app: &TestApp, conn: &str, token: &str) -> (StatusCode, Option<String>, String) {
    let body: String =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("logout_token", token).finish();
    post_raw(app, conn, "application/x-www-form-urlencoded", body).await
}

/// Back-channel refusals counted for `reason` (from /metrics).
async fn refusals(app: &TestApp, reason: &str) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let needle = format!("reason=\"{reason}\"");
    text.lines()
        .filter(|l| {
            l.starts_with("idbridge_refusals")
                && l.contains("surface=\"oidc_backchannel\"")
                && l.contains(&needle)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    crate::support::helpers::raw_db(app).one_i64(sql, &[]).await
}

const REVOKED: &str = "SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL";
const IDP_LOGOUTS: &str = "SELECT count(*) FROM audit_events WHERE action = 'session.idp_logout'";

/// A forge login of `sub` (email `email`) whose ID token carries `sid`.
async fn login(s: &Setup, sub: &str, email: &str, sid: &str) -> String {
    s.accepted(Plan { claims: json!({"sub": sub, "email": email, "sid": sid}), ..Plan::default() }).await
}

async fn alive(app: &TestApp, token: &str) -> bool {
    let (status, body) = app.me(token).await;
    assert!(status == StatusCode::OK || status == StatusCode::UNAUTHORIZED, "{status} {body}");
    status == StatusCode::OK
}

#[tokio::test]
async fn oidc_backchannel_logout_by_sid_then_by_sub_ends_only_the_named_sessions() {
    let s = setup(json!({})).await;
    let (ann1, ann2) =
        (login(&s, SUB, "ann@example.com", "sid-1").await, login(&s, SUB, "ann@example.com", "sid-2").await);
    let bob = login(&s, "forge-user-2", "bob@example.com", "sid-3").await;

    // sid (with sub): that one session.
    let token = good(&s.forge, json!({"sid": "sid-1"}));
    let (status, cc, body) = post(&s.app, &s.conn, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cc.as_deref(), Some("no-store"));
    assert!(!alive(&s.app, &ann1).await, "the session with that sid ended");
    assert!(alive(&s.app, &ann2).await && alive(&s.app, &bob).await, "other sessions are untouched");
    assert_eq!(count(&s.app, IDP_LOGOUTS).await, 1, "audited");
    let reason: String = crate::support::helpers::raw_db(&s.app)
        .one_text("SELECT revoked_reason FROM sessions WHERE revoked_at IS NOT NULL", &[])
        .await;
    assert_eq!(reason, "oidc_backchannel");

    // The same token again: its jti is spent.
    let before = refusals(&s.app, "jti_replayed").await;
    let (status, _, body) = post(&s.app, &s.conn, &token).await;
    assert_eq!((status, body.as_str()), (StatusCode::BAD_REQUEST, r#"{"error":"invalid_request"}"#));
    assert_eq!(refusals(&s.app, "jti_replayed").await, before + 1);
    assert_eq!(count(&s.app, IDP_LOGOUTS).await, 1, "a replay audits nothing");

    // Only sub: every session of that subject on this connection.
    let (status, _, body) = post(&s.app, &s.conn, &good(&s.forge, json!({"sid": null}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!alive(&s.app, &ann2).await);
    assert!(alive(&s.app, &bob).await, "bob's session is untouched");

    // A sid and a sub that do not go together end nothing (but are valid).
    let (status, _, _) = post(&s.app, &s.conn, &good(&s.forge, json!({"sid": "sid-3"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(alive(&s.app, &bob).await, "sid-3 is bob's, not ann's");
}

#[tokio::test]
async fn oidc_backchannel_logout_refuses_every_forged_or_malformed_token_and_changes_nothing() {
    let s = setup(json!({})).await;
    let ann = login(&s, SUB, "ann@example.com", "sid-1").await;
    let public_pem = String::from_utf8(
        std::fs::read(format!("{}/fixtures/oidc/keys/rsa-a.pub.pem", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    )
    .unwrap();
    let f = &s.forge;
    let t = now();
    let cases: Vec<(&str, String)> = vec![
        ("bad_signature", logout_token(f, Signer::Rsa("rsa-b"), json!({}), json!({}))),
        ("unknown_key", logout_token(f, Signer::Rsa("rsa-b"), json!({"kid": "key-b"}), json!({}))),
        ("alg_not_allowed", logout_token(f, Signer::None, json!({}), json!({}))),
        ("alg_not_allowed", logout_token(f, Signer::Hmac(public_pem.into_bytes()), json!({}), json!({}))),
        (
            "untrusted_key_in_header",
            logout_token(f, Signer::Rsa("rsa-b"), json!({"jwk": jwk("rsa-b", "key-b", "RS256")}), json!({})),
        ),
        ("wrong_type", logout_token(f, Signer::Rsa("rsa-a"), json!({"typ": "at+jwt"}), json!({}))),
        ("issuer_mismatch", good(f, json!({"iss": "https://evil.example.com"}))),
        ("audience_mismatch", good(f, json!({"aud": "another-client"}))),
        ("audience_mismatch", good(f, json!({"aud": [CLIENT_ID, "another-client"]}))),
        ("missing_iat", good(f, json!({"iat": null}))),
        ("issued_too_long_ago", good(f, json!({"iat": t - 3600}))),
        ("issued_in_future", good(f, json!({"iat": t + 3600}))),
        ("expired", good(f, json!({"exp": t - 300}))),
        ("missing_logout_event", good(f, json!({"events": null}))),
        ("missing_logout_event", good(f, json!({"events": {"http://schemas.openid.net/event/other": {}}}))),
        ("missing_logout_event", good(f, json!({"events": {EVENT: "yes"}}))),
        ("nonce_present", good(f, json!({"nonce": "n-1"}))),
        ("missing_sub_and_sid", good(f, json!({"sub": null, "sid": null}))),
        ("missing_jti", good(f, json!({"jti": null}))),
        ("bad_identifier", good(f, json!({"sid": 7}))),
        ("id_token_malformed", "not.a.jwt".to_string()),
    ];
    let (revoked, audited, jtis) =
        (count(&s.app, REVOKED).await, count(&s.app, IDP_LOGOUTS).await, rows(&s.app, "login_states").await);
    for (reason, token) in cases {
        let before = refusals(&s.app, reason).await;
        let (status, cc, body) = post(&s.app, &s.conn, &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reason}: {body}");
        assert_eq!(body, r#"{"error":"invalid_request"}"#, "{reason}");
        assert_eq!(cc.as_deref(), Some("no-store"), "{reason}");
        assert_eq!(refusals(&s.app, reason).await, before + 1, "{reason} not counted");
        assert!(alive(&s.app, &ann).await, "{reason}: the session must live on");
    }
    // The request itself (§2.5): a form with one logout_token.
    let token = good(f, json!({}));
    let form = format!("logout_token={token}");
    for (reason, ctype, body) in [
        ("wrong_content_type", "application/json", json!({"logout_token": token}).to_string()),
        ("missing_logout_token", "application/x-www-form-urlencoded", "token=x".to_string()),
        ("duplicate_parameter", "application/x-www-form-urlencoded", format!("{form}&{form}")),
    ] {
        let before = refusals(&s.app, reason).await;
        let (status, _, _) = post_raw(&s.app, &s.conn, ctype, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reason}");
        assert_eq!(refusals(&s.app, reason).await, before + 1, "{reason} not counted");
    }
    let before = refusals(&s.app, "unknown_connection").await;
    assert_eq!(post(&s.app, "no-such-connection", &token).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(refusals(&s.app, "unknown_connection").await, before + 1);

    assert_eq!(count(&s.app, REVOKED).await, revoked, "no session ended");
    assert_eq!(count(&s.app, IDP_LOGOUTS).await, audited, "nothing audited");
    assert_eq!(rows(&s.app, "login_states").await, jtis, "no jti spent");
    assert!(alive(&s.app, &ann).await);
}

#[tokio::test]
async fn oidc_backchannel_logout_touches_only_its_own_connection_and_org() {
    // Two orgs, each with a connection to the same provider and client, and
    // the same person signed in through both.
    let s = setup(json!({})).await;
    s.app.org("globex").await;
    s.app.project("globex", "research").await;
    let (st, b) = s.app.put_mapping("globex", mapping()).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let other = create_connection(&s.app, "globex", s.forge.connection(json!({}))).await;
    let other = other["id"].as_str().unwrap().to_string();
    let acme = login(&s, SUB, "ann@example.com", "sid-1").await;
    s.forge.plan(Plan { claims: json!({"sid": "sid-1"}), ..Plan::default() });
    let page = Browser::new().login(&s.app.url(&format!("/oidc/{other}/login"))).await;
    let globex = page.session().expect("globex login");

    let (status, _, _) = post(&s.app, &s.conn, &good(&s.forge, json!({"sid": null}))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!alive(&s.app, &acme).await);
    assert!(alive(&s.app, &globex).await, "the other org's session (other connection) is untouched");
    let (_, audit) = s.app.admin_get("/admin/v1/orgs/globex/audit?limit=1000").await;
    assert!(!audit.to_string().contains("session.idp_logout"), "nothing audited in the other org");
    let (_, audit) = s.app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;
    assert!(audit.to_string().contains("oidc_backchannel"), "{audit}");
}

#[tokio::test]
async fn oidc_session_never_outlives_session_expiry() {
    let s = setup(json!({})).await;
    let bound = now() + 120;
    let token = s.accepted(Plan { claims: json!({"session_expiry": bound}), ..Plan::default() }).await;
    assert!(alive(&s.app, &token).await);
    let expires: String =
        crate::support::helpers::raw_db(&s.app).one_text("SELECT expires_at FROM sessions", &[]).await;
    let at = time::OffsetDateTime::parse(&expires, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(at.unix_timestamp(), bound, "the session ends at the provider's bound, not 8 h later");
    let row = crate::support::helpers::raw_db(&s.app)
        .one("SELECT idp_data, idp_subject, idp_sid FROM sessions", &[])
        .await;
    let (_, sub, sid): (String, String, Option<String>) =
        (row[0].text().unwrap(), row[1].text().unwrap(), row[2].text());
    assert_eq!((sub.as_str(), sid), (SUB, None));

    s.refused(
        Plan { claims: json!({"session_expiry": now() - 5}), ..Plan::default() },
        StatusCode::FORBIDDEN,
        "idp_session_expired",
    )
    .await;
    s.refused(
        Plan { claims: json!({"session_expiry": "tomorrow"}), ..Plan::default() },
        StatusCode::FORBIDDEN,
        "id_token_claim_invalid",
    )
    .await;
}

#[tokio::test]
async fn oidc_v1_logout_goes_to_the_end_session_endpoint_with_the_hint() {
    let s = setup(json!({
        "allowed_origins": ["https://app.example.com"],
        "post_logout_redirect_uri": "https://app.example.com/signed-out",
    }))
    .await;
    let end = format!("{}/logout", s.forge.base);
    s.forge.set_end_session(Some(&end));
    s.app.state.oidc.discovery.forget(&s.conn);
    let (_, conn) = s.app.admin_get(&format!("/admin/v1/orgs/acme/connections/{}", s.conn)).await;
    assert_eq!(conn["backchannel_logout_uri"], s.app.url(&format!("/oidc/{}/backchannel-logout", s.conn)));
    let token = login(&s, SUB, "ann@example.com", "sid-1").await;
    let raw: String =
        crate::support::helpers::raw_db(&s.app).one_text("SELECT idp_data FROM sessions", &[]).await;
    assert!(
        raw.contains("id_token_sealed") && !raw.contains("eyJ"),
        "the ID token is kept sealed only: {raw}"
    );

    let resp = s.app.client.post(s.app.url("/v1/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["logout_url"], location.as_str());
    assert!(location.starts_with(&format!("{end}?")), "{location}");
    assert_eq!(query_param(&location, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        query_param(&location, "post_logout_redirect_uri").as_deref(),
        Some("https://app.example.com/signed-out")
    );
    assert!(query_param(&location, "state").is_some_and(|v| v.len() >= 32));
    let hint = query_param(&location, "id_token_hint").unwrap();
    let payload = hint.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    assert_eq!((claims["sub"].as_str(), claims["sid"].as_str()), (Some(SUB), Some("sid-1")));
    assert!(!alive(&s.app, &token).await, "the local session ended first");

    // A redirect outside the allow-list is refused as a setting.
    let (st, b) = crate::support::oidc_support::patch_connection(
        &s.app,
        "acme",
        &s.conn,
        json!({"post_logout_redirect_uri": "https://evil.example.com/x"}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}
