//! A per-key rate limit for unauthenticated requests that write state: the
//! start of a browser login (`/saml/{id}/login`, `/oidc/{id}/login`) stores a
//! single-use request for 10 minutes, so an unbounded caller could fill the
//! store. Fixed one-second windows per connection id; the map is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Login starts allowed per connection per second (secure default; far above
/// what people clicking a sign-in button produce).
pub const LOGIN_STARTS_PER_SECOND: u32 = 50;
/// Keys tracked at most; beyond that the map is reset (a flood of made-up ids
/// cannot grow memory).
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// Count one event for `key`; false when the key is over `per_second`.
    pub fn allow(&self, key: &str, per_second: u32) -> bool {
        let mut m = match self.windows.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if m.len() >= MAX_KEYS && !m.contains_key(key) {
            m.clear();
        }
        let now = Instant::now();
        let entry = m.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_window() {
        let l = RateLimiter::default();
        assert!((0..5).all(|_| l.allow("a", 5)));
        assert!(!l.allow("a", 5));
        assert!(l.allow("b", 5), "keys are independent");
        std::thread::sleep(Duration::from_millis(1_050));
        assert!(l.allow("a", 5), "a new window");
    }
}
