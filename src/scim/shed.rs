//! SCIM load shedding and the per-token rate limit (docs/scim.md#load-shedding-and-rate-limits).
//!
//! Under overload a SCIM request is refused at once with `429 Too Many
//! Requests` and `Retry-After` (seconds) rather than queued without bound:
//! Okta and Entra back off and retry a 429, while a request that waits in a
//! queue ties up the client's connection and our memory and may time out after
//! the work was done anyway. Two bounds, both checked before any work (no body
//! read, nothing written):
//!
//! - in flight: at most `max_in_flight` SCIM requests of this node at once;
//! - the store's write queue: a SCIM write (POST other than `/.search`, PUT,
//!   PATCH, DELETE, Bulk) is refused while `max_write_queue` or more write
//!   jobs are already waiting for the single writer.
//!
//! The per-token limit is a token bucket per SCIM token (`rate` requests a
//! second, `burst` at once), kept in this node's memory: no store round trip
//! per request, so with N nodes a token gets up to N× the rate. Off by default.
//! It is counted once the token is verified (wire.rs, the ScimClient
//! extractor), before the body is read. The admission layer itself is in
//! routes.rs: this file stays free of the HTTP framework (the layering check).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::error::ScimError;
use crate::metrics::Metrics;

/// Default bound on SCIM requests in flight on one node: far above the 16–32
/// concurrent clients Okta, Entra and the benchmarks use, low enough that a
/// flood of 4 MiB bodies cannot take the node's memory.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
/// Default bound on the write queue a SCIM write may join: one full commit
/// batch (the writer's MAX_BATCH) already waiting.
pub const DEFAULT_MAX_WRITE_QUEUE: usize = 256;
/// Retry-After for an overloaded node: a short, fixed wait; overload is
/// expected to pass within a commit or two.
pub const OVERLOAD_RETRY_AFTER_SECS: u64 = 1;
/// Above this many buckets, full (idle) ones are dropped: they hold nothing a
/// new bucket would not (a revoked token's bucket then goes away).
const PRUNE_ABOVE: usize = 4096;

/// The per-token rate: `per_second` requests a second on average, up to
/// `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenRate {
    pub per_second: f64,
    pub burst: u32,
}

/// The shedding settings (config.rs reads them; 0 turns a bound off).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShedSettings {
    /// SCIM requests in flight on this node at once (0: unbounded).
    pub max_in_flight: usize,
    /// Write jobs already queued beyond which a SCIM write is refused (0: unbounded).
    pub max_write_queue: usize,
    /// The per-token rate limit (None: off, the default).
    pub token_rate: Option<TokenRate>,
}

impl Default for ShedSettings {
    fn default() -> Self {
        ShedSettings {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_write_queue: DEFAULT_MAX_WRITE_QUEUE,
            token_rate: None,
        }
    }
}

impl ShedSettings {
    /// The settings from the operator's values: `rate` 0 turns the per-token
    /// limit off; `burst` 0 means "the rate rounded up" (at least 1).
    pub fn new(max_in_flight: usize, max_write_queue: usize, rate: f64, burst: u32) -> Result<Self, String> {
        if !rate.is_finite() || rate < 0.0 {
            return Err(format!("scim_token_rate must be a number ≥ 0 (requests per second), not {rate}"));
        }
        let token_rate = (rate > 0.0).then(|| {
            // Saturating float-to-int cast; the rate is finite and positive here.
            let burst = if burst == 0 { (rate.ceil() as u32).max(1) } else { burst };
            TokenRate { per_second: rate, burst }
        });
        Ok(ShedSettings { max_in_flight, max_write_queue, token_rate })
    }
}

/// Why a request was refused with 429 (the metrics' `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Too many SCIM requests in flight on this node.
    InFlight,
    /// The store's write queue is too deep for another write.
    WriteQueue,
    /// The token's bucket is empty.
    TokenRate,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::InFlight => "in_flight",
            Reason::WriteQueue => "write_queue",
            Reason::TokenRate => "token_rate",
        }
    }
}

/// One token's bucket: `tokens` left as of `at`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: TokenRate, now: Instant) -> Bucket {
        Bucket { tokens: f64::from(rate.burst), at: now }
    }

    /// Take one token at `now`; when there is none, how long until there is.
    fn take(&mut self, rate: TokenRate, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        self.at = self.at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            // A tiny configured rate can make the wait too long for a Duration
            // (from_secs_f64 would panic): the longest wait then.
            Err(Duration::try_from_secs_f64((1.0 - self.tokens) / rate.per_second).unwrap_or(Duration::MAX))
        }
    }

    fn is_full(&self, rate: TokenRate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * rate.per_second >= f64::from(rate.burst)
    }
}

/// Whole seconds for Retry-After: rounded up (retrying earlier would be
/// refused again), at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0));
    secs.max(1)
}

/// The per-token buckets, by token id.
#[derive(Default)]
struct Buckets(HashMap<String, Bucket>);

impl Buckets {
    /// Count one request of `token_id` at `now`; Err(seconds to wait) when over the rate.
    fn take(&mut self, token_id: &str, rate: TokenRate, now: Instant) -> Result<(), u64> {
        if self.0.len() > PRUNE_ABOVE {
            self.0.retain(|_, b| !b.is_full(rate, now));
        }
        let bucket = match self.0.get_mut(token_id) {
            Some(b) => b,
            None => self.0.entry(token_id.to_string()).or_insert(Bucket::full(rate, now)),
        };
        bucket.take(rate, now).map_err(retry_after_secs)
    }
}

/// Logging of refusals, at most once a second per node: a flood must not turn
/// into a flood of log lines. The count of refusals since the last line is logged.
#[derive(Default)]
struct LogThrottle {
    last_second: AtomicI64,
    unlogged: AtomicU64,
}

impl LogThrottle {
    fn refused(&self, reason: Reason, detail: &str) {
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        let second = crate::clock::now().unix_timestamp();
        if self.last_second.swap(second, Ordering::Relaxed) != second {
            let refused = self.unlogged.swap(0, Ordering::Relaxed);
            tracing::warn!(reason = reason.label(), refused, "SCIM request refused with 429: {detail}");
        }
    }
}

/// The node's shedding state (in AppState).
pub struct Shed {
    settings: ShedSettings,
    metrics: Arc<Metrics>,
    in_flight: AtomicUsize,
    buckets: Mutex<Buckets>,
    log: LogThrottle,
}

/// Holds one in-flight slot; gives it back when the answer is made (or the
/// request is dropped).
pub struct Slot<'a>(&'a Shed);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.scim_in_flight_dec();
    }
}

/// Writes go through the single writer; `/.search` POSTs only read.
fn is_write(method: &str, path: &str) -> bool {
    match method {
        "GET" | "HEAD" | "OPTIONS" => false,
        "POST" => !path.ends_with("/.search"),
        _ => true,
    }
}

impl Shed {
    pub fn new(settings: ShedSettings, metrics: Arc<Metrics>) -> Shed {
        Shed {
            settings,
            metrics,
            in_flight: AtomicUsize::new(0),
            buckets: Mutex::new(Buckets::default()),
            log: LogThrottle::default(),
        }
    }

    pub fn settings(&self) -> ShedSettings {
        self.settings
    }

    /// SCIM requests in flight on this node now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    fn refuse(&self, reason: Reason, detail: String, retry_after_secs: u64) -> ScimError {
        self.log.refused(reason, &detail);
        match reason {
            Reason::TokenRate => self.metrics.scim_rate_limited(reason.label()),
            Reason::InFlight | Reason::WriteQueue => self.metrics.scim_shed(reason.label()),
        }
        ScimError::TooManyRequests { reason: reason.label(), detail, retry_after_secs }
    }

    /// Admit a request of `method` to `path` while `queued` store writes wait
    /// (a slot held until the guard drops), or the 429 refusal.
    pub fn admit(&self, method: &str, path: &str, queued: i64) -> Result<Slot<'_>, ScimError> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.metrics.scim_in_flight_inc();
        let slot = Slot(self);
        let max = self.settings.max_in_flight;
        if max > 0 && before >= max {
            return Err(self.refuse(
                Reason::InFlight,
                format!(
                    "the server is busy ({max} SCIM requests in progress); retry after the Retry-After delay"
                ),
                OVERLOAD_RETRY_AFTER_SECS,
            ));
        }
        let max = self.settings.max_write_queue;
        if max > 0 && is_write(method, path) && queued >= i64::try_from(max).unwrap_or(i64::MAX) {
            return Err(self.refuse(
                Reason::WriteQueue,
                format!("the server is busy ({queued} writes waiting); retry after the Retry-After delay"),
                OVERLOAD_RETRY_AFTER_SECS,
            ));
        }
        Ok(slot)
    }

    /// Count one request of an authenticated token against its rate (Err: 429).
    pub fn check_token(&self, token_id: &str) -> Result<(), ScimError> {
        let Some(rate) = self.settings.token_rate else { return Ok(()) };
        let taken = match self.buckets.lock() {
            Ok(mut b) => b.take(token_id, rate, Instant::now()),
            Err(poisoned) => poisoned.into_inner().take(token_id, rate, Instant::now()),
        };
        taken.map_err(|secs| {
            self.refuse(
                Reason::TokenRate,
                format!(
                    "this token is over its rate limit ({} requests per second, bursts of {}); retry in {secs} s",
                    rate.per_second, rate.burst
                ),
                secs,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: TokenRate = TokenRate { per_second: 2.0, burst: 3 };

    /// A rate so small that the wait overflows a Duration refuses with the
    /// longest Retry-After rather than panicking in the request.
    #[test]
    fn a_tiny_rate_refuses_without_panicking() {
        let rate = ShedSettings::new(0, 0, 1e-300, 1).unwrap().token_rate.unwrap();
        let t0 = Instant::now();
        let mut b = Buckets::default();
        assert_eq!(b.take("t", rate, t0), Ok(()));
        assert_eq!(b.take("t", rate, t0), Err(u64::MAX));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_until_refilled() {
        let t0 = Instant::now();
        let mut b = Buckets::default();
        for _ in 0..3 {
            assert_eq!(b.take("a", RATE, t0), Ok(()));
        }
        // Empty: one token comes back in 0.5 s, announced as 1 s (whole seconds, rounded up).
        assert_eq!(b.take("a", RATE, t0), Err(1));
        assert_eq!(b.take("b", RATE, t0), Ok(()), "another token has its own bucket");
        assert_eq!(b.take("a", RATE, t0 + Duration::from_millis(250)), Err(1));
        assert_eq!(b.take("a", RATE, t0 + Duration::from_millis(500)), Ok(()));
        assert_eq!(b.take("a", RATE, t0 + Duration::from_millis(500)), Err(1));
        // A long idle time refills to the burst, never beyond it.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(b.take("a", RATE, later), Ok(()));
        }
        assert_eq!(b.take("a", RATE, later), Err(1));
    }

    #[test]
    fn retry_after_is_the_wait_rounded_up_in_seconds() {
        let slow = TokenRate { per_second: 0.25, burst: 1 };
        let t0 = Instant::now();
        let mut b = Buckets::default();
        assert_eq!(b.take("a", slow, t0), Ok(()));
        assert_eq!(b.take("a", slow, t0), Err(4));
        assert_eq!(b.take("a", slow, t0 + Duration::from_millis(1_500)), Err(3));
        assert_eq!(b.take("a", slow, t0 + Duration::from_secs(4)), Ok(()));
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    #[test]
    fn a_clock_going_back_refills_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = Buckets::default();
        assert_eq!(b.take("a", TokenRate { per_second: 1.0, burst: 1 }, t0), Ok(()));
        let earlier = t0 - Duration::from_secs(5);
        assert_eq!(b.take("a", TokenRate { per_second: 1.0, burst: 1 }, earlier), Err(1));
    }

    #[test]
    fn idle_buckets_are_pruned_when_there_are_many() {
        let t0 = Instant::now();
        let mut b = Buckets::default();
        for i in 0..=PRUNE_ABOVE {
            assert_eq!(b.take(&format!("t{i}"), RATE, t0), Ok(()));
        }
        // Two seconds on, every bucket is full again: the next take prunes them all.
        assert_eq!(b.take("new", RATE, t0 + Duration::from_secs(2)), Ok(()));
        assert_eq!(b.0.len(), 1);
    }

    #[test]
    fn settings_from_operator_values() {
        let s = ShedSettings::new(8, 16, 0.0, 5).unwrap();
        assert_eq!((s.max_in_flight, s.max_write_queue, s.token_rate), (8, 16, None));
        let s = ShedSettings::new(8, 16, 2.5, 0).unwrap();
        assert_eq!(s.token_rate, Some(TokenRate { per_second: 2.5, burst: 3 }));
        let s = ShedSettings::new(8, 16, 0.1, 0).unwrap();
        assert_eq!(s.token_rate, Some(TokenRate { per_second: 0.1, burst: 1 }));
        assert!(ShedSettings::new(8, 16, -1.0, 0).is_err());
        assert!(ShedSettings::new(8, 16, f64::NAN, 0).is_err());
        assert_eq!(ShedSettings::default().token_rate, None, "off by default");
    }

    fn shed(max_in_flight: usize, max_write_queue: usize) -> Shed {
        Shed::new(ShedSettings { max_in_flight, max_write_queue, token_rate: None }, Arc::new(Metrics::new()))
    }

    #[test]
    fn in_flight_requests_are_bounded_and_slots_come_back() {
        let s = shed(2, 0);
        let a = s.admit("GET", "/scim/v2/o/Users", 0).unwrap();
        let b = s.admit("GET", "/scim/v2/o/Users", 0).unwrap();
        let refused = s.admit("GET", "/scim/v2/o/Users", 0).map(|_| ()).unwrap_err();
        assert!(matches!(
            refused,
            ScimError::TooManyRequests { reason: "in_flight", retry_after_secs: 1, .. }
        ));
        assert_eq!(s.in_flight(), 2, "a refused request gives its slot back");
        drop(a);
        let c = s.admit("GET", "/scim/v2/o/Users", 0).unwrap();
        drop((b, c));
        assert_eq!(s.in_flight(), 0);
        assert!(s.metrics.render().contains("idbridge_scim_shed_requests_total{reason=\"in_flight\"} 1"));
    }

    #[test]
    fn writes_are_refused_behind_a_deep_write_queue_and_reads_are_not() {
        let s = shed(0, 10);
        assert!(s.admit("POST", "/scim/v2/o/Users", 9).is_ok());
        for (m, p) in [
            ("POST", "/scim/v2/o/Users"),
            ("PUT", "/scim/v2/o/Users/1"),
            ("PATCH", "/scim/v2/o/Groups/1"),
            ("DELETE", "/scim/v2/o/Users/1"),
            ("POST", "/scim/v2/o/Bulk"),
        ] {
            let e = s.admit(m, p, 10).map(|_| ()).unwrap_err();
            assert!(matches!(e, ScimError::TooManyRequests { reason: "write_queue", .. }), "{m} {p}");
        }
        assert!(s.admit("GET", "/scim/v2/o/Users", 1_000).is_ok());
        assert!(s.admit("POST", "/scim/v2/o/Users/.search", 1_000).is_ok());
        assert_eq!(s.in_flight(), 0);
        assert!(s.metrics.render().contains("idbridge_scim_shed_requests_total{reason=\"write_queue\"} 5"));
    }
}
