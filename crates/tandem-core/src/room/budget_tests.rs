//! The memory budget: documents evicted least recently active first when the open ones are at
//! `max_open_docs` or past `memory_budget`, opens refused when none is idle, and updates that
//! would grow a document past `max_doc_bytes` refused with nothing applied; snapshots by size and
//! by time.
#![allow(clippy::disallowed_methods)] // client documents in these tests are plain yrs ones

use std::time::Duration;

use super::tests::{fixture, is_ack, join, reopened_text, Fixture};
use super::*;
use crate::protocol::{Ext, Message};
use crate::session::{close, outbox, OutboxLimits};
use crate::store::OpLog;

/// Opens `doc`, writes `text`, and leaves: an idle document with content.
async fn visit(f: &Fixture, doc: &str, id: u64, text: &str) {
    let mut c = join(f, doc, id).await;
    c.update(text).await;
    assert!(c.next_matching(is_ack).await.is_some());
    c.room.leave(id).await;
    // Distinct activity times, and the leave handled.
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Waits (in real time: the evicted actor's last snapshot runs on a blocking thread, which
/// paused virtual time does not wait for) until `doc` has left memory; false after 5 s.
async fn left_memory(f: &Fixture, doc: &str) -> bool {
    for _ in 0..5000 {
        if !f.rooms.is_open(doc) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}

/// The text "t" of `doc` as the store has it (without opening it).
async fn stored_text(f: &Fixture, doc: &str) -> String {
    use yrs::{GetString, Transact};
    let loaded = f.store.load(doc).await.unwrap();
    let (d, _) = crate::doc::ServerDoc::load(&loaded).unwrap();
    let text = d.doc().get_or_insert_text("t");
    let s = text.get_string(&d.doc().transact());
    s
}

async fn open(f: &Fixture, doc: &str, id: u64) -> Result<RoomHandle, RoomError> {
    let (ob, _rx) = outbox(id, true, OutboxLimits::default());
    f.rooms.join(doc, ob).await
}

#[tokio::test(start_paused = true)]
async fn at_max_open_docs_the_least_recently_active_idle_document_goes_first() {
    let f = fixture(RoomConfig {
        max_open_docs: Some(3),
        ..RoomConfig::default()
    });
    for (i, doc) in ["a", "b", "c"].into_iter().enumerate() {
        visit(&f, doc, i as u64 + 1, doc).await;
    }
    // "a" is the least recently active: it makes room for "d", with its content saved.
    let mut d = join(&f, "d", 4).await;
    assert!(left_memory(&f, "a").await);
    assert!(f.rooms.is_open("b") && f.rooms.is_open("c") && f.rooms.is_open("d"));
    assert_eq!(
        f.store.load("a").await.unwrap().snapshot.map(|s| s.0),
        Some(1)
    );
    // "b" becomes active again (a client stays): "c" goes next.
    let _b = join(&f, "b", 5).await;
    let _e = join(&f, "e", 6).await;
    assert!(left_memory(&f, "c").await);
    assert!(f.rooms.is_open("b"));
    // Every open document has a client: the next open is refused, and nothing was lost.
    assert!(matches!(open(&f, "f", 7).await, Err(RoomError::Overloaded)));
    assert_eq!(f.rooms.open_count(), 3);
    d.update("still here").await;
    assert!(d.next_matching(is_ack).await.is_some());
    d.room.leave(4).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Once one is idle again, the open goes through; evicted documents are whole in the store.
    assert!(open(&f, "f", 7).await.is_ok());
    assert!(left_memory(&f, "d").await);
    assert_eq!(stored_text(&f, "a").await, "a");
    assert_eq!(stored_text(&f, "d").await, "still here");
}

#[tokio::test(start_paused = true)]
async fn past_the_memory_budget_large_idle_documents_are_evicted() {
    // Room for two documents' fixed cost and 9 kB of content: "big" alone fits, "big" and
    // "small" together do not.
    let budget =
        2 * crate::registry::MEMORY_PER_DOCUMENT + 9_000 * crate::registry::MEMORY_PER_ENCODED_BYTE;
    let f = fixture(RoomConfig {
        memory_budget: Some(budget),
        ..RoomConfig::default()
    });
    visit(&f, "big", 1, &"x".repeat(10_000)).await;
    visit(&f, "small", 2, "y").await;
    // "big" and "small" together are past the budget: opening "new" evicts "big" (the least
    // recently active) and "small" stays.
    let _n = join(&f, "new", 3).await;
    assert!(left_memory(&f, "big").await);
    assert!(f.rooms.is_open("small") && f.rooms.is_open("new"));
    assert_eq!(stored_text(&f, "big").await.len(), 10_000);
}

#[tokio::test(start_paused = true)]
async fn an_update_past_max_doc_bytes_is_refused_and_nothing_is_applied() {
    let f = fixture(RoomConfig {
        max_doc_bytes: Some(4_000),
        ..RoomConfig::default()
    });
    let mut a = join(&f, "d", 1).await;
    a.update(&"a".repeat(2_000)).await;
    assert!(matches!(
        a.next_matching(is_ack).await,
        Some(Message::Ext(Ext::Ack { revision: 1 }))
    ));
    a.update_as(2, &"b".repeat(3_000)).await;
    let err = a
        .next_matching(|m| matches!(m, Message::Ext(Ext::Error { .. })))
        .await;
    match err {
        Some(Message::Ext(Ext::Error { code, message })) => {
            assert_eq!(code, close::DOC_TOO_LARGE as u32);
            assert!(message.contains("size limit"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(a.outbox.closer.reason().unwrap().code, close::DOC_TOO_LARGE);
    let (revision, text) = reopened_text(&f, "d").await;
    assert_eq!(
        (revision, text.len()),
        (1, 2_000),
        "nothing of the refused update"
    );
    // A smaller one still fits.
    let mut b = join(&f, "d", 3).await;
    b.update_as(4, "small").await;
    assert!(b.next_matching(is_ack).await.is_some());
}

/// The revision of `doc`'s newest snapshot once one is stored (written on a blocking thread, so
/// waited for in real time), or `None` after 5 s.
async fn snapshot_within(f: &Fixture, doc: &str) -> Option<u64> {
    for _ in 0..5000 {
        if let Some(s) = f.store.load(doc).await.unwrap().snapshot {
            return Some(s.0);
        }
        std::thread::sleep(Duration::from_millis(1));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

#[tokio::test(start_paused = true)]
async fn snapshots_come_by_size_and_by_time_not_only_by_count() {
    let f = fixture(RoomConfig {
        snapshot_every: 1000,
        snapshot_idle: Duration::from_secs(3600),
        snapshot_interval: Duration::from_secs(600),
        ..RoomConfig::default()
    });
    // One paste past SNAPSHOT_MIN_LOG_BYTES (and half the state): a snapshot at once.
    let mut a = join(&f, "big-paste", 1).await;
    a.update(&"p".repeat((super::SNAPSHOT_MIN_LOG_BYTES + 1000) as usize))
        .await;
    assert!(a.next_matching(is_ack).await.is_some());
    assert_eq!(
        snapshot_within(&f, "big-paste").await,
        Some(1),
        "the size trigger"
    );
    // A few small edits: no trigger until the interval has passed while it keeps changing.
    let mut b = join(&f, "slow", 2).await;
    b.update("x").await;
    assert!(b.next_matching(is_ack).await.is_some());
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(f.store.load("slow").await.unwrap().snapshot, None);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        snapshot_within(&f, "slow").await,
        Some(1),
        "the time trigger"
    );
}
