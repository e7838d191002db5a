//! Prometheus metrics: HTTP requests by route and status, latency histograms,
//! the store's write-queue depth and commit batch sizes, change events
//! written. Served at /metrics.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub surface: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShedLabels {
    pub reason: String,
}

/// `type` is a keyword: the label set is spelled as pairs.
type EventLabels = Vec<(&'static str, String)>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    pub connection: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    queue_depth: Gauge<i64, AtomicI64>,
    batch_size: Histogram,
    commit_seconds: Histogram,
    refusals: Family<ReasonLabels, Counter>,
    groups_overage: Family<ConnectionLabels, Counter>,
    events_written: Family<EventLabels, Counter>,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
    webhooks_failing: Gauge<i64, AtomicI64>,
    webhook_seconds: Histogram,
    oldest_undelivered: Gauge<f64, AtomicU64>,
    scim_shed: Family<ShedLabels, Counter>,
    scim_rate_limited: Family<ShedLabels, Counter>,
    scim_in_flight: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let queue_depth = Gauge::<i64, AtomicI64>::default();
        let batch_size = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]);
        let commit_seconds = latency_histogram();
        let refusals = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "idbridge_http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "idbridge_http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register(
            "idbridge_store_write_queue_depth",
            "Write jobs waiting for the store writer",
            queue_depth.clone(),
        );
        registry.register(
            "idbridge_store_commit_batch_size",
            "Write jobs committed per transaction (group commit)",
            batch_size.clone(),
        );
        registry.register(
            "idbridge_store_commit_duration_seconds",
            "Time to run and commit one batch",
            commit_seconds.clone(),
        );
        registry.register(
            "idbridge_refusals",
            "Refused logins and requests by surface and precise reason",
            refusals.clone(),
        );
        // Not a refusal: the login goes on with the last known groups.
        let groups_overage = Family::<ConnectionLabels, Counter>::default();
        registry.register(
            "idbridge_groups_overage",
            "Logins whose IdP sent a groups link instead of the groups (last known groups kept), by connection",
            groups_overage.clone(),
        );
        let events_written = Family::<EventLabels, Counter>::default();
        registry.register(
            "idbridge_events_written",
            "Change events committed to the outbox, by type",
            events_written.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "idbridge_webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, retried)",
            webhook_deliveries.clone(),
        );
        let webhooks_failing = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "idbridge_webhooks_failing",
            "Webhooks without a successful delivery for 24 h (status failing)",
            webhooks_failing.clone(),
        );
        let webhook_seconds = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
        ]);
        registry.register(
            "idbridge_webhook_delivery_seconds",
            "Time from an event's commit to its acknowledgement by a webhook",
            webhook_seconds.clone(),
        );
        let oldest_undelivered = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "idbridge_events_oldest_undelivered_seconds",
            "Age of the oldest change event some webhook has not acknowledged (0: none)",
            oldest_undelivered.clone(),
        );
        let scim_shed = Family::<ShedLabels, Counter>::default();
        registry.register(
            "idbridge_scim_shed_requests",
            "SCIM requests refused with 429 under overload, by reason (in_flight, write_queue)",
            scim_shed.clone(),
        );
        let scim_rate_limited = Family::<ShedLabels, Counter>::default();
        registry.register(
            "idbridge_scim_rate_limited_requests",
            "SCIM requests refused with 429 over their token's rate limit, by reason (token_rate)",
            scim_rate_limited.clone(),
        );
        let scim_in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "idbridge_scim_in_flight_requests",
            "SCIM requests in progress on this node",
            scim_in_flight.clone(),
        );
        Metrics {
            registry,
            scim_shed,
            scim_rate_limited,
            scim_in_flight,
            webhook_deliveries,
            webhooks_failing,
            webhook_seconds,
            oldest_undelivered,
            requests,
            latency,
            queue_depth,
            batch_size,
            commit_seconds,
            refusals,
            groups_overage,
            events_written,
        }
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { method: method.into(), route: route.into(), status })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { method: method.into(), route: route.into() })
            .observe(seconds);
    }

    pub fn write_queue_inc(&self) {
        self.queue_depth.inc();
    }

    pub fn write_queue_dec(&self, n: usize) {
        self.queue_depth.dec_by(n as i64);
    }

    pub fn observe_commit(&self, jobs: usize, seconds: f64) {
        self.batch_size.observe(jobs as f64);
        self.commit_seconds.observe(seconds);
    }

    /// Count a refusal (login refused, bad token, ...) by its precise reason code.
    pub fn refusal(&self, surface: &str, reason: &str) {
        self.refusals.get_or_create(&ReasonLabels { surface: surface.into(), reason: reason.into() }).inc();
    }

    /// Count a login that came without the user's groups (groups overage).
    pub fn groups_overage(&self, connection: &str) {
        self.groups_overage.get_or_create(&ConnectionLabels { connection: connection.into() }).inc();
    }

    /// Count a committed change event of `kind`.
    pub fn event_written(&self, kind: &str) {
        self.events_written.get_or_create(&vec![("type", kind.to_string())]).inc();
    }

    /// Count a webhook delivery attempt (`delivered` or `retried`).
    pub fn webhook_delivery(&self, outcome: &str) {
        self.webhook_deliveries.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
    }

    /// Observe the commit-to-acknowledgement latency of one delivered event.
    pub fn webhook_latency(&self, seconds: f64) {
        self.webhook_seconds.observe(seconds);
    }

    /// Set the webhook gauges (failing webhooks, oldest undelivered event's age).
    pub fn webhook_health(&self, failing: i64, oldest_undelivered_seconds: f64) {
        self.webhooks_failing.set(failing);
        self.oldest_undelivered.set(oldest_undelivered_seconds);
    }

    /// Count a SCIM request shed under overload (`in_flight`, `write_queue`).
    pub fn scim_shed(&self, reason: &str) {
        self.scim_shed.get_or_create(&ShedLabels { reason: reason.into() }).inc();
    }

    /// Count a SCIM request refused over its token's rate (`token_rate`).
    pub fn scim_rate_limited(&self, reason: &str) {
        self.scim_rate_limited.get_or_create(&ShedLabels { reason: reason.into() }).inc();
    }

    pub fn scim_in_flight_inc(&self) {
        self.scim_in_flight.inc();
    }

    pub fn scim_in_flight_dec(&self) {
        self.scim_in_flight.dec();
    }

    /// Current depth (for tests and logs).
    pub fn write_queue_depth(&self) -> i64 {
        self.queue_depth.get()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
