//! Shared Signals poll mode (RFC 8936) against a transmitter on 127.0.0.1
//! that checks its bearer token, serves SETs signed in the test (keys of
//! universal_logout.rs's `Idp`) and records every poll request. Rounds are
//! triggered through `signals::poll::poll_round` (the background loop runs
//! every 30 s in the server as well; rounds are serialised).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::support::helpers::{ADMIN_TOKEN, TestApp};
use crate::universal_logout::{Idp, Key, configure, now, person, rand_id, setup};
use idbridge::signals::poll::{PollError, poll_round};

const SSF_ISSUER: &str = "https://idp.example.test/ssf";
const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const TOKEN: &str = "tx-bearer-7c1d9e0f5a";

#[derive(Default)]
struct Tx {
    /// The token the transmitter accepts.
    token: String,
    /// SETs served by the next answer (then emptied).
    serve: Map<String, Value>,
    /// Every authenticated request's body.
    requests: Vec<Value>,
    /// Requests refused for their token.
    unauthorized: usize,
}

type Shared = Arc<Mutex<Tx>>;

async fn poll_endpoint(State(tx): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut tx = tx.lock().unwrap();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if auth != format!("Bearer {}", tx.token) {
        tx.unauthorized += 1;
        return AxStatus::UNAUTHORIZED.into_response();
    }
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{ct}");
    tx.requests.push(serde_json::from_slice(&body).unwrap());
    let sets = std::mem::take(&mut tx.serve);
    axum::Json(json!({"sets": sets, "moreAvailable": false})).into_response()
}

async fn transmitter() -> (String, Shared) {
    let tx: Shared = Arc::new(Mutex::new(Tx { token: TOKEN.into(), ..Tx::default() }));
    let app = Router::new().route("/poll", post(poll_endpoint)).with_state(tx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/poll"), tx)
}

async fn ssf_events(app: &TestApp) -> usize {
    let (_, events) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    events.as_array().unwrap().iter().filter(|e| e["action"] == "ssf.event").count()
}

fn last_request(tx: &Shared) -> Value {
    tx.lock().unwrap().requests.last().cloned().unwrap()
}

#[tokio::test]
async fn polled_sets_are_verified_like_pushed_ones_then_acked_or_reported() {
    let app = setup().await;
    let idp = Idp::start().await;
    let (poll_url, tx) = transmitter().await;
    let (s, v) = configure(
        &app,
        "acme",
        json!({"ssf_issuer": SSF_ISSUER, "ssf_jwks_uri": idp.jwks_url, "ssf_poll_url": poll_url,
            "ssf_poll_token": TOKEN}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["ssf_poll_url"].as_str(), &v["ssf_poll_token_set"]),
        (Some(poll_url.as_str()), &json!(true))
    );
    let id = app.test_connection("acme").await;
    let (_, shown) = app.admin_get(&format!("/admin/v1/orgs/acme/connections/{id}")).await;
    for body in [&v, &shown] {
        assert!(!body.to_string().contains(TOKEN), "the poll token is never shown: {body}");
        assert!(
            body.get("ssf_poll_token").is_none() && body.get("ssf_poll_token_sealed").is_none(),
            "{body}"
        );
    }

    let (ann, _) = person(&app, "ann@acme.com").await;
    let (bob, _) = person(&app, "bob@acme.com").await;
    let set = |key: Key, email: &str| {
        let jti = format!("poll-{}", rand_id());
        let claims = json!({"iss": SSF_ISSUER, "aud": poll_url, "iat": now(), "jti": jti,
            "sub_id": {"format": "email", "email": email}, "events": {SESSION_REVOKED: {"event_timestamp": now()}}});
        (jti, idp.sign(key, json!({"typ": "secevent+jwt"}), claims))
    };
    let (good_jti, good) = set(Key::RsaA, "ann@acme.com");
    // Signed by a forger's key under the transmitter's kid, about bob.
    let (forged_jti, forged) = set(Key::RsaB, "bob@acme.com");
    tx.lock().unwrap().serve =
        Map::from_iter([(good_jti.clone(), json!(good)), (forged_jti.clone(), json!(forged))]);

    let round = poll_round(&app.state).await;
    assert_eq!(round.len(), 1, "{round:?}");
    let polled = round[0].1.as_ref().unwrap();
    assert_eq!((polled.requests, polled.processed, polled.refused), (1, 1, 1), "{polled:?}");
    let first = last_request(&tx);
    assert_eq!(first["maxEvents"], 100);
    assert_eq!(first["returnImmediately"], true);
    assert_eq!((&first["ack"], &first["setErrs"]), (&json!([]), &json!({})));
    assert_eq!(app.me(&ann).await.0, StatusCode::UNAUTHORIZED, "session-revoked ended ann's session");
    assert_eq!(app.me(&bob).await.0, StatusCode::OK, "the forged SET changed nothing");
    assert_eq!(ssf_events(&app).await, 1);

    // The next request acknowledges the good SET and reports the forged one;
    // the good SET served again is not processed again, and acknowledged.
    let ann = app.login("acme", "ann@acme.com", &["Staff", "Research"]).await.unwrap();
    tx.lock().unwrap().serve = Map::from_iter([(good_jti.clone(), json!(good))]);
    let round = poll_round(&app.state).await;
    assert_eq!(round[0].1.as_ref().unwrap().duplicates, 1, "{round:?}");
    let second = last_request(&tx);
    assert_eq!(second["ack"], json!([good_jti]));
    let errs = second["setErrs"].as_object().unwrap();
    assert_eq!(errs.keys().collect::<Vec<_>>(), vec![&forged_jti], "{second}");
    assert_eq!(errs[&forged_jti]["err"], "invalid_key");
    assert!(errs[&forged_jti]["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(app.me(&ann).await.0, StatusCode::OK, "a re-delivered SET is not re-processed");
    assert_eq!(ssf_events(&app).await, 1);

    // The transmitter refuses the token (401): logged, counted, and the
    // pending ack of the duplicate is re-sent once it accepts again.
    tx.lock().unwrap().token = "rotated".into();
    let round = poll_round(&app.state).await;
    assert!(matches!(&round[0].1, Err(e @ PollError::Fetch(_)) if e.reason() == "unauthorized"), "{round:?}");
    assert_eq!(tx.lock().unwrap().unauthorized, 1);
    assert!(app.state.metrics.render().contains(r#"surface="ssf_poll",reason="unauthorized""#));
    tx.lock().unwrap().token = TOKEN.into();
    assert!(poll_round(&app.state).await[0].1.is_ok());
    let retried = last_request(&tx);
    assert_eq!((&retried["ack"], &retried["setErrs"]), (&json!([good_jti]), &json!({})), "{retried}");
    assert_eq!(tx.lock().unwrap().requests.len(), 3);
    // Delivered: nothing is owed any more. A SET listed under another name
    // than its jti is refused (the ack would name a SET never processed).
    let (_, misnamed) = set(Key::RsaA, "bob@acme.com");
    tx.lock().unwrap().serve = Map::from_iter([("not-its-jti".to_string(), json!(misnamed))]);
    poll_round(&app.state).await;
    assert_eq!((&last_request(&tx)["ack"], &last_request(&tx)["setErrs"]), (&json!([]), &json!({})));
    assert_eq!(app.me(&bob).await.0, StatusCode::OK);
    poll_round(&app.state).await;
    assert_eq!(last_request(&tx)["setErrs"]["not-its-jti"]["err"], "invalid_request");
    assert_eq!(ssf_events(&app).await, 1);
}

#[tokio::test]
async fn poll_settings_are_validated_and_the_token_is_write_only() {
    let app = setup().await;
    let trust = json!({"ssf_issuer": SSF_ISSUER, "ssf_jwks_uri": "https://idp.example.com/jwks"});
    for (bad, field) in [
        (json!({"ssf_poll_url": "https://tx.example.com/poll", "ssf_poll_token": "t"}), "ssf_poll_url"),
        (merged_with(&trust, json!({"ssf_poll_url": "https://tx.example.com/poll"})), "ssf_poll_token"),
        (
            merged_with(&trust, json!({"ssf_poll_url": "http://tx.example.com/poll", "ssf_poll_token": "t"})),
            "ssf_poll_url",
        ),
        (
            merged_with(&trust, json!({"ssf_poll_url": "http://10.0.0.1/poll", "ssf_poll_token": "t"})),
            "ssf_poll_url",
        ),
        (
            merged_with(&trust, json!({"ssf_poll_url": "https://tx.example.com/p", "ssf_poll_token": "a b"})),
            "ssf_poll_token",
        ),
        (merged_with(&trust, json!({"ssf_poll_token": 7})), "ssf_poll_token"),
    ] {
        let (s, v) = configure(&app, "acme", bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(field), "{bad}: {v}");
    }
    // SAML takes the same settings and never shows the token.
    let (s, c) =
        app.admin_post("/admin/v1/orgs/acme/connections", json!({"kind": "saml", "name": "s"})).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["ssf_poll_token_set"], false);
    let path = format!("/admin/v1/orgs/acme/connections/{}", c["id"].as_str().unwrap());
    let set =
        merged_with(&trust, json!({"ssf_poll_url": "https://tx.example.com/poll", "ssf_poll_token": TOKEN}));
    let (s, v) = app.send(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(set)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = app.admin_get(&path).await;
    assert_eq!(
        (v["ssf_poll_url"].as_str(), &v["ssf_poll_token_set"]),
        (Some("https://tx.example.com/poll"), &json!(true))
    );
    assert!(!v.to_string().contains(TOKEN), "{v}");
    let clear = json!({"ssf_poll_url": null, "ssf_poll_token": null});
    let (s, v) = app.send(Method::PATCH, &path, Some(ADMIN_TOKEN), Some(clear)).await;
    assert_eq!(
        (s, &v["ssf_poll_token_set"], &v["ssf_poll_url"]),
        (StatusCode::OK, &json!(false), &Value::Null),
        "{v}"
    );
}

fn merged_with(base: &Value, patch: Value) -> Value {
    crate::universal_logout::merged(base.clone(), patch)
}
