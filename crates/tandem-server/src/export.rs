//! Turns a document's durable state into formats people take away. The web editor keeps
//! ProseMirror content in the Yjs `XmlFragment` named `default`: block elements (paragraph,
//! heading, list items, …) holding `XmlText`. Only plain text for now; the output is data, never
//! markup, so it cannot carry script.

use yrs::types::text::TextRef;
use yrs::types::xml::{XmlFragment, XmlOut};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, Transact, Update};

/// The fragment the web editor (Tiptap's Collaboration extension) writes.
pub const FRAGMENT: &str = "default";

/// One line per text block, blank line between top-level blocks.
pub fn plain_text(state: &[u8]) -> Result<String, String> {
    let doc = Doc::new();
    let update = Update::decode_v1(state).map_err(|e| e.to_string())?;
    doc.transact_mut()
        .apply_update(update)
        .map_err(|e| e.to_string())?;
    let fragment = doc.get_or_insert_xml_fragment(FRAGMENT);
    let txn = doc.transact();
    let mut lines = Vec::new();
    for node in fragment.children(&txn) {
        walk(&node, &txn, &mut lines);
    }
    Ok(lines.join("\n"))
}

fn walk<T: ReadTxn>(node: &XmlOut, txn: &T, lines: &mut Vec<String>) {
    match node {
        XmlOut::Text(t) => lines.push(AsRef::<TextRef>::as_ref(t).get_string(txn)),
        XmlOut::Element(e) => {
            let children: Vec<XmlOut> = e.children(txn).collect();
            if children.iter().any(|c| matches!(c, XmlOut::Text(_))) {
                let mut line = String::new();
                for c in &children {
                    match c {
                        XmlOut::Text(t) => {
                            line.push_str(&AsRef::<TextRef>::as_ref(t).get_string(txn))
                        }
                        XmlOut::Element(inner) if inner.tag().as_ref() == "hardBreak" => {
                            line.push('\n')
                        }
                        _ => {}
                    }
                }
                lines.push(line);
            } else if children.is_empty() {
                lines.push(String::new());
            } else {
                for c in &children {
                    walk(c, txn, lines);
                }
            }
        }
        XmlOut::Fragment(f) => {
            for c in f.children(txn) {
                walk(&c, txn, lines);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
    use yrs::updates::encoder::Encode;
    use yrs::{Doc, ReadTxn, StateVector, Transact, XmlFragment};

    #[test]
    fn blocks_become_lines() {
        let doc = Doc::new();
        let f = doc.get_or_insert_xml_fragment(super::FRAGMENT);
        {
            let mut txn = doc.transact_mut();
            let p = f.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
            p.push_back(&mut txn, XmlTextPrelim::new("hello <b>"));
            let list = f.push_back(&mut txn, XmlElementPrelim::empty("bulletList"));
            let item = list.push_back(&mut txn, XmlElementPrelim::empty("listItem"));
            let ip = item.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
            ip.push_back(&mut txn, XmlTextPrelim::new("item"));
        }
        let state = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert_eq!(super::plain_text(&state).unwrap(), "hello <b>\nitem");
        assert!(super::plain_text(&[1, 2, 3]).is_err());
        let _ = doc.transact().state_vector().encode_v1();
    }
}
