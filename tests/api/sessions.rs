//! Sessions: issue, verify by cookie and bearer, JWKS, forged tokens,
//! logout, idle timeout, key rotation with overlap.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{spawn_app, spawn_app_with};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let h = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    let p = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    (serde_json::from_slice(&h).unwrap(), serde_json::from_slice(&p).unwrap())
}

#[tokio::test]
async fn session_works_by_cookie_and_bearer_and_keys_are_published() {
    let app = spawn_app().await;
    app.org("acme").await;
    let token = app.login("acme", "ann@acme.com", &[]).await.unwrap();
    let (header, claims) = parts(&token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(claims["org"], "acme");
    assert_eq!(claims["iss"], app.base.as_str());
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() == 8 * 3600);

    let (s, jwks) = app.send(reqwest::Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], header["kid"]);
    assert_eq!((keys[0]["kty"].as_str(), keys[0]["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    assert!(keys[0].get("d").is_none(), "no private part in the JWKS");

    let (s, me) = app.me(&token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["org"]["role"], "member");
    let resp = app
        .client
        .get(app.url("/v1/me"))
        .header("cookie", format!("theme=dark; idbridge_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (s, err) = app.send(reqwest::Method::GET, "/v1/me", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn forged_and_tampered_tokens_are_refused() {
    let app = spawn_app().await;
    app.org("acme").await;
    app.org("globex").await;
    let token = app.login("acme", "ann@acme.com", &[]).await.unwrap();
    let (header, claims) = parts(&token);
    let (_, jwks) = app.send(reqwest::Method::GET, "/.well-known/jwks.json", None, None).await;
    let public_x = URL_SAFE_NO_PAD.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
    let sig = token.rsplit('.').next().unwrap();

    let mut forged = Vec::new();
    // alg none, no signature.
    forged.push(format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": header["kid"]})),
        b64(&claims)
    ));
    // HS256 keyed with the public key.
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = header["kid"].as_str().map(String::from);
    forged.push(
        jsonwebtoken::encode(&hs, &claims, &jsonwebtoken::EncodingKey::from_secret(&public_x)).unwrap(),
    );
    // A valid signature over other claims (sub changed).
    let mut other = claims.clone();
    other["sub"] = json!("someone-else");
    forged.push(format!("{}.{}.{sig}", token.split('.').next().unwrap(), b64(&other)));
    // Another org in the claims.
    other = claims.clone();
    other["org"] = json!("globex");
    forged.push(format!("{}.{}.{sig}", token.split('.').next().unwrap(), b64(&other)));
    // Signed by an attacker's own Ed25519 key, offered in the header.
    let attacker = [7u8; 32];
    let mut der =
        vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&attacker);
    let ek = jsonwebtoken::EncodingKey::from_ed_der(&der);
    for kid in [header["kid"].as_str().unwrap(), "attacker-kid"] {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        h.kid = Some(kid.to_string());
        h.jku = Some("http://127.0.0.1:1/jwks.json".into());
        forged.push(jsonwebtoken::encode(&h, &claims, &ek).unwrap());
    }
    // Garbage.
    forged.push("not-a-token".into());
    forged.push(format!("{token}x"));
    for f in forged {
        let (s, err) = app.me(&f).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "accepted forged token {f}: {err}");
    }
    assert_eq!(app.me(&token).await.0, StatusCode::OK, "the genuine token still works");
}

#[tokio::test]
async fn logout_revokes_at_once() {
    let app = spawn_app().await;
    app.org("acme").await;
    let token = app.login("acme", "ann@acme.com", &[]).await.unwrap();
    let other = app.login("acme", "ann@acme.com", &[]).await.unwrap();
    let resp = app.client.post(app.url("/v1/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(app.me(&token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&other).await.0, StatusCode::OK, "only that session ended");
}

#[tokio::test]
async fn idle_sessions_end() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(dir, |c| c.session.idle = Duration::from_secs(1)).await;
    app.org("acme").await;
    let token = app.login("acme", "ann@acme.com", &[]).await.unwrap();
    assert_eq!(app.me(&token).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, err) = app.me(&token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(err["error"]["message"].as_str().unwrap().contains("idle"), "{err}");
}

#[tokio::test]
async fn key_rotation_keeps_old_sessions_valid_and_signs_with_the_new_key() {
    let app = spawn_app().await;
    app.org("acme").await;
    let old = app.login("acme", "ann@acme.com", &[]).await.unwrap();
    let old_kid = parts(&old).0["kid"].as_str().unwrap().to_string();
    let new_kid =
        idbridge::session::keys::rotate(&app.state.db, &app.state.secret_box, Duration::from_secs(3600))
            .await
            .unwrap();
    app.state.sessions.keys.reload(&app.state.db, &app.state.secret_box).await.unwrap();
    assert_ne!(old_kid, new_kid);
    let fresh = app.login("acme", "ann@acme.com", &[]).await.unwrap();
    assert_eq!(parts(&fresh).0["kid"], new_kid.as_str());
    assert_eq!(app.me(&old).await.0, StatusCode::OK);
    assert_eq!(app.me(&fresh).await.0, StatusCode::OK);
    let (_, jwks) = app.send(reqwest::Method::GET, "/.well-known/jwks.json", None, None).await;
    let kids: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [new_kid.as_str(), old_kid.as_str()]);
    // Private keys are sealed at rest: the stored blob is not the raw seed
    // and does not open without the secret key.
    let sealed: Vec<u8> = crate::support::helpers::raw_db(&app)
        .one_blob("SELECT private_key FROM signing_keys WHERE kid = ?1", &[old_kid.as_str().into()])
        .await;
    assert!(sealed.len() > 32 + 24);
    let wrong = idbridge::secrets::SecretBox::from_key(&[9u8; 32]);
    assert!(wrong.open("signing_key:x", &sealed).is_err());
}

#[tokio::test]
async fn login_starts_are_rate_limited_per_connection() {
    let app = spawn_app().await;
    for surface in ["saml", "oidc"] {
        // The limit counts in whole-second windows (shared by every node through
        // the store): start the burst just after a window begins.
        let ms = idbridge::clock::now().millisecond();
        tokio::time::sleep(Duration::from_millis(u64::from(1_000 - ms) + 10)).await;
        let mut statuses = Vec::new();
        for _ in 0..60 {
            let r = app
                .client
                .get(app.url(&format!("/{surface}/no-such-connection/login")))
                .send()
                .await
                .unwrap();
            statuses.push(r.status());
        }
        // The first 50 in a second get the normal answer (404 page for an unknown connection).
        assert!(
            statuses[..50].iter().all(|s| *s != StatusCode::TOO_MANY_REQUESTS),
            "{surface}: {statuses:?}"
        );
        assert!(statuses[50..].contains(&StatusCode::TOO_MANY_REQUESTS), "{surface}: {statuses:?}");
        // Another connection id has its own budget.
        let r = app.client.get(app.url(&format!("/{surface}/other-connection/login"))).send().await.unwrap();
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"idbridge_refusals_total{surface="saml",reason="rate_limited"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"idbridge_refusals_total{surface="oidc",reason="rate_limited"}"#));
}

#[tokio::test]
async fn housekeeping_drops_expired_state_and_old_sessions_only() {
    let app = spawn_app().await;
    app.org("acme").await;
    let live = app.login("acme", "ann@acme.com", &[]).await.unwrap();
    let user_id = app.member_id("acme", "ann@acme.com").await;
    let org_id = app.org_id("acme").await;
    app.state
        .db
        .write(move |c| -> Result<(), idbridge::store::StoreError> {
            let old = idbridge::store::sessions::SessionRow {
                jti: "old".into(),
                user_id,
                org_id,
                connection_id: None,
                created_at: "2020-01-01T00:00:00.000Z".into(),
                expires_at: "2020-01-01T08:00:00.000Z".into(),
                last_seen_at: "2020-01-01T00:00:00.000Z".into(),
                revoked_at: None,
                idp: Default::default(),
            };
            idbridge::store::sessions::insert(c, &old)?;
            let state = idbridge::store::login_states::LoginState {
                kind: "oidc_state".into(),
                key: "stale".into(),
                connection_id: "c".into(),
                data: "{}".into(),
                created_at: "2020-01-01T00:00:00.000Z".into(),
                expires_at: "2020-01-01T00:10:00.000Z".into(),
            };
            idbridge::store::login_states::insert(c, &state, "2020-01-01T00:00:00.000Z")
        })
        .await
        .unwrap();
    let (states, sessions) = idbridge::housekeeping(&app.state.db).await.unwrap();
    assert_eq!((states, sessions), (1, 1));
    assert_eq!(app.me(&live).await.0, StatusCode::OK, "live sessions stay");
    assert_eq!(idbridge::housekeeping(&app.state.db).await.unwrap(), (0, 0));
}
