//! Universal Logout (`POST /idp/{id}/global-token-revocation`) against a
//! real signer: an IdP on 127.0.0.1 serving its JWKS (fixtures/oidc/keys),
//! bearer JWTs signed in the test. Every positive case checks the person's
//! sessions and API keys are gone and everyone else's stay; every negative
//! case changes nothing. `Idp` is shared with ssf.rs.

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::helpers::{ADMIN_TOKEN, TestApp, spawn_app};
use crate::support::oidc_forge::{jwk, pem_der};

pub const ISSUER: &str = "https://idp.example.test/okta";

/// An IdP that publishes rsa-a (kid "a") and ec-a (kid "e") at `jwks_url`.
pub struct Idp {
    pub jwks_url: String,
}

/// Which key signs.
#[derive(Clone, Copy)]
pub enum Key {
    RsaA,
    RsaB,
    Ec,
    None,
    Hmac,
}

impl Idp {
    pub async fn start() -> Idp {
        let jwks = json!({"keys": [jwk("rsa-a", "a", "RS256"), jwk("ec-a", "e", "ES256")]});
        let app = Router::new().route("/jwks", get(move || async move { axum::Json(jwks.clone()) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Idp { jwks_url: format!("http://{addr}/jwks") }
    }

    /// A compact JWS of `claims` with `header` (alg and kid filled in unless given).
    pub fn sign(&self, key: Key, header: Value, claims: Value) -> String {
        let (alg, kid, ek) = match key {
            Key::RsaA => {
                ("RS256", "a", Some((Algorithm::RS256, EncodingKey::from_rsa_der(&pem_der("rsa-a.key.pem")))))
            }
            // rsa-b, presented under rsa-a's kid: a forger's key.
            Key::RsaB => {
                ("RS256", "a", Some((Algorithm::RS256, EncodingKey::from_rsa_der(&pem_der("rsa-b.key.pem")))))
            }
            Key::Ec => {
                ("ES256", "e", Some((Algorithm::ES256, EncodingKey::from_ec_der(&pem_der("ec-a.key.pem")))))
            }
            Key::None => ("none", "a", None),
            Key::Hmac => {
                ("HS256", "a", Some((Algorithm::HS256, EncodingKey::from_secret(b"public-key-bytes"))))
            }
        };
        let mut h = json!({"alg": alg, "kid": kid});
        for (k, v) in header.as_object().unwrap() {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = match ek {
            Some((alg, ek)) => jsonwebtoken::crypto::sign(input.as_bytes(), &ek, alg).unwrap(),
            None => String::new(),
        };
        format!("{input}.{sig}")
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Overlay `patch` on `base` (`null` removes a member).
pub fn merged(base: Value, patch: Value) -> Value {
    let mut out = base;
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            out.as_object_mut().unwrap().remove(k);
        } else {
            out[k] = v.clone();
        }
    }
    out
}

/// Orgs acme (project research, Staff → member, Research → project member) and globex.
pub async fn setup() -> TestApp {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    app.project("acme", "research").await;
    let rules = json!({"default_org_role": "none", "rules": [
        {"group": "Staff", "org_role": "member"},
        {"group": "Research", "projects": {"research": "member"}}]});
    assert_eq!(app.put_mapping("acme", rules.clone()).await.0, StatusCode::OK);
    assert_eq!(
        app.put_mapping("globex", json!({"default_org_role": "member", "rules": []})).await.0,
        StatusCode::OK
    );
    app
}

/// PATCH the test connection of `org` with `settings`.
pub async fn configure(app: &TestApp, org: &str, settings: Value) -> (StatusCode, Value) {
    let id = app.test_connection(org).await;
    let path = format!("/admin/v1/orgs/{org}/connections/{id}");
    app.send(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(settings)).await
}

/// A session of `email` in acme and an API key it made on research.
pub async fn person(app: &TestApp, email: &str) -> (String, String) {
    let token = app.login("acme", email, &["Staff", "Research"]).await.unwrap();
    let keys = "/v1/orgs/acme/projects/research/api-keys";
    let (s, k) = app.send(Method::POST, keys, Some(&token), Some(json!({"name": "ci"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    (token, k["key"].as_str().unwrap().to_string())
}

/// A login of `email` in acme whose IdP session names the person `subject` (as an OIDC `sub`).
pub async fn login_as_subject(app: &TestApp, email: &str, subject: &str) -> String {
    let facts = idbridge::session::login::LoginFacts {
        connection_id: app.test_connection("acme").await,
        org_id: app.org_id("acme").await,
        subject: subject.into(),
        email: Some(email.into()),
        groups: Some(vec!["Staff".into(), "Research".into()]),
        jit: true,
        idp_session: idbridge::session::login::IdpSession {
            subject: Some(subject.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let (issued, _) = idbridge::session::login::complete(
        &app.state.db,
        app.state.sessions.clone(),
        &app.state.public_url,
        facts,
    )
    .await
    .unwrap();
    issued.token
}

pub async fn key_allowed(app: &TestApp, key: &str) -> bool {
    let body = json!({"credential": key, "action": "models.use", "org": "acme", "project": "research"});
    let (s, v) = app.send(Method::POST, "/v1/authz/check", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["allow"] == true
}

struct Ul<'a> {
    app: &'a TestApp,
    idp: Idp,
    id: String,
}

impl Ul<'_> {
    fn claims(&self) -> Value {
        let aud = self.app.url(&format!("/idp/{}/global-token-revocation", self.id));
        json!({"iss": ISSUER, "aud": aud, "iat": now(), "exp": now() + 300,
            "jti": format!("jti-{}", rand_id()), "sub": "okta-app"})
    }

    fn token(&self, key: Key, header: Value, patch: Value) -> String {
        self.idp.sign(key, header, merged(self.claims(), patch))
    }

    async fn post(&self, bearer: Option<&str>, body: &str) -> (StatusCode, Value) {
        let mut req = reqwest::Client::new()
            .post(self.app.url(&format!("/idp/{}/global-token-revocation", self.id)))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

pub fn rand_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn email_body(email: &str) -> String {
    json!({"sub_id": {"format": "email", "email": email}}).to_string()
}

async fn ready(app: &TestApp) -> Ul<'_> {
    let idp = Idp::start().await;
    let (s, v) =
        configure(app, "acme", json!({"logout_issuer": ISSUER, "logout_jwks_uri": idp.jwks_url})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["logout_issuer"].as_str(), v["ssf_issuer"].clone()), (Some(ISSUER), Value::Null), "{v}");
    Ul { app, idp, id: app.test_connection("acme").await }
}

#[tokio::test]
async fn universal_logout_ends_every_session_and_api_key_of_that_person_only() {
    let app = setup().await;
    let ul = ready(&app).await;
    let (ann, ann_key) = person(&app, "ann@acme.com").await;
    let ann2 = app.login("acme", "ann@acme.com", &["Staff", "Research"]).await.unwrap();
    let (bob, bob_key) = person(&app, "bob@acme.com").await;
    assert!(key_allowed(&app, &ann_key).await);

    let token = ul.token(Key::RsaA, json!({}), json!({}));
    let (s, v) = ul.post(Some(&token), &email_body("ANN@acme.com")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(app.me(&ann).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&ann2).await.0, StatusCode::UNAUTHORIZED);
    assert!(!key_allowed(&app, &ann_key).await, "API key revoked");
    assert_eq!(app.me(&bob).await.0, StatusCode::OK, "someone else's session stays");
    assert!(key_allowed(&app, &bob_key).await);

    // Audited, in acme, with what was ended.
    let (_, events) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    let e = events.as_array().unwrap().iter().find(|e| e["action"] == "session.universal_logout").unwrap();
    assert_eq!(
        (e["detail"]["sessions_ended"].as_i64(), e["detail"]["api_keys_revoked"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(e["detail"]["subject_format"], "email");

    // The platform learns it as change events, written with the revocation.
    let (s, changes) = app.admin_get("/admin/v1/orgs/acme/events?limit=1000").await;
    assert_eq!(s, StatusCode::OK, "{changes}");
    let of = |t: &str| -> Vec<Value> {
        changes.as_array().unwrap().iter().filter(|e| e["type"] == t).cloned().collect()
    };
    let revoked = of("session.revoked");
    let ann_id =
        revoked.iter().find(|e| e["data"]["reason"] == "idp_logout").map(|e| e["data"]["user_id"].clone());
    assert!(ann_id.is_some(), "session.revoked for the signal: {changes}");
    let keys = of("api_key.revoked");
    assert!(
        keys.iter().any(|e| e["data"]["user_id"] == ann_id.clone().unwrap()),
        "api_key.revoked for ann's key: {changes}"
    );

    // The same token again: single use.
    let (s, v) = ul.post(Some(&token), &email_body("bob@acme.com")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("already used"), "{v}");
    assert_eq!(app.me(&bob).await.0, StatusCode::OK);

    // iss_sub: the IdP's subject as a session of this connection recorded it.
    let bob_idp = login_as_subject(&app, "bob@acme.com", "00u-bob").await;
    let body = json!({"sub_id": {"format": "iss_sub", "iss": ISSUER, "sub": "00u-bob"}}).to_string();
    let (s, v) = ul.post(Some(&ul.token(Key::Ec, json!({}), json!({}))), &body).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(
        app.me(&bob).await.0,
        StatusCode::UNAUTHORIZED,
        "every session, not only the one naming 00u-bob"
    );
    assert_eq!(app.me(&bob_idp).await.0, StatusCode::UNAUTHORIZED);
    assert!(!key_allowed(&app, &bob_key).await);
}

#[tokio::test]
async fn universal_logout_refuses_what_it_cannot_trust_and_changes_nothing() {
    let app = setup().await;
    let ul = ready(&app).await;
    let (ann, ann_key) = person(&app, "ann@acme.com").await;
    let globex = app.login("globex", "gina@globex.com", &[]).await.unwrap();
    let body = email_body("ann@acme.com");

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no bearer", None),
        ("not a JWT", Some("abc".into())),
        ("another key", Some(ul.token(Key::RsaB, json!({}), json!({})))),
        ("alg none", Some(ul.token(Key::None, json!({}), json!({})))),
        ("HS256", Some(ul.token(Key::Hmac, json!({}), json!({})))),
        ("alg case", Some(ul.token(Key::RsaA, json!({"alg": "rs256"}), json!({})))),
        ("unknown kid", Some(ul.token(Key::RsaA, json!({"kid": "zz"}), json!({})))),
        ("embedded jwk", Some(ul.token(Key::RsaA, json!({"jwk": jwk("rsa-b", "a", "RS256")}), json!({})))),
        ("jku", Some(ul.token(Key::RsaA, json!({"jku": "http://127.0.0.1:1/jwks"}), json!({})))),
        ("wrong iss", Some(ul.token(Key::RsaA, json!({}), json!({"iss": "https://evil.example"})))),
        ("wrong aud", Some(ul.token(Key::RsaA, json!({}), json!({"aud": "https://other.example/gtr"})))),
        ("expired", Some(ul.token(Key::RsaA, json!({}), json!({"exp": now() - 600})))),
        ("no exp", Some(ul.token(Key::RsaA, json!({}), json!({"exp": null})))),
        ("no jti", Some(ul.token(Key::RsaA, json!({}), json!({"jti": null})))),
    ];
    for (what, bearer) in cases {
        let (s, v) = ul.post(bearer.as_deref(), &body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {v}");
        assert_eq!(app.me(&ann).await.0, StatusCode::OK, "{what} changed nothing");
    }
    let good = ul.token(Key::RsaA, json!({}), json!({}));
    for bad in ["{}", "nope", r#"{"sub_id":{"format":"phone_number","phone_number":"+1"}}"#] {
        assert_eq!(ul.post(Some(&good), bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    // A person of another org only, and nobody at all: 404, nothing ended.
    for who in ["gina@globex.com", "nobody@acme.com"] {
        let (s, v) = ul.post(Some(&good), &email_body(who)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{who}: {v}");
    }
    let body_other =
        json!({"sub_id": {"format": "iss_sub", "iss": "https://evil.example", "sub": "ann@acme.com"}});
    assert_eq!(ul.post(Some(&good), &body_other.to_string()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.me(&globex).await.0, StatusCode::OK);
    assert_eq!(app.me(&ann).await.0, StatusCode::OK);
    assert!(key_allowed(&app, &ann_key).await);
    // Refusals rolled back: the token's jti was not consumed.
    assert_eq!(ul.post(Some(&good), &body).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.me(&ann).await.0, StatusCode::UNAUTHORIZED);

    // A SAML connection without Universal Logout settings, and an unknown connection.
    let ann = app.login("acme", "ann@acme.com", &["Staff"]).await.unwrap();
    let (_, c) =
        app.admin_post("/admin/v1/orgs/acme/connections", json!({"kind": "saml", "name": "s"})).await;
    let t = ul.token(Key::RsaA, json!({}), json!({}));
    let saml = Ul { app: &app, idp: Idp { jwks_url: String::new() }, id: c["id"].as_str().unwrap().into() };
    let (s, v) = saml.post(Some(&t), &body).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("not configured"), "{v}");
    let unknown = Ul { app: &app, idp: Idp { jwks_url: String::new() }, id: "nope".into() };
    assert_eq!(unknown.post(Some(&t), &body).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.me(&ann).await.0, StatusCode::OK);
}

#[tokio::test]
async fn signal_settings_are_validated_at_save_time_on_both_kinds() {
    let app = setup().await;
    for (bad, field) in [
        (json!({"logout_jwks_uri": "http://10.0.0.1/jwks"}), "logout_jwks_uri"),
        (json!({"ssf_issuer": "https://i", "ssf_jwks_uri": "ftp://example.com/jwks"}), "ssf_jwks_uri"),
        (json!({"ssf_issuer": "https://i"}), "ssf_jwks_uri"),
        (json!({"ssf_audience": "has space"}), "ssf_audience"),
        (json!({"logout_issuer": 7}), "body"),
        (json!({"ssf_whatever": "x"}), "ssf_whatever"),
    ] {
        let (s, v) = configure(&app, "acme", bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(field), "{bad}: {v}");
    }
    // SAML: a pending connection takes the same settings and shows them.
    let (s, c) =
        app.admin_post("/admin/v1/orgs/acme/connections", json!({"kind": "saml", "name": "okta saml"})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let path = format!("/admin/v1/orgs/acme/connections/{}", c["id"].as_str().unwrap());
    let set = json!({"ssf_issuer": "https://i", "ssf_jwks_uri": "https://i.example.com/jwks",
        "ssf_audience": "https://aud", "logout_issuer": "https://i", "logout_jwks_uri": "https://i.example.com/k"});
    let (s, v) = app.send(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(set.clone())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = app.admin_get(&path).await;
    for (k, want) in set.as_object().unwrap() {
        assert_eq!(&v[k], want, "{k}");
    }
    let bad = json!({"logout_jwks_uri": "http://169.254.169.254/latest"});
    assert_eq!(
        app.send(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(bad)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (s, v) = app.send(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(json!({"ssf_audience": null}))).await;
    assert_eq!((s, v["ssf_audience"].clone()), (StatusCode::OK, Value::Null));
}
