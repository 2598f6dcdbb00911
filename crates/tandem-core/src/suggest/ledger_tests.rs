//! The suggestions' history ([`super::ledger`]): made, accepted and rejected, read from the
//! log alone.

use bytes::Bytes;
use yrs::{
    Any, Doc, Text, Transact, TransactionMut, WriteTxn, Xml, XmlElementPrelim, XmlFragment,
    XmlFragmentRef, XmlTextPrelim,
};

use super::tests::{attrs, mark, text_at};
use super::{replay, Kind, Outcome, Settled, DELETE, INSERT};
use crate::doc::{yrs_doc, ServerDoc, FRAGMENT};

/// One writer's edits, each kept as the update a log would hold.
struct Log {
    doc: Doc,
    updates: Vec<(u64, Bytes)>,
}

impl Log {
    fn edit(&mut self, edit: impl FnOnce(&XmlFragmentRef, &mut TransactionMut)) -> u64 {
        let mut txn = self.doc.transact_mut();
        let frag = txn.get_or_insert_xml_fragment(FRAGMENT);
        edit(&frag, &mut txn);
        let rev = self.updates.len() as u64 + 1;
        self.updates
            .push((rev, Bytes::from(txn.encode_update_v1())));
        rev
    }
}

fn outcomes(found: &[(u64, Vec<Settled>)], rev: u64) -> Vec<(String, Kind, String, Outcome)> {
    found
        .iter()
        .filter(|(r, _)| *r == rev)
        .flat_map(|(_, s)| s.iter())
        .map(|s| (s.id.clone(), s.kind, s.quote.clone(), s.outcome))
        .collect()
}

#[test]
fn history_tells_suggestions_made_accepted_and_rejected() {
    let mut log = Log {
        doc: yrs_doc(),
        updates: Vec::new(),
    };
    let start = log.edit(|f, txn| {
        let p = f.push_back(txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(txn, XmlTextPrelim::new("Grüße an die Welt"));
    });
    // A reviewer ("7") proposes a word after the multibyte one and the deletion of "die ".
    let made = log.edit(|f, txn| {
        let t = text_at(f, txn, 0);
        let at = "Grüße".len() as u32;
        t.insert_with_attributes(txn, at, " lieb", attrs(&[(INSERT, mark("7", "s1"))]));
    });
    let marked = log.edit(|f, txn| {
        let t = text_at(f, txn, 0);
        let at = "Grüße lieb an ".len() as u32;
        t.format(txn, at, 4, attrs(&[(DELETE, mark("7", "s2"))]));
        // and a whole new paragraph of its own
        let p = f.push_back(txn, XmlElementPrelim::empty("paragraph"));
        p.insert_attribute(txn, INSERT, mark("7", "s3"));
        p.push_back(txn, XmlTextPrelim::new(""));
    });
    log.edit(|f, txn| {
        let Some(yrs::types::xml::XmlOut::Element(p)) = f.get(txn, 1) else {
            unreachable!()
        };
        let Some(yrs::types::xml::XmlOut::Text(t)) = p.get(txn, 0) else {
            unreachable!()
        };
        t.insert_with_attributes(txn, 0, "Neu.", attrs(&[(INSERT, mark("7", "s3"))]));
    });
    // The owner accepts the word and rejects the deletion; then rejects the paragraph.
    let settled = log.edit(|f, txn| {
        let t = text_at(f, txn, 0);
        t.format(txn, "Grüße".len() as u32, 5, attrs(&[(INSERT, Any::Null)]));
        t.format(
            txn,
            "Grüße lieb an ".len() as u32,
            4,
            attrs(&[(DELETE, Any::Null)]),
        );
    });
    let dropped = log.edit(|f, txn| f.remove_range(txn, 1, 1));
    // A second deletion, accepted by deleting the text.
    let proposed = log.edit(|f, txn| {
        text_at(f, txn, 0).format(
            txn,
            0,
            "Grüße ".len() as u32,
            attrs(&[(DELETE, mark("7", "s4"))]),
        );
    });
    let taken = log.edit(|f, txn| text_at(f, txn, 0).remove_range(txn, 0, "Grüße ".len() as u32));

    let mut doc = ServerDoc::new();
    let ends = [start, made, marked + 1, settled, dropped, proposed, taken];
    let found = replay(&mut doc, &log.updates, &ends);
    use Kind::{Delete, Insert};
    use Outcome::{Accepted, Made, Rejected};
    let s = |id: &str| id.to_owned();
    assert_eq!(outcomes(&found, start), vec![]);
    assert_eq!(
        outcomes(&found, made),
        vec![(s("s1"), Insert, s(" lieb"), Made)]
    );
    assert_eq!(
        outcomes(&found, marked + 1),
        vec![
            (s("s2"), Delete, s("die "), Made),
            (s("s3"), Insert, s("Neu."), Made)
        ]
    );
    assert_eq!(
        outcomes(&found, settled),
        vec![
            (s("s1"), Insert, s(" lieb"), Accepted),
            (s("s2"), Delete, s("die "), Rejected)
        ]
    );
    assert_eq!(
        outcomes(&found, dropped),
        vec![(s("s3"), Insert, s("Neu."), Rejected)]
    );
    assert_eq!(
        outcomes(&found, proposed),
        vec![(s("s4"), Delete, s("Grüße "), Made)]
    );
    assert_eq!(
        outcomes(&found, taken),
        vec![(s("s4"), Delete, s("Grüße "), Accepted)]
    );
    assert!(found.iter().all(|(_, s)| s.iter().all(|s| s.user == "7")));
}
