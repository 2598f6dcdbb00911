//! Notification email through a real SMTP server: Python's aiosmtpd, started here when
//! `TANDEM_TEST_AIOSMTPD` names a Python that has it (as `make test` does, installing it where
//! missing), its Maildir read back. One message per event; what follows within the batch window
//! goes out as one message; every message has its unsubscribe links, which work without signing
//! in and only with their signature; nobody is mailed about a document they cannot open.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::json;
use tokio::net::TcpStream;
use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
use yrs::{Transact, Xml, XmlElementRef, XmlFragment};

use crate::auth_helpers::*;
use crate::helpers::*;

struct Smtp {
    child: Child,
    maildir: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    async fn start(python: &std::ffi::OsStr) -> Smtp {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("mail");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("TANDEM_TEST_AIOSMTPD names a runnable Python");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd listens (is it installed for that Python?)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Smtp {
            child,
            maildir,
            port,
            _dir: dir,
        }
    }

    /// Every message received for `to`, decoded, in the order they arrived.
    fn messages(&self, to: &str) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(self.maildir.join("new"))
                .map(|d| {
                    d.map(|e| e.unwrap().path())
                        .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
                        .collect()
                })
                .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|(_, p)| decode(p))
            .filter(|m| m.contains(&format!("To: {to}")))
            .collect()
    }

    async fn wait_messages(&self, to: &str, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.messages(to);
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{to} never had {n} messages: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A message as text: its headers, then its body with the transfer encoding undone.
fn decode(path: &Path) -> String {
    let raw = std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap();
    let body = if head.contains("Content-Transfer-Encoding: base64") {
        let b: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
    } else if head.contains("Content-Transfer-Encoding: quoted-printable") {
        let joined = body.replace("=\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    } else {
        body.to_owned()
    };
    format!("{head}\n\n{body}")
}

/// The `http://…` address on the line that starts with `prefix`.
fn link_after(message: &str, prefix: &str) -> String {
    let line = message
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {message}"));
    line[line.find("http://").unwrap()..].trim().to_owned()
}

async fn mention(c: &mut Client, user: i64, place: &str) {
    let update = {
        let frag = c.doc.get_or_insert_xml_fragment("default");
        let mut txn = c.doc.transact_mut();
        let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(&mut txn, XmlTextPrelim::new("cc "));
        let m: XmlElementRef = p.push_back(&mut txn, XmlElementPrelim::empty("mention"));
        m.insert_attribute(&mut txn, "id", user.to_string());
        m.insert_attribute(&mut txn, "ref", place);
        txn.encode_update_v1()
    };
    c.send_update(update).await;
    c.wait_acked().await;
}

#[tokio::test]
async fn notification_email_one_per_event_batched_within_the_window_and_unsubscribable() {
    let Some(python) = std::env::var_os("TANDEM_TEST_AIOSMTPD") else {
        eprintln!(
            "skipped: TANDEM_TEST_AIOSMTPD is not set (make test installs aiosmtpd and sets it)"
        );
        return;
    };
    let smtp = Smtp::start(&python).await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = spawn_auth_app_with(move |o| tandem_server::config::Options {
        smtp_url: Some(url),
        smtp_from: Some("Tandem <notify@tandem.test>".into()),
        email_batch_secs: Some(2),
        ..o
    })
    .await;
    let ann = Account::signup(app.addr, "ann@example.org").await;
    let bob = Account::signup(app.addr, "bob@example.org").await;
    let doc = ann.new_doc("Plans").await;

    // One event, one message, at once.
    ann.share(&doc, &bob.email, "editor").await;
    let mail = smtp.wait_messages("bob@example.org", 1).await;
    let first = &mail[0];
    assert!(
        first.contains("From: Tandem <notify@tandem.test>"),
        "{first}"
    );
    assert!(first.contains("shared “Plans” with you"), "{first}");
    assert!(
        first.contains(&format!("http://{}/d/{doc}", app.addr)),
        "{first}"
    );
    assert!(first.contains("List-Unsubscribe: <http://"), "{first}");
    assert!(
        first.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{first}"
    );
    let _ = link_after(first, "Stop emails about documents shared with you:");

    // Two mentions within the window after it: one message for both, when the window ends.
    let mut c = ann.connect(&doc).await;
    mention(&mut c, bob.id, "m1").await;
    mention(&mut c, bob.id, "m2").await;
    let mail = smtp.wait_messages("bob@example.org", 2).await;
    let batch = &mail[1];
    assert!(batch.contains("2 new notifications"), "{batch}");
    assert_eq!(
        batch.matches("mentioned you in “Plans”").count(),
        2,
        "{batch}"
    );
    assert!(batch.contains(&format!("/d/{doc}#mention=m1")), "{batch}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages("bob@example.org").len(), 2);

    // The unsubscribe link: a page with a button, then the button; a forged one does nothing.
    let link = link_after(batch, "Stop emails about mentions:");
    let path = &link[link.find("/api/").unwrap()..];
    let (status, _, page) = http(app.addr, "GET", path, &[], None).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("Stop emails about mentions?"));
    let forged = path.replace("kind=mention", "kind=share");
    let (status, _, _) = http(app.addr, "POST", &forged, &[], None).await;
    assert_eq!(
        status, 400,
        "a mention link does not unsubscribe from shares"
    );
    let (status, _, _) = http(app.addr, "POST", path, &[], None).await;
    assert_eq!(status, 200);
    let r = bob.call("GET", "/api/me/email", None).await;
    assert_eq!(r.json, json!({ "muted": ["mention"] }));

    // Unsubscribed from mentions: a third one reaches the app, not the inbox.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    mention(&mut c, bob.id, "m3").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(smtp.messages("bob@example.org").len(), 2);
    let r = bob.call("GET", "/api/notifications", None).await;
    assert_eq!(
        r.json["notifications"].as_array().unwrap().len(),
        4,
        "{}",
        r.json
    );

    // Cy cannot open the document: mentioned, Cy is mailed nothing about it (re-checked at
    // delivery), until it is shared.
    let cy = Account::signup(app.addr, "cy@example.org").await;
    let cys = cy.new_doc("Cy's").await;
    cy.share(&cys, &ann.email, "viewer").await;
    mention(&mut c, cy.id, "m4").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(smtp.messages("cy@example.org").is_empty());
    let r = ann.share_with_id(&doc, cy.id).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let mail = smtp.wait_messages("cy@example.org", 1).await;
    assert!(
        mail[0].contains("mentioned you") || mail[0].contains("2 new notifications"),
        "{}",
        mail[0]
    );
    assert!(metric(app.addr, "tandem_emails_total").await >= 3.0);
}
