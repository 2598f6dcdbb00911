//! `TestApp` (the real server, in-process on port 0 or as the `tandem` binary) and `Client`, a
//! small Yjs client that speaks the wire protocol over a real WebSocket.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tandem_core::protocol::{Ext, Message, SUBPROTOCOL};
use tandem_server::config::{AuthMode, Options, Settings};
use tandem_server::Application;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{GetString, ReadTxn, StateVector, Text, Transact, Update};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub addr: SocketAddr,
    /// `--admin-listen`'s address, when a test set one.
    pub admin: Option<SocketAddr>,
    /// The server's open documents (to count them).
    pub rooms: tandem_core::room::Rooms,
    /// The server's store (to compact a log, as retention would).
    pub store: std::sync::Arc<dyn tandem_core::store::DocStore>,
    pub shutdown: CancellationToken,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
    pub dir: tempfile::TempDir,
}

/// Options for tests of the sync engine: one local user (`--auth none`). Tests of accounts and
/// access control set `auth: Some(AuthMode::Accounts)` (see `auth_helpers`).
pub fn test_options(dir: &Path) -> Options {
    Options {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.to_path_buf()),
        auth: Some(AuthMode::None),
        ..Default::default()
    }
}

fn init_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        tandem_server::telemetry::init_tracing(tandem_server::config::LogFormat::Plain);
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|o| o).await
}

pub async fn spawn_app_with(f: impl FnOnce(Options) -> Options) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_app_in(dir, f).await
}

pub async fn spawn_app_in(dir: tempfile::TempDir, f: impl FnOnce(Options) -> Options) -> TestApp {
    init_log();
    let settings = Settings::from_options(f(test_options(dir.path()))).unwrap();
    let app = Application::build(settings).await.unwrap();
    let addr = app.local_addr();
    let admin = app.admin_addr();
    let rooms = app.state().rooms.clone();
    let store = app.state().store.clone();
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        admin,
        rooms,
        store,
        shutdown,
        handle,
        dir,
    }
}

impl TestApp {
    pub async fn connect(&self, doc: &str) -> Client {
        Client::connect(self.addr, doc, true).await
    }
    pub async fn connect_stock(&self, doc: &str) -> Client {
        Client::connect(self.addr, doc, false).await
    }
    /// Stops the server gracefully and hands back its data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        self.handle.await.unwrap().unwrap();
        self.dir
    }
}

/// A minimal HTTP/1.1 GET (no client crate needed): status, headers (lowercase), body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http(addr, "GET", path, &[], None).await
}

/// Any HTTP/1.1 request with extra headers and an optional JSON body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let s = TcpStream::connect(addr).await.unwrap();
    json_exchange(s, addr, method, path, extra, body).await
}

/// A request with a binary body. `cut` closes the connection after that many body bytes (the
/// declared length stays the whole body's). Status 0 when the server answered nothing.
pub async fn http_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    cut: Option<usize>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let s = TcpStream::connect(addr).await.unwrap();
    exchange(s, addr, method, path, extra, body, cut).await
}

/// [`http`] from another local address (say 127.0.0.2), so the server sees a different peer.
pub async fn http_from(
    from: std::net::IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let s = socket.connect(addr).await.unwrap();
    json_exchange(s, addr, method, path, extra, body).await
}

/// One request on `s` with an optional JSON body.
async fn json_exchange(
    s: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = extra.to_vec();
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let body = body.unwrap_or("").as_bytes();
    exchange(s, addr, method, path, &headers, body, None).await
}

async fn exchange(
    mut s: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    cut: Option<usize>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    // As a browser on the web client's page would; tests of other origins say theirs.
    let says_where = extra
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("origin") || k.eq_ignore_ascii_case("sec-fetch-site"));
    if method != "GET" && !says_where {
        req.push_str(&format!("Origin: http://{addr}\r\n"));
    }
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    // A body the server refuses early may meet a closed socket: that is its answer.
    let _ = s.write_all(&body[..cut.unwrap_or(body.len())]).await;
    if cut.is_some() {
        let _ = s.shutdown().await;
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut buf)).await;
    let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, vec![], vec![]);
    };
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..end]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + n]);
        b = &b[end + 4 + n..];
    }
}

/// A Prometheus metric's value from `/metrics` (0 when absent).
pub async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let body = String::from_utf8(http_get(addr, "/metrics").await.2).unwrap();
    body.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0)
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A Yjs client over a real WebSocket. Text lives in `Y.Text` named "t".
pub struct Client {
    pub ws: Socket,
    pub doc: yrs::Doc,
    pub tandem: bool,
    pub hello_rev: Option<u64>,
    pub acks: Vec<u64>,
    pub errors: Vec<(u32, String)>,
    /// Update frames forwarded to this client (broadcasts and echoes), in arrival order.
    pub forwarded: usize,
    pub synced: bool,
    pub closed: Option<(u16, String)>,
    pub sent_updates: usize,
    /// Threads the server said changed (the `comments` extension).
    pub comment_notices: Vec<String>,
}

pub async fn raw_connect(addr: SocketAddr, doc: &str, tandem: bool) -> Socket {
    raw_connect_path(addr, &format!("/ws/{doc}"), tandem).await
}

/// Connects to `path` (which may carry a query string) without syncing.
pub async fn raw_connect_path(addr: SocketAddr, path: &str, tandem: bool) -> Socket {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    if tandem {
        req.headers_mut()
            .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

impl Client {
    pub async fn connect(addr: SocketAddr, doc: &str, tandem: bool) -> Client {
        Self::connect_with_doc(addr, doc, tandem, yrs::Doc::new()).await
    }

    /// Connects with an existing document (e.g. loaded from `/state`) and syncs.
    pub async fn connect_with_doc(
        addr: SocketAddr,
        doc: &str,
        tandem: bool,
        ydoc: yrs::Doc,
    ) -> Client {
        let c = Client::from_socket(raw_connect(addr, doc, tandem).await, tandem);
        c.sync_with(ydoc).await
    }

    /// Like `connect_with_doc`, but `None` (instead of a panic) if the server refuses or closes
    /// before the sync completes: for tests of outages.
    pub async fn try_connect_with_doc(
        addr: SocketAddr,
        doc: &str,
        ydoc: yrs::Doc,
    ) -> Result<Client, yrs::Doc> {
        let req = format!("ws://{addr}/ws/{doc}")
            .into_client_request()
            .unwrap();
        let mut req = req;
        req.headers_mut()
            .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
        let Ok(Ok((ws, _))) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req)).await
        else {
            return Err(ydoc);
        };
        let mut c = Client::from_socket(ws, true);
        c.doc = ydoc;
        let sv = c.doc.transact().state_vector().encode_v1();
        c.send(Message::SyncStep1(sv)).await;
        let ok = tokio::time::timeout(WAIT, async {
            while !(c.synced && c.acks.len() >= c.sent_updates) {
                if !c.recv().await {
                    return false;
                }
            }
            true
        })
        .await;
        if matches!(ok, Ok(true)) {
            c.acks.clear();
            c.sent_updates = 0;
            Ok(c)
        } else {
            Err(std::mem::replace(&mut c.doc, yrs::Doc::new()))
        }
    }

    /// A `tandem.v1` client that authenticates in band with `token`, then syncs.
    pub async fn connect_as(addr: SocketAddr, doc: &str, token: &str) -> Client {
        Self::connect_as_with_doc(addr, doc, token, yrs::Doc::new()).await
    }

    pub async fn connect_as_with_doc(
        addr: SocketAddr,
        doc: &str,
        token: &str,
        ydoc: yrs::Doc,
    ) -> Client {
        let mut c = Client::from_socket(raw_connect(addr, doc, true).await, true);
        c.auth(token).await;
        c.sync_with(ydoc).await
    }

    /// Sends the `tandem.v1` auth message (first frame, or an in-band refresh).
    pub async fn auth(&mut self, token: &str) {
        self.send(Message::Ext(Ext::Auth {
            token: token.into(),
        }))
        .await;
    }

    /// Sends sync step 1 for `ydoc` and waits for the sync (and, for tandem, its ack).
    pub async fn sync_with(self, ydoc: yrs::Doc) -> Client {
        let mut c = self;
        c.doc = ydoc;
        let sv = c.doc.transact().state_vector().encode_v1();
        c.send(Message::SyncStep1(sv)).await;
        tokio::time::timeout(WAIT, async {
            while !c.synced {
                assert!(c.recv().await, "closed before sync: {:?}", c.closed);
            }
        })
        .await
        .expect("sync timed out");
        if c.tandem {
            // Our sync step 2 (answering the server's step 1) is acked like any update; start
            // the counts after it so `acks[i]` answers the i-th update a test sends.
            c.wait_acked().await;
            c.acks.clear();
            c.sent_updates = 0;
        }
        c
    }

    /// Wraps a connected socket without syncing.
    pub fn from_socket(ws: Socket, tandem: bool) -> Client {
        Client {
            ws,
            doc: yrs::Doc::new(),
            tandem,
            hello_rev: None,
            acks: vec![],
            errors: vec![],
            forwarded: 0,
            synced: false,
            closed: None,
            sent_updates: 0,
            comment_notices: vec![],
        }
    }

    /// Sends a message; a failed send (server gone) is recorded as a close, not a panic.
    pub async fn send(&mut self, m: Message) {
        if let Err(e) = self.ws.send(Ws::Binary(m.encode().into())).await {
            self.closed.get_or_insert((1006, e.to_string()));
        }
    }

    pub fn text(&self) -> String {
        let t = self.doc.get_or_insert_text("t");
        t.get_string(&self.doc.transact())
    }

    /// Makes a local edit and sends it as an update; returns the update bytes.
    pub async fn insert(&mut self, index: u32, s: &str) -> Vec<u8> {
        let t = self.doc.get_or_insert_text("t");
        let update = {
            let mut txn = self.doc.transact_mut();
            t.insert(&mut txn, index, s);
            txn.encode_update_v1()
        };
        self.send_update(update.clone()).await;
        update
    }

    pub async fn push(&mut self, s: &str) -> Vec<u8> {
        let len = self.text().chars().count() as u32;
        self.insert(len, s).await
    }

    /// Sends `m` as `tandem.v1` part messages of at most `size` of its bytes each; every piece
    /// is an update message for the ack count.
    pub async fn send_in_pieces(&mut self, m: Message, size: usize) {
        let whole = m.encode();
        for piece in whole.chunks(size) {
            let part = Ext::Part {
                total: whole.len() as u64,
                bytes: piece.to_vec(),
            };
            self.sent_updates += 1;
            self.send(Message::Ext(part)).await;
        }
    }

    /// A local edit appended to the text, not sent: its update.
    pub fn edit(&mut self, s: &str) -> Vec<u8> {
        let t = self.doc.get_or_insert_text("t");
        let mut txn = self.doc.transact_mut();
        let len = t.len(&txn);
        t.insert(&mut txn, len, s);
        txn.encode_update_v1()
    }

    pub async fn send_update(&mut self, update: Vec<u8>) {
        self.sent_updates += 1;
        self.send(Message::Update(update)).await;
    }

    /// Handles one incoming frame; false once the connection is closed.
    pub async fn recv(&mut self) -> bool {
        let Some(frame) = self.ws.next().await else {
            self.closed.get_or_insert((1006, "eof".into()));
            return false;
        };
        let bytes = match frame {
            Ok(Ws::Binary(b)) => b,
            Ok(Ws::Close(f)) => {
                self.closed = Some(
                    f.map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new())),
                );
                return false;
            }
            Ok(_) => return true,
            Err(e) => {
                self.closed.get_or_insert((1006, e.to_string()));
                return false;
            }
        };
        match Message::decode(&bytes).expect("server sent a malformed message") {
            Message::SyncStep1(sv) => {
                let sv = StateVector::decode_v1(&sv).unwrap();
                let u = self.doc.transact().encode_state_as_update_v1(&sv);
                self.send(Message::SyncStep2(u)).await;
                self.sent_updates += 1;
            }
            Message::SyncStep2(u) => {
                self.apply(&u);
                self.synced = true;
            }
            Message::Update(u) => {
                self.forwarded += 1;
                self.apply(&u);
            }
            Message::Ext(Ext::Hello { revision, .. }) => self.hello_rev = Some(revision),
            Message::Ext(Ext::Ack { revision }) => self.acks.push(revision),
            Message::Ext(Ext::Error { code, message }) => self.errors.push((code, message)),
            Message::Ext(Ext::Comments { thread }) => self.comment_notices.push(thread),
            Message::Ext(_) | Message::Awareness(_) | Message::QueryAwareness => {}
        }
        true
    }

    fn apply(&mut self, u: &[u8]) {
        self.doc
            .transact_mut()
            .apply_update(Update::decode_v1(u).unwrap())
            .unwrap();
    }

    /// Reads until every update message sent so far is acked (tandem clients only).
    pub async fn wait_acked(&mut self) {
        assert!(self.tandem);
        tokio::time::timeout(WAIT, async {
            while self.acks.len() < self.sent_updates {
                assert!(
                    self.recv().await,
                    "closed while waiting for acks: {:?}",
                    self.closed
                );
            }
        })
        .await
        .expect("acks timed out");
    }

    /// Reads until the text satisfies `pred`.
    pub async fn wait_text(&mut self, pred: impl Fn(&str) -> bool) {
        let ok = tokio::time::timeout(WAIT, async {
            while !pred(&self.text()) {
                if !self.recv().await {
                    return false;
                }
            }
            true
        })
        .await;
        assert!(
            matches!(ok, Ok(true)),
            "text never matched; have {:?} closed {:?}",
            self.text(),
            self.closed
        );
    }

    /// Reads until the server closes the connection; returns the close code and reason.
    pub async fn expect_close(&mut self) -> (u16, String) {
        tokio::time::timeout(WAIT, async { while self.recv().await {} })
            .await
            .expect("server never closed");
        self.closed.clone().unwrap()
    }

    /// Reads whatever arrives within `d`.
    pub async fn drain_for(&mut self, d: Duration) {
        let _ = tokio::time::timeout(d, async { while self.recv().await {} }).await;
    }
}

/// The `tandem` binary as a child process (for crash and signal tests).
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    pub fn start(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        Self::spawn("127.0.0.1:0", data_dir, extra, "info", None)
    }

    #[allow(dead_code)] // the hostile tests' storm restarts where its clients look
    /// Like `start`, on a given port (to restart a server where its clients will look for it).
    pub fn start_on(port: u16, data_dir: &Path, extra: &[&str]) -> ServerProcess {
        Self::spawn(&format!("127.0.0.1:{port}"), data_dir, extra, "info", None)
    }

    /// Like `start`, with `RUST_LOG=level` and the log (stdout and stderr) written to `log`.
    pub fn start_logging(
        data_dir: &Path,
        extra: &[&str],
        level: &str,
        log: &Path,
    ) -> ServerProcess {
        Self::spawn("127.0.0.1:0", data_dir, extra, level, Some(log))
    }

    fn spawn(
        listen: &str,
        data_dir: &Path,
        extra: &[&str],
        level: &str,
        log: Option<&Path>,
    ) -> ServerProcess {
        use std::io::Write;
        let mut log = log.map(|p| std::fs::File::create(p).unwrap());
        let stderr = match &log {
            Some(f) => Stdio::from(f.try_clone().unwrap()),
            None => Stdio::inherit(),
        };
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(if extra.contains(&"--auth") {
                &[][..]
            } else {
                &["--auth", "none"][..]
            })
            .args(extra)
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .unwrap();
            if let Some(f) = log.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if let Some(rest) = line.strip_prefix("tandem listening on http://") {
                break rest.trim().parse().unwrap();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        ServerProcess { child, addr }
    }

    /// A line of the process's `/proc/{pid}/status`, in kB (e.g. "VmHWM", "VmRSS").
    pub fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn sigterm(&mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
