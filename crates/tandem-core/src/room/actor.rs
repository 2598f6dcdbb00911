//! The actor itself: its state, its lifecycle (the diagram is in the module doc) and the mailbox
//! loop. What a message does lives in the sibling files; here is only when it may be read.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::content::Content;
use super::durability::{CommitMode, Held};
use super::{DocState, RoomConfig, RoomMsg, DRAIN_RECONNECT_MS, SERVER_CONN};
use crate::commit::{CommitOutcome, CommitQueue};
use crate::doc::{ApplyError, ServerDoc};
use crate::fanout::{Fanout, Subscription};
use crate::presence::PresenceMap;
use crate::protocol::{Ext, Message};
use crate::registry::{Mailbox, RoomsInner};
use crate::session::{close, CloseReason, Inbound, Outbox};
use crate::store::{LoadedDoc, OpLog, StoreError};
use crate::suggest::Refusal;

/// Documents from this encoded size up have their whole-state work (encoding for a read, a
/// joiner's full diff, a snapshot) run with [`off_the_runtime`].
const LARGE_DOC_BYTES: u64 = 1 << 20;

/// Runs O(document) work of a large document with `block_in_place`: the runtime moves this
/// worker's other tasks (other documents' sockets) to another worker meanwhile, so a 10 MB
/// encode does not stall them. Small documents, and single-threaded runtimes (tests), run it
/// in place.
pub(super) fn off_the_runtime<T>(large: bool, work: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if large && multi {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Where the actor is in its life. `Closed` is not a state: it is `run` returning.
pub(super) enum Lifecycle {
    /// Serving: reads its mailbox, subject to the barrier and the in-flight bound.
    Open,
    /// An update poisoned the in-memory document (its sender is closed). The mailbox waits until
    /// everything applied before it is durable; then the document is rebuilt from the log and
    /// the room is `Open` again. Everyone else stays connected and gets their acks.
    Reloading,
    /// Shutting down: clients were told to reconnect; ends once the held acks are released,
    /// with a last snapshot unless the document was poisoned.
    Draining { last_snapshot: bool },
    /// The document is being deleted (by a request here, with its deleter's sender, or found
    /// missing by an append: deleted through another node): clients were closed with 4403;
    /// ends once the held acks are released, with no snapshot. The sender is dropped with the
    /// room, which tells the deleter the document is gone; it is never sent on.
    Closing(#[allow(dead_code)] Option<oneshot::Sender<()>>),
    /// A commit failed: memory is ahead of the log and is dropped. Ends once the in-flight
    /// commits return; clients are then closed with this message and resync on reconnect.
    Failed(&'static str),
}

/// A request that must see exactly the durable state, parked behind the barrier.
pub(super) enum Waiting {
    Join {
        outbox: Outbox,
        reply: oneshot::Sender<()>,
    },
    SyncStep1 {
        conn: u64,
        sv: Vec<u8>,
    },
    State {
        reply: oneshot::Sender<DocState>,
    },
}

pub(super) struct Subscriber {
    pub(super) outbox: Outbox,
}

pub(crate) struct Room {
    pub(super) id: String,
    pub(super) cfg: Arc<RoomConfig>,
    pub(super) doc: Content,
    pub(super) lifecycle: Lifecycle,
    pub(super) mode: CommitMode,
    pub(super) applied_rev: u64,
    pub(super) durable_rev: u64,
    pub(super) snapshot_rev: u64,
    /// When the last snapshot was taken (or the document loaded), the encoded size of the
    /// state it held, and the bytes applied since: the time and size triggers.
    pub(super) snapshot_at: Instant,
    pub(super) snapshot_state_bytes: u64,
    pub(super) log_bytes_since_snapshot: u64,
    pub(super) last_update: Instant,
    pub(super) subs: HashMap<u64, Subscriber>,
    /// Broadcasts, echoes and acks held until their revision is durable, in arrival order.
    pub(super) held: VecDeque<Held>,
    /// At most one: while it waits, the mailbox is not read.
    pub(super) waiting: Option<Waiting>,
    pub(super) want_snapshot: bool,
    /// A snapshot was asked for while the last one was still being written: take it next tick.
    pub(super) snapshot_again: bool,
    pub(super) presence: PresenceMap,
    /// This node's tag in the presence it publishes (see `RoomsInner::node`).
    pub(super) node: u64,
    pub(super) empty_since: Option<Instant>,
    pub(super) commit: CommitQueue,
    /// Where the commit writer answers this document's appends.
    pub(super) outcomes: Outcomes,
    pub(super) store: Arc<dyn OpLog>,
    pub(super) snapshot_task: Option<JoinHandle<()>>,
    pub(super) fanout: Arc<dyn Fanout>,
    /// Other nodes' revisions of this document; taken by `run`.
    remote: Option<Subscription>,
    /// Shared with the registry: size, clients and activity, for the memory budget.
    pub(super) stats: Arc<crate::registry::RoomStats>,
    /// Asked to leave memory (and quiet when asked): `run` returns.
    evict_now: bool,
    /// Metric handles, looked up once per document rather than once per update.
    pub(super) accepted: metrics::Counter,
    pub(super) ack_seconds: metrics::Histogram,
}

impl Room {
    pub(crate) async fn load(
        inner: &RoomsInner,
        id: String,
        stats: Arc<crate::registry::RoomStats>,
    ) -> Result<Room, StoreError> {
        // Subscribe before reading: whatever another node makes durable after the read arrives
        // on the subscription (duplicates of what the read saw are ignored by revision).
        let remote = inner.fanout.subscribe(&id);
        // A document made by this open holds nothing: no read. (An append by another node
        // after the row was made arrives on the subscription.)
        let created = inner.cfg.create_on_open && inner.store.ensure_doc(&id).await?;
        let loaded = match created {
            true => LoadedDoc::default(),
            false => inner.store.load(&id).await?,
        };
        let (mut doc, rev) =
            Content::load(&loaded, inner.cfg.schema.as_ref().map(|s| s.for_doc(&id)))?;
        let size = doc.encoded_state().len() as u64;
        stats
            .bytes
            .store(size, std::sync::atomic::Ordering::Relaxed);
        let snapshot_rev = loaded.snapshot.as_ref().map_or(0, |s| s.0);
        tracing::debug!(
            revision = rev,
            snapshot = snapshot_rev,
            replayed = loaded.updates.len(),
            "document loaded"
        );
        let now = Instant::now();
        Ok(Room {
            id,
            cfg: inner.cfg.clone(),
            doc,
            lifecycle: Lifecycle::Open,
            mode: CommitMode::new(inner.cfg.shared_store),
            applied_rev: rev,
            durable_rev: rev,
            snapshot_rev,
            snapshot_at: now,
            snapshot_state_bytes: size,
            // The log replayed on load counts: a document loaded from a long log gets a snapshot.
            log_bytes_since_snapshot: loaded.updates.iter().map(|u| u.1.len() as u64).sum(),
            last_update: now,
            subs: HashMap::new(),
            held: VecDeque::new(),
            waiting: None,
            want_snapshot: false,
            snapshot_again: false,
            presence: PresenceMap::new(inner.cfg.presence),
            node: inner.node,
            empty_since: Some(now),
            commit: inner.commit.clone(),
            outcomes: Outcomes::default(),
            store: inner.store.clone(),
            snapshot_task: None,
            fanout: inner.fanout.clone(),
            remote,
            stats,
            evict_now: false,
            accepted: metrics::counter!("tandem_updates_accepted_total"),
            ack_seconds: metrics::histogram!("tandem_ack_seconds"),
        })
    }

    pub(crate) async fn run(&mut self, mailbox: &mut Mailbox, shutdown: &CancellationToken) {
        let mut tick = tokio::time::interval(self.cfg.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Other nodes' revisions and presence; the guard keeps the subscription alive.
        let (mut remote, mut remote_presence, _guard) = match self.remote.take() {
            Some(s) => (Some(s.rx), Some(s.presence), Some(s.guard)),
            None => (None, None, None),
        };
        // Other nodes with this document open send their clients' presence.
        self.ask_for_presence();
        loop {
            let caught_up = self.applied_rev == self.durable_rev;
            let read_mailbox = matches!(self.lifecycle, Lifecycle::Open)
                && self.held.len() < self.cfg.max_inflight
                && (caught_up || (self.waiting.is_none() && !self.want_snapshot));
            let read_remote =
                !matches!(self.lifecycle, Lifecycle::Failed(_) | Lifecycle::Reloading);
            let serving = matches!(self.lifecycle, Lifecycle::Open | Lifecycle::Reloading);
            // The handlers' futures are boxed: inline, the largest (about 1 kB) would be part of
            // every open document's task, idle or not. The price is one allocation per message.
            tokio::select! {
                biased;
                Some(out) = self.outcomes.next() => Box::pin(self.on_commit(out)).await,
                // Presence first: it waits on nothing, so it need not wait behind updates.
                Some(msg) = mailbox.presence_rx.recv(), if serving => Box::pin(self.handle(msg)).await,
                Some(p) = next(&mut remote_presence), if read_remote => self.on_remote_presence(&p),
                Some(ev) = next(&mut remote), if read_remote => Box::pin(self.on_remote(ev)).await,
                msg = mailbox.rx.recv(), if read_mailbox => match msg {
                    Some(msg) => Box::pin(self.handle(msg)).await,
                    None => return,
                },
                _ = tick.tick() => {
                    if self.housekeeping() {
                        return;
                    }
                }
                // Enabled only until it fires, or this arm would complete on every turn and spin.
                _ = shutdown.cancelled(), if serving => self.drain(),
            }
            if self.evict_now
                || (!matches!(self.lifecycle, Lifecycle::Open | Lifecycle::Reloading)
                    && self.held.is_empty())
            {
                return;
            }
            if self.applied_rev == self.durable_rev {
                if matches!(self.lifecycle, Lifecycle::Reloading) {
                    self.reload().await;
                }
                if let Some(waiting) = self.waiting.take() {
                    self.answer(waiting);
                }
                if self.want_snapshot {
                    self.snapshot();
                }
            }
        }
    }

    /// Open or Reloading → Draining: stop taking requests, tell every client to reconnect
    /// elsewhere or later. In-flight commits still land (their acks may not reach a closing
    /// socket; resync covers it).
    fn drain(&mut self) {
        let poisoned = matches!(self.lifecycle, Lifecycle::Reloading);
        self.lifecycle = Lifecycle::Draining {
            last_snapshot: !poisoned,
        };
        for sub in self.subs.values() {
            sub.outbox.send_ext(Ext::Drain {
                reconnect_after_ms: DRAIN_RECONNECT_MS,
            });
            sub.outbox.closer.close(CloseReason::new(
                close::RESTARTING,
                "server restarting: reconnect",
            ));
        }
    }

    /// Any state → Closing: an append found the document gone (deleted through another node, or
    /// while this one had it open). Nothing of it will ever be durable: every client is closed
    /// with 4403 and the actor ends without a snapshot.
    pub(super) fn gone(&mut self) {
        tracing::info!("the document was deleted; closing its connections");
        for sub in self.subs.values() {
            sub.outbox
                .reject(CloseReason::new(close::FORBIDDEN, "document deleted"));
        }
        self.held.clear();
        self.lifecycle = Lifecycle::Closing(None);
    }

    /// Any state → Failed: memory can no longer be trusted to match the log.
    pub(super) fn fail(&mut self, message: &'static str) {
        self.lifecycle = Lifecycle::Failed(message);
    }

    /// Last words: clients closed if the commit path failed, a final snapshot if the state
    /// calls for one, and any snapshot still being written.
    pub(crate) async fn finish(&mut self) {
        match &self.lifecycle {
            Lifecycle::Failed(message) => {
                for sub in self.subs.values() {
                    // The error carries the whole message; the close frame's reason is short.
                    sub.outbox.send_ext(Ext::Error {
                        code: close::INTERNAL as u32,
                        message: (*message).into(),
                    });
                    sub.outbox.closer.close(CloseReason::new(
                        close::INTERNAL,
                        "storage failure: reconnect",
                    ));
                }
            }
            Lifecycle::Open
            | Lifecycle::Draining {
                last_snapshot: true,
            } if self.durable_rev > self.snapshot_rev => self.snapshot(),
            _ => {}
        }
        if let Some(task) = self.snapshot_task.take() {
            let _ = task.await;
        }
    }

    async fn handle(&mut self, msg: RoomMsg) {
        let waiting = match msg {
            RoomMsg::Join { outbox, reply } => Waiting::Join {
                outbox: *outbox,
                reply,
            },
            RoomMsg::State { reply } => Waiting::State { reply },
            RoomMsg::Inbound {
                conn,
                msg: Inbound::SyncStep1(sv),
            } => Waiting::SyncStep1 { conn, sv },
            RoomMsg::Inbound { conn, msg } => return self.on_inbound(conn, msg).await,
            RoomMsg::Leave { conn } => return self.on_leave(conn),
            RoomMsg::Restore {
                state,
                how,
                author,
                reply,
            } => return self.on_restore(&state, how, author, reply).await,
            RoomMsg::Revision { reply } => {
                let _ = reply.send(self.durable_rev);
                return;
            }
            RoomMsg::Head { rev } => return self.on_head(rev).await,
            RoomMsg::Evict => {
                let quiet = self.subs.is_empty() && self.held.is_empty() && self.waiting.is_none();
                if quiet && matches!(self.lifecycle, Lifecycle::Open) {
                    tracing::debug!("evicted under memory pressure");
                    self.evict_now = true;
                } else {
                    // Someone joined meanwhile: it counts again.
                    self.stats
                        .evicting
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                }
                return;
            }
            RoomMsg::Notify { ext } => {
                for sub in self.subs.values() {
                    sub.outbox.send_ext((*ext).clone());
                }
                return;
            }
            RoomMsg::Close { reason, done } => {
                for sub in self.subs.values() {
                    sub.outbox.reject(reason.clone());
                }
                self.lifecycle = Lifecycle::Closing(Some(done));
                return;
            }
        };
        if self.mode.is_shared() {
            // Another node may have written since we last heard: a joiner sees it all.
            if let Err(e) = self.catch_up().await {
                tracing::warn!(error = %e, "cannot catch up from the store");
            }
        }
        if self.applied_rev == self.durable_rev {
            self.answer(waiting);
        } else {
            self.waiting = Some(waiting);
        }
    }

    /// Answers a request from exactly the durable state (the caller ensures applied == durable).
    fn answer(&mut self, waiting: Waiting) {
        match waiting {
            Waiting::Join { outbox, reply } => self.on_join(outbox, reply),
            Waiting::SyncStep1 { conn, sv } => self.on_sync_step1(conn, &sv),
            Waiting::State { reply } => {
                let _ = reply.send(DocState {
                    revision: self.durable_rev,
                    update: off_the_runtime(self.large(), || self.doc.encoded_state()),
                });
            }
        }
    }

    async fn on_inbound(&mut self, conn: u64, msg: Inbound) {
        match msg {
            Inbound::Update(update) => self.on_update(conn, update, false).await,
            Inbound::Suggestion(update) => self.on_update(conn, update, true).await,
            Inbound::ReadOnlyUpdate(update) => self.on_read_only_update(conn, &update),
            Inbound::Piece => {
                let held = Held::no_op(self.applied_rev, conn, Instant::now());
                self.held.push_back(held);
                self.release();
            }
            Inbound::Awareness { entries } => self.on_awareness(conn, entries),
            Inbound::QueryAwareness => self.on_query_awareness(conn),
            // Parked by `handle`; the glue consumes tokens, one reaching the document is ignored.
            Inbound::SyncStep1(_) | Inbound::Auth { .. } => {}
        }
    }

    /// An update from `conn`; a `suggestion` (from a connection that may only suggest) is
    /// applied only if it is wholly its author's suggestion.
    async fn on_update(&mut self, conn: u64, update: Bytes, suggestion: bool) {
        let received = Instant::now();
        if let Some(why) = self.too_large(update.len()) {
            tracing::info!(conn, "update refused: {why}");
            metrics::counter!("tandem_doc_too_large_total").increment(1);
            return self.close(conn, CloseReason::new(close::DOC_TOO_LARGE, why));
        }
        let author = self.subs.get(&conn).and_then(|s| s.outbox.author.clone());
        let applied = match (suggestion, &author) {
            (false, _) => self.doc.apply_client(&update),
            (true, Some(user)) => match self.doc.awake().apply_suggestion(&update, user) {
                Ok(changed) => Ok(changed),
                Err(Refusal::Apply(e)) => Err(e),
                Err(Refusal::NotASuggestion(why)) => {
                    tracing::info!(conn, %why, "suggestion refused");
                    metrics::counter!("tandem_suggestions_refused_total").increment(1);
                    let why = format!(
                        "you may only suggest changes here, and this was not a suggestion of yours ({why}); your change was not saved"
                    );
                    return self.close(conn, CloseReason::new(close::FORBIDDEN, why));
                }
            },
            (true, None) => {
                let why = "suggestions need a signed-in account; your change was not saved";
                return self.close(conn, CloseReason::new(close::FORBIDDEN, why));
            }
        };
        let changed = match applied {
            Ok(changed) => changed,
            Err(ApplyError::Refused { changed, why }) => {
                tracing::info!(conn, %why, "update refused");
                let reason = CloseReason::new(close::MALFORMED, format!("malformed update: {why}"));
                self.close(conn, reason);
                if !changed {
                    return;
                }
                // A partly applied update is logged so the log still equals memory.
                true
            }
            Err(ApplyError::Poisoned(why)) => return self.poisoned(conn, &why),
        };
        if !changed {
            self.held
                .push_back(Held::no_op(self.applied_rev, conn, received));
            self.release();
            return;
        }
        let mentions = self.doc.awake().take_mentions();
        if let (false, Some(people)) = (mentions.is_empty(), &self.cfg.people) {
            if let Err(why) = people.check(&self.id, author.as_deref(), &mentions).await {
                let why = format!("the editor's schema does not allow {why}");
                return self.poisoned(conn, &why);
            }
        }
        self.record(conn, update, received, author.clone()).await;
        if !mentions.is_empty() {
            let rev = self.applied_rev;
            if let Some(held) = self.held.back_mut().filter(|h| h.rev == rev) {
                held.mentioned = Some(Box::new(super::durability::Mentioned { author, mentions }));
            }
        }
        if let Some(repair) = self.doc.awake().take_repair() {
            // Formatting of others' text a suggestion changed as a side effect of concurrent
            // edits, put back at once as the server's own edit (see `suggest::Repair`).
            metrics::counter!("tandem_suggestion_repairs_total").increment(1);
            self.record(SERVER_CONN, Bytes::from(repair), Instant::now(), None)
                .await;
        }
    }

    /// Whether O(document) work on this document is worth moving off the async runtime.
    pub(super) fn large(&self) -> bool {
        self.stats.bytes.load(std::sync::atomic::Ordering::Relaxed) >= LARGE_DOC_BYTES
    }

    /// `Some(reason)` if an update of `len` bytes could grow the document past
    /// `max_doc_bytes`. The running size is an upper bound (deletions only add to it); near the
    /// limit it is replaced by the exact encoded size before anything is refused.
    fn too_large(&mut self, len: usize) -> Option<String> {
        use std::sync::atomic::Ordering::Relaxed;
        let max = self.cfg.max_doc_bytes?;
        if self.stats.bytes.load(Relaxed) + len as u64 <= max {
            return None;
        }
        let large = self.large();
        let exact = off_the_runtime(large, || self.doc.encoded_state().len() as u64);
        self.stats.bytes.store(exact, Relaxed);
        (exact + len as u64 > max).then(|| {
            format!(
                "the document is at its size limit ({} MB): this change was not saved",
                max.div_ceil(1 << 20)
            )
        })
    }

    async fn on_restore(
        &mut self,
        state: &[u8],
        how: crate::doc::Put,
        author: Option<Arc<str>>,
        reply: oneshot::Sender<Result<Option<u64>, String>>,
    ) {
        let answer = match self.doc.awake().put(state, how) {
            Ok(Some(update)) => {
                // No connection sent it: broadcast to everyone, ack nobody.
                let update = Bytes::from(update);
                self.record(SERVER_CONN, update, Instant::now(), author)
                    .await;
                Ok(Some(self.applied_rev))
            }
            Ok(None) => Ok(None),
            Err(ApplyError::Refused { why, .. }) => Err(why),
            Err(ApplyError::Poisoned(why)) => {
                self.poisoned(SERVER_CONN, &why);
                Err(why)
            }
        };
        let _ = reply.send(answer);
    }

    /// Open → Reloading: the update from `conn` may have left part of itself in memory. Only
    /// its sender is closed; the document is rebuilt from the log once everything applied
    /// before it is durable (see `run`).
    fn poisoned(&mut self, conn: u64, why: &str) {
        tracing::warn!(conn, %why, "update dropped; reloading the document from the log");
        metrics::counter!("tandem_document_reloads_total").increment(1);
        let reason = format!("update refused: {why}");
        self.close(conn, CloseReason::new(close::MALFORMED, reason));
        if matches!(self.lifecycle, Lifecycle::Open) {
            self.lifecycle = Lifecycle::Reloading;
        }
    }

    /// Reloading → Open (or Failed): rebuilds the document from the log at the durable revision.
    /// In cluster mode the log may be further on (other nodes); those revisions are forwarded
    /// to local clients like any remote update.
    async fn reload(&mut self) {
        let old = self.durable_rev;
        let loaded = match self.store.load(&self.id).await {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::error!(error = %e, "cannot reload the document");
                return self.fail(super::durability::failure_message::<()>(&Err(e)));
            }
        };
        let (doc, rev) = match ServerDoc::load_with_schema(
            &loaded,
            self.cfg.schema.as_ref().map(|s| s.for_doc(&self.id)),
        ) {
            Ok(built) if built.1 >= old => built,
            Ok((_, rev)) => {
                tracing::error!(log = rev, memory = old, "the log is behind memory");
                return self.fail(super::durability::STORAGE_FAILURE);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot rebuild the document");
                return self.fail(super::durability::STORAGE_FAILURE);
            }
        };
        if rev > old {
            match self.store.updates_since(&self.id, old).await {
                Ok(rows) if rows.first().map(|r| r.0) == Some(old + 1) => {
                    for (_, data) in rows.iter().take_while(|r| r.0 <= rev) {
                        self.broadcast(Bytes::from(Message::Update(data.to_vec()).encode()));
                    }
                }
                _ => {
                    tracing::error!("cannot read what other nodes wrote meanwhile");
                    return self.fail(super::durability::STORAGE_FAILURE);
                }
            }
        }
        self.doc = Content::Awake(Box::new(doc));
        let size = self.doc.encoded_state().len() as u64;
        self.stats
            .bytes
            .store(size, std::sync::atomic::Ordering::Relaxed);
        self.applied_rev = rev;
        self.durable_rev = rev;
        self.lifecycle = Lifecycle::Open;
        tracing::info!(revision = rev, "document reloaded from the log");
    }
}

/// The next message of a channel that may not be there (a room without a fanout).
/// The commit writer's answers to one document's appends. The channel is made at the first
/// append, so a document nobody writes to holds none (a channel's first block is allocated
/// with it: 32 slots).
#[derive(Default)]
pub(super) struct Outcomes {
    channel: Option<(
        mpsc::UnboundedSender<CommitOutcome>,
        mpsc::UnboundedReceiver<CommitOutcome>,
    )>,
}

impl Outcomes {
    /// Where the writer answers an append.
    pub(super) fn reply(&mut self) -> mpsc::UnboundedSender<CommitOutcome> {
        let (tx, _) = self.channel.get_or_insert_with(mpsc::unbounded_channel);
        tx.clone()
    }

    /// The next answer; pending until an append was submitted.
    async fn next(&mut self) -> Option<CommitOutcome> {
        match &mut self.channel {
            Some((_, rx)) => rx.recv().await,
            None => std::future::pending().await,
        }
    }
}

async fn next<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
