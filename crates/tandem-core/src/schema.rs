//! The editor's document schema, checked on every client update: in the `default` XML fragment
//! (the web editor's document) an update may add only the elements, text formats (marks) and
//! attributes the editor defines, link addresses must be http(s) or mailto, and an image's (or an
//! attachment's) `src` must be one of the document's own files (`/api/docs/{doc}/files/{sha256}`,
//! see `DocSchema`). The schema is
//! A mention (`<mention id=…>`, see `users` in the file) must name an account: the watch collects
//! the ids an update adds ([`Mention`]) and the document's actor asks the server whether the
//! author may mention them (`room::People`) before the update counts.
//! The schema is `schema/editor.json` at the repository root, the same file the web client's `schema.test.ts`
//! compares with the editor's own schema. Other root types (a stock client's `Y.Text` or
//! `Y.Map`) are not looked at; `--schema off` turns the check off (a plain Yjs relay).
//!
//! The check reads what a transaction changed in the fragment (a deep observer's events: added
//! elements and texts, changed attributes, inserted or reformatted text), so a keystroke costs
//! one small event. An update that breaks the schema has been applied by then: the caller treats
//! it as a poisoned update (the sender is closed, the document rebuilt from the log, nothing
//! logged or broadcast).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use yrs::types::xml::XmlOut;
use yrs::types::{Attrs, Change, Delta, EntryChange, Event};
use yrs::XmlTextRef;
use yrs::{Any, DeepObservable, Out, Text, TransactionMut, Xml, XmlElementRef, XmlFragment};

use crate::doc::FRAGMENT;

/// Nodes and marks with the attributes each may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    nodes: HashMap<String, HashSet<String>>,
    marks: HashMap<String, HashSet<String>>,
    /// Mark attributes holding an address (`link.href`).
    url_marks: HashMap<String, HashSet<String>>,
    /// Node attributes naming one of the document's files (`image.src`).
    file_nodes: HashMap<String, HashSet<String>>,
    /// Node attributes naming an account (`mention.id`).
    user_nodes: HashMap<String, HashSet<String>>,
}

/// A mention a client update added (a new `<mention>` or a changed id): the account it names and
/// its place in the document (the node's `ref`, so a notification can link to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub user: String,
    pub place: Option<String>,
}

/// The schema as one document checks it: file addresses must point into that document.
#[derive(Debug, Clone)]
pub struct DocSchema {
    schema: Arc<Schema>,
    /// `/api/docs/{doc}/files/`.
    files: String,
}

impl DocSchema {
    /// A file address of this document: its prefix, then 64 lowercase hex digits.
    fn own_file(&self, v: &Any) -> bool {
        let Any::String(s) = v else { return false };
        s.strip_prefix(self.files.as_str()).is_some_and(|id| {
            id.len() == 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    }

    /// An attribute `name = value` set on an element `<tag>`: `Some(user)` when it names an
    /// account (a mention's id).
    fn attribute(&self, tag: &str, name: &str, value: &Any) -> Result<Option<String>, String> {
        if !self.schema.nodes.get(tag).is_some_and(|a| a.contains(name)) {
            return Err(format!("an attribute {name:?} on <{tag}>"));
        }
        let is_file = self
            .schema
            .file_nodes
            .get(tag)
            .is_some_and(|a| a.contains(name));
        if is_file && !matches!(value, Any::Null) && !self.own_file(value) {
            return Err(format!(
                "a <{tag}> {name} that is not one of this document's files"
            ));
        }
        let is_user = self
            .schema
            .user_nodes
            .get(tag)
            .is_some_and(|a| a.contains(name));
        if !is_user {
            return Ok(None);
        }
        match value {
            Any::String(s) if !s.is_empty() && s.len() <= 64 => Ok(Some(s.to_string())),
            Any::Number(yrs::any::Number::Int(n)) => Ok(Some(n.to_string())),
            _ => Err(format!("a <{tag}> {name} that is not an account id")),
        }
    }

    /// The `ref` of an element, if it has one (a mention's place).
    fn place(txn: &TransactionMut, el: &XmlElementRef) -> Option<String> {
        match el.get_attribute(txn, "ref") {
            Some(Out::Any(Any::String(s))) => Some(s.to_string()),
            _ => None,
        }
    }
}

#[derive(serde::Deserialize)]
struct SchemaFile {
    nodes: HashMap<String, Vec<String>>,
    marks: HashMap<String, Vec<String>>,
    #[serde(default)]
    urls: Urls,
}

#[derive(serde::Deserialize, Default)]
struct Urls {
    #[serde(default)]
    marks: HashMap<String, Vec<String>>,
    #[serde(default)]
    files: HashMap<String, Vec<String>>,
    #[serde(default)]
    users: HashMap<String, Vec<String>>,
}

impl Schema {
    /// The web editor's schema, `schema/editor.json`.
    pub fn editor() -> Arc<Schema> {
        static EDITOR: std::sync::OnceLock<Arc<Schema>> = std::sync::OnceLock::new();
        EDITOR
            .get_or_init(|| {
                let json = include_str!("../../../schema/editor.json");
                Arc::new(Schema::parse(json).expect("schema/editor.json is valid"))
            })
            .clone()
    }

    pub fn parse(json: &str) -> Result<Schema, String> {
        let f: SchemaFile = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let sets = |m: HashMap<String, Vec<String>>| {
            m.into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect()
        };
        Ok(Schema {
            nodes: sets(f.nodes),
            marks: sets(f.marks),
            url_marks: sets(f.urls.marks),
            file_nodes: sets(f.urls.files),
            user_nodes: sets(f.urls.users),
        })
    }

    /// The schema as document `doc` checks it.
    pub fn for_doc(self: &Arc<Self>, doc: &str) -> DocSchema {
        DocSchema {
            schema: self.clone(),
            files: format!("/api/docs/{doc}/files/"),
        }
    }
}

impl DocSchema {
    fn element(
        &self,
        txn: &TransactionMut,
        el: &XmlElementRef,
        mentions: &mut Vec<Mention>,
    ) -> Result<(), String> {
        let tag = el.tag();
        if !self.schema.nodes.contains_key(tag.as_ref()) {
            return Err(format!("an element <{tag}> the editor does not have"));
        }
        for (name, value) in el.attributes(txn) {
            let value = match value {
                Out::Any(a) => a,
                _ => {
                    return Err(format!(
                        "an attribute {name:?} on <{tag}> that is not a value"
                    ))
                }
            };
            if let Some(user) = self.attribute(tag, name, &value)? {
                let place = Self::place(txn, el);
                mentions.push(Mention { user, place });
            }
        }
        Ok(())
    }

    /// A node added to the fragment, with everything in it. A loop, not recursion: an added
    /// subtree may be thousands of levels deep (refused for that too, by the nesting guard, but
    /// this runs as the transaction commits, whatever the guards said).
    fn node(
        &self,
        txn: &TransactionMut,
        out: Out,
        mentions: &mut Vec<Mention>,
    ) -> Result<(), String> {
        let mut todo = match out {
            Out::YXmlElement(el) => vec![XmlOut::Element(el)],
            Out::YXmlText(text) => vec![XmlOut::Text(text)],
            _ => return Err("something other than an element or a text".into()),
        };
        while let Some(node) = todo.pop() {
            match node {
                XmlOut::Element(el) => {
                    self.element(txn, &el, mentions)?;
                    todo.extend(el.children(txn));
                }
                XmlOut::Text(t) => self.text(txn, &t)?,
                XmlOut::Fragment(_) => return Err("a fragment inside an element".into()),
            }
        }
        Ok(())
    }

    fn text(&self, txn: &TransactionMut, text: &XmlTextRef) -> Result<(), String> {
        if text.attributes(txn).next().is_some() {
            return Err("attributes on a text".into());
        }
        for chunk in text.diff(txn, |_| ()) {
            if !matches!(chunk.insert, Out::Any(Any::String(_))) {
                return Err("an embed in a text".into());
            }
            if let Some(attrs) = &chunk.attributes {
                self.marks(attrs)?;
            }
        }
        Ok(())
    }

    fn marks(&self, attrs: &Attrs) -> Result<(), String> {
        for (mark, value) in attrs.iter() {
            let Some(allowed) = self.schema.marks.get(mark.as_ref()) else {
                return Err(format!("a format {mark:?} the editor does not have"));
            };
            let fields = match value {
                Any::Null => continue, // the mark is being removed
                Any::Map(fields) => fields,
                Any::Bool(true) => continue, // a mark without attributes, as some clients write it
                _ => return Err(format!("a format {mark:?} with a value that is not a map")),
            };
            for (name, v) in fields.iter() {
                if !allowed.contains(name) {
                    return Err(format!("an attribute {name:?} on the format {mark:?}"));
                }
                let is_url = self
                    .schema
                    .url_marks
                    .get(mark.as_ref())
                    .is_some_and(|u| u.contains(name));
                if is_url && !matches!(v, Any::Null) && !safe_url(v) {
                    return Err(format!("a {mark} address that is not http(s) or mailto"));
                }
            }
        }
        Ok(())
    }

    /// What one transaction changed in the fragment; the mentions it added go to `mentions`.
    fn events(
        &self,
        txn: &TransactionMut,
        events: &yrs::types::Events,
        mentions: &mut Vec<Mention>,
    ) -> Result<(), String> {
        for event in events.iter() {
            match event {
                Event::XmlFragment(e) => {
                    for change in e.delta(txn) {
                        if let Change::Added(values) = change {
                            for v in values {
                                self.node(txn, v.clone(), mentions)?;
                            }
                        }
                    }
                    if let XmlOut::Element(el) = e.target() {
                        let tag = el.tag();
                        for (name, change) in e.keys(txn) {
                            match change {
                                EntryChange::Inserted(v) | EntryChange::Updated(_, v) => {
                                    let Out::Any(v) = v else {
                                        return Err(format!(
                                            "an attribute {name:?} on <{tag}> that is not a value"
                                        ));
                                    };
                                    if let Some(user) = self.attribute(tag, name, v)? {
                                        let place = Self::place(txn, el);
                                        mentions.push(Mention { user, place });
                                    }
                                }
                                EntryChange::Removed(_) => {}
                            }
                        }
                    }
                }
                Event::XmlText(e) => {
                    for d in e.delta(txn) {
                        match d {
                            Delta::Inserted(Out::Any(Any::String(_)), attrs)
                            | Delta::Retain(_, attrs) => {
                                if let Some(attrs) = attrs {
                                    self.marks(attrs)?;
                                }
                            }
                            Delta::Inserted(_, _) => return Err("an embed in a text".into()),
                            Delta::Deleted(_) => {}
                        }
                    }
                    if e.keys(txn)
                        .values()
                        .any(|c| !matches!(c, EntryChange::Removed(_)))
                    {
                        return Err("attributes on a text".into());
                    }
                }
                _ => return Err("a type the editor does not have".into()),
            }
        }
        Ok(())
    }
}

fn safe_url(v: &Any) -> bool {
    let Any::String(s) = v else { return false };
    let s = s.trim_start().to_ascii_lowercase();
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("mailto:")
}

/// Watches a document's fragment while client updates are applied (see the module doc).
pub(crate) struct SchemaWatch {
    /// Set while a client update is applied; trusted data (the log, other nodes) is not checked.
    checking: Arc<AtomicBool>,
    /// The first violation the observer saw, and the mentions it collected.
    found: Arc<Mutex<Found>>,
}

#[derive(Default)]
struct Found {
    violation: Option<String>,
    mentions: Vec<Mention>,
}

impl SchemaWatch {
    pub(crate) fn install(doc: &yrs::Doc, schema: DocSchema) -> SchemaWatch {
        let checking = Arc::new(AtomicBool::new(false));
        let found = Arc::new(Mutex::new(Found::default()));
        let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
        let (on, slot) = (checking.clone(), found.clone());
        frag.observe_deep("tandem-schema", move |txn, events| {
            if !on.load(Ordering::Relaxed) {
                return;
            }
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(why) = schema.events(txn, events, &mut slot.mentions) {
                slot.violation.get_or_insert(why);
            }
        });
        SchemaWatch { checking, found }
    }

    /// Runs `apply` with the check on; the violation, if the observer saw one, and the mentions
    /// the update added.
    pub(crate) fn check<T>(&self, apply: impl FnOnce() -> T) -> (T, Option<String>, Vec<Mention>) {
        self.checking.store(true, Ordering::Relaxed);
        let out = apply();
        self.checking.store(false, Ordering::Relaxed);
        let found = std::mem::take(&mut *self.found.lock().unwrap_or_else(|p| p.into_inner()));
        (out, found.violation, found.mentions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_schema_parses_and_knows_its_nodes() {
        let s = Schema::editor();
        assert!(s.nodes.contains_key("paragraph") && s.nodes.contains_key("table"));
        assert!(s.marks["link"].contains("href"));
        assert!(s.url_marks["link"].contains("href"));
        assert!(
            safe_url(&Any::from("https://example.org"))
                && !safe_url(&Any::from("javascript:alert(1)"))
        );
    }

    #[test]
    fn an_image_must_be_one_of_the_documents_files() {
        let s = Schema::editor().for_doc("notes");
        let id = "0123456789abcdef".repeat(4);
        let own = Any::from(format!("/api/docs/notes/files/{id}"));
        assert_eq!(s.attribute("image", "src", &own), Ok(None));
        assert_eq!(s.attribute("attachment", "src", &own), Ok(None));
        assert_eq!(s.attribute("image", "src", &Any::Null), Ok(None));
        assert_eq!(s.attribute("image", "alt", &Any::from("a cat")), Ok(None));
        for foreign in [
            format!("/api/docs/other/files/{id}"),
            format!("https://evil.example/files/{id}"),
            format!("/api/docs/notes/files/{id}?x"),
            "/api/docs/notes/files/ABC".to_owned(),
            "javascript:alert(1)".to_owned(),
            "data:image/png;base64,AAAA".to_owned(),
        ] {
            assert!(
                s.attribute("image", "src", &Any::from(foreign.clone()))
                    .is_err(),
                "{foreign}"
            );
        }
        assert!(s.attribute("image", "onerror", &Any::from("x")).is_err());
    }

    #[test]
    fn a_mention_names_an_account_by_id() {
        let s = Schema::editor().for_doc("notes");
        assert_eq!(
            s.attribute("mention", "id", &Any::from("42")),
            Ok(Some("42".into()))
        );
        assert_eq!(
            s.attribute("mention", "id", &Any::Number(yrs::any::Number::Int(7))),
            Ok(Some("7".into()))
        );
        assert_eq!(s.attribute("mention", "label", &Any::from("Ann")), Ok(None));
        for bad in [
            Any::Null,
            Any::from(""),
            Any::from("x".repeat(65)),
            Any::Bool(true),
        ] {
            assert!(s.attribute("mention", "id", &bad).is_err(), "{bad:?}");
        }
        assert!(s.attribute("mention", "onclick", &Any::from("x")).is_err());
    }
}
