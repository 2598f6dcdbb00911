//! [`UnreliableStore`]: an op log that fails, stalls or slows down on command.

use bytes::Bytes;

use super::*;

/// Wraps a store to inject faults on command, for tests at every level: appends that fail (a full
/// disk, a failed fsync: nothing written), a database that is down (appends and loads fail),
/// appends held back or delayed (a slow fsync), and snapshots that fail.
pub struct UnreliableStore<S> {
    inner: S,
    faults: std::sync::Mutex<Faults>,
    /// Appends take a read lock; a test holding the write lock stalls every commit.
    gate: std::sync::Arc<tokio::sync::RwLock<()>>,
    /// Calls to `append` (each one store transaction), for tests of group commit.
    appends: std::sync::atomic::AtomicUsize,
}

#[derive(Default, Clone, Copy)]
struct Faults {
    full: bool,
    down: bool,
    snapshots: bool,
    append_delay: Option<std::time::Duration>,
}

impl<S: OpLog> UnreliableStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            faults: Default::default(),
            gate: Default::default(),
            appends: Default::default(),
        }
    }
    /// How many times `append` was called: the store transactions asked for.
    pub fn append_calls(&self) -> usize {
        self.appends.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// The wrapped store, without faults.
    pub fn inner(&self) -> &S {
        &self.inner
    }
    fn faults(&self) -> Faults {
        *self.faults.lock().expect("faults poisoned")
    }
    fn set(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.faults.lock().expect("faults poisoned"));
    }
    /// While set, every append fails with `StoreError::Full` and writes nothing.
    pub fn fail_appends(&self, fail: bool) {
        self.set(|f| f.full = fail);
    }
    /// While set, appends and loads fail with `StoreError::Unavailable`.
    pub fn database_down(&self, down: bool) {
        self.set(|f| f.down = down);
    }
    /// While set, every snapshot write fails.
    pub fn fail_snapshots(&self, fail: bool) {
        self.set(|f| f.snapshots = fail);
    }
    /// Every append takes at least this long (a slow fsync).
    pub fn delay_appends(&self, delay: Option<std::time::Duration>) {
        self.set(|f| f.append_delay = delay);
    }
    /// Stalls appends until the returned guard is dropped.
    pub async fn hold_appends(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().write_owned().await
    }
    fn check_up(&self) -> Result<(), StoreError> {
        match self.faults().down {
            true => Err(StoreError::Unavailable("injected: database down".into())),
            false => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl<S: OpLog> OpLog for UnreliableStore<S> {
    async fn append(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
        self.appends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _open = self.gate.read().await;
        let faults = self.faults();
        if let Some(d) = faults.append_delay {
            tokio::time::sleep(d).await;
        }
        self.check_up()?;
        if faults.full {
            return Err(StoreError::Full("injected: no space left on device".into()));
        }
        self.inner.append(batch).await
    }
    async fn ensure_doc(&self, doc: &str) -> Result<bool, StoreError> {
        self.check_up()?;
        self.inner.ensure_doc(doc).await
    }
    async fn load_at(&self, doc: &str, upto: u64) -> Result<LoadedDoc, StoreError> {
        self.check_up()?;
        self.inner.load_at(doc, upto).await
    }
    async fn heads(&self, docs: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        self.check_up()?;
        self.inner.heads(docs).await
    }
    async fn updates_since(&self, doc: &str, after: u64) -> Result<Vec<(u64, Bytes)>, StoreError> {
        self.inner.updates_since(doc, after).await
    }
    async fn put_snapshot(&self, doc: &str, rev: u64, state: Bytes) -> Result<(), StoreError> {
        self.check_up()?;
        if self.faults().snapshots {
            return Err(StoreError::Full("injected: snapshot write failed".into()));
        }
        self.inner.put_snapshot(doc, rev, state).await
    }
    async fn compact(&self, doc: &str, cutoff_ms: i64) -> Result<u64, StoreError> {
        self.inner.compact(doc, cutoff_ms).await
    }
    async fn prune_snapshots(&self, doc: &str, keep: usize) -> Result<u64, StoreError> {
        self.inner.prune_snapshots(doc, keep).await
    }
}
