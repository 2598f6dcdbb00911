//! Abuse limits (governor's keyed GCRA limiters): logins per client address and per account,
//! sign-ups per address, document creation per user, WebSocket messages per user. The
//! per-connection message limit lives in `tandem_core::session`.
//!
//! Each keyed limiter's table is bounded: past [`MAX_KEYS`] entries, keys whose bucket is full
//! again are dropped (`retain_recent`), which forgets nothing a client could use.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::AuthSettings;
use crate::error::AppError;

const MAX_KEYS: usize = 100_000;

pub struct Limiter<K: Hash + Eq + Clone> {
    inner: DefaultKeyedRateLimiter<K>,
    /// Checks since the table size was last looked at: `len()` locks every shard, too much to do
    /// on each WebSocket frame.
    since_sweep: AtomicU32,
}

/// How often (in checks) the table size is looked at.
const SWEEP_EVERY: u32 = 4096;

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(quota: Quota) -> Self {
        Self {
            inner: RateLimiter::keyed(quota),
            since_sweep: AtomicU32::new(0),
        }
    }

    /// `Err(wait)` when `key` is over its limit.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.since_sweep.fetch_add(1, Ordering::Relaxed) >= SWEEP_EVERY {
            self.since_sweep.store(0, Ordering::Relaxed);
            if self.inner.len() > MAX_KEYS {
                self.inner.retain_recent();
            }
        }
        self.inner
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// The HTTP form: 429 with `Retry-After`.
    pub fn check_http(&self, key: &K) -> Result<(), AppError> {
        self.check(key).map_err(|wait| AppError::TooManyRequests {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("nonzero")
}

pub struct Limits {
    pub login_by_ip: Limiter<String>,
    pub login_by_account: Limiter<String>,
    pub signup_by_ip: Limiter<String>,
    pub docs_by_user: Limiter<i64>,
    pub messages_by_user: Limiter<i64>,
}

impl Limits {
    pub fn new(s: &AuthSettings) -> Self {
        let per_min = |n| Quota::per_minute(nz(n)).allow_burst(nz(n));
        Self {
            login_by_ip: Limiter::new(per_min(s.login_per_minute)),
            login_by_account: Limiter::new(per_min(s.login_per_minute)),
            signup_by_ip: Limiter::new(
                Quota::per_hour(nz(s.signup_per_hour)).allow_burst(nz(s.signup_per_hour)),
            ),
            docs_by_user: Limiter::new(per_min(s.docs_per_minute)),
            messages_by_user: Limiter::new(
                Quota::per_second(nz(s.user_messages_per_sec))
                    .allow_burst(nz(s.user_messages_per_sec.saturating_mul(2))),
            ),
        }
    }
}
