//! Login throttling that slows guessing without letting a guesser lock the owner out.
//!
//! - **Per account and address together**: `login_per_minute` attempts for one email from one
//!   address. Keyed by the email alone (as before), ten wrong passwords from anywhere locked the
//!   real user out for a minute, again and again.
//! - **Growing back-off per account**: after [`FREE_FAILURES`] failures in a row on one account
//!   (from any address), each further attempt must wait 1 s, 2 s, 4 s … up to [`MAX_BACKOFF`],
//!   so guessing across many addresses stays slow. Addresses this account signed in from before
//!   are exempt: the owner at their usual desk is never held back by someone else's guesses.
//!   A successful login clears the count.
//!
//! Both tables are bounded: past [`MAX_ENTRIES`] accounts, the ones with the oldest activity go.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::auth::limits::Limiter;
use crate::error::AppError;

pub const FREE_FAILURES: u32 = 5;
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 100_000;
/// Addresses remembered per account as ones it signed in from.
const KNOWN_ADDRESSES: usize = 8;

pub struct LoginThrottle {
    by_pair: Limiter<(String, Option<IpAddr>)>,
    /// One short critical section per attempt; never held across an await.
    accounts: Mutex<HashMap<String, AccountState>>,
}

#[derive(Default)]
struct AccountState {
    failures: u32,
    /// No attempt from an unknown address before this.
    not_before: Option<Instant>,
    known: Vec<IpAddr>,
    last_seen: Option<Instant>,
}

impl LoginThrottle {
    pub fn new(per_minute: u32) -> Self {
        Self {
            by_pair: Limiter::per_minute(per_minute),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// May this attempt go ahead? `Err` is a 429 with `Retry-After`.
    pub fn check(&self, email: &str, ip: Option<IpAddr>) -> Result<(), AppError> {
        self.by_pair.check_http(&(email.to_owned(), ip))?;
        let accounts = self.lock();
        let Some(state) = accounts.get(email) else {
            return Ok(());
        };
        let known = ip.is_some_and(|ip| state.known.contains(&ip));
        match state.not_before {
            Some(t) if !known && t > Instant::now() => Err(AppError::TooManyRequests {
                retry_after_secs: (t - Instant::now()).as_secs_f64().ceil().max(1.0) as u64,
            }),
            _ => Ok(()),
        }
    }

    pub fn failed(&self, email: &str) {
        let mut accounts = self.lock();
        let now = Instant::now();
        let state = self.entry(&mut accounts, email, now);
        state.failures += 1;
        if state.failures > FREE_FAILURES {
            let doublings = (state.failures - FREE_FAILURES - 1).min(16);
            let wait = Duration::from_secs(1 << doublings).min(MAX_BACKOFF);
            state.not_before = Some(now + wait);
        }
    }

    pub fn succeeded(&self, email: &str, ip: Option<IpAddr>) {
        let mut accounts = self.lock();
        let state = self.entry(&mut accounts, email, Instant::now());
        state.failures = 0;
        state.not_before = None;
        if let Some(ip) = ip {
            state.known.retain(|k| *k != ip);
            state.known.push(ip);
            if state.known.len() > KNOWN_ADDRESSES {
                state.known.remove(0);
            }
        }
    }

    fn entry<'a>(
        &self,
        accounts: &'a mut HashMap<String, AccountState>,
        email: &str,
        now: Instant,
    ) -> &'a mut AccountState {
        if accounts.len() >= MAX_ENTRIES && !accounts.contains_key(email) {
            // Forget the quietest tenth: they hold no back-off worth keeping.
            let mut seen: Vec<_> = accounts.values().filter_map(|s| s.last_seen).collect();
            seen.sort();
            if let Some(&cut) = seen.get(seen.len() / 10) {
                accounts.retain(|_, s| s.last_seen.is_some_and(|t| t > cut));
            }
        }
        let state = accounts.entry(email.to_owned()).or_default();
        state.last_seen = Some(now);
        state
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, AccountState>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_guesser_cannot_lock_the_owner_out() {
        let t = LoginThrottle::new(3);
        let (owner, guesser) = (ip("10.0.0.1"), ip("10.0.0.66"));
        t.succeeded("eve@example.org", owner);
        // One address's attempts on one account run out; the same account from elsewhere, and
        // other accounts from that address, are not touched.
        for _ in 0..3 {
            t.check("eve@example.org", guesser).unwrap();
        }
        assert!(t.check("eve@example.org", guesser).is_err());
        t.check("eve@example.org", ip("10.0.0.2")).unwrap();
        t.check("bob@example.org", guesser).unwrap();
        // Failures from everywhere set a back-off for unknown addresses; the owner's own
        // address goes through it.
        for _ in 0..=FREE_FAILURES {
            t.failed("eve@example.org");
        }
        assert!(t.check("eve@example.org", ip("10.0.0.67")).is_err());
        t.check("eve@example.org", owner).unwrap();
        t.succeeded("eve@example.org", owner);
        t.check("eve@example.org", ip("10.0.0.67")).unwrap();
    }

    #[test]
    fn the_back_off_grows_and_is_capped() {
        let t = LoginThrottle::new(1000);
        let wait = |t: &LoginThrottle| match t.check("a@b", ip("10.0.0.9")) {
            Err(AppError::TooManyRequests { retry_after_secs }) => retry_after_secs,
            _ => 0,
        };
        for _ in 0..FREE_FAILURES {
            t.failed("a@b");
        }
        assert_eq!(wait(&t), 0);
        let mut waits = vec![];
        for _ in 0..8 {
            t.failed("a@b");
            waits.push(wait(&t));
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
