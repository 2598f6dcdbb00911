//! The [`Fanout`] trait: how a document actor tells other nodes about a revision it made durable,
//! and hears about theirs. [`LocalFanout`] is the single-node implementation (nobody to tell);
//! `tandem-server` has the NATS one.
//!
//! A fanout may lose, duplicate or delay messages: revisions make all three harmless. A duplicate
//! or old revision is ignored; a gap is filled from the store; a connection loss is followed by
//! [`FanoutEvent::Resync`], after which each subscriber catches up from the store. Nothing here
//! is on the durability path: an update is durable (and acked) before it is published.

use bytes::Bytes;
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
pub enum FanoutEvent {
    /// Another node made `rev` of this document durable with this update.
    Update { rev: u64, data: Bytes },
    /// Messages may have been missed (the broker connection was lost and is back): catch up
    /// from the store.
    Resync,
}

/// A subscription to one document's revisions and presence; unsubscribes when dropped.
pub struct Subscription {
    pub rx: mpsc::Receiver<FanoutEvent>,
    /// Presence from the nodes (this one's own included: the actor ignores those), each an
    /// encoded [`PresenceWire`](crate::presence::PresenceWire). A channel of its own, so it is
    /// not queued behind revisions; best effort (a full channel drops).
    pub presence: mpsc::Receiver<Bytes>,
    /// Whatever keeps the subscription alive (a task handle, a token); dropped with it.
    pub guard: Box<dyn Send + Sync>,
}

pub trait Fanout: Send + Sync + 'static {
    /// Tells the other nodes that `rev` of `doc` is durable. Never blocks: a full queue drops the
    /// message (the receivers will fill the gap from the store).
    fn publish(&self, doc: &str, rev: u64, data: Bytes);
    /// Tells every node with `doc` open about presence (an encoded `PresenceWire`): best
    /// effort, never blocks, dropped when the queue is full.
    fn publish_presence(&self, doc: &str, payload: Bytes);
    /// Starts hearing other nodes' revisions and presence of `doc`; `None` when nothing can
    /// ever come (one node), so a document at rest holds no channels for it.
    fn subscribe(&self, doc: &str) -> Option<Subscription>;
    /// Starts hearing which revisions other nodes make durable, of every document (the change
    /// feed across documents): best effort, a full queue drops. One node hears nothing.
    fn subscribe_all(&self) -> Revisions {
        let (_, rx) = mpsc::channel(1);
        Revisions {
            rx,
            guard: Box::new(()),
        }
    }
}

/// (document, revision) pairs from [`Fanout::subscribe_all`]; the channel closes when nothing
/// more will come.
pub struct Revisions {
    pub rx: mpsc::Receiver<(String, u64)>,
    /// Whatever keeps the subscription alive; dropped with it.
    pub guard: Box<dyn Send + Sync>,
}

/// One node: nothing to publish to, nothing to hear.
pub struct LocalFanout;

impl Fanout for LocalFanout {
    fn publish(&self, _doc: &str, _rev: u64, _data: Bytes) {}

    fn publish_presence(&self, _doc: &str, _payload: Bytes) {}

    fn subscribe(&self, _doc: &str) -> Option<Subscription> {
        None
    }
}

/// Subscribers by document: their revisions' and their presence's channels.
type Subscribers = Vec<(String, mpsc::Sender<FanoutEvent>, mpsc::Sender<Bytes>)>;

/// An in-process fanout for tests: every subscriber of a document hears every publish to it.
#[derive(Default, Clone)]
pub struct MemoryFanout {
    subs: std::sync::Arc<std::sync::Mutex<Subscribers>>,
}

impl MemoryFanout {
    /// Sends `Resync` to every subscriber (as after a broker reconnect).
    pub fn resync_all(&self) {
        for (_, tx, _) in self.subs.lock().expect("fanout poisoned").iter() {
            let _ = tx.try_send(FanoutEvent::Resync);
        }
    }
}

impl MemoryFanout {
    fn subscribers(&self, doc: &str) -> Vec<(mpsc::Sender<FanoutEvent>, mpsc::Sender<Bytes>)> {
        let mut subs = self.subs.lock().expect("fanout poisoned");
        subs.retain(|(_, tx, _)| !tx.is_closed());
        subs.iter()
            .filter(|(d, _, _)| d == doc)
            .map(|(_, tx, p)| (tx.clone(), p.clone()))
            .collect()
    }
}

impl Fanout for MemoryFanout {
    fn publish(&self, doc: &str, rev: u64, data: Bytes) {
        for (tx, _) in self.subscribers(doc) {
            let _ = tx.try_send(FanoutEvent::Update {
                rev,
                data: data.clone(),
            });
        }
    }

    fn publish_presence(&self, doc: &str, payload: Bytes) {
        for (_, presence) in self.subscribers(doc) {
            let _ = presence.try_send(payload.clone());
        }
    }

    fn subscribe(&self, doc: &str) -> Option<Subscription> {
        let (tx, rx) = mpsc::channel(1024);
        let (presence_tx, presence) = mpsc::channel(1024);
        self.subs
            .lock()
            .expect("fanout poisoned")
            .push((doc.to_owned(), tx, presence_tx));
        Some(Subscription {
            rx,
            presence,
            guard: Box::new(()),
        })
    }
}
