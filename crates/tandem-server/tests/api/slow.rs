//! A client that never reads is closed (1013) once its bounded send queue overflows; nobody
//! else is affected and the server does not buffer for it without limit.

use tandem_core::session::close;
use tandem_server::config::Options;

use crate::helpers::*;

#[tokio::test]
async fn slow_consumer_is_closed_and_others_carry_on() {
    let app = spawn_app_with(|o| Options {
        send_queue_messages: Some(32),
        send_queue_bytes: Some(256 * 1024),
        ..o
    })
    .await;
    let before = metric(app.addr, "tandem_send_queue_overflows_total").await;
    let mut slow = app.connect("slow").await; // synced, then never reads again
    let mut writer = app.connect("slow").await;
    let chunk = "x".repeat(8 * 1024);
    // 12 MB of broadcasts: beyond loopback socket buffers plus a 256 KiB queue.
    for _ in 0..1500 {
        writer.push(&chunk).await;
        if writer.sent_updates % 16 == 0 {
            writer.wait_acked().await;
        }
    }
    writer.wait_acked().await;
    let after = metric(app.addr, "tandem_send_queue_overflows_total").await;
    assert!(
        after > before,
        "the slow client's queue should have overflowed"
    );
    // The slow client, reading at last, finds its connection ended rather than 32 MB queued.
    let (code, _) = slow.expect_close().await;
    assert!(
        code == close::TOO_SLOW || code == 1006,
        "unexpected close {code}"
    );
    assert!(
        slow.forwarded < 1500,
        "the server must not have buffered everything: {}",
        slow.forwarded
    );
    // The writer is unaffected and a fresh client syncs everything.
    let fresh = app.connect("slow").await;
    assert_eq!(fresh.text().len(), 1500 * chunk.len());
}
