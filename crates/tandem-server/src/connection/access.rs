//! Who is at the other end of a socket, and until when: the token (query string or the
//! `tandem.v1` auth message), a fresh one sent in band, and the deadlines they set.

use std::time::Duration;

use super::socket::{WsError, WsMessage};
use futures_util::StreamExt;
use tandem_core::protocol::{Ext, Message};
use tandem_core::session::{close, CloseReason, Right};

use super::AUTH_TIMEOUT;
use crate::auth::{AuthFailure, Principal};
use crate::startup::AppState;

/// Who is connecting: the token from the query string (stock clients), or from the first frame,
/// which for a `tandem.v1` client must be its auth message.
pub(super) async fn authenticate<S>(
    stream: &mut S,
    tandem: bool,
    query_token: Option<String>,
    state: &AppState,
) -> Result<Principal, CloseReason>
where
    S: futures_util::Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let auth = &state.auth;
    if !auth.enabled() {
        return auth
            .authenticate(None)
            .await
            .map_err(|_| CloseReason::new(close::INTERNAL, "authentication unavailable"));
    }
    let token = match query_token {
        Some(t) => t,
        None if tandem => first_frame_token(stream).await?,
        None => {
            return Err(CloseReason::new(
                close::UNAUTHORIZED,
                "authentication required: pass ?token=ACCESS_TOKEN",
            ))
        }
    };
    auth.authenticate(Some(&token)).await.map_err(|f| match f {
        AuthFailure::Store(_) => {
            CloseReason::new(close::RESTARTING, "storage unavailable: reconnect")
        }
        _ => CloseReason::new(
            close::UNAUTHORIZED,
            "access token missing, invalid or expired: refresh it and reconnect",
        ),
    })
}

async fn first_frame_token<S>(stream: &mut S) -> Result<String, CloseReason>
where
    S: futures_util::Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let first = tokio::time::timeout(AUTH_TIMEOUT, async {
        loop {
            match stream.next().await {
                Some(Ok(WsMessage::Binary(b))) => return Some(b),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await;
    match first {
        Ok(Some(b)) => match Message::decode(&b) {
            Ok(Message::Ext(Ext::Auth { token })) => Ok(token),
            _ => Err(CloseReason::new(
                close::UNAUTHORIZED,
                "authentication required: send the tandem.v1 auth message first",
            )),
        },
        Ok(None) => Err(CloseReason::new(1000, "closed before authenticating")),
        Err(_) => Err(CloseReason::new(
            close::UNAUTHORIZED,
            "authentication timed out",
        )),
    }
}

/// A fresh token sent in band: it must be valid and for the same user. The role is read again,
/// so a refresh also picks up a change of access (an expired share link, a new grant).
pub(super) async fn reauthorize(
    state: &AppState,
    token: &str,
    user_id: i64,
    doc: &str,
    right: &Right,
) -> Result<(u64, Option<String>), CloseReason> {
    let auth = &state.auth;
    if !auth.enabled() {
        return Ok((u64::MAX, None));
    }
    let p = match auth.authenticate(Some(token)).await {
        Ok(p) if p.user.id == user_id => p,
        Ok(_) => {
            return Err(CloseReason::new(
                close::FORBIDDEN,
                "a token for another account was sent on this connection",
            ))
        }
        Err(_) => {
            return Err(CloseReason::new(
                close::UNAUTHORIZED,
                "access token invalid or expired: refresh it and reconnect",
            ))
        }
    };
    match auth.role(&p, doc).await {
        Ok(Some(role)) => {
            right.set(role.can());
            Ok((p.expires_at, Some(p.session_id)))
        }
        Ok(None) => Err(CloseReason::new(
            close::FORBIDDEN,
            "your access to this document was removed",
        )),
        Err(_) => Err(CloseReason::new(
            close::RESTARTING,
            "access check failed: reconnect",
        )),
    }
}

/// The tokio instant at which a token expiring at `exp` (Unix seconds) runs out.
/// When a link-based access (Unix milliseconds) runs out; `None` is never.
pub(super) fn deadline_ms(until: Option<i64>) -> tokio::time::Instant {
    match until {
        // A millisecond past it, so the re-check finds the link expired.
        Some(ms) => {
            let left = (ms + 1)
                .saturating_sub(tandem_core::store::now_millis())
                .max(0);
            tokio::time::Instant::now() + Duration::from_millis(left as u64)
        }
        None => deadline(u64::MAX),
    }
}

pub(super) fn deadline(exp: u64) -> tokio::time::Instant {
    let left = exp.saturating_sub(crate::auth::tokens::unix_now());
    // Far enough for "never" (u64::MAX in --auth none) without overflowing Instant.
    let left = Duration::from_secs(left.min(10 * 365 * 24 * 3600));
    tokio::time::Instant::now() + left
}
