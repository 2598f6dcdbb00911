//! Opening a cold document (issue 21): a document of `--doc-mb` MB is written and snapshotted,
//! the server is stopped, and each run starts it again on the same data directory and opens the
//! document with one client: connect, send sync step 1 (an empty state vector), and time the
//! server's sync step 2. Nothing is in the server's memory, so each open reads the snapshot and
//! the log, decodes them into a document and encodes the whole state for the client.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tandem_core::protocol::Message;
use tokio_tungstenite::tungstenite::Message as Ws;
use yrs::{Text, Transact};

use crate::server::{Paths, Spawned};
use crate::wire::Kind;

#[derive(clap::Args, Debug, Clone)]
pub struct ColdArgs {
    /// Size of the document, in MB of text
    #[arg(long, default_value_t = 1)]
    pub doc_mb: usize,
    /// Cold opens (a server restart before each)
    #[arg(long, default_value_t = 7)]
    pub runs: usize,
}

/// Snapshot a document soon after its last update, so that a restart finds one.
const SNAPSHOT_IDLE: &[&str] = &["--snapshot-idle-ms", "200"];

pub async fn main(args: ColdArgs, paths: &Paths<'_>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let server = Spawned::start_in(Kind::Tandem, paths, SNAPSHOT_IDLE, Some(dir.path()))?;
        let url = format!("ws://{}", server.addr);
        crate::heavy::fill(&url, "paragraphs", args.doc_mb).await?;
        fill_fragmented(&url, "flat", args.doc_mb).await?;
        tokio::time::sleep(Duration::from_secs(1)).await; // the idle snapshots
    }
    for doc in ["paragraphs", "flat"] {
        let mut ms = Vec::new();
        let mut step2 = 0;
        for _ in 0..args.runs {
            let server = Spawned::start_in(Kind::Tandem, paths, SNAPSHOT_IDLE, Some(dir.path()))?;
            let (took, len) = open(&format!("ws://{}", server.addr), doc).await?;
            ms.push(took.as_secs_f64() * 1e3);
            step2 = len;
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{}",
            serde_json::json!({
                "scenario": "cold open", "doc": doc, "doc_mb": args.doc_mb,
                "step2_bytes": step2, "runs": args.runs,
                "open_ms_min": ms[0], "open_ms_median": ms[ms.len() / 2],
                "open_ms_max": ms[ms.len() - 1],
            })
        );
    }
    Ok(())
}

/// Connects to `doc` and times connect → the server's sync step 2 for an empty state vector;
/// returns that time and the step 2's size.
async fn open(url: &str, doc: &str) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut ws = crate::wire::connect_tandem(url, doc).await?;
    ws.send(Ws::Binary(Message::SyncStep1(vec![0]).encode().into()))
        .await?;
    while let Some(frame) = ws.next().await {
        let Ws::Binary(b) = frame? else { continue };
        if let Message::SyncStep2(state) = Message::decode(&b)? {
            return Ok((started.elapsed(), state.len()));
        }
    }
    anyhow::bail!("closed before sync step 2")
}

/// Writes `mb` MB into one flat `Y.Text` as 50-character inserts at random places, 400 to an
/// update, each update acked before the next: a text of about 20,000 blocks per MB, as a long
/// document edited all over is, rather than one block.
async fn fill_fragmented(url: &str, doc: &str, mb: usize) -> anyhow::Result<()> {
    let ydoc = yrs::Doc::new();
    let text = ydoc.get_or_insert_text("t");
    let chunk = "lorem ipsum dolor sit amet consectetur adipiscing ";
    let updates: Vec<Vec<u8>> = (0..mb * 50)
        .map(|_| {
            let mut txn = ydoc.transact_mut();
            for _ in 0..400 {
                let at = rand::random_range(0..=text.len(&txn));
                text.insert(&mut txn, at, chunk);
            }
            txn.encode_update_v1()
        })
        .collect();
    crate::heavy::send_acked(url, doc, updates).await
}
