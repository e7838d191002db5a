//! The dispatcher: one task per process, woken when events are committed (and
//! every 200 ms), running at most one delivery run per webhook — so a
//! webhook's events go out strictly in commit order — and many webhooks at
//! once (bounded), so a slow receiver delays only itself.
//!
//! A run: read the webhook (gone → stop), read the next event after its
//! cursor that matches its filter, POST it; a 2xx advances the cursor (one
//! small write) and the run goes on; anything else records the failure and
//! schedules the next attempt (1 s, 2 s, 4 s … capped at 5 min, ±20 %
//! jitter), retried forever at the cap. The cursor moves only after a 2xx:
//! a crash between the 2xx and that write re-sends the same `webhook-id`
//! (at least once).
//!
//! On SQLite the process is the only dispatcher. On PostgreSQL every node
//! runs this loop but only the node that leads (`Db::leading`, a session
//! advisory lock) delivers; after a failover the new leader continues from
//! the stored cursors. `Lease` remains the per-webhook boundary; `Solo`
//! grants every webhook to the process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::{Service, WebhookState, signing};
use crate::clock;
use crate::outbound;
use crate::store::{self, StoreError, events::ChangeEvent, webhooks::WebhookRow};

/// How often the dispatcher looks for due webhooks without a wake-up.
const POLL: Duration = Duration::from_millis(200);
/// Most of a receiver's answer read (the rest is dropped unread).
const READ_CAP: usize = 4096;
/// Most of the answer kept in `last_failure.body`.
const BODY_KEEP: usize = 256;

/// The right to run deliveries for a webhook. Single process: always granted.
pub trait Lease: Send + Sync {
    fn acquire(&self, webhook_id: &str) -> bool;
}

/// The lease of a process that is the only dispatcher (SQLite).
pub struct Solo;

impl Lease for Solo {
    fn acquire(&self, _webhook_id: &str) -> bool {
        true
    }
}

/// Start the dispatcher; it runs until the task is aborted.
pub fn spawn(state: Service) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(state, Arc::new(Solo)))
}

async fn run(state: Service, lease: Arc<dyn Lease>) {
    let slots = Arc::new(Semaphore::new(state.webhooks.settings.concurrency.max(1)));
    let mut last_health = Instant::now() - Duration::from_secs(10);
    loop {
        // Woken by a commit that wrote events, by the admin API, or every POLL
        // (events written by another process on the same database).
        let _ = tokio::time::timeout(POLL, async {
            tokio::select! {
                _ = state.webhooks.wake.notified() => {}
                _ = state.db.events_committed().notified() => {}
            }
        })
        .await;
        // With several nodes on PostgreSQL, only the leading one delivers, so
        // a webhook's events go out once each and in commit order.
        if !state.db.leading() {
            continue;
        }
        let now = clock::now_str();
        let due: Result<Vec<String>, StoreError> =
            state.db.read(move |c| store::webhooks::due(c, &now)).await;
        match due {
            Ok(ids) => {
                for id in ids {
                    if !lease.acquire(&id) || !state.webhooks.claim(&id) {
                        continue;
                    }
                    let (s, slots) = (state.clone(), slots.clone());
                    tokio::spawn(async move {
                        if let Ok(_permit) = slots.acquire_owned().await {
                            deliver_run(&s, &id).await;
                        }
                        s.webhooks.release(&id);
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "webhook dispatcher: reading due webhooks failed"),
        }
        if last_health.elapsed() >= Duration::from_secs(1) {
            last_health = Instant::now();
            update_gauges(&state).await;
        }
    }
}

async fn update_gauges(s: &Service) {
    let before = clock::format(clock::now() - s.webhooks.settings.failing_after);
    let health = s.db.read(move |c| store::webhooks::health(c, &before)).await;
    match health {
        Ok((failing, oldest)) => {
            let age = oldest
                .and_then(|at| clock::parse(&at))
                .map_or(0.0, |at| (clock::now() - at).as_seconds_f64().max(0.0));
            s.metrics.webhook_health(failing, age);
        }
        Err(e) => tracing::warn!(error = %e, "webhook dispatcher: reading health failed"),
    }
}

/// Deliver this webhook's due events in order until none is left or one fails.
///
/// The cursor write of an acknowledged event overlaps the POST of the next one
/// (at most one write outstanding): the in-memory `acked` floor keeps the order,
/// and the store's `MAX(cursor, ?)` keeps the cursor monotonic. A crash can then
/// re-send the last one or two acknowledged events with their same `webhook-id`
/// (at-least-once, as documented); nothing is ever skipped.
async fn deliver_run(s: &Service, id: &str) {
    let mut acked: i64 = 0;
    let mut pending: Option<tokio::task::JoinHandle<Result<(), StoreError>>> = None;
    loop {
        let (wid, now, floor) = (id.to_string(), clock::now_str(), acked);
        let next: Result<Option<(WebhookRow, ChangeEvent)>, StoreError> =
            s.db.read(move |c| {
                let Some(mut w) = store::webhooks::get_live(c, &wid)? else { return Ok(None) };
                if w.next_attempt_at.as_deref().is_some_and(|t| t > now.as_str()) {
                    return Ok(None);
                }
                w.cursor = w.cursor.max(floor);
                Ok(store::webhooks::next_event(c, &w)?.map(|e| (w, e)))
            })
            .await;
        let (w, event) = match next {
            Ok(Some(found)) => found,
            Ok(None) => {
                finish(id, pending).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, webhook = id, "webhook delivery: read failed");
                finish(id, pending).await;
                return;
            }
        };
        let body = payload(&event.id.to_string(), &event.kind, &event.at, &w.org_slug, &event.data);
        let outcome = send(s, &w, &event.id.to_string(), &body).await;
        // The previous event's cursor write ran during that POST; it must have
        // committed before this outcome is recorded.
        if !finish(id, pending.take()).await {
            return;
        }
        let (wid, at) = (w.id.clone(), clock::now_str());
        match outcome {
            Ok(_) => {
                s.metrics.webhook_delivery("delivered");
                if let Some(t) = clock::parse(&event.at) {
                    s.metrics.webhook_latency((clock::now() - t).as_seconds_f64().max(0.0));
                }
                acked = event.id;
                let db = s.db.clone();
                pending = Some(tokio::spawn(async move {
                    db.write(move |tx| store::webhooks::record_success(tx, &wid, acked, &at)).await
                }));
            }
            Err(failure) => {
                s.metrics.webhook_delivery("retried");
                let delay = backoff(&s.webhooks, w.attempts);
                let next_at = clock::format(clock::now() + delay);
                let record = failure.to_json(&at).to_string();
                tracing::info!(webhook = %w.id, event = event.id, attempts = w.attempts + 1,
                    retry_in_ms = delay.as_millis() as u64, reason = %failure, "webhook delivery failed; will retry");
                let written =
                    s.db.write(move |tx| store::webhooks::record_failure(tx, &wid, &at, &next_at, &record))
                        .await;
                if let Err(e) = written {
                    tracing::warn!(error = %e, webhook = id, "webhook delivery: recording the outcome failed");
                }
                return;
            }
        }
    }
}

/// Wait for the outstanding cursor write, if any; false if it failed.
async fn finish(id: &str, pending: Option<tokio::task::JoinHandle<Result<(), StoreError>>>) -> bool {
    let Some(handle) = pending else { return true };
    match handle.await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, webhook = id, "webhook delivery: recording the outcome failed");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, webhook = id, "webhook delivery: the cursor write task failed");
            false
        }
    }
}

/// The delay before attempt `attempts + 2`: base·2^attempts, ±20 %, at most the cap.
pub fn backoff(w: &WebhookState, attempts: i64) -> Duration {
    let (base, cap) = (w.settings.retry_base, w.settings.retry_cap);
    let exp = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    let raw = base.saturating_mul(2u32.saturating_pow(exp)).min(cap);
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    raw.mul_f64(jitter).min(cap)
}

/// The delivery body: `{"id","type","at","org","data"}` (`id` a string).
pub fn payload(id: &str, kind: &str, at: &str, org: &str, data: &Value) -> String {
    json!({"id": id, "type": kind, "at": at, "org": org, "data": data}).to_string()
}

/// Why an attempt was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The receiver answered, not with a 2xx.
    #[error("receiver answered HTTP {status}")]
    Status { status: u16, body: String },
    /// No answer: refused by the guard, connection error, timeout, bad secret.
    #[error("{0}")]
    Error(String),
}

impl Failure {
    pub fn to_json(&self, at: &str) -> Value {
        match self {
            Failure::Status { status, body } => json!({"at": at, "status": status, "body": body}),
            Failure::Error(e) => json!({"at": at, "error": e}),
        }
    }
}

/// POST one signed delivery through the guarded client; Ok(status) on a 2xx.
pub async fn send(s: &Service, w: &WebhookRow, msg_id: &str, body: &str) -> Result<u16, Failure> {
    outbound::check_url(&w.url, s.webhooks.policy).map_err(|r| Failure::Error(r.to_string()))?;
    let keys = super::signing_keys(&s.secrets, w).map_err(Failure::Error)?;
    let ts = clock::now().unix_timestamp();
    let resp = s
        .webhooks
        .client
        .post(&w.url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signing::signature_header(&keys, msg_id, ts, body))
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            let refused = outbound::refusal_in(&e).map(|r| r.to_string());
            Failure::Error(refused.unwrap_or_else(|| describe_error(&e)))
        })?;
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Ok(status);
    }
    let body = read_capped(resp).await;
    Err(Failure::Status { status, body: body.chars().take(BODY_KEEP).collect() })
}

fn describe_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer within 10 s".into();
    }
    let mut msg = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(inner) = cur {
        msg = format!("{msg}: {inner}");
        cur = inner.source();
    }
    msg.chars().take(BODY_KEEP).collect()
}

async fn read_capped(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < READ_CAP {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c[..c.len().min(READ_CAP - buf.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}
