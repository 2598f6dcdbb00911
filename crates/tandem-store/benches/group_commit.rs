//! Group commit on the real SQLite store (WAL, synchronous=FULL): one transaction and one fsync
//! per batch of 1, 10, 100 and 1000 single-keystroke appends spread over 10 documents.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tandem_core::store::{Append, OpLog};
use tandem_store::{SqliteConfig, SqliteStore};

fn group_commit(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteConfig {
        path: dir.path().join("bench.db"),
    })
    .unwrap();
    let payload = Bytes::from_static(&[1, 1, 7, 0, 4, 1, 1, 116, 1, 120, 0]); // a typical keystroke
    let mut heads = [0u64; 10];
    for d in 0..heads.len() {
        rt.block_on(store.ensure_doc(&format!("doc-{d}"))).unwrap();
    }
    let mut g = c.benchmark_group("group commit");
    g.sample_size(20);
    for size in [1usize, 10, 100, 1000] {
        g.throughput(Throughput::Elements(size as u64));
        g.bench_function(format!("batch of {size}"), |b| {
            b.iter(|| {
                let batch: Vec<Append> = (0..size)
                    .map(|i| {
                        let d = i % heads.len();
                        heads[d] += 1;
                        Append {
                            author: None,
                            doc: format!("doc-{d}"),
                            rev: heads[d],
                            data: payload.clone(),
                        }
                    })
                    .collect();
                rt.block_on(store.append(&batch)).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, group_commit);
criterion_main!(benches);
