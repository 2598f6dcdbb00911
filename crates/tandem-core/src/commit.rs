//! The group-commit writer: one task per process that turns many appends (from every document)
//! into one durable store transaction, so durable throughput is not one fsync per keystroke.
//!
//! By default it never waits to fill a batch: it takes whatever is queued when the previous
//! commit returns (up to the batch limits). While the store commits batch N, batch N+1
//! accumulates in the channel. With a `linger`, a batch of fewer than [`LINGER_BELOW`] appends
//! waits up to that long for more first: fewer, fuller commits when many small documents each
//! send a trickle, for at most `linger` more latency. Outcomes go back to each document's actor
//! in submission order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::store::{Append, AppendStatus, OpLog, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct GroupCommitConfig {
    pub max_batch: usize,
    pub max_bytes: usize,
    /// Requests waiting for the writer; a full queue makes document actors wait (backpressure).
    pub queue: usize,
    /// How long a small batch waits for more appends before it is committed (zero: not at all).
    pub linger: Duration,
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
        }
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

/// Starts the writer; the returned future must be spawned and awaited at shutdown.
pub fn group_commit(
    store: Arc<dyn OpLog>,
    cfg: GroupCommitConfig,
) -> (CommitQueue, impl std::future::Future<Output = ()> + Send) {
    let (tx, rx) = mpsc::channel(cfg.queue);
    (CommitQueue { tx }, run(store, rx, cfg))
}

async fn run(store: Arc<dyn OpLog>, mut rx: mpsc::Receiver<CommitRequest>, cfg: GroupCommitConfig) {
    let mut appends = Vec::with_capacity(cfg.max_batch);
    let mut replies = Vec::with_capacity(cfg.max_batch);
    while let Some(first) = rx.recv().await {
        let mut bytes = first.append.data.len();
        appends.push(first.append);
        replies.push(first.reply);
        while appends.len() < cfg.max_batch && bytes < cfg.max_bytes {
            let Ok(req) = rx.try_recv() else { break };
            bytes += req.append.data.len();
            appends.push(req.append);
            replies.push(req.reply);
        }
        if !cfg.linger.is_zero() && appends.len() < LINGER_BELOW {
            let until = tokio::time::Instant::now() + cfg.linger;
            while appends.len() < cfg.max_batch && bytes < cfg.max_bytes {
                let Ok(Some(req)) = tokio::time::timeout_at(until, rx.recv()).await else {
                    break;
                };
                bytes += req.append.data.len();
                appends.push(req.append);
                replies.push(req.reply);
            }
        }
        let started = Instant::now();
        let result = store.append(&appends).await;
        metrics::histogram!("tandem_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("tandem_commit_batch_size").record(appends.len() as f64);
        if let Err(e) = &result {
            tracing::error!(error = %e, batch = appends.len(), "group commit failed");
            metrics::counter!("tandem_commit_failures_total").increment(1);
        }
        for (i, (append, reply)) in appends.drain(..).zip(replies.drain(..)).enumerate() {
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
    use crate::store::{MemoryStore, UnreliableStore};
    use bytes::Bytes;

    fn append(rev: u64) -> Append {
        Append {
            author: None,
            doc: "d".into(),
            rev,
            data: Bytes::from(vec![rev as u8]),
        }
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

    /// With a linger, a lone append waits for the ones that come soon after and they share one
    /// commit; without, it is committed by itself.
    #[tokio::test(start_paused = true)]
    async fn a_small_batch_lingers_for_more() {
        for (linger, commits) in [(Duration::from_millis(2), 1), (Duration::ZERO, 2)] {
            let store = Arc::new(UnreliableStore::new(MemoryStore::new()));
            store.ensure_doc("d").await.unwrap();
            let cfg = GroupCommitConfig {
                linger,
                ..GroupCommitConfig::default()
            };
            let (queue, writer) = group_commit(store.clone(), cfg);
            let writer = tokio::spawn(writer);
            let (tx, mut rx) = mpsc::unbounded_channel();
            for rev in 1..=3 {
                let reply = tx.clone();
                let req = CommitRequest {
                    append: append(rev),
                    reply,
                };
                queue.submit(req).await.unwrap();
                if rev == 1 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            for rev in 1..=3 {
                assert_eq!(rx.recv().await.unwrap().rev, rev);
            }
            assert_eq!(store.append_calls(), commits, "linger {linger:?}");
            drop(queue);
            writer.await.unwrap();
        }
    }

    #[tokio::test]
    async fn batches_what_is_queued_and_answers_in_order() {
        let store = Arc::new(MemoryStore::new());
        store.ensure_doc("d").await.unwrap();
        let (queue, writer) = group_commit(store.clone(), GroupCommitConfig::default());
        let (tx, mut rx) = mpsc::unbounded_channel();
        for rev in 1..=100 {
            let append = append(rev);
            queue
                .submit(CommitRequest {
                    append,
                    reply: tx.clone(),
                })
                .await
                .unwrap();
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
