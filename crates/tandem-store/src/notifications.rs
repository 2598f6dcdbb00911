//! The [`Notifications`] trait: what reaches a person (a mention, a reply to their comment
//! thread, a document shared with them), read in the app and mailed, and the people a user may
//! mention in a document. Both account backends implement it over their own tables (migration
//! `notifications`); `notifications_suite!` holds them to one behaviour.
//!
//! A notification is recorded when its event happens, whoever may read the document then; every
//! read (the list, the unread count, the mail queue) checks inside its query that the recipient
//! may read the document *now*, so one never reveals a document to someone without access (and
//! a mention of someone the owner shares the document with afterwards shows up then).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use tandem_core::store::StoreError;

use crate::accounts::{Role, User};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Someone mentioned the recipient in a document.
    Mention,
    /// Someone replied in a comment thread the recipient started.
    Reply,
    /// A document was shared with the recipient.
    Share,
    /// A webhook the recipient registered was turned off after a day of failed deliveries.
    Webhook,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Mention, Kind::Reply, Kind::Share, Kind::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Mention => "mention",
            Kind::Reply => "reply",
            Kind::Share => "share",
            Kind::Webhook => "webhook",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("no such kind of notification: {s:?}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub user_id: i64,
    pub kind: Kind,
    pub doc: String,
    /// Who did it.
    pub actor_id: Option<i64>,
    /// Where: a mention's ref, a thread's id, the role shared. The same (user, kind, doc, place)
    /// twice is one notification (a mention pasted again, a share repeated).
    pub place: String,
    /// A line of context: the reply's text.
    pub detail: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: i64,
    pub kind: Kind,
    pub doc: String,
    pub doc_title: String,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub place: String,
    pub detail: String,
    pub created_at: i64,
    pub read: bool,
}

/// Someone a user may mention in a document: everyone who may read it, and everyone who shares
/// another document with that user (whom they could share this one with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub id: i64,
    pub name: String,
    /// Their role on the document; `None`: they cannot open it (yet).
    pub role: Option<Role>,
}

/// Which people: names containing `text` (any case), or the one account `only`.
#[derive(Debug, Clone, Default)]
pub struct PeopleQuery {
    pub text: String,
    pub only: Option<i64>,
    pub limit: usize,
}

impl PeopleQuery {
    /// `text` as a `LIKE` pattern (escape `\`).
    pub(crate) fn pattern(&self) -> String {
        let mut p = String::from("%");
        for c in self.text.to_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('%');
        p
    }
}

#[async_trait::async_trait]
pub trait Notifications: Send + Sync + 'static {
    /// Records one; `None` if the same (user, kind, doc, place) was recorded before.
    async fn notify(&self, n: &NewNotification) -> Result<Option<i64>, StoreError>;
    /// A user's notifications, newest first, with ids below `before`, about documents they may
    /// read at `now`.
    async fn notifications(
        &self,
        user_id: i64,
        now: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;
    /// How many of those are unread.
    async fn unread(&self, user_id: i64, now: i64) -> Result<u64, StoreError>;
    /// Marks one (`Some(id)`) or every notification of the user read; how many changed.
    async fn mark_read(&self, user_id: i64, id: Option<i64>, now: i64) -> Result<u64, StoreError>;
    /// The mail queue: unread notifications not yet mailed, made after `since`, whose recipient
    /// may read the document at `now`, has an address and has not opted out of the kind; oldest
    /// first, with the recipient.
    async fn unmailed(
        &self,
        since: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(User, Notification)>, StoreError>;
    /// Claims these for mailing (where no one else did); the ids this caller claimed.
    async fn claim_mail(&self, ids: &[i64], now: i64) -> Result<Vec<i64>, StoreError>;
    /// Gives claims back (their mail could not be sent).
    async fn unclaim_mail(&self, ids: &[i64]) -> Result<(), StoreError>;
    async fn set_email_optout(&self, user_id: i64, kind: Kind, out: bool)
        -> Result<(), StoreError>;
    async fn email_optouts(&self, user_id: i64) -> Result<Vec<Kind>, StoreError>;
    /// People `user_id` may mention in `doc` (see [`Person`]), those who can open it first, then
    /// by name; none if `user_id` cannot read `doc` itself. Guests and disabled accounts are
    /// never listed.
    async fn people(
        &self,
        doc: &str,
        user_id: i64,
        now: i64,
        q: &PeopleQuery,
    ) -> Result<Vec<Person>, StoreError>;
}

/// SQL true when the account in column `user` may read the document in column `doc` at the time
/// in parameter `now` (a direct grant or a live link the user opened). One text for both
/// dialects; only the parameter's spelling differs.
pub(crate) fn can_read_sql(user: &str, doc: &str, now: &str) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM doc_access x WHERE x.doc = {doc} AND x.user_id = {user})
          OR EXISTS (SELECT 1 FROM share_links xl JOIN link_members xm ON xm.link_id = xl.id
                      WHERE xl.doc = {doc} AND xm.user_id = {user} AND xl.revoked_at IS NULL
                        AND (xl.expires_at IS NULL OR xl.expires_at > {now})))"
    )
}

/// The columns a [`Notification`] is read from, in order, over `n` (notifications), `d`
/// (documents) and `a` (the actor, left-joined).
pub(crate) const NOTIFICATION_COLUMNS: &str =
    "n.id, n.kind, n.doc, d.title, n.actor_id, a.name, n.place, n.detail, n.created_at, n.read_at";

/// Every (doc, user, rank) grant there is, live links included; `now` is the parameter's spelling.
pub(crate) fn all_grants_sql(rank: &str, now: &str) -> String {
    format!(
        "SELECT doc, user_id, {rank} AS rank FROM doc_access
         UNION ALL
         SELECT l.doc, m.user_id, {rank} AS rank FROM share_links l JOIN link_members m ON m.link_id = l.id
          WHERE l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > {now})"
    )
}
