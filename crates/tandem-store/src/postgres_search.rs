//! [`Search`] on PostgreSQL (migration 0009): a generated `tsvector` with a GIN index, ranked by
//! `ts_rank_cd`, snippets from `ts_headline` computed only for the page returned. The same
//! behaviour as `sqlite_search.rs`, in PostgreSQL's dialect, so every node of a cluster searches
//! the same index.

use deadpool_postgres::Pool;
use tandem_core::store::StoreError;

use crate::postgres::err;
use crate::postgres_accounts::grants_sql;
use crate::search::*;

/// Matches ranked for one query: ranking reads each match's whole vector (about 10 µs for 2 kB
/// of text), so a word in every document would cost 60 ms at 10,000 readable documents. When
/// more match, the best of the first this many (in the index's order) are returned: every
/// result still matches, the order among very broad matches is approximate.
const RANKED: usize = 2_000;

/// PostgreSQL refuses a `tsvector` over 1 MB; text past this many bytes is left out of the
/// index (a document's first half-megabyte of text is searchable).
const MAX_INDEXED_BYTES: usize = 512 << 10;

pub struct PostgresSearch {
    pool: Pool,
}

impl PostgresSearch {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(err)
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[async_trait::async_trait]
impl Search for PostgresSearch {
    async fn put(&self, e: IndexEntry) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO search_docs (doc, rev, title, body, comments, read_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (doc) DO UPDATE SET rev = excluded.rev, title = excluded.title,
               body = excluded.body, comments = excluded.comments, read_at = excluded.read_at
             WHERE excluded.rev >= search_docs.rev",
            &[
                &e.doc,
                &(e.rev as i64),
                &cut(&e.title, MAX_INDEXED_BYTES / 4),
                &cut(&e.body, MAX_INDEXED_BYTES),
                &cut(&e.comments, MAX_INDEXED_BYTES / 4),
                &e.read_at,
            ],
        )
        .await
        .map(drop)
        .map_err(err)
    }

    async fn remove(&self, doc: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute("DELETE FROM search_docs WHERE doc = $1", &[&doc])
            .await
            .map(drop)
            .map_err(err)
    }

    async fn behind(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT d.id FROM documents d LEFT JOIN search_docs s ON s.doc = d.id
                 WHERE s.doc IS NULL OR s.rev < d.head_rev OR s.title <> d.title
                    OR EXISTS (SELECT 1 FROM comments c
                               WHERE c.doc = d.id AND c.created_at >= s.read_at)
                 LIMIT $1",
                &[&(limit.min(i64::MAX as usize) as i64)],
            )
            .await
            .map_err(err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn search(&self, q: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
        if q.terms.is_empty() || q.limit == 0 {
            return Ok(Vec::new());
        }
        let user = match q.reader {
            Reader::Anyone => None,
            Reader::User(id) => Some(id),
        };
        let headline = format!(
            "StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=8, ShortWord=2, \
             MaxFragments=1"
        );
        let mut c = self.client().await?;
        // First the matches, through the GIN index alone (`hits`); then the reader's and the
        // living documents among them, at most RANKED ranked (see there); a headline only for
        // the page returned (ts_headline reads the whole text).
        let sql = format!(
            "WITH hits AS MATERIALIZED (
                 SELECT s.doc FROM search_docs s WHERE s.tsv @@ to_tsquery('simple', $3))
             SELECT d.id, d.title, d.updated_at,
                    ts_headline('simple', s.title || E'\\n' || s.body || E'\\n' || s.comments,
                                r.q, $6)
             FROM (SELECT m.doc, ts_rank_cd(s.tsv, q) AS rank, q
                   FROM (SELECT h.doc FROM hits h
                         JOIN documents d ON d.id = h.doc
                         WHERE $1::bigint IS NULL OR h.doc IN (SELECT doc FROM ({}) g)
                         LIMIT {RANKED}) m
                   JOIN search_docs s ON s.doc = m.doc
                   CROSS JOIN to_tsquery('simple', $3) AS q
                   ORDER BY rank DESC, m.doc
                   LIMIT $4 OFFSET $5) r
             JOIN search_docs s ON s.doc = r.doc
             JOIN documents d ON d.id = r.doc
             ORDER BY r.rank DESC, r.doc",
            grants_sql()
        );
        let tx = c.transaction().await.map_err(err)?;
        // The planner prices a scan of the (TOASTed) vectors far below what it costs, and picks
        // it (or a walk of the primary key) over the GIN index: 30 ms for a word found nowhere
        // in 10,000 documents, against 0.7 ms through the index (BENCHMARKS.md, search).
        tx.batch_execute("SET LOCAL enable_seqscan = off")
            .await
            .map_err(err)?;
        let rows = tx
            .query(
                &sql,
                &[
                    &user,
                    &q.now,
                    &q.terms.tsquery(),
                    &(q.limit as i64),
                    &(q.offset as i64),
                    &headline,
                ],
            )
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| Hit {
                doc: r.get(0),
                title: r.get(1),
                updated_at: r.get(2),
                snippet: snippet_html(r.get(3)),
            })
            .collect())
    }

    async fn size(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one("SELECT pg_total_relation_size('search_docs')", &[])
            .await
            .map_err(err)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.batch_execute("TRUNCATE search_docs").await.map_err(err)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(super::cut("héllo", 2), "h");
        assert_eq!(super::cut("héllo", 3), "hé");
        assert_eq!(super::cut("abc", 10), "abc");
    }
}
