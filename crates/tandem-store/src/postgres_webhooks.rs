//! [`Webhooks`] on PostgreSQL (migration 0013): the statements of `sqlite_webhooks.rs` in
//! PostgreSQL's dialect. Any node may send: claims skip rows another node holds locked, and a
//! claim re-checks its lease on the locked row, so one row is never sent by two nodes at once.

use tandem_core::store::StoreError;
use tokio_postgres::{Row, Transaction};

use crate::postgres::err;
use crate::postgres_accounts::PostgresAccounts;
use crate::webhooks::*;

const HOOK_COLUMNS: &str =
    "id, doc, owner_id, url, secret, events, enabled, failing_since, disabled_reason, created_at";

fn hook(r: &Row) -> Webhook {
    Webhook {
        id: r.get(0),
        doc: r.get(1),
        owner_id: r.get(2),
        url: r.get(3),
        secret: r.get(4),
        events: Event::from_bits(r.get(5)),
        enabled: r.get(6),
        failing_since: r.get(7),
        disabled_reason: r.get(8),
        created_at: r.get(9),
    }
}

/// Records one attempt inside `tx`; the webhook's id if it is to be disabled.
async fn finish_one(
    tx: &Transaction<'_>,
    a: &Attempt,
    give_up_ms: i64,
) -> Result<Option<String>, StoreError> {
    let (from, to) = (a.rev_from as i64, a.rev_to as i64);
    let status = a.status.map(i64::from);
    tx.execute(
        "INSERT INTO webhook_deliveries (hook, delivery, event, doc, rev_from, rev_to, ok, status, latency_ms, error, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[&a.hook, &a.delivery, &a.event, &a.doc, &from, &to, &a.ok, &status, &(a.latency_ms as i64), &a.error, &a.at],
    )
    .await
    .map_err(err)?;
    tx.execute(
        "DELETE FROM webhook_deliveries WHERE hook = $1 AND id <=
           (SELECT id FROM webhook_deliveries WHERE hook = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        &[&a.hook, &LOG_KEEP],
    )
    .await
    .map_err(err)?;
    let Some(row) = a.outbox_id else {
        return Ok(None);
    };
    if a.ok {
        let gone = tx
            .execute(
                "DELETE FROM webhook_outbox WHERE id = $1 AND (event != 'changed' OR rev_to <= $2)",
                &[&row, &to],
            )
            .await
            .map_err(err)?;
        if gone == 0 {
            tx.execute(
                "UPDATE webhook_outbox SET id = nextval(pg_get_serial_sequence('webhook_outbox', 'id')),
                        rev_from = $2::BIGINT + 1, attempts = 0, due_at = $3, claimed_until = NULL
                  WHERE id = $1",
                &[&row, &to, &a.at],
            )
            .await
            .map_err(err)?;
        }
        tx.execute(
            "UPDATE webhooks SET failing_since = NULL WHERE id = $1",
            &[&a.hook],
        )
        .await
        .map_err(err)?;
        return Ok(None);
    }
    tx.execute(
        "UPDATE webhook_outbox SET attempts = attempts + 1, due_at = $2, claimed_until = NULL WHERE id = $1",
        &[&row, &a.retry_at],
    )
    .await
    .map_err(err)?;
    let since: Option<i64> = tx
        .query_opt(
            "UPDATE webhooks SET failing_since = COALESCE(failing_since, $2) WHERE id = $1 AND enabled
             RETURNING failing_since",
            &[&a.hook, &a.at],
        )
        .await
        .map_err(err)?
        .and_then(|r| r.get(0));
    Ok(since
        .filter(|since| a.at - since >= give_up_ms)
        .map(|_| a.hook.clone()))
}

#[async_trait::async_trait]
impl Webhooks for PostgresAccounts {
    async fn create_webhook(&self, w: &NewWebhook) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO webhooks (id, doc, owner_id, url, secret, events, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &w.id,
                &w.doc,
                &w.owner_id,
                &w.url,
                &w.secret,
                &Event::bits(&w.events),
                &w.at,
            ],
        )
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn webhooks(&self, doc: Option<&str>) -> Result<Vec<Webhook>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!("SELECT {HOOK_COLUMNS} FROM webhooks WHERE doc IS NOT DISTINCT FROM $1 ORDER BY created_at, id"),
                &[&doc],
            )
            .await
            .map_err(err)?;
        Ok(rows.iter().map(hook).collect())
    }

    async fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(err)?;
        Ok(row.as_ref().map(hook))
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        for table in ["webhook_outbox", "webhook_deliveries"] {
            tx.execute(&format!("DELETE FROM {table} WHERE hook = $1"), &[&id])
                .await
                .map_err(err)?;
        }
        let n = tx
            .execute("DELETE FROM webhooks WHERE id = $1", &[&id])
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(n > 0)
    }

    async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        if !enabled {
            tx.execute("DELETE FROM webhook_outbox WHERE hook = $1", &[&id])
                .await
                .map_err(err)?;
        }
        let n = tx
            .execute(
                "UPDATE webhooks SET enabled = $2, failing_since = NULL,
                        disabled_reason = CASE WHEN $2 THEN '' ELSE 'turned off by hand' END
                  WHERE id = $1",
                &[&id, &enabled],
            )
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(n > 0)
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "WITH claimed AS (
                       UPDATE webhook_outbox SET claimed_until = $1::BIGINT + $2::BIGINT
                        WHERE id IN (
                          SELECT o.id FROM webhook_outbox o
                           WHERE o.due_at <= $1 AND (o.claimed_until IS NULL OR o.claimed_until < $1)
                             AND NOT EXISTS (SELECT 1 FROM webhook_outbox p
                                              WHERE p.hook = o.hook AND p.doc = o.doc AND p.id < o.id)
                           ORDER BY o.id LIMIT $3 FOR UPDATE SKIP LOCKED)
                          AND (claimed_until IS NULL OR claimed_until < $1)
                       RETURNING id, hook, doc, event, payload, rev_from, rev_to, attempts)
                     SELECT c.id, c.doc, c.event, c.payload, c.rev_from, c.rev_to, c.attempts,
                            {}
                       FROM claimed c JOIN webhooks w ON w.id = c.hook ORDER BY c.id",
                    HOOK_COLUMNS
                        .split(", ")
                        .map(|col| format!("w.{col}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &[&now, &lease_ms, &(limit as i64)],
            )
            .await
            .map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let event: &str = r.get(2);
            out.push(Due {
                id: r.get(0),
                doc: r.get(1),
                event: event.parse().map_err(StoreError::Corrupt)?,
                payload: r.get(3),
                rev_from: r.get::<_, i64>(4) as u64,
                rev_to: r.get::<_, i64>(5) as u64,
                attempts: r.get::<_, i64>(6) as u32,
                hook: Webhook {
                    id: r.get(7),
                    doc: r.get(8),
                    owner_id: r.get(9),
                    url: r.get(10),
                    secret: r.get(11),
                    events: Event::from_bits(r.get(12)),
                    enabled: r.get(13),
                    failing_since: r.get(14),
                    disabled_reason: r.get(15),
                    created_at: r.get(16),
                },
            });
        }
        Ok(out)
    }

    async fn finish_deliveries(
        &self,
        done: &[Attempt],
        give_up_ms: i64,
    ) -> Result<Vec<Webhook>, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        let mut off: Vec<String> = Vec::new();
        for a in done {
            if let Some(h) = finish_one(&tx, a, give_up_ms).await? {
                if !off.contains(&h) {
                    off.push(h);
                }
            }
        }
        let mut disabled = Vec::new();
        for h in off {
            tx.execute("DELETE FROM webhook_outbox WHERE hook = $1", &[&h])
                .await
                .map_err(err)?;
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE webhooks SET enabled = FALSE,
                                disabled_reason = 'deliveries failed for a day'
                          WHERE id = $1 RETURNING {HOOK_COLUMNS}"
                    ),
                    &[&h],
                )
                .await
                .map_err(err)?;
            disabled.push(hook(&row));
        }
        tx.commit().await.map_err(err)?;
        Ok(disabled)
    }

    async fn deliveries(&self, hook_id: &str, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT delivery, event, doc, rev_from, rev_to, ok, status, latency_ms, error, at
                   FROM webhook_deliveries WHERE hook = $1 ORDER BY id DESC LIMIT $2",
                &[&hook_id, &(limit as i64)],
            )
            .await
            .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| Delivery {
                delivery: r.get(0),
                event: r.get(1),
                doc: r.get(2),
                rev_from: r.get::<_, i64>(3) as u64,
                rev_to: r.get::<_, i64>(4) as u64,
                ok: r.get(5),
                status: r.get::<_, Option<i64>>(6).map(|s| s as u16),
                latency_ms: r.get::<_, i64>(7) as u64,
                error: r.get(8),
                at: r.get(9),
            })
            .collect())
    }

    async fn pending_deliveries(&self, hook_id: &str) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT COUNT(*) FROM webhook_outbox WHERE hook = $1",
                &[&hook_id],
            )
            .await
            .map_err(err)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Nothing: other nodes may hold claims; a dead node's expire with their lease.
    async fn release_claims(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
