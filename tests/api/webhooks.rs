//! Webhooks: the admin API (secret shown once), and delivery to a real
//! receiver that verifies every signature — order, retries with the same
//! `webhook-id`, a receiver that was down, rotation, test ping, filters,
//! deletion, org isolation, delivery state in GET. Events are appended
//! with store::events::append (the outbox writes them from real changes).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::helpers::{TestApp, spawn_app_with};
use crate::support::webhook_receiver::Receiver;

async fn app() -> TestApp {
    spawn_app_with(tempfile::tempdir().unwrap(), |c| {
        c.webhook_delivery.retry_base = Duration::from_millis(20);
        c.webhook_delivery.retry_cap = Duration::from_millis(200);
    })
    .await
}

/// Append an event `kind` with data `{"n": n}` to `org`, as the outbox does.
pub async fn event(app: &TestApp, org: &str, kind: &str, n: i64) -> i64 {
    let (org, kind) = (org.to_string(), kind.to_string());
    let id = app
        .state
        .db
        .write(move |c| {
            let o = idbridge::store::orgs::org_by_slug(c, &org)?.unwrap();
            idbridge::store::events::append(c, &o.id, &kind, &idbridge::clock::now_str(), &json!({"n": n}))
        })
        .await
        .unwrap();
    app.state.webhooks.notify();
    id
}

/// Create a webhook; returns (id, secret).
async fn hook(app: &TestApp, org: &str, url: &str, events: Option<Value>) -> (String, String) {
    let mut body = json!({"url": url});
    if let Some(e) = events {
        body["events"] = e;
    }
    let (s, b) = app.admin_post(&format!("/admin/v1/orgs/{org}/webhooks"), body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    (b["id"].as_str().unwrap().to_string(), b["secret"].as_str().unwrap().to_string())
}

async fn listed(app: &TestApp, org: &str) -> Vec<Value> {
    let (s, b) = app.admin_get(&format!("/admin/v1/orgs/{org}/webhooks")).await;
    assert_eq!(s, StatusCode::OK);
    b.as_array().unwrap().clone()
}

#[tokio::test]
async fn webhooks_are_created_listed_and_deleted_with_the_secret_shown_once() {
    let app = app().await;
    app.org("acme").await;
    let base = "/admin/v1/orgs/acme/webhooks";
    let (s, b) =
        app.admin_post(base, json!({"url": "http://127.0.0.1:9/h", "events": ["member.added"]})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let secret = b["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert!(idbridge::webhooks::signing::decode_secret(secret).unwrap().len() >= 24);
    assert_eq!(b["events"], json!(["member.added"]));
    let id = b["id"].as_str().unwrap().to_string();

    let list = listed(&app, "acme").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "active");
    assert_eq!(list[0]["pending"], 0);
    assert!(!list[0].to_string().contains(secret), "no secret in GET");

    let (s, b) = app.admin_post(base, json!({"url": "http://127.0.0.1:9/h", "secret": "x"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "unknown field: {b}");
    let (s, b) = app.admin_post(base, json!({"url": "http://127.0.0.1:9/h", "events": ["nope"]})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("events[0]"), "{b}");
    let (s, b) = app.admin_post(base, json!({"url": "http://example.com/h"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("scheme"), "{b}");
    let (s, b) = app.admin_post(base, json!({"url": "https://169.254.169.254/latest"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("address"), "{b}");
    let (s, _) = app.admin_post("/admin/v1/orgs/nope/webhooks", json!({"url": "http://127.0.0.1:9/h"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, _) = app.admin_delete(&format!("{base}/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(listed(&app, "acme").await.is_empty());
    let (s, _) = app.admin_delete(&format!("{base}/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit").await;
    let audit = audit.to_string();
    assert!(audit.contains("webhook.create") && audit.contains("webhook.delete"), "{audit}");
    assert!(!audit.contains(secret));
}

#[tokio::test]
async fn events_are_delivered_in_order_signed_per_standard_webhooks() {
    let app = app().await;
    app.org("acme").await;
    let rx = Receiver::start().await;
    let (_, secret) = hook(&app, "acme", &rx.url, None).await;
    rx.trust(&secret);
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(event(&app, "acme", "member.added", n).await);
    }
    let got = rx.wait_for(20, 10).await;
    assert_eq!(rx.ns(), (0..20).collect::<Vec<_>>(), "commit order");
    for (r, id) in got.iter().zip(&ids) {
        assert!(r.verified, "signature verifies: {r:?}");
        assert_eq!(r.id, id.to_string());
        assert_eq!(r.body["id"], id.to_string());
        assert_eq!(r.body["type"], "member.added");
        assert_eq!(r.body["org"], "acme");
        assert!(r.body["at"].is_string());
        let ts: i64 = r.timestamp.parse().unwrap();
        assert!((ts - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 60);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.got().len(), 20, "each acknowledged event sent once");
    let list = listed(&app, "acme").await;
    assert_eq!(list[0]["pending"], 0);
    assert!(list[0]["last_success_at"].is_string());
    let (_, metrics) = app.send(reqwest::Method::GET, "/metrics", None, None).await;
    let m = metrics.as_str().unwrap();
    assert!(m.contains("idbridge_webhook_deliveries_total{outcome=\"delivered\"} 20"), "{m}");
    assert!(m.contains("idbridge_webhook_delivery_seconds_count 20"));
}

#[tokio::test]
async fn failures_are_retried_with_the_same_webhook_id_and_order_is_kept() {
    let app = app().await;
    app.org("acme").await;
    let rx = Receiver::start().await;
    let (_, secret) = hook(&app, "acme", &rx.url, None).await;
    rx.trust(&secret);
    rx.answer(&[500, 500]);
    let first = event(&app, "acme", "member.added", 1).await;
    event(&app, "acme", "member.removed", 2).await;
    let got = rx.wait_for(4, 10).await;
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    let f = first.to_string();
    assert_eq!(&ids[..3], [f.as_str(); 3], "the same webhook-id until acknowledged");
    assert_eq!(rx.ns(), [1, 1, 1, 2]);
    assert!(got.iter().all(|r| r.verified));
    // The receiver has answered the 4th delivery; the deliverer records it just after.
    let mut list = listed(&app, "acme").await;
    for _ in 0..100 {
        if list[0]["last_success_at"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        list = listed(&app, "acme").await;
    }
    assert_eq!(list[0]["last_failure"]["status"], 500, "{}", list[0]);
    assert!(list[0]["last_failure"]["at"].is_string());
    assert!(list[0]["last_success_at"].is_string());
    assert_eq!(list[0]["status"], "active");
    let (_, metrics) = app.send(reqwest::Method::GET, "/metrics", None, None).await;
    assert!(metrics.as_str().unwrap().contains("idbridge_webhook_deliveries_total{outcome=\"retried\"} 2"));
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_everything_afterwards() {
    let app = app().await;
    app.org("acme").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (_, secret) = hook(&app, "acme", &format!("http://{addr}/hook"), None).await;
    for n in 0..5 {
        event(&app, "acme", "member.added", n).await;
    }
    // Connection refused for a while: failures recorded, nothing lost.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = listed(&app, "acme").await;
        if l[0]["attempts"].as_i64().unwrap() >= 3 {
            assert!(l[0]["last_failure"]["error"].is_string(), "{}", l[0]);
            assert_eq!(l[0]["pending"], 5);
            assert_eq!(l[0]["status"], "retrying");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no failures recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rx = Receiver::on(tokio::net::TcpListener::bind(addr).await.unwrap()).await;
    rx.trust(&secret);
    rx.wait_for(5, 10).await;
    assert_eq!(rx.ns(), [0, 1, 2, 3, 4]);
    assert!(rx.got().iter().all(|r| r.verified));
}

#[tokio::test]
async fn a_rotated_secret_signs_alongside_the_previous_one_during_the_overlap() {
    let app = app().await;
    app.org("acme").await;
    let rx = Receiver::start().await;
    let (id, old) = hook(&app, "acme", &rx.url, None).await;
    let (s, b) = app.admin_post(&format!("/admin/v1/orgs/acme/webhooks/{id}/rotate-secret"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let new = b["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(!listed(&app, "acme").await[0].to_string().contains(&new));
    rx.trust(&new);
    event(&app, "acme", "member.added", 1).await;
    let got = rx.wait_for(1, 10).await;
    assert!(got[0].verified, "a receiver with only the new secret verifies");
    assert_eq!(got[0].signature.split(' ').count(), 2, "both signatures: {}", got[0].signature);
    let body = serde_json::to_string(&got[0].body).unwrap();
    let old_ok = crate::support::webhook_receiver::verify(
        &old,
        &got[0].id,
        &got[0].timestamp,
        &body,
        &got[0].signature,
    );
    let new_ok = crate::support::webhook_receiver::verify(
        &new,
        &got[0].id,
        &got[0].timestamp,
        &body,
        &got[0].signature,
    );
    assert!(old_ok && new_ok, "the previous secret still verifies during the overlap");
    let (s, _) = app.admin_post("/admin/v1/orgs/acme/webhooks/nope/rotate-secret", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_test_ping_goes_to_that_webhook_only_and_reports_the_answer() {
    let app = app().await;
    app.org("acme").await;
    let (rx, other) = (Receiver::start().await, Receiver::start().await);
    let (id, secret) = hook(&app, "acme", &rx.url, None).await;
    hook(&app, "acme", &other.url, None).await;
    rx.trust(&secret);
    let path = format!("/admin/v1/orgs/acme/webhooks/{id}/test");
    let (s, b) = app.admin_post(&path, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], 200);
    let got = rx.got();
    assert_eq!(got.len(), 1, "synchronous");
    assert!(got[0].verified);
    assert_eq!(got[0].body["type"], "webhook.test");
    assert_eq!(got[0].body["org"], "acme");
    rx.answer(&[503]);
    let (s, b) = app.admin_post(&path, json!({})).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{b}");
    assert_eq!(b["error"]["details"]["status"], 503);
    rx.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (s, b) = app.admin_post(&path, json!({})).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{b}");
    assert!(b["error"]["details"]["error"].is_string(), "{b}");
    assert!(other.got().is_empty(), "the other webhook got nothing");
    assert_eq!(listed(&app, "acme").await[0]["attempts"], 0, "pings leave the delivery state alone");
}

#[tokio::test]
async fn the_events_filter_skips_other_types() {
    let app = app().await;
    app.org("acme").await;
    let rx = Receiver::start().await;
    let (_, secret) = hook(&app, "acme", &rx.url, Some(json!(["member.removed"]))).await;
    rx.trust(&secret);
    for (n, kind) in ["member.added", "member.removed", "member.added", "member.removed"].iter().enumerate() {
        event(&app, "acme", kind, n as i64).await;
    }
    rx.wait_for(2, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.ns(), [1, 3]);
    assert_eq!(listed(&app, "acme").await[0]["pending"], 0);
}

#[tokio::test]
async fn a_deleted_webhook_gets_nothing_more_and_orgs_are_isolated() {
    let app = app().await;
    app.org("acme").await;
    app.org("globex").await;
    let (rx, grx) = (Receiver::start().await, Receiver::start().await);
    let (id, _) = hook(&app, "acme", &rx.url, None).await;
    hook(&app, "globex", &grx.url, None).await;
    event(&app, "acme", "member.added", 1).await;
    event(&app, "globex", "member.added", 100).await;
    rx.wait_for(1, 10).await;
    grx.wait_for(1, 10).await;
    let (s, _) = app.admin_delete(&format!("/admin/v1/orgs/globex/webhooks/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another org's webhook");
    let (s, _) = app.admin_delete(&format!("/admin/v1/orgs/acme/webhooks/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    event(&app, "acme", "member.added", 2).await;
    event(&app, "globex", "member.added", 101).await;
    grx.wait_for(2, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.ns(), [1], "nothing after the delete");
    assert_eq!(grx.ns(), [100, 101], "only its own org's events");
    assert_eq!(listed(&app, "globex").await.len(), 1);
}

/// End to end: a real access change (an operator's manual collaborator grant,
/// then its removal) reaches the webhook as signed `collaborator.*` events
/// carrying the contract's data, in commit order.
#[tokio::test]
async fn a_real_access_change_reaches_the_webhook_as_signed_events() {
    let app = app().await;
    app.org("acme").await;
    app.project("acme", "research").await;
    let rx = Receiver::start().await;
    let (_, secret) = hook(&app, "acme", &rx.url, None).await;
    rx.trust(&secret);
    let (s, c) = app
        .admin_post(
            "/admin/v1/orgs/acme/projects/research/collaborators",
            json!({"email": "partner@example.net", "role": "member"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let user_id = c["user_id"].as_str().unwrap().to_string();
    let (s, _) =
        app.admin_delete(&format!("/admin/v1/orgs/acme/projects/research/collaborators/{user_id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let got = rx.wait_for(2, 10).await;
    let collab: Vec<_> = got
        .iter()
        .filter(|r| r.body["type"].as_str().is_some_and(|t| t.starts_with("collaborator.")))
        .collect();
    assert_eq!(collab.len(), 2, "{got:?}");
    assert!(collab.iter().all(|r| r.verified), "signatures verify");
    let added = &collab[0].body;
    assert_eq!(added["type"], "collaborator.added");
    assert_eq!(added["org"], "acme");
    assert_eq!(added["data"]["project"], "research");
    assert_eq!(added["data"]["user_id"], user_id.as_str());
    assert_eq!(added["data"]["email"], "partner@example.net");
    assert_eq!(added["data"]["role"], "member");
    assert_eq!(added["data"]["source"], "manual");
    assert_eq!(added["data"]["external"], true);
    assert_eq!(collab[1].body["type"], "collaborator.removed");
    // The pull API serves the same events under the same ids.
    let (_, pulled) = app.admin_get("/admin/v1/orgs/acme/events").await;
    let ids: Vec<String> = pulled
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].to_string().trim_matches('"').to_string())
        .collect();
    for r in &collab {
        assert!(ids.contains(&r.id), "{} in the pull API {pulled}", r.id);
    }
}
