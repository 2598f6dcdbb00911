//! [`Webhooks`] on the embedded SQLite file (migration 0011), through the accounts connection.
//! The outbox rows themselves are written by the op log, comment and sharing transactions.

use rusqlite::{params, params_from_iter, OptionalExtension, Transaction};
use tandem_core::store::StoreError;

use crate::sqlite_accounts::SqliteAccounts;
use crate::webhooks::*;

const HOOK_COLUMNS: &str =
    "id, doc, owner_id, url, secret, events, enabled, failing_since, disabled_reason, created_at";

fn hook_row(r: &rusqlite::Row) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        id: r.get(0)?,
        doc: r.get(1)?,
        owner_id: r.get(2)?,
        url: r.get(3)?,
        secret: r.get(4)?,
        events: Event::from_bits(r.get(5)?),
        enabled: r.get(6)?,
        failing_since: r.get(7)?,
        disabled_reason: r.get(8)?,
        created_at: r.get(9)?,
    })
}

fn event_of(s: String, col: usize) -> rusqlite::Result<Event> {
    s.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, e.into())
    })
}

/// Records one attempt inside `tx`; the webhook's id if it is to be disabled.
fn finish_one(tx: &Transaction, a: &Attempt, give_up_ms: i64) -> rusqlite::Result<Option<String>> {
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries (hook, delivery, event, doc, rev_from, rev_to, ok, status, latency_ms, error, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        a.hook, a.delivery, a.event, a.doc, a.rev_from, a.rev_to, a.ok, a.status, a.latency_ms,
        a.error, a.at
    ])?;
    tx.prepare_cached(
        "DELETE FROM webhook_deliveries WHERE hook = ?1 AND id <=
           (SELECT id FROM webhook_deliveries WHERE hook = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![a.hook, LOG_KEEP])?;
    let Some(row) = a.outbox_id else {
        return Ok(None);
    };
    if a.ok {
        // Drained, unless commits extended the range meanwhile: then the rest goes to the back
        // of the queue (a new id) so the document's other events are not starved.
        let gone = tx
            .prepare_cached(
                "DELETE FROM webhook_outbox WHERE id = ?1 AND (event != 'changed' OR rev_to <= ?2)",
            )?
            .execute(params![row, a.rev_to])?;
        if gone == 0 {
            tx.prepare_cached(
                "UPDATE webhook_outbox SET id = (SELECT MAX(id) + 1 FROM webhook_outbox),
                        rev_from = ?2 + 1, attempts = 0, due_at = ?3, claimed_until = NULL
                  WHERE id = ?1",
            )?
            .execute(params![row, a.rev_to, a.at])?;
        }
        tx.prepare_cached("UPDATE webhooks SET failing_since = NULL WHERE id = ?1")?
            .execute([&a.hook])?;
        return Ok(None);
    }
    tx.prepare_cached(
        "UPDATE webhook_outbox SET attempts = attempts + 1, due_at = ?2, claimed_until = NULL WHERE id = ?1",
    )?
    .execute(params![row, a.retry_at])?;
    let since: Option<i64> = tx
        .prepare_cached(
            "UPDATE webhooks SET failing_since = COALESCE(failing_since, ?2) WHERE id = ?1 AND enabled = 1
             RETURNING failing_since",
        )?
        .query_row(params![a.hook, a.at], |r| r.get(0))
        .optional()?;
    Ok(since
        .filter(|since| a.at - since >= give_up_ms)
        .map(|_| a.hook.clone()))
}

#[async_trait::async_trait]
impl Webhooks for SqliteAccounts {
    async fn create_webhook(&self, w: &NewWebhook) -> Result<(), StoreError> {
        let w = w.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO webhooks (id, doc, owner_id, url, secret, events, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    w.id,
                    w.doc,
                    w.owner_id,
                    w.url,
                    w.secret,
                    Event::bits(&w.events),
                    w.at
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn webhooks(&self, doc: Option<&str>) -> Result<Vec<Webhook>, StoreError> {
        let doc = doc.map(str::to_owned);
        self.with(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {HOOK_COLUMNS} FROM webhooks WHERE doc IS ?1 ORDER BY created_at, id"
            ))?;
            let rows = st.query_map([doc], hook_row)?;
            rows.collect()
        })
        .await
    }

    async fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        let id = id.to_owned();
        self.with(move |c| {
            c.prepare_cached(&format!(
                "SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = ?1"
            ))?
            .query_row([id], hook_row)
            .optional()
        })
        .await
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM webhook_outbox WHERE hook = ?1", [&id])?;
            tx.execute("DELETE FROM webhook_deliveries WHERE hook = ?1", [&id])?;
            let n = tx.execute("DELETE FROM webhooks WHERE id = ?1", [&id])?;
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            if !enabled {
                tx.execute("DELETE FROM webhook_outbox WHERE hook = ?1", [&id])?;
            }
            let n = tx.execute(
                "UPDATE webhooks SET enabled = ?2, failing_since = NULL,
                        disabled_reason = CASE WHEN ?2 THEN '' ELSE 'turned off by hand' END
                  WHERE id = ?1",
                params![id, enabled],
            )?;
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let rows = {
                let mut st = tx.prepare_cached(
                    "UPDATE webhook_outbox SET claimed_until = ?1 + ?2
                      WHERE id IN (
                        SELECT o.id FROM webhook_outbox o
                         WHERE o.due_at <= ?1 AND (o.claimed_until IS NULL OR o.claimed_until < ?1)
                           AND NOT EXISTS (SELECT 1 FROM webhook_outbox p
                                            WHERE p.hook = o.hook AND p.doc = o.doc AND p.id < o.id)
                         ORDER BY o.id LIMIT ?3)
                     RETURNING id, hook, doc, event, payload, rev_from, rev_to, attempts",
                )?;
                let rows = st.query_map(params![now, lease_ms, limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        event_of(r.get(3)?, 3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, u64>(5)?,
                        r.get::<_, u64>(6)?,
                        r.get::<_, u32>(7)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let mut hooks: Vec<Webhook> = Vec::new();
            if !rows.is_empty() {
                let mut ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                let marks = vec!["?"; ids.len()].join(", ");
                let mut st = tx.prepare(&format!(
                    "SELECT {HOOK_COLUMNS} FROM webhooks WHERE id IN ({marks})"
                ))?;
                hooks = st
                    .query_map(params_from_iter(ids), hook_row)?
                    .collect::<rusqlite::Result<_>>()?;
            }
            tx.commit()?;
            Ok(rows
                .into_iter()
                .filter_map(
                    |(id, hook, doc, event, payload, rev_from, rev_to, attempts)| {
                        Some(Due {
                            id,
                            hook: hooks.iter().find(|h| h.id == hook)?.clone(),
                            doc,
                            event,
                            payload,
                            rev_from,
                            rev_to,
                            attempts,
                        })
                    },
                )
                .collect())
        })
        .await
    }

    async fn finish_deliveries(
        &self,
        done: &[Attempt],
        give_up_ms: i64,
    ) -> Result<Vec<Webhook>, StoreError> {
        let done = done.to_vec();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut off = Vec::new();
            for a in &done {
                if let Some(hook) = finish_one(&tx, a, give_up_ms)? {
                    if !off.contains(&hook) {
                        off.push(hook);
                    }
                }
            }
            let mut disabled = Vec::new();
            for hook in off {
                tx.execute("DELETE FROM webhook_outbox WHERE hook = ?1", [&hook])?;
                let w = tx
                    .prepare_cached(&format!(
                        "UPDATE webhooks SET enabled = 0,
                                disabled_reason = 'deliveries failed for a day'
                          WHERE id = ?1 RETURNING {HOOK_COLUMNS}"
                    ))?
                    .query_row([&hook], hook_row)?;
                disabled.push(w);
            }
            tx.commit()?;
            Ok(disabled)
        })
        .await
    }

    async fn deliveries(&self, hook: &str, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let hook = hook.to_owned();
        self.with(move |c| {
            let mut st = c.prepare_cached(
                "SELECT delivery, event, doc, rev_from, rev_to, ok, status, latency_ms, error, at
                   FROM webhook_deliveries WHERE hook = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![hook, limit as i64], |r| {
                Ok(Delivery {
                    delivery: r.get(0)?,
                    event: r.get(1)?,
                    doc: r.get(2)?,
                    rev_from: r.get(3)?,
                    rev_to: r.get(4)?,
                    ok: r.get(5)?,
                    status: r.get(6)?,
                    latency_ms: r.get(7)?,
                    error: r.get(8)?,
                    at: r.get(9)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn pending_deliveries(&self, hook: &str) -> Result<u64, StoreError> {
        let hook = hook.to_owned();
        self.with(move |c| {
            c.prepare_cached("SELECT COUNT(*) FROM webhook_outbox WHERE hook = ?1")?
                .query_row([hook], |r| r.get(0))
        })
        .await
    }

    async fn release_claims(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE webhook_outbox SET claimed_until = NULL WHERE claimed_until IS NOT NULL",
                [],
            )
            .map(drop)
        })
        .await
    }
}
