//! How an applied update becomes durable, in either commit mode (see the module doc), and how
//! what it held back (broadcast, echo, ack) is released once it is.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use super::actor::{Lifecycle, Room};
use crate::commit::{CommitOutcome, CommitRequest};
use crate::fanout::FanoutEvent;
use crate::protocol::{Ext, Message};
use crate::store::{Append, AppendStatus, StoreError};

pub(super) const STORAGE_FAILURE: &str =
    "storage failure: unsaved edits stay on your device and are sent again on reconnect";
const DISK_FULL: &str =
    "the server's disk is full: unsaved edits stay on your device and are sent again on reconnect";

pub(super) fn failure_message<T>(outcome: &Result<T, StoreError>) -> &'static str {
    match outcome {
        Err(StoreError::Full(_)) => DISK_FULL,
        _ => STORAGE_FAILURE,
    }
}

/// An update's broadcast, echo and ack, held until `durable_rev` reaches `rev`.
pub(super) struct Held {
    pub(super) rev: u64,
    pub(super) conn: u64,
    /// The broadcast frame, or `None` for a no-op (acked, not rebroadcast).
    pub(super) frame: Option<Bytes>,
    pub(super) received: Instant,
    /// Mentions the update added, told to `RoomConfig::people` once it is durable.
    pub(super) mentioned: Option<Box<Mentioned>>,
}

pub(super) struct Mentioned {
    pub(super) author: Option<Arc<str>>,
    pub(super) mentions: Vec<super::Mention>,
}

impl Held {
    pub(super) fn no_op(rev: u64, conn: u64, received: Instant) -> Self {
        Self {
            rev,
            conn,
            frame: None,
            received,
            mentioned: None,
        }
    }
}

pub(super) enum CommitMode {
    /// This node alone writes the log: each update is appended at its own revision.
    Local,
    /// Other nodes append to the same log: one append in flight, the rest coalesced.
    Shared(Shared),
}

#[derive(Default)]
pub(super) struct Shared {
    /// Updates applied but not yet submitted (coalesced into the next append).
    outgoing: Vec<Bytes>,
    /// Who made the first of `outgoing` (a coalesced entry records one author).
    outgoing_author: Option<Arc<str>>,
    /// The one append in flight.
    inflight: Option<Inflight>,
    /// Outcomes still to come for appends a catch-up already found in the log; ignored.
    stale_outcomes: usize,
}

/// Cluster mode: the one append in flight for a document.
struct Inflight {
    /// The revision it was submitted at.
    rev: u64,
    /// How many provisional revisions (client updates) it carries.
    count: u64,
    data: Bytes,
    author: Option<Arc<str>>,
}

impl CommitMode {
    pub(super) fn new(shared_store: bool) -> Self {
        match shared_store {
            true => Self::Shared(Shared::default()),
            false => Self::Local,
        }
    }

    pub(super) fn is_shared(&self) -> bool {
        matches!(self, Self::Shared(_))
    }

    fn shared(&mut self) -> Option<&mut Shared> {
        match self {
            Self::Shared(s) => Some(s),
            Self::Local => None,
        }
    }
}

impl Room {
    /// Gives an update already applied to the document the next revision and sends it to be
    /// made durable (then it is broadcast, and acked to `conn` if that is a client).
    pub(super) async fn record(
        &mut self,
        conn: u64,
        update: Bytes,
        received: Instant,
        author: Option<Arc<str>>,
    ) {
        self.applied_rev += 1;
        let rev = self.applied_rev;
        self.last_update = received;
        self.stats
            .bytes
            .fetch_add(update.len() as u64, Ordering::Relaxed);
        self.log_bytes_since_snapshot += update.len() as u64;
        self.stats.touch();
        self.accepted.increment(1);
        let frame = Bytes::from(Message::Update(update.to_vec()).encode());
        self.held.push_back(Held {
            rev,
            conn,
            frame: Some(frame),
            received,
            mentioned: None,
        });
        match &mut self.mode {
            CommitMode::Shared(s) => {
                if s.outgoing.is_empty() {
                    s.outgoing_author = author;
                }
                s.outgoing.push(update);
                self.flush().await;
            }
            CommitMode::Local => {
                let append = Append {
                    doc: self.id.clone(),
                    rev,
                    data: update,
                    author,
                };
                let reply = self.outcomes.reply();
                if let Err(e) = self.commit.submit(CommitRequest { append, reply }).await {
                    tracing::error!(error = %e, "cannot submit commit");
                    self.held.clear();
                    self.fail(STORAGE_FAILURE);
                }
            }
        }
    }

    /// [`RoomConfig::on_durable`](super::RoomConfig::on_durable), for a revision this node
    /// appended.
    fn tell_durable(&self) {
        if let Some(hook) = &self.cfg.on_durable {
            (hook.0)(&self.id, self.durable_rev);
        }
    }

    pub(super) async fn on_commit(&mut self, out: CommitOutcome) {
        if self.mode.is_shared() {
            return self.on_shared_commit(out).await;
        }
        if matches!(self.lifecycle, Lifecycle::Failed(_)) {
            self.held.retain(|p| p.rev > out.rev);
            return;
        }
        match out.result {
            Ok(AppendStatus::Ok) if out.rev == self.durable_rev + 1 => {
                self.durable_rev = out.rev;
                self.tell_durable();
                self.release();
                self.snapshot_if_due();
            }
            Ok(AppendStatus::Missing) => self.gone(),
            other => {
                tracing::error!(rev = out.rev, outcome = ?other, "append failed; closing the document");
                self.fail(failure_message(&other));
                self.held.retain(|p| p.rev > out.rev);
            }
        }
    }

    /// By count (`snapshot_every` updates), by size (the log since the last snapshot holds
    /// `snapshot_log_share` of the state) or by time (`snapshot_interval` while it changes).
    pub(super) fn snapshot_if_due(&mut self) {
        if self.durable_rev <= self.snapshot_rev {
            return;
        }
        let by_size = (self.snapshot_state_bytes as f64 * self.cfg.snapshot_log_share) as u64;
        if self.durable_rev - self.snapshot_rev >= self.cfg.snapshot_every
            || self.log_bytes_since_snapshot >= by_size.max(super::SNAPSHOT_MIN_LOG_BYTES)
            || self.snapshot_at.elapsed() >= self.cfg.snapshot_interval
        {
            self.want_snapshot = true;
        }
    }

    /// Cluster mode: submits everything applied but not yet submitted as one append at the next
    /// revision, unless an append is already in flight (then it waits for that one).
    async fn flush(&mut self) {
        let failed = matches!(self.lifecycle, Lifecycle::Failed(_));
        let next = self.durable_rev + 1;
        let Some(s) = self.mode.shared() else { return };
        if s.inflight.is_some() || s.outgoing.is_empty() || failed {
            return;
        }
        let count = s.outgoing.len() as u64;
        let data = if count == 1 {
            s.outgoing.pop().expect("one update")
        } else {
            match yrs::merge_updates_v1(s.outgoing.drain(..)) {
                Ok(merged) => Bytes::from(merged),
                Err(e) => {
                    tracing::error!(error = %e, "cannot merge updates; closing the document");
                    return self.fail_shared(STORAGE_FAILURE);
                }
            }
        };
        s.outgoing.clear();
        s.inflight = Some(Inflight {
            rev: next,
            count,
            data,
            author: s.outgoing_author.take(),
        });
        self.submit_inflight().await;
    }

    async fn submit_inflight(&mut self) {
        let Some(inf) = self.mode.shared().and_then(|s| s.inflight.as_ref()) else {
            return;
        };
        let append = Append {
            doc: self.id.clone(),
            rev: inf.rev,
            data: inf.data.clone(),
            author: inf.author.clone(),
        };
        let reply = self.outcomes.reply();
        if let Err(e) = self.commit.submit(CommitRequest { append, reply }).await {
            tracing::error!(error = %e, "cannot submit commit");
            self.fail_shared(STORAGE_FAILURE);
        }
    }

    async fn on_shared_commit(&mut self, out: CommitOutcome) {
        let durable = self.durable_rev;
        let Some(s) = self.mode.shared() else { return };
        if s.stale_outcomes > 0 {
            s.stale_outcomes -= 1;
            return;
        }
        if matches!(self.lifecycle, Lifecycle::Failed(_) | Lifecycle::Closing(_)) {
            return;
        }
        let inflight = s.inflight.as_ref().map(|i| i.rev);
        match out.result {
            Ok(AppendStatus::Ok) if inflight == Some(out.rev) && out.rev == durable + 1 => {
                self.landed().await
            }
            Ok(AppendStatus::Missing) => {
                self.fail_shared(STORAGE_FAILURE); // drops what is in flight
                self.gone();
            }
            Ok(AppendStatus::Conflict) if inflight.is_some() => {
                // Another node took that revision: read what we missed, then retry after it.
                metrics::counter!("tandem_append_conflicts_total").increment(1);
                let tried = inflight.unwrap_or_default();
                match self.catch_up().await {
                    // The revision we tried is still free as far as the log shows (another
                    // node's revision that came over the fanout meanwhile would have moved
                    // `durable_rev` up to it), so the retry would conflict again, for ever: the
                    // log is not what memory thinks (the document deleted and created again, or
                    // cut short). Drop memory; clients resync against a fresh load.
                    Ok(()) if self.durable_rev < tried => {
                        tracing::error!(
                            revision = tried,
                            "an append conflicted but the log has nothing at its revision; reloading"
                        );
                        metrics::counter!("tandem_conflict_stalls_total").increment(1);
                        self.fail_shared(STORAGE_FAILURE);
                    }
                    Ok(()) => {
                        let next = self.durable_rev + 1;
                        if let Some(inf) = self.mode.shared().and_then(|s| s.inflight.as_mut()) {
                            inf.rev = next;
                            self.submit_inflight().await;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot catch up after a conflict");
                        self.fail_shared(STORAGE_FAILURE);
                    }
                }
            }
            other => {
                tracing::error!(rev = out.rev, outcome = ?other, "append failed; closing the document");
                self.fail_shared(failure_message(&other));
            }
        }
    }

    /// The append in flight is durable at `durable_rev + 1`: its provisional revisions collapse
    /// into that one, later ones move down, and the next batch goes out.
    async fn landed(&mut self) {
        let Some(inf) = self.mode.shared().and_then(|s| s.inflight.take()) else {
            return;
        };
        let d = self.durable_rev;
        let k = inf.count;
        for p in self.held.iter_mut() {
            if p.rev <= d + k {
                p.rev = d + 1;
            } else {
                p.rev -= k - 1;
            }
        }
        self.applied_rev -= k - 1;
        self.durable_rev = d + 1;
        self.fanout.publish(&self.id, d + 1, inf.data);
        self.tell_durable();
        self.release();
        self.snapshot_if_due();
        self.flush().await;
    }

    /// Reads every revision after `durable_rev` from the store and applies it: ours (an append
    /// whose outcome has not arrived yet) lands, other nodes' are applied and broadcast.
    pub(super) async fn catch_up(&mut self) -> Result<(), StoreError> {
        let rows = self.store.updates_since(&self.id, self.durable_rev).await?;
        if rows.first().is_some_and(|r| r.0 > self.durable_rev + 1) {
            return self.reload_past_compaction().await;
        }
        for (rev, data) in rows {
            if rev != self.durable_rev + 1 {
                return Err(StoreError::Corrupt(format!(
                    "op log gap: expected revision {}, found {rev}",
                    self.durable_rev + 1
                )));
            }
            let shared = self.mode.shared();
            let ours = shared
                .as_ref()
                .and_then(|s| s.inflight.as_ref())
                .is_some_and(|i| i.rev == rev && i.data == data);
            if let (true, Some(s)) = (ours, shared) {
                s.stale_outcomes += 1;
                self.landed().await;
            } else {
                self.apply_remote(&data);
            }
        }
        Ok(())
    }

    /// The log no longer holds the revisions after ours: this node fell behind a range that
    /// was compacted into a snapshot meanwhile. Rebuilds the document from the newest snapshot
    /// and the log after it, and sends local clients what they lack (the new state's difference
    /// from the old one). Only with nothing of ours in flight; otherwise the room fails and its
    /// clients resync against a fresh load, keeping their unsaved edits.
    async fn reload_past_compaction(&mut self) -> Result<(), StoreError> {
        let busy = match &self.mode {
            CommitMode::Shared(s) => s.inflight.is_some() || !s.outgoing.is_empty(),
            CommitMode::Local => true,
        };
        if busy || self.applied_rev != self.durable_rev {
            tracing::warn!("behind a compacted range with edits in flight; reloading");
            self.fail_shared(STORAGE_FAILURE);
            return Ok(());
        }
        let loaded = self.store.load(&self.id).await?;
        let schema = self.cfg.schema.as_ref().map(|s| s.for_doc(&self.id));
        let (doc, rev) = crate::doc::ServerDoc::load_with_schema(&loaded, schema)?;
        if rev <= self.durable_rev {
            return Err(StoreError::Corrupt(format!(
                "op log gap after revision {} and no snapshot past it",
                self.durable_rev
            )));
        }
        let missing = doc
            .diff(&self.doc.state_vector())
            .map_err(StoreError::Corrupt)?;
        tracing::info!(
            from = self.durable_rev,
            to = rev,
            "behind a compacted range: reloaded from the newest snapshot"
        );
        metrics::counter!("tandem_compaction_reloads_total").increment(1);
        self.doc = super::content::Content::Awake(Box::new(doc));
        let size = self.doc.encoded_state().len() as u64;
        self.stats
            .bytes
            .store(size, std::sync::atomic::Ordering::Relaxed);
        self.durable_rev = rev;
        self.applied_rev = rev;
        self.snapshot_rev = self.snapshot_rev.max(loaded.snapshot.map_or(0, |s| s.0));
        self.last_update = Instant::now();
        self.broadcast(Bytes::from(Message::Update(missing).encode()));
        Ok(())
    }

    pub(super) async fn on_remote(&mut self, ev: FanoutEvent) {
        let result = match ev {
            FanoutEvent::Update { rev, .. } if rev <= self.durable_rev => Ok(()),
            FanoutEvent::Update { rev, data } if rev == self.durable_rev + 1 => {
                // Nobody else can hold this revision, so it is not our append in flight.
                self.apply_remote(&data);
                Ok(())
            }
            FanoutEvent::Resync => {
                self.ask_for_presence();
                self.catch_up().await
            }
            // A gap (lost or reordered messages): the store has it all.
            FanoutEvent::Update { .. } => self.catch_up().await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot catch up from the store; will retry on the next event");
        }
    }

    /// Anti-entropy: the log reached `head`; if we are behind (a fanout message lost), catch up.
    pub(super) async fn on_head(&mut self, head: u64) {
        if !self.mode.is_shared() || head <= self.durable_rev {
            return;
        }
        let before = self.durable_rev;
        match self.catch_up().await {
            // Not counted when the fanout delivered it meanwhile (the usual race).
            Ok(()) if self.durable_rev > before => {
                tracing::info!(
                    from = before,
                    to = self.durable_rev,
                    "caught up from the log: a fanout message was lost"
                );
                metrics::counter!("tandem_anti_entropy_catchups_total").increment(1);
            }
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "anti-entropy cannot catch up from the store"),
        }
    }

    /// Applies another node's durable revision `durable_rev + 1`, forwards it to every local
    /// client, and moves our provisional revisions past it.
    fn apply_remote(&mut self, data: &Bytes) {
        if let Err(why) = self.doc.awake().apply_trusted(data) {
            tracing::warn!(revision = self.durable_rev + 1, %why, "remote update did not apply cleanly");
        }
        self.stats
            .bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.log_bytes_since_snapshot += data.len() as u64;
        self.broadcast(Bytes::from(Message::Update(data.to_vec()).encode()));
        self.durable_rev += 1;
        self.applied_rev += 1;
        for p in self.held.iter_mut() {
            p.rev += 1;
        }
        self.last_update = Instant::now();
        metrics::counter!("tandem_remote_updates_total").increment(1);
        self.snapshot_if_due();
    }

    /// Cluster mode: the in-memory document can no longer be trusted to match the log (a failed
    /// commit). Drop it; clients reconnect and resync against a fresh load.
    fn fail_shared(&mut self, message: &'static str) {
        self.fail(message);
        self.held.clear();
        if let Some(s) = self.mode.shared() {
            s.outgoing.clear();
            s.inflight = None;
        }
    }

    /// Sends every broadcast, echo and ack now covered by `durable_rev`, in arrival order.
    pub(super) fn release(&mut self) {
        while self.held.front().is_some_and(|p| p.rev <= self.durable_rev) {
            let Some(mut p) = self.held.pop_front() else {
                break;
            };
            if let (Some(m), Some(people)) = (p.mentioned.take(), &self.cfg.people) {
                people.mentioned(&self.id, m.author.as_deref(), p.rev, m.mentions);
            }
            let mut slow = Vec::new();
            if let Some(origin) = self.subs.get(&p.conn) {
                if origin.outbox.tandem {
                    self.ack_seconds.record(p.received.elapsed().as_secs_f64());
                    if !origin.outbox.send_ext(Ext::Ack { revision: p.rev }) {
                        slow.push(p.conn);
                    }
                }
            }
            if let Some(frame) = &p.frame {
                for (id, sub) in &self.subs {
                    // A tandem.v1 sender gets the ack instead of its own echo.
                    if (*id != p.conn || !sub.outbox.tandem) && !sub.outbox.send(frame.clone()) {
                        slow.push(*id);
                    }
                }
            }
            for id in slow {
                self.on_leave(id);
            }
        }
    }
}
