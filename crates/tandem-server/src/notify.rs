//! Notifications: who may be mentioned (the document actor asks before a mention counts), what
//! reaches whom (a durable mention, a reply to one's thread, a share), and the live signal the
//! app's bell listens to. Recording goes through the accounts store, which checks on every read
//! that the recipient may still read the document; email is `mail.rs`, the routes
//! `routes/notifications.rs`.
//!
//! Nothing here runs on a request's or an actor's critical path for long: the mention check is
//! one indexed query per mentioned account, and recording happens on spawned tasks.

use std::sync::Arc;

use crate::auth::{AccessChange, Auth};
use tandem_core::room::{Mention, People};
use tandem_core::store::now_millis;
use tandem_store::accounts::Accounts;
use tandem_store::notifications::{Kind, NewNotification, PeopleQuery};
use tokio::sync::{broadcast, Notify};
use tokio_util::task::TaskTracker;

/// Mentions one update may add (a paste of a long list of names): past it the update is refused.
const MAX_MENTIONS_PER_UPDATE: usize = 50;

pub struct Notifier {
    accounts: Option<Arc<dyn Accounts>>,
    signals: Signals,
    tracker: TaskTracker,
}

/// Who hears that a user's notifications changed.
#[derive(Clone)]
struct Signals {
    /// A user id, each time that user's notifications change (a new one, one read): every open
    /// stream hears every signal and keeps its own user's. Notifications are rare beside edits,
    /// so one channel is cheaper than a map of them; a stream that lags re-reads its count.
    changed: broadcast::Sender<i64>,
    /// Wakes the mailer when a notification is recorded.
    mail: Arc<Notify>,
    /// The other nodes of a cluster (their streams), through the access-change channel.
    auth: Arc<Auth>,
}

impl Signals {
    fn touch(&self, user: i64) {
        let _ = self.changed.send(user);
        self.auth.tell_others(AccessChange::Notified { user });
    }
}

impl Notifier {
    pub fn new(
        accounts: Option<Arc<dyn Accounts>>,
        auth: Arc<Auth>,
        tracker: TaskTracker,
    ) -> Arc<Self> {
        let signals = Signals {
            changed: broadcast::channel(1024).0,
            mail: Arc::new(Notify::new()),
            auth,
        };
        Arc::new(Self {
            accounts,
            signals,
            tracker,
        })
    }

    /// Signals for the streams (see `Signals::changed`).
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.signals.changed.subscribe()
    }

    /// Wakes the mailer when a notification is recorded.
    pub fn mail_signal(&self) -> Arc<Notify> {
        self.signals.mail.clone()
    }

    /// Tells `user`'s open streams, on every node, that their notifications changed.
    pub fn touch(&self, user: i64) {
        self.signals.touch(user);
    }

    /// [`Self::touch`] heard from another node: this node's streams only.
    pub fn touch_here(&self, user: i64) {
        let _ = self.signals.changed.send(user);
    }

    /// Records `n` in the background (a request never waits for it, nor fails with it).
    pub fn send(self: &Arc<Self>, n: NewNotification) {
        let Some(accounts) = self.accounts.clone() else {
            return;
        };
        if n.actor_id == Some(n.user_id) {
            return; // nobody is told what they did themselves
        }
        let signals = self.signals.clone();
        self.tracker
            .spawn(async move { record(accounts.as_ref(), &signals, &n).await });
    }

    /// A reply in `thread` of `doc` by `actor`: its starter hears of it.
    pub fn replied(
        self: &Arc<Self>,
        doc: &str,
        thread: &str,
        reply: &str,
        starter: Option<&str>,
        actor: i64,
        body: &str,
    ) {
        let Some(starter) = starter.and_then(|s| s.parse::<i64>().ok()) else {
            return;
        };
        self.send(NewNotification {
            user_id: starter,
            kind: Kind::Reply,
            doc: doc.to_owned(),
            actor_id: Some(actor),
            place: format!("{thread}/{reply}"),
            detail: excerpt(body),
            at: now_millis(),
        });
    }

    /// `doc` shared with `user` as `role` by `actor`.
    pub fn shared(self: &Arc<Self>, doc: &str, user: i64, role: &str, actor: i64) {
        self.send(NewNotification {
            user_id: user,
            kind: Kind::Share,
            doc: doc.to_owned(),
            actor_id: Some(actor),
            place: role.to_owned(),
            detail: String::new(),
            at: now_millis(),
        });
    }
}

/// Records `n`; if it is new, tells the recipient's streams and the mailer.
async fn record(accounts: &dyn Accounts, signals: &Signals, n: &NewNotification) {
    match accounts.notify(n).await {
        Ok(Some(_)) => {
            metrics::counter!("tandem_notifications_total", "kind" => n.kind.as_str()).increment(1);
            signals.touch(n.user_id);
            signals.mail.notify_one();
        }
        Ok(None) => {} // the same one was recorded before
        Err(e) => tracing::warn!(error = %e, user = n.user_id, "cannot record a notification"),
    }
}

/// The first line of a comment, short enough for a notification.
fn excerpt(body: &str) -> String {
    let line = body.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(140) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

#[async_trait::async_trait]
impl People for Notifier {
    async fn check(
        &self,
        doc: &str,
        author: Option<&str>,
        added: &[Mention],
    ) -> Result<(), String> {
        let Some(accounts) = &self.accounts else {
            return Err("a mention without accounts (--auth none)".into());
        };
        let Some(author) = author.and_then(|a| a.parse::<i64>().ok()) else {
            return Err("a mention by someone not signed in".into());
        };
        if added.len() > MAX_MENTIONS_PER_UPDATE {
            return Err(format!(
                "more than {MAX_MENTIONS_PER_UPDATE} mentions in one change"
            ));
        }
        let mut users: Vec<&str> = added.iter().map(|m| m.user.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        for user in users {
            let Ok(id) = user.parse::<i64>() else {
                return Err(format!("a mention of {user:?}, which is not an account"));
            };
            let q = PeopleQuery {
                only: Some(id),
                limit: 1,
                ..PeopleQuery::default()
            };
            let found = accounts
                .people(doc, author, now_millis(), &q)
                .await
                .map_err(|e| format!("a mention that could not be checked ({e})"))?;
            if found.is_empty() {
                return Err(format!(
                    "a mention of account {id}, which does not exist or which its author may not mention"
                ));
            }
        }
        Ok(())
    }

    fn mentioned(&self, doc: &str, author: Option<&str>, _rev: u64, added: Vec<Mention>) {
        let Some(actor) = author.and_then(|a| a.parse::<i64>().ok()) else {
            return;
        };
        let Some(accounts) = self.accounts.clone() else {
            return;
        };
        let (doc, signals) = (doc.to_owned(), self.signals.clone());
        self.tracker.spawn(async move {
            for m in added {
                let Ok(user) = m.user.parse::<i64>() else {
                    continue;
                };
                if user == actor {
                    continue;
                }
                let n = NewNotification {
                    user_id: user,
                    kind: Kind::Mention,
                    doc: doc.clone(),
                    actor_id: Some(actor),
                    place: m.place.unwrap_or_default(),
                    detail: String::new(),
                    at: now_millis(),
                };
                record(accounts.as_ref(), &signals, &n).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_excerpt_is_the_first_line_cut_at_a_character() {
        assert_eq!(super::excerpt("  hello\nworld"), "hello");
        let long = "é".repeat(200);
        let cut = super::excerpt(&long);
        assert_eq!(cut.chars().count(), 141);
        assert!(cut.ends_with('…'));
    }
}
