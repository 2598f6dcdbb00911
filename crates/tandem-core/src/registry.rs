//! The registry of open documents: opens (loads) a document actor on first use, hands out
//! handles to it, and lets an actor remove itself when it is evicted or fails. Lookups that race
//! with an eviction retry against a fresh actor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
// tokio's clock, so tests with paused time see activity in order.
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::commit::CommitQueue;
use crate::fanout::Fanout;
use crate::room::{DocState, Room, RoomConfig, RoomMsg};
use crate::session::{CloseReason, Inbound, Outbox, PieceBudget};
use crate::store::OpLog;

mod budget;
mod lane;

pub(crate) use budget::RoomStats;
use budget::Tally;
pub use budget::{MEMORY_PER_DOCUMENT, MEMORY_PER_ENCODED_BYTE};

#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("server is shutting down")]
    ShuttingDown,
    #[error("document unavailable: {0}")]
    Unavailable(String),
    /// At `--max-open-docs` or past `--memory-budget`, with no idle document to evict.
    #[error("the server is at its memory budget: try again shortly")]
    Overloaded,
}

/// Presence messages that may wait for a room's actor; a client past this waits to send more.
const PRESENCE_LANE: usize = 256;

/// What a room's actor reads: its mailbox, and the lane for presence (`RoomHandle::presence`).
pub(crate) struct Mailbox {
    pub(crate) rx: lane::Receiver<RoomMsg>,
    pub(crate) presence_rx: lane::Receiver<RoomMsg>,
}

pub(crate) struct Entry {
    gen: u64,
    pub(crate) tx: lane::Sender<RoomMsg>,
    presence: lane::Sender<RoomMsg>,
    stats: Arc<RoomStats>,
}

/// A live link to one room's actor.
#[derive(Clone)]
pub struct RoomHandle {
    tx: lane::Sender<RoomMsg>,
    /// Clients' awareness and awareness queries: a lane of their own, read before the mailbox
    /// and while it is not read (updates waiting on durability), so carets keep moving on a
    /// document whose updates queue up.
    presence: lane::Sender<RoomMsg>,
    pieces: PieceBudget,
}

impl RoomHandle {
    /// Sends a request; `false` means the room is gone (evicted or failed): reconnect.
    pub(crate) async fn send(&self, msg: RoomMsg) -> bool {
        self.tx.send(msg).await.is_ok()
    }

    /// Hands the document what connection `conn` sent; `false` means the room is gone
    /// (evicted or failed): reconnect.
    pub async fn inbound(&self, conn: u64, msg: Inbound) -> bool {
        let lane = match msg {
            // Sent only once `join` has returned, so the actor knows `conn` when it reads them.
            Inbound::Awareness { .. } | Inbound::QueryAwareness => &self.presence,
            _ => &self.tx,
        };
        lane.send(RoomMsg::Inbound { conn, msg }).await.is_ok()
    }

    /// The document's budget for split messages, for its connections' sessions.
    pub fn piece_budget(&self) -> PieceBudget {
        self.pieces.clone()
    }

    /// Unsubscribes connection `conn` (its presence goes with it).
    pub async fn leave(&self, conn: u64) {
        self.send(RoomMsg::Leave { conn }).await;
    }
}

/// The registry of open documents.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<RoomsInner>,
}

pub(crate) struct RoomsInner {
    /// Held only to look up, insert or remove; never across an await.
    pub(crate) map: Mutex<HashMap<String, Entry>>,
    /// The open documents' estimated memory as last summed (taken only under `map`'s lock).
    tally: Mutex<Tally>,
    /// Time zero of every room's `active_at`.
    epoch: Instant,
    pub(crate) next_gen: AtomicU64,
    pub(crate) store: Arc<dyn OpLog>,
    pub(crate) fanout: Arc<dyn Fanout>,
    pub(crate) commit: CommitQueue,
    pub(crate) cfg: Arc<RoomConfig>,
    /// This process among the nodes sharing a fanout (random per process, so two nodes never
    /// share one even with the same `--server-id`): tags the presence it publishes.
    pub(crate) node: u64,
    pub(crate) tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
}

impl Rooms {
    pub fn new(
        store: Arc<dyn OpLog>,
        fanout: Arc<dyn Fanout>,
        commit: CommitQueue,
        cfg: RoomConfig,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let anti_entropy = cfg.anti_entropy.filter(|_| cfg.shared_store);
        let inner = RoomsInner {
            map: Mutex::default(),
            tally: Mutex::default(),
            epoch: Instant::now(),
            next_gen: AtomicU64::new(1),
            store,
            fanout,
            commit,
            cfg: Arc::new(cfg),
            node: rand::random::<u64>() >> 1,
            tracker,
            shutdown,
        };
        let rooms = Self {
            inner: Arc::new(inner),
        };
        if let Some(every) = anti_entropy {
            let inner = rooms.inner.clone();
            rooms.inner.tracker.spawn(anti_entropy_loop(inner, every));
        }
        rooms
    }

    pub fn config(&self) -> &RoomConfig {
        &self.inner.cfg
    }

    pub fn store(&self) -> &Arc<dyn OpLog> {
        &self.inner.store
    }

    pub fn open_count(&self) -> usize {
        self.inner.map.lock().expect("rooms poisoned").len()
    }

    pub fn is_open(&self, doc: &str) -> bool {
        self.inner
            .map
            .lock()
            .expect("rooms poisoned")
            .contains_key(doc)
    }

    fn handle(&self, doc: &str) -> Result<RoomHandle, RoomError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(RoomError::ShuttingDown);
        }
        let mut map = self.inner.map.lock().expect("rooms poisoned");
        let limit = self.inner.cfg.max_reassembly_bytes;
        if let Some(e) = map.get(doc) {
            let pieces = PieceBudget::new(e.stats.pieces.clone(), limit);
            return Ok(RoomHandle {
                tx: e.tx.clone(),
                presence: e.presence.clone(),
                pieces,
            });
        }
        budget::admit(&self.inner.cfg, &map, &self.inner.tally)?;
        let gen = self.inner.next_gen.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = lane::lane(self.inner.cfg.mailbox);
        let (presence, presence_rx) = lane::lane(PRESENCE_LANE);
        let stats = Arc::new(RoomStats::new(self.inner.epoch));
        let pieces = PieceBudget::new(stats.pieces.clone(), limit);
        map.insert(
            doc.to_owned(),
            Entry {
                gen,
                tx: tx.clone(),
                presence: presence.clone(),
                stats: stats.clone(),
            },
        );
        metrics::gauge!("tandem_open_documents").increment(1.0);
        let span = tracing::info_span!("doc", doc_id = %doc);
        let inner = self.inner.clone();
        let doc = doc.to_owned();
        let mailbox = Mailbox { rx, presence_rx };
        self.inner
            .tracker
            .spawn(async move { run_room(inner, doc, gen, mailbox, stats).await }.instrument(span));
        Ok(RoomHandle {
            tx,
            presence,
            pieces,
        })
    }

    /// Asks a room something, retrying if it was evicted between lookup and answer.
    async fn ask<T>(
        &self,
        doc: &str,
        make: impl Fn(oneshot::Sender<T>) -> RoomMsg,
    ) -> Result<(RoomHandle, T), RoomError> {
        for _ in 0..5 {
            let room = self.handle(doc)?;
            let (reply, rx) = oneshot::channel();
            if !room.send(make(reply)).await {
                continue;
            }
            if let Ok(v) = rx.await {
                return Ok((room, v));
            }
            // The actor went away without answering: evicted (retry) or failed to load.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(RoomError::Unavailable(
            "the document could not be opened".into(),
        ))
    }

    /// Subscribes a connection. The room sends it the hello, sync step 1 and presence.
    pub async fn join(&self, doc: &str, outbox: Outbox) -> Result<RoomHandle, RoomError> {
        Ok(self
            .ask(doc, |reply| RoomMsg::Join {
                outbox: Box::new(outbox.clone()),
                reply,
            })
            .await?
            .0)
    }

    /// The durable state and its exact revision (opens the document if needed).
    pub async fn state(&self, doc: &str) -> Result<DocState, RoomError> {
        Ok(self.ask(doc, |reply| RoomMsg::State { reply }).await?.1)
    }

    /// Makes the document's content equal to `state` with a new revision (a restore); returns the
    /// durable revision once it is saved, or `None` if the content was already equal.
    pub async fn restore(
        &self,
        doc: &str,
        state: Vec<u8>,
        author: Option<std::sync::Arc<str>>,
    ) -> Result<Option<u64>, RoomError> {
        self.put(doc, state, crate::doc::Put::Replace, author).await
    }

    /// Puts server-made content (an encoded document) into `doc`'s, replacing it or before or
    /// after it (`ServerDoc::put`), as a revision every open editor receives; returns the
    /// durable revision once it is saved, or `None` if nothing changed.
    pub async fn put(
        &self,
        doc: &str,
        state: Vec<u8>,
        how: crate::doc::Put,
        author: Option<std::sync::Arc<str>>,
    ) -> Result<Option<u64>, RoomError> {
        let (_, answer) = self
            .ask(doc, |reply| RoomMsg::Restore {
                state: state.clone().into(),
                how,
                author: author.clone(),
                reply,
            })
            .await?;
        match answer.map_err(RoomError::Unavailable)? {
            None => Ok(None),
            // Reading the state waits until everything applied is durable.
            Some(_) => Ok(Some(self.state(doc).await?.revision)),
        }
    }

    /// Closes every connection to `doc` with `reason` and waits until its actor has let go of it
    /// (in-flight commits finished, removed from the registry). No-op if it is not open.
    pub async fn close(&self, doc: &str, reason: CloseReason) {
        let Some(tx) = self.open_sender(doc) else {
            return;
        };
        let (done, gone) = oneshot::channel();
        if tx.send(RoomMsg::Close { reason, done }).await.is_ok() {
            let _ = gone.await; // dropped when the actor is gone
        }
    }

    /// The mailbox of `doc`'s actor if the document is open on this node; never opens it.
    fn open_sender(&self, doc: &str) -> Option<lane::Sender<RoomMsg>> {
        let map = self.inner.map.lock().expect("rooms poisoned");
        map.get(doc).map(|e| e.tx.clone())
    }

    /// Tells the clients of `doc` on this node, if it is open here; nothing otherwise.
    pub async fn notify(&self, doc: &str, ext: crate::protocol::Ext) {
        if let Some(tx) = self.open_sender(doc) {
            let _ = tx.send(RoomMsg::Notify { ext: Box::new(ext) }).await;
        }
    }

    /// The durable revision of an open document, `None` if it is not in memory.
    pub async fn open_revision(&self, doc: &str) -> Option<u64> {
        let tx = self.open_sender(doc)?;
        let (reply, rx) = oneshot::channel();
        tx.send(RoomMsg::Revision { reply }).await.ok()?;
        rx.await.ok()
    }
}

/// Every `every`, reads the log's heads of the documents open here (one query) and tells each
/// room, which catches up if it is behind. Ends at shutdown.
async fn anti_entropy_loop(inner: Arc<RoomsInner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let open: HashMap<String, lane::Sender<RoomMsg>> = {
            let map = inner.map.lock().expect("rooms poisoned");
            map.iter().map(|(d, e)| (d.clone(), e.tx.clone())).collect()
        };
        if open.is_empty() {
            continue;
        }
        let docs: Vec<String> = open.keys().cloned().collect();
        match inner.store.heads(&docs).await {
            Ok(heads) => {
                for (doc, rev) in heads {
                    // Never waits: a busy room hears again next time.
                    if let Some(tx) = open.get(&doc) {
                        let _ = tx.try_send(RoomMsg::Head { rev });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "anti-entropy cannot read the log's heads"),
        }
    }
}

async fn run_room(
    inner: Arc<RoomsInner>,
    id: String,
    gen: u64,
    mut mailbox: Mailbox,
    stats: Arc<RoomStats>,
) {
    let mut room = match Room::load(&inner, id.clone(), stats).await {
        Ok(room) => Some(room),
        Err(e) => {
            tracing::error!(error = %e, "failed to load document");
            None
        }
    };
    if let Some(room) = room.as_mut() {
        room.run(&mut mailbox, &inner.shutdown).await;
        room.finish().await;
    }
    // Unregister before dropping the mailbox: later lookups open a fresh room, and anything
    // still queued here is dropped, which its senders see as "room gone, retry".
    {
        let mut map = inner.map.lock().expect("rooms poisoned");
        if map.get(&id).is_some_and(|e| e.gen == gen) {
            map.remove(&id);
        }
    }
    mailbox.rx.close();
    mailbox.presence_rx.close();
    metrics::gauge!("tandem_open_documents").decrement(1.0);
}
