//! Slow and hostile clients against the `tandem` binary (its own process, so its memory and
//! metrics are its own): a client at 10× the rate limit, 1,000 sockets from one address, a
//! 100 MB frame, and a reconnect storm of 2,000 clients after a crash. In each, a bystander's
//! edit → ack round trip is measured and printed. The goal is a p99 under 100 ms (RELIABILITY.md
//! has the figures); the test asserts what a correct build meets on a busy two-core CI machine
//! (`TANDEM_HOSTILE_P99_MS`, default 1,000 ms: a stalled actor or a blocked runtime takes
//! seconds), and `make bench-hostile` runs the same tests held to the 100 ms goal. (A client that
//! never reads is `api::slow::slow_consumer_is_closed_and_others_carry_on`.) A binary of its own,
//! its tests one at a time: what they measure must not share the machine with the other tests.
#![allow(clippy::disallowed_methods)] // these documents are clients', plain yrs ones

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use rand::Rng;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as Ws;

#[path = "../support/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::*;

#[path = "../support/auth_helpers.rs"]
#[allow(dead_code)]
mod auth_helpers;

/// Held by each test: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Edit → ack round trips of a bystander on its own document, every 20 ms until `stop`. It runs
/// on a thread and runtime of its own, so the test's other clients cannot delay it: what it
/// measures is the server.
fn bystander(
    addr: SocketAddr,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<Duration>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(rt.block_on(measure(addr, stop)));
    });
    tokio::spawn(async move { rx.await.unwrap() })
}

async fn measure(addr: SocketAddr, stop: watch::Receiver<bool>) -> Vec<Duration> {
    let mut c = Client::connect(addr, "bystander", true).await;
    let mut rtts = Vec::new();
    while !*stop.borrow() {
        let t = Instant::now();
        c.push("b").await;
        c.wait_acked().await;
        rtts.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rtts
}

fn p99(mut v: Vec<Duration>) -> Duration {
    assert!(v.len() >= 10, "too few samples: {}", v.len());
    v.sort();
    v[(v.len() * 99).div_ceil(100) - 1]
}

fn assert_unaffected(what: &str, rtts: Vec<Duration>) {
    let n = rtts.len();
    let p = p99(rtts);
    eprintln!(
        "{what}: bystander p99 {:.1} ms over {n} round trips",
        p.as_secs_f64() * 1e3
    );
    let bound = p99_bound();
    assert!(p < bound, "{what}: bystander p99 {p:?} (bound {bound:?})");
}

/// The p99 a correct build always meets here (`TANDEM_HOSTILE_P99_MS`, default 1,000 ms; `make
/// bench-hostile` sets the 100 ms goal).
fn p99_bound() -> Duration {
    let ms = std::env::var("TANDEM_HOSTILE_P99_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Duration::from_millis(ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_at_ten_times_the_rate_limit_is_cut_off_every_time_and_nobody_else_notices() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["--rate-limit-per-sec", "50", "--rate-limit-burst", "50"];
    let server = ServerProcess::start(dir.path(), &args);
    let (stop_tx, stop) = watch::channel(false);
    let by = bystander(server.addr, stop);
    let mut cut = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        // 500 messages a second (query-awareness frames) until the server closes the socket.
        let mut flood = Client::from_socket(raw_connect(server.addr, "flood", true).await, true);
        let mut sent = 0;
        while flood.ws.send(Ws::Binary(vec![3].into())).await.is_ok() && sent < 2000 {
            sent += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (code, _) = flood.expect_close().await;
        assert_eq!(code, 1008, "after {sent} messages");
        assert!(sent < 200, "cut off only after {sent} messages");
        cut += 1;
    }
    let _ = stop_tx.send(true);
    assert!(cut >= 3, "the flooder reconnected only {cut} times");
    assert_unaffected("10× rate", by.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sockets_from_one_address_are_capped_and_leave_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]); // --sockets-per-ip defaults to 500
    let (stop_tx, stop) = watch::channel(false);
    let by = bystander(server.addr, stop);
    while metric(server.addr, "tandem_connections").await < 1.0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rss_before = server.status_kb("VmRSS");
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..1000 {
        let req = format!("ws://{}/ws/crowd", server.addr);
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => open.push(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), 429);
                refused += 1;
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(open.len(), 499, "the cap (500) less the bystander's socket");
    assert_eq!(refused, 501);
    let per_socket = (server.status_kb("VmRSS").saturating_sub(rss_before)) / 499;
    let _ = stop_tx.send(true);
    assert_unaffected("1,000 sockets", by.await.unwrap());
    // Closing them frees every slot: the count goes back to zero and the address may connect.
    drop(open);
    let t = Instant::now();
    while metric(server.addr, "tandem_connections").await > 0.0 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "sockets never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut again = Vec::new();
    for _ in 0..500 {
        again.push(raw_connect(server.addr, "crowd", false).await);
    }
    eprintln!(
        "1,000 sockets: 499 held, 501 refused with 429, ~{per_socket} kB RSS per idle socket"
    );
    assert!(per_socket < 200, "{per_socket} kB per idle socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_frame_is_refused_without_being_buffered() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]); // --max-message-bytes defaults to 8 MiB
    let mut neighbour = Client::connect(server.addr, "big", true).await;
    let peak_before = server.status_kb("VmHWM");
    let mut big = Client::from_socket(raw_connect(server.addr, "big", true).await, true);
    // The header of a masked binary frame of 100 MB and its first 64 kB, written on the socket
    // itself: the server must refuse from the header, so the test reads its close frame instead
    // of racing it with a write that the close would break.
    let mut head = vec![0x82, 0xff];
    head.extend_from_slice(&(100u64 << 20).to_be_bytes());
    head.extend_from_slice(&[1, 2, 3, 4]); // mask key
    head.extend_from_slice(&[0; 64 << 10]);
    {
        use tokio::io::AsyncWriteExt;
        let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = big.ws.get_mut() else {
            unreachable!("plain ws://")
        };
        tcp.write_all(&head).await.unwrap();
    }
    let (code, reason) = tokio::time::timeout(Duration::from_secs(5), big.expect_close())
        .await
        .expect("the server closes the socket");
    assert_eq!(code, 1009, "close {code} {reason}");
    let grew_mb = server.status_kb("VmHWM").saturating_sub(peak_before) / 1024;
    eprintln!("100 MB frame: refused; the server's peak RSS grew {grew_mb} MB");
    assert!(
        grew_mb < 20,
        "the server buffered the frame: peak grew {grew_mb} MB"
    );
    // Nobody else on the document noticed.
    neighbour.push("still fine").await;
    neighbour.wait_acked().await;
    let (status, _, _) = http_get(server.addr, "/healthz").await;
    assert_eq!(status, 200);
}

/// Full-jitter exponential backoff, as the web client does it (base 250 ms, cap 10 s).
fn backoff(attempt: u32) -> Duration {
    let ceiling = (250u64 << attempt.min(16)).min(10_000);
    Duration::from_millis(rand::rng().random_range(0..ceiling))
}

const STORM: usize = 2000;
const STORM_DOCS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_of_two_thousand_clients_after_a_crash_leaves_the_server_responsive() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Storm clients all come from 127.0.0.1 here; real ones come from many addresses.
    let args = ["--sockets-per-ip", "10000"];
    let mut server = ServerProcess::start_on(port, dir.path(), &args);
    let addr = server.addr;
    let mut clients = Vec::new();
    let mut acked = vec![Vec::new(); STORM_DOCS];
    for i in 0..STORM {
        let mut c = Client::connect(addr, &format!("storm-{}", i % STORM_DOCS), true).await;
        c.push(&format!("<{i}>")).await;
        clients.push(c);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.wait_acked().await;
        acked[i % STORM_DOCS].push(format!("<{i}>"));
    }
    server.kill9();
    let down = Instant::now();
    // Every client notices and comes back on its own jittered schedule with its document. Each
    // would resend an edit the server lost, so until fresh readers have read every document from
    // the restarted server, an attempt counts as failed, as one during the outage does.
    let (read_tx, read) = watch::channel(false);
    let storm: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let read = read.clone();
            tokio::spawn(async move {
                let mut doc = c.doc;
                drop(c.ws);
                let name = format!("storm-{}", i % STORM_DOCS);
                for attempt in 0.. {
                    tokio::time::sleep(backoff(attempt)).await;
                    if !*read.borrow() {
                        continue;
                    }
                    match Client::try_connect_with_doc(addr, &name, doc).await {
                        Ok(c) => return (c.text(), down.elapsed()),
                        Err(d) => doc = d,
                    }
                }
                unreachable!()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = ServerProcess::start_on(port, dir.path(), &args);
    // What the restarted server holds, read before any storm client could resend: every acked
    // edit, from the log.
    for (d, edits) in acked.iter().enumerate() {
        let reader = Client::connect(addr, &format!("storm-{d}"), true).await;
        let text = reader.text();
        let lost: Vec<_> = edits.iter().filter(|e| !text.contains(*e)).collect();
        assert!(lost.is_empty(), "storm-{d} lost acked edits {lost:?}");
    }
    read_tx.send(true).unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let by = bystander(server.addr, stop);
    let mut last = Duration::ZERO;
    for (i, h) in storm.into_iter().enumerate() {
        let (text, at) = h.await.unwrap();
        assert!(text.contains(&format!("<{i}>")), "client {i} lost its edit");
        last = last.max(at);
    }
    let _ = stop_tx.send(true);
    // And after the storm, each document holds every edit exactly once, read by fresh clients.
    for (d, edits) in acked.iter().enumerate() {
        let reader = Client::connect(addr, &format!("storm-{d}"), true).await;
        let text = reader.text();
        for e in edits {
            assert_eq!(
                text.matches(e.as_str()).count(),
                1,
                "storm-{d}: {e} in {text}"
            );
        }
    }
    eprintln!(
        "reconnect storm: {STORM} clients back {:.1} s after the crash",
        last.as_secs_f64()
    );
    assert_unaffected("reconnect storm", by.await.unwrap());
}

/// Elements nested `levels` deep (quotes), as one update of a stock client.
fn nested_quotes(levels: usize) -> Vec<u8> {
    use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
    use yrs::{Transact, XmlFragment};
    let doc = yrs::Doc::new();
    let frag = doc.get_or_insert_xml_fragment("default");
    let mut txn = doc.transact_mut();
    let mut el = frag.push_back(&mut txn, XmlElementPrelim::empty("blockquote"));
    for _ in 1..levels {
        el = el.push_back(&mut txn, XmlElementPrelim::empty("blockquote"));
    }
    el.push_back(&mut txn, XmlTextPrelim::new("deep"));
    txn.encode_update_v1()
}

/// The attacker's probe: one stock client message nesting 5,000 quotes was accepted, and the next
/// export aborted the whole server ("has overflowed its stack"), again after every restart. Now
/// the update (5,000 and 100,000 levels) closes its sender with 4400 and is not stored; a document
/// stored before the limit existed is refused by export with 422; the process stays up
/// throughout, and serves the document's sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_documents_are_refused_and_never_crash_the_server() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // A document stored before the limit: written straight into the server's SQLite file.
    {
        use tandem_core::store::{Append, OpLog};
        let store = tandem_store::SqliteStore::open(&tandem_store::SqliteConfig {
            path: dir.path().join("tandem.db"),
        })
        .unwrap();
        store.ensure_doc("stored-deep").await.unwrap();
        store
            .append(&[Append {
                author: None,
                doc: "stored-deep".into(),
                rev: 1,
                data: nested_quotes(100_000).into(),
            }])
            .await
            .unwrap();
    }
    let mut server = ServerProcess::start(dir.path(), &[]);
    let mut writer = Client::connect(server.addr, "deep", false).await;
    writer.push("kept").await;
    writer.wait_text(|t| t == "kept").await;
    for levels in [5_000, 100_000] {
        let mut attacker = Client::connect(server.addr, "deep", false).await;
        attacker.send_update(nested_quotes(levels)).await;
        let (code, reason) = attacker.expect_close().await;
        assert_eq!(code, 4400, "{levels} levels: {reason}");
        for format in ["json", "text", "markdown", "html"] {
            let (status, _, _) = http_get(
                server.addr,
                &format!("/api/docs/deep/export?format={format}"),
            )
            .await;
            assert_eq!(status, 200, "{levels} levels, {format}");
        }
    }
    let (status, _, body) = http_get(server.addr, "/api/docs/deep/export?format=json").await;
    assert_eq!(status, 200);
    assert!(
        !String::from_utf8_lossy(&body).contains("blockquote"),
        "nothing of it stored"
    );
    for format in ["json", "text", "markdown", "html"] {
        let path = format!("/api/docs/stored-deep/export?format={format}");
        let (status, _, body) = http_get(server.addr, &path).await;
        assert_eq!(status, 422, "{format}");
        assert!(String::from_utf8_lossy(&body).contains("levels deep"));
    }
    // The stored document still syncs (its encoding is flat), and the server is up.
    let reader = Client::connect(server.addr, "stored-deep", true).await;
    drop(reader);
    assert_eq!(http_get(server.addr, "/healthz").await.0, 200);
    let exited = server.child.try_wait().unwrap();
    assert!(exited.is_none(), "the server process exited: {exited:?}");
}

/// The probe's presence attack: forty 4 MiB states, each under a new client id, from one socket
/// (reconnecting whenever it is closed) grew the server by ~185 MB and sent a listener 160 MB.
/// Now each is refused at once (1008, over the 64 KiB state limit), the listener receives none of
/// it, and the server keeps answering. Memory: reading one 4 MiB message costs a few transient
/// copies of it (the frame, the decoded state), so the peak may grow by up to 48 MB; what stays
/// afterwards is under 20 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presence_flood_is_refused_and_costs_the_server_nothing() {
    use futures_util::StreamExt;
    use tandem_core::protocol::{encode_awareness, AwarenessEntry, Message};
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let mut listener = Client::connect(server.addr, "flood", false).await;
    let peak_before = server.status_kb("VmHWM");
    let rss_before = server.status_kb("VmRSS");
    let state = format!(r#"{{"user":"{}"}}"#, "x".repeat(4 << 20));
    let mut refused = 0;
    for id in 0..40u64 {
        let mut attacker = Client::connect(server.addr, "flood", false).await;
        let entry = AwarenessEntry {
            client_id: 1000 + id,
            clock: 1,
            state: state.clone(),
        };
        attacker
            .send(Message::Awareness(encode_awareness([entry].iter())))
            .await;
        let (code, _) = attacker.expect_close().await;
        assert_eq!(code, 1008);
        refused += 1;
    }
    let mut received = 0usize;
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(Ok(frame)) = listener.ws.next().await {
            received += frame.len();
        }
    })
    .await;
    let grew_mb = server.status_kb("VmHWM").saturating_sub(peak_before) / 1024;
    let kept_mb = server.status_kb("VmRSS").saturating_sub(rss_before) / 1024;
    eprintln!(
        "presence flood: {refused} × 4 MiB refused; listener received {received} bytes; \
         server peak grew {grew_mb} MB, resident {kept_mb} MB"
    );
    assert!(
        received < 64 << 10,
        "the listener received {received} bytes"
    );
    assert!(grew_mb < 48, "the server's peak grew {grew_mb} MB");
    assert!(kept_mb < 20, "the server kept {kept_mb} MB");
    assert_eq!(http_get(server.addr, "/healthz").await.0, 200);
    listener.push("still fine").await;
    listener.wait_text(|t| t == "still fine").await;
}

/// Silent sockets held open by one account: each waits in the join gate, and before the gate was
/// shared out, 480 of them delayed another user's join by 14.8 s (32 places, each held for a
/// second). Now one account holds at most 4 places and one address 8, and a socket that says
/// nothing is closed after 5 s. Another user on the same address joins in well under the bound
/// all through the attack (the goal is 100 ms; `make bench-hostile` holds it to that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_of_one_account_cannot_hold_up_anyone_elses_join() {
    use auth_helpers::Account;
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // Room for the attacker's sockets and the ones still closing, so the socket cap (500 per
    // address) is not what the attack runs into.
    let server = ServerProcess::start(
        dir.path(),
        &["--auth", "accounts", "--sockets-per-ip", "2000"],
    );
    let mallory = Account::signup(server.addr, "mallory@example.org").await;
    let alice = Account::signup(server.addr, "alice@example.org").await;
    let target = mallory.new_doc("bait").await;
    let mine = alice.new_doc("notes").await;
    let (stop_tx, stop) = watch::channel(false);
    let attack = tokio::spawn({
        let path = format!("/ws/{target}?token={}", mallory.token);
        let addr = server.addr;
        async move {
            let mut open: std::collections::VecDeque<(Instant, Socket)> = Default::default();
            let mut opened = 0;
            let mut first = None;
            while !*stop.borrow() {
                // Sockets the server has closed (after 5 s) are replaced by new silent ones.
                while open
                    .front()
                    .is_some_and(|(t, _)| t.elapsed() > Duration::from_secs(6))
                {
                    let (_, ws) = open.pop_front().unwrap();
                    first.get_or_insert(ws);
                }
                while open.len() < 480 {
                    open.push_back((Instant::now(), raw_connect_path(addr, &path, false).await));
                    opened += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (opened, first)
        }
    });
    // Let the first 480 line up at the gate.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut joins = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(9) {
        let t = Instant::now();
        let c = alice.connect(&mine).await;
        joins.push(t.elapsed());
        drop(c);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(true);
    let (opened, first) = attack.await.unwrap();
    let n = joins.len();
    let worst = *joins.iter().max().unwrap();
    let p = p99(joins);
    eprintln!(
        "silent sockets: {opened} opened by one account; another user's join p99 {:.1} ms, \
         worst {:.1} ms over {n} joins",
        p.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    // The oldest silent socket was closed with a reason, not left open.
    let mut first = Client::from_socket(first.expect("no silent socket lived 6 s"), false);
    let (code, reason) = first.expect_close().await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("no message"), "{reason}");
    let bound = p99_bound();
    assert!(
        p < bound,
        "another user's join p99 {p:?} under the attack (bound {bound:?})"
    );
}

/// 150 logins at once. Unbounded, each took its own 19 MiB argon2 area on its own thread and
/// the process went from 205 MB to 2.9 GB and stayed there. Now one hash per core runs at once
/// in areas that are reused: the peak grows by a few areas, every answer is a clear 401 (or 503
/// with `Retry-After` when the queue is too long), and the owner still signs in afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_costs_a_few_hashing_areas_and_nothing_stays() {
    use auth_helpers::{api, Account};
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // The per-address login limit would stop this flood before any hashing: an attacker with
    // many addresses is not stopped by it, so it is lifted here.
    let args = ["--auth", "accounts", "--login-per-minute", "100000"];
    let server = ServerProcess::start(dir.path(), &args);
    let owner = Account::signup(server.addr, "owner@example.org").await;
    let peak_before = server.status_kb("VmHWM");
    let body = |i: usize| serde_json::json!({ "email": format!("nobody{i}@example.org"), "password": "not the password" });
    let addr = server.addr;
    let started = Instant::now();
    let answers: Vec<_> = futures_util::future::join_all((0..150).map(|i| async move {
        let r = api(addr, "POST", "/api/auth/login", None, Some(body(i))).await;
        (r.status, r.header("retry-after").map(str::to_owned))
    }))
    .await;
    let took = started.elapsed();
    let refused = answers.iter().filter(|(s, _)| *s == 401).count();
    let busy = answers.iter().filter(|(s, _)| *s == 503).count();
    let grew_mb = server.status_kb("VmHWM").saturating_sub(peak_before) / 1024;
    eprintln!(
        "login flood: 150 logins in {:.1} s: {refused} × 401, {busy} × 503; peak grew {grew_mb} MB",
        took.as_secs_f64()
    );
    for (status, retry) in &answers {
        assert!(*status == 401 || *status == 503, "{status}");
        if *status == 503 {
            assert!(retry.is_some(), "503 without Retry-After");
        }
    }
    // Two cores: two 19 MiB areas and their threads, whatever the load.
    assert!(grew_mb < 80, "the server's peak grew {grew_mb} MB");
    assert_eq!(http_get(server.addr, "/healthz").await.0, 200);
    Account::login(server.addr, &owner.email).await;
}

/// A client that sends one header line every 4.5 s once kept its connection (and 50 like it)
/// open for more than a minute. Now the headers must all arrive within the header timeout
/// (10 s by default): every such connection is closed by then, and the server answers others
/// all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_are_cut_off_at_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    let started = Instant::now();
    let slow: Vec<_> = (0..50)
        .map(|i| {
            tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.write_all(format!("GET /api/docs HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
                    .await
                    .unwrap();
                let t = Instant::now();
                for n in 0.. {
                    tokio::time::sleep(Duration::from_millis(4500)).await;
                    let line = format!("X-Slow-{i}-{n}: 1\r\n");
                    if s.write_all(line.as_bytes()).await.is_err() {
                        break;
                    }
                    // A closed connection reads as end of file (or an error response).
                    let mut buf = [0u8; 512];
                    match tokio::time::timeout(Duration::from_millis(10), s.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        Ok(Ok(_)) => {}
                        Err(_) => {}
                    }
                    assert!(
                        t.elapsed() < Duration::from_secs(30),
                        "still open after 30 s"
                    );
                }
                t.elapsed()
            })
        })
        .collect();
    // The server keeps answering while they trickle.
    while started.elapsed() < Duration::from_secs(5) {
        assert_eq!(http_get(addr, "/healthz").await.0, 200);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut longest = Duration::ZERO;
    for h in slow {
        longest = longest.max(h.await.unwrap());
    }
    eprintln!(
        "trickled headers: 50 connections, the last closed after {:.1} s",
        longest.as_secs_f64()
    );
    // Closed at the 10 s timeout; noticed at the next line written (every 4.5 s).
    assert!(longest < Duration::from_millis(15_500), "{longest:?}");
}

/// Past `--max-http-connections` a new connection is closed at once, and once others close,
/// new ones are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_and_the_cap_frees_up() {
    use tokio::io::AsyncReadExt;
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--max-http-connections", "20"]);
    let addr = server.addr;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Let the server accept all twenty.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf))
        .await
        .expect("the 21st connection was left open")
        .unwrap_or(0);
    assert_eq!(n, 0, "the 21st connection was served");
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(http_get(addr, "/healthz").await.0, 200);
}
