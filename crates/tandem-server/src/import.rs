//! Brings Markdown and HTML into a document. Markdown is parsed (CommonMark with GitHub's
//! strikethrough and task lists) into the editor's schema (the same node and mark names Tiptap
//! uses, written into the `default` XML fragment the way y-prosemirror does). HTML is first
//! cleaned by ammonia, then converted to Markdown, then imported the same way. Raw HTML inside
//! Markdown is never kept as markup (its text is), only `http`, `https` and `mailto` links
//! survive, and nesting is capped, so an import cannot carry script or blow the stack.

use std::collections::HashMap;
use std::sync::Arc;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use tandem_core::doc::ServerDoc;
use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
use yrs::types::Attrs;
use yrs::{Any, Text, TransactionMut, Xml, XmlFragment};

use crate::export::safe_url;

/// Deepest nesting kept; deeper blocks are flattened into their ancestor.
const MAX_DEPTH: usize = 48;

#[derive(Debug)]
enum Node {
    El {
        tag: &'static str,
        attrs: Vec<(&'static str, Any)>,
        kids: Vec<Node>,
    },
    Text {
        text: String,
        marks: Vec<(&'static str, Any)>,
    },
}

fn el(tag: &'static str, attrs: Vec<(&'static str, Any)>) -> Node {
    Node::El {
        tag,
        attrs,
        kids: Vec::new(),
    }
}

fn is_inline(n: &Node) -> bool {
    matches!(
        n,
        Node::Text { .. }
            | Node::El {
                tag: "hardBreak",
                ..
            }
    )
}

/// Block containers may not hold text directly: wrap runs of inline nodes in paragraphs.
fn wrap_inline(kids: Vec<Node>) -> Vec<Node> {
    let mut out = Vec::new();
    let mut run = Vec::new();
    for k in kids {
        if is_inline(&k) {
            run.push(k);
        } else {
            if !run.is_empty() {
                out.push(Node::El {
                    tag: "paragraph",
                    attrs: vec![],
                    kids: std::mem::take(&mut run),
                });
            }
            out.push(k);
        }
    }
    if !run.is_empty() {
        out.push(Node::El {
            tag: "paragraph",
            attrs: vec![],
            kids: run,
        });
    }
    out
}

fn level(l: HeadingLevel) -> f64 {
    match l {
        HeadingLevel::H1 => 1.0,
        HeadingLevel::H2 => 2.0,
        HeadingLevel::H3 => 3.0,
        HeadingLevel::H4 => 4.0,
        HeadingLevel::H5 => 5.0,
        HeadingLevel::H6 => 6.0,
    }
}

fn empty_map() -> Any {
    Any::Map(Arc::new(HashMap::new()))
}

/// Parses Markdown into the editor's node tree.
fn parse_markdown(md: &str) -> Vec<Node> {
    let opts = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS | Options::ENABLE_TABLES;
    // The document is the bottom of the stack; `None` entries are blocks not kept (too deep, or
    // constructs the editor lacks) whose content goes to the nearest kept ancestor.
    let mut stack: Vec<Option<Node>> = vec![Some(el("doc", vec![]))];
    let mut marks: Vec<Option<(&'static str, Any)>> = Vec::new();
    let mut in_code = false;
    // In a table's first row (GFM tables have exactly one header row).
    let mut in_head = false;
    let depth = |stack: &Vec<Option<Node>>| stack.iter().filter(|n| n.is_some()).count();
    let push_child = |stack: &mut Vec<Option<Node>>, child: Node| {
        if let Some(Some(Node::El { kids, .. })) = stack.iter_mut().rev().find(|n| n.is_some()) {
            kids.push(child);
        }
    };
    for ev in Parser::new_ext(md, opts) {
        match ev {
            Event::Start(tag) => {
                let node = match tag {
                    Tag::Paragraph => Some(el("paragraph", vec![])),
                    Tag::Heading { level: l, .. } => {
                        Some(el("heading", vec![("level", Any::from(level(l)))]))
                    }
                    Tag::BlockQuote(_) => Some(el("blockquote", vec![])),
                    Tag::CodeBlock(kind) => {
                        in_code = true;
                        let lang: String = match kind {
                            CodeBlockKind::Fenced(l) => l
                                .chars()
                                .take_while(|c| !c.is_whitespace())
                                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                                .collect(),
                            CodeBlockKind::Indented => String::new(),
                        };
                        let lang = if lang.is_empty() {
                            Any::Null
                        } else {
                            Any::String(lang.into())
                        };
                        Some(el("codeBlock", vec![("language", lang)]))
                    }
                    Tag::List(None) => Some(el("bulletList", vec![])),
                    Tag::List(Some(start)) => {
                        Some(el("orderedList", vec![("start", Any::from(start as f64))]))
                    }
                    Tag::Item => Some(el("listItem", vec![])),
                    Tag::Emphasis => {
                        marks.push(Some(("italic", empty_map())));
                        continue;
                    }
                    Tag::Strong => {
                        marks.push(Some(("bold", empty_map())));
                        continue;
                    }
                    Tag::Strikethrough => {
                        marks.push(Some(("strike", empty_map())));
                        continue;
                    }
                    Tag::Link { dest_url, .. } => {
                        let mark = safe_url(&dest_url).then(|| {
                            let attrs = HashMap::from([(
                                "href".to_string(),
                                Any::String(dest_url.trim().into()),
                            )]);
                            ("link", Any::Map(Arc::new(attrs)))
                        });
                        marks.push(mark);
                        continue;
                    }
                    Tag::Table(_) => Some(el("table", vec![])),
                    Tag::TableHead => {
                        in_head = true;
                        Some(el("tableRow", vec![]))
                    }
                    Tag::TableRow => Some(el("tableRow", vec![])),
                    Tag::TableCell if in_head => Some(el("tableHeader", vec![])),
                    Tag::TableCell => Some(el("tableCell", vec![])),
                    // Images (only a document's own files may be in it), footnotes…: the editor
                    // has no such nodes; keep their text.
                    Tag::Image { .. } | Tag::Superscript | Tag::Subscript => {
                        marks.push(None);
                        continue;
                    }
                    _ => None,
                };
                let keep = node.filter(|_| depth(&stack) < MAX_DEPTH);
                stack.push(keep);
            }
            Event::End(end) => match end {
                TagEnd::Emphasis
                | TagEnd::Strong
                | TagEnd::Strikethrough
                | TagEnd::Link
                | TagEnd::Image
                | TagEnd::Superscript
                | TagEnd::Subscript => {
                    marks.pop();
                }
                _ => {
                    if matches!(end, TagEnd::CodeBlock) {
                        in_code = false;
                    }
                    if matches!(end, TagEnd::TableHead) {
                        in_head = false;
                    }
                    let Some(top) = stack.pop() else { continue };
                    let Some(Node::El { tag, attrs, kids }) = top else {
                        continue;
                    };
                    let mut node = Node::El { tag, attrs, kids };
                    if let Node::El { tag, kids, attrs } = &mut node {
                        match *tag {
                            "listItem" | "taskItem" | "blockquote" => {
                                *kids = wrap_inline(std::mem::take(kids))
                            }
                            // A cell holds blocks, at least one paragraph.
                            "tableCell" | "tableHeader" => {
                                *kids = wrap_inline(std::mem::take(kids));
                                if kids.is_empty() {
                                    kids.push(el("paragraph", vec![]));
                                }
                            }
                            "bulletList" => {
                                // All items carried a task marker: it is a task list.
                                let all_tasks = !kids.is_empty()
                                    && kids.iter().all(|k| {
                                        matches!(
                                            k,
                                            Node::El {
                                                tag: "taskItem",
                                                ..
                                            }
                                        )
                                    });
                                if all_tasks {
                                    *tag = "taskList";
                                    attrs.clear();
                                }
                            }
                            "codeBlock" => {
                                // A code block holds one text run, without its final newline.
                                if let Some(Node::Text { text, .. }) = kids.last_mut() {
                                    if text.ends_with('\n') {
                                        text.pop();
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    push_child(&mut stack, node);
                }
            },
            Event::Text(t) | Event::Code(t) if in_code => push_child(
                &mut stack,
                Node::Text {
                    text: t.to_string(),
                    marks: vec![],
                },
            ),
            Event::Text(t) => {
                let active = marks.iter().flatten().cloned().collect();
                push_child(
                    &mut stack,
                    Node::Text {
                        text: t.to_string(),
                        marks: active,
                    },
                )
            }
            Event::Code(t) => {
                let mut active: Vec<_> = marks.iter().flatten().cloned().collect();
                active.push(("code", empty_map()));
                push_child(
                    &mut stack,
                    Node::Text {
                        text: t.to_string(),
                        marks: active,
                    },
                )
            }
            Event::SoftBreak => push_child(
                &mut stack,
                Node::Text {
                    text: " ".into(),
                    marks: marks.iter().flatten().cloned().collect(),
                },
            ),
            Event::HardBreak => push_child(&mut stack, el("hardBreak", vec![])),
            Event::Rule => push_child(&mut stack, el("horizontalRule", vec![])),
            Event::TaskListMarker(checked) => {
                // Turn the enclosing list item into a task item.
                if let Some(Some(Node::El { tag, attrs, .. })) = stack.iter_mut().rev().find(|n| {
                    matches!(
                        n,
                        Some(Node::El {
                            tag: "listItem",
                            ..
                        })
                    )
                }) {
                    *tag = "taskItem";
                    attrs.push(("checked", Any::Bool(checked)));
                }
            }
            // Raw HTML is never markup in a document: dropped (text around it stays).
            Event::Html(_) | Event::InlineHtml(_) => {}
            Event::FootnoteReference(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                push_child(
                    &mut stack,
                    Node::Text {
                        text: t.to_string(),
                        marks: vec![],
                    },
                )
            }
        }
    }
    // Unbalanced input cannot happen with pulldown-cmark, but close whatever is open.
    while stack.len() > 1 {
        if let Some(Some(n)) = stack.pop() {
            push_child(&mut stack, n);
        }
    }
    match stack.pop() {
        Some(Some(Node::El { kids, .. })) => wrap_inline(kids),
        _ => vec![],
    }
}

fn write_nodes<P: XmlFragment>(parent: &P, txn: &mut TransactionMut, nodes: &[Node]) {
    let mut index = 0u32;
    let mut i = 0;
    while i < nodes.len() {
        match &nodes[i] {
            Node::El { tag, attrs, kids } => {
                let e = parent.insert(txn, index, XmlElementPrelim::empty(*tag));
                for (k, v) in attrs {
                    e.insert_attribute(txn, *k, v.clone());
                }
                write_nodes(&e, txn, kids);
                i += 1;
            }
            Node::Text { .. } => {
                // Consecutive runs share one XmlText, each with its own formatting.
                let t = parent.insert(txn, index, XmlTextPrelim::new(""));
                let mut at = 0u32;
                // Text inserted after a formatted run inherits its formatting unless told
                // otherwise: every run names every mark seen so far (absent ones as null).
                let mut seen: Vec<&'static str> = Vec::new();
                while let Some(Node::Text { text, marks }) = nodes.get(i) {
                    let mut attrs: Attrs =
                        seen.iter().map(|k| (Arc::from(*k), Any::Null)).collect();
                    for (k, v) in marks {
                        attrs.insert(Arc::from(*k), v.clone());
                        if !seen.contains(k) {
                            seen.push(k);
                        }
                    }
                    t.insert_with_attributes(txn, at, text, attrs);
                    at += text.encode_utf16().count() as u32;
                    i += 1;
                }
            }
        }
        index += 1;
    }
}

fn first_heading(nodes: &[Node]) -> Option<String> {
    nodes.iter().find_map(|n| match n {
        Node::El {
            tag: "heading",
            kids,
            ..
        } => Some(
            kids.iter()
                .filter_map(|k| match k {
                    Node::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<String>(),
        ),
        _ => None,
    })
}

/// An imported document: its encoded state (the first revision) and a title suggestion.
pub struct Imported {
    pub update: Vec<u8>,
    pub title: Option<String>,
    /// The accounts it mentions (ProseMirror JSON may hold mentions; Markdown and HTML never).
    pub mentions: Vec<tandem_core::schema::Mention>,
}

pub fn from_markdown(md: &str) -> Imported {
    let nodes = parse_markdown(md);
    let mut doc = ServerDoc::new();
    doc.edit(|frag, txn| write_nodes(frag, txn, &nodes));
    let update = doc.encode_state();
    Imported {
        update,
        title: first_heading(&nodes),
        mentions: Vec::new(),
    }
}

/// The body as text, or a message a person can act on: a Word, PDF or image file sent as if it
/// were Markdown is not UTF-8, or holds NULs and other control characters no text file has.
pub fn as_text(body: &[u8]) -> Result<&str, String> {
    const NOT_TEXT: &str = "this file is not text: Tandem imports Markdown (.md), plain text \
        (.txt) and HTML (.html); save a Word or PDF document as one of these first";
    let text = std::str::from_utf8(body).map_err(|_| NOT_TEXT.to_string())?;
    let control = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}');
    if text.chars().any(|c| control(c) || c == '\u{fffd}') {
        return Err(NOT_TEXT.into());
    }
    Ok(text)
}

/// HTML: the page's `<title>` becomes the title suggestion (never body text); the rest is
/// cleaned by ammonia (no script, handlers or dangerous URLs survive), turned into Markdown, then
/// imported as Markdown.
pub fn from_html(html: &str) -> Result<Imported, String> {
    let (title, rest) = take_title(html);
    let clean = crate::export::sanitize_html(&rest);
    let md = htmd::convert(&clean).map_err(|e| format!("cannot read the HTML: {e}"))?;
    let mut imported = from_markdown(&md);
    if let Some(t) = title {
        imported.title = Some(t);
    }
    Ok(imported)
}

/// Cuts the first `<title>…</title>` out of `html`: its text (tags dropped, the common entities
/// decoded), and the HTML without it.
fn take_title(html: &str) -> (Option<String>, String) {
    let lower = html.to_ascii_lowercase();
    let Some(open) = lower.find("<title") else {
        return (None, html.to_owned());
    };
    let Some(start) = lower[open..].find('>').map(|i| open + i + 1) else {
        return (None, html.to_owned());
    };
    let Some(end) = lower[start..].find("</title").map(|i| start + i) else {
        return (None, html.to_owned());
    };
    let close = lower[end..].find('>').map_or(html.len(), |i| end + i + 1);
    let text = ammonia::Builder::empty()
        .clean(&html[start..end])
        .to_string();
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let rest = format!("{}{}", &html[..open], &html[close..]);
    ((!text.is_empty()).then_some(text), rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(md: &str) -> String {
        let imported = from_markdown(md);
        let doc = ServerDoc::from_state(&imported.update).unwrap();
        crate::export::render(doc.doc(), crate::export::Format::Markdown).unwrap()
    }

    use tandem_core::doc::ServerDoc;

    /// A GFM table comes in as a table (header row, cells) and goes out as the same table.
    #[test]
    fn gfm_tables_round_trip() {
        let md = "| Name | Role |\n| --- | --- |\n| Ann | **lead** |\n| Bo |  |\n";
        assert_eq!(roundtrip(md), md);
        let html =
            from_html("<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>")
                .unwrap();
        let doc = ServerDoc::from_state(&html.update).unwrap();
        let out = crate::export::render(doc.doc(), crate::export::Format::Markdown).unwrap();
        assert_eq!(
            out, "| A | B |\n| --- | --- |\n| 1 | 2 |\n",
            "HTML tables too"
        );
    }

    #[test]
    fn tight_list_items_and_quotes_get_paragraphs() {
        let md = roundtrip("- a\n- b\n\n> q\n");
        assert_eq!(md, "- a\n- b\n\n> q\n");
    }

    #[test]
    fn the_html_title_is_the_title_not_body_text() {
        let html = "<html><head><TITLE>Q3 &amp; Q4 <b>plan</b></TITLE></head>\
                    <body><h1>Heading</h1><p>Body</p></body></html>";
        let imported = from_html(html).unwrap();
        assert_eq!(imported.title.as_deref(), Some("Q3 & Q4 plan"));
        let doc = ServerDoc::from_state(&imported.update).unwrap();
        let md = crate::export::render(doc.doc(), crate::export::Format::Markdown).unwrap();
        assert_eq!(md, "# Heading\n\nBody\n");
        // Without a <title>, the first heading.
        let imported = from_html("<h2>First</h2><p>x</p>").unwrap();
        assert_eq!(imported.title.as_deref(), Some("First"));
    }

    #[test]
    fn binary_files_are_refused_with_a_reason() {
        // The first bytes of a .docx (a zip archive).
        let docx = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xdf\xa4\xd2lZ\x01";
        let err = as_text(docx).unwrap_err();
        assert!(err.contains("not text"), "{err}");
        assert!(as_text("a\u{0}b".as_bytes()).is_err());
        assert!(as_text("read as text: \u{fffd}\u{fffd}".as_bytes()).is_err());
        assert_eq!(
            as_text("# Fine\ttext\r\n".as_bytes()).unwrap(),
            "# Fine\ttext\r\n"
        );
    }

    #[test]
    fn deep_nesting_is_flattened_not_a_stack_overflow() {
        let deep = ">".repeat(10_000) + " deep";
        let md = roundtrip(&deep);
        assert!(md.contains("deep"));
    }
}
