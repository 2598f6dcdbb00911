//! Presence (Yjs awareness) as the server keeps it: who is here, owned by which connection,
//! with y-protocols' clock rules. Never stored; pure data, no I/O, no timers of its own.
//!
//! In a cluster each node also holds the entries of clients on other nodes, heard over the
//! fanout ([`PresenceWire`]) and owned by one pseudo-connection per node ([`remote_conn`]); they
//! follow the same clock rules, are never sent on again, and expire after `remote_ttl` unless
//! their client renews them (y-protocols clients renew every 15 s), so a killed node's entries
//! go within that time.
//!
//! Clocks decide: an entry is taken only if its clock is newer than what we hold (or equal
//! with a null state, which is how y-protocols says "gone"). Stock y-websocket clients re-send
//! every awareness change they *receive*, so without this rule a bystander would take over
//! ownership of someone else's presence and it would outlive its owner's connection. Removed
//! entries are kept as tombstones (clock only) until the TTL so a stale re-send cannot revive them.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::protocol::{decode_awareness, encode_awareness, AwarenessEntry};

/// The pseudo-connection that owns the entries heard from node `node` (the top bit set: local
/// connection ids never have it).
pub fn remote_conn(node: u64) -> u64 {
    node | 1 << 63
}

/// Whether `conn` is a remote node's pseudo-connection.
pub fn is_remote(conn: u64) -> bool {
    conn & 1 << 63 != 0
}

/// Presence as nodes exchange it over the fanout: best effort, no revision. Each message names
/// its node, so a node ignores its own and knows whose entries it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceWire {
    /// Entries that changed on `node` (or, answering a query, all of its own).
    States {
        node: u64,
        entries: Vec<AwarenessEntry>,
    },
    /// "Send me your entries": `node` just opened the document, or may have missed messages.
    Query { node: u64 },
}

impl PresenceWire {
    /// A kind byte (0 states, 1 query), the node (8 bytes, big-endian), then for states the
    /// entries in y-protocols' awareness layout.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::States { node, entries } => [
                &[0][..],
                &node.to_be_bytes(),
                &encode_awareness(entries.iter()),
            ]
            .concat(),
            Self::Query { node } => [&[1][..], &node.to_be_bytes()].concat(),
        }
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let node = u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?);
        match bytes[0] {
            0 => Some(Self::States {
                node,
                entries: decode_awareness(&bytes[9..]).ok()?,
            }),
            1 if bytes.len() == 9 => Some(Self::Query { node }),
            _ => None,
        }
    }
}

struct Entry {
    conn: u64,
    clock: u64,
    /// `None` is a tombstone.
    state: Option<String>,
    seen: Instant,
}

/// What presence may cost. Every entry is held by the server and copied to every subscriber, so
/// without bounds one socket (a viewer's will do) could grow the server by hundreds of MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceLimits {
    /// Client ids one connection may hold live entries for. A real client has one; a few allow
    /// for a page that opens a second provider.
    pub clients_per_conn: usize,
    /// Bytes of one state (its JSON).
    pub state_bytes: usize,
    /// Bytes of every live state of the document together.
    pub doc_bytes: usize,
}

impl Default for PresenceLimits {
    fn default() -> Self {
        Self {
            clients_per_conn: 4,
            state_bytes: 64 << 10,
            doc_bytes: 4 << 20,
        }
    }
}

/// Why an awareness update was refused as a whole: nothing of it was taken or relayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceRefused {
    #[error("presence state of {0} bytes is over the limit of {1}")]
    StateTooBig(usize, usize),
    #[error("presence for more than {0} client ids on one connection")]
    TooManyClients(usize),
    #[error("the document's presence is over its limit of {0} bytes")]
    DocumentFull(usize),
}

#[derive(Default)]
pub struct PresenceMap {
    entries: HashMap<u64, Entry>,
    limits: PresenceLimits,
    /// Bytes of every live state, kept with `entries` (checked against `limits.doc_bytes`).
    bytes: usize,
}

const NULL: &str = "null";

impl PresenceMap {
    pub fn new(limits: PresenceLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    fn newer(&self, e: &AwarenessEntry) -> bool {
        match self.entries.get(&e.client_id) {
            None => e.state != NULL,
            Some(c) => {
                e.clock > c.clock || (e.clock == c.clock && e.state == NULL && c.state.is_some())
            }
        }
    }

    /// Checks the whole update against the limits before taking any of it.
    fn admit(&self, conn: u64, update: &[AwarenessEntry]) -> Result<(), PresenceRefused> {
        let l = &self.limits;
        if let Some(big) = update.iter().find(|e| e.state.len() > l.state_bytes) {
            return Err(PresenceRefused::StateTooBig(big.state.len(), l.state_bytes));
        }
        let taken: Vec<&AwarenessEntry> = update.iter().filter(|e| self.newer(e)).collect();
        let held = |id: &u64| self.entries.get(id).and_then(|c| c.state.as_ref());
        let mut ids: std::collections::HashSet<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.conn == conn && e.state.is_some())
            .map(|(id, _)| *id)
            .collect();
        let mut bytes = self.bytes;
        for e in &taken {
            bytes -= held(&e.client_id).map_or(0, String::len);
            if e.state == NULL {
                ids.remove(&e.client_id);
            } else {
                bytes += e.state.len();
                ids.insert(e.client_id);
            }
        }
        // A node carries all of its clients; each was held to the limit where it connected.
        if ids.len() > l.clients_per_conn && !is_remote(conn) {
            return Err(PresenceRefused::TooManyClients(l.clients_per_conn));
        }
        if bytes > l.doc_bytes && bytes > self.bytes {
            return Err(PresenceRefused::DocumentFull(l.doc_bytes));
        }
        Ok(())
    }

    /// Applies an awareness update from `conn`; returns the entries that changed (to broadcast),
    /// or why the whole update was refused.
    pub fn apply(
        &mut self,
        conn: u64,
        update: Vec<AwarenessEntry>,
        now: Instant,
    ) -> Result<Vec<AwarenessEntry>, PresenceRefused> {
        self.admit(conn, &update)?;
        let mut changed = Vec::new();
        for e in update {
            if !self.newer(&e) {
                continue;
            }
            let state = (e.state != NULL).then(|| e.state.clone());
            self.bytes += state.as_ref().map_or(0, String::len);
            let old = self.entries.insert(
                e.client_id,
                Entry {
                    conn,
                    clock: e.clock,
                    state,
                    seen: now,
                },
            );
            self.bytes -= old.and_then(|o| o.state).map_or(0, |s| s.len());
            changed.push(e);
        }
        Ok(changed)
    }

    /// Every live state (for a joiner or a query-awareness).
    pub fn states(&self) -> Vec<AwarenessEntry> {
        self.states_where(|_| true)
    }

    /// The live states of this node's own clients (for another node that asks).
    pub fn local_states(&self) -> Vec<AwarenessEntry> {
        self.states_where(|conn| !is_remote(conn))
    }

    fn states_where(&self, owner: impl Fn(u64) -> bool) -> Vec<AwarenessEntry> {
        self.entries
            .iter()
            .filter(|(_, e)| owner(e.conn))
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

    /// Removes live entries not refreshed within `ttl` (or `remote_ttl` for other nodes'
    /// entries) and forgets tombstones older than `ttl`. Returns the removals to broadcast: this
    /// node's own (to tell other nodes too), then other nodes'.
    pub fn expire(
        &mut self,
        ttl: Duration,
        remote_ttl: Duration,
        now: Instant,
    ) -> (Vec<AwarenessEntry>, Vec<AwarenessEntry>) {
        self.entries
            .retain(|_, e| e.state.is_some() || now.duration_since(e.seen) < ttl);
        let old = |e: &Entry, ttl| now.duration_since(e.seen) >= ttl;
        let local = self.tombstone(|e| !is_remote(e.conn) && old(e, ttl), now);
        let remote = self.tombstone(|e| is_remote(e.conn) && old(e, remote_ttl), now);
        (local, remote)
    }

    fn tombstone(&mut self, pick: impl Fn(&Entry) -> bool, now: Instant) -> Vec<AwarenessEntry> {
        let mut removed = Vec::new();
        for (id, e) in self
            .entries
            .iter_mut()
            .filter(|(_, e)| e.state.is_some() && pick(e))
        {
            self.bytes -= e.state.take().map_or(0, |s| s.len());
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
        assert_eq!(
            p.apply(1, vec![e(7, 1, "{\"a\":1}")], now).unwrap().len(),
            1
        );
        // Connection 2 echoes what it received: same clock, ignored.
        assert!(p
            .apply(2, vec![e(7, 1, "{\"a\":1}")], now)
            .unwrap()
            .is_empty());
        assert!(p.remove_conn(2, now).is_empty());
        let gone = p.remove_conn(1, now);
        assert_eq!(gone, vec![e(7, 2, "null")]);
        // A late stale re-send cannot revive it.
        assert!(p
            .apply(2, vec![e(7, 1, "{\"a\":1}")], now)
            .unwrap()
            .is_empty());
        assert!(p.states().is_empty());
    }

    #[test]
    fn ttl_expires_silent_entries_and_then_their_tombstones() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(30);
        let mut p = PresenceMap::default();
        p.apply(1, vec![e(1, 1, "{}"), e(2, 1, "{}")], t0).unwrap();
        p.apply(1, vec![e(2, 2, "{}")], t0 + Duration::from_secs(20))
            .unwrap();
        assert_eq!(
            p.expire(ttl, ttl, t0 + Duration::from_secs(31)).0,
            vec![e(1, 2, "null")]
        );
        assert_eq!(p.states().len(), 1);
        assert!(p.expire(ttl, ttl, t0 + Duration::from_secs(70)).0.len() == 1);
        assert_eq!(
            p.entries.len(),
            1,
            "1's tombstone aged out; 2's is kept until its own TTL"
        );
        p.expire(ttl, ttl, t0 + Duration::from_secs(200));
        assert!(p.entries.is_empty());
    }

    /// The probe's attack: many client ids and big states from one socket. Each limit refuses
    /// the whole update (nothing taken), and what was refused leaves the count where it was.
    #[test]
    fn limits_refuse_whole_updates_and_the_count_follows_the_entries() {
        let now = Instant::now();
        let limits = PresenceLimits {
            clients_per_conn: 2,
            state_bytes: 10,
            doc_bytes: 20,
        };
        let mut p = PresenceMap::new(limits);
        let big = "x".repeat(11);
        assert_eq!(
            p.apply(1, vec![e(1, 1, &big)], now),
            Err(PresenceRefused::StateTooBig(11, 10))
        );
        assert!(p
            .apply(1, vec![e(1, 1, "aaaaa"), e(2, 1, "bbbbb")], now)
            .is_ok());
        assert_eq!(
            p.apply(1, vec![e(3, 1, "c")], now),
            Err(PresenceRefused::TooManyClients(2))
        );
        // Replacing an own entry, or removing one and adding another, stays within two ids.
        assert!(p
            .apply(1, vec![e(2, 2, "null"), e(3, 1, "ccccc")], now)
            .is_ok());
        assert_eq!(p.bytes, 10);
        // Another connection fills the document's budget; past it is refused.
        assert!(p.apply(2, vec![e(4, 1, "dddddddddd")], now).is_ok());
        assert_eq!(
            p.apply(2, vec![e(5, 1, "e")], now),
            Err(PresenceRefused::DocumentFull(20))
        );
        // Shrinking is always allowed; leaving frees the bytes.
        assert!(p.apply(2, vec![e(4, 2, "d")], now).is_ok());
        assert_eq!(p.bytes, 11);
        p.remove_conn(1, now);
        assert_eq!(p.bytes, 1);
        p.expire(Duration::ZERO, Duration::ZERO, now);
        assert_eq!(p.bytes, 0);
    }

    /// Another node's entries: owned by its pseudo-connection (no per-connection cap: it carries
    /// all its clients), never among this node's own, expired on their own TTL.
    #[test]
    fn remote_entries_are_held_apart_and_expire_on_their_own_ttl() {
        let t0 = Instant::now();
        let mut p = PresenceMap::new(PresenceLimits {
            clients_per_conn: 1,
            ..PresenceLimits::default()
        });
        let node = remote_conn(42);
        assert!(is_remote(node) && !is_remote(7));
        p.apply(7, vec![e(1, 1, "{}")], t0).unwrap();
        let many: Vec<_> = (10..20).map(|id| e(id, 1, "{}")).collect();
        assert_eq!(p.apply(node, many, t0).unwrap().len(), 10);
        assert_eq!(p.local_states(), vec![e(1, 1, "{}")]);
        assert_eq!(p.states().len(), 11);
        // The local entry is renewed; the node goes quiet and its entries expire at 25 s.
        p.apply(7, vec![e(1, 2, "{}")], t0 + Duration::from_secs(20))
            .unwrap();
        let (local, remote) = p.expire(
            Duration::from_secs(30),
            Duration::from_secs(25),
            t0 + Duration::from_secs(26),
        );
        assert!(local.is_empty());
        assert_eq!(remote.len(), 10);
        assert!(remote.iter().all(|r| r.state == "null" && r.clock == 2));
        assert_eq!(p.states(), vec![e(1, 2, "{}")]);
    }

    #[test]
    fn the_wire_format_round_trips_and_refuses_garbage() {
        let states = PresenceWire::States {
            node: u64::MAX - 3,
            entries: vec![e(5, 9, "{\"user\":{\"name\":\"Ada\"}}"), e(6, 2, "null")],
        };
        let query = PresenceWire::Query { node: 7 };
        for m in [states, query] {
            assert_eq!(PresenceWire::decode(&m.encode()), Some(m));
        }
        for bad in [
            &[][..],
            &[0, 1, 2],
            &[2, 0, 0, 0, 0, 0, 0, 0, 1],
            &[1; 10],
            &[0; 12],
        ] {
            assert_eq!(PresenceWire::decode(bad), None, "{bad:?}");
        }
    }
}
