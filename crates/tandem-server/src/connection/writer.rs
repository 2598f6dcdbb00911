//! The writing half of a connection: drains the bounded outbox into the socket in batches,
//! pings, notices a silent peer, and sends the close frame last.

use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use tandem_core::session::{close, CloseReason, Closer, OutboxReceiver};

use super::socket::{close_msg, feed_binary, WsError, WsMessage};
use super::Heartbeat;

/// The writing half: drains the outbox into the socket in batches, pings, and closes.
pub(super) struct Writer {
    pub(super) closer: Closer,
    pub(super) ping_every: Duration,
    pub(super) bytes_out: metrics::Counter,
}

impl Writer {
    pub(super) async fn write<S>(
        &self,
        sink: &mut S,
        mut out_rx: OutboxReceiver,
        heartbeat: &Heartbeat,
    ) where
        S: SinkExt<WsMessage, Error = WsError> + Unpin,
    {
        let ping_every = self.ping_every;
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let closed = self.closer.closed();
        tokio::pin!(closed);
        loop {
            tokio::select! {
                frame = out_rx.recv() => {
                    let Some(frame) = frame else { break };
                    let mut batch = vec![frame];
                    while batch.len() < 64 {
                        let Some(f) = out_rx.try_recv() else { break };
                        batch.push(f);
                    }
                    let write = write_all(sink, batch, &self.bytes_out);
                    tokio::pin!(write);
                    let sent = tokio::select! {
                        biased;
                        r = &mut write => r.is_ok(),
                        // Closing mid-write: finish it (it may be the drain notice) unless this
                        // client is being dropped for being too slow to take it.
                        _ = &mut closed => {
                            self.closer.reason().is_some_and(|r| r.code != close::TOO_SLOW)
                                && matches!(tokio::time::timeout(Duration::from_secs(1), &mut write).await, Ok(Ok(())))
                        }
                    };
                    if !sent {
                        break;
                    }
                }
                _ = ping.tick() => {
                    if heartbeat.silent_for() > 2 * ping_every {
                        self.closer.close(CloseReason::new(1001, "heartbeat timeout"));
                        break;
                    }
                    if sink.send(WsMessage::Ping(Bytes::new())).await.is_err() {
                        break;
                    }
                }
                _ = &mut closed => break,
            }
        }
        // Boxed: it runs once, and inline it would sit in every idle connection's future.
        Box::pin(finish(sink, &mut out_rx, &self.closer, &self.bytes_out)).await;
    }
}

async fn write_all<S>(
    sink: &mut S,
    frames: Vec<Bytes>,
    bytes_out: &metrics::Counter,
) -> Result<(), WsError>
where
    S: SinkExt<WsMessage, Error = WsError> + Unpin,
{
    let mut out = 0;
    for f in frames {
        out += f.len();
        feed_binary(sink, f).await?;
    }
    bytes_out.increment(out as u64);
    sink.flush().await
}

/// Sends what is still queued (unless the client is too slow to take it) and the close frame.
async fn finish<S>(
    sink: &mut S,
    out_rx: &mut OutboxReceiver,
    closer: &Closer,
    bytes_out: &metrics::Counter,
) where
    S: SinkExt<WsMessage, Error = WsError> + Unpin,
{
    let reason = closer
        .reason()
        .cloned()
        .unwrap_or_else(|| CloseReason::new(1000, ""));
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        if reason.code != close::TOO_SLOW {
            let mut rest = Vec::new();
            while let Some(f) = out_rx.try_recv() {
                rest.push(f);
            }
            write_all(sink, rest, bytes_out).await?;
        }
        sink.send(close_msg(&reason)).await
    })
    .await;
}
