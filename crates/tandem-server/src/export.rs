//! Turns a document into formats people take away: ProseMirror JSON, Markdown, HTML and plain
//! text. The web editor keeps ProseMirror content in the Yjs `XmlFragment` named `default`
//! (y-prosemirror's mapping: a node is an `XmlElement` named after its type with its attributes;
//! text is `XmlText` whose formatting attributes are the marks). Everything is rendered from the
//! ProseMirror JSON, and HTML is passed through ammonia last, so no export carries script, event
//! handlers or `javascript:` URLs whatever the document holds.

use std::fmt::Write;

use serde_json::{json, Map, Value};
use yrs::types::text::{Diff, TextRef};
use yrs::types::xml::{XmlFragment, XmlOut};
use yrs::types::Attrs;
use yrs::{Any, Doc, Out, ReadTxn, Text, Transact, Xml};

/// The fragment the web editor (Tiptap's Collaboration extension) writes.
pub use tandem_core::doc::FRAGMENT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Html,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "text" | "txt" => Format::Text,
            "markdown" | "md" => Format::Markdown,
            "html" => Format::Html,
            "json" | "prosemirror" => Format::Json,
            _ => return None,
        })
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Json => "json",
        }
    }
}

/// A document whose elements nest deeper than the server accepts: no walker follows it (one
/// stored before the limit existed is refused, never walked into a stack overflow).
#[derive(Debug, thiserror::Error)]
#[error("this document nests elements more than {MAX_NESTING} levels deep, which Tandem does not export")]
pub struct TooDeep;

pub use tandem_core::apply::MAX_NESTING;

/// The document without its pending suggestions (as it is until someone accepts them).
pub fn render(doc: &Doc, format: Format) -> Result<String, TooDeep> {
    render_with(doc, format, false)
}

/// [`render`], or with `suggestions` the pending suggestions marked up: `<ins>`/`<del>` in
/// HTML, CriticMarkup (`{++added++}`, `{--removed--}`) in Markdown and text, the marks as they
/// are in JSON.
pub fn render_with(doc: &Doc, format: Format, suggestions: bool) -> Result<String, TooDeep> {
    let mut pm = prosemirror_json(doc)?;
    if !suggestions {
        without_suggestions(&mut pm);
    }
    // The JSON is at most MAX_NESTING levels deep, so the recursive renderers below are bounded.
    Ok(match format {
        Format::Json => pm.to_string(),
        Format::Text => plain_text(&pm),
        Format::Markdown => markdown(&pm),
        Format::Html => html(&pm),
    })
}

/// The document as ProseMirror JSON: `{"type": "doc", "content": [...]}`.
pub fn prosemirror_json(doc: &Doc) -> Result<Value, TooDeep> {
    let fragment = doc.get_or_insert_xml_fragment(FRAGMENT);
    let txn = doc.transact();
    let content = nodes_json(fragment.children(&txn), &txn, 1)?;
    Ok(json!({ "type": "doc", "content": content }))
}

/// The nodes at nesting `depth` (1 for the document's own children); an element past the limit
/// is refused, as the actor refuses it on the way in (`apply::check_nesting` counts the same way).
fn nodes_json<T: ReadTxn>(
    nodes: impl Iterator<Item = XmlOut>,
    txn: &T,
    depth: usize,
) -> Result<Vec<Value>, TooDeep> {
    let mut out = Vec::new();
    for n in nodes {
        out.extend(node_json(&n, txn, depth)?);
    }
    Ok(out)
}

fn any_json(a: &Any) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

fn node_json<T: ReadTxn>(node: &XmlOut, txn: &T, depth: usize) -> Result<Vec<Value>, TooDeep> {
    Ok(match node {
        XmlOut::Element(_) | XmlOut::Fragment(_) if depth > MAX_NESTING => return Err(TooDeep),
        XmlOut::Element(e) => {
            let mut obj = Map::new();
            obj.insert("type".into(), Value::String(e.tag().to_string()));
            let attrs: Map<String, Value> = e
                .attributes(txn)
                .map(|(k, v)| {
                    let v = match v {
                        Out::Any(a) => any_json(&a),
                        other => Value::String(other.to_string(txn)),
                    };
                    (k.to_string(), v)
                })
                .collect();
            if !attrs.is_empty() {
                obj.insert("attrs".into(), Value::Object(attrs));
            }
            let content = nodes_json(e.children(txn), txn, depth + 1)?;
            if !content.is_empty() {
                obj.insert("content".into(), Value::Array(content));
            }
            vec![Value::Object(obj)]
        }
        XmlOut::Text(t) => {
            let t: &TextRef = t.as_ref();
            t.diff(txn, |_| ())
                .into_iter()
                .filter_map(|d: Diff<()>| text_json(&d, txn))
                .collect()
        }
        XmlOut::Fragment(f) => nodes_json(f.children(txn), txn, depth + 1)?,
    })
}

fn text_json<T: ReadTxn>(d: &Diff<()>, txn: &T) -> Option<Value> {
    let text = match &d.insert {
        Out::Any(Any::String(s)) => s.to_string(),
        other => other.clone().to_string(txn),
    };
    if text.is_empty() {
        return None;
    }
    let mut obj = json!({ "type": "text", "text": text });
    if let Some(attrs) = &d.attributes {
        let marks = marks_json(attrs);
        if !marks.is_empty() {
            obj["marks"] = Value::Array(marks);
        }
    }
    Some(obj)
}

fn marks_json(attrs: &Attrs) -> Vec<Value> {
    let mut marks: Vec<Value> = attrs
        .iter()
        .filter(|(_, v)| !matches!(v, Any::Null | Any::Undefined | Any::Bool(false)))
        .map(|(k, v)| match v {
            Any::Map(m) if !m.is_empty() => json!({ "type": k.to_string(), "attrs": any_json(v) }),
            _ => json!({ "type": k.to_string() }),
        })
        .collect();
    marks.sort_by(|a, b| a["type"].as_str().cmp(&b["type"].as_str()));
    marks
}

/// Takes out what is only proposed (text and blocks marked `suggestionInsert`) and keeps what is
/// only proposed for deletion, unmarked: the document as it stands until a suggestion is accepted.
pub fn without_suggestions(node: &mut Value) {
    use tandem_core::suggest::{DELETE, INSERT};
    let proposed =
        |n: &Value| attr(n, INSERT).is_some_and(|v| !v.is_null()) || has_mark(n, INSERT).is_some();
    if let Some(attrs) = node.get_mut("attrs").and_then(Value::as_object_mut) {
        attrs.remove(INSERT);
        attrs.remove(DELETE);
    }
    if let Some(marks) = node.get_mut("marks").and_then(Value::as_array_mut) {
        marks.retain(|m| kind(m) != DELETE && kind(m) != INSERT);
        if marks.is_empty() {
            node.as_object_mut().map(|o| o.remove("marks"));
        }
    }
    if let Some(content) = node.get_mut("content").and_then(Value::as_array_mut) {
        content.retain(|c| !proposed(c));
        content.iter_mut().for_each(without_suggestions);
    }
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn kind(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("")
}

fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a Value> {
    node.get("attrs").and_then(|a| a.get(name))
}

/// One line per text block.
pub fn plain_text(pm: &Value) -> String {
    fn inline(node: &Value, out: &mut String) {
        match kind(node) {
            "text" => out.push_str(node["text"].as_str().unwrap_or("")),
            "hardBreak" => out.push('\n'),
            "mention" => out.push_str(&mention_text(node)),
            _ => children(node).iter().for_each(|c| inline(c, out)),
        }
    }
    fn block(node: &Value, lines: &mut Vec<String>) {
        let kids = children(node);
        if let Some((label, url)) = file_link(node) {
            lines.push(format!("[{label}: {url}]"));
            return;
        }
        if kind(node) == "tableRow" {
            // One line a row, its cells separated by tabs (a spreadsheet pastes it as a table).
            let cells: Vec<String> = kids
                .iter()
                .map(|cell| {
                    let mut text = Vec::new();
                    block(cell, &mut text);
                    text.join(" ")
                })
                .collect();
            lines.push(cells.join("\t"));
            return;
        }
        if kids
            .iter()
            .any(|c| kind(c) == "text" || kind(c) == "hardBreak")
            || kids.is_empty()
        {
            let mut line = String::new();
            inline(node, &mut line);
            lines.push(line);
        } else {
            kids.iter().for_each(|c| block(c, lines));
        }
    }
    let mut lines = Vec::new();
    children(pm).iter().for_each(|c| block(c, &mut lines));
    lines.join("\n")
}

fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(
            ch,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '~' | '|'
        ) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn has_mark(node: &Value, mark: &str) -> Option<Value> {
    node.get("marks")?
        .as_array()?
        .iter()
        .find(|m| kind(m) == mark)
        .cloned()
}

fn md_inline(nodes: &[Value]) -> String {
    let mut out = String::new();
    for n in nodes {
        match kind(n) {
            "hardBreak" => out.push_str("\\\n"),
            "mention" => out.push_str(&md_escape(&mention_text(n))),
            "text" => {
                let raw = n["text"].as_str().unwrap_or("");
                let mut t = if has_mark(n, "code").is_some() {
                    format!("`{}`", raw.replace('`', "\u{2018}"))
                } else {
                    md_escape(raw)
                };
                if has_mark(n, "bold").is_some() {
                    t = format!("**{t}**");
                }
                if has_mark(n, "italic").is_some() {
                    t = format!("*{t}*");
                }
                if has_mark(n, "strike").is_some() {
                    t = format!("~~{t}~~");
                }
                if let Some(link) = has_mark(n, "link") {
                    let href = link["attrs"]["href"].as_str().unwrap_or("");
                    if safe_url(href) {
                        t = format!("[{t}](<{}>)", href.replace(['<', '>', '\n'], ""));
                    }
                }
                if has_mark(n, tandem_core::suggest::INSERT).is_some() {
                    t = format!("{{++{t}++}}");
                }
                if has_mark(n, tandem_core::suggest::DELETE).is_some() {
                    t = format!("{{--{t}--}}");
                }
                out.push_str(&t);
            }
            _ => out.push_str(&md_inline(children(n))),
        }
    }
    out
}

/// A mention as text: `@` and the name it was written with.
fn mention_text(n: &Value) -> String {
    let name = attr(n, "label")
        .and_then(Value::as_str)
        .unwrap_or("someone");
    format!("@{name}")
}

/// The only link schemes a document keeps (on import) or emits (on export).
/// An image or attachment: what to call it and its address (an attachment's carries its name,
/// so the download is saved under it). `None` for any other node, or one with no file.
fn file_link(n: &Value) -> Option<(String, String)> {
    let src = attr(n, "src")
        .and_then(Value::as_str)
        .filter(|s| own_file(s))?;
    let text = |name| {
        attr(n, name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match kind(n) {
        "image" => Some((text("alt"), src.to_owned())),
        "attachment" => {
            let name = text("name");
            let q = crate::files::percent_encode(&name);
            Some((name, format!("{src}?name={q}")))
        }
        _ => None,
    }
}

/// A document file's address, as the schema check lets into a document.
fn own_file(src: &str) -> bool {
    src.strip_prefix("/api/docs/")
        .and_then(|rest| rest.split_once("/files/"))
        .is_some_and(|(doc, id)| tandem_core::valid_doc_name(doc) && crate::files::valid_id(id))
}

pub fn safe_url(href: &str) -> bool {
    let h = href.trim().to_ascii_lowercase();
    h.starts_with("http://") || h.starts_with("https://") || h.starts_with("mailto:")
}

/// CommonMark (plus GitHub's strikethrough and task lists).
pub fn markdown(pm: &Value) -> String {
    let mut out = String::new();
    md_blocks(children(pm), "", &mut out);
    out.trim_end().to_string() + "\n"
}

fn md_blocks(nodes: &[Value], indent: &str, out: &mut String) {
    for (i, n) in nodes.iter().enumerate() {
        if i > 0 {
            out.push_str(indent.trim_end());
            out.push('\n');
        }
        md_block(n, indent, out);
    }
}

fn md_block(n: &Value, indent: &str, out: &mut String) {
    match kind(n) {
        "paragraph" => {
            let _ = writeln!(
                out,
                "{indent}{}",
                md_inline(children(n)).replace('\n', &format!("\n{indent}"))
            );
        }
        "heading" => {
            let level = attr(n, "level")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6) as usize;
            let _ = writeln!(
                out,
                "{indent}{} {}",
                "#".repeat(level),
                md_inline(children(n))
            );
        }
        "blockquote" => {
            md_blocks(children(n), &format!("{indent}> "), out);
        }
        "codeBlock" => {
            let lang = attr(n, "language").and_then(Value::as_str).unwrap_or("");
            let lang: String = lang
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let mut code = String::new();
            children(n)
                .iter()
                .for_each(|c| code.push_str(c["text"].as_str().unwrap_or("")));
            // Longer than any run of backticks in the code, so no line of it can close the block
            // (and let what follows out as Markdown or raw HTML).
            let longest = code.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat((longest + 1).max(3));
            let _ = writeln!(out, "{indent}{fence}{lang}");
            for line in code.lines() {
                let _ = writeln!(out, "{indent}{line}");
            }
            let _ = writeln!(out, "{indent}{fence}");
        }
        "horizontalRule" => {
            let _ = writeln!(out, "{indent}---");
        }
        "image" | "attachment" => {
            if let Some((label, url)) = file_link(n) {
                let bang = if kind(n) == "image" { "!" } else { "" };
                let _ = writeln!(out, "{indent}{bang}[{}]({url})", md_escape(&label));
            }
        }
        "table" => md_table(n, indent, out),
        "bulletList" | "orderedList" | "taskList" => {
            let start = attr(n, "start").and_then(Value::as_u64).unwrap_or(1);
            for (i, item) in children(n).iter().enumerate() {
                let marker = match kind(n) {
                    "orderedList" => format!("{}. ", start + i as u64),
                    "taskList" => {
                        let checked = attr(item, "checked")
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                        format!("- [{}] ", if checked { 'x' } else { ' ' })
                    }
                    _ => "- ".to_string(),
                };
                let inner_indent = format!("{indent}{}", " ".repeat(marker.len()));
                let mut item_md = String::new();
                md_blocks(children(item), &inner_indent, &mut item_md);
                // The first line carries the marker instead of the indent.
                let first = item_md
                    .strip_prefix(inner_indent.as_str())
                    .unwrap_or(&item_md);
                let _ = write!(out, "{indent}{marker}{first}");
            }
        }
        _ => {
            let text = md_inline(children(n));
            if !text.is_empty() {
                let _ = writeln!(out, "{indent}{text}");
            }
        }
    }
}

/// A GitHub-flavoured Markdown table: the first row is the header (GFM needs one), a merged
/// cell is followed by empty ones for the columns it spans, and a cell's paragraphs are joined
/// with `<br>`.
fn md_table(n: &Value, indent: &str, out: &mut String) {
    let rows: Vec<Vec<String>> = children(n)
        .iter()
        .map(|row| {
            let mut cells = Vec::new();
            for cell in children(row) {
                let text = children(cell)
                    .iter()
                    .map(|p| md_inline(children(p)).replace('\n', " ")) // `|` is escaped already
                    .collect::<Vec<_>>()
                    .join("<br>");
                cells.push(text);
                let span = attr(cell, "colspan").and_then(Value::as_u64).unwrap_or(1);
                cells.extend((1..span.min(64)).map(|_| String::new()));
            }
            cells
        })
        .collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return;
    }
    let line = |cells: &[String], out: &mut String| {
        let mut padded = cells.to_vec();
        padded.resize(width, String::new());
        let _ = writeln!(out, "{indent}| {} |", padded.join(" | "));
    };
    line(&rows[0], out);
    let _ = writeln!(out, "{indent}|{}", " --- |".repeat(width));
    rows[1..].iter().for_each(|r| line(r, out));
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// HTML, cleaned by ammonia (only the tags below, `http`/`https`/`mailto` links, no attributes
/// that could run anything).
pub fn html(pm: &Value) -> String {
    let mut raw = String::new();
    children(pm).iter().for_each(|n| html_node(n, &mut raw));
    sanitize_html(&raw)
}

pub fn sanitize_html(raw: &str) -> String {
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .add_tag_attributes("ul", ["data-type"])
        .add_tag_attributes("li", ["data-checked"])
        .add_tag_attributes("code", ["class"])
        .clean(raw)
        .to_string()
}

fn html_node(n: &Value, out: &mut String) {
    let inner = |out: &mut String| children(n).iter().for_each(|c| html_node(c, out));
    let wrap = |tag: &str, out: &mut String| {
        let _ = write!(out, "<{tag}>");
        children(n).iter().for_each(|c| html_node(c, out));
        let _ = write!(out, "</{tag}>");
    };
    match kind(n) {
        "text" => {
            let mut t = esc(n["text"].as_str().unwrap_or(""));
            for (mark, tag) in [
                ("code", "code"),
                ("bold", "strong"),
                ("italic", "em"),
                ("underline", "u"),
                ("strike", "s"),
                (tandem_core::suggest::INSERT, "ins"),
                (tandem_core::suggest::DELETE, "del"),
            ] {
                if has_mark(n, mark).is_some() {
                    t = format!("<{tag}>{t}</{tag}>");
                }
            }
            if let Some(link) = has_mark(n, "link") {
                let href = link["attrs"]["href"].as_str().unwrap_or("");
                if safe_url(href) {
                    t = format!("<a href=\"{}\">{t}</a>", esc(href.trim()));
                }
            }
            out.push_str(&t);
        }
        "paragraph" => wrap("p", out),
        "heading" => {
            let level = attr(n, "level")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6);
            wrap(&format!("h{level}"), out);
        }
        "bulletList" => wrap("ul", out),
        "orderedList" => wrap("ol", out),
        "listItem" => wrap("li", out),
        "taskList" => {
            out.push_str("<ul data-type=\"taskList\">");
            inner(out);
            out.push_str("</ul>");
        }
        "taskItem" => {
            let checked = attr(n, "checked").and_then(Value::as_bool).unwrap_or(false);
            let _ = write!(out, "<li data-checked=\"{checked}\">");
            inner(out);
            out.push_str("</li>");
        }
        "blockquote" => wrap("blockquote", out),
        "codeBlock" => {
            let lang: String = attr(n, "language")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let _ = write!(out, "<pre><code class=\"language-{lang}\">");
            inner(out);
            out.push_str("</code></pre>");
        }
        "horizontalRule" => out.push_str("<hr>"),
        "hardBreak" => out.push_str("<br>"),
        "mention" => {
            let id = attr(n, "id").and_then(Value::as_str).unwrap_or("");
            let _ = write!(
                out,
                "<span class=\"mention\" data-type=\"mention\" data-id=\"{}\">{}</span>",
                esc(id),
                esc(&mention_text(n))
            );
        }
        "image" => {
            if let Some((alt, src)) = file_link(n) {
                let _ = write!(out, "<p><img src=\"{}\" alt=\"{}\"", esc(&src), esc(&alt));
                for size in ["width", "height"] {
                    let px = attr(n, size).and_then(Value::as_f64);
                    if let Some(px) = px.filter(|px| (1.0..1e5).contains(px)) {
                        let px = px.round() as u64;
                        let _ = write!(out, " {size}=\"{px}\"");
                    }
                }
                out.push_str("></p>");
            }
        }
        "attachment" => {
            if let Some((name, href)) = file_link(n) {
                let _ = write!(out, "<p><a href=\"{}\">{}</a></p>", esc(&href), esc(&name));
            }
        }
        "table" => {
            out.push_str("<table><tbody>");
            inner(out);
            out.push_str("</tbody></table>");
        }
        "tableRow" => wrap("tr", out),
        "tableHeader" | "tableCell" => {
            let tag = if kind(n) == "tableHeader" { "th" } else { "td" };
            let span = |name| attr(n, name).and_then(Value::as_u64).unwrap_or(1).min(1000);
            let _ = write!(out, "<{tag}");
            for (name, v) in [("colspan", span("colspan")), ("rowspan", span("rowspan"))] {
                if v > 1 {
                    let _ = write!(out, " {name}=\"{v}\"");
                }
            }
            out.push('>');
            inner(out);
            let _ = write!(out, "</{tag}>");
        }
        // Anything the editor does not know is kept as its text, never as markup.
        _ => inner(out),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // sample documents written as a client writes them
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
    use yrs::{Any, Doc, Text, Transact, Xml, XmlElementRef, XmlFragment};

    use super::*;

    fn para(f: &yrs::XmlFragmentRef, txn: &mut yrs::TransactionMut, text: &str) -> XmlElementRef {
        let p = f.push_back(txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(txn, XmlTextPrelim::new(text));
        p
    }

    fn sample() -> Doc {
        let doc = Doc::new();
        let f = doc.get_or_insert_xml_fragment(FRAGMENT);
        let mut txn = doc.transact_mut();
        let h = f.push_back(&mut txn, XmlElementPrelim::empty("heading"));
        h.insert_attribute(&mut txn, "level", Any::from(2.0));
        h.push_back(&mut txn, XmlTextPrelim::new("Title"));
        let p = para(&f, &mut txn, "");
        let t = p.get(&txn, 0).unwrap().into_xml_text().unwrap();
        t.insert(&mut txn, 0, "plain ");
        let bold: yrs::types::Attrs =
            HashMap::from([(Arc::from("bold"), Any::Map(Default::default()))]);
        t.insert_with_attributes(&mut txn, 6, "bold", bold);
        let href = Any::from(HashMap::from([(
            "href".to_string(),
            Any::from("javascript:alert(1)"),
        )]));
        let evil: yrs::types::Attrs = HashMap::from([(Arc::from("link"), href)]);
        t.insert_with_attributes(&mut txn, 10, " <script>x</script>", evil);
        let list = f.push_back(&mut txn, XmlElementPrelim::empty("bulletList"));
        let item = list.push_back(&mut txn, XmlElementPrelim::empty("listItem"));
        let ip = item.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
        ip.push_back(&mut txn, XmlTextPrelim::new("item"));
        drop(txn);
        doc
    }

    /// Images export as images and attachments as links, with the document's file addresses; a
    /// file address from anywhere else (written past the schema check) is left out.
    #[test]
    fn images_and_attachments_export_with_their_addresses() {
        let id = "ab".repeat(32);
        let src = format!("/api/docs/notes/files/{id}");
        let doc = Doc::new();
        let f = doc.get_or_insert_xml_fragment(FRAGMENT);
        {
            let mut txn = doc.transact_mut();
            let img = f.push_back(&mut txn, XmlElementPrelim::empty("image"));
            img.insert_attribute(&mut txn, "src", Any::from(src.clone()));
            img.insert_attribute(&mut txn, "alt", Any::from("a [cat]"));
            img.insert_attribute(&mut txn, "width", Any::from(320.0));
            let file = f.push_back(&mut txn, XmlElementPrelim::empty("attachment"));
            file.insert_attribute(&mut txn, "src", Any::from(src.clone()));
            file.insert_attribute(&mut txn, "name", Any::from("Q3 plan.pdf"));
            let evil = f.push_back(&mut txn, XmlElementPrelim::empty("image"));
            evil.insert_attribute(&mut txn, "src", Any::from("https://evil.example/x.png"));
        }
        let pm = prosemirror_json(&doc).unwrap();
        assert_eq!(
            markdown(&pm),
            format!("![a \\[cat\\]]({src})\n\n[Q3 plan.pdf]({src}?name=Q3%20plan.pdf)\n")
        );
        let h = html(&pm);
        assert!(
            h.contains(&format!(
                "<img src=\"{src}\" alt=\"a [cat]\" width=\"320\">"
            )),
            "{h}"
        );
        assert!(
            h.contains(&format!("<a href=\"{src}?name=Q3%20plan.pdf\"")),
            "{h}"
        );
        assert!(!h.contains("evil"), "{h}");
        assert_eq!(
            plain_text(&pm),
            format!("[a [cat]: {src}]\n[Q3 plan.pdf: {src}?name=Q3%20plan.pdf]\n")
        );
    }

    /// A 2×3 table with a header row, a cell holding a `|`, and a merged cell, in every format.
    #[test]
    fn a_mention_exports_as_its_name() {
        let doc = Doc::new();
        let f = doc.get_or_insert_xml_fragment(FRAGMENT);
        {
            let mut txn = doc.transact_mut();
            let p = f.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
            p.push_back(&mut txn, XmlTextPrelim::new("Ask "));
            let m = p.push_back(&mut txn, XmlElementPrelim::empty("mention"));
            m.insert_attribute(&mut txn, "id", "7");
            m.insert_attribute(&mut txn, "label", "Ann <*Lee*>");
            p.push_back(&mut txn, XmlTextPrelim::new(" today"));
        }
        let pm = prosemirror_json(&doc).unwrap();
        assert_eq!(plain_text(&pm), "Ask @Ann <*Lee*> today");
        assert_eq!(markdown(&pm), "Ask @Ann \\<\\*Lee\\*\\> today\n");
        let h = html(&pm);
        assert!(
            h.contains("<p>Ask <span>@Ann &lt;*Lee*&gt;</span> today</p>"),
            "{h}"
        );
    }

    #[test]
    fn tables_export_as_tables() {
        let doc = Doc::new();
        let f = doc.get_or_insert_xml_fragment(FRAGMENT);
        {
            let mut txn = doc.transact_mut();
            let table = f.push_back(&mut txn, XmlElementPrelim::empty("table"));
            let rows = [
                [
                    ("tableHeader", "Owner", 1),
                    ("tableHeader", "Task", 1),
                    ("tableHeader", "Due", 1),
                ],
                [
                    ("tableCell", "Ann", 1),
                    ("tableCell", "a | b", 2),
                    ("", "", 0),
                ],
            ];
            for row in rows {
                let tr = table.push_back(&mut txn, XmlElementPrelim::empty("tableRow"));
                for (tag, text, span) in row.into_iter().filter(|c| !c.0.is_empty()) {
                    let cell = tr.push_back(&mut txn, XmlElementPrelim::empty(tag));
                    cell.insert_attribute(&mut txn, "colspan", Any::from(span as f64));
                    let p = cell.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
                    p.push_back(&mut txn, XmlTextPrelim::new(text));
                }
            }
        }
        let pm = prosemirror_json(&doc).unwrap();
        assert_eq!(plain_text(&pm), "Owner\tTask\tDue\nAnn\ta | b");
        assert_eq!(
            markdown(&pm),
            "| Owner | Task | Due |\n| --- | --- | --- |\n| Ann | a \\| b |  |\n"
        );
        let h = html(&pm);
        assert!(
            h.contains("<table><tbody><tr><th><p>Owner</p></th>")
                && h.contains("<td colspan=\"2\"><p>a | b</p></td>"),
            "{h}"
        );
    }

    #[test]
    fn every_format_from_one_document() {
        let doc = sample();
        let pm = prosemirror_json(&doc).unwrap();
        assert_eq!(pm["content"][0]["type"], "heading");
        assert_eq!(pm["content"][0]["attrs"]["level"], 2.0);
        assert_eq!(pm["content"][1]["content"][1]["marks"][0]["type"], "bold");
        assert_eq!(
            plain_text(&pm),
            "Title\nplain bold <script>x</script>\nitem"
        );
        let md = markdown(&pm);
        assert_eq!(
            md,
            "## Title\n\nplain **bold** \\<script\\>x\\</script\\>\n\n- item\n"
        );
        let h = html(&pm);
        assert!(
            h.contains("<h2>Title</h2>") && h.contains("<strong>bold</strong>"),
            "{h}"
        );
        assert!(!h.contains("<script") && !h.contains("javascript:"), "{h}");
        assert!(h.contains("&lt;script&gt;"), "text stays text: {h}");
        assert!(h.contains("<ul><li><p>item</p></li></ul>"), "{h}");
    }

    /// A document stored before the nesting limit (built here with raw yrs, past the actor's
    /// check) is refused by every format, 5,000 and 100,000 levels deep, instead of overflowing
    /// the stack; one at the limit renders.
    #[test]
    fn a_document_nested_past_the_limit_is_refused_not_walked() {
        let nested = |levels: usize| {
            let doc = Doc::new();
            let frag = doc.get_or_insert_xml_fragment(FRAGMENT);
            let mut txn = doc.transact_mut();
            let mut el = frag.push_back(&mut txn, XmlElementPrelim::empty("blockquote"));
            for _ in 1..levels {
                el = el.push_back(&mut txn, XmlElementPrelim::empty("blockquote"));
            }
            el.push_back(&mut txn, XmlTextPrelim::new("deep"));
            drop(txn);
            doc
        };
        for format in [Format::Json, Format::Text, Format::Markdown, Format::Html] {
            assert!(render(&nested(MAX_NESTING), format).is_ok());
            for levels in [MAX_NESTING + 1, 5_000, 100_000] {
                assert!(render(&nested(levels), format).is_err(), "{levels}");
            }
        }
    }

    /// A code block holding both fence styles once chose `~~~~`, which its own `~~~~` line
    /// closed: what followed left the block as Markdown, raw HTML included. Read back by a
    /// CommonMark parser, all of it stays code.
    #[test]
    fn no_code_block_content_escapes_its_fence() {
        let doc = Doc::new();
        let f = doc.get_or_insert_xml_fragment(FRAGMENT);
        let mut txn = doc.transact_mut();
        let code = f.push_back(&mut txn, XmlElementPrelim::empty("codeBlock"));
        let body = "```\n~~~~\n<img src=x onerror=alert(1)>\n`````\n<script>alert(2)</script>";
        code.push_back(&mut txn, XmlTextPrelim::new(body));
        drop(txn);
        let md = markdown(&prosemirror_json(&doc).unwrap());
        let mut events = pulldown_cmark::Parser::new(&md);
        let html_out = events.any(|e| {
            matches!(
                e,
                pulldown_cmark::Event::Html(_) | pulldown_cmark::Event::InlineHtml(_)
            )
        });
        assert!(!html_out, "raw HTML outside the code block: {md}");
        let mut code_text = String::new();
        for e in pulldown_cmark::Parser::new(&md) {
            if let pulldown_cmark::Event::Text(t) = e {
                code_text.push_str(&t);
            }
        }
        assert_eq!(code_text.trim_end(), body, "{md}");
    }
}
