//! What became of suggestions, for the history: the suggestions pending in a document, and
//! between two states of it, which were made and which were accepted or rejected.
//!
//! Nothing is stored for this apart from the op log: the history replays it and compares the
//! pending suggestions at each version's start and end. A suggestion that is gone was accepted
//! or rejected, and the document says which: a suggested insertion whose first character (or
//! block) still exists was accepted (its mark removed), one whose content is deleted was
//! rejected; a suggested deletion is the other way round. Read-only: never changes a document.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use serde::Serialize;
use yrs::types::xml::XmlOut;
use yrs::{Any, Assoc, Doc, IndexedSequence, Out, ReadTxn, Text, Transact, Xml, XmlFragment, ID};

use super::{DELETE, INSERT};
use crate::doc::{ServerDoc, FRAGMENT};

/// What both mark names start with, as it appears in an update that sets or removes one.
const SUGGESTION: &[u8] = b"suggestion";
/// Characters of a suggestion's text kept to name it in the history.
const QUOTE_CHARS: usize = 80;

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Insert,
    Delete,
}

/// A suggestion pending in a document: one id and kind, however many runs and blocks it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: String,
    /// The author's account id, as the mark names it.
    pub user: String,
    pub kind: Kind,
    /// The start of its text (a block's text for a suggested block), to name it.
    pub quote: String,
    /// Its first character or block: still there, or deleted, tells how it was settled.
    at: ID,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Made,
    Accepted,
    Rejected,
}

/// What happened to one suggestion between two states.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub id: String,
    pub user: String,
    pub kind: Kind,
    pub quote: String,
    pub outcome: Outcome,
}

/// The suggestions pending in `doc`, in document order.
pub fn pending(doc: &Doc) -> Vec<Pending> {
    let txn = doc.transact();
    let Some(frag) = txn.get_xml_fragment(FRAGMENT) else {
        return Vec::new();
    };
    let mut found = Found::default();
    let mut todo: Vec<XmlOut> = frag.children(&txn).collect();
    todo.reverse();
    while let Some(node) = todo.pop() {
        match node {
            XmlOut::Element(el) => {
                let at = match AsRef::<yrs::branch::Branch>::as_ref(&el).id() {
                    yrs::branch::BranchID::Nested(id) => Some(id),
                    yrs::branch::BranchID::Root(_) => None,
                };
                for (name, kind) in [(INSERT, Kind::Insert), (DELETE, Kind::Delete)] {
                    if let Some(Out::Any(v)) = el.get_attribute(&txn, name) {
                        found.note(&v, kind, at, "");
                    }
                }
                let mut children: Vec<XmlOut> = el.children(&txn).collect();
                children.reverse();
                todo.extend(children);
            }
            XmlOut::Text(t) => {
                let mut offset = 0u32; // in the document's units (UTF-8 bytes)
                for chunk in t.diff(&txn, |_| ()) {
                    let (text, len) = match &chunk.insert {
                        Out::Any(Any::String(s)) => (s.to_string(), s.len() as u32),
                        _ => (String::new(), 1),
                    };
                    for (name, kind) in [(INSERT, Kind::Insert), (DELETE, Kind::Delete)] {
                        if let Some(v) = chunk.attributes.as_ref().and_then(|a| a.get(name)) {
                            let at = t
                                .sticky_index(&txn, offset, Assoc::After)
                                .and_then(|s| s.id().copied());
                            found.note(v, kind, at, &text);
                        }
                    }
                    offset += len;
                }
            }
            XmlOut::Fragment(_) => {}
        }
    }
    found.list
}

/// What happened between `before` (the suggestions pending then) and `doc` now.
pub fn settled(before: &[Pending], doc: &Doc) -> Vec<Settled> {
    compare(before, &pending(doc), doc)
}

/// [`settled`], given what is pending `now` in `doc`.
fn compare(before: &[Pending], now: &[Pending], doc: &Doc) -> Vec<Settled> {
    let key = |p: &Pending| (p.id.clone(), p.kind);
    let was: HashSet<_> = before.iter().map(key).collect();
    let is: HashSet<_> = now.iter().map(key).collect();
    let mut out = Vec::new();
    let gone: Vec<&Pending> = before.iter().filter(|p| !is.contains(&key(p))).collect();
    if !gone.is_empty() {
        let deleted = doc.transact().snapshot().delete_set;
        for p in gone {
            let removed = deleted.contains(&p.at);
            let accepted = match p.kind {
                Kind::Insert => !removed,
                Kind::Delete => removed,
            };
            out.push(settle(
                p,
                if accepted {
                    Outcome::Accepted
                } else {
                    Outcome::Rejected
                },
            ));
        }
    }
    for p in now.iter().filter(|p| !was.contains(&key(p))) {
        out.push(settle(p, Outcome::Made));
    }
    out
}

/// Replays `updates` (consecutive revisions, oldest first) on `doc`, the document just before
/// the first, and reports at each revision of `ends` (ascending) what happened to suggestions
/// since the previous one. A stretch is compared only when something was pending at its start
/// or one of its updates names a suggestion mark: a document without suggestions pays a byte
/// search per update.
pub fn replay(
    doc: &mut ServerDoc,
    updates: &[(u64, Bytes)],
    ends: &[u64],
) -> Vec<(u64, Vec<Settled>)> {
    let mut out = Vec::new();
    let mut before = pending(doc.doc());
    let mut named = false;
    let mut ends = ends.iter().copied().peekable();
    for (rev, data) in updates {
        if let Err(why) = doc.apply_trusted(data) {
            tracing::warn!(revision = rev, %why, "logged update did not apply cleanly");
        }
        named = named || data.windows(SUGGESTION.len()).any(|w| w == SUGGESTION);
        while ends.next_if(|end| end < rev).is_some() {}
        if ends.next_if_eq(rev).is_none() {
            continue;
        }
        if named || !before.is_empty() {
            let now = pending(doc.doc());
            let changes = compare(&before, &now, doc.doc());
            before = now;
            if !changes.is_empty() {
                out.push((*rev, changes));
            }
        }
        named = false;
    }
    out
}

fn settle(p: &Pending, outcome: Outcome) -> Settled {
    Settled {
        id: p.id.clone(),
        user: p.user.clone(),
        kind: p.kind,
        quote: p.quote.clone(),
        outcome,
    }
}

/// The suggestions found so far, and where each is in the list.
#[derive(Default)]
struct Found {
    list: Vec<Pending>,
    index: HashMap<(String, Kind), usize>,
}

impl Found {
    /// Adds a run or block of the suggestion `mark` names: a new entry for its first, and its
    /// text to the quote. `at` is the run's first character or the block.
    fn note(&mut self, mark: &Any, kind: Kind, at: Option<ID>, text: &str) {
        let Some((id, user)) = id_and_user(mark) else {
            return;
        };
        let i = match self.index.get(&(id.clone(), kind)) {
            Some(&i) => i,
            None => {
                let Some(at) = at else { return };
                self.index.insert((id.clone(), kind), self.list.len());
                self.list.push(Pending {
                    id,
                    user,
                    kind,
                    quote: String::new(),
                    at,
                });
                self.list.len() - 1
            }
        };
        let quote = &mut self.list[i].quote;
        let room = QUOTE_CHARS.saturating_sub(quote.chars().count());
        quote.extend(text.chars().take(room));
    }
}

/// A suggestion mark's id and author, when it has both.
fn id_and_user(v: &Any) -> Option<(String, String)> {
    let Any::Map(fields) = v else {
        return None;
    };
    match (fields.get("id"), fields.get("user")) {
        (Some(Any::String(id)), Some(Any::String(user))) => {
            Some((id.to_string(), user.to_string()))
        }
        _ => None,
    }
}
