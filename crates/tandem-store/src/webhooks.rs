//! The [`Webhooks`] trait: webhooks registered on a document by its owner, or on the whole
//! server by an administrator, and the outbox of deliveries due. Both account backends implement
//! it over their own tables (migration `webhooks`); `webhooks_suite!` holds them to one behaviour.
//!
//! A delivery is written to the outbox in the same transaction as the change that causes it (an
//! append, a comment, a share, a deletion: see [`enqueue`]), so a crash never loses one. Every
//! commit to a document extends one pending row per webhook (`rev_from..=rev_to`), so a busy
//! document is one delivery naming a range, not one per keystroke. A sender claims the oldest
//! row of each (webhook, document) only, for a lease; rows of one document go out one at a time,
//! in order, at least once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tandem_core::store::StoreError;

/// What a webhook may be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// New durable revisions of a document (a range per delivery).
    Changed,
    /// A comment or a reply.
    Comment,
    /// Someone's role on a document granted, changed or revoked.
    Share,
    /// The document was deleted.
    Deleted,
}

impl Event {
    pub const ALL: [Event; 4] = [Event::Changed, Event::Comment, Event::Share, Event::Deleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Changed => "changed",
            Event::Comment => "comment",
            Event::Share => "share",
            Event::Deleted => "deleted",
        }
    }

    /// Its bit in a webhook's `events` column.
    pub fn bit(self) -> i64 {
        match self {
            Event::Changed => 1,
            Event::Comment => 2,
            Event::Share => 4,
            Event::Deleted => 8,
        }
    }

    pub fn bits(events: &[Event]) -> i64 {
        events.iter().fold(0, |b, e| b | e.bit())
    }

    pub fn from_bits(bits: i64) -> Vec<Event> {
        Event::ALL
            .into_iter()
            .filter(|e| bits & e.bit() != 0)
            .collect()
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = String;
    fn from_str(s: &str) -> Result<Event, String> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("no such webhook event: {s:?}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    pub id: String,
    /// `None`: every document on the server (an administrator's).
    pub doc: Option<String>,
    pub owner_id: i64,
    pub url: String,
    /// Signs every delivery; shown once, when the webhook is made.
    #[serde(skip)]
    pub secret: String,
    pub events: Vec<Event>,
    pub enabled: bool,
    /// When the current run of failed deliveries began.
    pub failing_since: Option<i64>,
    /// Why it was turned off ("" while enabled).
    pub disabled_reason: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub id: String,
    pub doc: Option<String>,
    pub owner_id: i64,
    pub url: String,
    pub secret: String,
    pub events: Vec<Event>,
    pub at: i64,
}

/// An outbox row a sender has claimed, with its webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: i64,
    pub hook: Webhook,
    pub doc: String,
    pub event: Event,
    /// The event's details as JSON (empty for `Changed`, whose details are the range).
    pub payload: String,
    pub rev_from: u64,
    pub rev_to: u64,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// What one attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The outbox row (`None`: a test delivery, only logged).
    pub outbox_id: Option<i64>,
    pub hook: String,
    pub delivery: String,
    pub event: String,
    pub doc: String,
    pub rev_from: u64,
    /// For a `Changed` row: the end of the range sent (later commits may have extended the row).
    pub rev_to: u64,
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: String,
    pub at: i64,
    /// When a failed row is due again.
    pub retry_at: i64,
}

/// One line of a webhook's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub delivery: String,
    pub event: String,
    pub doc: String,
    pub rev_from: u64,
    pub rev_to: u64,
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: String,
    pub at: i64,
}

/// Deliveries kept in each webhook's log.
pub const LOG_KEEP: i64 = 100;

#[async_trait::async_trait]
pub trait Webhooks: Send + Sync {
    async fn create_webhook(&self, w: &NewWebhook) -> Result<(), StoreError>;
    /// A document's webhooks, or (`None`) the server-wide ones, oldest first.
    async fn webhooks(&self, doc: Option<&str>) -> Result<Vec<Webhook>, StoreError>;
    async fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError>;
    /// Removes it, its pending deliveries and its log.
    async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError>;
    /// Turns it on again (forgetting its failures; deliveries start with the next change) or off.
    async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<bool, StoreError>;
    /// Claims up to `limit` due rows for `lease_ms`: only the oldest row of each (webhook,
    /// document), so a document's deliveries leave in order.
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError>;
    /// Records attempts in one transaction: a success drains its row (or what of it was sent), a
    /// failure makes it due again at `retry_at`; a webhook whose failures began more than
    /// `give_up_ms` ago is disabled, its outbox emptied, and returned.
    async fn finish_deliveries(
        &self,
        done: &[Attempt],
        give_up_ms: i64,
    ) -> Result<Vec<Webhook>, StoreError>;
    /// The last deliveries of a webhook, newest first.
    async fn deliveries(&self, hook: &str, limit: usize) -> Result<Vec<Delivery>, StoreError>;
    /// Rows waiting for a webhook.
    async fn pending_deliveries(&self, hook: &str) -> Result<u64, StoreError>;
    /// Ends every claim (one node on SQLite: after a restart, none of them is being worked on).
    async fn release_claims(&self) -> Result<(), StoreError>;
}

/// What an event row carries: built by the stores inside the transaction of the change.
pub(crate) mod enqueue {
    /// A comment's payload.
    pub fn comment(cm: &tandem_core::store::Comment) -> String {
        serde_json::json!({
            "comment": cm.id,
            "thread": cm.thread,
            "reply": cm.thread != cm.id,
            "author": cm.author,
            "body": cm.body,
        })
        .to_string()
    }

    /// A share's payload (`role` `None`: revoked).
    pub fn share(user_id: i64, role: Option<&str>) -> String {
        serde_json::json!({ "user": user_id, "role": role }).to_string()
    }

    /// SQLite: a commit's revisions `?2..=?3` of document `?1` at `?4`, into every interested
    /// webhook's one pending range for the document.
    pub const SQLITE_CHANGED: &str =
        "INSERT INTO webhook_outbox (hook, doc, event, rev_from, rev_to, due_at, created_at)
         SELECT id, ?1, 'changed', ?2, ?3, ?4, ?4 FROM webhooks
          WHERE enabled = 1 AND (doc = ?1 OR doc IS NULL) AND (events & 1) != 0
         ON CONFLICT (hook, doc) WHERE event = 'changed' DO UPDATE SET rev_to = excluded.rev_to";

    /// SQLite: event `?2` (bit `?5`) with payload `?3` on document `?1` at `?4`.
    pub const SQLITE_EVENT: &str =
        "INSERT INTO webhook_outbox (hook, doc, event, payload, due_at, created_at)
         SELECT id, ?1, ?2, ?3, ?4, ?4 FROM webhooks
          WHERE enabled = 1 AND (doc = ?1 OR doc IS NULL) AND (events & ?5) != 0";

    /// PostgreSQL: as [`SQLITE_CHANGED`] for many documents (`$1` ids, `$2` first and `$3` last
    /// revisions) at `$4`.
    pub const POSTGRES_CHANGED: &str =
        "INSERT INTO webhook_outbox (hook, doc, event, rev_from, rev_to, due_at, created_at)
         SELECT w.id, t.d, 'changed', t.f, t.l, $4, $4
           FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(d, f, l)
           JOIN webhooks w ON (w.doc = t.d OR w.doc IS NULL) AND w.enabled AND (w.events & 1) != 0
         ON CONFLICT (hook, doc) WHERE event = 'changed' DO UPDATE SET rev_to = excluded.rev_to";

    /// PostgreSQL: as [`SQLITE_EVENT`].
    pub const POSTGRES_EVENT: &str =
        "INSERT INTO webhook_outbox (hook, doc, event, payload, due_at, created_at)
         SELECT id, $1, $2, $3, $4, $4 FROM webhooks
          WHERE enabled AND (doc = $1 OR doc IS NULL) AND (events & $5) != 0";
}
