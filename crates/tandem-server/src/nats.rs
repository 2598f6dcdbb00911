//! [`NatsFanout`]: cluster fanout over core NATS. After a durable append a node publishes
//! `(rev, update)` on `<prefix>.doc.<id>`; every node with that document open subscribes to it.
//!
//! NATS is not on the durability path and is allowed to lose, duplicate or delay messages (the
//! document actor orders by revision and fills gaps from PostgreSQL). Publishing never blocks an
//! actor: messages go through a bounded queue to one publisher task, and are dropped (counted) when
//! it is full. When the connection to NATS comes back, every subscription gets a `Resync`, so each
//! open document catches up from the store; while NATS is down, nodes keep serving their own
//! clients. Nothing polls the database.
//!
//! Presence goes on its own subject, `<prefix>.presence.<id>` (best effort, no revision; see
//! `tandem_core::presence`): each node publishes its own clients' awareness changes and
//! answers a node that opens the document and asks.
//!
//! Every message is signed: an HMAC-SHA256 tag over its subject and payload, under the
//! deployment's secret (kept in the database, see `ClusterIdentity`), is appended to it, and a
//! message whose tag does not check is dropped and counted (`tandem_fanout_forged_total`). So a
//! client of the broker that is not a node (or a node of another deployment) can neither edit a
//! document, nor fake presence, nor close anyone's socket. The connection can use credentials
//! (`--nats-creds`) and TLS (`--nats-tls-*`).
//!
//! The same connection carries access changes (`<prefix>.access`: a share revoked, an account
//! disabled, a session ended) so every node closes or downgrades its own open sockets at once.

use std::sync::Arc;

use async_nats::{ConnectOptions, Event};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use tandem_core::fanout::{Fanout, FanoutEvent, Revisions, Subscription};
use tokio::sync::{broadcast, mpsc};

use crate::auth::{AccessBus, AccessChange, Auth};
use crate::config::NatsSecurity;

type Hmac = hmac::Hmac<sha2::Sha256>;
/// Bytes of the tag appended to every message.
const TAG: usize = 32;

/// How to reach NATS and sign the messages.
pub struct NatsConfig<'a> {
    pub url: &'a str,
    /// Subjects are `<prefix>.doc.<id>`, `<prefix>.presence.<id>` and `<prefix>.access`.
    pub prefix: String,
    pub security: &'a NatsSecurity,
    /// The deployment's secret: signs and checks every message.
    pub secret: Vec<u8>,
    /// Test fault: document revisions are never published.
    pub drop_publishes: bool,
}

/// Signs and checks messages under the deployment's secret.
#[derive(Clone)]
struct Signer(Hmac);

impl Signer {
    fn new(secret: &[u8]) -> Signer {
        use hmac::KeyInit;
        Signer(Hmac::new_from_slice(secret).expect("HMAC takes any key"))
    }

    fn mac(&self, subject: &str, payload: &[u8]) -> Hmac {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(&(subject.len() as u64).to_be_bytes());
        mac.update(subject.as_bytes());
        mac.update(payload);
        mac
    }

    /// `payload` followed by its tag.
    fn sign(&self, subject: &str, payload: &[u8]) -> Bytes {
        use hmac::Mac;
        let tag = self.mac(subject, payload).finalize().into_bytes();
        [payload, &tag[..]].concat().into()
    }

    /// The payload of a signed message, or `None` (counted) if its tag does not check.
    fn open(&self, subject: &str, signed: &Bytes) -> Option<Bytes> {
        use hmac::Mac;
        let checked = signed.len().checked_sub(TAG).and_then(|at| {
            let (payload, tag) = signed.split_at(at);
            self.mac(subject, payload)
                .verify_slice(tag)
                .ok()
                .map(|()| at)
        });
        if checked.is_none() {
            metrics::counter!("tandem_fanout_forged_total").increment(1);
            tracing::warn!(subject, "dropped a NATS message with a bad signature");
        }
        checked.map(|at| signed.slice(..at))
    }
}

/// Messages waiting for the publisher task; past this, publishes are dropped.
const PUBLISH_QUEUE: usize = 65_536;
/// Events buffered per subscription before the subscriber task waits for its actor.
const SUBSCRIPTION_QUEUE: usize = 1024;

pub struct NatsFanout {
    client: async_nats::Client,
    prefix: String,
    publish: mpsc::Sender<(String, Bytes)>,
    /// Fires on every (re)connection to NATS.
    connected: broadcast::Sender<()>,
    /// Test fault (`--fault-drop-publishes`): document revisions are not published.
    drop_publishes: bool,
    signer: Signer,
}

impl NatsFanout {
    /// Connects in the background (a NATS that is down at start is retried, not fatal).
    /// With `drop_publishes` (a test fault) document revisions are never published: anti-entropy
    /// alone must carry them to the other nodes.
    pub async fn connect(cfg: NatsConfig<'_>) -> Result<Arc<NatsFanout>, String> {
        if cfg.drop_publishes {
            tracing::warn!("fault injection: document revisions are not published on NATS");
        }
        let (connected, _) = broadcast::channel(16);
        let on_event = connected.clone();
        let sec = cfg.security;
        let mut options = match &sec.creds {
            Some(path) => ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| format!("credentials {}: {e}", path.display()))?,
            None => ConnectOptions::new(),
        };
        if let Some(ca) = &sec.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some((cert, key)) = &sec.tls_client {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        let client = options
            .retry_on_initial_connect()
            .event_callback(move |event| {
                let on_event = on_event.clone();
                async move {
                    match event {
                        Event::Connected => {
                            tracing::info!("connected to NATS");
                            let _ = on_event.send(());
                        }
                        Event::Disconnected => tracing::warn!("lost the NATS connection; serving local clients, catching up when it returns"),
                        other => tracing::debug!(event = %other, "NATS event"),
                    }
                }
            })
            .connect(cfg.url)
            .await
            .map_err(|e| e.to_string())?;
        let (publish, mut queue) = mpsc::channel::<(String, Bytes)>(PUBLISH_QUEUE);
        let publisher = client.clone();
        tokio::spawn(async move {
            while let Some((subject, payload)) = queue.recv().await {
                if let Err(e) = publisher.publish(subject, payload).await {
                    metrics::counter!("tandem_fanout_publish_errors_total").increment(1);
                    tracing::debug!(error = %e, "NATS publish failed");
                }
            }
        });
        Ok(Arc::new(NatsFanout {
            client,
            prefix: cfg.prefix,
            publish,
            connected,
            drop_publishes: cfg.drop_publishes,
            signer: Signer::new(&cfg.secret),
        }))
    }

    fn subject(&self, doc: &str) -> String {
        format!("{}.doc.{doc}", self.prefix)
    }

    fn presence_subject(&self, doc: &str) -> String {
        format!("{}.presence.{doc}", self.prefix)
    }

    fn access_subject(&self) -> String {
        format!("{}.access", self.prefix)
    }

    /// Signs and queues a message; never blocks (a full queue drops it, counted).
    fn send(&self, subject: String, payload: &[u8]) {
        let signed = self.signer.sign(&subject, payload);
        if self.publish.try_send((subject, signed)).is_err() {
            metrics::counter!("tandem_fanout_dropped_total").increment(1);
        }
    }

    /// Applies access changes and comment notices published by any node (this one included:
    /// applying one twice is harmless) to this node's open sockets.
    pub fn listen_for_cluster_events(
        &self,
        auth: Arc<Auth>,
        rooms: tandem_core::room::Rooms,
        notifier: Arc<crate::notify::Notifier>,
    ) {
        let client = self.client.clone();
        let (subject, signer) = (self.access_subject(), self.signer.clone());
        tokio::spawn(async move {
            let mut sub = match client.subscribe(subject).await {
                Ok(s) => s,
                Err(e) => return tracing::error!(error = %e, "cannot subscribe to access changes"),
            };
            while let Some(m) = sub.next().await {
                let Some(payload) = signer.open(&m.subject, &m.payload) else {
                    continue;
                };
                match serde_json::from_slice::<AccessChange>(&payload) {
                    Ok(AccessChange::CommentsChanged { doc, thread }) => {
                        rooms
                            .notify(&doc, tandem_core::protocol::Ext::Comments { thread })
                            .await
                    }
                    Ok(AccessChange::Renamed { doc, title }) => {
                        rooms
                            .notify(&doc, tandem_core::protocol::Ext::Renamed { title })
                            .await
                    }
                    Ok(AccessChange::Deleted { doc }) => {
                        // Not awaited here: closing waits for the room's in-flight commits.
                        let rooms = rooms.clone();
                        tokio::spawn(async move { rooms.close(&doc, deleted_reason()).await });
                    }
                    Ok(AccessChange::Notified { user }) => notifier.touch_here(user),
                    Ok(change) => auth.apply(change).await,
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed access change"),
                }
            }
        });
    }
}

impl AccessBus for NatsFanout {
    fn publish(&self, change: &AccessChange) {
        if let Ok(payload) = serde_json::to_vec(change) {
            self.send(self.access_subject(), &payload);
        }
    }
}

fn deleted_reason() -> tandem_core::session::CloseReason {
    use tandem_core::session::{close, CloseReason};
    CloseReason::new(close::FORBIDDEN, "document deleted")
}

/// `rev` as 8 big-endian bytes, then the update.
fn encode(rev: u64, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + data.len());
    b.put_u64(rev);
    b.put_slice(data);
    b.freeze()
}

fn decode(payload: &Bytes) -> Option<(u64, Bytes)> {
    if payload.len() < 8 {
        return None;
    }
    let rev = u64::from_be_bytes(payload[..8].try_into().ok()?);
    Some((rev, payload.slice(8..)))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Fanout for NatsFanout {
    fn publish(&self, doc: &str, rev: u64, data: Bytes) {
        if self.drop_publishes {
            return metrics::counter!("tandem_fanout_dropped_total").increment(1);
        }
        self.send(self.subject(doc), &encode(rev, &data));
    }

    fn publish_presence(&self, doc: &str, payload: Bytes) {
        self.send(self.presence_subject(doc), &payload);
    }

    fn subscribe(&self, doc: &str) -> Option<Subscription> {
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_QUEUE);
        let (presence_tx, presence_rx) = mpsc::channel(SUBSCRIPTION_QUEUE);
        let (client, signer) = (self.client.clone(), self.signer.clone());
        let subject = self.subject(doc);
        let mut connected = self.connected.subscribe();
        let revisions = tokio::spawn(async move {
            let mut sub = match client.subscribe(subject).await {
                Ok(s) => s,
                Err(e) => {
                    // The document still works from the store (conflicts and joins catch up).
                    return tracing::warn!(error = %e, "cannot subscribe on NATS");
                }
            };
            loop {
                let event = tokio::select! {
                    m = sub.next() => match m {
                        None => break,
                        Some(m) => match signer.open(&m.subject, &m.payload).as_ref().and_then(decode) {
                            Some((rev, data)) => FanoutEvent::Update { rev, data },
                            None => continue, // forged (counted) or malformed
                        },
                    },
                    r = connected.recv() => match r {
                        Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => FanoutEvent::Resync,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = tx.closed() => break,
                };
                if tx.send(event).await.is_err() {
                    break;
                }
            }
        });
        // Presence in a task of its own, so it never waits behind revisions the actor is slow
        // to take.
        let (client, signer) = (self.client.clone(), self.signer.clone());
        let subject = self.presence_subject(doc);
        let presence = tokio::spawn(async move {
            let mut sub = match client.subscribe(subject).await {
                Ok(s) => s,
                Err(e) => return tracing::warn!(error = %e, "cannot subscribe on NATS"),
            };
            while let Some(m) = sub.next().await {
                if let Some(payload) = signer.open(&m.subject, &m.payload) {
                    if presence_tx.send(payload).await.is_err() {
                        break;
                    }
                }
            }
        });
        Some(Subscription {
            rx,
            presence: presence_rx,
            guard: Box::new((AbortOnDrop(revisions), AbortOnDrop(presence))),
        })
    }

    fn subscribe_all(&self) -> Revisions {
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_QUEUE);
        let client = self.client.clone();
        let prefix = format!("{}.doc.", self.prefix);
        let signer = self.signer.clone();
        let task = tokio::spawn(async move {
            let mut sub = match client.subscribe(format!("{prefix}>")).await {
                Ok(s) => s,
                Err(e) => return tracing::warn!(error = %e, "cannot subscribe on NATS"),
            };
            loop {
                tokio::select! {
                    _ = tx.closed() => break,
                    m = sub.next() => {
                        let Some(m) = m else { break };
                        let Some(doc) = m.subject.strip_prefix(prefix.as_str()) else { continue };
                        let Some((rev, _)) = signer.open(&m.subject, &m.payload).as_ref().and_then(decode) else {
                            continue;
                        };
                        // Full: dropped; the feed's rescan finds the revision in the log.
                        let _ = tx.try_send((doc.to_owned(), rev));
                    }
                }
            }
        });
        Revisions {
            rx,
            guard: Box::new(AbortOnDrop(task)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_roundtrip() {
        let p = super::encode(42, b"update");
        let (rev, data) = super::decode(&p).unwrap();
        assert_eq!((rev, &data[..]), (42, &b"update"[..]));
        assert!(super::decode(&bytes::Bytes::from_static(b"short")).is_none());
    }

    /// A message checks only under the same secret, for the same subject, unchanged.
    #[test]
    fn signatures_bind_the_secret_the_subject_and_the_payload() {
        let (ours, theirs) = (super::Signer::new(b"ours"), super::Signer::new(b"theirs"));
        let signed = ours.sign("t.doc.a", b"payload");
        assert_eq!(&ours.open("t.doc.a", &signed).unwrap()[..], b"payload");
        assert!(ours.open("t.doc.b", &signed).is_none(), "another subject");
        assert!(
            theirs.open("t.doc.a", &signed).is_none(),
            "another deployment"
        );
        let mut tampered = signed.to_vec();
        tampered[0] ^= 1;
        assert!(
            ours.open("t.doc.a", &tampered.into()).is_none(),
            "a changed payload"
        );
        assert!(ours
            .open("t.doc.a", &bytes::Bytes::from_static(b"short"))
            .is_none());
        // An unsigned message that happens to be long enough.
        assert!(ours
            .open("t.doc.a", &bytes::Bytes::from(vec![0u8; 64]))
            .is_none());
    }
}
