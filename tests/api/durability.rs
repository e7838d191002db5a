//! Nothing acknowledged is lost: writes through the API to a real
//! `idbridge serve` process survive SIGKILL; concurrent writers lose nothing.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::helpers::{ADMIN_TOKEN, db_path, spawn_app, spawn_process};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    let mut proc = spawn_process(&db, &[]);
    let client = reqwest::Client::new();
    let base = proc.base.clone();
    let r = client
        .post(format!("{base}/admin/v1/orgs"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"slug":"acme","name":"Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // 1,000 project creations from 16 concurrent clients; count the 201s.
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..16 {
        let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..1000).step_by(16) {
                let slug = format!("p{i}");
                let r = client
                    .post(format!("{base}/admin/v1/orgs/acme/projects"))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&json!({"slug": slug, "name": slug}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                acked.lock().unwrap().push(slug);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(acked.lock().unwrap().len(), 1000);

    // SIGKILL: no shutdown, no checkpoint, no flush.
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();

    let mut proc = spawn_process(&db, &[]);
    let r = client
        .get(format!("{}/admin/v1/orgs/acme/projects", proc.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let list: serde_json::Value = r.json().await.unwrap();
    let mut got: Vec<String> =
        list.as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap().to_string()).collect();
    let mut want = acked.lock().unwrap().clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let r = client
        .get(format!("{}/admin/v1/orgs/acme/audit?limit=1000&after=1", proc.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let audit: serde_json::Value = r.json().await.unwrap();
    assert_eq!(audit.as_array().unwrap().len(), 1000, "every change has its audit event");
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_clients_lose_nothing() {
    let app = Arc::new(spawn_app().await);
    app.org("acme").await;
    app.project("acme", "shared").await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                let (s, _) = app
                    .admin_post(
                        "/admin/v1/orgs/acme/projects",
                        json!({"slug": format!("w{w}-{i}"), "name": "x"}),
                    )
                    .await;
                assert_eq!(s, StatusCode::CREATED);
                let (s, _) = app
                    .admin_post(
                        "/admin/v1/orgs/acme/projects/shared/collaborators",
                        json!({"email": format!("u{w}-{i}@example.com"), "role": "member"}),
                    )
                    .await;
                assert_eq!(s, StatusCode::CREATED);
                // Everyone also races on the same slug: exactly one wins.
                let (s, _) = app
                    .admin_post(
                        "/admin/v1/orgs/acme/projects",
                        json!({"slug": format!("race-{i}"), "name": "x"}),
                    )
                    .await;
                assert!(s == StatusCode::CREATED || s == StatusCode::CONFLICT, "{s}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, projects) = app.admin_get("/admin/v1/orgs/acme/projects").await;
    assert_eq!(projects.as_array().unwrap().len(), 1 + 8 * 40 + 40);
    let (_, collabs) = app.admin_get("/admin/v1/orgs/acme/projects/shared/collaborators").await;
    assert_eq!(collabs.as_array().unwrap().len(), 8 * 40);
    let (_, audit) = app.admin_get("/admin/v1/orgs/acme/audit?limit=1000").await;
    assert_eq!(audit.as_array().unwrap().len(), 2 + 8 * 40 + 8 * 40 + 40);
}
