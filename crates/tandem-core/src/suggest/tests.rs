//! The suggestion check on the server's document ([`ServerDoc::apply_suggestion`]): what a
//! reviewer may and may not change, each refusal leaving the document exactly as it was.

use std::collections::HashMap;
use std::sync::Arc;

use yrs::types::xml::XmlOut;
use yrs::updates::decoder::Decode;
use yrs::{
    Any, Doc, Text, Transact, TransactionMut, Update, WriteTxn, Xml, XmlElementPrelim, XmlFragment,
    XmlFragmentRef, XmlTextPrelim, XmlTextRef,
};

use crate::doc::{yrs_doc, ServerDoc, FRAGMENT};
use crate::schema::Schema;
use crate::suggest::{Refusal, DELETE, INSERT, MAX_SUGGESTION_BYTES};

const REVIEWER: &str = "7";

pub(crate) fn mark(user: &str, id: &str) -> Any {
    Any::Map(Arc::new(HashMap::from([
        ("id".to_owned(), Any::String(id.into())),
        ("user".to_owned(), Any::String(user.into())),
        ("time".to_owned(), Any::from(1_764_000_000_000.0_f64)),
    ])))
}

pub(crate) fn attrs(pairs: &[(&str, Any)]) -> yrs::types::Attrs {
    pairs
        .iter()
        .map(|(k, v)| (Arc::from(*k), v.clone()))
        .collect()
}

/// The server's document holding one paragraph an editor wrote, and a reviewer's copy of it.
struct Case {
    server: ServerDoc,
    editor: Doc,
    reviewer: Doc,
}

impl Case {
    fn new(text: &str) -> Case {
        let mut server = ServerDoc::with_schema(Some(Schema::editor().for_doc("d")));
        let editor = yrs_doc();
        let update = {
            let frag = editor.get_or_insert_xml_fragment(FRAGMENT);
            let mut txn = editor.transact_mut();
            let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
            p.push_back(&mut txn, XmlTextPrelim::new(text));
            txn.encode_update_v1()
        };
        assert_eq!(server.apply_client(&update), Ok(true));
        let reviewer = yrs_doc();
        apply(&reviewer, &server.encode_state());
        Case {
            server,
            editor,
            reviewer,
        }
    }

    /// The reviewer's edit, sent as a suggestion.
    fn suggest(
        &mut self,
        edit: impl FnOnce(&XmlFragmentRef, &mut TransactionMut),
    ) -> Result<bool, Refusal> {
        let update = edit_doc(&self.reviewer, edit);
        let before = self.server.encode_state();
        let result = self.server.apply_suggestion(&update, REVIEWER);
        if result.is_err() {
            assert_eq!(
                self.server.encode_state(),
                before,
                "a refusal changes nothing"
            );
            // The reviewer's copy goes back to the server's (as a reconnect would).
            self.reviewer = yrs_doc();
            apply(&self.reviewer, &before);
        }
        result
    }

    /// An editor's edit, applied as any editor's.
    fn edit(&mut self, edit: impl FnOnce(&XmlFragmentRef, &mut TransactionMut)) {
        apply(&self.editor, &self.server.encode_state());
        let update = edit_doc(&self.editor, edit);
        assert!(self.server.apply_client(&update).is_ok());
        apply(&self.reviewer, &self.server.encode_state());
    }

    fn refused(&mut self, edit: impl FnOnce(&XmlFragmentRef, &mut TransactionMut)) -> String {
        match self.suggest(edit) {
            Err(Refusal::NotASuggestion(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// The paragraphs' text, without formatting, one `<p>` each.
    fn text(&self) -> String {
        let doc = self.server.doc();
        let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
        let txn = doc.transact();
        let mut out = String::new();
        for p in frag.children(&txn) {
            let XmlOut::Element(p) = p else { continue };
            out.push_str("<p>");
            for t in p.children(&txn) {
                if let XmlOut::Text(t) = t {
                    for chunk in t.diff(&txn, |_| ()) {
                        if let yrs::Out::Any(Any::String(s)) = chunk.insert {
                            out.push_str(&s);
                        }
                    }
                }
            }
        }
        out
    }
}

fn apply(doc: &Doc, update: &[u8]) {
    doc.transact_mut()
        .apply_update(Update::decode_v1(update).unwrap())
        .unwrap();
}

fn edit_doc(doc: &Doc, edit: impl FnOnce(&XmlFragmentRef, &mut TransactionMut)) -> Vec<u8> {
    let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
    let mut txn = doc.transact_mut();
    edit(&frag, &mut txn);
    txn.encode_update_v1()
}

/// The text of the paragraph at `i`.
pub(crate) fn text_at(frag: &XmlFragmentRef, txn: &TransactionMut, i: u32) -> XmlTextRef {
    let Some(XmlOut::Element(p)) = frag.get(txn, i) else {
        panic!("no paragraph {i}")
    };
    match p.get(txn, 0) {
        Some(XmlOut::Text(t)) => t,
        _ => panic!("no text in paragraph {i}"),
    }
}

fn own() -> Any {
    mark(REVIEWER, "s1")
}

#[test]
fn a_reviewer_inserts_marked_text_and_deletes_it_again() {
    let mut c = Case::new("Hello world");
    let ok = c.suggest(|f, txn| {
        let t = text_at(f, txn, 0);
        t.insert_with_attributes(txn, 5, ",", attrs(&[(INSERT, own())]));
    });
    assert_eq!(ok, Ok(true));
    assert_eq!(c.text(), "<p>Hello, world");
    // Typing on in the same suggestion, then deleting part of it for real.
    assert_eq!(
        c.suggest(|f, txn| {
            let t = text_at(f, txn, 0);
            t.insert_with_attributes(txn, 6, " dear", attrs(&[(INSERT, own())]));
        }),
        Ok(true)
    );
    assert_eq!(
        c.suggest(|f, txn| text_at(f, txn, 0).remove_range(txn, 5, 3)),
        Ok(true)
    );
    assert_eq!(c.text(), "<p>Helloear world");
}

#[test]
fn plain_or_forged_or_foreign_changes_are_refused() {
    let mut c = Case::new("Hello world");
    let why = c.refused(|f, txn| text_at(f, txn, 0).insert(txn, 0, "X"));
    assert!(
        why.contains("without the author's suggestion mark"),
        "{why}"
    );
    let why = c.refused(|f, txn| {
        let forged = mark("8", "s9");
        text_at(f, txn, 0).insert_with_attributes(txn, 0, "X", attrs(&[(INSERT, forged)]));
    });
    assert!(
        why.contains("without the author's suggestion mark"),
        "{why}"
    );
    let why = c.refused(|f, txn| text_at(f, txn, 0).remove_range(txn, 0, 5));
    assert!(why.contains("not the author's suggestion"), "{why}");
    let why = c.refused(|f, txn| {
        text_at(f, txn, 0).format(txn, 0, 5, attrs(&[("bold", Any::Bool(true))]));
    });
    assert!(why.contains("format \"bold\""), "{why}");
    // A mark whose map lacks an id or a time is no suggestion either.
    let why = c.refused(|f, txn| {
        let bare = Any::Map(Arc::new(HashMap::from([(
            "user".to_owned(),
            Any::String(REVIEWER.into()),
        )])));
        text_at(f, txn, 0).insert_with_attributes(txn, 0, "X", attrs(&[(INSERT, bare)]));
    });
    assert!(why.contains("suggestion mark"), "{why}");
    assert_eq!(c.text(), "<p>Hello world");
    // After each refusal the check works on a fresh copy.
    assert_eq!(
        c.suggest(|f, txn| {
            text_at(f, txn, 0).insert_with_attributes(txn, 11, "!", attrs(&[(INSERT, own())]))
        }),
        Ok(true)
    );
}

#[test]
fn a_reviewer_marks_text_for_deletion_and_takes_it_back_but_not_anothers_mark() {
    let mut c = Case::new("Hello world");
    assert_eq!(
        c.suggest(|f, txn| text_at(f, txn, 0).format(txn, 6, 5, attrs(&[(DELETE, own())]))),
        Ok(true)
    );
    assert_eq!(
        c.suggest(|f, txn| text_at(f, txn, 0).format(txn, 6, 5, attrs(&[(DELETE, Any::Null)]))),
        Ok(true)
    );
    // Another reviewer's deletion mark (written by an editor here) stays theirs.
    c.edit(|f, txn| text_at(f, txn, 0).format(txn, 0, 5, attrs(&[(DELETE, mark("8", "o1"))])));
    let why = c.refused(|f, txn| {
        text_at(f, txn, 0).format(txn, 0, 5, attrs(&[(DELETE, Any::Null)]));
    });
    assert!(why.contains("deletion mark"), "{why}");
    let why = c.refused(|f, txn| text_at(f, txn, 0).format(txn, 0, 5, attrs(&[(DELETE, own())])));
    assert!(why.contains("another person's deletion mark"), "{why}");
    // Removed beside a legitimate change, it is a side effect the server puts back at once
    // (see the next test).
    assert_eq!(
        c.suggest(|f, txn| {
            let t = text_at(f, txn, 0);
            t.insert_with_attributes(txn, 11, "!", attrs(&[(INSERT, own())]));
            t.format(txn, 0, 2, attrs(&[(DELETE, Any::Null)]));
        }),
        Ok(true)
    );
    let repair = c.server.take_repair().expect("the mark is put back");
    let doc = c.server.doc();
    let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
    let txn = doc.transact();
    let first = text_at_read(&frag, &txn).diff(&txn, |_| ()).remove(0);
    assert_eq!(
        first.attributes.and_then(|a| a.get(DELETE).cloned()),
        Some(mark("8", "o1"))
    );
    assert!(!repair.is_empty());
}

#[test]
fn new_blocks_are_suggestions_when_marked_and_filled_with_own_text() {
    let mut c = Case::new("Hello world");
    // Enter in the middle: the tail is marked for deletion and a suggested paragraph holds it.
    assert_eq!(
        c.suggest(|f, txn| {
            text_at(f, txn, 0).format(txn, 6, 5, attrs(&[(DELETE, own())]));
            let p = f.insert(txn, 1, XmlElementPrelim::empty("paragraph"));
            p.insert_attribute(txn, INSERT, own());
            let t = p.push_back(txn, XmlTextPrelim::new(""));
            t.insert_with_attributes(txn, 0, "world", attrs(&[(INSERT, own())]));
        }),
        Ok(true)
    );
    // An empty suggested paragraph, then removed again.
    assert_eq!(
        c.suggest(|f, txn| {
            let p = f.insert(txn, 2, XmlElementPrelim::empty("paragraph"));
            p.insert_attribute(txn, INSERT, own());
        }),
        Ok(true)
    );
    assert_eq!(c.suggest(|f, txn| f.remove_range(txn, 2, 1)), Ok(true));
    let why = c.refused(|f, txn| {
        f.insert(txn, 0, XmlElementPrelim::empty("paragraph"));
    });
    assert!(why.contains("new <paragraph> without"), "{why}");
    let why = c.refused(|f, txn| {
        let p = f.insert(txn, 0, XmlElementPrelim::empty("paragraph"));
        p.insert_attribute(txn, INSERT, own());
        p.push_back(txn, XmlTextPrelim::new("unmarked"));
    });
    assert!(
        why.contains("not the author's suggested insertion"),
        "{why}"
    );
    let why = c.refused(|f, txn| f.remove_range(txn, 0, 1));
    assert!(why.contains("removal of a <paragraph>"), "{why}");
    // A block may be proposed for deletion by its attribute, and the proposal withdrawn.
    assert_eq!(
        c.suggest(|f, txn| {
            let Some(XmlOut::Element(p)) = f.get(txn, 0) else {
                panic!()
            };
            p.insert_attribute(txn, DELETE, own());
        }),
        Ok(true)
    );
    assert_eq!(
        c.suggest(|f, txn| {
            let Some(XmlOut::Element(p)) = f.get(txn, 0) else {
                panic!()
            };
            p.remove_attribute(txn, &DELETE);
        }),
        Ok(true)
    );
    let why = c.refused(|f, txn| {
        let Some(XmlOut::Element(p)) = f.get(txn, 0) else {
            panic!()
        };
        p.insert_attribute(txn, "level", Any::from(2.0_f64));
    });
    assert!(why.contains("attribute \"level\""), "{why}");
}

#[test]
fn changes_outside_the_editor_and_huge_suggestions_are_refused() {
    let mut c = Case::new("Hello");
    let why = c.refused(|_, txn| {
        let other = txn.get_or_insert_text("notes");
        other.insert(txn, 0, "hidden");
    });
    assert!(why.contains("outside the editor's document"), "{why}");
    // A root type that exists already (a stock client's text) is no better.
    let update = edit_doc(&c.editor, |_, txn| {
        txn.get_or_insert_text("notes").insert(txn, 0, "theirs");
    });
    assert!(c.server.apply_client(&update).is_ok());
    apply(&c.reviewer, &c.server.encode_state());
    let why = c.refused(|_, txn| {
        txn.get_or_insert_text("notes").insert(txn, 0, "mine");
    });
    assert!(why.contains("outside the editor's document"), "{why}");
    let big = "x".repeat(MAX_SUGGESTION_BYTES + 1);
    let why = c.refused(|f, txn| {
        text_at(f, txn, 0).insert_with_attributes(txn, 5, &big, attrs(&[(INSERT, own())]));
    });
    assert!(why.contains("larger than"), "{why}");
    assert_eq!(c.text(), "<p>Hello");
}

#[test]
fn the_copy_follows_editors_and_multibyte_text() {
    let mut c = Case::new("héllo 😀 wörld");
    let ü = "ü".len() as u32;
    for i in 0..20 {
        c.edit(|f, txn| text_at(f, txn, 0).insert(txn, 0, "é"));
        let id = format!("s{i}");
        let ok = c.suggest(|f, txn| {
            let t = text_at(f, txn, 0);
            let end = t.len(txn);
            t.insert_with_attributes(txn, end, "ü", attrs(&[(INSERT, mark(REVIEWER, &id))]));
        });
        assert_eq!(ok, Ok(true), "round {i}");
    }
    // Deleting own suggested text that follows multibyte characters, but not the "d" before it.
    assert_eq!(
        c.suggest(|f, txn| {
            let t = text_at(f, txn, 0);
            let end = t.len(txn);
            t.remove_range(txn, end - 2 * ü, 2 * ü)
        }),
        Ok(true)
    );
    let why = c.refused(|f, txn| {
        let t = text_at(f, txn, 0);
        let end = t.len(txn);
        t.remove_range(txn, end - 18 * ü - 1, 1)
    });
    assert!(why.contains("not the author's suggestion"), "{why}");
    assert!(c.text().ends_with(&format!("wörld{}", "ü".repeat(18))));
}

/// The formatting (with the suggestion marks) of the first paragraph's text, as runs.
fn runs(doc: &Doc) -> Vec<(String, Option<Any>, Option<Any>)> {
    let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
    let txn = doc.transact();
    text_at_read(&frag, &txn)
        .diff(&txn, |_| ())
        .into_iter()
        .map(|d| {
            let text = match d.insert {
                yrs::Out::Any(Any::String(s)) => s.to_string(),
                other => format!("{other:?}"),
            };
            let get = |k| d.attributes.as_ref().and_then(|a| a.get(k).cloned());
            (text, get(INSERT), get(DELETE))
        })
        .collect()
}

/// The first paragraph's text, in a read transaction.
fn text_at_read<T: yrs::ReadTxn>(frag: &XmlFragmentRef, txn: &T) -> XmlTextRef {
    match frag.get(txn, 0) {
        Some(XmlOut::Element(p)) => match p.get(txn, 0) {
            Some(XmlOut::Text(t)) => t,
            _ => panic!("no text"),
        },
        _ => panic!("no paragraph"),
    }
}

/// A formatting change outside the rules, in a text the update also inserts into or deletes
/// from, is a side effect (Yjs's formatting under concurrency: the next test has a real one):
/// accepted,
/// and the server's own edit, recorded right after, puts the formatting back, so every replica
/// ends as before for that text. Without an insertion or deletion beside it, it is refused.
#[test]
fn a_side_effect_on_others_formatting_is_put_back_by_the_server() {
    let mut c = Case::new("hello world");
    c.edit(|f, txn| text_at(f, txn, 0).format(txn, 6, 5, attrs(&[(DELETE, mark("8", "o1"))])));
    assert_eq!(
        c.suggest(|f, txn| text_at(f, txn, 0).insert_with_attributes(
            txn,
            0,
            "Oh ",
            attrs(&[(INSERT, own())])
        )),
        Ok(true)
    );
    assert_eq!(c.server.take_repair(), None, "nothing to put back");
    let before = runs(c.server.doc());
    assert_eq!(before[0].0, "Oh ", "{before:?}");
    // The reviewer deletes their own "Oh" and, in the same update, the formatting marks around
    // "world" (another reviewer's deletion mark) and gives "hello" their insertion mark.
    let update = edit_doc(&c.reviewer, |f, txn| {
        let t = text_at(f, txn, 0);
        t.remove_range(txn, 0, 2);
        t.format(txn, 5, 5, attrs(&[(DELETE, Any::Null)]));
    });
    assert_eq!(c.server.apply_suggestion(&update, REVIEWER), Ok(true));
    let repair = c
        .server
        .take_repair()
        .expect("the server puts the formatting back");
    let after = runs(c.server.doc());
    let own_space = (" ".to_owned(), Some(own()), None);
    assert_eq!(after[0], own_space, "{after:?}");
    assert_eq!(after[1..], before[1..], "the other mark is back");
    // Every replica that takes both updates ends the same.
    for doc in [&c.editor, &c.reviewer] {
        apply(doc, &c.server.encode_state());
        assert_eq!(runs(doc), after);
    }
    apply(&c.reviewer, &repair);
    // The same change of formatting with nothing else in the text is refused.
    let why =
        c.refused(|f, txn| text_at(f, txn, 0).format(txn, 7, 5, attrs(&[(DELETE, Any::Null)])));
    assert!(why.contains("deletion mark"), "{why}");
}

/// The race for real (found by a search over small sessions): the reviewer proposes text, an
/// editor who has not seen all of it types plain text inside it, and the reviewer, who has not
/// seen that, deletes part of their own proposal. The merged formatting would change text the
/// reviewer never touched; the server accepts the deletion and puts the formatting back, and
/// every replica ends the same, with none of the editor's text marked as the reviewer's.
#[test]
fn a_reviewer_deleting_beside_an_editors_fresh_text_is_accepted_and_repaired() {
    let fixed = |id: u64| {
        Doc::with_options(yrs::Options {
            client_id: yrs::block::ClientID::new(id),
            cleanup_formatting: false,
            ..yrs::Options::default()
        })
    };
    let mut server = ServerDoc::with_schema(Some(Schema::editor().for_doc("d")));
    let (editor, reviewer) = (fixed(1), fixed(2));
    let first = edit_doc(&editor, |f, txn| {
        let p = f.push_back(txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(txn, XmlTextPrelim::new("hello world"));
    });
    assert_eq!(server.apply_client(&first), Ok(true));
    apply(&reviewer, &server.encode_state());
    let suggest = |server: &mut ServerDoc, edit: &dyn Fn(&XmlTextRef, &mut TransactionMut)| {
        let update = edit_doc(&reviewer, |f, txn| edit(&text_at(f, txn, 0), txn));
        let accepted = server.apply_suggestion(&update, REVIEWER);
        assert_eq!(accepted, Ok(true));
        server.take_repair()
    };
    let typed = |server: &mut ServerDoc, at: u32| {
        let update = edit_doc(&editor, |f, txn| {
            let t = text_at(f, txn, 0);
            t.insert_with_attributes(txn, at, "X", attrs(&[(INSERT, Any::Null)]));
            t.format(txn, at, 1, attrs(&[(DELETE, Any::Null)]));
        });
        assert_eq!(server.apply_client(&update), Ok(true));
    };
    let ins = |id: &str| attrs(&[(INSERT, mark(REVIEWER, id))]);
    assert_eq!(
        suggest(&mut server, &|t, txn| t.insert_with_attributes(
            txn,
            0,
            "ab",
            ins("s0")
        )),
        None
    );
    assert_eq!(
        suggest(&mut server, &|t, txn| t.insert_with_attributes(
            txn,
            0,
            "ab",
            ins("s1")
        )),
        None
    );
    typed(&mut server, 5); // the editor has seen neither
    assert_eq!(
        suggest(&mut server, &|t, txn| t.insert_with_attributes(
            txn,
            4,
            "ab",
            ins("s3")
        )),
        None
    );
    let del = attrs(&[(DELETE, mark(REVIEWER, "d4"))]);
    assert_eq!(
        suggest(&mut server, &|t, txn| t.format(txn, 14, 1, del.clone())),
        None
    );
    apply(&editor, &server.encode_state());
    typed(&mut server, 2); // inside the reviewer's first proposal
                           // The reviewer, not having seen the editor's second "X", deletes their proposal "ab" (s0).
    let repair = suggest(&mut server, &|t, txn| t.remove_range(txn, 2, 2));
    assert!(repair.is_some(), "the server put formatting back");
    let end = runs(server.doc());
    for doc in [&editor, &reviewer] {
        apply(doc, &server.encode_state());
        assert_eq!(runs(doc), end);
    }
    let text: String = end.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(text, "abXabhelloX world");
    for (run, insert, _) in &end {
        if run.contains('X') {
            assert_eq!(
                insert, &None,
                "the editor's text is not the reviewer's proposal: {end:?}"
            );
        }
    }
}
