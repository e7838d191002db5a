//! Webhook delivery survives SIGKILL of a real `idbridge serve`: events
//! committed (by another writer of the same database, as the outbox's would
//! be) and events already acknowledged are all delivered after a restart, in
//! order; at most the event in flight at the kill is sent twice.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::{ADMIN_TOKEN, db_path, spawn_process};
use crate::support::webhook_receiver::Receiver;

async fn append(db: &idbridge::store::Db, n: i64) -> i64 {
    db.write(move |c| {
        let o = idbridge::store::orgs::org_by_slug(c, "acme")?.unwrap();
        idbridge::store::events::append(
            c,
            &o.id,
            "member.added",
            &idbridge::clock::now_str(),
            &json!({"n": n}),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_delivered_after_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let mut proc = spawn_process(&db, &[]);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/admin/v1/orgs", proc.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"slug": "acme", "name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let rx = Receiver::start().await;
    let r = client
        .post(format!("{}/admin/v1/orgs/acme/webhooks", proc.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"url": rx.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let b: serde_json::Value = r.json().await.unwrap();
    rx.trust(b["secret"].as_str().unwrap());

    // A second writer on the same database: the child's dispatcher finds these by polling.
    // Opened off the async workers (opening blocks; on PostgreSQL it connects and migrates).
    let location = idbridge::config::DbLocation::parse(&db);
    let outside = tokio::task::spawn_blocking(move || {
        idbridge::open_db(&location, Arc::new(idbridge::metrics::Metrics::new())).unwrap()
    })
    .await
    .unwrap();
    for n in 0..20 {
        append(&outside, n).await;
    }
    rx.wait_for(20, 15).await;
    // More events committed, then SIGKILL at once: no shutdown, no flush.
    for n in 20..40 {
        append(&outside, n).await;
    }
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
    let before = rx.ns().len();

    let _proc = spawn_process(&db, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut seen = rx.ns();
        seen.dedup();
        if seen == (0..40).collect::<Vec<_>>() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "after restart got {seen:?} (before kill: {before})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = rx.got();
    assert!(got.iter().all(|r| r.verified));
    // At least once: only the event in flight at the kill may be repeated.
    assert!(got.len() <= 41, "{} deliveries for 40 events", got.len());
    // Closed and dropped off the async workers: on PostgreSQL the handle owns blocking clients.
    tokio::task::spawn_blocking(move || {
        outside.close();
        drop(outside);
    })
    .await
    .unwrap();
}
