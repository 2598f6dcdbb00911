//! Import and export: Markdown round trips stably; an XSS corpus (60 cases: script, event
//! handlers, javascript: and data: URLs, SVG, nested encodings) through Markdown and HTML import
//! and every export yields nothing executable; a failed import leaves nothing behind.

use crate::helpers::*;

const ROUNDTRIP: &str = include_str!("../fixtures/roundtrip.md");
pub const XSS: &str = include_str!("../fixtures/xss.txt");

async fn import(addr: std::net::SocketAddr, format: &str, body: &str) -> (u16, serde_json::Value) {
    let (status, _, raw) = http(
        addr,
        "POST",
        &format!("/api/docs/import?format={format}"),
        &[("Content-Type", "text/plain")],
        Some(body),
    )
    .await;
    (
        status,
        serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
    )
}

async fn export(addr: std::net::SocketAddr, doc: &str, format: &str) -> String {
    let (status, _, body) =
        http_get(addr, &format!("/api/docs/{doc}/export?format={format}")).await;
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn markdown_round_trips_stably_for_every_construct() {
    let app = spawn_app().await;
    let (status, doc) = import(app.addr, "markdown", ROUNDTRIP).await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(
        doc["title"], "Every construct",
        "the first heading names it"
    );
    assert_eq!(doc["revision"], 1);
    let id = doc["id"].as_str().unwrap();
    let md = export(app.addr, id, "markdown").await;
    assert_eq!(
        md, ROUNDTRIP,
        "Markdown → document → Markdown changed the text"
    );
    // And again: the second trip is the identity too.
    let (_, again) = import(app.addr, "md", &md).await;
    assert_eq!(
        export(app.addr, again["id"].as_str().unwrap(), "markdown").await,
        ROUNDTRIP
    );
    // The same document opens in a client as the editor's structure.
    let json = export(app.addr, id, "json").await;
    let pm: serde_json::Value = serde_json::from_str(&json).unwrap();
    let kinds: Vec<&str> = pm["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for k in [
        "heading",
        "paragraph",
        "bulletList",
        "orderedList",
        "taskList",
        "blockquote",
        "codeBlock",
        "horizontalRule",
    ] {
        assert!(kinds.contains(&k), "{k} missing: {kinds:?}");
    }
}

/// Nothing that could run: no script or dangerous element, no event handler attribute, no
/// script-capable URL scheme in any attribute.
pub fn assert_inert_html(html: &str, case: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "<svg",
        "<iframe",
        "<object",
        "<embed",
        "<style",
        "<link",
        "<meta",
        "<base",
        "<form",
        "<input",
        "<img",
        "<video",
        "<audio",
        "<math",
        "<template",
        "<frameset",
    ] {
        assert!(!lower.contains(bad), "{case}: {bad} in {html}");
    }
    let re_handler = lower.split('<').skip(1).any(|tag| {
        let tag = tag.split('>').next().unwrap_or("");
        tag.split_whitespace()
            .skip(1)
            .any(|attr| attr.starts_with("on"))
            || tag.contains("javascript:")
            || tag.contains("vbscript:")
            || tag.contains("data:")
            || tag.contains("style=")
    });
    assert!(!re_handler, "{case}: a live attribute in {html}");
}

#[tokio::test]
async fn an_xss_corpus_through_import_and_export_yields_nothing_executable() {
    let app = spawn_app().await;
    let cases: Vec<&str> = XSS.split('\n').filter(|l| !l.is_empty()).collect();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    for (i, case) in cases.iter().enumerate() {
        for format in ["markdown", "html"] {
            let (status, doc) = import(app.addr, format, case).await;
            assert_eq!(status, 201, "case {i} as {format}: {doc}");
            let id = doc["id"].as_str().unwrap();
            assert_inert_html(
                &export(app.addr, id, "html").await,
                &format!("case {i} via {format} → html"),
            );
            // Markdown export: any '<' is escaped, links only with safe schemes.
            let md = export(app.addr, id, "markdown").await;
            // Inside code spans and fences '<' is literal text in every Markdown renderer.
            let md: String = md
                .split("```")
                .step_by(2)
                .flat_map(|part| part.split('`').step_by(2))
                .collect();
            let unescaped_lt = md
                .match_indices('<')
                .any(|(at, _)| !md[..at].ends_with('\\') && !md[..at].ends_with("]("));
            assert!(!unescaped_lt, "case {i} via {format} → markdown: {md}");
            let lower = md.to_ascii_lowercase();
            assert!(
                !lower.contains("](<javascript")
                    && !lower.contains("](<data")
                    && !lower.contains("](<vbscript"),
                "case {i}: {md}"
            );
            // JSON: no link mark with a dangerous href.
            let json = export(app.addr, id, "json").await.to_ascii_lowercase();
            assert!(
                !json.contains("\"href\":\"javascript")
                    && !json.contains("\"href\":\"data")
                    && !json.contains("\"href\":\"vbscript"),
                "case {i}: {json}"
            );
        }
    }
    // The whole corpus in one document, as HTML and as Markdown, for the browser test too.
    for format in ["markdown", "html"] {
        let (status, doc) = import(app.addr, format, XSS).await;
        assert_eq!(status, 201);
        assert_inert_html(
            &export(app.addr, doc["id"].as_str().unwrap(), "html").await,
            &format!("corpus via {format}"),
        );
    }
}

#[tokio::test]
async fn a_failed_import_leaves_nothing_behind() {
    let app = spawn_app().await;
    let (_, _, before) = http_get(app.addr, "/api/docs").await;
    let (status, _) = import(app.addr, "docx", "hello").await;
    assert_eq!(status, 400);
    // Not UTF-8: raw bytes on the socket.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let body = [0x66u8, 0xff, 0xfe, 0x67];
        let head = format!(
            "POST /api/docs/import?format=markdown HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len(),
            addr = app.addr
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        assert!(
            String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    // Larger than the request cap.
    let huge = "x".repeat(3 << 20);
    let (status, _) = import(app.addr, "markdown", &huge).await;
    assert_eq!(status, 413);
    let (_, _, after) = http_get(app.addr, "/api/docs").await;
    assert_eq!(before, after, "no document was created");
}
