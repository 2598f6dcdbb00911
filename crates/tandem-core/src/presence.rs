//! Presence (Yjs awareness) as the server keeps it: who is here, owned by which connection,
//! with y-protocols' clock rules. Never stored; pure data, no I/O, no timers of its own.
//!
//! Clocks decide: an entry is taken only if its clock is newer than what we hold (or equal
//! with a null state, which is how y-protocols says "gone"). Stock y-websocket clients re-send
//! every awareness change they *receive*, so without this rule a bystander would take over
//! ownership of someone else's presence and it would outlive its owner's connection. Removed
//! entries are kept as tombstones (clock only) until the TTL so a stale re-send cannot revive them.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::protocol::AwarenessEntry;

struct Entry {
    conn: u64,
    clock: u64,
    /// `None` is a tombstone.
    state: Option<String>,
    seen: Instant,
}

#[derive(Default)]
pub struct PresenceMap {
    entries: HashMap<u64, Entry>,
}

const NULL: &str = "null";

impl PresenceMap {
    /// Applies an awareness update from `conn`; returns the entries that changed (to broadcast).
    pub fn apply(
        &mut self,
        conn: u64,
        update: Vec<AwarenessEntry>,
        now: Instant,
    ) -> Vec<AwarenessEntry> {
        let mut changed = Vec::new();
        for e in update {
            let current = self.entries.get(&e.client_id);
            let newer = match current {
                None => e.state != NULL,
                Some(c) => {
                    e.clock > c.clock
                        || (e.clock == c.clock && e.state == NULL && c.state.is_some())
                }
            };
            if !newer {
                continue;
            }
            let state = (e.state != NULL).then(|| e.state.clone());
            self.entries.insert(
                e.client_id,
                Entry {
                    conn,
                    clock: e.clock,
                    state,
                    seen: now,
                },
            );
            changed.push(e);
        }
        changed
    }

    /// Every live state (for a joiner or a query-awareness).
    pub fn states(&self) -> Vec<AwarenessEntry> {
        self.entries
            .iter()
            .filter_map(|(id, e)| {
                Some(AwarenessEntry {
                    client_id: *id,
                    clock: e.clock,
                    state: e.state.clone()?,
                })
            })
            .collect()
    }

    /// Removes every live entry owned by `conn`; returns the removals to broadcast.
    pub fn remove_conn(&mut self, conn: u64, now: Instant) -> Vec<AwarenessEntry> {
        self.tombstone(|e| e.conn == conn, now)
    }

    /// Removes live entries not refreshed within `ttl` (returned, to broadcast) and forgets
    /// tombstones older than `ttl`.
    pub fn expire(&mut self, ttl: Duration, now: Instant) -> Vec<AwarenessEntry> {
        self.entries
            .retain(|_, e| e.state.is_some() || now.duration_since(e.seen) < ttl);
        self.tombstone(|e| now.duration_since(e.seen) >= ttl, now)
    }

    fn tombstone(&mut self, pick: impl Fn(&Entry) -> bool, now: Instant) -> Vec<AwarenessEntry> {
        let mut removed = Vec::new();
        for (id, e) in self
            .entries
            .iter_mut()
            .filter(|(_, e)| e.state.is_some() && pick(e))
        {
            e.state = None;
            e.clock += 1;
            e.seen = now;
            removed.push(AwarenessEntry {
                client_id: *id,
                clock: e.clock,
                state: NULL.into(),
            });
        }
        removed
    }

    pub fn is_empty(&self) -> bool {
        self.entries.values().all(|e| e.state.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: u64, clock: u64, state: &str) -> AwarenessEntry {
        AwarenessEntry {
            client_id: id,
            clock,
            state: state.into(),
        }
    }

    #[test]
    fn stale_resend_by_a_bystander_does_not_take_ownership() {
        let now = Instant::now();
        let mut p = PresenceMap::default();
        assert_eq!(p.apply(1, vec![e(7, 1, "{\"a\":1}")], now).len(), 1);
        // Connection 2 echoes what it received: same clock, ignored.
        assert!(p.apply(2, vec![e(7, 1, "{\"a\":1}")], now).is_empty());
        assert!(p.remove_conn(2, now).is_empty());
        let gone = p.remove_conn(1, now);
        assert_eq!(gone, vec![e(7, 2, "null")]);
        // A late stale re-send cannot revive it.
        assert!(p.apply(2, vec![e(7, 1, "{\"a\":1}")], now).is_empty());
        assert!(p.states().is_empty());
    }

    #[test]
    fn ttl_expires_silent_entries_and_then_their_tombstones() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(30);
        let mut p = PresenceMap::default();
        p.apply(1, vec![e(1, 1, "{}"), e(2, 1, "{}")], t0);
        p.apply(1, vec![e(2, 2, "{}")], t0 + Duration::from_secs(20));
        assert_eq!(
            p.expire(ttl, t0 + Duration::from_secs(31)),
            vec![e(1, 2, "null")]
        );
        assert_eq!(p.states().len(), 1);
        assert!(p.expire(ttl, t0 + Duration::from_secs(70)).len() == 1);
        assert_eq!(
            p.entries.len(),
            1,
            "1's tombstone aged out; 2's is kept until its own TTL"
        );
        p.expire(ttl, t0 + Duration::from_secs(200));
        assert!(p.entries.is_empty());
    }
}
