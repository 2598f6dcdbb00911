//! `GET /ws/{doc}`: upgrades to a WebSocket and runs the connection glue. Clients that offer the
//! `tandem.v1` subprotocol get the extensions and authenticate with its auth message; stock Yjs
//! clients may pass `?token=` instead (y-websocket's `params`). The query string is never logged.
//! A browser page from another origin is refused before the upgrade.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tandem_core::protocol::SUBPROTOCOL;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::auth::limits::SocketPermit;
use crate::auth::ClientIp;
use crate::connection;
use crate::connection::socket::Upgrade;
use crate::error::AppError;
use crate::startup::AppState;

#[derive(Deserialize)]
pub struct WsQuery {
    #[serde(default)]
    token: Option<String>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Path(doc): Path<String>,
    Query(q): Query<WsQuery>,
    ip: ClientIp,
    headers: HeaderMap,
    ws: Upgrade,
) -> Response {
    let (config, permit) = match guarded(&state, &ip, &headers) {
        Ok(guarded) => guarded,
        Err(refused) => return refused.into_response(),
    };
    let tandem = ws.offers(SUBPROTOCOL);
    let tracker = state.tracker.clone();
    ws.on_upgrade(
        tandem.then_some(SUBPROTOCOL),
        config,
        &tracker,
        move |socket| {
            let peer = connection::Peer {
                doc,
                query_token: q.token,
                ip: ip.0,
                permit,
                tandem,
            };
            connection::serve(socket, peer, state)
        },
    )
}

/// `GET /hocuspocus`: Tiptap's Hocuspocus provider, its documents named inside its messages
/// (see [`connection::hocuspocus`]). The token comes in its auth message, one per document.
pub async fn hocuspocus(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ws: Upgrade,
) -> Response {
    let (config, permit) = match guarded(&state, &ip, &headers) {
        Ok(guarded) => guarded,
        Err(refused) => return refused.into_response(),
    };
    let tracker = state.tracker.clone();
    ws.on_upgrade(None, config, &tracker, move |socket| async move {
        connection::hocuspocus::serve(socket, ip.0, state).await;
        drop(permit);
    })
}

/// What every upgrade checks and sets: a browser page from another origin is refused; the socket
/// holds a place among its address's sockets until it ends (one address cannot hold every socket
/// the server has); messages are capped; buffers are small (an idle connection should cost a few
/// kB, not tungstenite's 128 KiB).
fn guarded(
    state: &AppState,
    ip: &ClientIp,
    headers: &HeaderMap,
) -> Result<(WebSocketConfig, Option<SocketPermit>), AppError> {
    state.auth.check_origin(headers)?;
    let permit = match ip.0.map(|ip| state.auth.limits.sockets_by_ip.acquire(ip)) {
        Some(Err(e)) => return Err(e),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let max = state.settings.max_message_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .read_buffer_size(crate::connection::socket::TUNGSTENITE_READ_BUFFER)
        .write_buffer_size(8 * 1024);
    Ok((config, permit))
}
