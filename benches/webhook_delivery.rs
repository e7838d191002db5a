//! Webhook delivery throughput to a local receiver: an in-process idbridge
//! (release build, synchronous=FULL, one cursor write per acknowledged event)
//! with WEBHOOKS webhooks on one org, EVENTS events committed up front, timed
//! until every webhook has acknowledged every event. Reports events/s
//! delivered (all webhooks together) and per webhook.
//! Run: `cargo bench --bench webhook_delivery` (env EVENTS=10000 WEBHOOKS=1,8).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use idbridge::App;
use idbridge::config::Config;
use idbridge::secrets::Secret;
use serde_json::json;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

async fn run(webhooks: u64, events: u64) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut cfg = Config::for_db(dir.path().join("idbridge.db"));
    cfg.listen = "127.0.0.1:0".parse()?;
    cfg.admin_token = Some(Secret::new("bench-admin-token-0123456789abcdef"));
    cfg.secret_key = Some(Secret::new("00".repeat(31) + "01"));
    let app = App::build(cfg).await?;
    let state = app.state.clone();
    tokio::spawn(app.run(std::future::pending()));

    let received = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let counter = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let c = counter.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    idbridge::directory::orgs::create_org(&state.db, "bench", "load", "Load").await?;
    for _ in 0..webhooks {
        idbridge::webhooks::create(&(&state).into(), "bench", "load", &url, &[]).await?;
    }
    let mut written = 0;
    while written < events {
        let n = (events - written).min(1000);
        state
            .db
            .write(move |c| -> Result<(), idbridge::store::StoreError> {
                let o = idbridge::store::orgs::org_by_slug(c, "load")?
                    .ok_or(idbridge::store::StoreError::Setup("no org".into()))?;
                for i in 0..n {
                    let at = idbridge::clock::now_str();
                    idbridge::store::events::append(c, &o.id, "member.added", &at, &json!({"n": i}))?;
                }
                Ok(())
            })
            .await?;
        written += n;
    }
    let started = Instant::now();
    state.webhooks.notify();
    let total = events * webhooks;
    while received.load(Ordering::Relaxed) < total {
        if started.elapsed() > Duration::from_secs(300) {
            return Err("timed out".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "webhooks={webhooks} events={events}: {total} deliveries in {secs:.2} s = {:.0} deliveries/s ({:.0} events/s per webhook)",
        total as f64 / secs,
        events as f64 / secs
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let events: u64 = env_or("EVENTS", "10000").parse()?;
    for w in env_or("WEBHOOKS", "1,8").split(',') {
        rt.block_on(run(w.trim().parse()?, events))?;
    }
    Ok(())
}
