//! The actor's side of its connections: joins and leaves, sync step 1, read-only updates,
//! presence, and pushing frames into outboxes (a full outbox means a slow client, who leaves).

use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::actor::{Room, Subscriber};
use super::durability::Held;
use crate::presence::{remote_conn, PresenceWire};
use crate::protocol::{encode_awareness, AwarenessEntry, Ext, Message, PROTOCOL_VERSION};
use crate::session::{close, CloseReason, Outbox};

impl Room {
    pub(super) fn on_join(&mut self, outbox: Outbox, reply: oneshot::Sender<()>) {
        let hello = Ext::Hello {
            version: PROTOCOL_VERSION,
            server_id: self.cfg.server_id.clone(),
            revision: self.durable_rev,
            max_message: self.cfg.max_message as u64,
        };
        outbox.send_ext(hello);
        outbox.send_msg(&Message::SyncStep1(self.doc.state_vector()));
        if !self.presence.is_empty() {
            outbox.send_msg(&Message::Awareness(encode_awareness(
                self.presence.states().iter(),
            )));
        }
        self.empty_since = None;
        self.subs.insert(outbox.id, Subscriber { outbox });
        self.stats.clients.store(self.subs.len(), Ordering::Relaxed);
        self.stats.touch();
        metrics::gauge!("tandem_connections").increment(1.0);
        let _ = reply.send(());
    }

    pub(super) fn on_leave(&mut self, conn: u64) {
        if self.subs.remove(&conn).is_none() {
            return;
        }
        metrics::gauge!("tandem_connections").decrement(1.0);
        self.stats.clients.store(self.subs.len(), Ordering::Relaxed);
        let gone = self.presence.remove_conn(conn, Instant::now());
        self.publish_presence(&gone);
        self.broadcast_presence(gone);
        if self.subs.is_empty() {
            self.empty_since = Some(Instant::now());
        }
    }

    pub(super) fn on_sync_step1(&mut self, conn: u64, sv: &[u8]) {
        let Some(sub) = self.subs.get(&conn) else {
            return;
        };
        let large = self.large();
        match super::actor::off_the_runtime(large, || self.doc.diff(sv)) {
            Ok(update) => {
                sub.outbox.send_msg(&Message::SyncStep2(update));
            }
            Err(_) => sub
                .outbox
                .closer
                .close(CloseReason::new(close::MALFORMED, "malformed state vector")),
        }
    }

    /// A connection that may not edit sent an update. If it holds nothing the document lacks
    /// (a viewer answering our sync step 1) it is acked like any no-op; otherwise the sender is
    /// refused with 4403. Either way nothing is applied or logged.
    pub(super) fn on_read_only_update(&mut self, conn: u64, update: &[u8]) {
        match self.doc.brings_nothing_new(update) {
            Ok(true) => {
                let held = Held::no_op(self.applied_rev, conn, Instant::now());
                self.held.push_back(held);
                self.release();
            }
            Ok(false) => self.close(
                conn,
                CloseReason::new(
                    close::FORBIDDEN,
                    "read-only access: this document is not editable for you; your change was not saved",
                ),
            ),
            Err(e) => self.close(
                conn,
                CloseReason::new(close::MALFORMED, format!("malformed update: {e}")),
            ),
        }
    }

    pub(super) fn on_awareness(&mut self, conn: u64, entries: Vec<AwarenessEntry>) {
        if self.subs.contains_key(&conn) {
            match self.presence.apply(conn, entries, Instant::now()) {
                Ok(changed) => {
                    self.publish_presence(&changed);
                    self.broadcast_presence(changed);
                }
                Err(why) => {
                    let reason = CloseReason::new(close::RATE_LIMITED, why.to_string());
                    self.close(conn, reason);
                }
            }
        }
    }

    pub(super) fn on_query_awareness(&mut self, conn: u64) {
        let Some(sub) = self.subs.get(&conn) else {
            return;
        };
        sub.outbox.send_msg(&Message::Awareness(encode_awareness(
            self.presence.states().iter(),
        )));
    }

    /// Tells the other nodes about changes to this node's own clients' presence.
    pub(super) fn publish_presence(&self, entries: &[AwarenessEntry]) {
        if !entries.is_empty() {
            let wire = PresenceWire::States {
                node: self.node,
                entries: entries.to_vec(),
            };
            self.fanout
                .publish_presence(&self.id, Bytes::from(wire.encode()));
        }
    }

    /// Asks the other nodes for their clients' presence (on opening, and after a reconnect to
    /// the fanout that may have lost messages).
    pub(super) fn ask_for_presence(&self) {
        let wire = PresenceWire::Query { node: self.node };
        self.fanout
            .publish_presence(&self.id, Bytes::from(wire.encode()));
    }

    /// Presence heard from another node: its entries follow the clock rules like any client's
    /// and go to this node's clients; a query is answered with this node's own entries.
    pub(super) fn on_remote_presence(&mut self, payload: &[u8]) {
        match PresenceWire::decode(payload) {
            Some(PresenceWire::States { node, entries }) if node != self.node => {
                match self
                    .presence
                    .apply(remote_conn(node), entries, Instant::now())
                {
                    Ok(changed) => self.broadcast_presence(changed),
                    Err(why) => tracing::debug!(%why, "remote presence refused"),
                }
            }
            Some(PresenceWire::Query { node }) if node != self.node => {
                self.publish_presence(&self.presence.local_states());
            }
            Some(_) => {} // our own, back from the broker
            None => tracing::debug!("ignoring malformed presence from the fanout"),
        }
    }

    pub(super) fn broadcast_presence(&mut self, entries: Vec<AwarenessEntry>) {
        if !entries.is_empty() {
            self.broadcast(Bytes::from(
                Message::Awareness(encode_awareness(entries.iter())).encode(),
            ));
        }
    }

    pub(super) fn broadcast(&mut self, frame: Bytes) {
        let slow: Vec<u64> = self
            .subs
            .iter()
            .filter(|(_, s)| !s.outbox.send(frame.clone()))
            .map(|(id, _)| *id)
            .collect();
        for id in slow {
            self.on_leave(id);
        }
    }

    /// Tells `conn` why (an error extension, for tandem.v1 clients) and closes it.
    pub(super) fn close(&mut self, conn: u64, reason: CloseReason) {
        if let Some(sub) = self.subs.get(&conn) {
            sub.outbox.reject(reason);
        }
    }
}
