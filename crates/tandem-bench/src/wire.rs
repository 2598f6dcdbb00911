//! How each server under test frames the Yjs protocol. Tandem and y-websocket carry one Yjs
//! message per frame on `/…/{doc}`; Hocuspocus prefixes every message with the document name and
//! wants an auth message before anything else.

use tandem_core::protocol::SUBPROTOCOL;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket to `ws://…/ws/{doc}` (`url` is `ws://host:port`) speaking `tandem.v1`, Nagle off.
pub async fn connect_tandem(url: &str, doc: &str) -> anyhow::Result<Socket> {
    let mut req = format!("{url}/ws/{doc}").into_client_request()?;
    req.headers_mut()
        .insert("sec-websocket-protocol", SUBPROTOCOL.parse()?);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true).await?;
    Ok(ws)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Tandem,
    YWebsocket,
    Hocuspocus,
    /// `tandem-bench serve-floor`: y-websocket's work alone, on one thread ([`crate::floor`]).
    Relay,
    /// `tandem-bench serve-floor --durable`: the relay with a synced log and acks.
    Floor,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Tandem => "tandem",
            Kind::YWebsocket => "y-websocket",
            Kind::Hocuspocus => "hocuspocus",
            Kind::Relay => "relay",
            Kind::Floor => "floor",
        }
    }

    pub fn url(self, addr: &str, doc: &str) -> String {
        match self {
            Kind::Tandem | Kind::Relay | Kind::Floor => format!("ws://{addr}/ws/{doc}"),
            Kind::YWebsocket => format!("ws://{addr}/{doc}"),
            Kind::Hocuspocus => format!("ws://{addr}/"),
        }
    }

    /// Whether the server speaks `tandem.v1` (acks each update once it is durable).
    pub fn acks(self) -> bool {
        matches!(self, Kind::Tandem | Kind::Floor)
    }

    /// Frames an encoded Yjs message for the wire.
    pub fn frame(self, doc: &str, msg: &[u8]) -> Vec<u8> {
        match self {
            Kind::Hocuspocus => {
                let mut out = Vec::with_capacity(msg.len() + doc.len() + 2);
                out.write_string(doc);
                out.extend_from_slice(msg);
                out
            }
            _ => msg.to_vec(),
        }
    }

    /// Messages to send right after connecting, before sync step 1.
    pub fn preamble(self, doc: &str) -> Vec<Vec<u8>> {
        match self {
            // Auth (2), token (0), empty token.
            Kind::Hocuspocus => vec![self.frame(doc, &[2, 0, 0])],
            _ => vec![],
        }
    }

    /// Strips the framing; returns the Yjs message (Hocuspocus' SyncReply (4) becomes sync (0)).
    pub fn unframe(self, bytes: &[u8]) -> Option<Vec<u8>> {
        match self {
            Kind::Hocuspocus => {
                let mut cur = Cursor::new(bytes);
                cur.read_string().ok()?;
                let mut rest = bytes[cur.next..].to_vec();
                if rest.first() == Some(&4) {
                    rest[0] = 0;
                }
                Some(rest)
            }
            _ => Some(bytes.to_vec()),
        }
    }
}

/// The first struct's (client, clock) of a v1 update: enough to identify a one-insert update
/// without decoding it (a receiver in this generator never applies what it receives).
pub fn update_id(update: &[u8]) -> Option<(u64, u64)> {
    let mut cur = Cursor::new(update);
    let clients: u32 = cur.read_var().ok()?;
    if clients == 0 {
        return None;
    }
    let _structs: u32 = cur.read_var().ok()?;
    let client: u64 = cur.read_var().ok()?;
    let clock: u64 = cur.read_var().ok()?;
    Some((client, clock))
}
