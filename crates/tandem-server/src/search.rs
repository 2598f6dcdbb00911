//! Keeps the full-text index ([`tandem_store::Search`]) following the documents, off the
//! actor's path. Owns the set of documents waiting to be indexed and the background task that
//! indexes them; never touches a room.
//!
//! - **What marks a document**: each revision this node makes durable (the actor's
//!   [`DurableHook`], which only takes a lock for a moment), a new title, a comment written or
//!   changed. In cluster mode the node that committed a revision indexes it: the one holding the
//!   document under doc-affinity routing.
//! - **Debounce**: a document is indexed [`QUIET`] after its last mark, and never later than
//!   [`MAX_WAIT`] after its first, so text is searchable within 2 s of a durable revision even
//!   while someone types without pause.
//! - **Spacing**: a document whose last entry took longer than [`MAX_WAIT`] / [`SPACING`] to
//!   build (a few MB typed all over: 150 ms for 4 MB) is indexed again no sooner than
//!   [`SPACING`] times that after it, so one busy document keeps at most a twentieth of a
//!   thread indexing it.
//! - **Work**: read from the store (snapshot + log, comments, title) and turned into text on
//!   blocking threads, [`WORKERS`] documents at a time: a bounded pool of its own, so indexing
//!   never takes a permit that exports and restores wait for.
//! - **Resuming**: the index records the revision and time each entry was built from; at start,
//!   when marks overflow [`MAX_PENDING`] and every [`RESCAN_EVERY`], [`Search::behind`] lists
//!   every document the index lags, so a crash or a lost mark is repaired exactly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tandem_core::doc::ServerDoc;
use tandem_core::room::DurableHook;
use tandem_core::store::{now_millis, DocStore, StoreError};
use tandem_store::search::IndexEntry;
use tandem_store::Search;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Indexed this long after a document's last mark...
pub const QUIET: Duration = Duration::from_millis(500);
/// ...and never later than this after its first.
pub const MAX_WAIT: Duration = Duration::from_millis(1500);
/// A document is indexed again no sooner than this many times its last build took.
pub const SPACING: u32 = 20;
/// Documents indexed at once.
pub const WORKERS: usize = 2;
/// Marked documents remembered; past this, marks are dropped and a rescan finds them.
pub const MAX_PENDING: usize = 100_000;
/// A safety net for marks lost elsewhere (a node that crashed before indexing what it committed).
pub const RESCAN_EVERY: Duration = Duration::from_secs(600);
/// Documents taken from one [`Search::behind`] call.
const RESCAN_BATCH: usize = 1_000;
/// Text past this many bytes is left out of a document's entry.
const MAX_BODY_BYTES: usize = 4 << 20;

#[derive(Clone, Copy)]
struct Marked {
    first: Instant,
    last: Instant,
    /// Its last entry was slow to build: not before this ([`SPACING`]).
    not_before: Option<Instant>,
}

impl Marked {
    fn due(&self) -> Instant {
        let debounced = (self.last + QUIET).min(self.first + MAX_WAIT);
        self.not_before.map_or(debounced, |t| debounced.max(t))
    }
}

#[derive(Default)]
struct Pending {
    docs: HashMap<String, Marked>,
    /// Documents whose last build was slow, and when they may be indexed again ([`SPACING`]);
    /// each entry is taken by the document's next mark, or dropped once past.
    spaced: HashMap<String, Instant>,
    /// Marks were dropped (the set was full): rescan.
    overflowed: bool,
}

/// The index and what is waiting for it. Cheap to share.
pub struct Indexer {
    pub index: Arc<dyn Search>,
    pending: Mutex<Pending>,
    wake: Notify,
}

impl Indexer {
    pub fn new(index: Arc<dyn Search>) -> Arc<Self> {
        Arc::new(Self {
            index,
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
        })
    }

    /// What the document actors call with each revision this node makes durable.
    pub fn durable_hook(self: &Arc<Self>) -> DurableHook {
        let this = self.clone();
        DurableHook(Arc::new(move |doc: &str, _rev| this.mark(doc)))
    }

    /// `doc` changed (text, title or comments): index it soon.
    pub fn mark(&self, doc: &str) {
        let now = Instant::now();
        let mut p = self.pending.lock().expect("search pending poisoned");
        if let Some(m) = p.docs.get_mut(doc) {
            m.last = now;
            return;
        }
        if p.docs.len() >= MAX_PENDING {
            p.overflowed = true;
        } else {
            let not_before = p.spaced.remove(doc).filter(|t| *t > now);
            p.docs.insert(
                doc.to_owned(),
                Marked {
                    first: now,
                    last: now,
                    not_before,
                },
            );
        }
        drop(p);
        self.wake.notify_one();
    }

    /// `doc` was deleted: out of the index now, not at the next round.
    pub async fn forget(&self, doc: &str) -> Result<(), StoreError> {
        self.pending
            .lock()
            .expect("search pending poisoned")
            .docs
            .remove(doc);
        self.index.remove(doc).await
    }

    /// Documents due now (oldest mark first, at most `max`), and when the next one falls due.
    fn take_due(&self, max: usize) -> (Vec<(String, Marked)>, Option<Instant>, bool) {
        let now = Instant::now();
        let mut p = self.pending.lock().expect("search pending poisoned");
        let mut due: Vec<(String, Marked)> = p
            .docs
            .iter()
            .filter(|(_, m)| m.due() <= now)
            .map(|(d, m)| (d.clone(), *m))
            .collect();
        due.sort_by_key(|(_, m)| m.first);
        due.truncate(max);
        for (d, _) in &due {
            p.docs.remove(d);
        }
        p.spaced.retain(|_, t| *t > now);
        let next = p.docs.values().map(Marked::due).min();
        let overflowed = std::mem::take(&mut p.overflowed);
        metrics::gauge!("tandem_search_pending").set(p.docs.len() as f64);
        (due, next, overflowed)
    }

    /// Marks every document the index is behind on (the whole list, in batches).
    async fn rescan(&self) -> Result<usize, StoreError> {
        let behind = self.index.behind(RESCAN_BATCH).await?;
        for doc in &behind {
            self.mark(doc);
        }
        Ok(behind.len())
    }

    /// `doc`'s entry took `took` to build: a slow one spaces its next indexing ([`SPACING`]).
    fn built(&self, doc: &str, took: Duration) {
        let gap = took * SPACING;
        if gap <= MAX_WAIT {
            return;
        }
        let not_before = Instant::now() + gap;
        let mut p = self.pending.lock().expect("search pending poisoned");
        // Marked again while it was being built (someone is typing): that mark waits too.
        if let Some(m) = p.docs.get_mut(doc) {
            m.not_before = Some(not_before);
        } else if p.spaced.len() < MAX_PENDING {
            p.spaced.insert(doc.to_owned(), not_before);
        }
    }

    /// Builds and stores one document's entry now.
    pub async fn index_now(&self, store: &Arc<dyn DocStore>, doc: &str) -> Result<(), StoreError> {
        let read_at = now_millis();
        let Some(info) = store.doc_info(doc).await? else {
            return self.index.remove(doc).await;
        };
        let loaded = store.load(doc).await?;
        let comments = store.comments(doc).await?;
        let started = Instant::now();
        let built = tokio::task::spawn_blocking(move || -> Result<IndexEntry, StoreError> {
            let (ydoc, rev) = ServerDoc::load(&loaded)?;
            let mut body = crate::export::prosemirror_json(ydoc.doc())
                .map(|pm| crate::export::plain_text(&pm))
                .unwrap_or_default();
            truncate(&mut body, MAX_BODY_BYTES);
            let comments: Vec<String> = comments.into_iter().map(|c| c.body).collect();
            Ok(IndexEntry {
                doc: info.id,
                rev,
                title: info.title,
                body,
                comments: comments.join("\n"),
                read_at,
            })
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("indexing task: {e}")))??;
        self.built(doc, started.elapsed());
        self.index.put(built).await
    }

    /// The background task: indexes documents as they fall due, until `stop`.
    pub async fn run(self: Arc<Self>, store: Arc<dyn DocStore>, stop: CancellationToken) {
        let mut next_rescan = Instant::now();
        let mut next_size = Instant::now();
        loop {
            if Instant::now() >= next_rescan {
                match self.rescan().await {
                    // A full batch: more may be behind; look again once these are done.
                    Ok(n) if n >= RESCAN_BATCH => next_rescan = Instant::now() + MAX_WAIT,
                    Ok(_) => next_rescan = Instant::now() + RESCAN_EVERY,
                    Err(e) => {
                        tracing::warn!(error = %e, "search: cannot list documents to index");
                        next_rescan = Instant::now() + Duration::from_secs(10);
                    }
                }
            }
            let (due, next, overflowed) = self.take_due(256);
            if overflowed {
                next_rescan = Instant::now();
            }
            futures_util::stream::iter(due)
                .for_each_concurrent(WORKERS, |(doc, marked)| {
                    let (this, store) = (self.clone(), store.clone());
                    async move {
                        match this.index_now(&store, &doc).await {
                            Ok(()) => metrics::histogram!("tandem_search_lag_seconds")
                                .record(marked.first.elapsed().as_secs_f64()),
                            Err(e) => {
                                tracing::warn!(doc = %doc, error = %e, "search: indexing failed");
                                metrics::counter!("tandem_search_failures_total").increment(1);
                            }
                        }
                    }
                })
                .await;
            if Instant::now() >= next_size {
                if let Ok(bytes) = self.index.size().await {
                    metrics::gauge!("tandem_search_index_bytes").set(bytes as f64);
                }
                next_size = Instant::now() + Duration::from_secs(10);
            }
            let wake_at = next.unwrap_or(next_rescan).min(next_rescan);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// `tandem reindex`: empties the index and builds every entry again, now. Returns how many
    /// documents were indexed and which could not be (each is logged; the rest go on).
    pub async fn reindex(
        &self,
        store: &Arc<dyn DocStore>,
    ) -> Result<(usize, Vec<String>), StoreError> {
        self.index.clear().await?;
        let every = self.index.behind(usize::MAX).await?;
        let results: Vec<(String, Result<(), StoreError>)> = futures_util::stream::iter(every)
            .map(|doc| async move {
                let r = self.index_now(store, &doc).await;
                (doc, r)
            })
            .buffer_unordered(WORKERS)
            .collect()
            .await;
        let mut failed = Vec::new();
        let mut done = 0;
        for (doc, r) in results {
            match r {
                Ok(()) => done += 1,
                Err(e) => {
                    tracing::warn!(doc = %doc, error = %e, "reindex: cannot index");
                    failed.push(doc);
                }
            }
        }
        Ok((done, failed))
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexer() -> (Arc<Indexer>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = tandem_store::SqliteStore::open(&tandem_store::SqliteConfig {
            path: dir.path().join("t.db"),
        })
        .unwrap();
        (Indexer::new(Arc::new(store.search().unwrap())), dir)
    }

    #[tokio::test(start_paused = true)]
    async fn a_document_falls_due_when_quiet_or_at_the_latest_after_max_wait() {
        let (ix, _d) = indexer();
        ix.mark("a");
        assert!(ix.take_due(10).0.is_empty());
        tokio::time::advance(QUIET).await;
        assert_eq!(ix.take_due(10).0.len(), 1, "quiet for QUIET");
        // Marked without pause: due MAX_WAIT after the first mark all the same.
        ix.mark("b");
        let start = Instant::now();
        while start.elapsed() < MAX_WAIT - Duration::from_millis(100) {
            tokio::time::advance(Duration::from_millis(100)).await;
            ix.mark("b");
            assert!(ix.take_due(10).0.is_empty());
        }
        tokio::time::advance(Duration::from_millis(100)).await;
        let (due, next, _) = ix.take_due(10);
        assert_eq!(due.len(), 1);
        assert_eq!(next, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_build_spaces_the_next_indexing_and_a_fast_one_does_not() {
        let (ix, _d) = indexer();
        let took = Duration::from_millis(200); // SPACING x 200 ms = 4 s
        ix.mark("big"); // marked again while its entry was being built...
        ix.built("big", took);
        ix.built("small", Duration::from_millis(10));
        ix.mark("big"); // ...and after
        ix.mark("small");
        tokio::time::advance(MAX_WAIT).await;
        let (due, next, _) = ix.take_due(10);
        let due: Vec<_> = due.into_iter().map(|(d, _)| d).collect();
        assert_eq!(due, ["small"], "a fast build is indexed as any document is");
        let gap = took * SPACING;
        assert_eq!(next, Some(Instant::now() - MAX_WAIT + gap));
        tokio::time::advance(gap - MAX_WAIT - Duration::from_millis(1)).await;
        assert!(
            ix.take_due(10).0.is_empty(),
            "not before SPACING x its build"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(ix.take_due(10).0.len(), 1);
        // Spent: its next mark is debounced as usual.
        ix.mark("big");
        tokio::time::advance(QUIET).await;
        assert_eq!(ix.take_due(10).0.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_set_drops_marks_and_asks_for_a_rescan() {
        let (ix, _d) = indexer();
        for i in 0..MAX_PENDING {
            ix.mark(&format!("d{i}"));
        }
        ix.mark("one-too-many");
        let (_, _, overflowed) = ix.take_due(1);
        assert!(overflowed);
        assert!(!ix.pending.lock().unwrap().docs.contains_key("one-too-many"));
        assert!(!ix.take_due(1).2, "asked once");
    }

    #[test]
    fn truncates_at_a_character_boundary() {
        let mut s = "aé".to_string();
        truncate(&mut s, 2);
        assert_eq!(s, "a");
    }
}
