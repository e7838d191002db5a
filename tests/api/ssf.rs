//! Shared Signals push (`POST /ssf/{id}/push`, RFC 8935) with SETs signed in
//! the test by the IdP of universal_logout.rs: CAEP session-revoked ends
//! sessions only, RISC events also revoke API keys, a jti is processed once,
//! and every refusal is a 400 with the RFC 8935 error body and no change.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::TestApp;
use crate::universal_logout::{Idp, Key, configure, key_allowed, merged, now, person, rand_id, setup};

const SSF_ISSUER: &str = "https://idp.example.test/ssf";
const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

struct Push<'a> {
    app: &'a TestApp,
    idp: Idp,
    id: String,
}

impl Push<'_> {
    fn url(&self) -> String {
        self.app.url(&format!("/ssf/{}/push", self.id))
    }

    /// A SET with one event about `email` (in `sub_id`).
    fn set(&self, event: &str, email: &str, patch: Value) -> String {
        let claims = json!({"iss": SSF_ISSUER, "aud": self.url(), "iat": now(), "jti": format!("set-{}", rand_id()),
            "sub_id": {"format": "email", "email": email}, "events": {event: {"event_timestamp": now()}}});
        self.idp.sign(Key::RsaA, json!({"typ": "secevent+jwt"}), merged(claims, patch))
    }

    async fn post_as(&self, content_type: &str, body: &str) -> (StatusCode, Value) {
        let resp = reqwest::Client::new()
            .post(self.url())
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, set: &str) -> (StatusCode, Value) {
        self.post_as("application/secevent+jwt", set).await
    }
}

async fn ready(app: &TestApp) -> Push<'_> {
    let idp = Idp::start().await;
    let (s, v) =
        configure(app, "acme", json!({"ssf_issuer": SSF_ISSUER, "ssf_jwks_uri": idp.jwks_url})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ssf_jwks_uri"].as_str(), Some(idp.jwks_url.as_str()));
    Push { app, idp, id: app.test_connection("acme").await }
}

#[tokio::test]
async fn caep_and_risc_events_end_the_subjects_sessions_once() {
    let app = setup().await;
    let push = ready(&app).await;
    let (ann, ann_key) = person(&app, "ann@acme.com").await;
    let (bob, bob_key) = person(&app, "bob@acme.com").await;

    // CAEP session-revoked: sessions end, API keys stay.
    let set = push.set(SESSION_REVOKED, "ann@acme.com", json!({}));
    let (s, v) = push.post(&set).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(app.me(&ann).await.0, StatusCode::UNAUTHORIZED);
    assert!(key_allowed(&app, &ann_key).await, "session-revoked leaves API keys");
    assert_eq!(app.me(&bob).await.0, StatusCode::OK);

    // The same SET again: accepted, not processed again (a new session survives).
    let ann = app.login("acme", "ann@acme.com", &["Staff", "Research"]).await.unwrap();
    assert_eq!(push.post(&set).await.0, StatusCode::ACCEPTED);
    assert_eq!(app.me(&ann).await.0, StatusCode::OK, "duplicate jti not re-processed");

    // RISC with the subject inside the event (pre-SSF 1.0 transmitters): keys go too.
    for (event, who, token, key) in [
        ("account-disabled", "ann@acme.com", &ann, &ann_key),
        ("credential-compromise", "bob@acme.com", &bob, &bob_key),
    ] {
        let claims = json!({"sub_id": null, "events": {format!("{RISC}{event}"):
            {"subject": {"format": "email", "email": who}}}});
        let (s, v) = push.post(&push.set("unused", who, claims)).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{event}: {v}");
        assert_eq!(app.me(token).await.0, StatusCode::UNAUTHORIZED, "{event}");
        assert!(!key_allowed(&app, key).await, "{event} revokes API keys");
    }
    for event in ["account-purged", "sessions-revoked"] {
        let (carl, carl_key) = person(&app, "carl@acme.com").await;
        let (s, v) = push.post(&push.set(&format!("{RISC}{event}"), "carl@acme.com", json!({}))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{event}: {v}");
        assert_eq!(app.me(&carl).await.0, StatusCode::UNAUTHORIZED, "{event}");
        assert!(!key_allowed(&app, &carl_key).await, "{event}");
    }
    let (_, events) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    let ssf: Vec<&Value> = events.as_array().unwrap().iter().filter(|e| e["action"] == "ssf.event").collect();
    assert_eq!(ssf.len(), 5, "one audit event per SET processed: {ssf:?}");
}

#[tokio::test]
async fn sets_that_cannot_be_trusted_are_refused_with_rfc8935_errors_and_change_nothing() {
    let app = setup().await;
    let push = ready(&app).await;
    let (ann, ann_key) = person(&app, "ann@acme.com").await;
    let globex = app.login("globex", "gina@globex.com", &[]).await.unwrap();
    let risc = format!("{RISC}account-disabled");
    let claims = |patch: Value| {
        merged(
            json!({"iss": SSF_ISSUER, "aud": push.url(), "iat": now(), "jti": format!("set-{}", rand_id()),
                "sub_id": {"format": "email", "email": "ann@acme.com"}, "events": {risc.clone(): {}}}),
            patch,
        )
    };
    let typ = json!({"typ": "secevent+jwt"});
    let cases: Vec<(&str, String, &str)> = vec![
        ("another key", push.idp.sign(Key::RsaB, typ.clone(), claims(json!({}))), "invalid_key"),
        ("alg none", push.idp.sign(Key::None, typ.clone(), claims(json!({}))), "invalid_key"),
        ("HS256", push.idp.sign(Key::Hmac, typ.clone(), claims(json!({}))), "invalid_key"),
        ("unknown kid", push.idp.sign(Key::RsaA, json!({"kid": "zz"}), claims(json!({}))), "invalid_key"),
        (
            "x5u",
            push.idp.sign(Key::RsaA, json!({"x5u": "https://e.example/c"}), claims(json!({}))),
            "invalid_request",
        ),
        ("typ JWT", push.idp.sign(Key::RsaA, json!({"typ": "JWT"}), claims(json!({}))), "invalid_request"),
        (
            "wrong iss",
            push.idp.sign(Key::Ec, typ.clone(), claims(json!({"iss": "https://evil"}))),
            "invalid_issuer",
        ),
        (
            "wrong aud",
            push.idp.sign(Key::Ec, typ.clone(), claims(json!({"aud": "https://x/push"}))),
            "invalid_audience",
        ),
        ("no iat", push.idp.sign(Key::Ec, typ.clone(), claims(json!({"iat": null}))), "invalid_request"),
        (
            "too old",
            push.idp.sign(Key::Ec, typ.clone(), claims(json!({"iat": now() - 90_000}))),
            "invalid_request",
        ),
        (
            "expired",
            push.idp.sign(Key::Ec, typ.clone(), claims(json!({"exp": now() - 600}))),
            "invalid_request",
        ),
        ("no jti", push.idp.sign(Key::Ec, typ.clone(), claims(json!({"jti": null}))), "invalid_request"),
        (
            "unknown event",
            push.idp.sign(Key::Ec, typ.clone(), claims(json!({"events": {"https://example.com/evil": {}}}))),
            "invalid_request",
        ),
        ("not a JWT", "garbage".to_string(), "invalid_request"),
    ];
    for (what, set, err) in cases {
        let (s, v) = push.post(&set).await;
        assert_eq!((s, v["err"].as_str()), (StatusCode::BAD_REQUEST, Some(err)), "{what}: {v}");
        assert!(v["description"].as_str().is_some_and(|d| !d.is_empty()), "{what}");
        assert_eq!(app.me(&ann).await.0, StatusCode::OK, "{what} changed nothing");
    }
    let good = push.set(&risc, "ann@acme.com", json!({}));
    let (s, v) = push.post_as("application/json", &good).await;
    assert_eq!((s, v["err"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{v}");
    assert!(key_allowed(&app, &ann_key).await);

    // Nobody of this org (another org's person, an unknown one), and the
    // verification event: accepted, nothing ended.
    for who in ["gina@globex.com", "nobody@acme.com"] {
        assert_eq!(push.post(&push.set(&risc, who, json!({}))).await.0, StatusCode::ACCEPTED, "{who}");
    }
    let verification = push.set(VERIFICATION, "x", json!({"sub_id": {"format": "opaque", "id": "stream-1"}}));
    assert_eq!(push.post(&verification).await.0, StatusCode::ACCEPTED);
    assert_eq!(app.me(&globex).await.0, StatusCode::OK);
    assert_eq!(app.me(&ann).await.0, StatusCode::OK);

    // ssf_audience replaces the push URL as the required aud.
    let (s, _) = configure(&app, "acme", json!({"ssf_audience": "https://receiver.example/acme"})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = push.post(&good).await;
    assert_eq!((s, v["err"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_audience")));
    let set = push.set(&risc, "ann@acme.com", json!({"aud": ["https://receiver.example/acme"]}));
    assert_eq!(push.post(&set).await.0, StatusCode::ACCEPTED);
    assert_eq!(app.me(&ann).await.0, StatusCode::UNAUTHORIZED);
    assert!(!key_allowed(&app, &ann_key).await);

    // No SSF settings: invalid_issuer.
    let (_, c) =
        app.admin_post("/admin/v1/orgs/acme/connections", json!({"kind": "saml", "name": "s"})).await;
    let other =
        Push { app: &app, idp: Idp { jwks_url: String::new() }, id: c["id"].as_str().unwrap().into() };
    let (s, v) = other.post(&set).await;
    assert_eq!((s, v["err"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_issuer")), "{v}");
}
