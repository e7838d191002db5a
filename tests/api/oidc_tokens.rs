//! OIDC callback against crafted tokens from the in-process crafted provider
//! (oidc_forge): every ID token check of OIDC Core 3.1.3.7, the header
//! attacks, state/code replay, login CSRF, key rotation and the
//! rate-limited JWKS re-fetch. Each refusal must answer the 4xx page, count
//! its precise reason, and write no user and no session.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{TestApp, spawn_app};
use crate::support::oidc_forge::{CLIENT_SECRET, Forge, Plan, Signer, jwk, pem_der};
use crate::support::oidc_support::{
    Browser, Page, assert_refused, create_connection, is_callback, mapping, query_param, refusals, rows,
    with_param,
};

pub struct Setup {
    pub app: TestApp,
    pub forge: Forge,
    pub conn: String,
    pub browser: Browser,
}

pub async fn setup(extra: Value) -> Setup {
    let forge = Forge::start().await;
    let app = spawn_app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let (s, b) = app.put_mapping("acme", mapping()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let created = create_connection(&app, "acme", forge.connection(extra)).await;
    let conn = created["id"].as_str().unwrap().to_string();
    Setup { app, forge, conn, browser: Browser::new() }
}

impl Setup {
    pub fn login_url(&self) -> String {
        self.app.url(&format!("/oidc/{}/login?return_to=%2Fv1%2Fme", self.conn))
    }

    pub async fn login(&self, plan: Plan) -> Page {
        self.forge.plan(plan);
        self.browser.login(&self.login_url()).await
    }

    /// The login with `plan` is refused with `status` for `reason`, and
    /// nothing is written.
    pub async fn refused(&self, plan: Plan, status: StatusCode, reason: &str) -> Page {
        let (users, sessions) = (rows(&self.app, "users").await, rows(&self.app, "sessions").await);
        let before = refusals(&self.app, reason).await;
        let page = self.login(plan).await;
        assert_refused(&self.app, &page, status, reason, before).await;
        assert_eq!(rows(&self.app, "users").await, users, "a refused login wrote a user");
        assert_eq!(rows(&self.app, "sessions").await, sessions, "a refused login wrote a session");
        page
    }

    /// The login with `plan` succeeds: the session token.
    pub async fn accepted(&self, plan: Plan) -> String {
        let page = self.login(plan).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        page.session().unwrap_or_else(|| panic!("no session cookie: {page:?}"))
    }
}

fn claims(v: Value) -> Plan {
    Plan { claims: v, ..Plan::default() }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn oidc_crafted_valid_token_logs_in_with_roles() {
    let s = setup(json!({})).await;
    let token = s.accepted(Plan::default()).await;
    let (st, me) = s.app.me(&token).await;
    assert_eq!(st, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], "ann@example.com");
    assert_eq!(me["org"]["role"], "member");
    assert_eq!(me["projects"], json!([{"slug": "research", "role": "admin"}]));
    // ES256 is on the allow-list too.
    let token = s.accepted(Plan { signer: Signer::Ec, ..Plan::default() }).await;
    assert_eq!(s.app.me(&token).await.0, StatusCode::OK);
    assert_eq!(s.forge.hits().userinfo.load(std::sync::atomic::Ordering::SeqCst), 0, "claims were complete");
}

#[tokio::test]
async fn oidc_alg_none_is_refused() {
    let s = setup(json!({})).await;
    s.refused(Plan { signer: Signer::None, ..Plan::default() }, StatusCode::FORBIDDEN, "alg_not_allowed")
        .await;
}

#[tokio::test]
async fn oidc_hs256_keyed_with_the_public_key_is_refused() {
    let s = setup(json!({})).await;
    // The classic key-confusion forgery: HMAC with the provider's public key
    // (PEM text, then DER), and with the client secret.
    let pem =
        std::fs::read(format!("{}/fixtures/oidc/keys/rsa-a.pub.pem", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for secret in [pem, pem_der("rsa-a.pub.pem"), CLIENT_SECRET.as_bytes().to_vec()] {
        s.refused(
            Plan { signer: Signer::Hmac(secret), ..Plan::default() },
            StatusCode::FORBIDDEN,
            "alg_not_allowed",
        )
        .await;
    }
}

#[tokio::test]
async fn oidc_keys_offered_in_the_header_are_never_trusted() {
    let s = setup(json!({})).await;
    let attacker = jwk("rsa-b", "key-a", "RS256");
    for header in [
        json!({"jwk": attacker}),
        json!({"jku": format!("{}/jwks", s.forge.base)}),
        json!({"x5u": format!("{}/cert.pem", s.forge.base)}),
    ] {
        let plan = Plan { signer: Signer::Rsa("rsa-b"), header, ..Plan::default() };
        s.refused(plan, StatusCode::FORBIDDEN, "untrusted_key_in_header").await;
    }
    // Signed with another key under the provider's kid: the signature fails.
    let plan = Plan { signer: Signer::Rsa("rsa-b"), ..Plan::default() };
    s.refused(plan, StatusCode::FORBIDDEN, "bad_signature").await;
}

#[tokio::test]
async fn oidc_wrong_audience_is_refused() {
    let s = setup(json!({})).await;
    s.refused(claims(json!({"aud": "another-client"})), StatusCode::FORBIDDEN, "audience_mismatch").await;
    // An extra, untrusted audience.
    let plan = claims(json!({"aud": ["forge-client", "another-client"], "azp": "forge-client"}));
    s.refused(plan, StatusCode::FORBIDDEN, "audience_mismatch").await;
    s.refused(claims(json!({"azp": "another-client"})), StatusCode::FORBIDDEN, "azp_mismatch").await;
}

#[tokio::test]
async fn oidc_wrong_issuer_is_refused() {
    let s = setup(json!({})).await;
    s.refused(claims(json!({"iss": "https://evil.example.com"})), StatusCode::FORBIDDEN, "issuer_mismatch")
        .await;
    s.refused(claims(json!({"iss": format!("{}/", s.forge.base)})), StatusCode::FORBIDDEN, "issuer_mismatch")
        .await;
}

#[tokio::test]
async fn oidc_expired_and_badly_timed_tokens_are_refused() {
    let s = setup(json!({})).await;
    let t = now();
    // Expired beyond the one-minute leeway.
    s.refused(claims(json!({"iat": t - 300, "exp": t - 120})), StatusCode::FORBIDDEN, "expired").await;
    s.refused(claims(json!({"iat": t + 600, "exp": t + 900})), StatusCode::FORBIDDEN, "issued_in_future")
        .await;
    s.refused(claims(json!({"iat": t - 7200, "exp": t + 300})), StatusCode::FORBIDDEN, "issued_too_long_ago")
        .await;
    s.refused(claims(json!({"nbf": t + 600})), StatusCode::FORBIDDEN, "not_yet_valid").await;
    // Within the leeway: accepted.
    s.accepted(claims(json!({"iat": t - 40, "exp": t - 20}))).await;
}

#[tokio::test]
async fn oidc_wrong_or_missing_nonce_is_refused() {
    let s = setup(json!({})).await;
    s.refused(claims(json!({"nonce": "not-the-nonce"})), StatusCode::FORBIDDEN, "nonce_mismatch").await;
    s.refused(claims(json!({"nonce": null})), StatusCode::FORBIDDEN, "nonce_mismatch").await;
}

#[tokio::test]
async fn oidc_at_hash_must_match_the_access_token() {
    let s = setup(json!({})).await;
    s.refused(
        claims(json!({"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"})),
        StatusCode::FORBIDDEN,
        "at_hash_mismatch",
    )
    .await;
}

#[tokio::test]
async fn oidc_unknown_kid_refetches_jwks_once_then_rate_limits() {
    let s = setup(json!({})).await;
    assert_eq!(s.forge.jwks_hits(), 1, "discovery at connection creation");
    let plan = Plan { signer: Signer::Rsa("rsa-b"), header: json!({"kid": "made-up"}), ..Plan::default() };
    s.refused(plan.clone(), StatusCode::FORBIDDEN, "unknown_key").await;
    assert_eq!(s.forge.jwks_hits(), 2, "one re-fetch for an unknown kid");
    s.refused(plan, StatusCode::FORBIDDEN, "unknown_key").await;
    assert_eq!(s.forge.jwks_hits(), 2, "the re-fetch is rate-limited");
}

#[tokio::test]
async fn oidc_rotated_signing_key_is_picked_up_by_one_refetch() {
    let s = setup(json!({})).await;
    s.accepted(Plan::default()).await;
    // The provider rotates to key-b; idbridge's cached JWKS only has key-a.
    s.forge.set_jwks(json!({"keys": [jwk("rsa-b", "key-b", "RS256")]}));
    let plan = Plan { signer: Signer::Rsa("rsa-b"), header: json!({"kid": "key-b"}), ..Plan::default() };
    let token = s.accepted(plan).await;
    assert_eq!(s.app.me(&token).await.0, StatusCode::OK);
    assert_eq!(s.forge.jwks_hits(), 2);
}

#[tokio::test]
async fn oidc_unverified_email_is_not_used_to_match_or_create() {
    let s = setup(json!({})).await;
    let plan = claims(json!({"email_verified": false}));
    s.refused(plan.clone(), StatusCode::FORBIDDEN, "email_not_verified").await;

    // Matching by the provider's stable id, the login works but the
    // unverified address is not recorded.
    let s = setup(json!({"match_by": "external_id"})).await;
    let token = s.accepted(plan).await;
    assert_eq!(s.app.me(&token).await.0, StatusCode::OK);
    let emails: Vec<Option<String>> =
        crate::support::helpers::raw_db(&s.app).texts("SELECT email FROM users", &[]).await;
    assert_eq!(emails, vec![None], "the unverified address was recorded");
    // A missing claim (as Entra sends) is fine when matching by email.
    let s = setup(json!({})).await;
    s.accepted(claims(json!({"email_verified": null}))).await;
}

#[tokio::test]
async fn oidc_provider_error_gives_a_clear_page() {
    let s = setup(json!({})).await;
    let plan = Plan { error: Some("access_denied".into()), ..Plan::default() };
    let page = s.refused(plan, StatusCode::FORBIDDEN, "provider_denied").await;
    assert!(page.body.contains("did not allow this sign-in"), "{}", page.body);
    assert!(!page.body.contains("<b>crafted</b>"), "provider text is not echoed");
    assert_eq!(rows(&s.app, "login_states").await, 0, "the state was spent");
    let plan = Plan { error: Some("server_error".into()), ..Plan::default() };
    s.refused(plan, StatusCode::BAD_REQUEST, "provider_error").await;
}

#[tokio::test]
async fn oidc_wrong_state_replayed_state_and_replayed_code_are_refused() {
    let s = setup(json!({})).await;
    let callback = s.browser.follow_until(&s.login_url(), is_callback).await;
    // Wrong state: a value idbridge never issued.
    let before = refusals(&s.app, "unknown_state").await;
    let page = s.browser.get(&with_param(&callback, "state", "forged-state")).await;
    assert_refused(&s.app, &page, StatusCode::BAD_REQUEST, "unknown_state", before).await;
    // Missing state.
    let before = refusals(&s.app, "missing_state").await;
    let page = s.browser.get(&with_param(&callback, "state", "")).await;
    assert_refused(&s.app, &page, StatusCode::BAD_REQUEST, "missing_state", before).await;

    // The genuine callback works once...
    let page = s.browser.get(&callback).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(page.session().is_some());
    let sessions = rows(&s.app, "sessions").await;
    // ...and replaying it (state and code) is refused.
    let before = refusals(&s.app, "unknown_state").await;
    let page = s.browser.get(&callback).await;
    assert_refused(&s.app, &page, StatusCode::BAD_REQUEST, "unknown_state", before).await;

    // The used code with a fresh, genuine state: the provider refuses it.
    let fresh = s.browser.follow_until(&s.login_url(), is_callback).await;
    let replay = with_param(&fresh, "code", &query_param(&callback, "code").unwrap());
    let before = refusals(&s.app, "token_exchange_refused").await;
    let page = s.browser.get(&replay).await;
    assert_refused(&s.app, &page, StatusCode::BAD_REQUEST, "token_exchange_refused", before).await;
    assert_eq!(rows(&s.app, "sessions").await, sessions, "no new session");
    // Duplicate parameters are refused.
    let fresh = s.browser.follow_until(&s.login_url(), is_callback).await;
    let before = refusals(&s.app, "duplicate_parameter").await;
    let page = s.browser.get(&format!("{fresh}&code=second")).await;
    assert_refused(&s.app, &page, StatusCode::BAD_REQUEST, "duplicate_parameter", before).await;
}

#[tokio::test]
async fn oidc_callback_in_another_browser_is_refused() {
    // Login CSRF: the attacker starts a login, and sends the victim the
    // callback URL with the attacker's code.
    let s = setup(json!({})).await;
    let callback = s.browser.follow_until(&s.login_url(), is_callback).await;
    let victim = Browser::new();
    let before = refusals(&s.app, "state_not_bound").await;
    let page = victim.get(&callback).await;
    assert_refused(&s.app, &page, StatusCode::BAD_REQUEST, "state_not_bound", before).await;
    assert_eq!(rows(&s.app, "users").await, 0);
}

#[tokio::test]
async fn oidc_state_of_another_connection_is_refused() {
    let s = setup(json!({})).await;
    let other = create_connection(&s.app, "acme", s.forge.connection(json!({"name": "Other"}))).await;
    let callback = s.browser.follow_until(&s.login_url(), is_callback).await;
    let moved = callback.replace(&s.conn, other["id"].as_str().unwrap());
    let before = refusals(&s.app, "state_connection_mismatch").await;
    let page = s.browser.get(&moved).await;
    assert_refused(&s.app, &page, StatusCode::BAD_REQUEST, "state_connection_mismatch", before).await;
}

#[tokio::test]
async fn oidc_authorization_response_issuer_is_checked() {
    let s = setup(json!({})).await;
    // RFC 9207 mix-up defence: once announced, iss must be sent and right.
    s.forge.announce_iss_param();
    s.app.state.oidc.discovery.forget(&s.conn);
    let plan = Plan { response_iss: Some("https://evil.example.com".into()), ..Plan::default() };
    s.refused(plan, StatusCode::BAD_REQUEST, "response_issuer_mismatch").await;
    s.refused(Plan::default(), StatusCode::BAD_REQUEST, "response_issuer_mismatch").await;
    s.accepted(Plan { response_iss: Some(s.forge.base.clone()), ..Plan::default() }).await;
}

#[tokio::test]
async fn oidc_return_to_is_limited_to_the_allow_list() {
    let s = setup(json!({"allowed_origins": ["https://app.example.com"]})).await;
    for (asked, expected) in [
        ("https://app.example.com/home?x=1", "https://app.example.com/home?x=1".to_string()),
        ("https://evil.example.com/", s.app.url("/v1/me")),
        ("javascript:alert(1)", s.app.url("/v1/me")),
        ("//evil.example.com/x", s.app.url("/v1/me")),
    ] {
        let url = s.app.url(&format!("/oidc/{}/login?return_to={}", s.conn, urlencode(asked)));
        let page = s.browser.login(&url).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(page.location.as_deref(), Some(expected.as_str()), "return_to {asked}");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn oidc_login_of_an_unknown_connection_is_a_404_page() {
    let app = spawn_app().await;
    let page = Browser::new().get(&app.url("/oidc/no-such-connection/login")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Sign-in refused"));
    assert_eq!(refusals(&app, "unknown_connection").await, 1);
}
