//! [`MemoryStore`]: every store concern in memory, for unit tests and benchmarks. Not durable.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;

use super::*;

#[derive(Default)]
struct MemDoc {
    info: Option<DocInfo>,
    updates: BTreeMap<u64, Bytes>,
    meta: BTreeMap<u64, RevisionMeta>,
    names: BTreeMap<u64, String>,
    comments: Vec<Comment>,
    snapshots: BTreeMap<u64, Bytes>,
}

/// In-memory store for tests. Not durable, obviously.
#[derive(Default)]
pub struct MemoryStore {
    /// One lock for everything: a batch must be atomic across documents.
    docs: Mutex<HashMap<String, MemDoc>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the document unless it exists; returns its metadata and whether this call made
    /// it. Under one lock, so two callers never both make it.
    fn create(&self, doc: &str, title: &str) -> (DocInfo, bool) {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let now = now_millis();
        let d = docs.entry(doc.to_owned()).or_default();
        let made = d.info.is_none(); // an entry may be there without a document
        let info = d.info.get_or_insert_with(|| DocInfo {
            id: doc.into(),
            title: title.into(),
            head_rev: 0,
            created_at: now,
            updated_at: now,
        });
        (info.clone(), made)
    }
}

/// The appends themselves, which never wait. The memory store still commits through `append`
/// (its [`OpLog::blocking`] is `None`), so the commit writer stays on the runtime, where tests
/// pause time; a test store that blocks uses this.
impl BlockingAppend for MemoryStore {
    fn append_blocking(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let now = now_millis();
        Ok(batch
            .iter()
            .map(|a| {
                let Some(d) = docs.get_mut(&a.doc).filter(|d| d.info.is_some()) else {
                    return AppendStatus::Missing;
                };
                let head = d.info.as_ref().map_or(0, |i| i.head_rev);
                if a.rev != head + 1 {
                    return AppendStatus::Conflict;
                }
                d.updates.insert(a.rev, a.data.clone());
                d.meta.insert(
                    a.rev,
                    RevisionMeta {
                        rev: a.rev,
                        created_at: now,
                        author: a.author.as_deref().map(str::to_owned),
                    },
                );
                let info = d.info.as_mut().expect("checked above");
                info.head_rev = a.rev;
                info.updated_at = now;
                AppendStatus::Ok
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl OpLog for MemoryStore {
    async fn ensure_doc(&self, doc: &str) -> Result<bool, StoreError> {
        Ok(self.create(doc, "").1)
    }
    async fn append(&self, batch: &[Append]) -> Result<Vec<AppendStatus>, StoreError> {
        self.append_blocking(batch)
    }
    async fn compact(&self, doc: &str, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get_mut(doc) else {
            return Ok(0);
        };
        let Some(s) = d
            .snapshots
            .keys()
            .rev()
            .find(|r| d.meta.get(r).is_some_and(|m| m.created_at < cutoff_ms))
            .copied()
        else {
            return Ok(0);
        };
        let before = d.updates.len();
        d.updates.retain(|r, _| *r > s);
        d.meta.retain(|r, _| *r > s);
        let names = d.names.clone();
        d.snapshots.retain(|r, _| *r >= s || names.contains_key(r));
        Ok((before - d.updates.len()) as u64)
    }
    async fn prune_snapshots(&self, doc: &str, keep: usize) -> Result<u64, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get_mut(doc) else {
            return Ok(0);
        };
        let (Some(&cut), Some(&first_log)) = (
            d.snapshots.keys().rev().nth(keep.max(1) - 1),
            d.updates.keys().next(),
        ) else {
            return Ok(0);
        };
        let before = d.snapshots.len();
        let names = d.names.clone();
        d.snapshots
            .retain(|r, _| *r >= cut || *r < first_log || names.contains_key(r));
        Ok((before - d.snapshots.len()) as u64)
    }
    async fn load_at(&self, doc: &str, upto: u64) -> Result<LoadedDoc, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get(doc) else {
            return Ok(LoadedDoc::default());
        };
        let snapshot = d
            .snapshots
            .range(..=upto)
            .next_back()
            .map(|(r, s)| (*r, s.clone()));
        let after = snapshot.as_ref().map_or(0, |s| s.0);
        let updates = d
            .updates
            .range(after + 1..=upto.max(after + 1))
            .filter(|(r, _)| **r <= upto)
            .map(|(r, u)| (*r, u.clone()))
            .collect();
        Ok(LoadedDoc { snapshot, updates })
    }
    async fn heads(&self, docs: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let all = self.docs.lock().expect("memory store poisoned");
        Ok(docs
            .iter()
            .filter_map(|d| Some((d.clone(), all.get(d)?.info.as_ref()?.head_rev)))
            .collect())
    }
    async fn updates_since(&self, doc: &str, after: u64) -> Result<Vec<(u64, Bytes)>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        Ok(docs
            .get(doc)
            .map(|d| {
                d.updates
                    .range(after + 1..)
                    .map(|(r, u)| (*r, u.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }
    async fn put_snapshot(&self, doc: &str, rev: u64, state: Bytes) -> Result<(), StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let d = docs.entry(doc.to_owned()).or_default();
        let head = d.info.as_ref().map_or(0, |i| i.head_rev);
        if rev > head {
            return Err(StoreError::Corrupt(format!(
                "snapshot at {rev} is ahead of the log at {head}"
            )));
        }
        d.snapshots.insert(rev, state);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Versions for MemoryStore {
    async fn changes(
        &self,
        doc: &str,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Change>, Option<u64>), StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get(doc) else {
            return Ok((Vec::new(), None));
        };
        let changes = d
            .updates
            .range(after.saturating_add(1)..)
            .take(limit)
            .filter_map(|(rev, data)| {
                let meta = d.meta.get(rev)?.clone();
                Some(Change {
                    meta,
                    data: data.clone(),
                })
            })
            .collect();
        Ok((changes, d.updates.keys().next().copied()))
    }
    async fn revisions(
        &self,
        doc: &str,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<RevisionMeta>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        Ok(docs
            .get(doc)
            .map(|d| {
                d.meta
                    .range(..=upto)
                    .rev()
                    .take(limit)
                    .map(|(_, m)| m.clone())
                    .collect()
            })
            .unwrap_or_default())
    }
    async fn name_version(
        &self,
        doc: &str,
        rev: u64,
        name: Option<&str>,
        _by: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get_mut(doc).filter(|d| d.updates.contains_key(&rev)) else {
            return Ok(false);
        };
        match name {
            Some(n) => d.names.insert(rev, n.to_owned()),
            None => d.names.remove(&rev),
        };
        Ok(true)
    }
    async fn version_names(&self, doc: &str) -> Result<Vec<(u64, String)>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        Ok(docs
            .get(doc)
            .map(|d| d.names.iter().rev().map(|(r, n)| (*r, n.clone())).collect())
            .unwrap_or_default())
    }
}

#[async_trait::async_trait]
impl Catalogue for MemoryStore {
    async fn doc_info(&self, doc: &str) -> Result<Option<DocInfo>, StoreError> {
        Ok(self
            .docs
            .lock()
            .expect("memory store poisoned")
            .get(doc)
            .and_then(|d| d.info.clone()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn usage(&self) -> Result<StorageUsage, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        let mut u = StorageUsage::default();
        for d in docs.values() {
            u.log_rows += d.updates.len() as u64;
            u.log_bytes += d.updates.values().map(|b| b.len() as u64).sum::<u64>();
            u.snapshot_rows += d.snapshots.len() as u64;
            u.snapshot_bytes += d.snapshots.values().map(|b| b.len() as u64).sum::<u64>();
        }
        Ok(u)
    }

    async fn create_doc(&self, doc: &str, title: &str) -> Result<DocInfo, StoreError> {
        Ok(self.create(doc, title).0)
    }

    async fn list_docs(&self, limit: usize) -> Result<Vec<DocInfo>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        let mut all: Vec<DocInfo> = docs.values().filter_map(|d| d.info.clone()).collect();
        all.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        all.truncate(limit);
        Ok(all)
    }

    async fn set_title(&self, doc: &str, title: &str) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let Some(info) = docs.get_mut(doc).and_then(|d| d.info.as_mut()) else {
            return Ok(false);
        };
        info.title = title.into();
        info.updated_at = now_millis();
        Ok(true)
    }

    async fn delete_doc(&self, doc: &str) -> Result<bool, StoreError> {
        Ok(self
            .docs
            .lock()
            .expect("memory store poisoned")
            .remove(doc)
            .is_some_and(|d| d.info.is_some()))
    }
}

#[async_trait::async_trait]
impl Comments for MemoryStore {
    async fn add_comment(&self, c: &Comment) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let d = docs.entry(c.doc.clone()).or_default();
        if c.thread != c.id
            && !d
                .comments
                .iter()
                .any(|x| x.id == c.thread && x.thread == x.id)
        {
            return Ok(false);
        }
        d.comments.push(c.clone());
        Ok(true)
    }

    async fn comments(&self, doc: &str) -> Result<Vec<Comment>, StoreError> {
        let docs = self.docs.lock().expect("memory store poisoned");
        Ok(docs
            .get(doc)
            .map(|d| d.comments.clone())
            .unwrap_or_default())
    }

    async fn set_resolved(
        &self,
        doc: &str,
        thread: &str,
        at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let found = docs.get_mut(doc).and_then(|d| {
            d.comments
                .iter_mut()
                .find(|c| c.id == thread && c.thread == thread)
        });
        Ok(found.map(|c| c.resolved_at = at).is_some())
    }

    async fn edit_comment(&self, doc: &str, id: &str, body: &str) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let found = docs
            .get_mut(doc)
            .and_then(|d| d.comments.iter_mut().find(|c| c.id == id));
        Ok(found.map(|c| c.body = body.to_owned()).is_some())
    }

    async fn delete_comment(&self, doc: &str, id: &str) -> Result<bool, StoreError> {
        let mut docs = self.docs.lock().expect("memory store poisoned");
        let Some(d) = docs.get_mut(doc) else {
            return Ok(false);
        };
        let before = d.comments.len();
        d.comments.retain(|c| c.id != id && c.thread != id);
        Ok(d.comments.len() < before)
    }
}
