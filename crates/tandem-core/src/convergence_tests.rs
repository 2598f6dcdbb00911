//! Property tests: random schedules of three clients editing one document through the real
//! actor and group commit (over `MemoryStore`), with random disconnects and reconnects, updates
//! delivered late, duplicated and reordered in both directions, and server restarts. Properties:
//! after every restart the server holds every update it acked; at the end, once everyone has
//! reconnected, all clients and the server have the same document, holding every token anyone
//! inserted and not deleted. Virtual time; `make proptest` explores new schedules (see [`crate::proptest_config`]).
#![allow(clippy::disallowed_methods)] // these documents are clients', plain yrs ones

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use yrs::updates::encoder::Encode;
use yrs::{Array, ArrayRef, ReadTxn, StateVector, Transact};

use crate::commit::{group_commit, GroupCommitConfig};
use crate::protocol::{Ext, Message};
use crate::registry::Rooms;
use crate::room::{RoomConfig, RoomHandle, RoomMsg};
use crate::session::{outbox, Inbound, OutboxLimits, OutboxReceiver};
use crate::store::MemoryStore;

#[derive(Debug, Clone)]
enum Op {
    /// Insert a fresh token at a position (modulo length + 1), or delete one (modulo length).
    Edit {
        client: usize,
        at: usize,
        delete: bool,
    },
    /// Send the client's unsent updates, maybe each twice, maybe in reverse order.
    Deliver {
        client: usize,
        twice: bool,
        reverse: bool,
    },
    /// Apply what the server sent the client, maybe in reverse order.
    Receive {
        client: usize,
        reverse: bool,
    },
    Disconnect {
        client: usize,
    },
    Reconnect {
        client: usize,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..3usize;
    prop_oneof![
        6 => (c.clone(), any::<usize>(), prop::bool::weighted(0.25))
            .prop_map(|(client, at, delete)| Op::Edit { client, at, delete }),
        4 => (c.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(client, twice, reverse)| Op::Deliver { client, twice, reverse }),
        4 => (c.clone(), any::<bool>()).prop_map(|(client, reverse)| Op::Receive { client, reverse }),
        1 => c.clone().prop_map(|client| Op::Disconnect { client }),
        1 => c.prop_map(|client| Op::Reconnect { client }),
        1 => Just(Op::Restart),
    ]
}

struct Server {
    rooms: Rooms,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Server {
    fn start(store: Arc<MemoryStore>) -> Server {
        let (commit, writer) = group_commit(store.clone(), GroupCommitConfig::default());
        tokio::spawn(writer);
        let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
        let rooms = Rooms::new(
            store,
            Arc::new(crate::fanout::LocalFanout),
            commit,
            RoomConfig {
                snapshot_every: 5,
                ..RoomConfig::default()
            },
            tracker.clone(),
            shutdown.clone(),
        );
        Server {
            rooms,
            tracker,
            shutdown,
        }
    }
    async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
    async fn array(&self) -> Vec<String> {
        let st = self.rooms.state("p").await.unwrap();
        let doc = yrs::Doc::new();
        apply(&doc, &st.update);
        items(&doc)
    }
}

struct Link {
    id: u64,
    room: RoomHandle,
    rx: OutboxReceiver,
    /// Update messages sent on this link and not yet acked, oldest first (acks come in order).
    unacked: VecDeque<Vec<u8>>,
}

struct Client {
    doc: yrs::Doc,
    /// Local updates not yet handed to the server.
    unsent: Vec<Vec<u8>>,
    link: Option<Link>,
}

fn array(doc: &yrs::Doc) -> ArrayRef {
    doc.get_or_insert_array("a")
}

fn items(doc: &yrs::Doc) -> Vec<String> {
    let a = array(doc);
    let txn = doc.transact();
    a.iter(&txn).map(|v| v.to_string(&txn)).collect()
}

fn apply(doc: &yrs::Doc, update: &[u8]) {
    use yrs::updates::decoder::Decode;
    let u = yrs::Update::decode_v1(update).expect("the server sent a valid update");
    doc.transact_mut().apply_update(u).expect("applies");
}

/// Whether `update` is already contained in `doc`'s state (applying it changes nothing).
fn contains(state: &[u8], update: &[u8]) -> bool {
    let doc = yrs::Doc::new();
    apply(&doc, state);
    let before = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    apply(&doc, update);
    let after = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    before == after
}

struct World {
    server: Option<Server>,
    store: Arc<MemoryStore>,
    clients: Vec<Client>,
    next_conn: u64,
    inserted: BTreeSet<String>,
    deleted: BTreeSet<String>,
    acked: Vec<Vec<u8>>,
}

impl World {
    async fn send(&mut self, c: usize, update: Vec<u8>) {
        let Some(link) = self.clients[c].link.as_mut() else {
            return;
        };
        link.unacked.push_back(update.clone());
        let msg = Inbound::Update(Bytes::from(update));
        link.room
            .send(RoomMsg::Inbound { conn: link.id, msg })
            .await;
    }

    async fn connect(&mut self, c: usize) {
        if self.clients[c].link.is_some() {
            return;
        }
        self.next_conn += 1;
        let id = self.next_conn;
        let (ob, rx) = outbox(id, true, OutboxLimits::default());
        let server = self.server.as_ref().expect("running");
        let room = server.rooms.join("p", ob).await.expect("joins");
        let sv = self.clients[c].doc.transact().state_vector().encode_v1();
        room.send(RoomMsg::Inbound {
            conn: id,
            msg: Inbound::SyncStep1(sv),
        })
        .await;
        self.clients[c].link = Some(Link {
            id,
            room,
            rx,
            unacked: VecDeque::new(),
        });
        // Everything not yet sent goes with the sync step 2 that answers the server's step 1.
        self.clients[c].unsent.clear();
    }

    async fn disconnect(&mut self, c: usize) {
        if let Some(link) = self.clients[c].link.take() {
            link.room.send(RoomMsg::Leave { conn: link.id }).await;
        }
    }

    /// Reads what the server sent `c` within a moment of virtual time (commits land meanwhile).
    async fn receive(&mut self, c: usize, reverse: bool) {
        let Some(link) = self.clients[c].link.as_mut() else {
            return;
        };
        let mut frames = Vec::new();
        while let Ok(Some(f)) =
            tokio::time::timeout(Duration::from_millis(50), link.rx.recv()).await
        {
            frames.push(Message::decode(&f).expect("the server speaks the protocol"));
        }
        let mut updates = Vec::new();
        let mut steps = Vec::new();
        let mut refused = false;
        for m in frames {
            match m {
                // The server refused an update and closed this link (an update that arrived
                // before what it depends on can be refused: see `apply_checked`). Nothing later
                // on it counts: the refused update gets no ack, so later acks would be credited
                // to the wrong updates. The client keeps its edits and resends them on reconnect.
                Message::Ext(Ext::Error { .. }) => {
                    refused = true;
                    break;
                }
                Message::Ext(Ext::Ack { .. }) => {
                    let u = link
                        .unacked
                        .pop_front()
                        .expect("an ack answers a sent update");
                    self.acked.push(u);
                }
                Message::SyncStep1(sv) => steps.push(sv),
                Message::SyncStep2(u) | Message::Update(u) => updates.push(u),
                _ => {}
            }
        }
        let replies: Vec<Vec<u8>> = steps
            .iter()
            .map(|sv| {
                use yrs::updates::decoder::Decode;
                let sv = StateVector::decode_v1(sv).expect("state vector");
                self.clients[c]
                    .doc
                    .transact()
                    .encode_state_as_update_v1(&sv)
            })
            .collect();
        if reverse {
            updates.reverse();
        }
        for u in updates {
            apply(&self.clients[c].doc, &u);
        }
        if refused {
            return self.disconnect(c).await;
        }
        for r in replies {
            self.send(c, r).await;
        }
    }

    async fn run(&mut self, op: Op) {
        match op {
            Op::Edit { client, at, delete } => {
                let doc = &self.clients[client].doc;
                let a = array(doc);
                let mut txn = doc.transact_mut();
                let len = a.len(&txn);
                if delete && len > 0 {
                    let i = at as u32 % len;
                    let gone = a.get(&txn, i).expect("in range").to_string(&txn);
                    a.remove(&mut txn, i);
                    self.deleted.insert(gone);
                } else {
                    let token = format!("{client}.{}", self.inserted.len());
                    a.insert(&mut txn, at as u32 % (len + 1), token.clone());
                    self.inserted.insert(token);
                }
                let u = txn.encode_update_v1();
                drop(txn);
                self.clients[client].unsent.push(u);
            }
            Op::Deliver {
                client,
                twice,
                reverse,
            } => {
                if self.clients[client].link.is_none() {
                    return;
                }
                let mut batch = std::mem::take(&mut self.clients[client].unsent);
                if reverse {
                    batch.reverse();
                }
                for u in batch {
                    if twice {
                        self.send(client, u.clone()).await;
                    }
                    self.send(client, u).await;
                }
            }
            Op::Receive { client, reverse } => self.receive(client, reverse).await,
            Op::Disconnect { client } => self.disconnect(client).await,
            Op::Reconnect { client } => self.connect(client).await,
            Op::Restart => {
                for c in 0..3 {
                    self.disconnect(c).await;
                }
                self.server.take().expect("running").stop().await;
                let server = Server::start(self.store.clone());
                // Everything acked before the restart is in what the server loaded.
                let state = server.rooms.state("p").await.unwrap().update;
                for u in &self.acked {
                    assert!(contains(&state, u), "an acked update was lost in a restart");
                }
                self.server = Some(server);
            }
        }
    }
}

fn check(ops: Vec<Op>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(MemoryStore::new());
        let mut w = World {
            server: Some(Server::start(store.clone())),
            store,
            clients: (1..=3)
                .map(|id| Client {
                    doc: yrs::Doc::with_client_id(id),
                    unsent: vec![],
                    link: None,
                })
                .collect(),
            next_conn: 0,
            inserted: BTreeSet::new(),
            deleted: BTreeSet::new(),
            acked: vec![],
        };
        for c in 0..3 {
            w.connect(c).await;
        }
        for op in ops {
            w.run(op).await;
        }
        // Settle: everyone reconnects (resending whatever the server lacks) and reads until quiet.
        for c in 0..3 {
            w.disconnect(c).await;
            w.connect(c).await;
        }
        for _ in 0..3 {
            for c in 0..3 {
                w.receive(c, false).await;
            }
        }
        let server = w.server.as_ref().unwrap().array().await;
        let expected: BTreeSet<String> = w.inserted.difference(&w.deleted).cloned().collect();
        assert_eq!(
            server.iter().cloned().collect::<BTreeSet<_>>(),
            expected,
            "lost or resurrected"
        );
        assert_eq!(server.len(), expected.len(), "duplicated");
        for c in &w.clients {
            assert_eq!(items(&c.doc), server, "a client diverged from the server");
        }
        w.server.take().unwrap().stop().await;
    });
}

proptest! {
    #![proptest_config(crate::proptest_config(512))]
    #[test]
    fn three_clients_converge_and_lose_nothing(ops in prop::collection::vec(op(), 1..60)) {
        check(ops);
    }
}
