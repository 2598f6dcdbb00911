//! [`Search`] on SQLite: FTS5 over an external-content table in `<name>-search.db`, a file of its
//! own beside the main database, which each connection attaches (as `tandem`) to read titles,
//! roles and comments. A separate file has its own write lock, so a long index write never makes
//! a group commit wait; and the index, being derived, may be deleted at any time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection};
use tandem_core::store::StoreError;

use crate::search::*;
use crate::sqlite::{map_err, on_blocking_thread};
use crate::sqlite_accounts::grants_sql;

const SCHEMA: &str = include_str!("../migrations/sqlite-search/search.sql");
/// Bumped when `SCHEMA` changes: an index of another version is dropped and rebuilt.
const SCHEMA_VERSION: i64 = 1;

pub struct SqliteSearch {
    /// Index writes (large entries take a while to tokenize) never hold up queries.
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    path: PathBuf,
}

/// `data/tandem.db` → `data/tandem-search.db`.
pub(crate) fn index_path(main: &Path) -> PathBuf {
    let stem = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tandem".into());
    main.with_file_name(format!("{stem}-search.db"))
}

fn open(path: &Path, main: &Path) -> Result<Connection, StoreError> {
    let c = Connection::open(path).map_err(map_err)?;
    c.pragma_update(None, "journal_mode", "WAL")
        .map_err(map_err)?;
    // Derived data: a write lost to a power cut leaves an older revision, which `behind` finds.
    c.pragma_update(None, "synchronous", "NORMAL")
        .map_err(map_err)?;
    c.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(map_err)?;
    c.execute("ATTACH DATABASE ?1 AS tandem", [main.to_string_lossy()])
        .map_err(map_err)?;
    Ok(c)
}

fn migrate(c: &Connection) -> Result<(), StoreError> {
    let version: i64 = c
        .pragma_query_value(Some("main"), "user_version", |r| r.get(0))
        .map_err(map_err)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    c.execute_batch(&format!(
        "BEGIN;
         DROP TABLE IF EXISTS main.search_fts;
         DROP TABLE IF EXISTS main.search_docs;
         {SCHEMA}
         PRAGMA main.user_version = {SCHEMA_VERSION};
         COMMIT;"
    ))
    .map_err(map_err)
}

impl SqliteSearch {
    pub(crate) fn open(main: &Path) -> Result<Self, StoreError> {
        let path = index_path(main);
        let writer = open(&path, main)?;
        migrate(&writer)?;
        let reader = open(&path, main)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            path,
        })
    }

    /// The index's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait::async_trait]
impl Search for SqliteSearch {
    async fn put(&self, e: IndexEntry) -> Result<(), StoreError> {
        on_blocking_thread(&self.writer, move |c| {
            c.prepare_cached(
                "INSERT INTO main.search_docs (doc, rev, title, body, comments, read_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (doc) DO UPDATE SET rev = excluded.rev, title = excluded.title,
                   body = excluded.body, comments = excluded.comments, read_at = excluded.read_at
                 WHERE excluded.rev >= search_docs.rev",
            )?
            .execute(params![
                e.doc, e.rev, e.title, e.body, e.comments, e.read_at
            ])
            .map(drop)
        })
        .await
    }

    async fn remove(&self, doc: &str) -> Result<(), StoreError> {
        let doc = doc.to_owned();
        on_blocking_thread(&self.writer, move |c| {
            c.execute("DELETE FROM main.search_docs WHERE doc = ?1", [doc])
                .map(drop)
        })
        .await
    }

    async fn behind(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        on_blocking_thread(&self.reader, move |c| {
            let mut st = c.prepare_cached(
                "SELECT d.id FROM tandem.documents d LEFT JOIN main.search_docs s ON s.doc = d.id
                 WHERE s.doc IS NULL OR s.rev < d.head_rev OR s.title <> d.title
                    OR EXISTS (SELECT 1 FROM tandem.comments c
                               WHERE c.doc = d.id AND c.created_at >= s.read_at)
                 LIMIT ?1",
            )?;
            let rows = st.query_map([limit.min(i64::MAX as usize) as i64], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    async fn search(&self, q: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
        if q.terms.is_empty() || q.limit == 0 {
            return Ok(Vec::new());
        }
        let user = match q.reader {
            Reader::Anyone => None,
            Reader::User(id) => Some(id),
        };
        let (matching, now) = (q.terms.fts5(), q.now);
        let (limit, offset) = (q.limit as i64, q.offset as i64);
        on_blocking_thread(&self.reader, move |c| {
            // Weights: a word in the title counts ten times one in the text, comments half.
            let mut st = c.prepare_cached(&format!(
                "SELECT d.id, d.title,
                        snippet(search_fts, -1, char(57344), char(57345), '…', 16),
                        d.updated_at
                 FROM main.search_fts f
                 JOIN main.search_docs s ON s.id = f.rowid
                 JOIN tandem.documents d ON d.id = s.doc
                 WHERE search_fts MATCH ?3
                   AND (?1 IS NULL OR s.doc IN (SELECT doc FROM ({})))
                 ORDER BY bm25(search_fts, 10.0, 1.0, 0.5), d.id
                 LIMIT ?4 OFFSET ?5",
                grants_sql()
            ))?;
            let rows = st.query_map(params![user, now, matching, limit, offset], |r| {
                Ok(Hit {
                    doc: r.get(0)?,
                    title: r.get(1)?,
                    snippet: snippet_html(&r.get::<_, String>(2)?),
                    updated_at: r.get(3)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn size(&self) -> Result<u64, StoreError> {
        on_blocking_thread(&self.reader, |c| {
            let pages: i64 = c.pragma_query_value(Some("main"), "page_count", |r| r.get(0))?;
            let size: i64 = c.pragma_query_value(Some("main"), "page_size", |r| r.get(0))?;
            Ok((pages * size) as u64)
        })
        .await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        on_blocking_thread(&self.writer, |c| {
            c.execute_batch(
                "DELETE FROM main.search_docs;
                 INSERT INTO main.search_fts (search_fts) VALUES ('rebuild');",
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    type Opened = (
        super::SqliteSearch,
        crate::SqliteStore,
        crate::SqliteAccounts,
        tempfile::TempDir,
    );

    fn open() -> Opened {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(&crate::SqliteConfig {
            path: dir.path().join("t.db"),
        })
        .unwrap();
        let (search, accounts) = (store.search().unwrap(), store.accounts().unwrap());
        (search, store, accounts, dir)
    }
    crate::search_suite!(open());

    #[test]
    fn the_index_sits_beside_the_database() {
        assert_eq!(
            super::index_path(std::path::Path::new("/d/tandem.db")),
            std::path::Path::new("/d/tandem-search.db")
        );
    }
}
