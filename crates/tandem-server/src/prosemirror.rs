//! ProseMirror JSON (`{"type":"doc","content":[…]}`, what the editor and `export?format=json`
//! speak) as the editor's content, for the write API's `format=json`. Nodes become elements with
//! their attributes, runs of text nodes one text with their marks as formatting, as y-prosemirror
//! writes them. Nothing here decides what is allowed: the result is applied to an empty document
//! through the same schema check as any client's update, so JSON can hold exactly what the
//! editor could have typed.

use serde_json::Value;
use tandem_core::doc::ServerDoc;
use tandem_core::schema::Schema;
use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim, XmlTextRef};
use yrs::types::Attrs;
use yrs::{Any, Text, TransactionMut, Xml, XmlFragment};

use crate::import::Imported;

/// Past this, a document is refused (as the update guards would).
const MAX_NESTING: usize = 128;

/// `json` as an encoded document for `doc` (whose files an image may name); why not, for a
/// person to read.
pub fn from_prosemirror(json: &str, doc: &str) -> Result<Imported, String> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("this is not ProseMirror JSON: {e}"))?;
    let content = match &v {
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("doc") => o
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        _ => return Err("expected a document: {\"type\": \"doc\", \"content\": […]}".into()),
    };
    let mut written = Ok(());
    let update = ServerDoc::new().edit(|frag, txn| written = write(frag, txn, content, 1));
    written?;
    let mut checked = ServerDoc::with_schema(Some(Schema::editor().for_doc(doc)));
    checked.apply_client(&update).map_err(|e| e.to_string())?;
    Ok(Imported {
        update,
        title: None,
        mentions: checked.take_mentions(),
    })
}

fn write<P: XmlFragment>(
    parent: &P,
    txn: &mut TransactionMut,
    nodes: &[Value],
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_NESTING {
        return Err(format!("nodes nested more than {MAX_NESTING} deep"));
    }
    // Consecutive text nodes are one text, as in the editor.
    let mut text: Option<XmlTextRef> = None;
    for n in nodes {
        let kind = n
            .get("type")
            .and_then(Value::as_str)
            .ok_or("a node without a type")?;
        if kind == "text" {
            let s = n.get("text").and_then(Value::as_str).unwrap_or("");
            let t = match &text {
                Some(t) => t.clone(),
                None => {
                    let t = parent.push_back(txn, XmlTextPrelim::new(""));
                    text = Some(t.clone());
                    t
                }
            };
            let at = t.len(txn);
            t.insert_with_attributes(txn, at, s, marks(n)?);
            continue;
        }
        text = None;
        let el = parent.push_back(txn, XmlElementPrelim::empty(kind));
        if let Some(Value::Object(attrs)) = n.get("attrs") {
            for (name, v) in attrs.iter().filter(|(_, v)| !v.is_null()) {
                el.insert_attribute(txn, name.as_str(), any(v));
            }
        }
        let kids = n
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        write(&el, txn, kids, depth + 1)?;
    }
    Ok(())
}

/// A text node's marks as formatting attributes: `{bold: {}}`, `{link: {href: …}}`.
fn marks(n: &Value) -> Result<Attrs, String> {
    let mut attrs = Attrs::new();
    for m in n
        .get("marks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = m
            .get("type")
            .and_then(Value::as_str)
            .ok_or("a mark without a type")?;
        let value = match m.get("attrs") {
            Some(v @ Value::Object(_)) => any(v),
            _ => Any::from(std::collections::HashMap::<String, Any>::new()),
        };
        attrs.insert(kind.into(), value);
    }
    Ok(attrs)
}

fn any(v: &Value) -> Any {
    match v {
        Value::Null => Any::Null,
        Value::Bool(b) => Any::Bool(*b),
        Value::Number(n) => Any::from(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Any::from(s.as_str()),
        Value::Array(a) => Any::from(a.iter().map(any).collect::<Vec<_>>()),
        Value::Object(o) => Any::from(
            o.iter()
                .map(|(k, v)| (k.clone(), any(v)))
                .collect::<std::collections::HashMap<_, _>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_the_editor_content() {
        let json = r#"{"type":"doc","content":[
            {"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"Plan"}]},
            {"type":"paragraph","content":[
                {"type":"text","text":"Read "},
                {"type":"text","text":"this","marks":[{"type":"bold"}]},
                {"type":"text","text":" site","marks":[{"type":"link","attrs":{"href":"https://example.org"}}]}
            ]}
        ]}"#;
        let imported = from_prosemirror(json, "d").unwrap();
        let doc = ServerDoc::from_state(&imported.update).unwrap();
        let pm = crate::export::prosemirror_json(doc.doc()).unwrap();
        assert_eq!(
            crate::export::markdown(&pm),
            "## Plan\n\nRead **this**[ site](<https://example.org>)\n"
        );
    }

    #[test]
    fn json_holds_only_what_the_editor_could_have_typed() {
        let doc = |content: &str| format!(r#"{{"type":"doc","content":[{content}]}}"#);
        for (bad, why) in [
            (doc(r#"{"type":"script"}"#), "element"),
            (
                doc(r#"{"type":"paragraph","attrs":{"onclick":"x"}}"#),
                "attribute",
            ),
            (
                doc(
                    r#"{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"link","attrs":{"href":"javascript:alert(1)"}}]}]}"#,
                ),
                "link",
            ),
            (
                doc(r#"{"type":"image","attrs":{"src":"https://evil.example/x.png"}}"#),
                "image",
            ),
            (doc(r#"{"type":"mention","attrs":{"id":""}}"#), "mention"),
            ("[1, 2]".to_owned(), "not a document"),
            ("{".to_owned(), "not JSON"),
        ] {
            assert!(from_prosemirror(&bad, "d").is_err(), "{why}: {bad}");
        }
        let mut deep = String::from(r#"{"type":"paragraph"}"#);
        for _ in 0..200 {
            deep = format!(r#"{{"type":"blockquote","content":[{deep}]}}"#);
        }
        assert!(from_prosemirror(&doc(&deep), "d").is_err());
    }
}
