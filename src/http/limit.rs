//! A per-key rate limit for unauthenticated requests that write state: the
//! start of a browser login (`/saml/{id}/login`, `/oidc/{id}/login`) stores a
//! single-use request for 10 minutes, so an unbounded caller could fill the
//! store. Fixed one-second windows per connection id, counted in the store
//! (`store::rate_limits`, one upsert per hit) so the limit holds for the whole
//! deployment, not per node: N nodes behind a balancer do not multiply it.
//! The table stays bounded: ended windows are purged here (at most once a
//! second per node) and by housekeeping.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::clock;
use crate::store::{self, Db, StoreError};

/// Login starts allowed per connection per second (secure default; far above
/// what people clicking a sign-in button produce).
pub const LOGIN_STARTS_PER_SECOND: u32 = 50;
/// Longest key stored: the connection id in a key comes from the URL, so a
/// made-up id is cut (real ids are at most 64 characters).
const MAX_KEY_CHARS: usize = 100;

pub struct RateLimiter {
    db: Db,
    /// The window whose predecessors this node last purged (throttles the purge).
    purged_before: AtomicI64,
}

impl RateLimiter {
    pub fn new(db: Db) -> RateLimiter {
        RateLimiter { db, purged_before: AtomicI64::new(0) }
    }

    /// Count one event for `key` (on every node together); false when the key
    /// is over `per_second` in the current one-second window.
    pub async fn allow(&self, key: &str, per_second: u32) -> Result<bool, StoreError> {
        let key: String = key.chars().take(MAX_KEY_CHARS).collect();
        let window = clock::now().unix_timestamp();
        // The window before the current one is kept: a node whose clock is a
        // little behind may still be counting in it.
        let purge_before = window - 1;
        let purge = self.purged_before.fetch_max(purge_before, Ordering::Relaxed) < purge_before;
        let hits = self
            .db
            .write(move |tx| {
                if purge {
                    store::rate_limits::purge_before(tx, purge_before)?;
                }
                store::rate_limits::hit(tx, &key, window)
            })
            .await?;
        Ok(hits <= i64::from(per_second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn limits_per_key_and_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("limit.db");
        let db =
            tokio::task::spawn_blocking(move || Db::open(&path, Arc::new(crate::metrics::Metrics::new())))
                .await
                .unwrap()
                .unwrap();
        let l = RateLimiter::new(db.clone());
        // Start right after a window boundary so five hits fit in one window.
        let ms = clock::now().millisecond();
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(1_000 - ms) + 20)).await;
        for _ in 0..5 {
            assert!(l.allow("a", 5).await.unwrap());
        }
        assert!(!l.allow("a", 5).await.unwrap());
        assert!(l.allow("b", 5).await.unwrap(), "keys are independent");
        tokio::time::sleep(std::time::Duration::from_millis(1_050)).await;
        assert!(l.allow("a", 5).await.unwrap(), "a new window");
        db.close();
    }
}
