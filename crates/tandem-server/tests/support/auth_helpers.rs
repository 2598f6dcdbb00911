//! Accounts for tests: a server with `--auth accounts`, and an [`Account`] that signs up, logs
//! in and calls the API with its access token.

use std::net::SocketAddr;

use serde_json::Value;
use tandem_server::config::{AuthMode, Options};

use crate::helpers::*;

pub async fn spawn_auth_app() -> TestApp {
    spawn_auth_app_with(|o| o).await
}

pub async fn spawn_auth_app_with(f: impl FnOnce(Options) -> Options) -> TestApp {
    spawn_app_with(|o| {
        f(Options {
            auth: Some(AuthMode::Accounts),
            ..o
        })
    })
    .await
}

pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone)]
pub struct Account {
    pub addr: SocketAddr,
    pub id: i64,
    pub email: String,
    pub token: String,
    /// The refresh cookie, as `tandem_refresh=…`.
    pub cookie: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A request with optional bearer token and JSON body; the body parsed as JSON (or Null).
pub async fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = vec![];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let body = body.map(|b| b.to_string());
    let (status, headers, raw) = http(addr, method, path, &headers, body.as_deref()).await;
    Resp {
        status,
        headers,
        json: serde_json::from_slice(&raw).unwrap_or(Value::Null),
    }
}

/// The refresh cookie a response set, as `name=value` (None if it cleared it or set none).
pub fn refresh_cookie(headers: &[(String, String)]) -> Option<String> {
    headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap_or("").trim().to_string())
        .find(|c| c.starts_with("tandem_refresh=") && c.len() > "tandem_refresh=".len())
}

impl Account {
    pub async fn signup(addr: SocketAddr, email: &str) -> Account {
        let r = api(
            addr,
            "POST",
            "/api/auth/signup",
            None,
            Some(serde_json::json!({ "email": email, "name": email, "password": PASSWORD })),
        )
        .await;
        assert_eq!(r.status, 201, "signup {email}: {}", r.json);
        Self::from_session(addr, &r)
    }

    pub async fn login(addr: SocketAddr, email: &str) -> Account {
        let r = api(
            addr,
            "POST",
            "/api/auth/login",
            None,
            Some(serde_json::json!({ "email": email, "password": PASSWORD })),
        )
        .await;
        assert_eq!(r.status, 200, "login {email}: {}", r.json);
        Self::from_session(addr, &r)
    }

    pub fn from_session(addr: SocketAddr, r: &Resp) -> Account {
        Account {
            addr,
            id: r.json["user"]["id"].as_i64().unwrap(),
            email: r.json["user"]["email"].as_str().unwrap().into(),
            token: r.json["access_token"].as_str().unwrap().into(),
            cookie: refresh_cookie(&r.headers).expect("a refresh cookie"),
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        api(self.addr, method, path, Some(&self.token), body).await
    }

    /// `GET path` until its JSON satisfies `f` (up to 15 s).
    #[allow(dead_code)] // not every test binary waits on the API
    pub async fn wait_json(&self, path: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let r = self.call("GET", path, None).await;
            if r.status == 200 && f(&r.json) {
                return r.json;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "GET {path}: still {} {}",
                r.status,
                r.json
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// `POST /api/auth/refresh` with `cookie` (from this browser's origin).
    pub async fn refresh_with(&self, cookie: &str) -> Resp {
        let origin = format!("http://{}", self.addr);
        let (status, headers, raw) = http(
            self.addr,
            "POST",
            "/api/auth/refresh",
            &[("Cookie", cookie), ("Origin", &origin)],
            None,
        )
        .await;
        Resp {
            status,
            headers,
            json: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        }
    }

    /// Creates a document owned by this account; returns its id.
    pub async fn new_doc(&self, title: &str) -> String {
        let r = self
            .call(
                "POST",
                "/api/docs",
                Some(serde_json::json!({ "title": title })),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
        r.json["id"].as_str().unwrap().to_string()
    }

    pub async fn share(&self, doc: &str, email: &str, role: &str) {
        let r = self
            .call(
                "POST",
                &format!("/api/docs/{doc}/shares"),
                Some(serde_json::json!({ "email": email, "role": role })),
            )
            .await;
        assert_eq!(r.status, 200, "share: {}", r.json);
    }

    pub async fn connect(&self, doc: &str) -> Client {
        Client::connect_as(self.addr, doc, &self.token).await
    }

    /// Shares `doc` with account `user` by id (the offer after a mention), as commenter.
    pub async fn share_with_id(&self, doc: &str, user: i64) -> Resp {
        let body = serde_json::json!({ "user": user, "role": "commenter" });
        let path = format!("/api/docs/{doc}/shares");
        self.call("POST", &path, Some(body)).await
    }

    /// Removes `user`'s access to `doc` (204 expected).
    pub async fn unshare(&self, doc: &str, user: i64) {
        let path = format!("/api/docs/{doc}/shares/{user}");
        let r = self.call("DELETE", &path, None).await;
        assert_eq!(r.status, 204, "unshare: {}", r.json);
    }
}

/// Opens `/api/notifications/stream` over a plain socket; yields the unread counts it sends.
pub struct UnreadStream {
    sock: tokio::net::TcpStream,
    pub buf: String,
}

impl UnreadStream {
    pub async fn open(addr: SocketAddr, token: &str) -> UnreadStream {
        use tokio::io::AsyncWriteExt;
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /api/notifications/stream HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        );
        sock.write_all(req.as_bytes()).await.unwrap();
        UnreadStream {
            sock,
            buf: String::new(),
        }
    }

    /// The next `unread` event's count.
    pub async fn next(&mut self) -> i64 {
        use tokio::io::AsyncReadExt;
        let key = "data: {\"unread\":";
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                if let Some(at) = self.buf.find(key) {
                    let rest = &self.buf[at + key.len()..];
                    let end = rest.find('}').unwrap();
                    let n = rest[..end].parse().unwrap();
                    self.buf = rest[end..].to_string();
                    return n;
                }
                let mut chunk = [0u8; 4096];
                let n = self.sock.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the stream ended: {}", self.buf);
                self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        })
        .await
        .expect("no unread event")
    }
}

/// A change stream over a plain socket: the revisions of the `change` events it sends.
pub struct SseStream {
    sock: tokio::net::TcpStream,
    pub buf: String,
}

impl SseStream {
    /// A document's change feed, resuming after `last_event_id`.
    pub async fn open_doc(a: &Account, doc: &str, last_event_id: Option<u64>) -> SseStream {
        let path = format!("/api/docs/{doc}/changes/stream");
        Self::open(a.addr, &a.token, &path, last_event_id).await
    }

    pub async fn open(
        addr: SocketAddr,
        token: &str,
        path: &str,
        last_event_id: Option<u64>,
    ) -> SseStream {
        use tokio::io::AsyncWriteExt;
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let resume = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {token}\r\n{resume}\r\n"
        );
        sock.write_all(req.as_bytes()).await.unwrap();
        SseStream {
            sock,
            buf: String::new(),
        }
    }

    /// The next change event's id (its revision).
    pub async fn next(&mut self) -> u64 {
        self.next_id().await.parse().unwrap()
    }

    /// The next change event's id.
    pub async fn next_id(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                if let Some(at) = self.buf.find("id: ") {
                    let rest = &self.buf[at + 4..];
                    if let Some(end) = rest.find('\n') {
                        let id = rest[..end].trim().to_owned();
                        self.buf = rest[end..].to_string();
                        return id;
                    }
                }
                let mut chunk = [0u8; 8192];
                let n = self.sock.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the stream ended: {}", self.buf);
                self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        })
        .await
        .expect("no change event")
    }

    /// Nothing more arrives within `d`.
    pub async fn quiet(&mut self, d: std::time::Duration) {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 8192];
        if let Ok(Ok(n)) = tokio::time::timeout(d, self.sock.read(&mut chunk)).await {
            let more = String::from_utf8_lossy(&chunk[..n]).to_string();
            assert!(!more.contains("id: "), "unexpected change: {more}");
        }
    }
}
