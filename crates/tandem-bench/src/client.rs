//! One benchmark writer: syncs, then sends single-character inserts and times each ack.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tandem_core::protocol::{Ext, Message};
use tokio_tungstenite::tungstenite::Message as Ws;
use yrs::{Text, Transact};

#[derive(Clone, Copy)]
pub struct Plan {
    pub duration: Duration,
    /// Updates per second for this writer; 0 = keep `window` in flight.
    pub rate: f64,
    pub window: usize,
    /// Keep each ack's revision and arrival (the webhook run times deliveries from them).
    pub record_acks: bool,
}

pub struct WriterResult {
    pub acked: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
    /// (revision, when its ack arrived), if the plan asked.
    pub acks: Vec<(u64, Instant)>,
}

pub async fn writer(url: String, doc: String, plan: Plan) -> anyhow::Result<WriterResult> {
    let ws = crate::wire::connect_tandem(&url, &doc).await?;
    let (mut tx, mut rx) = ws.split();
    // Handshake: answer the server's step 1 with an empty step 2 and wait for its ack.
    tx.send(Ws::Binary(Message::SyncStep1(vec![0]).encode().into()))
        .await?;
    loop {
        let Some(frame) = rx.next().await else {
            anyhow::bail!("closed during sync")
        };
        let Ws::Binary(b) = frame? else { continue };
        match Message::decode(&b)? {
            Message::SyncStep1(_) => {
                tx.send(Ws::Binary(Message::SyncStep2(vec![0, 0]).encode().into()))
                    .await?
            }
            Message::Ext(Ext::Ack { .. }) => break,
            _ => {}
        }
    }
    let ydoc = yrs::Doc::new();
    let text = ydoc.get_or_insert_text("t");
    let mut inflight: VecDeque<Instant> = VecDeque::new();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut acked = 0u64;
    let mut acks = Vec::new();
    let mut len = 0u32;
    let start = Instant::now();
    let end = start + plan.duration;
    let gap = (plan.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / plan.rate));
    // Spread open-loop writers' first sends over one gap so they do not fire in lockstep.
    let mut next_send = start
        + gap
            .map(|g| g.mul_f64(rand::random::<f64>()))
            .unwrap_or_default();
    loop {
        let now = Instant::now();
        let may_send = now < end
            && match gap {
                Some(_) => now >= next_send,
                None => inflight.len() < plan.window,
            };
        if may_send {
            let update = {
                let mut txn = ydoc.transact_mut();
                text.insert(&mut txn, len, "x");
                txn.encode_update_v1()
            };
            len += 1;
            inflight.push_back(Instant::now());
            tx.send(Ws::Binary(Bytes::from(Message::Update(update).encode())))
                .await?;
            if let Some(g) = gap {
                next_send += g;
            }
            continue;
        }
        if now >= end && inflight.is_empty() {
            break;
        }
        let wait = match gap {
            Some(_) if now < end => next_send.saturating_duration_since(now),
            _ => Duration::from_secs(5),
        };
        let frame = match tokio::time::timeout(wait, rx.next()).await {
            Err(_) if now >= end => {
                anyhow::bail!("acks stopped arriving ({} in flight)", inflight.len())
            }
            Err(_) => continue,
            Ok(None) => anyhow::bail!("server closed the connection"),
            Ok(Some(f)) => f?,
        };
        let Ws::Binary(b) = frame else {
            if let Ws::Close(c) = frame {
                anyhow::bail!("server closed: {c:?}");
            }
            continue;
        };
        if let Ok(Message::Ext(Ext::Ack { revision })) = Message::decode(&b) {
            if let Some(sent) = inflight.pop_front() {
                latency.record(sent.elapsed().as_micros().max(1) as u64)?;
                acked += 1;
                if plan.record_acks {
                    acks.push((revision, Instant::now()));
                }
            }
        }
    }
    Ok(WriterResult {
        acked,
        elapsed: start.elapsed(),
        latency_us: latency,
        acks,
    })
}
