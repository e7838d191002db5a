//! Shared Signals poll mode (RFC 8936) as a client: for each connection with
//! `ssf_poll_url`, idbridge asks the transmitter for SETs every
//! `DEFAULT_INTERVAL` and runs each through exactly the push path's
//! verification and handling (`ssf::process`, `Delivery::Poll`).
//!
//! RFC 8936 2.2-2.4: the request is a POST of `{"maxEvents", "returnImmediately",
//! "ack": [jti…], "setErrs": {jti: {"err", "description"}}}` authenticated
//! with the connection's bearer token; 2.5: the answer is
//! `{"sets": {jti: SET…}, "moreAvailable": bool}`. SETs processed now — or
//! before: a re-delivered jti is a duplicate, acknowledged, never re-processed
//! nor reported — go in the next request's `ack`; refused ones in its
//! `setErrs` (codes of RFC 8935 2.4). A SET that could not be judged now (the
//! JWKS unreachable, a store failure) is neither: the transmitter delivers it
//! again. Acks and errors are kept (in memory, per connection) until a
//! request carrying them is answered 2xx, so a failed request re-sends them
//! next round; after a restart the transmitter re-delivers what was not
//! acknowledged and the single-use jti makes that harmless.
//!
//! Secure defaults: the guarded HTTP client (outbound policy, no redirects),
//! a 10 s timeout, answers read up to 1 MiB, at most `MAX_EVENTS` SETs per
//! answer and `MAX_REQUESTS` requests per connection and round. Failures
//! are logged with their reason, counted (`refusals{surface="ssf_poll"}`)
//! and retried next round; the poller runs in its own task, never in a request.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::Service;
use super::jwt::JwtError;
use super::ssf::{self, Delivery, Outcome, SsfError};
use crate::error::Error;
use crate::outbound::fetch::FetchError;
use crate::secrets::SecretError;

/// How often each connection is polled.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// `maxEvents` asked for (and the most SETs of one answer processed).
pub const MAX_EVENTS: usize = 100;
/// Requests per connection and round while `moreAvailable` is true.
pub const MAX_REQUESTS: usize = 10;
/// Largest poll answer read.
pub const MAX_ANSWER: usize = 1024 * 1024;
/// A poll request may take this long.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest `sets` member name (a jti) acknowledged or reported.
const MAX_JTI_LEN: usize = 255;

pub use crate::connections::{POLL_TOKEN_FIELD, poll_token_context};

/// Why a poll of one connection failed (nothing acknowledged is lost).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("connection {id} is not set up for poll mode: {why}")]
    NotConfigured { id: String, why: &'static str },
    #[error("the stored poll token cannot be opened: {0}")]
    Token(#[from] SecretError),
    #[error("HTTP client unavailable: {0}")]
    Client(String),
    #[error("poll request failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("{url}: no answer within {} s", TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("{url}: not an RFC 8936 2.5 poll answer: {why}")]
    Answer { url: String, why: &'static str },
    #[error(transparent)]
    Internal(#[from] Error),
}

impl PollError {
    /// A short code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PollError::NotConfigured { .. } => "not_configured",
            PollError::Token(_) => "token_unreadable",
            PollError::Client(_) => "client",
            PollError::Fetch(FetchError::Status { status: 401 | 403, .. }) => "unauthorized",
            PollError::Fetch(FetchError::Status { status, .. }) if *status < 500 => "status_4xx",
            PollError::Fetch(FetchError::Status { .. }) => "status_5xx",
            PollError::Fetch(FetchError::TooLarge { .. }) => "too_large",
            PollError::Fetch(FetchError::Json { .. }) => "json",
            PollError::Fetch(FetchError::Refused(r)) => r.reason(),
            PollError::Fetch(_) => "transport",
            PollError::Timeout { .. } => "timeout",
            PollError::Answer { .. } => "answer",
            PollError::Internal(_) => "internal",
        }
    }
}

/// What is owed to one transmitter in the next request.
#[derive(Clone, Debug, Default)]
struct Pending {
    ack: Vec<String>,
    errs: Map<String, Value>,
}

/// Pending acknowledgements per connection; the lock also makes rounds
/// one at a time.
#[derive(Default)]
pub struct PollState {
    pending: tokio::sync::Mutex<HashMap<String, Pending>>,
}

/// What one connection's poll did this round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    pub requests: usize,
    pub processed: usize,
    pub duplicates: usize,
    pub refused: usize,
    /// Neither acknowledged nor refused (to be delivered again).
    pub deferred: usize,
}

/// Start the background poller: a round every `interval` (the first after one interval).
pub fn spawn(state: Service, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            // With several nodes on PostgreSQL, the leading one polls.
            if state.db.leading() {
                poll_round(state.clone()).await;
            }
        }
    })
}

/// Poll every connection with `ssf_poll_url` once (more while
/// `moreAvailable`); each failure is logged, counted and left for the next round.
/// `service` is a `Service` or what one is made from (the app state).
pub async fn poll_round(service: impl Into<Service>) -> Vec<(String, Result<Polled, PollError>)> {
    let service: Service = service.into();
    let state = &service;
    let mut pending = state.state.poll.pending.lock().await;
    let ids = match state
        .db
        .read(|c| crate::store::connections::ids_with_config_containing(c, "\"ssf_poll_url\":\""))
        .await
    {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "SSF poll: listing connections failed");
            return Vec::new();
        }
    };
    // Acks owed to connections no longer polled are dropped.
    pending.retain(|id, _| ids.contains(id));
    let mut out = Vec::new();
    for id in ids {
        let owed = pending.entry(id.clone()).or_default();
        let result = poll_connection(state, &id, owed).await;
        match &result {
            Ok(p) if p.requests > 0 => tracing::debug!(connection = %id, ?p, "SSF poll done"),
            Ok(_) => {}
            Err(e) => {
                let reason = e.reason();
                tracing::warn!(connection = %id, reason, error = %e, "SSF poll failed; retrying next round");
                state.metrics.refusal("ssf_poll", reason);
            }
        }
        out.push((id, result));
    }
    out
}

/// The `sets` and `moreAvailable` of an answer.
fn parse_answer<'a>(url: &str, answer: &'a Value) -> Result<(&'a Map<String, Value>, bool), PollError> {
    let bad = |why| PollError::Answer { url: url.to_string(), why };
    let sets = answer.get("sets").and_then(Value::as_object).ok_or_else(|| bad("no \"sets\" object"))?;
    let more = match answer.get("moreAvailable") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("\"moreAvailable\" is not a boolean")),
    };
    Ok((sets, more))
}

async fn poll_connection(state: &Service, id: &str, owed: &mut Pending) -> Result<Polled, PollError> {
    let not_configured = |why| PollError::NotConfigured { id: id.to_string(), why };
    let conn = super::load(&state.db, id).await?.ok_or_else(|| not_configured("connection gone"))?;
    let Some(url) = conn.settings.ssf_poll_url.clone() else { return Ok(Polled::default()) };
    let token =
        conn.settings.poll_token(&state.secrets, id)?.ok_or_else(|| not_configured("no ssf_poll_token"))?;
    let http = state.http.get().map_err(|e| PollError::Client(e.to_string()))?;
    let mut polled = Polled::default();
    loop {
        let body = json!({"maxEvents": MAX_EVENTS, "returnImmediately": true, "ack": owed.ack, "setErrs": owed.errs});
        let answer = tokio::time::timeout(TIMEOUT, http.post_json(&url, token.expose(), &body, MAX_ANSWER))
            .await
            .map_err(|_| PollError::Timeout { url: url.clone() })??;
        polled.requests += 1;
        // Answered 2xx: what that request carried is delivered.
        *owed = Pending::default();
        let (sets, more) = parse_answer(&url, &answer)?;
        if sets.len() > MAX_EVENTS {
            tracing::warn!(connection = %id, sets = sets.len(), "SSF poll answer exceeds maxEvents; the rest waits");
        }
        for (jti, set) in sets.iter().take(MAX_EVENTS) {
            if jti.is_empty() || jti.len() > MAX_JTI_LEN {
                tracing::warn!(connection = %id, "SSF poll answer lists a SET under an invalid jti; ignored");
                polled.deferred += 1;
                continue;
            }
            judge(state, id, jti, set, owed, &mut polled).await;
        }
        if !more || polled.requests >= MAX_REQUESTS {
            return Ok(polled);
        }
    }
}

/// Process one polled SET and record what the transmitter is owed for it.
async fn judge(state: &Service, id: &str, jti: &str, set: &Value, owed: &mut Pending, polled: &mut Polled) {
    let result = match set.as_str() {
        Some(token) => ssf::process(state, id, token.trim(), Delivery::Poll { jti }).await,
        None => Err(SsfError::Body),
    };
    match result {
        Ok(Outcome::Processed { event, ended }) => {
            tracing::info!(connection = %id, jti, event = %event, users = ended.users, sessions = ended.sessions,
                api_keys = ended.api_keys, "polled SET accepted");
            polled.processed += 1;
            owed.ack.push(jti.to_string());
        }
        Ok(Outcome::Duplicate { .. }) => {
            tracing::info!(connection = %id, jti, "polled SET delivered again: already processed, acknowledged");
            polled.duplicates += 1;
            owed.ack.push(jti.to_string());
        }
        Err(SsfError::Internal(e)) => {
            tracing::error!(connection = %id, jti, error = %e, "polled SET processing failed; left for re-delivery");
            polled.deferred += 1;
        }
        Err(e @ SsfError::Token(JwtError::Keys { .. })) => {
            tracing::warn!(connection = %id, jti, reason = e.reason(), error = %e,
                "polled SET not judged now; left for re-delivery");
            state.metrics.refusal("ssf", e.reason());
            polled.deferred += 1;
        }
        Err(e) => {
            let reason = e.reason();
            tracing::warn!(connection = %id, jti, reason, err = e.err(), error = %e, "polled SET refused");
            state.metrics.refusal("ssf", reason);
            polled.refused += 1;
            owed.errs.insert(jti.to_string(), json!({"err": e.err(), "description": e.to_string()}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_reasons() {
        let ok = json!({"sets": {"a": "x.y.z"}, "moreAvailable": true});
        let (sets, more) = parse_answer("u", &ok).unwrap();
        assert_eq!((sets.len(), more), (1, true));
        assert!(!parse_answer("u", &json!({"sets": {}})).unwrap().1);
        for bad in [json!({}), json!({"sets": []}), json!({"sets": {}, "moreAvailable": "yes"})] {
            assert!(matches!(parse_answer("u", &bad), Err(PollError::Answer { .. })), "{bad}");
        }
        let status = |status| PollError::Fetch(FetchError::Status { url: "u".into(), status }).reason();
        assert_eq!((status(401), status(404), status(503)), ("unauthorized", "status_4xx", "status_5xx"));
    }
}
