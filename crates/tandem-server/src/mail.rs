//! Notification email (`--smtp-url`): one task reads the store's mail queue (unread
//! notifications not yet mailed, whose recipient may still read the document and has not opted
//! out of the kind, checked inside the query) and sends each person one message per event, or,
//! for what arrives within `--email-batch-secs` of the last message to them, one message for all
//! of it when that window ends. Every message carries an unsubscribe link per kind (and the
//! one-click `List-Unsubscribe` headers of RFC 8058); the link is signed, so it works without
//! signing in and only for its own person and kind.
//!
//! A notification is claimed in the store before it is sent (several nodes may run a mailer)
//! and given back if sending fails, so a dead relay delays mail but loses none.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{KeyInit, Mac};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tandem_core::store::now_millis;
use tandem_store::accounts::{Accounts, User};
use tandem_store::notifications::{Kind, Notification};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

type Hmac = hmac::Hmac<sha2::Sha256>;

/// Only notifications younger than this are mailed (an older one waited through a long outage
/// or an opt-out; the app still shows it).
const MAIL_WITHIN: Duration = Duration::from_secs(24 * 3600);
/// After a failed send, the next attempt.
const RETRY: Duration = Duration::from_secs(30);
/// Notifications read from the queue per round.
const ROUND: usize = 500;

/// Signs and checks unsubscribe links: `HMAC(secret, user, kind)`.
#[derive(Clone)]
pub struct Unsubscribe(Hmac);

impl Unsubscribe {
    pub fn new(secret: &[u8]) -> Self {
        Self(Hmac::new_from_slice(secret).expect("HMAC takes any key"))
    }

    fn mac(&self, user: i64, kind: Kind) -> Hmac {
        let mut mac = self.0.clone();
        mac.update(format!("unsubscribe\0{user}\0{kind}").as_bytes());
        mac
    }

    pub fn token(&self, user: i64, kind: Kind) -> String {
        let tag = self.mac(user, kind).finalize().into_bytes();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
    }

    pub fn check(&self, user: i64, kind: Kind, token: &str) -> bool {
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        self.mac(user, kind).verify_slice(&tag).is_ok()
    }

    /// The path of the link (below the server's origin).
    pub fn path(&self, user: i64, kind: Kind) -> String {
        format!(
            "/api/notifications/unsubscribe?user={user}&kind={kind}&token={}",
            self.token(user, kind)
        )
    }
}

/// `List-Unsubscribe: <url>`.
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim_matches(['<', '>']).to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
#[derive(Clone)]
struct OneClick;

impl Header for OneClick {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

pub struct Mailer {
    accounts: Arc<dyn Accounts>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `scheme://host[:port]` links in the messages start with.
    origin: String,
    batch: Duration,
    links: Unsubscribe,
    wake: Arc<Notify>,
}

pub struct MailerConfig<'a> {
    pub smtp_url: &'a str,
    pub from: &'a str,
    pub origin: String,
    pub batch: Duration,
}

impl Mailer {
    pub fn new(
        cfg: MailerConfig,
        accounts: Arc<dyn Accounts>,
        links: Unsubscribe,
        wake: Arc<Notify>,
    ) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(cfg.smtp_url)
            .map_err(|e| format!("--smtp-url: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = cfg
            .from
            .parse()
            .map_err(|e| format!("--smtp-from {:?}: {e}", cfg.from))?;
        Ok(Self {
            accounts,
            transport,
            from,
            origin: cfg.origin,
            batch: cfg.batch,
            links,
            wake,
        })
    }

    pub async fn run(self, stop: CancellationToken) {
        // When each person was last mailed: what reaches them sooner waits for the window's end.
        let mut last: HashMap<i64, Instant> = HashMap::new();
        let mut next = Duration::ZERO;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(next) => {}
            }
            next = match self.round(&mut last).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the mail queue");
                    RETRY
                }
            };
            last.retain(|_, at| at.elapsed() < self.batch);
        }
    }

    /// Sends what is due; how long until something more may be.
    async fn round(
        &self,
        last: &mut HashMap<i64, Instant>,
    ) -> Result<Duration, tandem_core::store::StoreError> {
        let now = now_millis();
        let since = now - MAIL_WITHIN.as_millis() as i64;
        let queue = self.accounts.unmailed(since, now, ROUND).await?;
        let mut by_person: BTreeMap<i64, (User, Vec<Notification>)> = BTreeMap::new();
        for (user, n) in queue {
            by_person
                .entry(user.id)
                .or_insert_with(|| (user, Vec::new()))
                .1
                .push(n);
        }
        let mut next = Duration::from_secs(3600);
        for (id, (user, notes)) in by_person {
            if let Some(wait) = last
                .get(&id)
                .map(|at| self.batch.saturating_sub(at.elapsed()))
                .filter(|w| !w.is_zero())
            {
                next = next.min(wait);
                continue;
            }
            let ids: Vec<i64> = notes.iter().map(|n| n.id).collect();
            let claimed = self.accounts.claim_mail(&ids, now_millis()).await?;
            let notes: Vec<_> = notes
                .into_iter()
                .filter(|n| claimed.contains(&n.id))
                .collect();
            if notes.is_empty() {
                continue;
            }
            match self.send(&user, &notes).await {
                Ok(()) => {
                    metrics::counter!("tandem_emails_total").increment(1);
                    last.insert(id, Instant::now());
                    next = next.min(self.batch);
                }
                Err(e) => {
                    metrics::counter!("tandem_email_failures_total").increment(1);
                    tracing::warn!(error = %e, user = id, "cannot send notification email");
                    self.accounts.unclaim_mail(&claimed).await?;
                    next = next.min(RETRY);
                }
            }
        }
        Ok(next)
    }

    async fn send(&self, user: &User, notes: &[Notification]) -> Result<(), String> {
        let to: Mailbox = user
            .email
            .parse()
            .map_err(|e| format!("the address {:?}: {e}", user.email))?;
        let subject = match notes {
            [one] => headline(one),
            many => format!("{} new notifications in Tandem", many.len()),
        };
        let mut body = String::new();
        for n in notes {
            body.push_str(&headline(n));
            body.push('\n');
            if !n.detail.is_empty() {
                body.push_str(&format!("    “{}”\n", n.detail));
            }
            body.push_str(&format!("    {}{}\n\n", self.origin, link(n)));
        }
        let mut kinds: Vec<Kind> = notes.iter().map(|n| n.kind).collect();
        kinds.sort_by_key(|k| k.as_str());
        kinds.dedup();
        body.push_str("--\nYou get these because of your Tandem account.\n");
        for kind in &kinds {
            body.push_str(&format!(
                "Stop emails about {}: {}{}\n",
                about(*kind),
                self.origin,
                self.links.path(user.id, *kind)
            ));
        }
        let one_click = format!("{}{}", self.origin, self.links.path(user.id, kinds[0]));
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .header(ListUnsubscribe(one_click))
            .header(OneClick)
            .body(body)
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// "Ann mentioned you in “Plans”".
pub fn headline(n: &Notification) -> String {
    let who = n.actor_name.as_deref().unwrap_or("Someone");
    let title = match n.doc_title.as_str() {
        "" => "Untitled document",
        t => t,
    };
    match n.kind {
        Kind::Mention => format!("{who} mentioned you in “{title}”"),
        Kind::Reply => format!("{who} replied to your comment in “{title}”"),
        Kind::Share => format!("{who} shared “{title}” with you"),
        Kind::Webhook => {
            format!("A webhook of “{title}” was turned off after a day of failed deliveries")
        }
    }
}

/// The path to where it happened: the mention, the thread, the document.
pub fn link(n: &Notification) -> String {
    let doc = &n.doc;
    match n.kind {
        Kind::Mention if !n.place.is_empty() => format!("/d/{doc}#mention={}", n.place),
        Kind::Reply => {
            let thread = n.place.split('/').next().unwrap_or("");
            format!("/d/{doc}#thread={thread}")
        }
        Kind::Webhook => format!("/d/{doc}#webhooks"),
        _ => format!("/d/{doc}"),
    }
}

/// "mentions", for the unsubscribe line.
pub fn about(kind: Kind) -> &'static str {
    match kind {
        Kind::Mention => "mentions",
        Kind::Reply => "replies to your comments",
        Kind::Share => "documents shared with you",
        Kind::Webhook => "webhooks turned off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsubscribe_token_is_for_one_person_and_one_kind() {
        let links = Unsubscribe::new(b"secret");
        let t = links.token(7, Kind::Mention);
        assert!(links.check(7, Kind::Mention, &t));
        assert!(!links.check(8, Kind::Mention, &t));
        assert!(!links.check(7, Kind::Reply, &t));
        assert!(!Unsubscribe::new(b"other").check(7, Kind::Mention, &t));
        assert!(!links.check(7, Kind::Mention, "not base64 !"));
        assert!(!links.check(7, Kind::Mention, ""));
    }
}
