//! What an open document holds: its [`ServerDoc`] while anyone writes to it, and until then only
//! its encoded state ("at rest").
//!
//! Most open documents are only read: a link opened and left open, a new document nobody has
//! typed into yet. A `yrs::Doc` costs about 1.4 kB even empty, and for a document with content
//! several times its encoded size; at rest the document costs its encoded state and state
//! vector. What joiners need is served from those: the state vector for the server's sync
//! step 1, the whole state for a client that has nothing, and nothing to do for a client's
//! empty sync step 2. Anything else (an update with content, a reconnecting client's diff, a
//! restore) wakes the document first: the state is loaded into a `ServerDoc`, as a log replay
//! would load it, and the document stays awake while it is open.

use bytes::Bytes;

use crate::doc::{ServerDoc, EMPTY_STATE_VECTOR, EMPTY_UPDATE};
use crate::schema::DocSchema;
use crate::store::{LoadedDoc, StoreError};

/// Boxed while awake, so that at rest the room holds only what rest needs.
pub(crate) enum Content {
    Awake(Box<ServerDoc>),
    AtRest(Rest),
}

pub(crate) struct Rest {
    /// The whole state, encoded, as it is durable at `rev`.
    state: Bytes,
    /// Its encoded state vector.
    sv: Vec<u8>,
    rev: u64,
    /// What the document's client updates must keep to, once it is awake.
    schema: Option<DocSchema>,
}

impl Content {
    /// What `loaded` holds, and the revision it reaches: at rest when it is one snapshot or
    /// nothing at all.
    pub(crate) fn load(
        loaded: &LoadedDoc,
        schema: Option<DocSchema>,
    ) -> Result<(Self, u64), StoreError> {
        match ServerDoc::at_rest(loaded)? {
            Some((state, sv, rev)) => {
                let rest = Rest {
                    state,
                    sv,
                    rev,
                    schema,
                };
                Ok((Self::AtRest(rest), rev))
            }
            None => {
                let (doc, rev) = ServerDoc::load_with_schema(loaded, schema)?;
                Ok((Self::Awake(Box::new(doc)), rev))
            }
        }
    }

    #[cfg(test)]
    fn is_at_rest(&self) -> bool {
        matches!(self, Self::AtRest(_))
    }

    /// The document, woken if it was at rest.
    pub(crate) fn awake(&mut self) -> &mut ServerDoc {
        if let Self::AtRest(rest) = self {
            tracing::debug!(revision = rest.rev, "woken by a change");
            let schema = rest.schema.take();
            let doc = ServerDoc::from_durable(&rest.state, rest.rev, schema);
            *self = Self::Awake(Box::new(doc));
        }
        match self {
            Self::Awake(doc) => doc,
            Self::AtRest(_) => unreachable!("woken above"),
        }
    }

    /// The encoded state vector (what a sync step 1 sends).
    pub(crate) fn state_vector(&self) -> Vec<u8> {
        match self {
            Self::Awake(doc) => doc.state_vector(),
            Self::AtRest(rest) => rest.sv.clone(),
        }
    }

    /// What a peer with the encoded state vector `sv` lacks (a sync step 2): all of it for a
    /// peer that has nothing.
    pub(crate) fn diff(&mut self, sv: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Self::AtRest(rest) if sv == EMPTY_STATE_VECTOR => Ok(rest.state.to_vec()),
            _ => self.awake().diff(sv),
        }
    }

    /// The whole state, encoded once per change.
    pub(crate) fn encoded_state(&mut self) -> Bytes {
        match self {
            Self::Awake(doc) => doc.encoded_state(),
            Self::AtRest(rest) => rest.state.clone(),
        }
    }

    /// A client's update, as [`ServerDoc::apply_client`]; one that holds nothing changes nothing
    /// and leaves the document at rest.
    pub(crate) fn apply_client(&mut self, bytes: &[u8]) -> Result<bool, crate::doc::ApplyError> {
        match self {
            Self::AtRest(_) if bytes == EMPTY_UPDATE => Ok(false),
            _ => self.awake().apply_client(bytes),
        }
    }

    /// True if applying `bytes` would change nothing, as [`ServerDoc::brings_nothing_new`].
    pub(crate) fn brings_nothing_new(&mut self, bytes: &[u8]) -> Result<bool, String> {
        match self {
            Self::AtRest(_) if bytes == EMPTY_UPDATE => Ok(true),
            _ => self.awake().brings_nothing_new(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use yrs::{GetString, Text, Transact};

    use super::*;

    fn snapshot_of(doc: &ServerDoc, rev: u64) -> LoadedDoc {
        let (raw, _) = doc.snapshot_state().unwrap();
        LoadedDoc {
            snapshot: Some((rev, zstd::encode_all(&raw[..], 3).unwrap().into())),
            updates: Vec::new(),
        }
    }

    /// A document holding `text` in a `Y.Text`, as a client's update made it, and that update
    /// (made by yrs client `client`).
    fn typed(client: u64, text: &str) -> (ServerDoc, Vec<u8>) {
        let writer = yrs::Doc::with_client_id(client);
        let t = writer.get_or_insert_text("t");
        let mut txn = writer.transact_mut();
        t.insert(&mut txn, 0, text);
        let update = txn.encode_update_v1();
        let mut doc = ServerDoc::new();
        doc.apply_client(&update).unwrap();
        (doc, update)
    }

    fn text_of(doc: &ServerDoc) -> String {
        let t = doc.doc().get_or_insert_text("t");
        let txn = doc.doc().transact();
        t.get_string(&txn)
    }

    /// A new document and a lone snapshot load at rest, and what a joiner with nothing asks for
    /// (the state vector, the whole state, its empty sync step 2) is what an awake document
    /// gives, without waking it.
    #[test]
    fn joiners_with_nothing_are_served_at_rest() {
        let (mut content, rev) = Content::load(&LoadedDoc::default(), None).unwrap();
        assert_eq!(rev, 0);
        assert!(content.is_at_rest());
        assert_eq!(content.state_vector(), ServerDoc::new().state_vector());
        assert_eq!(content.diff(&EMPTY_STATE_VECTOR).unwrap(), EMPTY_UPDATE);
        assert_eq!(content.apply_client(&EMPTY_UPDATE), Ok(false));
        assert_eq!(content.brings_nothing_new(&EMPTY_UPDATE), Ok(true));
        assert!(content.is_at_rest());

        let (mut doc, _) = typed(1, "hello");
        let (mut content, rev) = Content::load(&snapshot_of(&doc, 7), None).unwrap();
        assert_eq!(rev, 7);
        assert!(content.is_at_rest());
        assert_eq!(content.state_vector(), doc.state_vector());
        let full = content.diff(&EMPTY_STATE_VECTOR).unwrap();
        let joiner = ServerDoc::from_state(&full).unwrap();
        assert_eq!(text_of(&joiner), "hello");
        assert_eq!(joiner.state_vector(), doc.state_vector());
        assert_eq!(content.encoded_state().len(), doc.encoded_state().len());
        assert!(content.is_at_rest());
    }

    /// An update with content, a reconnecting client's state vector or a load with updates after
    /// the snapshot makes a document awake, holding what it held at rest.
    #[test]
    fn a_change_or_a_diff_wakes_it_with_its_content() {
        let (doc, _) = typed(1, "hello");
        let (mut content, _) = Content::load(&snapshot_of(&doc, 3), None).unwrap();
        let (_, more) = typed(2, "more");
        assert_eq!(content.apply_client(&more), Ok(true));
        assert!(!content.is_at_rest());
        let woken = text_of(content.awake());
        assert!(woken.contains("hello") && woken.contains("more"), "{woken}");

        let (mut content, _) = Content::load(&snapshot_of(&doc, 3), None).unwrap();
        let sv = doc.state_vector();
        assert_eq!(content.diff(&sv).unwrap(), doc.diff(&sv).unwrap());
        assert!(!content.is_at_rest());

        let mut loaded = snapshot_of(&doc, 3);
        loaded.updates.push((4, more.into()));
        let (content, rev) = Content::load(&loaded, None).unwrap();
        assert_eq!(rev, 4);
        assert!(!content.is_at_rest());
    }

    /// A snapshot that does not decode is loaded awake, as a replay would load it (which logs
    /// what did not apply).
    #[test]
    fn a_snapshot_that_does_not_decode_is_replayed() {
        let loaded = LoadedDoc {
            snapshot: Some((2, zstd::encode_all(&[9u8, 9, 9][..], 3).unwrap().into())),
            updates: Vec::new(),
        };
        let (content, rev) = Content::load(&loaded, None).unwrap();
        assert_eq!(rev, 2);
        assert!(!content.is_at_rest());
    }
}
