//! Abuse limits (governor's keyed GCRA limiters): logins per client address and per account and
//! address (`throttle`),
//! sign-ups per address, document creation per user, WebSocket messages per user; and a cap on
//! open WebSockets per client address. The per-connection message limit lives in
//! `tandem_core::session`.
//!
//! Each keyed limiter's table is bounded: past [`MAX_KEYS`] entries, keys whose bucket is full
//! again are dropped (`retain_recent`), which forgets nothing a client could use.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::throttle::LoginThrottle;
use crate::config::AuthSettings;
use crate::error::AppError;

const MAX_KEYS: usize = 100_000;

/// Shares to emails with no account one user may try a minute.
pub const SHARE_MISSES_PER_MINUTE: u32 = 30;

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

    /// `n` a minute, all of them at once if need be.
    pub fn per_minute(n: u32) -> Self {
        Self::new(Quota::per_minute(nz(n)).allow_burst(nz(n)))
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
            .map_err(|not_until| not_until.wait_time_from(self.inner.clock().now()))
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
    /// Per account and address, with a per-account back-off (see `throttle`).
    pub login: LoginThrottle,
    pub signup_by_ip: Limiter<String>,
    /// Guests made by opening public links: as many an hour per address as sign-ups.
    pub guests_by_ip: Limiter<String>,
    pub docs_by_user: Limiter<i64>,
    pub uploads_by_user: Limiter<i64>,
    pub messages_by_user: Limiter<i64>,
    pub comments_by_user: Limiter<i64>,
    /// Share-link previews for signed-out people: 60 a minute per address.
    pub link_previews_by_ip: Limiter<String>,
    /// "Request access" from the no-access page: 10 a minute per user.
    pub access_requests_by_user: Limiter<i64>,
    /// Sharing by email tells whether an account exists (docs/security.md): misses are paced.
    pub share_misses: MissPacer,
    pub sockets_by_ip: SocketCap,
}

impl Limits {
    pub fn new(s: &AuthSettings) -> Self {
        let per_min = |n| Quota::per_minute(nz(n)).allow_burst(nz(n));
        Self {
            login_by_ip: Limiter::new(per_min(s.login_per_minute)),
            login: LoginThrottle::new(s.login_per_minute),
            signup_by_ip: Limiter::new(
                Quota::per_hour(nz(s.signup_per_hour)).allow_burst(nz(s.signup_per_hour)),
            ),
            guests_by_ip: Limiter::new(
                Quota::per_hour(nz(s.signup_per_hour)).allow_burst(nz(s.signup_per_hour)),
            ),
            docs_by_user: Limiter::new(per_min(s.docs_per_minute)),
            uploads_by_user: Limiter::new(per_min(s.uploads_per_minute)),
            messages_by_user: Limiter::new(
                Quota::per_second(nz(s.user_messages_per_sec))
                    .allow_burst(nz(s.user_messages_per_sec.saturating_mul(2))),
            ),
            comments_by_user: Limiter::per_minute(crate::routes::comments::COMMENTS_PER_MINUTE),
            share_misses: MissPacer::new(SHARE_MISSES_PER_MINUTE),
            access_requests_by_user: Limiter::per_minute(10),
            link_previews_by_ip: Limiter::per_minute(60),
            sockets_by_ip: SocketCap::new(s.sockets_per_ip),
        }
    }
}

/// Paces the lookups that come back empty ("no account has this email"), which are what an
/// enumeration is made of, without slowing an owner who shares with many real people. The miss
/// that uses up the budget is answered as usual; after it, every lookup of that user gets 429
/// until the budget refills, so a 429 never tells a hit from a miss.
pub struct MissPacer {
    misses: Limiter<i64>,
    /// Users over budget, until when. One short critical section per lookup.
    blocked: Mutex<HashMap<i64, std::time::Instant>>,
}

impl MissPacer {
    fn new(per_minute: u32) -> Self {
        Self {
            misses: Limiter::per_minute(per_minute),
            blocked: Mutex::default(),
        }
    }

    /// Before a lookup: 429 while `user` is over budget.
    pub fn check(&self, user: i64) -> Result<(), AppError> {
        let mut blocked = self.blocked.lock().expect("miss pacer poisoned");
        let now = std::time::Instant::now();
        blocked.retain(|_, until| *until > now);
        match blocked.get(&user) {
            Some(until) => Err(AppError::TooManyRequests {
                retry_after_secs: (*until - now).as_secs_f64().ceil().max(1.0) as u64,
            }),
            None => Ok(()),
        }
    }

    /// After a lookup that found no account.
    pub fn missed(&self, user: i64) {
        if let Err(wait) = self.misses.check(&user) {
            let mut blocked = self.blocked.lock().expect("miss pacer poisoned");
            blocked.insert(user, std::time::Instant::now() + wait);
        }
    }
}

/// Open WebSockets per client address. A permit is held for the socket's life; the count, and
/// the address's entry, go when the last permit drops, so the table holds only live addresses.
pub struct SocketCap {
    max: u32,
    /// One short critical section per upgrade and per close; never held across an await.
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

pub struct SocketPermit {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl SocketCap {
    fn new(max: u32) -> Self {
        Self {
            max,
            open: Default::default(),
        }
    }

    /// A permit for one more socket from `ip`, or 429 when it already has `max` open.
    pub fn acquire(&self, ip: IpAddr) -> Result<SocketPermit, AppError> {
        let mut open = self.open.lock().expect("socket cap poisoned");
        let n = open.entry(ip).or_default();
        if *n >= self.max {
            return Err(AppError::TooManyRequests {
                retry_after_secs: 10,
            });
        }
        *n += 1;
        Ok(SocketPermit {
            ip,
            open: self.open.clone(),
        })
    }

    /// Sockets open from `ip` now.
    pub fn open(&self, ip: IpAddr) -> u32 {
        let open = self.open.lock().expect("socket cap poisoned");
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("socket cap poisoned");
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_cap_counts_live_sockets_per_address_and_forgets_closed_ones() {
        let cap = SocketCap::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let p1 = cap.acquire(a).unwrap();
        let _p2 = cap.acquire(a).unwrap();
        assert!(cap.acquire(a).is_err(), "a third socket from one address");
        let _other = cap.acquire(b).unwrap();
        drop(p1);
        let _p3 = cap.acquire(a).unwrap();
        drop(_p3);
        drop(_p2);
        assert_eq!(cap.open(a), 0);
        assert_eq!(
            cap.open.lock().unwrap().len(),
            1,
            "closed addresses leave no entry"
        );
    }
}
