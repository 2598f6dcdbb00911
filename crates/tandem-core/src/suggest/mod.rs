//! Suggestion mode, enforced: an update from a connection that may only suggest (a commenter)
//! is accepted only if everything it changes in the editor's fragment is a suggestion by that
//! connection's account (docs/protocol.md, "Suggestions", has the model):
//!
//! - inserted text carries a `suggestionInsert` mark whose `user` is the author;
//! - deleted text was the author's own suggested insertion;
//! - a change of formatting only adds or removes the author's own `suggestionDelete` mark;
//! - an added element (a new paragraph, list item, table row) carries a `suggestionInsert`
//!   attribute naming the author, and every text inside it is the author's suggested insertion;
//! - a removed element was the author's own suggested block;
//! - an attribute change on an element only adds or removes the author's own
//!   `suggestionDelete` attribute;
//! - nothing outside the fragment changes, and nothing is left waiting for missing updates.
//!
//! One exception, repaired rather than refused: a change of formatting outside these rules in a
//! text where the same update also inserts or deletes is a side effect of concurrent edits
//! (Yjs's formatting marks landing in a context the author had not seen yet); the server puts
//! the old formatting back with an edit of its own ([`Repair`]).
//!
//! The check needs what the update removes or reformats as it was before. The update is tried
//! first on a [`Shadow`], a copy of the document kept for this purpose: the copy's deep
//! observer reads what changed, and the real document (not yet touched) says what was there.
//! A refused update leaves the real document as it was (the copy is dropped and made again
//! when next needed); nothing is applied, logged or broadcast. The copy catches up with the
//! updates the real document took since (a backlog of their bytes, so editors pay a push per
//! update and nothing more; past [`BACKLOG_BYTES`] the copy is dropped instead).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use yrs::branch::BranchID;
use yrs::types::xml::XmlOut;
use yrs::types::{Attrs, Change, Delta, EntryChange, Event};
use yrs::updates::decoder::Decode;
use yrs::{
    Any, DeepObservable, Doc, Out, ReadTxn, Text, Transact, TransactionMut, Update, Xml,
    XmlElementRef, XmlFragment, XmlFragmentRef, XmlTextRef,
};

use crate::apply::{apply_checked, ApplyError, Proven};
use crate::doc::FRAGMENT;

mod ledger;
#[cfg(test)]
mod ledger_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

pub use ledger::{pending, replay, settled};
pub use ledger::{Kind, Outcome, Pending, Settled};

/// The mark (on text) and attribute (on a block) of a suggested insertion.
pub const INSERT: &str = "suggestionInsert";
/// The mark (on text) and attribute (on a block) of a suggested deletion.
pub const DELETE: &str = "suggestionDelete";
/// The largest update a suggester may send: a suggestion is a reviewer's proposal, not a
/// document (a paste of a long chapter is refused with a message).
pub const MAX_SUGGESTION_BYTES: usize = 512 << 10;
/// Updates the copy may fall behind by before it is dropped rather than caught up.
const BACKLOG_BYTES: usize = 4 << 20;

/// A side effect on formatting, undone by the server at once: a run of `len` at `at` in the
/// text `text` (after the update) gets `key` back as `value` (`Null`: none).
///
/// Yjs keeps formatting as marks between characters: typed text is written as "mark, text, a
/// mark restoring what the writer saw after it", and a deletion removes marks it leaves
/// redundant in the writer's view. When an editor's edit nearby has not yet reached the
/// suggester, the update lands in another context on the server: a restoring mark ends someone's
/// mark early, or a removed mark lets one run on, and text the suggester never touched changes
/// formatting (the property test found both: an editor typing inside a proposal while its author
/// types or deletes beside it). The update is legitimate, so a formatting change outside the
/// rules, in a text where the update also inserts or deletes, is not refused: the server puts
/// the formatting back with an edit of its own, recorded right after the update and before
/// anything else reaches the document, so nobody's text becomes the suggester's to delete (and a
/// hostile client gains nothing doing it on purpose). A formatting change outside the rules in a
/// text the update does not insert into or delete from (a mark written on someone else's text)
/// is refused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Repair {
    text: BranchID,
    at: u32,
    len: u32,
    key: Arc<str>,
    value: Any,
}

impl Repair {
    /// Applies `repairs` to `doc` (holding the update that needed them) in one transaction;
    /// its update, or `None` if none was needed.
    pub(crate) fn apply(doc: &Doc, repairs: &[Repair]) -> Option<Vec<u8>> {
        if repairs.is_empty() {
            return None;
        }
        let mut txn = doc.transact_mut();
        for r in repairs {
            let Some(branch) = r.text.get_branch(&txn) else {
                continue;
            };
            let attrs = Attrs::from([(r.key.clone(), r.value.clone())]);
            XmlTextRef::from(branch).format(&mut txn, r.at, r.len, attrs);
        }
        Some(txn.encode_update_v1())
    }
}

/// Why a suggester's update was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It changes something other than the author's own suggestions (closed with 4403).
    NotASuggestion(String),
    /// yrs or the guards refused it (closed as any client's malformed update would be).
    Apply(ApplyError),
}

/// The copy of a document that suggesters' updates are tried on (see the module doc).
pub(crate) struct Shadow {
    doc: Doc,
    proven: Proven,
    backlog: Vec<Bytes>,
    backlog_bytes: usize,
    seen: Arc<Mutex<Seen>>,
}

/// What the copy's observers found while one suggester's update was applied.
#[derive(Default)]
struct Seen {
    /// The author; empty while no suggester's update is being tried (catching up is not checked).
    user: String,
    violation: Option<String>,
    /// Texts that existed before and changed: what happened to their old content, in order.
    texts: Vec<(BranchID, Vec<Step>)>,
    /// Elements (or the fragment) that existed before and lost children: (index, count) in the
    /// old list.
    removed: Vec<(BranchID, Vec<(u32, u32)>)>,
}

/// What an update did to a run of a text's old content.
#[derive(Debug)]
enum Step {
    Keep(u32),
    Delete(u32),
    /// New content (checked when seen): only moves the position in the new text.
    Insert(u32),
    /// Formatting as yrs reports it: values that may equal the old ones (after a deletion, yrs
    /// reports the formats around the gap it cleaned up), checked against the old content.
    Format(u32, Box<Attrs>),
}

impl Seen {
    fn refuse(&mut self, why: impl Into<String>) {
        self.violation.get_or_insert_with(|| why.into());
    }
}

impl Shadow {
    /// A copy of `state` (the real document's encoded state).
    pub(crate) fn new(state: &[u8]) -> Result<Shadow, String> {
        let doc = crate::doc::yrs_doc();
        let update = Update::decode_v1(state).map_err(|e| e.to_string())?;
        doc.transact_mut()
            .apply_update(update)
            .map_err(|e| e.to_string())?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
        let slot = seen.clone();
        frag.observe_deep("tandem-suggest", move |txn, events| {
            let mut seen = slot.lock().unwrap_or_else(|p| p.into_inner());
            if seen.user.is_empty() {
                return;
            }
            for event in events.iter() {
                observe(txn, event, &mut seen);
            }
        });
        let slot = seen.clone();
        doc.observe_after_transaction("tandem-suggest", move |txn| {
            let mut seen = slot.lock().unwrap_or_else(|p| p.into_inner());
            if seen.user.is_empty() {
                return;
            }
            let outside = txn.changed_parent_types().iter().any(|b| match b.id() {
                BranchID::Root(name) => &*name != FRAGMENT,
                BranchID::Nested(_) => false,
            });
            if outside {
                seen.refuse("a change outside the editor's document");
            }
        })
        .map_err(|e| e.to_string())?;
        Ok(Shadow {
            doc,
            proven: Proven::default(),
            backlog: Vec::new(),
            backlog_bytes: 0,
            seen,
        })
    }

    /// Notes an update the real document took. `false`: the copy fell too far behind and must
    /// be dropped.
    pub(crate) fn follow(&mut self, update: Bytes) -> bool {
        self.backlog_bytes += update.len();
        self.backlog.push(update);
        self.backlog_bytes <= BACKLOG_BYTES
    }

    fn catch_up(&mut self) -> Result<(), String> {
        for update in std::mem::take(&mut self.backlog) {
            let update = Update::decode_v1(&update).map_err(|e| e.to_string())?;
            self.doc
                .transact_mut()
                .apply_update(update)
                .map_err(|e| e.to_string())?;
        }
        self.backlog_bytes = 0;
        Ok(())
    }

    /// Tries `update` by `user` on the copy, judged against `real` (the document before it).
    /// `Ok` leaves the copy holding the update, as the real document will once it applies it,
    /// with the formatting the caller restores after applying it (see [`Repair`]); `Err` leaves
    /// the copy unusable (the caller drops it).
    pub(crate) fn check(
        &mut self,
        real: &Doc,
        update: &[u8],
        user: &str,
    ) -> Result<Vec<Repair>, Refusal> {
        if update.len() > MAX_SUGGESTION_BYTES {
            return Err(Refusal::NotASuggestion(format!(
                "a suggestion larger than {} KiB",
                MAX_SUGGESTION_BYTES >> 10
            )));
        }
        self.catch_up().map_err(|why| {
            Refusal::Apply(ApplyError::Poisoned(format!("copy out of step: {why}")))
        })?;
        self.type_roots();
        let (had_missing, roots) = {
            let txn = self.doc.transact();
            (txn.has_missing_updates(), txn.root_refs().count())
        };
        *self.lock() = Seen {
            user: user.to_owned(),
            ..Seen::default()
        };
        let (doc, proven) = (&self.doc, &mut self.proven);
        let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            apply_checked(doc, update, proven)
        }))
        .unwrap_or_else(|_| Err(ApplyError::Poisoned("yrs panicked".into())));
        let seen = std::mem::take(&mut *self.lock());
        applied.map_err(Refusal::Apply)?;
        let refuse = |why: String| Err(Refusal::NotASuggestion(why));
        if let Some(why) = seen.violation {
            return refuse(why);
        }
        let txn = self.doc.transact();
        if !had_missing && txn.has_missing_updates() {
            return refuse("an update that depends on changes the server does not have".into());
        }
        // A new root type is not among the changed types yrs reports: count them.
        if txn.root_refs().count() != roots {
            return refuse("a change outside the editor's document".into());
        }
        drop(txn);
        let txn = real.transact();
        // A change of others' formatting beside an insertion or deletion in the same text is
        // a side effect (repaired, see `Repair`); on its own it is refused.
        let mut repairs = Vec::new();
        for (id, steps) in &seen.texts {
            let alone = !steps
                .iter()
                .any(|s| matches!(s, Step::Delete(_) | Step::Insert(_)));
            if let Err(why) = old_text(&txn, id, steps, user, alone, &mut repairs) {
                return refuse(why);
            }
        }
        for (id, ranges) in &seen.removed {
            if let Err(why) = old_children(&txn, id, ranges, user) {
                return refuse(why);
            }
        }
        Ok(repairs)
    }

    /// Gives every root type of the copy a type: yrs reports changes only of typed roots (a
    /// root only ever written by updates, such as a stock client's `Y.Text`, has none here), and
    /// the check must see them to refuse them. The type is only for that report: the copy is
    /// never read or sent.
    fn type_roots(&self) {
        let untyped: Vec<String> = self
            .doc
            .transact()
            .root_refs()
            .filter(|(_, v)| matches!(v, Out::UndefinedRef(_)))
            .map(|(name, _)| name.to_owned())
            .collect();
        for name in untyped {
            self.doc.get_or_insert_text(name.as_str());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `v` (a mark's or attribute's value) names `user` as the suggestion's author.
pub fn by(v: Option<&Any>, user: &str) -> bool {
    let Some(Any::Map(fields)) = v else {
        return false;
    };
    let id_ok = matches!(fields.get("id"), Some(Any::String(s)) if !s.is_empty() && s.len() <= 64);
    let time_ok = matches!(fields.get("time"), Some(Any::Number(_)));
    matches!(fields.get("user"), Some(Any::String(u)) if &**u == user) && id_ok && time_ok
}

fn observe(txn: &TransactionMut, event: &Event, seen: &mut Seen) {
    let user = seen.user.clone();
    match event {
        Event::XmlText(e) => {
            let mut steps = Vec::new();
            for d in e.delta(txn) {
                match d {
                    Delta::Inserted(content, attrs) => {
                        if !by(attrs.as_ref().and_then(|a| a.get(INSERT)), &user) {
                            return seen
                                .refuse("text inserted without the author's suggestion mark");
                        }
                        steps.push(Step::Insert(match content {
                            Out::Any(Any::String(s)) => s.len() as u32,
                            _ => 1,
                        }));
                    }
                    Delta::Deleted(n) => steps.push(Step::Delete(*n)),
                    Delta::Retain(n, None) => steps.push(Step::Keep(*n)),
                    Delta::Retain(n, Some(attrs)) => steps.push(Step::Format(*n, attrs.clone())),
                }
            }
            if !e.keys(txn).is_empty() {
                return seen.refuse("attributes on a text");
            }
            let id = AsRef::<yrs::branch::Branch>::as_ref(e.target()).id();
            seen.texts.push((id, steps));
        }
        Event::XmlFragment(e) => {
            let mut at = 0u32;
            let mut removed = Vec::new();
            for change in e.delta(txn) {
                match change {
                    Change::Retain(n) => at += n,
                    Change::Removed(n) => {
                        removed.push((at, *n));
                        at += n;
                    }
                    Change::Added(values) => {
                        for v in values {
                            if let Err(why) = added_node(txn, v, &user) {
                                return seen.refuse(why);
                            }
                        }
                    }
                }
            }
            let target = e.target();
            if let XmlOut::Element(el) = &target {
                for (name, change) in e.keys(txn) {
                    if &**name != DELETE {
                        return seen.refuse(format!("a change of the attribute {name:?}"));
                    }
                    let ok = match change {
                        EntryChange::Inserted(Out::Any(new)) => by(Some(new), &user),
                        EntryChange::Updated(Out::Any(old), Out::Any(new)) => {
                            by(Some(old), &user) && (by(Some(new), &user) || *new == Any::Null)
                        }
                        EntryChange::Removed(Out::Any(old)) => by(Some(old), &user),
                        _ => false,
                    };
                    if !ok {
                        return seen.refuse(format!(
                            "a block deletion mark on <{}> that is not the author's",
                            el.tag()
                        ));
                    }
                }
            }
            if !removed.is_empty() {
                let id = match &target {
                    XmlOut::Element(el) => AsRef::<yrs::branch::Branch>::as_ref(el).id(),
                    XmlOut::Fragment(f) => AsRef::<yrs::branch::Branch>::as_ref(f).id(),
                    XmlOut::Text(t) => AsRef::<yrs::branch::Branch>::as_ref(t).id(),
                };
                seen.removed.push((id, removed));
            }
        }
        _ => seen.refuse("a change the editor does not make"),
    }
}

/// A formatting change of old text whose attributes were `old`: only the `suggestionDelete`
/// mark may change, from nothing or the author's to the author's or nothing. Returns the
/// changes that are not allowed: (format, its old value, why).
fn format_change(old: Option<&Attrs>, new: &Attrs, user: &str) -> Vec<(Arc<str>, Any, String)> {
    let value = |a: Option<&Any>| a.filter(|v| **v != Any::Null).cloned();
    let mut wrong = Vec::new();
    for (key, v) in new.iter() {
        let (was, now) = (value(old.and_then(|o| o.get(key))), value(Some(v)));
        if was == now {
            continue; // not a change (yrs restating the formats around a cleaned-up gap)
        }
        let why = if &**key != DELETE {
            format!("a change of the format {key:?}")
        } else if was.as_ref().is_some_and(|w| !by(Some(w), user)) {
            "a change of another person's deletion mark".into()
        } else if now.as_ref().is_some_and(|n| !by(Some(n), user)) {
            "a deletion mark that is not the author's".into()
        } else {
            continue;
        };
        wrong.push((key.clone(), was.unwrap_or(Any::Null), why));
    }
    wrong
}

/// An element or text the update added: a suggested block by the author, every text inside
/// the author's suggested insertion.
fn added_node(txn: &TransactionMut, v: &Out, user: &str) -> Result<(), String> {
    let mut todo = match v {
        Out::YXmlElement(el) => {
            if !by(attribute(txn, el, INSERT).as_ref(), user) {
                return Err(format!(
                    "a new <{}> without the author's suggestion mark",
                    el.tag()
                ));
            }
            el.children(txn).collect::<Vec<_>>()
        }
        Out::YXmlText(t) => vec![XmlOut::Text(t.clone())],
        _ => return Err("something other than an element or a text".into()),
    };
    while let Some(node) = todo.pop() {
        match node {
            XmlOut::Element(el) => todo.extend(el.children(txn)),
            XmlOut::Text(t) => own_text(txn, &t, user)?,
            XmlOut::Fragment(_) => return Err("a fragment inside an element".into()),
        }
    }
    Ok(())
}

fn attribute<T: ReadTxn>(txn: &T, el: &XmlElementRef, name: &str) -> Option<Any> {
    match el.get_attribute(txn, name) {
        Some(Out::Any(v)) => Some(v),
        _ => None,
    }
}

/// Every character of `t` is the author's suggested insertion.
fn own_text<T: ReadTxn>(txn: &T, t: &XmlTextRef, user: &str) -> Result<(), String> {
    for chunk in t.diff(txn, |_| ()) {
        if !by(chunk.attributes.as_ref().and_then(|a| a.get(INSERT)), user) {
            return Err("text that is not the author's suggested insertion".into());
        }
    }
    Ok(())
}

/// Checks what `steps` did to the old content of the text `id` (read from the real document).
/// A formatting change that is not allowed is refused if `refuse_format`; otherwise it is a side
/// effect, returned as a [`Repair`].
fn old_text<T: ReadTxn>(
    txn: &T,
    id: &BranchID,
    steps: &[Step],
    user: &str,
    refuse_format: bool,
    repairs: &mut Vec<Repair>,
) -> Result<(), String> {
    let Some(branch) = id.get_branch(txn) else {
        return Ok(()); // created by this update: its content was checked as inserted
    };
    let text = XmlTextRef::from(branch);
    // The old content as (length, attributes) runs, in the delta's units (UTF-8 bytes).
    let runs: Vec<(u32, Option<Box<Attrs>>)> = text
        .diff(txn, |_| ())
        .into_iter()
        .map(|d| match &d.insert {
            Out::Any(Any::String(s)) => (s.len() as u32, d.attributes),
            _ => (1, d.attributes),
        })
        .collect();
    let mut runs = runs.into_iter();
    let mut current: Option<(u32, Option<Box<Attrs>>)> = None;
    let mut at = 0u32; // in the new content
    for step in steps {
        let mut n = match step {
            Step::Insert(n) => {
                at += n;
                continue;
            }
            Step::Keep(n) | Step::Delete(n) | Step::Format(n, _) => *n,
        };
        while n > 0 {
            let (left, attrs) = match current.take() {
                Some(run) => run,
                None => runs.next().ok_or("a change past the end of a text")?,
            };
            let take = left.min(n);
            match step {
                Step::Delete(_) if !by(attrs.as_ref().and_then(|a| a.get(INSERT)), user) => {
                    return Err("a deletion of text that is not the author's suggestion".into())
                }
                Step::Format(_, new) => {
                    for (key, value, why) in format_change(attrs.as_deref(), new, user) {
                        if refuse_format {
                            return Err(why);
                        }
                        let text = id.clone();
                        let len = take;
                        repairs.push(Repair {
                            text,
                            at,
                            len,
                            key,
                            value,
                        });
                    }
                }
                _ => {}
            }
            if !matches!(step, Step::Delete(_)) {
                at += take;
            }
            n -= take;
            if take < left {
                current = Some((left - take, attrs));
            }
        }
    }
    Ok(())
}

/// Checks that the children `ranges` removed from `id` (read from the real document) were the
/// author's own suggested blocks or texts.
fn old_children<T: ReadTxn>(
    txn: &T,
    id: &BranchID,
    ranges: &[(u32, u32)],
    user: &str,
) -> Result<(), String> {
    let Some(branch) = id.get_branch(txn) else {
        return Ok(()); // created by this update
    };
    let child = |i: u32| match id {
        BranchID::Root(_) => XmlFragmentRef::from(branch).get(txn, i),
        BranchID::Nested(_) => XmlElementRef::from(branch).get(txn, i),
    };
    for &(start, len) in ranges {
        for i in start..start + len {
            match child(i) {
                Some(XmlOut::Element(el)) if by(attribute(txn, &el, INSERT).as_ref(), user) => {}
                Some(XmlOut::Text(t)) => own_text(txn, &t, user)?,
                Some(XmlOut::Element(el)) => {
                    return Err(format!(
                        "a removal of a <{}> that is not the author's suggestion",
                        el.tag()
                    ))
                }
                _ => return Err("a removal of something that is not there".into()),
            }
        }
    }
    Ok(())
}
