//! A real webhook receiver for the tests: an axum server on 127.0.0.1 that
//! records every delivery, verifies its Standard Webhooks signature
//! independently of idbridge's code (HMAC-SHA256 over `id.timestamp.body`
//! with the base64-decoded secret after `whsec_`), and answers with scripted
//! statuses (default 200).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One delivery as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Value,
    /// Whether some signature in the header verifies with some configured secret.
    pub verified: bool,
}

#[derive(Default)]
pub struct Inner {
    pub got: Mutex<Vec<Received>>,
    pub script: Mutex<VecDeque<u16>>,
    pub secrets: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub url: String,
    pub inner: Arc<Inner>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

/// Verify a `webhook-signature` header as a receiver would.
pub fn verify(secret: &str, id: &str, ts: &str, body: &str, header: &str) -> bool {
    let Ok(key) = STANDARD.decode(secret.trim_start_matches("whsec_")) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|s| s == expected)
}

async fn hook(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (id, ts, sig) = (h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
    let verified = inner.secrets.lock().unwrap().iter().any(|s| verify(s, &id, &ts, &body, &sig));
    let status = inner.script.lock().unwrap().pop_front().unwrap_or(200);
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    inner.got.lock().unwrap().push(Received { id, timestamp: ts, signature: sig, body, verified });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await
    }

    pub async fn on(listener: tokio::net::TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new().route("/hook", post(hook)).with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, url: format!("http://{addr}/hook"), inner, task: Arc::new(task) }
    }

    pub fn trust(&self, secret: &str) {
        self.inner.secrets.lock().unwrap().push(secret.to_string());
    }

    pub fn distrust_all(&self) {
        self.inner.secrets.lock().unwrap().clear();
    }

    pub fn answer(&self, statuses: &[u16]) {
        self.inner.script.lock().unwrap().extend(statuses);
    }

    pub fn got(&self) -> Vec<Received> {
        self.inner.got.lock().unwrap().clone()
    }

    /// The `data.n` of every delivery, in arrival order.
    pub fn ns(&self) -> Vec<i64> {
        self.got().iter().filter_map(|r| r.body["data"]["n"].as_i64()).collect()
    }

    /// Wait until `count` deliveries arrived (panics after `secs`).
    pub async fn wait_for(&self, count: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.got();
            if got.len() >= count {
                return got;
            }
            assert!(Instant::now() < deadline, "only {} of {count} deliveries arrived: {got:?}", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}
