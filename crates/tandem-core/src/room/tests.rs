//! The document actor against in-memory and fault-injecting stores, with no sockets: frames are
//! read straight from each connection's outbox. Timers run under `tokio::time::pause()`.
#![allow(clippy::disallowed_methods)] // client documents in these tests are plain yrs ones

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use yrs::{GetString, Text, Transact};

use super::*;
use crate::commit::{group_commit, GroupCommitConfig};
use crate::protocol::{Ext, Message};
use crate::session::{close, CloseReason, Inbound, Outbox};
use crate::session::{outbox, OutboxLimits, OutboxReceiver};
use crate::store::OpLog;
use crate::store::{MemoryStore, UnreliableStore};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

pub(super) struct Fixture {
    pub rooms: Rooms,
    pub store: Arc<UnreliableStore<MemoryStore>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

pub(super) fn fixture(cfg: RoomConfig) -> Fixture {
    let store = Arc::new(UnreliableStore::new(MemoryStore::new()));
    let (commit, writer) = group_commit(store.clone(), GroupCommitConfig::default());
    tokio::spawn(writer);
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let rooms = Rooms::new(
        store.clone(),
        Arc::new(crate::fanout::LocalFanout),
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

pub(super) struct Conn {
    pub id: u64,
    rx: OutboxReceiver,
    pub outbox: Outbox,
    pub room: RoomHandle,
}

pub(super) async fn join(f: &Fixture, doc: &str, id: u64) -> Conn {
    join_node(&f.rooms, doc, id).await
}

impl Conn {
    pub async fn update(&self, text: &str) {
        self.update_as(self.id, text).await;
    }
    /// An update made by yrs client `client` (a fresh document each time: one update per client).
    pub async fn update_as(&self, client: u64, text: &str) {
        let doc = yrs::Doc::with_client_id(client);
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
    pub async fn next(&mut self) -> Option<Message> {
        let f = tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .ok()??;
        Some(Message::decode(&f).unwrap())
    }
    pub async fn next_matching(&mut self, pred: impl Fn(&Message) -> bool) -> Option<Message> {
        while let Some(m) = self.next().await {
            if pred(&m) {
                return Some(m);
            }
        }
        None
    }
}

/// The revision and text "t" of `doc` once its room can be (re)opened: after a failure the
/// actor is gone and the next request reloads it from the log.
pub(super) async fn reopened_text(f: &Fixture, doc: &str) -> (u64, String) {
    let st = loop {
        match f.rooms.state(doc).await {
            Ok(st) => break st,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let d = yrs::Doc::new();
    d.transact_mut()
        .apply_update(yrs::Update::decode_v1(&st.update).unwrap())
        .unwrap();
    let text = d.get_or_insert_text("t").get_string(&d.transact());
    (st.revision, text)
}

pub(super) fn is_ack(m: &Message) -> bool {
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
async fn the_durable_hook_hears_each_revision_once_it_is_durable() {
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = heard.clone();
    let hook = DurableHook(Arc::new(move |doc: &str, rev| {
        h.lock().unwrap().push((doc.to_owned(), rev))
    }));
    let f = fixture(RoomConfig {
        on_durable: Some(hook),
        ..RoomConfig::default()
    });
    let mut a = join(&f, "d", 1).await;
    let hold = f.store.hold_appends().await;
    a.update("x").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(heard.lock().unwrap().is_empty(), "not before the commit");
    drop(hold);
    a.next_matching(is_ack).await.unwrap();
    a.update_as(7, "y").await;
    a.next_matching(is_ack).await.unwrap();
    assert_eq!(
        *heard.lock().unwrap(),
        [("d".to_owned(), 1), ("d".to_owned(), 2)]
    );
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
    let (revision, text) = reopened_text(&f, "d").await;
    assert_eq!(revision, 1);
    assert_eq!(text, "kept");
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
    viewer.room.send(send(state.update.to_vec())).await;
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

/// A node of a cluster: its own registry and group-commit writer over a shared store.
fn node(store: Arc<MemoryStore>, fanout: Arc<dyn crate::fanout::Fanout>) -> Rooms {
    let (commit, writer) = group_commit(store.clone(), GroupCommitConfig::default());
    tokio::spawn(writer);
    let cfg = RoomConfig {
        shared_store: true,
        ..RoomConfig::default()
    };
    Rooms::new(
        store,
        fanout,
        commit,
        cfg,
        TaskTracker::new(),
        CancellationToken::new(),
    )
}

/// A client with its own document, so its updates are a proper Yjs history.
struct Editor {
    conn: Conn,
    doc: yrs::Doc,
    acks: Vec<u64>,
}

impl Editor {
    async fn join(rooms: &Rooms, doc: &str, id: u64) -> Editor {
        let (ob, rx) = outbox(id, true, OutboxLimits::default());
        let room = rooms.join(doc, ob.clone()).await.unwrap();
        let sv = yrs::StateVector::default().encode_v1();
        room.send(RoomMsg::Inbound {
            conn: id,
            msg: Inbound::SyncStep1(sv),
        })
        .await;
        Editor {
            conn: Conn {
                id,
                rx,
                outbox: ob,
                room,
            },
            doc: yrs::Doc::with_client_id(id),
            acks: vec![],
        }
    }
    async fn type_text(&mut self, s: &str) {
        let t = self.doc.get_or_insert_text("t");
        let u = {
            let mut txn = self.doc.transact_mut();
            let len = t.len(&txn);
            t.insert(&mut txn, len, s);
            txn.encode_update_v1()
        };
        self.conn
            .room
            .send(RoomMsg::Inbound {
                conn: self.conn.id,
                msg: Inbound::Update(Bytes::from(u)),
            })
            .await;
    }
    /// Reads frames until `n` acks arrived, applying forwarded updates.
    async fn until_acks(&mut self, n: usize) {
        while self.acks.len() < n {
            match self
                .conn
                .next()
                .await
                .expect("frames stopped before all acks")
            {
                Message::Ext(Ext::Ack { revision }) => self.acks.push(revision),
                Message::Update(u) | Message::SyncStep2(u) => self.apply(&u),
                _ => {}
            }
        }
    }
    /// Reads frames (up to 5 s virtual) until the text has `len` characters.
    async fn until_len(&mut self, len: u32) {
        while self.text().chars().count() < len as usize {
            match self
                .conn
                .next()
                .await
                .expect("frames stopped before convergence")
            {
                Message::Update(u) | Message::SyncStep2(u) => self.apply(&u),
                Message::Ext(Ext::Ack { revision }) => self.acks.push(revision),
                _ => {}
            }
        }
    }
    fn apply(&self, u: &[u8]) {
        self.doc
            .transact_mut()
            .apply_update(yrs::Update::decode_v1(u).unwrap())
            .unwrap();
    }
    fn text(&self) -> String {
        let t = self.doc.get_or_insert_text("t");
        t.get_string(&self.doc.transact())
    }
}

async fn two_nodes_converge(
    fanout_a: Arc<dyn crate::fanout::Fanout>,
    fanout_b: Arc<dyn crate::fanout::Fanout>,
) {
    let store = Arc::new(MemoryStore::new());
    let a = node(store.clone(), fanout_a);
    let b = node(store.clone(), fanout_b);
    let mut ea = Editor::join(&a, "d", 1).await;
    let mut eb = Editor::join(&b, "d", 2).await;
    for i in 0..40 {
        ea.type_text(&format!("a{i:02} ")).await;
        eb.type_text(&format!("b{i:02} ")).await;
    }
    ea.until_acks(40).await;
    eb.until_acks(40).await;
    // Revisions are gap-free and unique in the log, and every ack names a revision in it.
    let log = store.updates_since("d", 0).await.unwrap();
    let revs: Vec<u64> = log.iter().map(|r| r.0).collect();
    assert_eq!(revs, (1..=revs.len() as u64).collect::<Vec<_>>());
    for ack in ea.acks.iter().chain(&eb.acks) {
        assert!(*ack >= 1 && *ack <= revs.len() as u64);
    }
    assert!(
        ea.acks.windows(2).all(|w| w[0] <= w[1]),
        "acks in order: {:?}",
        ea.acks
    );
    // The log replays to every update from both nodes.
    let replay = yrs::Doc::new();
    for (_, u) in &log {
        replay
            .transact_mut()
            .apply_update(yrs::Update::decode_v1(u).unwrap())
            .unwrap();
    }
    let text = replay
        .get_or_insert_text("t")
        .get_string(&replay.transact());
    assert_eq!(text.len(), 80 * 4);
    for i in 0..40 {
        assert!(text.contains(&format!("a{i:02} ")) && text.contains(&format!("b{i:02} ")));
    }
    // Late joiners on either node see exactly the log.
    let mut la = Editor::join(&a, "d", 3).await;
    let mut lb = Editor::join(&b, "d", 4).await;
    la.until_len(320).await;
    lb.until_len(320).await;
    assert_eq!(la.text(), text);
    assert_eq!(lb.text(), text);
}

#[tokio::test(start_paused = true)]
async fn two_nodes_on_one_store_with_fanout_never_fork_and_converge() {
    let fanout = crate::fanout::MemoryFanout::default();
    two_nodes_converge(Arc::new(fanout.clone()), Arc::new(fanout)).await;
}

#[tokio::test(start_paused = true)]
async fn two_nodes_without_fanout_catch_up_from_the_store_on_conflict() {
    two_nodes_converge(
        Arc::new(crate::fanout::LocalFanout),
        Arc::new(crate::fanout::LocalFanout),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_live_client_on_another_node_receives_remote_revisions() {
    let store = Arc::new(MemoryStore::new());
    let fanout = crate::fanout::MemoryFanout::default();
    let a = node(store.clone(), Arc::new(fanout.clone()));
    let b = node(store.clone(), Arc::new(fanout.clone()));
    let mut ea = Editor::join(&a, "d", 1).await;
    let mut eb = Editor::join(&b, "d", 2).await;
    ea.type_text("hello").await;
    ea.until_acks(1).await;
    eb.until_len(5).await;
    assert_eq!(eb.text(), "hello");
    // A lost message (nothing published) is recovered on the next one, via the store.
    let lonely = node(store.clone(), Arc::new(crate::fanout::LocalFanout));
    let mut el = Editor::join(&lonely, "d", 5).await;
    el.until_len(5).await;
    el.type_text(" world").await;
    el.until_acks(1).await;
    ea.type_text("!").await;
    ea.until_acks(2).await;
    eb.until_len(12).await;
    assert_eq!(eb.text().len(), 12);
    // A resync (broker reconnect) also catches up.
    el.type_text("?").await;
    el.until_acks(2).await;
    fanout.resync_all();
    eb.until_len(13).await;
}

/// A document deleted behind the actor's back (through another node): the next append finds it
/// missing. Every client is closed with 4403, nothing more is acked, and the append does not
/// bring the document back. One commit mode at a time.
async fn deleted_behind_the_actor(shared_store: bool) {
    use crate::store::Catalogue;
    let f = fixture(RoomConfig {
        create_on_open: false,
        shared_store,
        ..RoomConfig::default()
    });
    f.store.inner().create_doc("gone", "").await.unwrap();
    let mut a = join(&f, "gone", 1).await;
    let b = join(&f, "gone", 2).await;
    a.update("kept").await;
    assert!(a.next_matching(is_ack).await.is_some());
    assert!(f.store.inner().delete_doc("gone").await.unwrap());
    a.update_as(11, "late").await;
    let m = a
        .next_matching(|m| is_ack(m) || matches!(m, Message::Ext(Ext::Error { .. })))
        .await;
    assert!(
        matches!(&m, Some(Message::Ext(Ext::Error { code: 4403, message })) if message == "document deleted"),
        "{m:?}"
    );
    for c in [&a, &b] {
        assert_eq!(c.outbox.closer.reason().unwrap().code, close::FORBIDDEN);
    }
    assert!(f.store.inner().doc_info("gone").await.unwrap().is_none());
    assert!(f
        .store
        .inner()
        .load("gone")
        .await
        .unwrap()
        .updates
        .is_empty());
    while f.rooms.is_open("gone") {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_append_to_a_deleted_document_closes_its_clients_and_creates_nothing() {
    deleted_behind_the_actor(false).await;
}

#[tokio::test(start_paused = true)]
async fn in_cluster_mode_an_append_to_a_deleted_document_closes_its_clients() {
    deleted_behind_the_actor(true).await;
}

/// Cluster mode: an append refused as a conflict while the log has nothing after the actor's
/// revision (the document was deleted and created again under it) would be retried at the same
/// revision for ever. The actor gives up instead: clients are closed 1011 to resync against a
/// fresh load, and the stall is counted.
#[tokio::test(start_paused = true)]
async fn a_conflict_with_nothing_new_in_the_log_stops_instead_of_looping() {
    use crate::store::Catalogue;
    let f = fixture(RoomConfig {
        create_on_open: false,
        shared_store: true,
        ..RoomConfig::default()
    });
    f.store.inner().create_doc("d", "").await.unwrap();
    let mut a = join(&f, "d", 1).await;
    for (client, t) in [(11, "one"), (12, "two")] {
        a.update_as(client, t).await;
        assert!(
            matches!(a.next_matching(is_ack).await, Some(Message::Ext(Ext::Ack { revision })) if revision == client - 10)
        );
    }
    f.store.inner().delete_doc("d").await.unwrap();
    f.store.inner().create_doc("d", "").await.unwrap(); // head 0 under an actor at 2
    let calls = f.store.append_calls();
    a.update_as(13, "three").await;
    let err = a
        .next_matching(|m| matches!(m, Message::Ext(Ext::Error { .. })))
        .await;
    assert!(
        matches!(err, Some(Message::Ext(Ext::Error { code: 1011, .. }))),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        f.store.append_calls(),
        calls + 1,
        "one attempt, no retry loop"
    );
}

/// A `tandem.v1` connection `id` joined to `doc` on `rooms` (one node).
/// [`join`] as a signed-in account (`Outbox::author`).
pub(super) async fn join_as(f: &Fixture, doc: &str, id: u64, author: &str) -> Conn {
    let (mut ob, rx) = outbox(id, true, OutboxLimits::default());
    ob.author = Some(author.into());
    let room = f.rooms.join(doc, ob.clone()).await.unwrap();
    Conn {
        id,
        rx,
        outbox: ob,
        room,
    }
}

pub(super) async fn join_node(rooms: &Rooms, doc: &str, id: u64) -> Conn {
    let (ob, rx) = outbox(id, true, OutboxLimits::default());
    let room = rooms.join(doc, ob.clone()).await.unwrap();
    Conn {
        id,
        rx,
        outbox: ob,
        room,
    }
}

/// The entries of the next awareness message `c` receives that is not only about `c`'s own
/// client (`c.id * 100`: the server echoes a client's presence to it, as y-websocket does).
async fn next_presence(c: &mut Conn) -> Vec<crate::protocol::AwarenessEntry> {
    let own = c.id * 100;
    loop {
        match c
            .next_matching(|m| matches!(m, Message::Awareness(_)))
            .await
        {
            Some(Message::Awareness(body)) => {
                let entries = crate::protocol::decode_awareness(&body).unwrap();
                if entries.iter().any(|e| e.client_id != own) {
                    return entries;
                }
            }
            other => panic!("no presence: {other:?}"),
        }
    }
}

/// Presence crosses nodes: a node that opens the document later asks for what the others hold,
/// a change on one node reaches the other's clients, a client leaving is removed everywhere, and
/// entries of a node that goes silent (killed) expire on the others.
#[tokio::test(start_paused = true)]
async fn presence_crosses_nodes_and_a_silent_nodes_entries_expire() {
    use crate::protocol::AwarenessEntry;
    let store = Arc::new(MemoryStore::new());
    let fanout = crate::fanout::MemoryFanout::default();
    let a = node(store.clone(), Arc::new(fanout.clone()));
    let b = node(store.clone(), Arc::new(fanout.clone()));
    let entry = |id, clock, state: &str| AwarenessEntry {
        client_id: id,
        clock,
        state: state.into(),
    };
    let say = |c: &Conn, e: AwarenessEntry| {
        let msg = Inbound::Awareness { entries: vec![e] };
        let (room, conn) = (c.room.clone(), c.id);
        async move { room.send(RoomMsg::Inbound { conn, msg }).await }
    };
    let mut ada = join_node(&a, "p", 1).await;
    say(&ada, entry(100, 1, "{\"name\":\"Ada\"}")).await;
    let echo = ada.next_matching(|m| matches!(m, Message::Awareness(_)));
    assert!(echo.await.is_some());
    // Node B opens the document afterwards: its joiner learns of Ada through B's query.
    let mut bob = join_node(&b, "p", 2).await;
    let got = next_presence(&mut bob).await;
    assert_eq!(got, vec![entry(100, 1, "{\"name\":\"Ada\"}")]);
    // A change on B reaches A; a change on A reaches B.
    say(&bob, entry(200, 1, "{\"name\":\"Bob\"}")).await;
    assert_eq!(
        next_presence(&mut ada).await,
        vec![entry(200, 1, "{\"name\":\"Bob\"}")]
    );
    say(&ada, entry(100, 2, "{\"cursor\":3}")).await;
    assert_eq!(
        next_presence(&mut bob).await,
        vec![entry(100, 2, "{\"cursor\":3}")]
    );
    // Bob leaves B: A's clients see him removed (a null state with a newer clock).
    bob.room.send(RoomMsg::Leave { conn: bob.id }).await;
    assert_eq!(next_presence(&mut ada).await, vec![entry(200, 2, "null")]);
    // A third node hears Ada, then A goes silent: her entry expires there within 25 s (5/6 of
    // the TTL), before A's own 30 s.
    let c = node(store.clone(), Arc::new(fanout.clone()));
    let mut cy = join_node(&c, "p", 3).await;
    assert_eq!(next_presence(&mut cy).await[0].client_id, 100);
    let start = tokio::time::Instant::now();
    let gone = next_presence_within(&mut cy, Duration::from_secs(40)).await;
    assert_eq!(gone, vec![entry(100, 3, "null")]);
    let waited = start.elapsed();
    assert!(
        waited <= Duration::from_secs(27),
        "the silent node's entry expired after {waited:?}"
    );
}

async fn next_presence_within(c: &mut Conn, d: Duration) -> Vec<crate::protocol::AwarenessEntry> {
    tokio::time::timeout(d, async {
        loop {
            let f = c.rx.recv().await.expect("open");
            if let Message::Awareness(body) = Message::decode(&f).unwrap() {
                return crate::protocol::decode_awareness(&body).unwrap();
            }
        }
    })
    .await
    .expect("no presence in time")
}
