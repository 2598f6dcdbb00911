//! The WebSocket layer: tungstenite over the upgraded HTTP connection, rather than axum's wrapper,
//! which hides frames. A large message is written as fragments of [`FRAGMENT`] bytes: tungstenite
//! formats each frame whole into its write buffer and keeps that buffer's largest size for good,
//! so one unfragmented sync step 2 of a 1 MB document left every reader holding 1 MB. Reads go
//! through [`LazyRead`], so an idle connection holds no read buffer.
//!
//! The upgrade request is checked by tungstenite's handshake (method, version, key, headers).

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::header::SEC_WEBSOCKET_PROTOCOL;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::OptionFuture;
use futures_util::{FutureExt, Sink, SinkExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::server::create_response;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
pub use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use super::lazy_read::LazyRead;
pub use super::lazy_read::TUNGSTENITE_READ_BUFFER;
use crate::error::AppError;
use tandem_core::session::CloseReason;

/// An upgraded connection.
pub type Socket = WebSocketStream<LazyRead<TokioIo<Upgraded>>>;

/// The largest frame written; a longer message goes out as fragments of this size.
pub const FRAGMENT: usize = 8 << 10;

/// A checked WebSocket upgrade request.
pub struct Upgrade {
    on_upgrade: OnUpgrade,
    response: axum::http::Response<()>,
    /// The subprotocols the client offered.
    offered: Vec<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let mut request = axum::http::Request::builder()
            .method(parts.method.clone())
            .uri(parts.uri.clone())
            .version(parts.version)
            .body(())
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        *request.headers_mut() = parts.headers.clone();
        let response = create_response(&request)
            .map_err(|e| AppError::BadRequest(format!("not a WebSocket upgrade: {e}")))?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| AppError::BadRequest("this connection cannot be upgraded".into()))?;
        let offered = parts
            .headers
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_string())
            .collect();
        Ok(Upgrade {
            on_upgrade,
            response,
            offered,
        })
    }
}

impl Upgrade {
    /// Whether the client offered `protocol`.
    pub fn offers(&self, protocol: &str) -> bool {
        self.offered.iter().any(|p| p == protocol)
    }

    /// Answers 101 (with `protocol` selected, if given) and runs `serve` on the socket once
    /// hyper hands the connection over, as a task of `tracker` (drained on shutdown).
    pub fn on_upgrade<F, Fut>(
        self,
        protocol: Option<&'static str>,
        config: WebSocketConfig,
        tracker: &tokio_util::task::TaskTracker,
        serve: F,
    ) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Upgrade {
            on_upgrade,
            mut response,
            ..
        } = self;
        if let Some(p) = protocol {
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        let upgraded = async move {
            let Ok(upgraded) = on_upgrade.await else {
                tracing::debug!("the upgrade failed");
                return None;
            };
            let io = LazyRead::new(TokioIo::new(upgraded));
            Some(WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await)
        };
        // Chained rather than awaited in the block above: a block keeps what it captured (here
        // `serve`'s, 400 bytes) for as long as it runs, so every open connection would hold it.
        tracker.spawn(upgraded.then(|socket| OptionFuture::from(socket.map(serve))));
        let (parts, ()) = response.into_parts();
        Response::from_parts(parts, Body::empty())
    }
}

/// Feeds one binary message into `sink`, as fragments of at most [`FRAGMENT`] bytes when it is
/// longer (the peer reads one message either way).
pub async fn feed_binary<S>(sink: &mut S, mut data: Bytes) -> Result<(), WsError>
where
    S: Sink<WsMessage, Error = WsError> + Unpin,
{
    if data.len() <= FRAGMENT {
        return sink.feed(WsMessage::Binary(data)).await;
    }
    let mut opcode = OpCode::Data(Data::Binary);
    while !data.is_empty() {
        let piece = data.split_to(FRAGMENT.min(data.len()));
        let last = data.is_empty();
        sink.feed(WsMessage::Frame(Frame::message(piece, opcode, last)))
            .await?;
        opcode = OpCode::Data(Data::Continue);
    }
    Ok(())
}

/// The close frame for `reason`.
pub fn close_msg(reason: &CloseReason) -> WsMessage {
    WsMessage::Close(Some(CloseFrame {
        code: CloseCode::from(reason.code),
        reason: reason.reason.as_str().into(),
    }))
}

/// Whether a read failed because the frame or message was over `--max-message-bytes`.
pub fn is_capacity(e: &WsError) -> bool {
    matches!(e, WsError::Capacity(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `data` into a sink that keeps every frame it is given.
    async fn fed(data: Bytes) -> Vec<WsMessage> {
        let mut sink = Vec::new().sink_map_err(|never: std::convert::Infallible| match never {});
        feed_binary(&mut sink, data).await.unwrap();
        sink.get_ref().clone()
    }

    #[tokio::test]
    async fn a_long_message_goes_out_in_fragments_that_make_it_whole() {
        let data: Bytes = (0..3 * FRAGMENT + 5)
            .map(|i| i as u8)
            .collect::<Vec<_>>()
            .into();
        let sent = fed(data.clone()).await;
        assert_eq!(sent.len(), 4);
        let mut whole = Vec::new();
        for (i, m) in sent.iter().enumerate() {
            let WsMessage::Frame(f) = m else {
                panic!("frame {i} is not a raw frame: {m:?}")
            };
            assert!(f.payload().len() <= FRAGMENT);
            let want = if i == 0 { Data::Binary } else { Data::Continue };
            assert_eq!(f.header().opcode, OpCode::Data(want));
            assert_eq!(f.header().is_final, i == sent.len() - 1);
            whole.extend_from_slice(f.payload());
        }
        assert_eq!(whole, data);
    }

    #[tokio::test]
    async fn a_message_that_fits_is_one_binary_message() {
        let sent = fed(Bytes::from(vec![7; FRAGMENT])).await;
        assert_eq!(sent.len(), 1);
        assert!(matches!(&sent[0], WsMessage::Binary(b) if b.len() == FRAGMENT));
    }
}
