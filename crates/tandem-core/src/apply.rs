//! How a client's update is checked and applied to a document the server holds, and what the
//! server's documents are. Everything here is a yrs 0.28 workaround or guard found by the fuzzer
//! or the property tests (RELIABILITY.md): updates yrs would mishandle are refused before it
//! integrates them (`scan_structs`), items it would place differently on different replicas are
//! caught after (`check_placements`), and states are checked to reload before they are trusted
//! (`reload`). No I/O, no actor state: [`ServerDoc`](crate::doc::ServerDoc) calls these (under
//! `catch_unwind`, for yrs's own panics), and the fuzzer and benchmarks call them directly.
//! Each guard has a test beside the actor's fault tests showing that raw yrs 0.28.1 still
//! misbehaves on its input (`raw_yrs_*`): when one of those starts failing after an upgrade,
//! its guard can go.

use std::collections::HashMap;

use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use crate::scan::shown_state;
pub use crate::scan::{scan_structs, Placed, StructScan};

/// Why a client's update was not (wholly) applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Malformed, or holding what yrs mishandles. Memory still matches what yrs was given:
    /// nothing changed, or (`changed`) the part before the error did, which must then be logged
    /// so the log still equals memory.
    #[error("{why}")]
    Refused { changed: bool, why: String },
    /// A guard found, after yrs integrated the update, that the document now holds what would
    /// read differently elsewhere (or yrs itself panicked): memory may hold part of the update
    /// and must be rebuilt from the log. The update is never logged.
    #[error("{0}")]
    Poisoned(String),
}

impl ApplyError {
    fn refused(why: impl ToString) -> Self {
        Self::Refused {
            changed: false,
            why: why.to_string(),
        }
    }
}

/// Applies a client's update. Returns whether the document changed (state vector or delete set
/// moved, or something is left pending). Yrs's own panics are not caught here: [`ServerDoc`]
/// does that (a caught panic is [`ApplyError::Poisoned`] too). This form, with nothing
/// remembered between calls, is for the benchmarks, the fuzzer and the tests.
///
/// [`ServerDoc`]: crate::doc::ServerDoc
pub fn apply_client_update(doc: &Doc, bytes: &[u8]) -> Result<bool, ApplyError> {
    apply_checked(doc, bytes, &mut Proven::default())
}

/// Items known to lie before their right origin, keyed by their last character: each passed the
/// placement check, so YATA put it between its origins. A typing burst's keystrokes each have
/// the previous keystroke as left origin and the same right origin, so after the first one the
/// check finds the answer here instead of walking the list. Bounded: cleared at 4,096 entries.
#[derive(Debug, Default)]
pub struct Proven(HashMap<yrs::ID, yrs::ID>);

/// [`apply_client_update`], remembering what its placement checks proved in `proven` (the actor
/// keeps one per document).
pub fn apply_checked(doc: &Doc, bytes: &[u8], proven: &mut Proven) -> Result<bool, ApplyError> {
    let scan = scan_structs(bytes).map_err(ApplyError::refused)?;
    if let Some(why) = scan.refused {
        return Err(ApplyError::refused(why));
    }
    // Structs, then deletions, as yrs applies an update (and its own pending ones): split so the
    // placements are checked against the document before this update deleted anything.
    let decode = |bytes: &[u8]| Update::decode_v1(bytes).map_err(ApplyError::refused);
    let (structs, deletes) = match bytes.split_at(scan.deletes_at) {
        (_, [0, ..]) => (decode(bytes)?, Update::new()), // no deletions: a keystroke
        (structs, deletes) => (
            decode(&[structs, &[0]].concat())?,
            decode(&[&[0], deletes].concat())?,
        ),
    };
    let mut txn = doc.transact_mut();
    let had_pending = txn.has_missing_updates();
    let before = txn.state_vector();
    // Blocks starting below the document's clocks: yrs trims what it already holds.
    let trims = structs
        .state_vector_lower()
        .iter()
        .any(|(client, &clock)| clock < before.get(client));
    let mut result = txn.apply_update(structs);
    check_placements(&txn, &scan.placed, had_pending, proven)
        .and_then(|()| check_nesting(&txn, &scan.elements))
        .and_then(
            |()| match trims || had_pending || txn.has_missing_updates() {
                true => check_parents(&txn),
                false => Ok(()),
            },
        )
        .map_err(ApplyError::Poisoned)?;
    if result.is_ok() && !deletes.is_empty() {
        result = txn.apply_update(deletes);
    }
    if txn.has_missing_updates() {
        // Structs left pending are merged into every later state encoding (a joiner's sync, a
        // snapshot), and yrs mishandles some sets it accepted (all found by the fuzzer): it
        // panics encoding them, encodes bytes it cannot read back, or merges them with origins
        // they never had, so that a replica refuses them or integrates text the server holds
        // pending. Each would poison the document for every joiner, from the log, for ever. So
        // the state is encoded now, while the update is not yet logged, and loaded into a fresh
        // document, which must reach the same state vector; otherwise the update is dropped. The whole state, because yrs merges pending structs differently
        // into an empty diff: O(document), paid only by updates that arrive before what they
        // depend on (rare: the server relays each document's updates in order).
        let probe = txn.encode_state_as_update_v1(&StateVector::default());
        match reload(&probe) {
            Ok(sv) if sv == txn.state_vector() => {}
            Ok(_) => {
                return Err(ApplyError::Poisoned(
                    "pending structs that reload as other content".into(),
                ))
            }
            Err(e) => {
                return Err(ApplyError::Poisoned(format!(
                    "pending structs that do not reload: {e}"
                )))
            }
        }
    }
    let changed = txn.before_state() != txn.after_state()
        || !txn.delete_set().is_empty()
        || txn.has_missing_updates();
    result.map(|_| changed).map_err(|e| ApplyError::Refused {
        changed,
        why: e.to_string(),
    })
}

/// Fails if an item `txn` integrated (`placed`, from this update, or pending ones it completed
/// if there were any) has its right origin before its left one, or in another list; the actor
/// then drops the update.
///
/// Yjs and yrs write an item's origins as the characters on either side of the insert, so the
/// left one comes first in every replica, and YATA places the item between them. An item whose
/// origins are the other way round (only a hand-made update has one: the fuzzer found it) is
/// placed wherever YATA's scan happens to stop, which depends on how the document's blocks are
/// split: the server and a joiner loading its state put it in different places.
///
/// yrs keeps the list private; [`position`] (a `StickyIndex`) gives an item's offset among the visible content
/// of its list, walking left from it (O(blocks before it in that list: usually one paragraph's)).
/// An offset is the visible length before the item, which tells the order of two items unless
/// both are invisible (deleted, or formatting marks) with nothing visible between them. Then
/// the state is loaded, with every item made visible ([`shown_state`]), into a fresh document,
/// where the two have offsets of their own: O(document), paid only when an edit lands between
/// two characters someone else has just deleted.
fn check_placements(
    txn: &yrs::TransactionMut,
    placed: &[Placed],
    had_pending: bool,
    proven: &mut Proven,
) -> Result<(), String> {
    use yrs::Assoc;
    // Pending items this update completed are in the transaction's own encoding (which leaves
    // out items yrs integrated past a gap in their client's clocks: the fuzzer's input has one).
    let mut completed = Vec::new();
    if had_pending {
        let ours: std::collections::HashSet<_> = placed.iter().map(|p| p.item).collect();
        completed = scan_structs(&txn.encode_update_v1()).map_or(Vec::new(), |scan| scan.placed);
        completed.retain(|p| !ours.contains(&p.item));
    }
    let at = |txn: &yrs::TransactionMut, id, assoc| position(txn, id, assoc);
    if proven.0.len() > 4096 {
        proven.0.clear();
    }
    let both = |p: &Placed| Some((p.item, p.len, p.left?, p.right?));
    for (item, len, left, right) in placed.iter().chain(&completed).filter_map(both) {
        let last = yrs::ID::new(item.client, item.clock + len.max(1) - 1);
        if proven.0.get(&left) == Some(&right) {
            proven.0.insert(last, right);
            continue;
        }
        // An origin collected (so is the item) or missing (the item is pending, and is checked
        // when it is completed): nothing to place.
        let (Some(o), Some(r)) = (at(txn, left, Assoc::After), at(txn, right, Assoc::After)) else {
            continue;
        };
        if o.branch.id() != r.branch.id() {
            return Err("an item whose origins are in different lists".into());
        }
        if o.branch.is_deleted() {
            continue; // nothing in a deleted type is ever shown, or written into again
        }
        // An item's own width: 0 if invisible. Of two distinct items, the first's offset plus
        // its width is at most the second's.
        let shown = |id, after: u32| at(txn, id, Assoc::Before).is_some_and(|b| b.index > after);
        let in_order = match o.index.cmp(&r.index) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal if shown(left, o.index) => false,
            std::cmp::Ordering::Equal if shown(right, r.index) => true,
            std::cmp::Ordering::Equal => {
                let state = txn.encode_state_as_update_v1(&StateVector::default());
                let replica = crate::doc::yrs_doc();
                let mut rtxn = replica.transact_mut();
                let shown = shown_state(&state).map(|s| Update::decode_v1(&s));
                if !matches!(
                    shown.map(|u| u.map(|u| rtxn.apply_update(u))),
                    Some(Ok(Ok(())))
                ) {
                    return Err("a state that cannot be shown".into());
                }
                let (o, r) = (
                    at(&rtxn, left, Assoc::After),
                    at(&rtxn, right, Assoc::After),
                );
                matches!((o, r), (Some(o), Some(r)) if o.index < r.index)
            }
        };
        if !in_order {
            return Err("an item whose right origin comes before its left origin".into());
        }
        proven.0.insert(last, right);
    }
    Ok(())
}

/// Where the item `id` is: its list, and its offset among the list's visible content (at its
/// start with `Assoc::After`, past it with `Before`); `None` if it was collected or is not
/// integrated. yrs keeps its block list private, so this walks left to the start of the list.
fn position<T: ReadTxn>(txn: &T, id: yrs::ID, assoc: yrs::Assoc) -> Option<yrs::Offset> {
    yrs::StickyIndex::new(yrs::IndexScope::Relative(id), assoc).get_offset(txn)
}

/// The deepest nesting of elements a document may hold: a list nested twenty levels inside a
/// table inside a quote stays under 70. Deeper documents are refused on the way in, so that no
/// walker of a document tree (export, history, restore) has to follow a chain of thousands of
/// levels (a 5,000-level quote aborted the server's export with a stack overflow).
pub const MAX_NESTING: usize = 128;

/// Fails if a shared type the update added (`elements`, from its structs) sits more than
/// [`MAX_NESTING`] levels deep; the actor then drops the update. Any kind of type counts: yrs
/// deletes a nested type recursively, so deleting the top of a chain 100,000 arrays deep
/// overflows the stack as surely as exporting 100,000 quotes.
///
/// Linear in the update for the editor's XML: each level up is one step (`Xml::parent`), and a
/// level already seen is remembered. A type whose parent is not XML (a stock client's arrays and
/// maps) is found by [`position`], which walks the siblings before it; so that an update of many
/// such types cannot make that quadratic, at most [`MAX_WALKS`] of them are looked up per update
/// and an update needing more is refused.
fn check_nesting(txn: &yrs::TransactionMut, elements: &[yrs::ID]) -> Result<(), String> {
    let mut levels = HashMap::new();
    let mut walks = 0;
    for id in elements {
        let Some(branch) = yrs::branch::BranchID::get_nested(txn, id) else {
            continue; // not integrated (pending), or collected
        };
        if level(txn, branch, &mut levels, &mut walks)? > MAX_NESTING {
            return Err(format!(
                "elements nested more than {MAX_NESTING} levels deep"
            ));
        }
    }
    Ok(())
}

/// Types whose parent is not XML that one update may add (see [`check_nesting`]).
const MAX_WALKS: usize = 256;

/// How deep `branch` is: 1 for a type in a root, one more for each type around it. Counts at
/// most one past [`MAX_NESTING`]; remembers each level in `levels`.
fn level<T: ReadTxn>(
    txn: &T,
    mut branch: yrs::branch::BranchPtr,
    levels: &mut HashMap<yrs::branch::BranchID, usize>,
    walks: &mut usize,
) -> Result<usize, String> {
    use yrs::branch::BranchID;
    let mut chain = Vec::new();
    let mut base = loop {
        let id = branch.id();
        if let Some(&known) = levels.get(&id) {
            break known;
        }
        let BranchID::Nested(item) = id else {
            break 0; // a root
        };
        chain.push(id);
        if chain.len() > MAX_NESTING {
            break 0; // deep enough to refuse: the levels recorded below are never used
        }
        match parent(txn, branch, item, walks)? {
            Some(p) => branch = p,
            None => break 0, // held by nothing (a deleted parent): nothing walks it
        }
    };
    for id in chain.into_iter().rev() {
        base += 1;
        levels.insert(id, base);
    }
    Ok(base)
}

/// The type holding the type `branch` (whose item is `item`).
fn parent<T: ReadTxn>(
    txn: &T,
    branch: yrs::branch::BranchPtr,
    item: yrs::ID,
    walks: &mut usize,
) -> Result<Option<yrs::branch::BranchPtr>, String> {
    use yrs::{types::xml::XmlOut, Xml, XmlElementRef};
    // Any branch's own item knows its parent; yrs lets XML types read it.
    let as_ptr = |b: &yrs::branch::Branch| yrs::branch::BranchPtr::from(b);
    Ok(match XmlElementRef::from(branch).parent() {
        Some(XmlOut::Element(e)) => Some(as_ptr(e.as_ref())),
        Some(XmlOut::Fragment(f)) => Some(as_ptr(f.as_ref())),
        Some(XmlOut::Text(t)) => Some(as_ptr(t.as_ref())),
        None => {
            *walks += 1;
            if *walks > MAX_WALKS {
                return Err(format!(
                    "more than {MAX_WALKS} nested types outside the document's XML"
                ));
            }
            position(txn, item, yrs::Assoc::After).map(|o| o.branch)
        }
    })
}

/// Fails if an item `txn` integrated sits in another list than one of its origins; the actor
/// then drops the update.
///
/// A state encoding writes no parent for an item that has an origin: a replica puts the item in
/// its origin's list. yrs 0.28 keeps the parent an update gave a block when it trims the part of
/// it the document already holds, and makes the clock before the trimmed part the new left
/// origin; a hand-made update (the fuzzer's: client 1 restating clocks 1 to 10 of "hello world"
/// as a block in another root) then puts an item in a list where its origin is not, and every
/// joiner places it, and whatever is anchored to it, elsewhere. Pending blocks completed later
/// are trimmed the same way. So, only when yrs trimmed or completed something (rare: a resend,
/// or a sync step 2 racing others' updates), each item in the transaction's own encoding, with
/// the origins a replica will read, is compared with them: O(list) per item.
fn check_parents(txn: &yrs::TransactionMut) -> Result<(), String> {
    let Ok(scan) = scan_structs(&txn.encode_update_v1()) else {
        return Err("a transaction whose encoding does not decode".into());
    };
    let list = |id| position(txn, id, yrs::Assoc::After).map(|o| o.branch.id());
    for p in &scan.placed {
        // Collected items, and their origins, have no list to compare.
        let Some(own) = list(p.item) else { continue };
        for origin in [p.left, p.right].into_iter().flatten() {
            if list(origin).is_some_and(|theirs| theirs != own) {
                return Err("an item in another list than its origin".into());
            }
        }
    }
    Ok(())
}

/// Loads an encoded state into a fresh document, as a restart or a joiner would, and returns the
/// state vector it reaches.
pub(crate) fn reload(state: &[u8]) -> Result<StateVector, String> {
    let doc = crate::doc::yrs_doc();
    let update = Update::decode_v1(state).map_err(|e| e.to_string())?;
    let mut txn = doc.transact_mut();
    txn.apply_update(update).map_err(|e| e.to_string())?;
    Ok(txn.state_vector())
}

/// True if applying `bytes` would change nothing: every inserted block is already covered by the
/// document's state vector and every deletion is already deleted. Applies nothing.
pub fn brings_nothing_new(doc: &Doc, bytes: &[u8]) -> Result<bool, String> {
    if let Some(why) = scan_structs(bytes).map_err(|e| e.to_string())?.refused {
        return Err(why.into());
    }
    let update = Update::decode_v1(bytes).map_err(|e| e.to_string())?;
    let txn = doc.transact();
    let sv = txn.state_vector();
    let inserts_known = update.insertions(true).iter().all(|(client, ranges)| {
        let have = sv.get(client);
        ranges.iter().all(|r| r.end <= have)
    });
    if !inserts_known {
        return Ok(false);
    }
    let deleted = txn.snapshot().delete_set;
    Ok(update.delete_set().diff(&deleted).is_empty())
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
