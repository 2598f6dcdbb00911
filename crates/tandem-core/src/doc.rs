//! [`ServerDoc`]: the server's copy of one document, and the only place a `yrs::Doc` is made
//! (a clippy `disallowed-methods` rule keeps `yrs::Doc::new` out of the rest of the crates).
//!
//! It offers two ways in. Client input goes through [`ServerDoc::apply_client`]: the guards in
//! [`crate::apply`], yrs's own panics caught, and a typed answer ([`ApplyError`]) saying whether
//! memory can still be trusted. Data that is already durable (log replay, snapshots, other
//! nodes' revisions, past states read for history) goes through the trusted paths, which log
//! what did not apply cleanly rather than refusing it: it was accepted once and the log is the
//! truth. Everything else reads the document through [`ServerDoc::doc`], never writing to it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

pub use crate::apply::ApplyError;

use crate::apply::{apply_checked, brings_nothing_new, Proven};
use crate::schema::{DocSchema, Mention, SchemaWatch};
use crate::store::{LoadedDoc, StoreError};
use crate::suggest::{Refusal, Repair, Shadow};

/// The XML fragment the web editor writes (Tiptap's Collaboration extension).
pub const FRAGMENT: &str = "default";

/// An update holding nothing (no structs, no deletions): an empty document's whole state, and
/// what a client sends as its sync step 2 when it has nothing the server lacks.
pub const EMPTY_UPDATE: [u8; 2] = [0, 0];

/// The state vector of a document that holds nothing.
pub const EMPTY_STATE_VECTOR: [u8; 1] = [0];

/// A `yrs::Doc` with the server's options. The server stores and relays what clients wrote and
/// makes no edits of its own: yrs would otherwise delete formatting marks it finds redundant
/// after every client update to formatted text (`Options::cleanup_formatting`), deletions in no
/// log entry, never broadcast, and dependent on how updates were grouped into transactions (a
/// node replaying a coalesced log entry could delete other marks than the node that applied
/// the updates one by one). Clients clean up their own formatting.
///
/// The editor's fragment is typed from the start (no state changes: a root type is no item), so
/// that the nesting check can climb from a top-level node to it in one step.
pub(crate) fn yrs_doc() -> Doc {
    let doc = Doc::with_options(yrs::Options {
        cleanup_formatting: false,
        ..yrs::Options::default()
    });
    doc.get_or_insert_xml_fragment(FRAGMENT);
    doc
}

/// One document as the server holds it, with what its placement checks have proven.
pub struct ServerDoc {
    doc: Doc,
    proven: Proven,
    /// The editor's schema, checked on client updates (`None`: a plain Yjs relay).
    schema: Option<SchemaWatch>,
    /// The whole state as last encoded; every `&mut self` method drops it (reads of a large
    /// document that is not changing, such as twenty exports at once, encode it once).
    encoded: Option<bytes::Bytes>,
    /// The mentions the last client update added (see [`Self::take_mentions`]).
    mentions: Vec<Mention>,
    /// The copy suggesters' updates are tried on first (made when the first one arrives).
    shadow: Option<Shadow>,
    /// The server's own edit that the last accepted suggestion called for (see
    /// [`crate::suggest`]'s `Repair`), to be recorded after it.
    repair: Option<Vec<u8>>,
}

impl Default for ServerDoc {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ServerDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerDoc").finish_non_exhaustive()
    }
}

impl ServerDoc {
    /// An empty document.
    pub fn new() -> Self {
        Self::with_schema(None)
    }

    /// An empty document whose client updates must keep to `schema`.
    pub fn with_schema(schema: Option<DocSchema>) -> Self {
        let doc = yrs_doc();
        let schema = schema.map(|s| SchemaWatch::install(&doc, s));
        Self {
            doc,
            proven: Proven::default(),
            schema,
            encoded: None,
            mentions: Vec::new(),
            shadow: None,
            repair: None,
        }
    }

    /// The document a load describes (snapshot, then the log after it), and the revision it
    /// reaches. Used to open a document and to show it as it was at a past revision.
    pub fn load(loaded: &LoadedDoc) -> Result<(Self, u64), StoreError> {
        Self::load_with_schema(loaded, None)
    }

    /// [`Self::load`], and later client updates must keep to `schema`.
    pub fn load_with_schema(
        loaded: &LoadedDoc,
        schema: Option<DocSchema>,
    ) -> Result<(Self, u64), StoreError> {
        let mut doc = Self::with_schema(schema);
        let mut rev = 0;
        if let Some((r, state)) = &loaded.snapshot {
            let raw = zstd::decode_all(&state[..])
                .map_err(|e| StoreError::Corrupt(format!("snapshot {r}: {e}")))?;
            doc.apply_logged(&raw, *r);
            rev = *r;
        }
        for (r, data) in &loaded.updates {
            if *r != rev + 1 {
                return Err(StoreError::Corrupt(format!(
                    "op log gap: expected revision {}, found {r}",
                    rev + 1
                )));
            }
            doc.apply_logged(data, *r);
            rev = *r;
        }
        Ok((doc, rev))
    }

    /// What a load that is one snapshot (or nothing at all: a new document) holds, without
    /// making a document of it: the encoded state, its encoded state vector and its revision.
    /// `None` when updates follow the snapshot, which only a document can merge.
    pub fn at_rest(loaded: &LoadedDoc) -> Result<Option<(bytes::Bytes, Vec<u8>, u64)>, StoreError> {
        if !loaded.updates.is_empty() {
            return Ok(None);
        }
        let Some((rev, state)) = &loaded.snapshot else {
            return Ok(Some((
                EMPTY_UPDATE[..].into(),
                EMPTY_STATE_VECTOR.to_vec(),
                0,
            )));
        };
        let corrupt = |e: String| StoreError::Corrupt(format!("snapshot {rev}: {e}"));
        let raw = zstd::decode_all(&state[..]).map_err(|e| corrupt(e.to_string()))?;
        // A snapshot never holds pending structs (`snapshot_state`), so the bound on its
        // clocks is the document's state vector. One that does not decode is left to the
        // replay, which logs it.
        let Ok(update) = Update::decode_v1(&raw) else {
            return Ok(None);
        };
        Ok(Some((raw.into(), update.state_vector().encode_v1(), *rev)))
    }

    /// The document an encoded state that is already durable describes (one
    /// [`Self::at_rest`] gave), whose later client updates must keep to `schema`.
    pub fn from_durable(state: &[u8], rev: u64, schema: Option<DocSchema>) -> Self {
        let mut doc = Self::with_schema(schema);
        doc.apply_logged(state, rev);
        doc
    }

    /// A document holding an encoded state the server made itself (a `/state` read, a past
    /// revision). Refuses bytes that do not decode or apply.
    pub fn from_state(state: &[u8]) -> Result<Self, String> {
        let doc = Self::new();
        let update = Update::decode_v1(state).map_err(|e| e.to_string())?;
        let applied = catch_unwind(AssertUnwindSafe(|| {
            doc.doc.transact_mut().apply_update(update)
        }));
        match applied {
            Ok(Ok(())) => Ok(doc),
            Ok(Err(e)) => Err(e.to_string()),
            Err(panic) => Err(panic_message(&panic)),
        }
    }

    /// The mentions (accounts named by `<mention>` nodes) the last accepted client update added;
    /// the caller asks whether its author may make them.
    pub fn take_mentions(&mut self) -> Vec<Mention> {
        std::mem::take(&mut self.mentions)
    }

    /// Applies a client's update through every guard. `Ok(changed)`; a refusal leaves memory
    /// consistent, a poisoning does not (the caller rebuilds the document from the log).
    pub fn apply_client(&mut self, bytes: &[u8]) -> Result<bool, ApplyError> {
        let applied = self.apply_guarded(bytes);
        self.follow(bytes);
        applied
    }

    /// Applies the update of a connection that may only suggest, written by account `user`:
    /// refused, with nothing applied, unless everything it changes in the editor's document is
    /// that account's suggestion (see [`crate::suggest`]); then applied as [`Self::apply_client`].
    pub fn apply_suggestion(&mut self, bytes: &[u8], user: &str) -> Result<bool, Refusal> {
        let shadow = match &mut self.shadow {
            Some(shadow) => shadow,
            None => {
                let state = self.encode_state();
                let shadow =
                    Shadow::new(&state).map_err(|why| Refusal::Apply(ApplyError::Poisoned(why)))?;
                self.shadow.insert(shadow)
            }
        };
        let repairs = match shadow.check(&self.doc, bytes, user) {
            Ok(repairs) => repairs,
            Err(refusal) => {
                self.shadow = None;
                return Err(refusal);
            }
        };
        let changed = self.apply_guarded(bytes).map_err(|e| {
            self.shadow = None;
            Refusal::Apply(e)
        })?;
        self.repair = Repair::apply(&self.doc, &repairs);
        if let Some(repair) = self.repair.clone() {
            self.follow(&repair);
        }
        Ok(changed)
    }

    /// The server's own edit that puts back formatting of others' text the last accepted
    /// suggestion changed as a side effect (see [`crate::suggest`]): the caller records it as a
    /// revision of its own, right after the suggestion.
    pub fn take_repair(&mut self) -> Option<Vec<u8>> {
        self.repair.take()
    }

    /// Tells the suggestion copy, if there is one, about an update the document took.
    fn follow(&mut self, update: &[u8]) {
        if let Some(shadow) = &mut self.shadow {
            if !shadow.follow(bytes::Bytes::copy_from_slice(update)) {
                self.shadow = None;
            }
        }
    }

    fn apply_guarded(&mut self, bytes: &[u8]) -> Result<bool, ApplyError> {
        self.encoded = None;
        self.mentions.clear();
        let (doc, proven) = (&self.doc, &mut self.proven);
        let mut apply = || {
            catch_unwind(AssertUnwindSafe(|| apply_checked(doc, bytes, proven))).unwrap_or_else(
                |panic| {
                    Err(ApplyError::Poisoned(format!(
                        "yrs panicked: {}",
                        panic_message(&panic)
                    )))
                },
            )
        };
        let Some(watch) = &self.schema else {
            return apply();
        };
        match watch.check(apply) {
            (_, Some(why), _) => Err(ApplyError::Poisoned(format!(
                "the editor's schema does not allow {why}"
            ))),
            (result, None, mentions) => {
                self.mentions = mentions;
                result
            }
        }
    }

    /// Applies a revision that is already durable (another node's, or one read back from the
    /// log). It was checked when it was accepted, so what does not apply cleanly is reported,
    /// not refused.
    pub fn apply_trusted(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.encoded = None;
        let doc = &self.doc;
        let applied = catch_unwind(AssertUnwindSafe(|| {
            let update = Update::decode_v1(bytes).map_err(|e| e.to_string())?;
            doc.transact_mut()
                .apply_update(update)
                .map_err(|e| e.to_string())
        }));
        self.follow(bytes);
        applied.unwrap_or_else(|panic| Err(panic_message(&panic)))
    }

    fn apply_logged(&mut self, bytes: &[u8], rev: u64) {
        if let Err(why) = self.apply_trusted(bytes) {
            tracing::warn!(revision = rev, %why, "logged update did not apply cleanly");
        }
    }

    /// True if applying `bytes` would change nothing (a viewer answering our sync step 1).
    pub fn brings_nothing_new(&self, bytes: &[u8]) -> Result<bool, String> {
        brings_nothing_new(&self.doc, bytes)
    }

    /// The encoded state vector (what a sync step 1 sends).
    pub fn state_vector(&self) -> Vec<u8> {
        self.doc.transact().state_vector().encode_v1()
    }

    /// What a peer with the encoded state vector `sv` lacks (a sync step 2).
    pub fn diff(&self, sv: &[u8]) -> Result<Vec<u8>, String> {
        let sv = StateVector::decode_v1(sv).map_err(|e| e.to_string())?;
        Ok(self.doc.transact().encode_state_as_update_v1(&sv))
    }

    /// The whole state, encoded.
    pub fn encode_state(&self) -> Vec<u8> {
        self.doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    /// [`Self::encode_state`], encoded once per change.
    pub fn encoded_state(&mut self) -> bytes::Bytes {
        self.encoded
            .get_or_insert_with(|| {
                self.doc
                    .transact()
                    .encode_state_as_update_v1(&StateVector::default())
                    .into()
            })
            .clone()
    }

    /// The whole state and its state vector for a snapshot, or `None` while the document holds
    /// pending structs or skips (updates still waiting for what they depend on): yrs 0.28
    /// encodes them into a state that reloads as an empty document (found by the convergence
    /// property test). The log has every update; a later snapshot covers this one.
    pub fn snapshot_state(&self) -> Option<(Vec<u8>, StateVector)> {
        let txn = self.doc.transact();
        if txn.has_missing_updates() {
            return None;
        }
        Some((
            txn.encode_state_as_update_v1(&StateVector::default()),
            txn.state_vector(),
        ))
    }

    /// Makes the editor content (the `default` XML fragment) equal to the one in `old_state`:
    /// one transaction deletes the current content and inserts a copy of the old tree (elements
    /// with their attributes, text with its formatting). Returns the update, or `None` if
    /// nothing changed. A panic midway poisons the document, as in [`Self::apply_client`].
    pub fn restore_to(&mut self, old_state: &[u8]) -> Result<Option<Vec<u8>>, ApplyError> {
        self.encoded = None;
        self.shadow = None; // server-made edits are rare: the copy is made again
        let old = Self::from_state(old_state).map_err(|why| ApplyError::Refused {
            changed: false,
            why,
        })?;
        let doc = &self.doc;
        catch_unwind(AssertUnwindSafe(|| {
            Ok(restore::copy_content(&old.doc, doc))
        }))
        .unwrap_or_else(|panic| {
            Err(ApplyError::Poisoned(format!(
                "restoring panicked: {}",
                panic_message(&panic)
            )))
        })
    }

    /// Puts server-made content (an encoded document, such as an import) into the editor's:
    /// replacing it ([`Self::restore_to`]), or before or after it. Returns the update, or `None`
    /// if nothing changed.
    pub fn put(&mut self, content: &[u8], how: Put) -> Result<Option<Vec<u8>>, ApplyError> {
        let at_start = match how {
            Put::Replace => return self.restore_to(content),
            Put::Prepend => true,
            Put::Append => false,
        };
        self.encoded = None;
        self.shadow = None; // server-made edits are rare: the copy is made again
        let src = Self::from_state(content).map_err(|why| ApplyError::Refused {
            changed: false,
            why,
        })?;
        let doc = &self.doc;
        catch_unwind(AssertUnwindSafe(|| {
            Ok(restore::insert_content(&src.doc, doc, at_start))
        }))
        .unwrap_or_else(|panic| {
            Err(ApplyError::Poisoned(format!(
                "adding content panicked: {}",
                panic_message(&panic)
            )))
        })
    }

    /// The server's own edit of the editor content (an import): `edit` writes through the
    /// transaction; returns the update it made.
    pub fn edit(
        &mut self,
        edit: impl FnOnce(&yrs::XmlFragmentRef, &mut yrs::TransactionMut),
    ) -> Vec<u8> {
        self.encoded = None;
        self.shadow = None; // server-made edits are rare: the copy is made again
        let frag = self.doc.get_or_insert_xml_fragment(FRAGMENT);
        let mut txn = self.doc.transact_mut();
        edit(&frag, &mut txn);
        txn.encode_update_v1()
    }

    /// The document, to read (export, history, search). Writes go through the methods above.
    pub fn doc(&self) -> &Doc {
        &self.doc
    }
}

/// Where server-made content goes ([`ServerDoc::put`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The content becomes exactly this (a restore, a replacing write).
    Replace,
    /// Before what is there.
    Prepend,
    /// After what is there.
    Append,
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

mod restore {
    use yrs::types::xml::{XmlElementPrelim, XmlFragment, XmlOut, XmlTextPrelim};
    use yrs::{Doc, ReadTxn, Text, Transact, Xml};

    use super::FRAGMENT;

    /// Replaces `doc`'s fragment with a copy of `old`'s; the update, if anything changed.
    pub(super) fn copy_content(old: &Doc, doc: &Doc) -> Option<Vec<u8>> {
        let old_frag = old.get_or_insert_xml_fragment(FRAGMENT);
        let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
        let otxn = old.transact();
        let mut txn = doc.transact_mut();
        let len = frag.len(&txn);
        frag.remove_range(&mut txn, 0, len);
        let top: Vec<XmlOut> = old_frag.children(&otxn).collect();
        copy_children(&top, &frag, 0, &otxn, &mut txn);
        let update = txn.encode_update_v1();
        let changed = txn.before_state() != txn.after_state() || !txn.delete_set().is_empty();
        changed.then_some(update)
    }

    /// Inserts a copy of `src`'s content before (`at_start`) or after `doc`'s; the update, if
    /// there was anything to insert.
    pub(super) fn insert_content(src: &Doc, doc: &Doc, at_start: bool) -> Option<Vec<u8>> {
        let src_frag = src.get_or_insert_xml_fragment(FRAGMENT);
        let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
        let otxn = src.transact();
        let mut txn = doc.transact_mut();
        let base = if at_start { 0 } else { frag.len(&txn) };
        let top: Vec<XmlOut> = src_frag.children(&otxn).collect();
        copy_children(&top, &frag, base, &otxn, &mut txn);
        let update = txn.encode_update_v1();
        (txn.before_state() != txn.after_state()).then_some(update)
    }

    fn copy_children<P: XmlFragment, T: ReadTxn>(
        from: &[XmlOut],
        to: &P,
        base: u32,
        otxn: &T,
        txn: &mut yrs::TransactionMut,
    ) {
        for (i, node) in from.iter().enumerate() {
            let i = base + i as u32;
            match node {
                XmlOut::Element(e) => {
                    let el = to.insert(txn, i, XmlElementPrelim::empty(e.tag().as_ref()));
                    for (name, value) in e.attributes(otxn) {
                        if let yrs::Out::Any(v) = value {
                            el.insert_attribute(txn, name, v);
                        }
                    }
                    let kids: Vec<XmlOut> = e.children(otxn).collect();
                    copy_children(&kids, &el, 0, otxn, txn);
                }
                XmlOut::Text(t) => {
                    let nt = to.insert(txn, i, XmlTextPrelim::new(""));
                    let mut at = 0;
                    let src: &yrs::TextRef = t.as_ref();
                    for chunk in src.diff(otxn, |_| ()) {
                        if let yrs::Out::Any(yrs::Any::String(s)) = chunk.insert {
                            let attrs = chunk.attributes.map(|a| *a).unwrap_or_default();
                            nt.insert_with_attributes(txn, at, &s, attrs);
                            at += s.encode_utf16().count() as u32;
                        }
                    }
                }
                XmlOut::Fragment(_) => {}
            }
        }
    }
}
