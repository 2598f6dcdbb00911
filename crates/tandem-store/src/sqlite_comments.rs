//! [`Comments`] on SQLite: comment threads, beside the op log in the same database.

use rusqlite::params;
use tandem_core::store::{Comment, Comments, StoreError};

use crate::sqlite::*;

#[async_trait::async_trait]
impl Comments for SqliteStore {
    async fn add_comment(&self, cm: &Comment) -> Result<bool, StoreError> {
        let cm = cm.clone();
        Self::with(&self.writer, move |c| {
            if cm.thread != cm.id {
                let ok: bool = c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM comments WHERE id = ?1 AND doc = ?2 AND thread = id)",
                    params![cm.thread, cm.doc],
                    |r| r.get(0),
                )?;
                if !ok {
                    return Ok(false);
                }
            }
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO comments (id, doc, thread, author, body, anchor, quote, created_at, resolved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![cm.id, cm.doc, cm.thread, cm.author, cm.body, cm.anchor, cm.quote, cm.created_at, cm.resolved_at],
            )?;
            let event = crate::webhooks::Event::Comment;
            tx.execute(
                crate::webhooks::enqueue::SQLITE_EVENT,
                params![cm.doc, event.as_str(), crate::webhooks::enqueue::comment(&cm), cm.created_at, event.bit()],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn comment_usage(&self, doc: &str) -> Result<(u64, u64), StoreError> {
        let doc = doc.to_owned();
        Self::with(&self.reader, move |c| {
            c.prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(body AS BLOB)) + LENGTH(CAST(anchor AS BLOB))
                        + LENGTH(CAST(quote AS BLOB))), 0)
                 FROM comments WHERE doc = ?1",
            )?
            .query_row([doc], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))
        })
        .await
    }

    async fn comments(&self, doc: &str) -> Result<Vec<Comment>, StoreError> {
        let doc = doc.to_owned();
        Self::with(&self.reader, move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, doc, thread, author, body, anchor, quote, created_at, resolved_at
                 FROM comments WHERE doc = ?1 ORDER BY created_at, id",
            )?;
            let rows = st.query_map([doc], |r| {
                Ok(Comment {
                    id: r.get(0)?,
                    doc: r.get(1)?,
                    thread: r.get(2)?,
                    author: r.get(3)?,
                    body: r.get(4)?,
                    anchor: r.get(5)?,
                    quote: r.get(6)?,
                    created_at: r.get(7)?,
                    resolved_at: r.get(8)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn set_resolved(
        &self,
        doc: &str,
        thread: &str,
        at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let (doc, thread) = (doc.to_owned(), thread.to_owned());
        Self::with(&self.writer, move |c| {
            c.execute(
                "UPDATE comments SET resolved_at = ?3 WHERE doc = ?1 AND id = ?2 AND thread = id",
                params![doc, thread, at],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn edit_comment(&self, doc: &str, id: &str, body: &str) -> Result<bool, StoreError> {
        let (doc, id, body) = (doc.to_owned(), id.to_owned(), body.to_owned());
        Self::with(&self.writer, move |c| {
            c.execute(
                "UPDATE comments SET body = ?3 WHERE doc = ?1 AND id = ?2",
                params![doc, id, body],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn delete_comment(&self, doc: &str, id: &str) -> Result<bool, StoreError> {
        let (doc, id) = (doc.to_owned(), id.to_owned());
        Self::with(&self.writer, move |c| {
            c.execute(
                "DELETE FROM comments WHERE doc = ?1 AND (id = ?2 OR thread = ?2)",
                params![doc, id],
            )
            .map(|n| n > 0)
        })
        .await
    }
}
