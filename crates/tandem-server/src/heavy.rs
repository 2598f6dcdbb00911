//! Heavy HTTP work — exports, a document at a past revision, imports, restores and named
//! versions rebuild or render whole documents — runs here, not on the async workers that serve
//! the sockets: `workers` threads of their own, at a lower scheduling priority (nice 10) so
//! that on a busy machine the threads serving sockets and commits run first; a job that cannot
//! start within `queue_deadline` is answered 503 with `Retry-After` instead of piling up.
//!
//! What a document holds at a revision never changes, so what was built from it (the encoded
//! state of a past revision, an export in some format) is kept for the next reader in a small
//! cache bounded by entries and bytes: the history view asks for the same revision several
//! times, and twenty people exporting a document that is not changing render it once.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use std::num::NonZeroU32;

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::error::AppError;

const CACHE_ENTRIES: usize = 16;
const CACHE_BYTES: usize = 64 << 20;

type Job = Box<dyn FnOnce() + Send>;

pub struct Heavy {
    /// One per worker: a job holds one from before it is queued until it returns, so the
    /// workers' queue never holds more than they can start.
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    queue_deadline: Duration,
    /// (document, revision, what was built, the bytes), most recently used last.
    built: Mutex<VecDeque<(String, u64, &'static str, Bytes)>>,
    /// Paces the bodies of all exports together, in KiB ([`Heavy::body`]).
    send_rate: Option<Arc<DefaultDirectRateLimiter>>,
}

impl Heavy {
    pub fn new(workers: usize, queue_deadline: Duration) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..workers.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("tandem-heavy".into())
                .spawn(move || {
                    lower_priority();
                    loop {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match next {
                            Ok(job) => job(),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })
                .expect("cannot start a heavy worker thread");
        }
        Self {
            permits: Arc::new(Semaphore::new(workers.max(1))),
            jobs,
            queue_deadline,
            built: Mutex::new(VecDeque::new()),
            send_rate: None,
        }
    }

    /// Sends export bodies at `bytes_per_sec` all together (0: unlimited).
    pub fn with_send_rate(mut self, bytes_per_sec: u64) -> Self {
        let kib = u32::try_from(bytes_per_sec >> 10).unwrap_or(u32::MAX);
        self.send_rate = NonZeroU32::new(kib).map(|kib| {
            let burst = NonZeroU32::new(PIECE_KIB).expect("nonzero").max(kib.min(
                NonZeroU32::new(4 << 10).expect("nonzero"), // at most 4 MiB at once
            ));
            Arc::new(RateLimiter::direct(
                Quota::per_second(kib).allow_burst(burst),
            ))
        });
        self
    }

    /// Runs `job` on a blocking thread once a worker is free; 503 if none frees up in time.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let queued = Instant::now();
        let permit =
            match tokio::time::timeout(self.queue_deadline, self.permits.clone().acquire_owned())
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
        let (done, result) = tokio::sync::oneshot::channel();
        let run: Job = Box::new(move || {
            let out = catch_unwind(AssertUnwindSafe(job));
            drop(permit);
            let _ = done.send(out);
        });
        let failed = || AppError::Unavailable("the server could not finish this request".into());
        self.jobs.send(run).map_err(|_| failed())?;
        let out = result.await.map_err(|_| failed())?.map_err(|_| {
            tracing::error!("a heavy job panicked");
            failed()
        })?;
        metrics::histogram!("tandem_heavy_seconds").record(started.elapsed().as_secs_f64());
        Ok(out)
    }

    /// What a recent request built from `doc` at `rev` (`what`: "state", or an export format).
    pub fn cached(&self, doc: &str, rev: u64, what: &'static str) -> Option<Bytes> {
        let mut built = self.lock();
        let i = built
            .iter()
            .position(|(d, r, w, _)| d == doc && *r == rev && *w == what)?;
        let hit = built.remove(i)?;
        let bytes = hit.3.clone();
        built.push_back(hit);
        metrics::counter!("tandem_heavy_cache_hits_total").increment(1);
        Some(bytes)
    }

    pub fn remember(&self, doc: &str, rev: u64, what: &'static str, bytes: Bytes) {
        if bytes.len() > CACHE_BYTES / 2 {
            return;
        }
        let mut built = self.lock();
        built.retain(|(d, r, w, _)| !(d == doc && *r == rev && *w == what));
        built.push_back((doc.to_owned(), rev, what, bytes));
        while built.len() > CACHE_ENTRIES
            || built.iter().map(|e| e.3.len()).sum::<usize>() > CACHE_BYTES
        {
            built.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, u64, &'static str, Bytes)>> {
        self.built.lock().unwrap_or_else(|p| p.into_inner())
    }
}

const PIECE_KIB: u32 = 64;

impl Heavy {
    /// A large response body sent in 64 KiB pieces, the task yielding between them, and all
    /// such bodies together at most the node's send rate: twenty downloads of a cached 10 MB
    /// export then take turns with the tasks serving sockets instead of each holding a worker
    /// for a whole multi-megabyte write, and cannot spend the CPU on copying gigabytes a second
    /// over a fast link.
    pub fn body(&self, bytes: Bytes) -> axum::body::Body {
        let rate = self.send_rate.clone();
        let start = (bytes, true, rate);
        let pieces = futures_util::stream::unfold(start, |(mut rest, first, rate)| async move {
            if rest.is_empty() {
                return None;
            }
            let piece = rest.split_to(rest.len().min((PIECE_KIB as usize) << 10));
            let kib = NonZeroU32::new((piece.len() as u32).div_ceil(1024)).expect("nonempty");
            if !first {
                tokio::task::yield_now().await;
            }
            if let Some(rate) = &rate {
                // Never more than the burst, so the wait always ends.
                rate.until_n_ready(kib).await.expect("within the burst");
            }
            Some((
                Ok::<_, std::convert::Infallible>(piece),
                (rest, false, rate),
            ))
        });
        axum::body::Body::from_stream(pieces)
    }
}

/// Nice 10 for the calling thread (on Linux the nice value is per thread): under contention the
/// scheduler gives it about a tenth of what a thread at the default priority gets.
fn lower_priority() {
    // SAFETY: setpriority has no memory-safety preconditions; `0` names the calling thread.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if r != 0 {
        tracing::debug!("cannot lower the heavy pool's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(body: axum::body::Body) -> Vec<u8> {
        axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn export_bodies_are_sent_whole_and_at_most_at_the_send_rate() {
        let bytes: Vec<u8> = (0..(1536u32 << 10)).map(|i| (i % 251) as u8).collect();
        let open = Heavy::new(1, Duration::from_secs(1));
        assert_eq!(collect(open.body(Bytes::from(bytes.clone()))).await, bytes);
        // 512 KiB/s with a 512 KiB burst: the last MiB of 1.5 MiB takes two seconds at least.
        let paced = Heavy::new(1, Duration::from_secs(1)).with_send_rate(512 << 10);
        let started = Instant::now();
        assert_eq!(collect(paced.body(Bytes::from(bytes.clone()))).await, bytes);
        assert!(
            started.elapsed() >= Duration::from_millis(1800),
            "sent in {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_job_that_cannot_start_in_time_is_refused_with_retry_after() {
        let heavy = Arc::new(Heavy::new(1, Duration::from_millis(200)));
        let (started, release) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(std::sync::Barrier::new(2)),
        );
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
            Err(AppError::Overloaded {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 1),
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
            heavy.remember("d", rev, "state", Bytes::from(vec![rev as u8; 10]));
        }
        assert!(heavy.cached("d", 0, "state").is_none(), "the oldest went");
        assert_eq!(heavy.cached("d", 19, "state").unwrap()[0], 19);
        assert!(heavy.cached("e", 19, "state").is_none());
        assert!(
            heavy.cached("d", 19, "md").is_none(),
            "another kind of result"
        );
        heavy.remember("d", 100, "state", Bytes::from(vec![0; CACHE_BYTES / 2 + 1]));
        assert!(
            heavy.cached("d", 100, "state").is_none(),
            "too large to keep"
        );
        for rev in 200..204 {
            heavy.remember("d", rev, "md", Bytes::from(vec![0; CACHE_BYTES / 3]));
        }
        assert!(heavy.lock().iter().map(|e| e.3.len()).sum::<usize>() <= CACHE_BYTES);
        assert!(heavy.cached("d", 203, "md").is_some());
    }
}
