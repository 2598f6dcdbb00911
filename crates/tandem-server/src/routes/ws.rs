//! `GET /ws/{doc}`: upgrades to a WebSocket and runs the connection glue. Clients that offer the
//! `tandem.v1` subprotocol get the extensions; everyone else is treated as a stock Yjs client.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::response::Response;
use tandem_core::protocol::SUBPROTOCOL;

use crate::connection;
use crate::startup::AppState;

pub async fn upgrade(
    State(state): State<AppState>,
    Path(doc): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = state.settings.max_message_bytes;
    let tracker = state.tracker.clone();
    ws.protocols([SUBPROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        // Small buffers: an idle connection should cost a few kB, not tungstenite's 128 KiB.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| tracker.track_future(connection::serve(socket, doc, state)))
}
