//! Limits that protect everyone, through the real server: the memory budget (1013 on the
//! WebSocket, 503 with Retry-After over HTTP, idle documents evicted first), the document size
//! cap (4413, nothing applied), large edits in pieces within the reassembly budget, and the
//! storage gauges.

use std::time::Duration;

use tandem_core::protocol::{Ext, Message};
use tandem_server::config::Options;

use crate::helpers::*;

#[tokio::test]
async fn past_the_open_document_cap_joins_get_1013_and_loads_503_until_one_is_idle() {
    let app = spawn_app_with(|o| Options {
        max_open_docs: Some(2),
        ..o
    })
    .await;
    let mut c = app.connect("c").await;
    c.push("gamma").await;
    c.wait_acked().await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut a = app.connect("a").await;
    a.push("alpha").await;
    a.wait_acked().await;
    let mut b = app.connect("b").await;
    b.push("beta").await;
    b.wait_acked().await;
    // "c" (idle) made room for "b"; now both open documents have a client and a third is
    // refused, politely.
    assert!(metric(app.addr, "tandem_pressure_evictions_total").await >= 1.0);
    let mut c = Client::from_socket(raw_connect(app.addr, "c", true).await, true);
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("memory budget"), "{reason}");
    let (status, headers, body) = http_get(app.addr, "/api/docs/c/state").await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(header(&headers, "retry-after").is_some());
    // Documents already open stay served.
    assert_eq!(http_get(app.addr, "/api/docs/a/state").await.0, 200);
    // "a" goes idle: the next open evicts it (its content saved) and goes through.
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = app.connect("c").await;
    assert_eq!(c.text(), "gamma");
    drop(b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = app.connect("a").await;
    assert_eq!(again.text(), "alpha");
}

#[tokio::test]
async fn an_update_past_the_document_size_cap_is_refused_with_4413_and_nothing_lands() {
    let app = spawn_app_with(|o| Options {
        max_doc_bytes: Some(64 << 10),
        ..o
    })
    .await;
    let mut a = app.connect("d").await;
    a.push(&"a".repeat(40 << 10)).await;
    a.wait_acked().await;
    a.push(&"b".repeat(40 << 10)).await;
    let (code, reason) = a.expect_close().await;
    assert_eq!(code, 4413, "{reason}");
    assert!(reason.contains("size limit"), "{reason}");
    let b = app.connect("d").await;
    assert_eq!(
        b.text(),
        "a".repeat(40 << 10),
        "nothing of the refused update"
    );
}

#[tokio::test]
async fn an_update_above_the_message_cap_saves_in_acked_pieces() {
    let app = spawn_app_with(|o| Options {
        max_message_bytes: Some(64 << 10),
        ..o
    })
    .await;
    let mut a = app.connect("big").await;
    a.push("start ").await;
    a.wait_acked().await;
    let mut b = app.connect("big").await;
    let text = "p".repeat(200 << 10);
    let update = a.edit(&text);
    a.send_in_pieces(Message::Update(update.clone()), 60 << 10)
        .await;
    a.wait_acked().await;
    // Four pieces, four acks: the first three at the revision before, the last at the new one.
    assert_eq!(a.acks, vec![1, 1, 1, 1, 2], "{:?}", a.acks);
    let whole = format!("start {text}");
    b.wait_text(|t| t == whole).await;
    a.push(" typed after").await;
    a.wait_acked().await;
    drop((a, b));
    let c = app.connect("big").await;
    assert_eq!(
        c.text(),
        format!("{whole} typed after"),
        "as the log has it"
    );
    // The same update in one frame is refused, as ever.
    let mut d = app.connect("big").await;
    d.send_update(update).await;
    assert_eq!(d.expect_close().await.0, 1009);
}

#[tokio::test]
async fn pieces_are_held_within_each_documents_reassembly_budget() {
    let app = spawn_app_with(|o| Options {
        max_message_bytes: Some(64 << 10),
        max_reassembly_bytes: Some(300 << 10),
        ..o
    })
    .await;
    // Larger than the whole budget: refused for good, nothing applied.
    let mut a = app.connect("held").await;
    let huge = a.edit(&"h".repeat(400 << 10));
    a.send_in_pieces(Message::Update(huge), 60 << 10).await;
    let (code, reason) = a.expect_close().await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("takes at once"), "{reason}");
    // Two at once do not fit: the second is asked to come back (1013) while the first, half
    // received, keeps its place and completes.
    let mut first = app.connect("held").await;
    let mut second = app.connect("held").await;
    let one = first.edit(&"1".repeat(200 << 10));
    let two = second.edit(&"2".repeat(200 << 10));
    let whole = Message::Update(one).encode();
    let (head, tail) = whole.split_at(100 << 10);
    let part = |bytes: &[u8]| {
        Message::Ext(Ext::Part {
            total: whole.len() as u64,
            bytes: bytes.to_vec(),
        })
    };
    first.sent_updates += 1;
    first.send(part(&head[..50 << 10])).await;
    first.sent_updates += 1;
    first.send(part(&head[50 << 10..])).await;
    first.drain_for(Duration::from_millis(200)).await;
    assert_eq!(
        first.acks.len(),
        2,
        "the pieces so far are acked while held"
    );
    second
        .send_in_pieces(Message::Update(two.clone()), 60 << 10)
        .await;
    let (code, reason) = second.expect_close().await;
    assert_eq!(code, 1013, "{reason}");
    for piece in tail.chunks(60 << 10) {
        first.sent_updates += 1;
        first.send(part(piece)).await;
    }
    first.wait_acked().await;
    // Once the first is whole, the budget is free again: a reconnect sends the second.
    let mut again = app.connect("held").await;
    again.send_in_pieces(Message::Update(two), 60 << 10).await;
    again.wait_acked().await;
    let check = app.connect("held").await;
    let t = check.text();
    assert_eq!(
        t.len(),
        400 << 10,
        "both edits, and nothing of the refused one"
    );
    assert!(!t.contains('h'));
    assert!(metric(app.addr, "tandem_pieces_refused_total").await >= 1.0);
}

#[tokio::test]
async fn storage_gauges_count_the_log_and_the_snapshots() {
    let app = spawn_app_with(|o| Options {
        snapshot_every: Some(2),
        ..o
    })
    .await;
    let mut a = app.connect("g").await;
    for i in 0..4 {
        a.push(&format!("w{i} ")).await;
        a.wait_acked().await;
    }
    drop(a);
    // Measured at start and once a minute: a restart on the same data measures at once.
    let dir = app.stop().await;
    let app = spawn_app_in(dir, |o| o).await;
    let mut rows = 0.0;
    for _ in 0..50 {
        rows = metric(app.addr, "tandem_log_rows").await;
        if rows > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rows >= 4.0, "log rows {rows}");
    assert!(metric(app.addr, "tandem_log_bytes").await > 0.0);
    assert!(metric(app.addr, "tandem_snapshot_rows").await >= 1.0);
    assert!(metric(app.addr, "tandem_snapshot_bytes").await > 0.0);
}

/// A soak with eight times more documents than the cap, each written and left: the node never
/// holds more than the cap (plus the ones on their way out), and every document keeps its words.
#[tokio::test]
async fn more_documents_than_the_budget_come_and_go_and_keep_their_words() {
    const CAP: usize = 5;
    let app = spawn_app_with(|o| Options {
        max_open_docs: Some(CAP),
        ..o
    })
    .await;
    let mut most = 0;
    for i in 0..(8 * CAP) {
        let mut c = app.connect(&format!("soak-{i}")).await;
        c.push(&format!("words of {i}")).await;
        c.wait_acked().await;
        most = most.max(app.rooms.open_count());
        drop(c);
        // The leave reaches the actor before the next open looks for idle documents.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Evicted documents leave once their last snapshot is written: at most one in flight here.
    assert!(most <= CAP + 1, "{most} documents open at once");
    for i in (0..(8 * CAP)).step_by(7) {
        let c = app.connect(&format!("soak-{i}")).await;
        assert_eq!(c.text(), format!("words of {i}"));
        drop(c);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
