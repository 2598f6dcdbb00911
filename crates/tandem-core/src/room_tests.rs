//! The document actor against in-memory and fault-injecting stores, with no sockets: frames are
//! read straight from each connection's outbox. Timers run under `tokio::time::pause()`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use yrs::{GetString, Text, Transact};

use super::*;
use crate::commit::{group_commit, GroupCommitConfig};
use crate::protocol::Message;
use crate::session::{outbox, OutboxLimits, OutboxReceiver};
use crate::store::{MemoryStore, UnreliableStore};

struct Fixture {
    rooms: Rooms,
    store: Arc<UnreliableStore<MemoryStore>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

fn fixture(cfg: RoomConfig) -> Fixture {
    let store = Arc::new(UnreliableStore::new(MemoryStore::new()));
    let (commit, writer) = group_commit(store.clone(), GroupCommitConfig::default());
    tokio::spawn(writer);
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let rooms = Rooms::new(
        store.clone(),
        commit,
        cfg,
        tracker.clone(),
        shutdown.clone(),
    );
    Fixture {
        rooms,
        store,
        tracker,
        shutdown,
    }
}

struct Conn {
    id: u64,
    rx: OutboxReceiver,
    outbox: Outbox,
    room: RoomHandle,
}

async fn join(f: &Fixture, doc: &str, id: u64) -> Conn {
    let (ob, rx) = outbox(id, true, OutboxLimits::default());
    let room = f.rooms.join(doc, ob.clone()).await.unwrap();
    Conn {
        id,
        rx,
        outbox: ob,
        room,
    }
}

impl Conn {
    async fn update(&self, text: &str) {
        let doc = yrs::Doc::with_client_id(self.id);
        let t = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        t.insert(&mut txn, 0, text);
        let u = txn.encode_update_v1();
        self.room
            .send(RoomMsg::Inbound {
                conn: self.id,
                msg: Inbound::Update(Bytes::from(u)),
            })
            .await;
    }
    /// The next message within 5 s (virtual time), or None.
    async fn next(&mut self) -> Option<Message> {
        let f = tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .ok()??;
        Some(Message::decode(&f).unwrap())
    }
    async fn next_matching(&mut self, pred: impl Fn(&Message) -> bool) -> Option<Message> {
        while let Some(m) = self.next().await {
            if pred(&m) {
                return Some(m);
            }
        }
        None
    }
}

fn is_ack(m: &Message) -> bool {
    matches!(m, Message::Ext(Ext::Ack { .. }))
}

#[tokio::test(start_paused = true)]
async fn nothing_is_broadcast_or_acked_before_it_is_durable() {
    let f = fixture(RoomConfig::default());
    let mut a = join(&f, "d", 1).await;
    let mut b = join(&f, "d", 2).await;
    let hold = f.store.hold_appends().await;
    a.update("x").await;
    // With the commit stalled, neither the ack nor the broadcast may go out.
    assert!(a.next_matching(is_ack).await.is_none());
    assert!(b
        .next_matching(|m| matches!(m, Message::Update(_)))
        .await
        .is_none());
    drop(hold);
    assert!(matches!(
        a.next_matching(is_ack).await,
        Some(Message::Ext(Ext::Ack { revision: 1 }))
    ));
    assert!(b
        .next_matching(|m| matches!(m, Message::Update(_)))
        .await
        .is_some());
}

#[tokio::test(start_paused = true)]
async fn a_joiner_during_a_commit_sees_only_durable_state() {
    let f = fixture(RoomConfig::default());
    let a = join(&f, "d", 1).await;
    let hold = f.store.hold_appends().await;
    a.update("pending").await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    // The join waits behind the barrier until the commit lands, then says revision 1.
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(hold);
    });
    let mut c = join(&f, "d", 3).await;
    release.await.unwrap();
    let hello = c.next().await.unwrap();
    assert!(
        matches!(hello, Message::Ext(Ext::Hello { revision: 1, .. })),
        "{hello:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_commit_closes_with_an_error_and_loses_nothing_acked() {
    let f = fixture(RoomConfig::default());
    let mut a = join(&f, "d", 1).await;
    a.update("kept").await;
    assert!(a.next_matching(is_ack).await.is_some());
    f.store.fail_appends(true);
    a.update("refused").await;
    let err = a
        .next_matching(|m| matches!(m, Message::Ext(Ext::Error { .. })))
        .await;
    assert!(
        matches!(err, Some(Message::Ext(Ext::Error { code: 1011, .. }))),
        "{err:?}"
    );
    assert_eq!(a.outbox.closer.reason().unwrap().code, close::INTERNAL);
    // The room is dropped and reloads from the log: acked content is there, the refused update
    // is not (its client was never told it was saved and will resend it on reconnect).
    f.store.fail_appends(false);
    let st = loop {
        match f.rooms.state("d").await {
            Ok(st) => break st,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    assert_eq!(st.revision, 1);
    let doc = yrs::Doc::new();
    doc.transact_mut()
        .apply_update(yrs::Update::decode_v1(&st.update).unwrap())
        .unwrap();
    assert_eq!(
        doc.get_or_insert_text("t").get_string(&doc.transact()),
        "kept"
    );
}

#[tokio::test(start_paused = true)]
async fn idle_documents_snapshot_and_evict() {
    let cfg = RoomConfig {
        evict_after: Duration::from_secs(60),
        ..RoomConfig::default()
    };
    let f = fixture(cfg);
    let mut a = join(&f, "d", 1).await;
    a.update("hello").await;
    assert!(a.next_matching(is_ack).await.is_some());
    a.room.send(RoomMsg::Leave { conn: 1 }).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(f.rooms.is_open("d"), "not evicted before the timeout");
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert!(!f.rooms.is_open("d"), "evicted after the timeout");
    let loaded = f.store.load("d").await.unwrap();
    assert_eq!(
        loaded.snapshot.map(|s| s.0),
        Some(1),
        "evicted documents leave an exact snapshot"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_finishes_commits_and_snapshots() {
    let f = fixture(RoomConfig::default());
    let a = join(&f, "d", 1).await;
    let hold = f.store.hold_appends().await;
    a.update("in flight").await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    f.shutdown.cancel();
    f.tracker.close();
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(hold);
    tokio::time::timeout(Duration::from_secs(5), f.tracker.wait())
        .await
        .expect("rooms finish");
    let loaded = f.store.load("d").await.unwrap();
    assert_eq!(loaded.snapshot.map(|s| s.0), Some(1));
    assert!(
        f.rooms.join("d", a.outbox.clone()).await.is_err(),
        "no new rooms while shutting down"
    );
}

#[tokio::test(start_paused = true)]
async fn close_disconnects_everyone_and_lets_go_of_the_document() {
    let f = fixture(RoomConfig::default());
    let mut a = join(&f, "d", 1).await;
    a.update("x").await;
    assert!(a.next_matching(is_ack).await.is_some());
    f.rooms
        .close("d", CloseReason::new(close::FORBIDDEN, "document deleted"))
        .await;
    assert!(
        !f.rooms.is_open("d"),
        "closed rooms leave the registry before close() returns"
    );
    assert_eq!(a.outbox.closer.reason().unwrap().code, close::FORBIDDEN);
    let err = a
        .next_matching(|m| matches!(m, Message::Ext(Ext::Error { .. })))
        .await;
    assert!(matches!(
        err,
        Some(Message::Ext(Ext::Error { code: 4403, .. }))
    ));
    assert!(
        f.store.load("d").await.unwrap().snapshot.is_none(),
        "no snapshot of a closing document"
    );
}

#[tokio::test(start_paused = true)]
async fn a_read_only_connection_is_acked_for_nothing_new_and_refused_for_edits() {
    let f = fixture(RoomConfig::default());
    let mut editor = join(&f, "d", 1).await;
    editor.update("hello").await;
    assert!(editor.next_matching(is_ack).await.is_some());
    // Build the viewer's copy from the durable state, then delete a character and insert one.
    let state = f.rooms.state("d").await.unwrap();
    let copy = yrs::Doc::with_client_id(2);
    copy.transact_mut()
        .apply_update(yrs::Update::decode_v1(&state.update).unwrap())
        .unwrap();
    let mut viewer = join(&f, "d", 2).await;
    let send = |u: Vec<u8>| RoomMsg::Inbound {
        conn: 2,
        msg: Inbound::ReadOnlyUpdate(Bytes::from(u)),
    };
    // A sync step 2 carrying only what the server has (its whole state) is a no-op: acked at 1.
    viewer.room.send(send(state.update.clone())).await;
    assert!(matches!(
        viewer.next_matching(is_ack).await,
        Some(Message::Ext(Ext::Ack { revision: 1 }))
    ));
    let t = copy.get_or_insert_text("t");
    let edit = {
        let mut txn = copy.transact_mut();
        t.remove_range(&mut txn, 0, 1);
        txn.encode_update_v1()
    };
    viewer.room.send(send(edit)).await;
    let refused = viewer
        .next_matching(|m| matches!(m, Message::Ext(Ext::Error { .. })))
        .await;
    assert!(
        matches!(refused, Some(Message::Ext(Ext::Error { code: 4403, .. }))),
        "{refused:?}"
    );
    assert_eq!(
        viewer.outbox.closer.reason().unwrap().code,
        close::FORBIDDEN
    );
    // Nothing applied, nothing logged.
    let after = f.rooms.state("d").await.unwrap();
    assert_eq!(after.revision, 1);
    let check = yrs::Doc::new();
    check
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(&after.update).unwrap())
        .unwrap();
    let text = check.get_or_insert_text("t").get_string(&check.transact());
    assert_eq!(text, "hello");
    assert_eq!(f.store.load("d").await.unwrap().head(), 1);
}
