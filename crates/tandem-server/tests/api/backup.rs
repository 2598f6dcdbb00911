//! Backups an operator can restore: `tandem backup` while a client writes as fast as acks come
//! back, `tandem restore` into an empty directory, and `tandem export-all`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tandem_server::config::{AuthMode, Options};
use yrs::{GetString, Text, Transact, XmlFragment};

use crate::auth_helpers::*;
use crate::helpers::*;

/// A PNG's first bytes: enough for the type to be sniffed.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// `tandem --data-dir <dir> <args>`: (exit success, stdout + stderr).
fn tandem(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The text of the document's first paragraph.
fn paragraph(c: &Client) -> yrs::XmlTextRef {
    let frag = c.doc.get_or_insert_xml_fragment("default");
    let txn = c.doc.transact();
    let p = frag.get(&txn, 0).unwrap().into_xml_element().unwrap();
    p.get(&txn, 0).unwrap().into_xml_text().unwrap()
}

#[tokio::test]
async fn a_backup_under_load_restores_every_acked_update_account_share_comment_and_file() {
    let app = spawn_auth_app().await;
    let ann = Account::signup(app.addr, "ann@example.com").await;
    let bob = Account::signup(app.addr, "bob@example.com").await;
    let doc = ann.new_doc("Plans").await;
    ann.share(&doc, &bob.email, "editor").await;
    let r = ann
        .call(
            "POST",
            &format!("/api/docs/{doc}/comments"),
            Some(json!({ "body": "Looks good", "anchor": "", "quote": "" })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let auth = format!("Bearer {}", ann.token);
    let (status, _, body) = http_bytes(
        app.addr,
        "POST",
        &format!("/api/docs/{doc}/files"),
        &[("Authorization", auth.as_str())],
        PNG,
        None,
    )
    .await;
    assert_eq!(status, 201);
    let file: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let file_url = file["url"].as_str().unwrap().to_string();

    // The load: one edit after another, each sent once the last is acked.
    let mut writer = ann.connect(&doc).await;
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (acked, stop) = (acked.clone(), stop.clone());
        async move {
            let t = paragraph(&writer);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let update = {
                    let mut txn = writer.doc.transact_mut();
                    let len = t.len(&txn);
                    t.insert(&mut txn, len, &format!("<{i}>"));
                    txn.encode_update_v1()
                };
                writer.send_update(update).await;
                writer.wait_acked().await;
                i += 1;
                acked.store(i, Ordering::SeqCst);
            }
        }
    });
    while acked.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let backup = tempfile::tempdir().unwrap();
    let into = backup.path().join("b1");
    let before = acked.load(Ordering::SeqCst);
    let data = app.dir.path().to_path_buf();
    let into2 = into.clone();
    let (ok, out) =
        tokio::task::spawn_blocking(move || tandem(&data, &["backup", into2.to_str().unwrap()]))
            .await
            .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("backed up 1 documents and 1 files"), "{out}");
    // The load went on while the copy was taken, and goes on after it.
    let during = acked.load(Ordering::SeqCst);
    while acked.load(Ordering::SeqCst) < during + 10 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();

    // A backup never lands on another: the directory must be new or empty.
    let data = app.dir.path().to_path_buf();
    let (ok, out) = tandem(&data, &["backup", into.to_str().unwrap()]);
    assert!(!ok && out.contains("is not empty"), "{out}");
    // Nor is a restore poured over live data.
    let (ok, out) = tandem(&data, &["restore", into.to_str().unwrap()]);
    assert!(!ok && out.contains("is not empty"), "{out}");
    let nothing = tempfile::tempdir().unwrap();
    let (ok, out) = tandem(&data, &["restore", nothing.path().to_str().unwrap()]);
    assert!(!ok && out.contains("is not a Tandem backup"), "{out}");

    let fresh = tempfile::tempdir().unwrap();
    let (ok, out) = tandem(fresh.path(), &["restore", into.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("restored 1 documents and 1 files"), "{out}");
    app.stop().await;

    let restored = spawn_app_in(fresh, |o| Options {
        auth: Some(AuthMode::Accounts),
        ..o
    })
    .await;
    let ann = Account::login(restored.addr, "ann@example.com").await;
    let bob = Account::login(restored.addr, "bob@example.com").await;
    // Every update acked before the backup began is in it.
    let c = bob.connect(&doc).await;
    let text = paragraph(&c).get_string(&c.doc.transact());
    for i in 0..before {
        assert!(text.contains(&format!("<{i}>")), "<{i}> lost: {text}");
    }
    let shares = ann
        .call("GET", &format!("/api/docs/{doc}/shares"), None)
        .await;
    assert!(
        shares.json.to_string().contains("bob@example.com"),
        "{}",
        shares.json
    );
    let comments = bob
        .call("GET", &format!("/api/docs/{doc}/comments"), None)
        .await;
    assert_eq!(comments.json[0]["comments"][0]["body"], "Looks good");
    let (status, _, got) = http_bytes(
        restored.addr,
        "GET",
        &file_url,
        &[("Authorization", format!("Bearer {}", bob.token).as_str())],
        b"",
        None,
    )
    .await;
    assert_eq!((status, got.as_slice()), (200, PNG));
    // The search index was rebuilt from the restored documents.
    let found = ann.call("GET", "/api/search?q=Plans", None).await;
    assert!(found.json.to_string().contains(&doc), "{}", found.json);

    // Every document as Markdown and JSON with its files, from the running server's data.
    let export = tempfile::tempdir().unwrap();
    let dir = export.path().join("all");
    let data = restored.dir.path().to_path_buf();
    let (ok, out) = tandem(&data, &["export-all", dir.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("exported 1 documents and 1 files"), "{out}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index[0]["id"], doc.as_str());
    assert_eq!(index[0]["title"], "Plans");
    let md = std::fs::read_to_string(dir.join(&doc).join("document.md")).unwrap();
    assert!(md.contains("<0>") || md.contains("\\<0\\>"), "{md}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(&doc).join("document.json")).unwrap())
            .unwrap();
    assert_eq!(json["title"], "Plans");
    assert_eq!(json["content"]["type"], "doc");
    assert_eq!(json["comments"][0]["body"], "Looks good");
    let id = file["id"].as_str().unwrap();
    assert_eq!(
        std::fs::read(dir.join(&doc).join("files").join(id)).unwrap(),
        PNG
    );
}
