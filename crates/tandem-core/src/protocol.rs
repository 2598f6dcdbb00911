//! Wire codec: the Yjs sync/awareness messages exactly as y-websocket frames them, plus Tandem's
//! `tandem.v1` extensions under one outer message type.
//!
//! Owns only bytes ⇄ [`Message`]. It knows nothing of sessions, documents or sockets; every
//! decode error is a [`ProtocolError`] whose text is safe to send back to the client.
//! The byte layout is documented in `docs/protocol.md`.

use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;

/// Outer message types (first varuint of every frame).
pub const MSG_SYNC: u32 = 0;
pub const MSG_AWARENESS: u32 = 1;
pub const MSG_QUERY_AWARENESS: u32 = 3;
pub const MSG_TANDEM: u32 = 100;

/// Sync sub-types.
pub const SYNC_STEP1: u32 = 0;
pub const SYNC_STEP2: u32 = 1;
pub const SYNC_UPDATE: u32 = 2;

/// Tandem extension kinds (second varuint after [`MSG_TANDEM`]).
pub const EXT_HELLO: u32 = 0;
pub const EXT_ACK: u32 = 1;
pub const EXT_ERROR: u32 = 2;
pub const EXT_DRAIN: u32 = 3;
pub const EXT_AUTH: u32 = 4;
pub const EXT_COMMENTS: u32 = 5;
pub const EXT_RENAMED: u32 = 6;
pub const EXT_PART: u32 = 7;

/// The WebSocket subprotocol that turns the extensions on.
pub const SUBPROTOCOL: &str = "tandem.v1";
/// Version carried in the hello. 2 added [`Ext::Part`]: a client splits a message above the
/// cap only when the server says 2 or more.
pub const PROTOCOL_VERSION: u32 = 2;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Sync step 1: the sender's encoded state vector.
    SyncStep1(Vec<u8>),
    /// Sync step 2: an update covering what the receiver lacked.
    SyncStep2(Vec<u8>),
    /// An incremental document update.
    Update(Vec<u8>),
    /// An awareness (presence) update, still encoded.
    Awareness(Vec<u8>),
    /// Ask the server for every known awareness state.
    QueryAwareness,
    /// A `tandem.v1` extension message.
    Ext(Ext),
}

/// The `tandem.v1` extension messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ext {
    Hello {
        version: u32,
        server_id: String,
        revision: u64,
        max_message: u64,
    },
    Ack {
        revision: u64,
    },
    Error {
        code: u32,
        message: String,
    },
    Drain {
        reconnect_after_ms: u64,
    },
    Auth {
        token: String,
    },
    /// Server → client: a comment thread of this document changed (fetch the comments again).
    Comments {
        thread: String,
    },
    /// Server → client: the document was renamed (its new title).
    Renamed {
        title: String,
    },
    /// Client → server: the next piece of one sync step 2 or update message (its whole encoded
    /// frame, `total` bytes) too large to send as one frame. Pieces arrive in order, each
    /// acknowledged; the last completes the message, which is then handled like any other.
    Part {
        total: u64,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("empty message")]
    Empty,
    #[error("truncated or malformed {0}")]
    Malformed(&'static str),
    #[error("unknown message type {0}")]
    UnknownType(u32),
    #[error("unknown sync message type {0}")]
    UnknownSyncType(u32),
    #[error("unknown tandem extension kind {0}")]
    UnknownExtension(u32),
    #[error("{0} trailing bytes after message")]
    TrailingBytes(usize),
    #[error("malformed awareness update")]
    Awareness,
}

impl Message {
    /// Decodes exactly one message; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Message, ProtocolError> {
        if bytes.is_empty() {
            return Err(ProtocolError::Empty);
        }
        let mut cur = Cursor::new(bytes);
        let msg = match read_u32(&mut cur, "message type")? {
            MSG_SYNC => match read_u32(&mut cur, "sync type")? {
                SYNC_STEP1 => Message::SyncStep1(read_yjs(&mut cur, "state vector", 2)?),
                SYNC_STEP2 => Message::SyncStep2(read_yjs(&mut cur, "sync step 2", 3)?),
                SYNC_UPDATE => Message::Update(read_yjs(&mut cur, "update", 3)?),
                other => return Err(ProtocolError::UnknownSyncType(other)),
            },
            MSG_AWARENESS => Message::Awareness(read_buf(&mut cur, "awareness update")?),
            MSG_QUERY_AWARENESS => Message::QueryAwareness,
            MSG_TANDEM => Message::Ext(decode_ext(&mut cur)?),
            other => return Err(ProtocolError::UnknownType(other)),
        };
        let rest = bytes.len() - cur.next;
        if rest != 0 {
            return Err(ProtocolError::TrailingBytes(rest));
        }
        Ok(msg)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Message::SyncStep1(sv) => sync(&mut out, SYNC_STEP1, sv),
            Message::SyncStep2(u) => sync(&mut out, SYNC_STEP2, u),
            Message::Update(u) => sync(&mut out, SYNC_UPDATE, u),
            Message::Awareness(a) => {
                out.write_var(MSG_AWARENESS);
                out.write_buf(a);
            }
            Message::QueryAwareness => out.write_var(MSG_QUERY_AWARENESS),
            Message::Ext(ext) => encode_ext(&mut out, ext),
        }
        out
    }
}

fn sync(out: &mut Vec<u8>, kind: u32, payload: &[u8]) {
    out.write_var(MSG_SYNC);
    out.write_var(kind);
    out.write_buf(payload);
}

fn decode_ext(cur: &mut Cursor) -> Result<Ext, ProtocolError> {
    Ok(match read_u32(cur, "extension kind")? {
        EXT_HELLO => Ext::Hello {
            version: read_u32(cur, "hello")?,
            server_id: read_string(cur, "hello")?,
            revision: read_u64(cur, "hello")?,
            max_message: read_u64(cur, "hello")?,
        },
        EXT_ACK => Ext::Ack {
            revision: read_u64(cur, "ack")?,
        },
        EXT_ERROR => Ext::Error {
            code: read_u32(cur, "error")?,
            message: read_string(cur, "error")?,
        },
        EXT_DRAIN => Ext::Drain {
            reconnect_after_ms: read_u64(cur, "drain")?,
        },
        EXT_AUTH => Ext::Auth {
            token: read_string(cur, "auth")?,
        },
        EXT_COMMENTS => Ext::Comments {
            thread: read_string(cur, "comments")?,
        },
        EXT_RENAMED => Ext::Renamed {
            title: read_string(cur, "renamed")?,
        },
        EXT_PART => Ext::Part {
            total: read_u64(cur, "part")?,
            bytes: read_buf(cur, "part")?,
        },
        other => return Err(ProtocolError::UnknownExtension(other)),
    })
}

fn encode_ext(out: &mut Vec<u8>, ext: &Ext) {
    out.write_var(MSG_TANDEM);
    match ext {
        Ext::Hello {
            version,
            server_id,
            revision,
            max_message,
        } => {
            out.write_var(EXT_HELLO);
            out.write_var(*version);
            out.write_string(server_id);
            out.write_var(*revision);
            out.write_var(*max_message);
        }
        Ext::Ack { revision } => {
            out.write_var(EXT_ACK);
            out.write_var(*revision);
        }
        Ext::Error { code, message } => {
            out.write_var(EXT_ERROR);
            out.write_var(*code);
            out.write_string(message);
        }
        Ext::Drain { reconnect_after_ms } => {
            out.write_var(EXT_DRAIN);
            out.write_var(*reconnect_after_ms);
        }
        Ext::Auth { token } => {
            out.write_var(EXT_AUTH);
            out.write_string(token);
        }
        Ext::Comments { thread } => {
            out.write_var(EXT_COMMENTS);
            out.write_string(thread);
        }
        Ext::Renamed { title } => {
            out.write_var(EXT_RENAMED);
            out.write_string(title);
        }
        Ext::Part { total, bytes } => {
            out.write_var(EXT_PART);
            out.write_var(*total);
            out.write_buf(bytes);
        }
    }
}

fn read_u32(cur: &mut Cursor, what: &'static str) -> Result<u32, ProtocolError> {
    cur.read_var::<u32>()
        .map_err(|_| ProtocolError::Malformed(what))
}

fn read_u64(cur: &mut Cursor, what: &'static str) -> Result<u64, ProtocolError> {
    cur.read_var::<u64>()
        .map_err(|_| ProtocolError::Malformed(what))
}

fn read_buf(cur: &mut Cursor, what: &'static str) -> Result<Vec<u8>, ProtocolError> {
    cur.read_buf()
        .map(|b| b.to_vec())
        .map_err(|_| ProtocolError::Malformed(what))
}

/// Reads a Yjs payload (a state vector, or a v1 update) and refuses it if its leading count
/// (entries; clients) is more than its bytes could hold, at `min_entry` bytes an entry. yrs
/// reserves a hash table for that count before reading any entry: seven bytes claiming 239
/// million clients made it reserve and zero 550 MB (found by the `apply_update` fuzzer).
fn read_yjs(
    cur: &mut Cursor,
    what: &'static str,
    min_entry: usize,
) -> Result<Vec<u8>, ProtocolError> {
    let buf = read_buf(cur, what)?;
    let mut inner = Cursor::new(&buf);
    if let Ok(count) = inner.read_var::<u64>() {
        let room = (buf.len() - inner.next) / min_entry;
        if count > room as u64 {
            return Err(ProtocolError::Malformed(what));
        }
    }
    Ok(buf)
}

fn read_string(cur: &mut Cursor, what: &'static str) -> Result<String, ProtocolError> {
    cur.read_string()
        .map(str::to_owned)
        .map_err(|_| ProtocolError::Malformed(what))
}

/// One entry of an awareness update: a Yjs client id, its clock and its JSON state
/// (`"null"` means the client left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwarenessEntry {
    pub client_id: u64,
    pub clock: u64,
    pub state: String,
}

/// Decodes the body of an awareness message (y-protocols' `encodeAwarenessUpdate` layout).
pub fn decode_awareness(bytes: &[u8]) -> Result<Vec<AwarenessEntry>, ProtocolError> {
    let mut cur = Cursor::new(bytes);
    let n: u32 = cur.read_var().map_err(|_| ProtocolError::Awareness)?;
    // Each entry takes at least 3 bytes, so this bound rejects absurd counts before allocating.
    if n as usize > bytes.len() / 3 + 1 {
        return Err(ProtocolError::Awareness);
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let client_id = cur
            .read_var::<u64>()
            .map_err(|_| ProtocolError::Awareness)?;
        let clock = cur
            .read_var::<u64>()
            .map_err(|_| ProtocolError::Awareness)?;
        let state = cur
            .read_string()
            .map_err(|_| ProtocolError::Awareness)?
            .to_owned();
        out.push(AwarenessEntry {
            client_id,
            clock,
            state,
        });
    }
    if cur.next != bytes.len() {
        return Err(ProtocolError::Awareness);
    }
    Ok(out)
}

pub fn encode_awareness<'a>(entries: impl ExactSizeIterator<Item = &'a AwarenessEntry>) -> Vec<u8> {
    let mut out = Vec::new();
    out.write_var(entries.len() as u32);
    for e in entries {
        out.write_var(e.client_id);
        out.write_var(e.clock);
        out.write_string(&e.state);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_larger_than_the_payload_could_hold_are_malformed() {
        let bomb = [0xfa, 0xfe, 0xfe, 0x71, 0x00, 0x26, 0x61];
        for msg in [
            Message::Update(bomb.to_vec()),
            Message::SyncStep2(bomb.to_vec()),
            Message::SyncStep1(bomb.to_vec()),
        ] {
            assert!(matches!(
                Message::decode(&msg.encode()),
                Err(ProtocolError::Malformed(_))
            ));
        }
        // Real payloads pass: an empty update, an empty state vector, and real ones.
        let doc = yrs::Doc::with_client_id(1); // a client's document
        let t = doc.get_or_insert_text("t");
        let update = {
            use yrs::{Text, Transact};
            let mut txn = doc.transact_mut();
            t.insert(&mut txn, 0, "x");
            txn.encode_update_v1()
        };
        let sv = {
            use yrs::updates::encoder::Encode;
            use yrs::{ReadTxn, Transact};
            doc.transact().state_vector().encode_v1()
        };
        for msg in [
            Message::Update(vec![0, 0]),
            Message::SyncStep1(vec![0]),
            Message::Update(update),
            Message::SyncStep1(sv),
        ] {
            assert_eq!(Message::decode(&msg.encode()).unwrap(), msg);
        }
    }

    #[test]
    fn roundtrip_every_message() {
        let msgs = vec![
            Message::SyncStep1(vec![0]),
            Message::SyncStep2(vec![1, 2, 3, 4, 5]),
            Message::Update(vec![9; 300]),
            Message::Awareness(encode_awareness(
                [AwarenessEntry {
                    client_id: 7,
                    clock: 2,
                    state: "{}".into(),
                }]
                .iter(),
            )),
            Message::QueryAwareness,
            Message::Ext(Ext::Hello {
                version: 1,
                server_id: "n1".into(),
                revision: 42,
                max_message: 8 << 20,
            }),
            Message::Ext(Ext::Ack { revision: u64::MAX }),
            Message::Ext(Ext::Error {
                code: 4400,
                message: "bad".into(),
            }),
            Message::Ext(Ext::Drain {
                reconnect_after_ms: 500,
            }),
            Message::Ext(Ext::Auth { token: "t".into() }),
            Message::Ext(Ext::Comments {
                thread: "th".into(),
            }),
            Message::Ext(Ext::Renamed {
                title: "Plans".into(),
            }),
            Message::Ext(Ext::Part {
                total: 9 << 20,
                bytes: vec![0, 2, 7],
            }),
        ];
        for m in msgs {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn matches_y_websocket_bytes() {
        // y-websocket: [messageSync=0, messageYjsSyncStep1=0, len=1, sv=0]
        assert_eq!(Message::SyncStep1(vec![0]).encode(), vec![0, 0, 1, 0]);
        assert_eq!(Message::QueryAwareness.encode(), vec![3]);
        // docs/protocol.md: `64 07 0a 03 00 02 05` is a 3-byte piece of a 10-byte message.
        let part = Ext::Part {
            total: 10,
            bytes: vec![0, 2, 5],
        };
        assert_eq!(Message::Ext(part).encode(), vec![0x64, 7, 10, 3, 0, 2, 5]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(Message::decode(&[]), Err(ProtocolError::Empty));
        assert_eq!(Message::decode(&[7]), Err(ProtocolError::UnknownType(7)));
        assert_eq!(
            Message::decode(&[0, 9, 0]),
            Err(ProtocolError::UnknownSyncType(9))
        );
        assert_eq!(
            Message::decode(&[0, 2, 5, 1]),
            Err(ProtocolError::Malformed("update"))
        );
        assert_eq!(
            Message::decode(&[0xff, 0xff]),
            Err(ProtocolError::Malformed("message type"))
        );
        assert_eq!(
            Message::decode(&[0, 0, 1, 0, 0]),
            Err(ProtocolError::TrailingBytes(1))
        );
        assert_eq!(
            Message::decode(&[100, 77]),
            Err(ProtocolError::UnknownExtension(77))
        );
        assert!(decode_awareness(&[200, 1]).is_err());
    }
}
