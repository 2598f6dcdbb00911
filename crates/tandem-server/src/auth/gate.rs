//! The join gate: how many WebSockets may be joining (access check, room join, the first sync
//! exchange) at once, and how that room is shared between users and addresses.
//!
//! A join is the expensive part of a connection's life. After a crash thousands of clients
//! reconnect within a second or two; letting them all join at once queues every task of every
//! established connection behind theirs (a bystander's ack took 440 ms in a 2,000-client storm on
//! a test build), so [`JOINS_IN_FLIGHT`] joins run at a time and the rest wait cheaply here.
//!
//! A fair share, not first come first served: one user holds at most [`JOINS_PER_USER`] places
//! and one client address at most `joins_per_ip`, and each waits in its own queue for a share
//! before it queues for a place. 480 silent sockets of one account once delayed another user's
//! join by 14.8 s; now they wait behind each other and the other user walks past them.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Joins in flight at once over the whole server.
pub const JOINS_IN_FLIGHT: usize = 32;
/// Places one account may hold at once (a person with a few tabs, a reconnecting laptop).
pub const JOINS_PER_USER: usize = 4;

pub struct JoinGate {
    places: Arc<Semaphore>,
    by_user: Shares<i64>,
    by_ip: Shares<IpAddr>,
}

/// Held while a connection joins; dropping it frees the place and the shares.
pub struct JoinPermit {
    _place: OwnedSemaphorePermit,
    // Dropped after the place, so a user's next join finds a place free.
    _user: Option<SharePermit<i64>>,
    _ip: Option<SharePermit<IpAddr>>,
}

impl JoinGate {
    pub fn new(joins_per_ip: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(JOINS_IN_FLIGHT)),
            by_user: Shares::new(JOINS_PER_USER),
            by_ip: Shares::new(joins_per_ip.clamp(1, JOINS_IN_FLIGHT)),
        }
    }

    /// Waits for `user`'s share (when set: with `--auth none` everyone is one user), then the
    /// address's share, then a place.
    pub async fn enter(&self, user: Option<i64>, ip: Option<IpAddr>) -> JoinPermit {
        let user = match user {
            Some(u) => Some(self.by_user.acquire(u).await),
            None => None,
        };
        let ip = match ip {
            Some(ip) => Some(self.by_ip.acquire(ip).await),
            None => None,
        };
        // The gate is never closed, so acquiring only waits.
        let place = self
            .places
            .clone()
            .acquire_owned()
            .await
            .expect("the join gate is never closed");
        JoinPermit {
            _place: place,
            _user: user,
            _ip: ip,
        }
    }

    /// Places free now (for tests and metrics).
    pub fn free(&self) -> usize {
        self.places.available_permits()
    }
}

/// A semaphore per key, created on first use and dropped with its last holder or waiter, so the
/// table holds only keys that are joining now.
struct Shares<K: Hash + Eq + Clone> {
    per_key: usize,
    /// One short critical section per acquire and release; never held across an await.
    table: Arc<Mutex<HashMap<K, Arc<Semaphore>>>>,
}

struct SharePermit<K: Hash + Eq + Clone> {
    key: K,
    permit: Option<OwnedSemaphorePermit>,
    table: Arc<Mutex<HashMap<K, Arc<Semaphore>>>>,
}

impl<K: Hash + Eq + Clone> Shares<K> {
    fn new(per_key: usize) -> Self {
        Self {
            per_key,
            table: Default::default(),
        }
    }

    async fn acquire(&self, key: K) -> SharePermit<K> {
        let sem = {
            let mut table = self.table.lock().expect("join shares poisoned");
            table
                .entry(key.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_key)))
                .clone()
        };
        // A waiter holds a clone of the semaphore, so its entry stays while it waits, even if
        // the future is dropped (the socket went away) before it got a share.
        let permit = sem.acquire_owned().await.expect("shares are never closed");
        SharePermit {
            key,
            permit: Some(permit),
            table: self.table.clone(),
        }
    }
}

impl<K: Hash + Eq + Clone> Drop for SharePermit<K> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut table = self.table.lock().expect("join shares poisoned");
        drop(permit);
        // The table's reference and nobody else's: no holder, no waiter.
        if table
            .get(&self.key)
            .is_some_and(|sem| Arc::strong_count(sem) == 1)
        {
            table.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_user_holds_a_few_places_and_others_walk_past() {
        let gate = Arc::new(JoinGate::new(8));
        let mut held = Vec::new();
        for _ in 0..JOINS_PER_USER {
            held.push(gate.enter(Some(1), None).await);
        }
        // The same user's next join waits for one of its own places…
        let more = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(Some(1), None).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!more.is_finished());
        assert_eq!(gate.free(), JOINS_IN_FLIGHT - JOINS_PER_USER);
        // …while another user enters at once.
        let other = tokio::time::timeout(Duration::from_millis(100), gate.enter(Some(2), None))
            .await
            .expect("another user waited behind the first");
        drop(other);
        held.pop();
        let _next = more.await.unwrap();
        drop(held);
        drop(_next);
        assert_eq!(gate.free(), JOINS_IN_FLIGHT);
        assert!(gate.by_user.table.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn one_address_holds_its_share_whoever_signs_in_from_it() {
        let gate = JoinGate::new(2);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let _a = gate.enter(Some(1), Some(ip)).await;
        let _b = gate.enter(Some(2), Some(ip)).await;
        let third = tokio::time::timeout(Duration::from_millis(50), gate.enter(Some(3), Some(ip)));
        assert!(third.await.is_err(), "a third join from the address got in");
        let elsewhere: IpAddr = [10, 0, 0, 2].into();
        let _c = tokio::time::timeout(
            Duration::from_millis(100),
            gate.enter(Some(3), Some(elsewhere)),
        )
        .await
        .expect("another address waited");
        // The third join gave up: nothing of it stays in the table.
        assert_eq!(gate.by_ip.table.lock().unwrap().len(), 2);
    }
}
