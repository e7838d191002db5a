//! Webhooks: an org's HTTPS endpoints that receive its change events (the
//! outbox, store::events) as Standard Webhooks deliveries, in commit order,
//! at least once. This module holds the admin-facing operations (create,
//! list, delete, rotate the secret); dispatch.rs delivers, signing.rs signs.
//! Secrets are sealed with the SecretBox (context `webhook-secret:{id}`) and
//! shown only when created or rotated.

pub mod dispatch;
pub mod signing;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::audit::{self, AuditAction};
use crate::clock;
use crate::directory::orgs::{new_id, org_in};
use crate::error::Error;
use crate::http::AppState;
use crate::outbound::{self, Policy};
use crate::secrets::{Secret, SecretBox};
use crate::store::webhooks::WebhookRow;
use crate::store::{self, Db};

/// The event types a webhook may subscribe to (the outbox's types).
pub const EVENT_TYPES: &[&str] = &[
    "member.added",
    "member.role_changed",
    "member.removed",
    "collaborator.added",
    "collaborator.role_changed",
    "collaborator.removed",
    "user.deprovisioned",
    "session.revoked",
    "api_key.revoked",
];
/// The type of a test ping (never stored, never subscribed to).
pub const TEST_EVENT: &str = "webhook.test";
/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Delivery timings. Production: `Default`; tests shorten the retry base.
#[derive(Clone, Copy, Debug)]
pub struct DeliverySettings {
    /// Delay after the first failure; doubled after each further one.
    pub retry_base: Duration,
    /// Never more than this between two attempts.
    pub retry_cap: Duration,
    /// After failing this long without a success, the webhook is `failing`.
    pub failing_after: Duration,
    /// Deliveries to different webhooks in flight at once.
    pub concurrency: usize,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(300),
            failing_after: Duration::from_secs(24 * 3600),
            concurrency: 64,
        }
    }
}

/// Shared by the admin API and the dispatcher.
pub struct WebhookState {
    /// Poked after an event is committed (and by the admin API); the
    /// dispatcher also polls every 200 ms, so a missed poke only delays.
    pub wake: tokio::sync::Notify,
    pub settings: DeliverySettings,
    /// Guarded client: the outbound policy's resolver, no redirects, 10 s timeout.
    pub client: reqwest::Client,
    pub policy: Policy,
    /// Webhooks with a delivery run in progress (one run per webhook keeps order).
    in_flight: Mutex<HashSet<String>>,
}

impl WebhookState {
    pub fn new(policy: Policy, settings: DeliverySettings) -> Result<Self, reqwest::Error> {
        let client = outbound::client_builder(policy).timeout(Duration::from_secs(10)).build()?;
        Ok(WebhookState {
            wake: tokio::sync::Notify::new(),
            settings,
            client,
            policy,
            in_flight: Mutex::default(),
        })
    }

    /// Wake the dispatcher (cheap; call after committing events).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    fn claim(&self, id: &str) -> bool {
        match self.in_flight.lock() {
            Ok(mut g) => g.insert(id.to_string()),
            Err(p) => p.into_inner().insert(id.to_string()),
        }
    }

    fn release(&self, id: &str) {
        match self.in_flight.lock() {
            Ok(mut g) => g.remove(id),
            Err(p) => p.into_inner().remove(id),
        };
    }
}

/// SecretBox context of a webhook's secrets.
pub fn secret_context(id: &str) -> String {
    format!("webhook-secret:{id}")
}

/// A webhook just created or rotated: the only time its secret is shown.
pub struct Issued {
    pub row: WebhookRow,
    pub secret: Secret,
}

fn check_events(events: &[String]) -> Result<String, Error> {
    for (i, e) in events.iter().enumerate() {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(Error::invalid(
                format!("events[{i}]"),
                format!("unknown event type {e:?}; known: {}", EVENT_TYPES.join(", ")),
            ));
        }
    }
    let mut sorted: Vec<&String> = events.iter().collect();
    sorted.sort();
    sorted.dedup();
    Ok(json!(sorted).to_string())
}

/// Create a webhook of `org`: URL checked by the outbound guard, types known.
pub async fn create(
    s: &AppState,
    actor: &str,
    org: &str,
    url: &str,
    events: &[String],
) -> Result<Issued, Error> {
    let checked = outbound::check_url(url, s.webhooks.policy)
        .map_err(|r| Error::invalid("url", format!("{r} ({})", r.reason())))?;
    let events = check_events(events)?;
    let (actor, org, url, sb) =
        (actor.to_string(), org.to_string(), checked.to_string(), s.secret_box.clone());
    s.db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let id = new_id();
        let secret = signing::new_secret();
        let now = clock::now_str();
        let mut row = WebhookRow {
            id: id.clone(),
            org_id: org.id.to_string(),
            org_slug: org.slug.clone(),
            url,
            events,
            secret: sb.seal(&secret_context(&id), secret.expose().as_bytes()),
            previous_secret: None,
            previous_until: None,
            cursor: 0,
            attempts: 0,
            next_attempt_at: None,
            failing_since: None,
            last_success_at: None,
            last_failure: None,
            created_at: now.clone(),
        };
        row.cursor = store::webhooks::insert(tx, &row)?;
        store::audit::append(
            tx,
            &now,
            audit::Event {
                org_id: Some(&org.id),
                actor: &actor,
                action: AuditAction::WebhookCreate,
                target: &format!("webhook:{id}"),
                detail: json!({"url": row.url, "events": events_of(&row)}),
            },
        )?;
        Ok(Issued { row, secret })
    })
    .await
}

/// Live webhooks of an org with their pending-event counts.
pub async fn list(db: &Db, org: &str) -> Result<Vec<(WebhookRow, i64)>, Error> {
    let org = org.to_string();
    db.read(move |c| {
        let org = org_in(c, &org)?;
        Ok(store::webhooks::list(c, &org.id)?)
    })
    .await
}

/// Delete a webhook: nothing more is sent to it (checked before each send).
pub async fn delete(db: &Db, actor: &str, org: &str, id: &str) -> Result<(), Error> {
    let (actor, org, id) = (actor.to_string(), org.to_string(), id.to_string());
    db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let now = clock::now_str();
        if !store::webhooks::delete(tx, &org.id, &id, &now)? {
            return Err(Error::not_found("webhook", id));
        }
        let target = format!("webhook:{id}");
        let e = audit::Event {
            org_id: Some(&org.id),
            actor: &actor,
            action: AuditAction::WebhookDelete,
            target: &target,
            detail: json!({}),
        };
        store::audit::append(tx, &now, e)?;
        Ok(())
    })
    .await
}

/// New secret; the current one keeps signing for `ROTATION_OVERLAP`.
pub async fn rotate_secret(s: &AppState, actor: &str, org: &str, id: &str) -> Result<Issued, Error> {
    let (actor, org, id, sb) = (actor.to_string(), org.to_string(), id.to_string(), s.secret_box.clone());
    s.db.write(move |tx| {
        let org = org_in(tx, &org)?;
        let mut row =
            store::webhooks::get(tx, &org.id, &id)?.ok_or_else(|| Error::not_found("webhook", &id))?;
        let secret = signing::new_secret();
        let now = clock::now();
        let until = clock::format(now + ROTATION_OVERLAP);
        let sealed = sb.seal(&secret_context(&id), secret.expose().as_bytes());
        store::webhooks::rotate(tx, &id, &sealed, &row.secret, &until)?;
        let target = format!("webhook:{id}");
        let detail = json!({"previous_until": until});
        let e = audit::Event {
            org_id: Some(&org.id),
            actor: &actor,
            action: AuditAction::WebhookRotateSecret,
            target: &target,
            detail,
        };
        store::audit::append(tx, &clock::format(now), e)?;
        row.previous_secret = Some(std::mem::replace(&mut row.secret, sealed));
        row.previous_until = Some(until);
        Ok(Issued { row, secret })
    })
    .await
}

/// The HMAC keys to sign with now: the current secret, then the previous one
/// while its overlap lasts.
pub fn signing_keys(sb: &SecretBox, row: &WebhookRow) -> Result<Vec<Vec<u8>>, String> {
    let ctx = secret_context(&row.id);
    let open = |sealed: &[u8]| -> Result<Vec<u8>, String> {
        let plain = sb.open(&ctx, sealed).map_err(|e| e.to_string())?;
        let text = String::from_utf8(plain).map_err(|e| e.to_string())?;
        signing::decode_secret(&text).map_err(|e| e.to_string())
    };
    let mut keys = vec![open(&row.secret)?];
    let now = clock::now_str();
    if let (Some(prev), Some(until)) = (&row.previous_secret, &row.previous_until)
        && until.as_str() > now.as_str()
    {
        keys.push(open(prev)?);
    }
    Ok(keys)
}

/// The event types of a row (`[]` = all).
pub fn events_of(row: &WebhookRow) -> Value {
    serde_json::from_str(&row.events).unwrap_or_else(|_| json!([]))
}

/// A webhook as the admin API shows it: never its secret.
pub fn describe(row: &WebhookRow, pending: i64, settings: &DeliverySettings) -> Value {
    let failing_before = clock::format(clock::now() - settings.failing_after);
    let status = match &row.failing_since {
        Some(since) if since.as_str() <= failing_before.as_str() => "failing",
        Some(_) => "retrying",
        None => "active",
    };
    let last_failure = row.last_failure.as_deref().and_then(|f| serde_json::from_str::<Value>(f).ok());
    json!({
        "id": row.id,
        "url": row.url,
        "events": events_of(row),
        "created_at": row.created_at,
        "status": status,
        "pending": pending,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "failing_since": row.failing_since,
        "last_success_at": row.last_success_at,
        "last_failure": last_failure,
        "secret_rotation_overlap_until": row.previous_until,
    })
}
