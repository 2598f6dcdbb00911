//! The group-commit writer: one task per process that turns many appends (from every document)
//! into one durable store transaction, so durable throughput is not one fsync per keystroke.
//!
//! It takes whatever is queued when the previous commit returns (up to the batch limits): while
//! the store commits batch N, batch N+1 accumulates in the channel. With a `linger`, a batch of
//! fewer than [`LINGER_BELOW`] appends may wait up to that long for more first, but only while
//! appends arrive fast enough that more are expected within it ([`Arrivals`]: one more on the
//! writer's own thread, where the wait is a sleep to the microsecond; two on tokio's timer):
//! fewer, fuller commits when many small documents each send a trickle, and no added latency
//! at light load, where waiting would gather nothing. Outcomes go back to each document's
//! actor in submission order.
//!
//! For a store whose appends block ([`OpLog::blocking`]: SQLite) the writer runs on a thread of
//! its own, `tandem-commit`, and commits there. Each commit then crosses threads twice (the
//! appends in, the outcomes out) instead of four times through the runtime's blocking pool, and
//! always on the same thread rather than whichever pool thread is free.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::store::{Append, AppendStatus, OpLog, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct GroupCommitConfig {
    pub max_batch: usize,
    pub max_bytes: usize,
    /// Requests waiting for the writer; a full queue makes document actors wait (backpressure).
    pub queue: usize,
    /// How long a small batch may wait for more appends before it is committed, while appends
    /// arrive fast enough to fill it (zero: never).
    pub linger: Duration,
    /// Test fault: every commit waits this long before it is written (a slow disk or database).
    pub fault_delay: Duration,
}

/// Batches this small wait for `linger`; larger ones are committed at once.
pub const LINGER_BELOW: usize = 8;

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self {
            max_batch: 4096,
            max_bytes: 4 << 20,
            queue: 16_384,
            linger: Duration::ZERO,
            fault_delay: Duration::ZERO,
        }
    }
}

/// How fast appends have been arriving: a count over windows of [`Arrivals::WINDOW`], the last
/// full window's rate deciding whether a small batch lingers.
#[derive(Debug)]
struct Arrivals {
    since: tokio::time::Instant,
    count: u32,
    per_sec: f64,
}

impl Arrivals {
    const WINDOW: Duration = Duration::from_millis(100);

    fn new() -> Self {
        Self {
            since: tokio::time::Instant::now(),
            count: 0,
            per_sec: 0.0,
        }
    }

    fn note(&mut self, n: usize) {
        self.count += n as u32;
        let elapsed = self.since.elapsed();
        if elapsed >= Self::WINDOW {
            self.per_sec = f64::from(self.count) / elapsed.as_secs_f64();
            self.since += elapsed;
            self.count = 0;
        }
    }

    /// Whether more appends are expected within `linger`: at least one when the wait is
    /// `precise` (a sleep on the writer's own thread), two on tokio's timer (it counts whole
    /// milliseconds: a wait of 2 ms ends 2–3 ms later).
    fn worth_waiting(&self, linger: Duration, precise: bool) -> bool {
        let expected = self.per_sec * linger.as_secs_f64();
        !linger.is_zero() && expected >= if precise { 1.0 } else { 2.0 }
    }
}

pub struct CommitRequest {
    pub append: Append,
    pub reply: mpsc::UnboundedSender<CommitOutcome>,
}

#[derive(Debug)]
pub struct CommitOutcome {
    pub rev: u64,
    pub result: Result<AppendStatus, StoreError>,
}

/// Where document actors submit appends. The writer exits once every clone is dropped and the
/// queue is drained, which is how shutdown lets the last commits finish.
#[derive(Clone)]
pub struct CommitQueue {
    tx: mpsc::Sender<CommitRequest>,
}

impl CommitQueue {
    pub async fn submit(&self, req: CommitRequest) -> Result<(), StoreError> {
        self.tx
            .send(req)
            .await
            .map_err(|_| StoreError::Unavailable("commit writer stopped".into()))
    }
}

/// Starts the writer; the returned future must be spawned and awaited at shutdown. It ends
/// when the writer does, on whichever thread that runs.
pub fn group_commit(
    store: Arc<dyn OpLog>,
    cfg: GroupCommitConfig,
) -> (CommitQueue, impl std::future::Future<Output = ()> + Send) {
    let (tx, rx) = mpsc::channel(cfg.queue);
    (CommitQueue { tx }, start(store, rx, cfg))
}

async fn start(store: Arc<dyn OpLog>, rx: mpsc::Receiver<CommitRequest>, cfg: GroupCommitConfig) {
    if store.blocking().is_none() {
        return run(store, rx, cfg, Appends::Async).await;
    }
    let (done, finished) = oneshot::channel();
    let writer = move || {
        // Its own small runtime, for the linger's and the fault's timers.
        match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt.block_on(run(store, rx, cfg, Appends::Here)),
            Err(e) => tracing::error!(error = %e, "commit writer's runtime"),
        }
        let _ = done.send(());
    };
    if let Err(e) = std::thread::Builder::new()
        .name("tandem-commit".into())
        .spawn(writer)
    {
        // The closure, and the queue's receiver in it, went with the error: every submit
        // is refused as "commit writer stopped", and nothing is acked.
        tracing::error!(error = %e, "commit writer's thread");
    }
    let _ = finished.await;
}

/// The appends of the commit being gathered, and where their outcomes go.
struct Batch {
    appends: Vec<Append>,
    replies: Vec<mpsc::UnboundedSender<CommitOutcome>>,
    bytes: usize,
    max_batch: usize,
    max_bytes: usize,
}

impl Batch {
    fn new(cfg: GroupCommitConfig) -> Self {
        Self {
            appends: Vec::with_capacity(cfg.max_batch),
            replies: Vec::with_capacity(cfg.max_batch),
            bytes: 0,
            max_batch: cfg.max_batch,
            max_bytes: cfg.max_bytes,
        }
    }

    fn take(&mut self, req: CommitRequest) {
        self.bytes += req.append.data.len();
        self.appends.push(req.append);
        self.replies.push(req.reply);
    }

    fn full(&self) -> bool {
        self.appends.len() >= self.max_batch || self.bytes >= self.max_bytes
    }

    /// Takes what is already queued, until the batch is full.
    fn take_queued(&mut self, rx: &mut mpsc::Receiver<CommitRequest>) {
        while !self.full() {
            let Ok(req) = rx.try_recv() else { break };
            self.take(req);
        }
    }

    /// Empties the batch: each append with where its outcome goes.
    fn drain(
        &mut self,
    ) -> impl Iterator<Item = (Append, mpsc::UnboundedSender<CommitOutcome>)> + '_ {
        self.bytes = 0;
        self.appends.drain(..).zip(self.replies.drain(..))
    }
}

/// Where the writer makes its appends.
#[derive(Clone, Copy)]
enum Appends {
    /// `OpLog::append`, awaited.
    Async,
    /// `BlockingAppend::append_blocking`, on the writer's own thread.
    Here,
}

async fn run(
    store: Arc<dyn OpLog>,
    mut rx: mpsc::Receiver<CommitRequest>,
    cfg: GroupCommitConfig,
    appends_by: Appends,
) {
    let mut batch = Batch::new(cfg);
    let mut arrivals = Arrivals::new();
    let precise = matches!(appends_by, Appends::Here);
    while let Some(first) = rx.recv().await {
        batch.take(first);
        batch.take_queued(&mut rx);
        arrivals.note(batch.appends.len());
        if batch.appends.len() < LINGER_BELOW && arrivals.worth_waiting(cfg.linger, precise) {
            let queued = batch.appends.len();
            if precise {
                // The writer's own thread: one sleep of the linger, to the microsecond, then
                // whatever arrived meanwhile.
                std::thread::sleep(cfg.linger);
                batch.take_queued(&mut rx);
            } else {
                let until = tokio::time::Instant::now() + cfg.linger;
                while !batch.full() {
                    let Ok(Some(req)) = tokio::time::timeout_at(until, rx.recv()).await else {
                        break;
                    };
                    batch.take(req);
                }
            }
            arrivals.note(batch.appends.len() - queued);
        }
        if !cfg.fault_delay.is_zero() {
            tokio::time::sleep(cfg.fault_delay).await;
        }
        let started = Instant::now();
        let result = match (appends_by, store.blocking()) {
            (Appends::Here, Some(blocking)) => blocking.append_blocking(&batch.appends),
            _ => store.append(&batch.appends).await,
        };
        metrics::histogram!("tandem_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("tandem_commit_batch_size").record(batch.appends.len() as f64);
        if let Err(e) = &result {
            tracing::error!(error = %e, batch = batch.appends.len(), "group commit failed");
            metrics::counter!("tandem_commit_failures_total").increment(1);
        }
        for (i, (append, reply)) in batch.drain().enumerate() {
            let result = match &result {
                Ok(statuses) => Ok(statuses.get(i).copied().unwrap_or(AppendStatus::Conflict)),
                Err(e) => Err(e.clone()),
            };
            // A closed reply channel means the document actor is gone; nothing to tell.
            let _ = reply.send(CommitOutcome {
                rev: append.rev,
                result,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BlockingAppend, LoadedDoc, MemoryStore, UnreliableStore};
    use bytes::Bytes;

    fn append(rev: u64) -> Append {
        Append {
            author: None,
            doc: "d".into(),
            rev,
            data: Bytes::from(vec![rev as u8]),
        }
    }

    /// Queues the append of `rev`, its outcome to go to `reply`.
    async fn submit(queue: &CommitQueue, rev: u64, reply: &mpsc::UnboundedSender<CommitOutcome>) {
        let req = CommitRequest {
            append: append(rev),
            reply: reply.clone(),
        };
        queue.submit(req).await.unwrap();
    }

    /// Group commit itself: what is queued while a commit runs goes into the next one, as one
    /// store transaction, within the batch limit. One transaction per append fails this.
    #[tokio::test]
    async fn appends_queued_during_a_commit_share_one_transaction() {
        let store = Arc::new(UnreliableStore::new(MemoryStore::new()));
        store.ensure_doc("d").await.unwrap();
        let cfg = GroupCommitConfig {
            max_batch: 40,
            ..GroupCommitConfig::default()
        };
        let (queue, writer) = group_commit(store.clone(), cfg);
        let writer = tokio::spawn(writer);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let submit = |rev| {
            let (queue, reply) = (queue.clone(), tx.clone());
            async move {
                let append = append(rev);
                queue.submit(CommitRequest { append, reply }).await.unwrap();
            }
        };
        // The first commit is stalled in the store while 100 more queue behind it.
        let held = store.hold_appends().await;
        submit(1).await;
        while store.append_calls() == 0 {
            tokio::task::yield_now().await;
        }
        for rev in 2..=101 {
            submit(rev).await;
        }
        drop(held);
        for rev in 1..=101 {
            let out = rx.recv().await.unwrap();
            assert_eq!((out.rev, out.result.unwrap()), (rev, AppendStatus::Ok));
        }
        // 1, then 100 in batches of at most 40: 40 + 40 + 20.
        assert_eq!(store.append_calls(), 4);
        assert_eq!(store.inner().load("d").await.unwrap().head(), 101);
        drop(queue);
        writer.await.unwrap();
    }

    /// Submits `n` appends one `every` apart with the given linger; the number of commits, and
    /// the longest any append waited for its outcome.
    async fn steady(linger: Duration, every: Duration, n: u64) -> (usize, Duration) {
        let store = Arc::new(UnreliableStore::new(MemoryStore::new()));
        store.ensure_doc("d").await.unwrap();
        let cfg = GroupCommitConfig {
            linger,
            ..GroupCommitConfig::default()
        };
        let (queue, writer) = group_commit(store.clone(), cfg);
        let writer = tokio::spawn(writer);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let answers = tokio::spawn(async move {
            let mut longest = Duration::ZERO;
            while let Some((rev, sent)) = rx.recv().await {
                let (sent, mut reply): (tokio::time::Instant, mpsc::UnboundedReceiver<_>) = sent;
                let out: CommitOutcome = reply.recv().await.unwrap();
                assert_eq!(out.rev, rev);
                longest = longest.max(sent.elapsed());
            }
            longest
        });
        for rev in 1..=n {
            let (reply, answer) = mpsc::unbounded_channel();
            tx.send((rev, (tokio::time::Instant::now(), answer)))
                .unwrap();
            let req = CommitRequest {
                append: append(rev),
                reply,
            };
            queue.submit(req).await.unwrap();
            tokio::time::sleep(every).await;
        }
        drop(tx);
        let longest = answers.await.unwrap();
        drop(queue);
        writer.await.unwrap();
        (store.append_calls(), longest)
    }

    /// At 1,000 appends a second a 10 ms linger makes far fewer commits (after the first
    /// window, which measures the rate), each append waiting at most about the linger (the
    /// timer's resolution is 1 ms); without one, each append is committed by itself.
    #[tokio::test(start_paused = true)]
    async fn small_batches_linger_while_appends_arrive_fast() {
        let every = Duration::from_millis(1);
        let (commits, _) = steady(Duration::ZERO, every, 1000).await;
        assert_eq!(commits, 1000);
        let linger = Duration::from_millis(10);
        let (commits, longest) = steady(linger, every, 1000).await;
        assert!(commits < 400, "{commits} commits");
        assert!(longest <= linger + every, "waited {longest:?}");
    }

    /// At 50 appends a second, a 10 ms linger would gather one more at best every other time:
    /// no append waits.
    #[tokio::test(start_paused = true)]
    async fn a_slow_trickle_never_lingers() {
        let (commits, longest) =
            steady(Duration::from_millis(10), Duration::from_millis(20), 50).await;
        assert_eq!(commits, 50);
        assert_eq!(longest, Duration::ZERO);
    }

    /// A store whose appends block: the memory store's, counted by the thread that made them.
    #[derive(Default)]
    struct Blocking {
        inner: MemoryStore,
        threads: std::sync::Mutex<Vec<Option<String>>>,
    }

    #[async_trait::async_trait]
    impl OpLog for Blocking {
        async fn append(&self, _: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
            Err(StoreError::Unavailable("appended async".into()))
        }
        fn blocking(&self) -> Option<&dyn BlockingAppend> {
            Some(self)
        }
        async fn ensure_doc(&self, doc: &str) -> Result<bool, StoreError> {
            self.inner.ensure_doc(doc).await
        }
        async fn load_at(&self, doc: &str, upto: u64) -> Result<LoadedDoc, StoreError> {
            self.inner.load_at(doc, upto).await
        }
        async fn updates_since(
            &self,
            doc: &str,
            after: u64,
        ) -> Result<Vec<(u64, Bytes)>, StoreError> {
            self.inner.updates_since(doc, after).await
        }
        async fn heads(&self, docs: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
            self.inner.heads(docs).await
        }
        async fn put_snapshot(&self, doc: &str, rev: u64, state: Bytes) -> Result<(), StoreError> {
            self.inner.put_snapshot(doc, rev, state).await
        }
        async fn compact(&self, doc: &str, cutoff_ms: i64) -> Result<u64, StoreError> {
            self.inner.compact(doc, cutoff_ms).await
        }
        async fn prune_snapshots(&self, doc: &str, keep: usize) -> Result<u64, StoreError> {
            self.inner.prune_snapshots(doc, keep).await
        }
    }

    impl BlockingAppend for Blocking {
        fn append_blocking(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
            let name = std::thread::current().name().map(str::to_owned);
            self.threads.lock().unwrap().push(name);
            self.inner.append_blocking(batch)
        }
    }

    /// A store whose appends block is committed on the writer's own thread, never through
    /// `append` (async, on the runtime's pool), with every outcome back in order; the writer's
    /// future ends once the queue is dropped and drained, as shutdown needs.
    #[tokio::test]
    async fn a_blocking_store_is_committed_on_the_writers_own_thread() {
        let store = Arc::new(Blocking::default());
        store.ensure_doc("d").await.unwrap();
        let (queue, writer) = group_commit(store.clone(), GroupCommitConfig::default());
        let writer = tokio::spawn(writer);
        let (tx, mut rx) = mpsc::unbounded_channel();
        for rev in 1..=50 {
            submit(&queue, rev, &tx).await;
        }
        for rev in 1..=50 {
            let out = rx.recv().await.unwrap();
            assert_eq!((out.rev, out.result.unwrap()), (rev, AppendStatus::Ok));
        }
        drop(queue);
        writer.await.unwrap();
        let threads = store.threads.lock().unwrap().clone();
        assert!(!threads.is_empty());
        assert!(
            threads
                .iter()
                .all(|t| t.as_deref() == Some("tandem-commit")),
            "{threads:?}"
        );
        assert_eq!(store.inner.load("d").await.unwrap().head(), 50);
    }

    /// On the writer's own thread the linger is a sleep: appends arriving about once a
    /// millisecond, with a 10 ms linger, share commits (several per commit rather than one
    /// each), and every outcome still comes back in order.
    #[tokio::test]
    async fn a_blocking_store_lingers_on_its_own_thread_while_appends_arrive_fast() {
        let store = Arc::new(Blocking::default());
        store.ensure_doc("d").await.unwrap();
        let cfg = GroupCommitConfig {
            linger: Duration::from_millis(10),
            ..GroupCommitConfig::default()
        };
        let (queue, writer) = group_commit(store.clone(), cfg);
        let writer = tokio::spawn(writer);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let n = 400;
        let submitter = tokio::spawn(async move {
            for rev in 1..=n {
                submit(&queue, rev, &tx).await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        for rev in 1..=n {
            let out = rx.recv().await.unwrap();
            assert_eq!((out.rev, out.result.unwrap()), (rev, AppendStatus::Ok));
        }
        submitter.await.unwrap();
        writer.await.unwrap();
        let commits = store.threads.lock().unwrap().len() as u64;
        // The first 100 ms measure the rate and do not linger (up to 100 commits); past them a
        // commit gathers what arrived in 10 ms: at 200 to 1,000 appends a second, 3 to 11.
        assert!(commits <= n / 2, "{commits} commits for {n} appends");
        assert_eq!(store.inner.load("d").await.unwrap().head(), n);
    }

    #[tokio::test]
    async fn batches_what_is_queued_and_answers_in_order() {
        let store = Arc::new(MemoryStore::new());
        store.ensure_doc("d").await.unwrap();
        let (queue, writer) = group_commit(store.clone(), GroupCommitConfig::default());
        let (tx, mut rx) = mpsc::unbounded_channel();
        for rev in 1..=100 {
            submit(&queue, rev, &tx).await;
        }
        drop(queue);
        writer.await; // all 100 were queued before the writer ran: expect few batches
        for rev in 1..=100 {
            let out = rx.recv().await.unwrap();
            assert_eq!((out.rev, out.result.unwrap()), (rev, AppendStatus::Ok));
        }
        assert_eq!(store.load("d").await.unwrap().head(), 100);
    }
}
