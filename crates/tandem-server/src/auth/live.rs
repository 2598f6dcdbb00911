//! Open WebSockets by user, session and document, so a change of access reaches them at once:
//! revoking a share, revoking a link, disabling an account, logging out or deleting a document
//! closes the affected sockets (4403 / 4401) or turns them read-only, without waiting for the
//! client's next message or its token's expiry.
//!
//! Each connection registers here after it is authorized and is removed when its guard drops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tandem_core::session::{CloseReason, Outbox, Right};

#[derive(Clone)]
pub struct LiveConn {
    pub user_id: i64,
    /// The login session whose token last authorized this socket: the one it connected with,
    /// replaced when the client sends a token of another session in band. Logging that session
    /// out closes the socket.
    pub session_id: Arc<Mutex<String>>,
    pub doc: String,
    /// Shared with the connection's `Session`: lowered when the user's role drops.
    pub right: Right,
    pub outbox: Outbox,
}

impl LiveConn {
    pub fn close(&self, reason: CloseReason) {
        self.outbox.reject(reason);
    }
    pub fn in_sessions(&self, sessions: &[String]) -> bool {
        let id = self.session_id.lock().unwrap_or_else(|p| p.into_inner());
        sessions.contains(&id)
    }
}

#[derive(Clone, Default)]
pub struct LiveConns {
    /// Held only to insert, remove or copy out matches; never across an await.
    inner: Arc<Mutex<HashMap<u64, LiveConn>>>,
}

/// Removes its connection from the registry when dropped.
pub struct LiveGuard {
    conns: LiveConns,
    id: u64,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.conns.lock().remove(&self.id);
    }
}

impl LiveConns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, LiveConn>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, id: u64, conn: LiveConn) -> LiveGuard {
        self.lock().insert(id, conn);
        LiveGuard {
            conns: self.clone(),
            id,
        }
    }

    /// Copies of the connections matching `pred`.
    pub fn matching(&self, pred: impl Fn(&LiveConn) -> bool) -> Vec<LiveConn> {
        self.lock().values().filter(|c| pred(c)).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
