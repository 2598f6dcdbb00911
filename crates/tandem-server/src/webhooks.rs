//! Webhook deliveries: the sender that drains the outbox (see `tandem_store::webhooks`), the
//! signature every delivery carries, and the address checks that keep requests off private
//! networks.
//!
//! The sender claims due rows (on every durable commit of this node, and once a second for the
//! others' and for retries), posts each, and records what happened in one transaction per
//! batch: a success drains the row, a failure makes it due again after an exponential back-off
//! with jitter, and a webhook whose failures have lasted `--webhook-give-up-secs` (a day) is
//! turned off, with an audit entry and a notice to its owner.
//!
//! Every request is bounded: a connect and total timeout, at most three redirects, at most
//! [`BODY_KEPT`] bytes of a response read. Unless `--webhook-allow-private` is set, a target
//! must be a public address: checked on the URL's literal address, on every address its name
//! resolves to (the connection then uses exactly those addresses, so a second lookup cannot
//! swap in a private one), and on every redirect.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use tandem_core::store::now_millis;
use tandem_store::notifications::{Kind, NewNotification};
use tandem_store::webhooks::{Attempt, Due, Event, Webhook};
use tandem_store::Accounts;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// How long a claim outlasts the longest request (its timeout): a node killed mid-delivery
/// leaves a claim that another node takes over this long after the request's end.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Deliveries in flight at once, over every webhook.
const IN_FLIGHT: usize = 64;
/// Of a response's body, only this much is read (into the log on a failure).
const BODY_KEPT: usize = 1024;
/// Back-off after the first failure, doubled for each further one, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The sender looks for due rows at least this often (other nodes' commits, retries).
const POLL: Duration = Duration::from_secs(1);
/// And at most this often, however fast commits wake it: commits meanwhile join a range.
const MIN_GAP: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub allow_private: bool,
    pub give_up: Duration,
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            give_up: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Which addresses a request may reach.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allow_private: bool,
    /// Socket addresses allowed whatever they are (tests reach a receiver on loopback through
    /// it and check that a redirect from there is still refused).
    exempt: Vec<SocketAddr>,
}

impl Guard {
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            exempt: Vec::new(),
        }
    }

    #[doc(hidden)]
    pub fn exempting(addr: SocketAddr) -> Self {
        Self {
            allow_private: false,
            exempt: vec![addr],
        }
    }

    fn ip_ok(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// The URL's scheme, and its host if that is a literal address.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err("a webhook URL is http or https".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a webhook URL carries no credentials; use the secret".into());
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err("a webhook URL names a host".into()),
        };
        let port = url.port_or_known_default().unwrap_or(0);
        if self.exempt.contains(&SocketAddr::new(ip, port)) || self.ip_ok(ip) {
            Ok(())
        } else {
            Err(format!("{ip} is not a public address"))
        }
    }

    /// Resolves `host` and checks every address (what registration does before a delivery
    /// ever goes out; the resolver below repeats it on every connection).
    pub async fn check_host(&self, url: &reqwest::Url) -> Result<(), String> {
        self.check_url(url)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(0);
            resolve(self, name, port).await?;
        }
        Ok(())
    }
}

/// Globally routable: not loopback, private, link-local, shared (CGNAT), multicast,
/// documentation, benchmarking, reserved or unspecified; IPv4 inside IPv6 judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x64 && s[1] == 0xff9b)) // NAT64 (reaches IPv4 behind it)
        }
    }
}

async fn resolve(guard: &Guard, name: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| format!("cannot resolve {name}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{name} resolves to no address"));
    }
    // Every address must pass, or a name with one public and one private address would let
    // the connection pick the private one.
    match addrs
        .iter()
        .find(|a| !guard.exempt.contains(a) && !guard.ip_ok(a.ip()))
    {
        Some(bad) => Err(format!(
            "{name} resolves to {}, not a public address",
            bad.ip()
        )),
        None => Ok(addrs),
    }
}

/// reqwest's resolver, checking every answer; the connection uses only what it returns.
struct GuardedResolver(Guard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            // The port is the connector's to choose; checked addresses carry port 0.
            let addrs = resolve(&guard, name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client every delivery uses.
pub fn client(guard: &Guard, timeout: Duration) -> reqwest::Client {
    let redirects = guard.clone();
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 3 {
                return attempt.error("more than three redirects");
            }
            match redirects.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => {
                    let to = attempt.url().to_string();
                    attempt.error(format!("redirected to {to}: {e}"))
                }
            }
        }))
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent(concat!("Tandem-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the receiver recomputes it,
/// compares in constant time and refuses a timestamp more than a few minutes old.
pub fn signature(secret: &str, unix_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{unix_secs}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={unix_secs},v1={hex}")
}

/// One delivery, as sent.
pub struct Outgoing {
    pub delivery: String,
    pub event: String,
    pub doc: String,
    pub rev_from: u64,
    pub rev_to: u64,
    pub body: Vec<u8>,
}

impl Outgoing {
    pub fn of(due: &Due) -> Outgoing {
        let delivery = match due.event {
            Event::Changed => format!("{}-{}-{}", due.id, due.rev_from, due.rev_to),
            _ => due.id.to_string(),
        };
        let mut body = serde_json::json!({
            "id": delivery,
            "event": due.event.as_str(),
            "webhook": due.hook.id,
            "doc": due.doc,
            "attempt": due.attempts + 1,
            "sent_at": now_millis(),
        });
        if due.event == Event::Changed {
            body["from_rev"] = due.rev_from.into();
            body["to_rev"] = due.rev_to.into();
        } else if let Ok(data) = serde_json::from_str::<serde_json::Value>(&due.payload) {
            body["data"] = data;
        }
        Outgoing {
            delivery,
            event: due.event.as_str().into(),
            doc: due.doc.clone(),
            rev_from: due.rev_from,
            rev_to: due.rev_to,
            body: body.to_string().into_bytes(),
        }
    }

    /// The test button's delivery: a `ping` that touches no outbox row.
    pub fn ping(hook: &Webhook) -> Outgoing {
        let delivery = format!("ping-{}", rand::random::<u64>());
        let body = serde_json::json!({
            "id": delivery,
            "event": "ping",
            "webhook": hook.id,
            "doc": hook.doc,
            "sent_at": now_millis(),
        });
        Outgoing {
            delivery,
            event: "ping".into(),
            doc: hook.doc.clone().unwrap_or_default(),
            rev_from: 0,
            rev_to: 0,
            body: body.to_string().into_bytes(),
        }
    }
}

/// Posts `out` to `hook` and says what happened (`outbox_id` and `retry_at` for the caller).
pub async fn post(
    client: &reqwest::Client,
    guard: &Guard,
    hook: &Webhook,
    out: Outgoing,
) -> Attempt {
    let started = Instant::now();
    let at = now_millis();
    let result = async {
        let url = reqwest::Url::parse(&hook.url).map_err(|e| e.to_string())?;
        guard.check_url(&url)?;
        let resp = client
            .post(url)
            .header("content-type", "application/json")
            .header("tandem-event", &out.event)
            .header("tandem-delivery", &out.delivery)
            .header(
                "tandem-signature",
                signature(&hook.secret, at / 1000, &out.body),
            )
            .body(out.body.clone())
            .send()
            .await
            .map_err(describe)?;
        let status = resp.status();
        // A bounded look at the body, for the log; a huge or endless one is cut off here.
        let mut kept = Vec::new();
        let mut resp = resp;
        if !status.is_success() {
            while kept.len() < BODY_KEPT {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        kept.extend_from_slice(&chunk[..chunk.len().min(BODY_KEPT - kept.len())])
                    }
                    _ => break,
                }
            }
        }
        Ok::<_, String>((status, kept))
    }
    .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (ok, status, error) = match result {
        Ok((s, _)) if s.is_success() => (true, Some(s.as_u16()), String::new()),
        Ok((s, body)) => {
            let body = String::from_utf8_lossy(&body);
            let body: String = body.chars().take(200).collect();
            (
                false,
                Some(s.as_u16()),
                format!("answered {s}: {body}")
                    .trim_end_matches(": ")
                    .to_owned(),
            )
        }
        Err(e) => (false, None, e),
    };
    metrics::counter!("tandem_webhook_deliveries_total", "ok" => ok.to_string()).increment(1);
    metrics::histogram!("tandem_webhook_delivery_seconds").record(latency_ms as f64 / 1000.0);
    Attempt {
        outbox_id: None,
        hook: hook.id.clone(),
        delivery: out.delivery,
        event: out.event,
        doc: out.doc,
        rev_from: out.rev_from,
        rev_to: out.rev_to,
        ok,
        status,
        latency_ms,
        error,
        at,
        retry_at: 0,
    }
}

/// reqwest's error with its causes (the refused address is in a source).
fn describe(e: reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(&e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// When the `attempts`-th failure (1 = the first) is tried again: exponential, with jitter
/// (half to all of the step), so receivers coming back are not hit by every sender at once.
pub fn retry_at(now: i64, attempts: u32) -> i64 {
    let step = FIRST_BACKOFF
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
        .min(MAX_BACKOFF);
    let jittered = step.mul_f64(rand::rng().random_range(0.5..=1.0));
    now + jittered.as_millis() as i64
}

/// Drains the outbox.
pub struct Sender {
    accounts: Arc<dyn Accounts>,
    /// See [`LEASE_MARGIN`].
    lease: Duration,
    notifier: Arc<crate::notify::Notifier>,
    client: reqwest::Client,
    guard: Guard,
    give_up: Duration,
    wake: Arc<Notify>,
}

impl Sender {
    pub fn new(
        cfg: &WebhookConfig,
        accounts: Arc<dyn Accounts>,
        notifier: Arc<crate::notify::Notifier>,
    ) -> Arc<Self> {
        let guard = Guard::new(cfg.allow_private);
        Arc::new(Self {
            lease: cfg.timeout + LEASE_MARGIN,
            client: client(&guard, cfg.timeout),
            guard,
            accounts,
            notifier,
            give_up: cfg.give_up,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Rouses the sender (a commit on this node may have queued deliveries).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The test button: a ping, sent now, logged like any delivery.
    pub async fn ping(&self, hook: &Webhook) -> Attempt {
        let attempt = post(&self.client, &self.guard, hook, Outgoing::ping(hook)).await;
        if let Err(e) = self
            .accounts
            .finish_deliveries(std::slice::from_ref(&attempt), i64::MAX)
            .await
        {
            tracing::warn!(error = %e, "cannot log a webhook ping");
        }
        attempt
    }

    pub async fn run(self: Arc<Self>, release_claims: bool, stop: CancellationToken) {
        if release_claims {
            if let Err(e) = self.accounts.release_claims().await {
                tracing::warn!(error = %e, "cannot release webhook claims");
            }
        }
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(self.clone().record(done_rx));
        loop {
            let free = slots.available_permits();
            if free > 0 {
                match self
                    .accounts
                    .claim_deliveries(now_millis(), self.lease.as_millis() as i64, free)
                    .await
                {
                    Ok(due) => {
                        for due in due {
                            let permit = slots.clone().acquire_owned().await.expect("never closed");
                            let (this, done) = (self.clone(), done_tx.clone());
                            tokio::spawn(async move {
                                let mut attempt =
                                    post(&this.client, &this.guard, &due.hook, Outgoing::of(&due))
                                        .await;
                                attempt.outbox_id = Some(due.id);
                                if !attempt.ok {
                                    attempt.retry_at = retry_at(attempt.at, due.attempts + 1);
                                    tracing::info!(webhook = %due.hook.id, doc = %due.doc, error = %attempt.error, "webhook delivery failed");
                                }
                                let _ = done.send((attempt, permit));
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot claim webhook deliveries"),
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            tokio::time::sleep(MIN_GAP).await;
        }
        // Deliveries in flight finish (their claims would otherwise wait out the lease).
        drop(done_tx);
        let _ = recorder.await;
    }

    /// Writes finished attempts, as many as are waiting in one transaction.
    async fn record(
        self: Arc<Self>,
        mut done: mpsc::UnboundedReceiver<(Attempt, tokio::sync::OwnedSemaphorePermit)>,
    ) {
        let mut batch = Vec::new();
        while done.recv_many(&mut batch, 256).await > 0 {
            let attempts: Vec<Attempt> = batch.iter().map(|(a, _)| a.clone()).collect();
            match self
                .accounts
                .finish_deliveries(&attempts, self.give_up.as_millis() as i64)
                .await
            {
                Ok(disabled) => {
                    for hook in disabled {
                        self.disabled(&hook).await;
                    }
                }
                // The claims lapse with their lease and the rows are sent again: at least once.
                Err(e) => tracing::warn!(error = %e, "cannot record webhook deliveries"),
            }
            batch.clear(); // the permits go back only now: the next claim sees the rows freed
            self.wake();
        }
    }

    /// A webhook turned off after a day of failures: the audit log, and its owner's bell.
    async fn disabled(&self, hook: &Webhook) {
        tracing::warn!(webhook = %hook.id, url = %hook.url, "webhook turned off after failing for too long");
        metrics::counter!("tandem_webhooks_disabled_total").increment(1);
        let audit = tandem_store::accounts::AuditEvent {
            at: now_millis(),
            event: "webhook_disabled".into(),
            user_id: Some(hook.owner_id),
            ip: None,
            detail: format!(
                "webhook {} to {} on {}: deliveries failed since {}",
                hook.id,
                hook.url,
                hook.doc.as_deref().unwrap_or("every document"),
                hook.failing_since.unwrap_or_default()
            ),
        };
        if let Err(e) = self.accounts.audit(audit).await {
            tracing::warn!(error = %e, "cannot audit a disabled webhook");
        }
        if let Some(doc) = &hook.doc {
            self.notifier.send(NewNotification {
                user_id: hook.owner_id,
                kind: Kind::Webhook,
                doc: doc.clone(),
                actor_id: None,
                place: hook.id.clone(),
                detail: hook.url.clone(),
                at: now_millis(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_means_globally_routable() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "198.18.0.1",
            "192.0.0.8",
            "224.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_and_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec
        let s = signature("whsec", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            s,
            "t=1700000000,v1=8ad37ba156048ae0e0a5533c75cdf26fee88b07f93cb57ee4c80adb053012032"
        );
        assert_ne!(s, signature("other", 1_700_000_000, br#"{"a":1}"#));
        assert_ne!(s, signature("whsec", 1_700_000_001, br#"{"a":1}"#));
    }

    #[test]
    fn back_off_doubles_with_jitter_and_is_capped() {
        for attempts in 1..30 {
            let step = FIRST_BACKOFF
                .saturating_mul(1 << (attempts - 1).min(20))
                .min(MAX_BACKOFF);
            let wait = Duration::from_millis((retry_at(0, attempts)) as u64);
            assert!(
                wait >= step / 2 && wait <= step,
                "attempt {attempts}: {wait:?} for {step:?}"
            );
        }
    }

    #[tokio::test]
    async fn names_are_resolved_and_every_address_checked() {
        let strict = Guard::new(false);
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(strict
            .check_host(&url("http://127.0.0.1:8080/"))
            .await
            .is_err());
        assert!(strict.check_host(&url("http://[::1]/")).await.is_err());
        let local = strict
            .check_host(&url("http://localhost:8080/"))
            .await
            .unwrap_err();
        assert!(local.contains("not a public address"), "{local}");
        assert!(strict.check_host(&url("ftp://example.com/")).await.is_err());
        assert!(strict
            .check_host(&url("http://u:p@example.com/"))
            .await
            .is_err());
        assert!(Guard::new(true)
            .check_host(&url("http://localhost:8080/"))
            .await
            .is_ok());
    }
}
