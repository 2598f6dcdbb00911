//! Property test of suggestion mode through the real actor (schema on, group commit over
//! `MemoryStore`): a reviewer (a connection that may only suggest) types, deletes, pastes and
//! splits paragraphs the way the web editor's Suggesting mode does, while an editor edits
//! concurrently. Properties: no legitimate suggestion is refused; at the end everyone holds
//! the same document; "accept all" (or "reject all"), an ordinary edit by the editor, converges
//! on every client, and after accepting the text is exactly what the reviewer saw while
//! suggesting (their view: proposed text shown, text proposed for deletion hidden).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use yrs::types::xml::XmlOut;
use yrs::types::Attrs;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Any, Doc, Out, ReadTxn, Text, Transact, TransactionMut, Update, Xml, XmlElementPrelim,
    XmlElementRef, XmlFragment, XmlFragmentRef, XmlTextPrelim, XmlTextRef,
};

use crate::commit::{group_commit, GroupCommitConfig};
use crate::doc::{yrs_doc, FRAGMENT};
use crate::protocol::{Ext, Message};
use crate::registry::Rooms;
use crate::room::{RoomConfig, RoomHandle, RoomMsg};
use crate::session::{outbox, Inbound, OutboxLimits, OutboxReceiver};
use crate::store::MemoryStore;
use crate::suggest::tests::mark;
use crate::suggest::{DELETE, INSERT};

const REVIEWER: &str = "7";

#[derive(Debug, Clone)]
enum Op {
    /// The reviewer types `len` letters at a place (paragraph and offset, modulo what exists).
    Type { p: usize, at: usize, len: usize },
    /// The reviewer deletes a range (their own proposed text goes, other text is marked).
    Delete { p: usize, at: usize, len: usize },
    /// The reviewer presses Enter.
    Split { p: usize, at: usize },
    /// The reviewer pastes several paragraphs.
    Paste { p: usize, at: usize, paras: usize },
    /// The reviewer presses Backspace at a paragraph's start.
    Join { p: usize },
    /// The editor types, or deletes, plain text.
    Edit { p: usize, at: usize, delete: bool },
    /// One side hears what the other sent so far.
    Sync { reviewer: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let n = || 0..64usize;
    prop_oneof![
        4 => (n(), n(), 1..5usize).prop_map(|(p, at, len)| Op::Type { p, at, len }),
        3 => (n(), n(), 1..6usize).prop_map(|(p, at, len)| Op::Delete { p, at, len }),
        2 => (n(), n()).prop_map(|(p, at)| Op::Split { p, at }),
        1 => (n(), n(), 2..4usize).prop_map(|(p, at, paras)| Op::Paste { p, at, paras }),
        2 => n().prop_map(|p| Op::Join { p }),
        3 => (n(), n(), any::<bool>()).prop_map(|(p, at, delete)| Op::Edit { p, at, delete }),
        3 => any::<bool>().prop_map(|reviewer| Op::Sync { reviewer }),
    ]
}

struct Peer {
    doc: Doc,
    conn: u64,
    rx: OutboxReceiver,
    refused: Option<String>,
}

struct World {
    room: RoomHandle,
    reviewer: Peer,
    editor: Peer,
    next_id: u32,
    letters: u32,
}

fn apply(doc: &Doc, update: &[u8]) {
    let u = Update::decode_v1(update).expect("valid");
    doc.transact_mut().apply_update(u).expect("applies");
}

fn paragraphs<T: ReadTxn>(frag: &XmlFragmentRef, txn: &T) -> Vec<XmlElementRef> {
    frag.children(txn)
        .filter_map(|c| match c {
            XmlOut::Element(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// A paragraph's text (every paragraph here has one).
fn text_of<T: ReadTxn>(p: &XmlElementRef, txn: &T) -> XmlTextRef {
    match p.get(txn, 0) {
        Some(XmlOut::Text(t)) => t,
        _ => panic!("a paragraph without its text"),
    }
}

fn attrs(pairs: Vec<(&str, Any)>) -> Attrs {
    pairs.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()
}

fn is_user(v: Option<&Any>, user: &str) -> bool {
    matches!(v, Some(Any::Map(m)) if matches!(m.get("user"), Some(Any::String(u)) if &**u == user))
}

/// A text's runs: (text, proposed by the reviewer, proposed for deletion).
fn runs<T: ReadTxn>(t: &XmlTextRef, txn: &T) -> Vec<(String, Option<Any>, Option<Any>)> {
    t.diff(txn, |_| ())
        .into_iter()
        .map(|d| {
            let s = match d.insert {
                Out::Any(Any::String(s)) => s.to_string(),
                _ => String::new(),
            };
            let get = |k: &str| {
                d.attributes
                    .as_ref()
                    .and_then(|a| a.get(k))
                    .filter(|v| **v != Any::Null)
                    .cloned()
            };
            (s, get(INSERT), get(DELETE))
        })
        .collect()
}

/// Proposes deleting `[from, to)` of `t` as the web editor does: the author's proposed text
/// goes, other text not yet marked gets their deletion mark.
fn propose_deletion(t: &XmlTextRef, txn: &mut TransactionMut, from: u32, to: u32, m: &Any) {
    let mut at = 0u32;
    let mut todo = Vec::new();
    for (s, ins, del) in runs(t, txn) {
        let (a, b) = (at.max(from), (at + s.len() as u32).min(to));
        if a < b {
            if is_user(ins.as_ref(), REVIEWER) {
                todo.push((a, b, true));
            } else if del.is_none() {
                todo.push((a, b, false));
            }
        }
        at += s.len() as u32;
    }
    for (a, b, own) in todo.into_iter().rev() {
        if own {
            t.remove_range(txn, a, b - a);
        } else {
            t.format(txn, a, b - a, attrs(vec![(DELETE, m.clone())]));
        }
    }
}

/// Enter at `at` in paragraph `i` (or the rest of a paste): new proposed paragraphs holding
/// `lines`, the last followed by the tail, which is proposed for deletion where it was.
fn propose_split(
    frag: &XmlFragmentRef,
    txn: &mut TransactionMut,
    i: u32,
    at: u32,
    lines: &[String],
    m: &Any,
) {
    let ps = paragraphs(frag, txn);
    let t = text_of(&ps[i as usize], txn);
    let mut tail = String::new();
    let mut pos = 0u32;
    for (s, _, del) in runs(&t, txn) {
        let end = pos + s.len() as u32;
        if end > at && del.is_none() {
            tail.push_str(&s[(at.max(pos) - pos) as usize..]);
        }
        pos = end;
    }
    let len = t.len(txn);
    propose_deletion(&t, txn, at, len, m);
    let mut lines = lines.to_vec();
    if let Some(last) = lines.last_mut() {
        last.push_str(&tail);
    }
    for (k, line) in lines.iter().enumerate() {
        let p = frag.insert(txn, i + 1 + k as u32, XmlElementPrelim::empty("paragraph"));
        p.insert_attribute(txn, INSERT, m.clone());
        let nt = p.push_back(txn, XmlTextPrelim::new(""));
        if !line.is_empty() {
            nt.insert_with_attributes(txn, 0, line, attrs(vec![(INSERT, m.clone())]));
        }
    }
}

/// Backspace at the start of paragraph `i` as the web editor does it (`proposeJoin`): its live
/// text proposed again at the end of the one before, and the paragraph with its text proposed
/// for deletion; the reviewer's own proposed paragraph goes for real, and right after a split
/// of their own, the split is withdrawn.
fn propose_join(frag: &XmlFragmentRef, txn: &mut TransactionMut, i: u32, m: &Any) {
    let ps = paragraphs(frag, txn);
    let (a, b) = (&ps[i as usize - 1], &ps[i as usize]);
    if a.get_attribute(txn, DELETE).is_some() || b.get_attribute(txn, DELETE).is_some() {
        return; // the web editor moves the cursor instead
    }
    let own = is_user(
        match b.get_attribute(txn, INSERT) {
            Some(Out::Any(v)) => Some(v),
            _ => None,
        }
        .as_ref(),
        REVIEWER,
    );
    let (at, bt) = (text_of(a, txn), text_of(b, txn));
    let moved: String = runs(&bt, txn)
        .into_iter()
        .filter(|(_, _, del)| del.is_none())
        .map(|(s, _, _)| s)
        .collect();
    let mut tail = String::new();
    if own {
        for (s, _, del) in runs(&at, txn).into_iter().rev() {
            if !is_user(del.as_ref(), REVIEWER) {
                break;
            }
            tail.insert_str(0, &s);
        }
        if !moved.starts_with(&tail) {
            tail.clear();
        }
    }
    if own {
        frag.remove_range(txn, i, 1);
    } else {
        let len = bt.len(txn);
        propose_deletion(&bt, txn, 0, len, m);
        b.insert_attribute(txn, DELETE, m.clone());
    }
    let end = at.len(txn);
    if !tail.is_empty() {
        let n = tail.len() as u32;
        at.format(txn, end - n, n, attrs(vec![(DELETE, Any::Null)]));
    }
    let rest = &moved[tail.len()..];
    if !rest.is_empty() {
        at.insert_with_attributes(txn, end, rest, attrs(vec![(INSERT, m.clone())]));
    }
}

/// The document as the reviewer sees it: each paragraph's text without what is proposed for
/// deletion.
fn seen(doc: &Doc) -> Vec<String> {
    let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
    let txn = doc.transact();
    paragraphs(&frag, &txn)
        .iter()
        .filter(|p| p.get_attribute(&txn, DELETE).is_none())
        .map(|p| {
            runs(&text_of(p, &txn), &txn)
                .into_iter()
                .filter(|(_, _, del)| del.is_none())
                .map(|(s, _, _)| s)
                .collect()
        })
        .collect()
}

/// Plain text of every paragraph.
fn plain(doc: &Doc) -> Vec<String> {
    let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
    let txn = doc.transact();
    paragraphs(&frag, &txn)
        .iter()
        .map(|p| {
            runs(&text_of(p, &txn), &txn)
                .into_iter()
                .map(|(s, _, _)| s)
                .collect()
        })
        .collect()
}

/// Accepts (or rejects) every suggestion, as the editor's Accept all does.
fn settle(frag: &XmlFragmentRef, txn: &mut TransactionMut, accept: bool) {
    let ps = paragraphs(frag, txn);
    for (i, p) in ps.iter().enumerate().rev() {
        let block_ins = p.get_attribute(txn, INSERT).is_some();
        let block_del = p.get_attribute(txn, DELETE).is_some();
        if (block_ins && !accept) || (block_del && accept) {
            frag.remove_range(txn, i as u32, 1);
            continue;
        }
        if block_ins {
            p.remove_attribute(txn, &INSERT);
        }
        if block_del {
            p.remove_attribute(txn, &DELETE);
        }
        let t = text_of(p, txn);
        let mut pos = 0u32;
        let mut todo = Vec::new();
        for (s, ins, del) in runs(&t, txn) {
            let len = s.len() as u32;
            let gone = if accept { del.is_some() } else { ins.is_some() };
            todo.push((pos, len, gone, ins.is_some(), del.is_some()));
            pos += len;
        }
        for (at, len, gone, ins, del) in todo.into_iter().rev() {
            if gone {
                t.remove_range(txn, at, len);
            } else if ins || del {
                let clear = attrs(vec![(INSERT, Any::Null), (DELETE, Any::Null)]);
                t.format(txn, at, len, clear);
            }
        }
    }
}

impl World {
    async fn join(rooms: &Rooms, conn: u64, author: &str, doc: Doc) -> (RoomHandle, Peer) {
        let (mut ob, rx) = outbox(conn, true, OutboxLimits::default());
        ob.author = Some(Arc::from(author));
        let room = rooms.join("s", ob).await.expect("joins");
        let sv = doc.transact().state_vector().encode_v1();
        room.send(RoomMsg::Inbound {
            conn,
            msg: Inbound::SyncStep1(sv),
        })
        .await;
        let peer = Peer {
            doc,
            conn,
            rx,
            refused: None,
        };
        (room, peer)
    }

    async fn send(&mut self, reviewer: bool, update: Vec<u8>) {
        let peer = if reviewer {
            &self.reviewer
        } else {
            &self.editor
        };
        let update = Bytes::from(update);
        let msg = match reviewer {
            true => Inbound::Suggestion(update),
            false => Inbound::Update(update),
        };
        self.room
            .send(RoomMsg::Inbound {
                conn: peer.conn,
                msg,
            })
            .await;
    }

    /// Applies what the server sent one side.
    async fn receive(&mut self, reviewer: bool) {
        let peer = if reviewer {
            &mut self.reviewer
        } else {
            &mut self.editor
        };
        while let Ok(Some(f)) =
            tokio::time::timeout(Duration::from_millis(30), peer.rx.recv()).await
        {
            match Message::decode(&f).expect("protocol") {
                Message::SyncStep2(u) | Message::Update(u) => apply(&peer.doc, &u),
                Message::SyncStep1(sv) => {
                    // Answer as a client does: what the server lacks.
                    let sv = yrs::StateVector::decode_v1(&sv).unwrap();
                    let u = peer.doc.transact().encode_state_as_update_v1(&sv);
                    let (conn, msg) = match reviewer {
                        true => (peer.conn, Inbound::Suggestion(Bytes::from(u))),
                        false => (peer.conn, Inbound::Update(Bytes::from(u))),
                    };
                    self.room.send(RoomMsg::Inbound { conn, msg }).await;
                }
                Message::Ext(Ext::Error { message, .. }) => {
                    peer.refused.get_or_insert(message);
                }
                _ => {}
            }
        }
    }

    /// The reviewer's edit, as their editor would make it.
    async fn suggest(&mut self, edit: impl FnOnce(&XmlFragmentRef, &mut TransactionMut, &Any)) {
        self.next_id += 1;
        let m = mark(REVIEWER, &format!("s{}", self.next_id));
        let update = {
            let frag = self.reviewer.doc.get_or_insert_xml_fragment(FRAGMENT);
            let mut txn = self.reviewer.doc.transact_mut();
            edit(&frag, &mut txn, &m);
            txn.encode_update_v1()
        };
        self.send(true, update).await;
    }

    fn letters(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                self.letters += 1;
                char::from(b'a' + (self.letters % 26) as u8)
            })
            .collect()
    }

    async fn run(&mut self, op: Op) {
        // Where an op lands: paragraph p (modulo how many) and offset at (modulo its length + 1).
        fn place(doc: &Doc, p: usize, at: usize) -> (u32, u32) {
            let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
            let txn = doc.transact();
            let ps = paragraphs(&frag, &txn);
            let i = p % ps.len();
            let t = text_of(&ps[i], &txn);
            (i as u32, (at % (t.len(&txn) as usize + 1)) as u32)
        }
        match op {
            Op::Type { p, at, len } => {
                let s = self.letters(len);
                let (i, at) = place(&self.reviewer.doc, p, at);
                self.suggest(|f, txn, m| {
                    let t = text_of(&paragraphs(f, txn)[i as usize], txn);
                    t.insert_with_attributes(txn, at, &s, attrs(vec![(INSERT, m.clone())]));
                })
                .await;
            }
            Op::Delete { p, at, len } => {
                let (i, at) = place(&self.reviewer.doc, p, at);
                self.suggest(|f, txn, m| {
                    let t = text_of(&paragraphs(f, txn)[i as usize], txn);
                    let end = (at + len as u32).min(t.len(txn));
                    propose_deletion(&t, txn, at, end, m);
                })
                .await;
            }
            Op::Split { p, at } => {
                let (i, at) = place(&self.reviewer.doc, p, at);
                self.suggest(|f, txn, m| propose_split(f, txn, i, at, &[String::new()], m))
                    .await;
            }
            Op::Paste { p, at, paras } => {
                let lines: Vec<String> = (0..paras).map(|_| self.letters(3)).collect();
                let (i, at) = place(&self.reviewer.doc, p, at);
                self.suggest(|f, txn, m| {
                    let t = text_of(&paragraphs(f, txn)[i as usize], txn);
                    t.insert_with_attributes(txn, at, &lines[0], attrs(vec![(INSERT, m.clone())]));
                    let after = at + lines[0].len() as u32;
                    propose_split(f, txn, i, after, &lines[1..], m);
                })
                .await;
            }
            Op::Join { p } => {
                let (i, _) = place(&self.reviewer.doc, p, 0);
                if i > 0 {
                    self.suggest(|f, txn, m| propose_join(f, txn, i, m)).await;
                }
            }
            Op::Edit { p, at, delete } => {
                let s = self.letters(2).to_uppercase();
                let (i, at) = place(&self.editor.doc, p, at);
                let update = {
                    let frag = self.editor.doc.get_or_insert_xml_fragment(FRAGMENT);
                    let mut txn = self.editor.doc.transact_mut();
                    let t = text_of(&paragraphs(&frag, &txn)[i as usize], &txn);
                    let len = t.len(&txn);
                    if delete && at < len {
                        t.remove_range(&mut txn, at, 1);
                    } else {
                        // As the web editor types in Editing mode: never inside a suggestion's
                        // marks (plain text, even in the middle of someone's proposal).
                        // One mark at a time: yrs writes a map of several in hash order, which
                        // would make YATA's placement of concurrent marks differ between runs.
                        let plain = attrs(vec![(INSERT, Any::Null)]);
                        t.insert_with_attributes(&mut txn, at, &s, plain);
                        let len = s.len() as u32;
                        t.format(&mut txn, at, len, attrs(vec![(DELETE, Any::Null)]));
                    }
                    txn.encode_update_v1()
                };
                self.send(false, update).await;
            }
            Op::Sync { reviewer } => self.receive(reviewer).await,
        }
    }

    async fn quiet(&mut self) {
        for _ in 0..3 {
            self.receive(true).await;
            self.receive(false).await;
        }
    }
}

fn check(ops: Vec<Op>, accept: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(MemoryStore::new());
        let (commit, writer) = group_commit(store.clone(), GroupCommitConfig::default());
        tokio::spawn(writer);
        let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
        let rooms = Rooms::new(
            store,
            Arc::new(crate::fanout::LocalFanout),
            commit,
            RoomConfig {
                schema: Some(crate::schema::Schema::editor()),
                ..RoomConfig::default()
            },
            tracker.clone(),
            shutdown.clone(),
        );
        let (room, editor) = World::join(&rooms, 1, "1", yrs_doc()).await;
        let (_, reviewer) = World::join(&rooms, 2, REVIEWER, yrs_doc()).await;
        let mut w = World {
            reviewer,
            editor,
            room,
            next_id: 0,
            letters: 0,
        };
        // The document starts with two paragraphs the editor wrote.
        let first = {
            let frag = w.editor.doc.get_or_insert_xml_fragment(FRAGMENT);
            let mut txn = w.editor.doc.transact_mut();
            for text in ["Hello world", "Second line"] {
                let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
                p.push_back(&mut txn, XmlTextPrelim::new(text));
            }
            txn.encode_update_v1()
        };
        w.send(false, first).await;
        w.quiet().await;
        for op in ops {
            w.run(op).await;
            assert_eq!(
                w.reviewer.refused, None,
                "a legitimate suggestion was refused"
            );
        }
        w.quiet().await;
        assert_eq!(
            w.reviewer.refused, None,
            "a legitimate suggestion was refused"
        );
        assert_eq!(plain(&w.reviewer.doc), plain(&w.editor.doc), "diverged");
        let seen_by_reviewer = seen(&w.reviewer.doc);
        let update = {
            let frag = w.editor.doc.get_or_insert_xml_fragment(FRAGMENT);
            let mut txn = w.editor.doc.transact_mut();
            settle(&frag, &mut txn, accept);
            txn.encode_update_v1()
        };
        w.send(false, update).await;
        w.quiet().await;
        assert_eq!(w.editor.refused, None);
        let (r, e) = (plain(&w.reviewer.doc), plain(&w.editor.doc));
        assert_eq!(r, e, "settling converges");
        let server = rooms.state("s").await.unwrap();
        let d = yrs_doc();
        apply(&d, &server.update);
        assert_eq!(plain(&d), e, "the server holds what the clients hold");
        if accept {
            assert_eq!(
                e, seen_by_reviewer,
                "accept all gives what the reviewer saw"
            );
        }
        shutdown.cancel();
        tracker.close();
        tracker.wait().await;
    });
}

proptest! {
    #![proptest_config(crate::proptest_config(64))]
    #[test]
    fn reviewer_sessions_are_never_refused_and_settle_to_what_was_seen(
        ops in prop::collection::vec(op(), 1..40),
        accept in any::<bool>(),
    ) {
        check(ops, accept);
    }
}
