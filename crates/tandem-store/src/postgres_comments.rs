//! [`Comments`] on PostgreSQL: comment threads, beside the op log in the same database.

use tandem_core::store::{Comment, Comments, StoreError};

use crate::postgres::*;

#[async_trait::async_trait]
impl Comments for PostgresStore {
    async fn add_comment(&self, cm: &Comment) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        // A reply lands only if its thread exists on the same document (one statement, no race).
        let n = tx
            .execute(
                "INSERT INTO comments (id, doc, thread, author, body, anchor, quote, created_at, resolved_at)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
                 WHERE $1 = $3 OR EXISTS (SELECT 1 FROM comments WHERE id = $3 AND doc = $2 AND thread = id)",
                &[&cm.id, &cm.doc, &cm.thread, &cm.author, &cm.body, &cm.anchor, &cm.quote, &cm.created_at, &cm.resolved_at],
            )
            .await
            .map_err(err)?;
        if n > 0 {
            let event = crate::webhooks::Event::Comment;
            let payload = crate::webhooks::enqueue::comment(cm);
            tx.execute(
                crate::webhooks::enqueue::POSTGRES_EVENT,
                &[
                    &cm.doc,
                    &event.as_str(),
                    &payload,
                    &cm.created_at,
                    &event.bit(),
                ],
            )
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(n > 0)
    }

    async fn comment_usage(&self, doc: &str) -> Result<(u64, u64), StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT COUNT(*), COALESCE(SUM(octet_length(body) + octet_length(anchor)
                        + octet_length(quote)), 0)::BIGINT
                 FROM comments WHERE doc = $1",
                &[&doc],
            )
            .await
            .map_err(err)?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    async fn comments(&self, doc: &str) -> Result<Vec<Comment>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, doc, thread, author, body, anchor, quote, created_at, resolved_at
                 FROM comments WHERE doc = $1 ORDER BY created_at, id",
                &[&doc],
            )
            .await
            .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| Comment {
                id: r.get(0),
                doc: r.get(1),
                thread: r.get(2),
                author: r.get(3),
                body: r.get(4),
                anchor: r.get(5),
                quote: r.get(6),
                created_at: r.get(7),
                resolved_at: r.get(8),
            })
            .collect())
    }

    async fn set_resolved(
        &self,
        doc: &str,
        thread: &str,
        at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE comments SET resolved_at = $3 WHERE doc = $1 AND id = $2 AND thread = id",
                &[&doc, &thread, &at],
            )
            .await
            .map_err(err)?;
        Ok(n > 0)
    }

    async fn edit_comment(&self, doc: &str, id: &str, body: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE comments SET body = $3 WHERE doc = $1 AND id = $2",
                &[&doc, &id, &body],
            )
            .await
            .map_err(err)?;
        Ok(n > 0)
    }

    async fn delete_comment(&self, doc: &str, id: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "DELETE FROM comments WHERE doc = $1 AND (id = $2 OR thread = $2)",
                &[&doc, &id],
            )
            .await
            .map_err(err)?;
        Ok(n > 0)
    }
}
