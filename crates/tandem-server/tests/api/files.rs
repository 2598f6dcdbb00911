//! Files attached to documents (`POST /api/docs/{doc}/files`, `GET …/files/{id}`): every answer
//! of the issue, on the default directory store and on a real S3-compatible server (`s3s-fs`,
//! started here when `TANDEM_TEST_S3S_FS` names its binary, as `make test` does).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tandem_server::config::Options;
use tokio::net::TcpStream;

use crate::auth_helpers::*;
use crate::helpers::*;

/// A PNG's first bytes: enough for the type to be sniffed.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n";
const SVG: &[u8] = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
/// An ELF header (a Linux program), as long as the sniffer needs.
const ELF: &[u8] = &[
    0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0, 1, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 56, 0, 1, 0,
    0, 0, 0, 0, 0, 0,
];

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A request with a binary body (see `http_bytes`).
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
    cut: Option<usize>,
) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut extra = vec![];
    extra.extend(auth.as_deref().map(|a| ("Authorization", a)));
    extra.extend(content_type.map(|ct| ("Content-Type", ct)));
    let (status, headers, body) = http_bytes(addr, method, path, &extra, body, cut).await;
    Answer {
        status,
        headers,
        body,
    }
}

async fn upload(a: &Account, doc: &str, bytes: &[u8]) -> Answer {
    let path = format!("/api/docs/{doc}/files");
    let ct = Some("application/octet-stream");
    send(a.addr, "POST", &path, Some(&a.token), ct, bytes, None).await
}

async fn fetch(addr: SocketAddr, token: Option<&str>, path: &str) -> Answer {
    send(addr, "GET", path, token, None, b"", None).await
}

/// Stored files under the default directory store.
fn stored(app: &TestApp) -> usize {
    walk(&app.dir.path().join("files"))
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type().unwrap().is_dir() {
            true => walk(&e.path()),
            false => 1,
        })
        .sum()
}

/// Upload, serve and delete through whichever store `app` has: what both backends must do.
async fn uploads_are_served_with_safe_headers(app: &TestApp) {
    let owner = Account::signup(app.addr, "owner@example.org").await;
    let doc = owner.new_doc("with files").await;

    let png = upload(&owner, &doc, PNG).await;
    assert_eq!(png.status, 201, "{}", png.json());
    let j = png.json();
    let id = j["id"].as_str().unwrap();
    assert_eq!(id.len(), 64, "a SHA-256");
    assert_eq!(j["url"], format!("/api/docs/{doc}/files/{id}"));
    assert_eq!(j["type"], "image/png");
    assert_eq!(j["size"], PNG.len());
    let again = upload(&owner, &doc, PNG).await.json();
    assert_eq!(
        again["id"], j["id"],
        "content-addressed: the same bytes, the same file"
    );

    let got = fetch(app.addr, Some(&owner.token), j["url"].as_str().unwrap()).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, PNG);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.header("content-disposition"), Some("inline"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        got.header("cache-control"),
        Some("private, max-age=31536000, immutable")
    );
    let csp = got.header("content-security-policy").unwrap();
    assert!(csp.starts_with("sandbox"), "{csp}");

    // Multipart, as a browser's form sends it: the type still comes from the bytes.
    let boundary = "----tandem-test";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"plan.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(PDF);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let path = format!("/api/docs/{doc}/files");
    let pdf = send(
        app.addr,
        "POST",
        &path,
        Some(&owner.token),
        Some(&ct),
        &form,
        None,
    )
    .await;
    assert_eq!(pdf.status, 201, "{}", pdf.json());
    assert_eq!(
        pdf.json()["type"],
        "application/pdf",
        "not the declared image/png"
    );
    let url = pdf.json()["url"].as_str().unwrap().to_owned();
    let got = fetch(
        app.addr,
        Some(&owner.token),
        &format!("{url}?name=Q3%20plan.pdf"),
    )
    .await;
    assert_eq!(got.body, PDF);
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"Q3 plan.pdf\"; filename*=UTF-8''Q3%20plan.pdf")
    );

    // SVG and HTML are never served inline: they download, as text.
    for (bytes, what) in [
        (SVG, "svg"),
        (b"<!doctype html><script>x</script>".as_slice(), "html"),
    ] {
        let r = upload(&owner, &doc, bytes).await;
        assert_eq!(r.status, 201, "{what}: {}", r.json());
        let got = fetch(
            app.addr,
            Some(&owner.token),
            r.json()["url"].as_str().unwrap(),
        )
        .await;
        assert_eq!(
            got.header("content-disposition"),
            Some("attachment"),
            "{what}"
        );
        assert_eq!(
            got.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "{what}"
        );
        assert!(got
            .header("content-security-policy")
            .unwrap()
            .starts_with("sandbox"));
    }

    // An <img> sends no Authorization header: the page's files cookie (HttpOnly, SameSite=Strict,
    // scoped to the document routes) stands in for it, on this route only.
    let login = api(
        app.addr,
        "POST",
        "/api/auth/login",
        None,
        Some(serde_json::json!({ "email": owner.email, "password": PASSWORD })),
    )
    .await;
    let set = login
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("tandem_files="))
        .map(|(_, v)| v.clone())
        .expect("a files cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/api/docs/"] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap();
    let png_path = j["url"].as_str().unwrap();
    let (status, _, body) = http(app.addr, "GET", png_path, &[("Cookie", cookie)], None).await;
    assert_eq!((status, body.as_slice()), (200, PNG));
    let (status, _, _) = http(
        app.addr,
        "GET",
        &format!("/api/docs/{doc}"),
        &[("Cookie", cookie)],
        None,
    )
    .await;
    assert_eq!(status, 401, "no other route takes the cookie");

    // A reader of the document may read its files; nobody else learns they exist.
    let reader = Account::signup(app.addr, "reader@example.org").await;
    let stranger = Account::signup(app.addr, "stranger@example.org").await;
    owner.share(&doc, &reader.email, "viewer").await;
    let png_url = j["url"].as_str().unwrap();
    assert_eq!(
        fetch(app.addr, Some(&reader.token), png_url).await.status,
        200
    );
    assert_eq!(
        fetch(app.addr, Some(&stranger.token), png_url).await.status,
        404
    );
    assert_eq!(fetch(app.addr, None, png_url).await.status, 401);
    // Another document's reader cannot reach this file through their own document.
    let theirs = stranger.new_doc("theirs").await;
    let through = format!("/api/docs/{theirs}/files/{id}");
    assert_eq!(
        fetch(app.addr, Some(&stranger.token), &through)
            .await
            .status,
        404
    );
    let bad_id = format!("/api/docs/{doc}/files/..%2F..%2Ftandem.db");
    assert_eq!(
        fetch(app.addr, Some(&owner.token), &bad_id).await.status,
        404
    );
    // Viewers read; they do not upload.
    let r = upload(&reader, &doc, PNG).await;
    assert_eq!(r.status, 403, "{}", r.json());

    // Deleting the document deletes its files.
    assert_eq!(
        owner
            .call("DELETE", &format!("/api/docs/{doc}"), None)
            .await
            .status,
        204
    );
    let after = fetch(app.addr, Some(&owner.token), png_url).await;
    assert_eq!(after.status, 404);
}

#[tokio::test]
async fn files_on_the_default_directory_store() {
    let app = spawn_auth_app().await;
    uploads_are_served_with_safe_headers(&app).await;
    assert_eq!(
        stored(&app),
        0,
        "the deleted document's files are gone from disk"
    );
}

/// Too large (declared, and sent without saying), a program, an unknown binary, empty, cut off
/// halfway, to a document that does not exist, too many: each a clear answer, nothing stored
/// (`stored` counts what the store holds).
async fn refusals_leave_nothing(app: &TestApp, stored: impl Fn() -> usize) {
    let owner = Account::signup(app.addr, "refused@example.org").await;
    let doc = owner.new_doc("refusals").await;
    let before = stored();
    let mut big = PNG.to_vec();
    big.resize(5000, 0);

    let r = upload(&owner, &doc, &big).await;
    assert_eq!(r.status, 413);
    assert!(
        r.json()["error"].as_str().unwrap().contains("larger than"),
        "{}",
        r.json()
    );

    // The declared length is small, the multipart body around a large file is not.
    let mut form =
        b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.png\"\r\n\r\n".to_vec();
    form.extend_from_slice(&big);
    form.extend_from_slice(b"\r\n--b--\r\n");
    let path = format!("/api/docs/{doc}/files");
    let ct = Some("multipart/form-data; boundary=b");
    let r = send(app.addr, "POST", &path, Some(&owner.token), ct, &form, None).await;
    assert_eq!(r.status, 413, "{}", r.json());

    let r = upload(&owner, &doc, ELF).await;
    assert_eq!(r.status, 415);
    assert!(
        r.json()["error"].as_str().unwrap().contains("programs"),
        "{}",
        r.json()
    );
    let r = upload(&owner, &doc, b"\0\x01\x02\xff\xfe\xfd").await;
    assert_eq!(r.status, 415, "{}", r.json());
    assert_eq!(upload(&owner, &doc, b"").await.status, 415);

    let r = send(
        app.addr,
        "POST",
        &path,
        Some(&owner.token),
        None,
        PNG,
        Some(10),
    )
    .await;
    assert!(
        r.status == 400 || r.status == 0,
        "cut off halfway: refused or dropped, not stored ({})",
        r.status
    );

    let r = upload(&owner, &doc, b"\xff").await;
    assert_eq!(r.status, 415);
    let r = upload(&owner, "nosuchdocument00", PNG).await;
    assert_eq!(r.status, 404);
    assert_eq!(stored(), before, "nothing of any refused upload is stored");

    // The per-user limit (10 a minute here; 7 used above: the 404 was refused before it).
    let mut statuses = vec![];
    for _ in 0..5 {
        statuses.push(upload(&owner, &doc, PNG).await.status);
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429], "{statuses:?}");
}

fn limited(o: Options) -> Options {
    Options {
        max_upload_bytes: Some(1000),
        uploads_per_minute: Some(10),
        ..o
    }
}

#[tokio::test]
async fn refused_uploads_get_a_clear_answer_and_leave_nothing() {
    let app = spawn_auth_app_with(limited).await;
    refusals_leave_nothing(&app, || stored(&app)).await;
}

/// Files no restorable state mentions are swept once older than the retention window; a file
/// the document shows stays.
#[tokio::test]
async fn unreferenced_files_are_swept_after_the_retention_window() {
    let app = spawn_app_with(|o| Options {
        history_retention_secs: Some(1),
        file_sweep_secs: Some(1),
        ..o
    })
    .await;
    let created = http(
        app.addr,
        "POST",
        "/api/docs",
        &[],
        Some("{\"title\":\"t\"}"),
    )
    .await;
    let doc: Value = serde_json::from_slice(&created.2).unwrap();
    let doc = doc["id"].as_str().unwrap().to_owned();
    let path = format!("/api/docs/{doc}/files");
    let ct = Some("application/octet-stream");
    let kept = send(app.addr, "POST", &path, None, ct, PNG, None)
        .await
        .json();
    let swept = send(app.addr, "POST", &path, None, ct, PDF, None)
        .await
        .json();
    let (kept, swept) = (
        kept["url"].as_str().unwrap(),
        swept["url"].as_str().unwrap(),
    );

    let mut c = app.connect(&doc).await;
    let image = {
        use yrs::types::xml::XmlElementPrelim;
        use yrs::{Transact, Xml, XmlFragment};
        let d = yrs::Doc::with_client_id(4242);
        let frag = d.get_or_insert_xml_fragment("default");
        let mut txn = d.transact_mut();
        let img = frag.push_back(&mut txn, XmlElementPrelim::empty("image"));
        img.insert_attribute(&mut txn, "src", kept);
        txn.encode_update_v1()
    };
    c.send_update(image).await;
    c.wait_acked().await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while fetch(app.addr, None, swept).await.status != 404 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unreferenced file is swept"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Several more sweeps: the file the document shows stays.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fetch(app.addr, None, kept).await.status, 200);
    assert_eq!(stored(&app), 1);
}

/// The same behaviour on a real S3-compatible server: `s3s-fs`, signed requests, a bucket
/// prefix. Skipped (with a note) when `TANDEM_TEST_S3S_FS` is not set; `make test` sets it.
#[tokio::test]
async fn files_on_an_s3_compatible_bucket() {
    let Some(bin) = std::env::var_os("TANDEM_TEST_S3S_FS") else {
        eprintln!("skipped: TANDEM_TEST_S3S_FS is not set (make test installs s3s-fs and sets it)");
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("tandem-files")).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut s3 = std::process::Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", "tandem", "--secret-key", "tandem-secret"])
        .arg(root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("TANDEM_TEST_S3S_FS names a runnable s3s-fs");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "s3s-fs listens");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!(
        "s3://tandem-files/prod/team?endpoint=http://127.0.0.1:{port}&allow_http=true&\
         region=us-east-1&access_key_id=tandem&secret_access_key=tandem-secret"
    );
    let app = spawn_auth_app_with(|o| Options {
        blob_url: Some(url.clone()),
        ..o
    })
    .await;
    uploads_are_served_with_safe_headers(&app).await;
    assert_eq!(stored(&app), 0, "nothing went to the local directory");
    let strict = spawn_auth_app_with(|o| {
        limited(Options {
            blob_url: Some(url.clone()),
            ..o
        })
    })
    .await;
    let bucket = root.path().join("tandem-files");
    refusals_leave_nothing(&strict, || walk(&bucket)).await;
    let owner = Account::login(app.addr, "owner@example.org").await;
    let doc = owner.new_doc("kept").await;
    let r = upload(&owner, &doc, PNG).await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let in_bucket = root
        .path()
        .join(format!("tandem-files/prod/team/docs/{doc}/{id}"));
    assert_eq!(
        std::fs::read(&in_bucket).unwrap(),
        PNG,
        "stored in the bucket, under the prefix"
    );
    s3.kill().unwrap();
    let _ = s3.wait();
    // The bucket is gone: a clear 503, not a hang or a crash.
    let r = upload(&owner, &doc, PDF).await;
    assert_eq!(r.status, 503, "{}", r.json());
}
