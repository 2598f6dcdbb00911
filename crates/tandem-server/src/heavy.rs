//! Heavy HTTP work — exports, a document at a past revision, imports, restores and named
//! versions rebuild or render whole documents — runs here, not on the async workers that serve
//! the sockets: at most `workers` jobs at once on blocking threads, and a job that cannot start
//! within `queue_deadline` is answered 503 with `Retry-After` instead of piling up.
//!
//! Past revisions never change, so the encoded state at (document, revision) is kept for the
//! next reader (the history view asks for the same revision several times) in a small cache
//! bounded by entries and bytes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::error::AppError;

const CACHE_ENTRIES: usize = 16;
const CACHE_BYTES: usize = 64 << 20;

pub struct Heavy {
    permits: Arc<Semaphore>,
    queue_deadline: Duration,
    /// (document, revision, encoded state), most recently used last.
    past: Mutex<VecDeque<(String, u64, Bytes)>>,
}

impl Heavy {
    pub fn new(workers: usize, queue_deadline: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(workers.max(1))),
            queue_deadline,
            past: Mutex::new(VecDeque::new()),
        }
    }

    /// Runs `job` on a blocking thread once a worker is free; 503 if none frees up in time.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let queued = Instant::now();
        let permit = match tokio::time::timeout(
            self.queue_deadline,
            self.permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                metrics::counter!("tandem_heavy_refused_total").increment(1);
                return Err(AppError::Overloaded {
                    reason: "the server is busy rebuilding other documents (exports, history, \
                             imports): try again shortly"
                        .into(),
                    retry_after_secs: self.queue_deadline.as_secs().clamp(1, 10),
                });
            }
        };
        metrics::histogram!("tandem_heavy_queue_seconds").record(queued.elapsed().as_secs_f64());
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a heavy job panicked");
            AppError::Unavailable("the server could not finish this request".into())
        })?;
        metrics::histogram!("tandem_heavy_seconds").record(started.elapsed().as_secs_f64());
        Ok(out)
    }

    /// The encoded state of `doc` at `rev`, if a recent request built it.
    pub fn cached(&self, doc: &str, rev: u64) -> Option<Bytes> {
        let mut past = self.lock();
        let i = past.iter().position(|(d, r, _)| d == doc && *r == rev)?;
        let hit = past.remove(i)?;
        let state = hit.2.clone();
        past.push_back(hit);
        metrics::counter!("tandem_past_state_cache_hits_total").increment(1);
        Some(state)
    }

    pub fn remember(&self, doc: &str, rev: u64, state: Bytes) {
        if state.len() > CACHE_BYTES / 2 {
            return;
        }
        let mut past = self.lock();
        past.retain(|(d, r, _)| !(d == doc && *r == rev));
        past.push_back((doc.to_owned(), rev, state));
        while past.len() > CACHE_ENTRIES || past.iter().map(|e| e.2.len()).sum::<usize>() > CACHE_BYTES
        {
            past.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, u64, Bytes)>> {
        self.past.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_that_cannot_start_in_time_is_refused_with_retry_after() {
        let heavy = Arc::new(Heavy::new(1, Duration::from_millis(200)));
        let (started, release) = (Arc::new(tokio::sync::Notify::new()), Arc::new(std::sync::Barrier::new(2)));
        let busy = {
            let (heavy, started, release) = (heavy.clone(), started.clone(), release.clone());
            tokio::spawn(async move {
                heavy
                    .run(move || {
                        started.notify_one();
                        release.wait();
                        7
                    })
                    .await
            })
        };
        started.notified().await;
        match heavy.run(|| 1).await {
            Err(AppError::Overloaded { retry_after_secs, .. }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected 503, got {:?}", other.map(|_| ())),
        }
        release.wait();
        assert_eq!(busy.await.unwrap().unwrap(), 7);
        assert_eq!(heavy.run(|| 2).await.unwrap(), 2);
    }

    #[test]
    fn the_cache_keeps_recent_states_within_its_bounds() {
        let heavy = Heavy::new(1, Duration::from_secs(1));
        for rev in 0..(CACHE_ENTRIES as u64 + 4) {
            heavy.remember("d", rev, Bytes::from(vec![rev as u8; 10]));
        }
        assert!(heavy.cached("d", 0).is_none(), "the oldest went");
        assert_eq!(heavy.cached("d", 19).unwrap()[0], 19);
        assert!(heavy.cached("e", 19).is_none());
        heavy.remember("d", 100, Bytes::from(vec![0; CACHE_BYTES / 2 + 1]));
        assert!(heavy.cached("d", 100).is_none(), "too large to keep");
        for rev in 200..204 {
            heavy.remember("d", rev, Bytes::from(vec![0; CACHE_BYTES / 3]));
        }
        assert!(heavy.lock().iter().map(|e| e.2.len()).sum::<usize>() <= CACHE_BYTES);
        assert!(heavy.cached("d", 203).is_some());
    }
}
