//! `tandem-bench search`: query latency of the full-text index over many documents, on SQLite
//! and on PostgreSQL, through the stores themselves (the HTTP layer adds a fraction of a
//! millisecond). One reader holds a role on half the documents, so every query runs the
//! permission filter; the queries are what a person types: a two-letter prefix matching
//! nearly everything, common words, rare words, two words, and a word found nowhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::prelude::*;
use tandem_core::store::{now_millis, Catalogue};
use tandem_store::accounts::{NewUser, Role};
use tandem_store::search::{IndexEntry, Reader, Search, SearchQuery, Terms};

#[derive(clap::Args)]
pub struct SearchArgs {
    #[arg(long, default_value_t = 10_000)]
    docs: usize,
    /// Bytes of text per document
    #[arg(long, default_value_t = 2_000)]
    bytes: usize,
    /// Queries of each kind
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Also on PostgreSQL at this URL (a fresh schema, dropped after)
    #[arg(long, env = "TANDEM_TEST_DATABASE_URL")]
    database_url: Option<String>,
    /// Leave the PostgreSQL schema in place (to EXPLAIN a query)
    #[arg(long)]
    keep_schema: bool,
    /// Skip SQLite
    #[arg(long)]
    postgres_only: bool,
}

/// A vocabulary with a long tail: word i is drawn with weight 1/(i+1) (Zipf-like), so some
/// words are in every document and most in few.
fn vocabulary() -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..20_000)
        .map(|_| {
            let len = rng.random_range(3..10);
            (0..len)
                .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
                .collect()
        })
        .collect()
}

fn text(rng: &mut StdRng, vocab: &[String], bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 16);
    while out.len() < bytes {
        // Zipf by inverse transform over harmonic weights, approximated: exp of a uniform.
        let i = ((vocab.len() as f64).powf(rng.random::<f64>()) as usize).min(vocab.len()) - 1;
        out.push_str(&vocab[i]);
        out.push(' ');
    }
    out
}

pub async fn main(args: SearchArgs) -> anyhow::Result<()> {
    if !args.postgres_only {
        let dir = tempfile::tempdir()?;
        let sqlite = tandem_store::SqliteStore::open(&tandem_store::SqliteConfig {
            path: dir.path().join("bench.db"),
        })?;
        let accounts = Arc::new(sqlite.accounts()?);
        let index = Arc::new(sqlite.search()?);
        run("SQLite (FTS5)", &args, Arc::new(sqlite), accounts, index).await?;
    }
    if let Some(url) = &args.database_url {
        let schema = format!("tandem_bench_search_{}", std::process::id());
        let pg = tandem_store::PostgresStore::connect(&tandem_store::PostgresConfig {
            url: url.clone(),
            schema: Some(schema.clone()),
            pool_size: 4,
            timeout: Duration::from_secs(30),
        })
        .await?;
        let (accounts, index) = (Arc::new(pg.accounts()), Arc::new(pg.search()));
        let name = "PostgreSQL (tsvector + GIN)";
        let result = run(name, &args, Arc::new(pg), accounts, index).await;
        if args.keep_schema {
            println!("schema {schema} kept");
        } else {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .await?;
        }
        result?;
    }
    Ok(())
}

/// Makes one query of a kind.
type QueryMaker<'a> = Box<dyn Fn(&mut StdRng) -> String + 'a>;

async fn run(
    name: &str,
    args: &SearchArgs,
    store: Arc<dyn Catalogue>,
    accounts: Arc<dyn tandem_store::Accounts>,
    index: Arc<dyn Search>,
) -> anyhow::Result<()> {
    let vocab = vocabulary();
    let mut rng = StdRng::seed_from_u64(42);
    let reader = accounts
        .create_user(NewUser {
            email: "reader@bench".into(),
            name: "Reader".into(),
            password_hash: "-".into(),
        })
        .await?
        .id;
    let started = Instant::now();
    for i in 0..args.docs {
        let doc = format!("doc{i:06}");
        let title = text(&mut rng, &vocab, 30);
        store.create_doc(&doc, title.trim()).await?;
        if i % 2 == 0 {
            accounts.grant(&doc, reader, Role::Viewer).await?;
        }
        index
            .put(IndexEntry {
                doc,
                rev: 1,
                title: title.trim().to_owned(),
                body: text(&mut rng, &vocab, args.bytes),
                comments: String::new(),
                read_at: now_millis(),
            })
            .await?;
    }
    let fill = started.elapsed();
    let size = index.size().await?;
    println!(
        "{name}: {} documents of {} bytes indexed in {:.1} s; index {:.1} MB ({:.0} bytes a document)",
        args.docs,
        args.bytes,
        fill.as_secs_f64(),
        size as f64 / 1e6,
        size as f64 / args.docs as f64
    );
    let kinds: Vec<(&str, QueryMaker)> = vec![
        (
            "2-letter prefix",
            Box::new(|r: &mut StdRng| vocab[r.random_range(0..5)][..2].to_string()),
        ),
        (
            "common word",
            Box::new(|r: &mut StdRng| vocab[r.random_range(0..20)].clone()),
        ),
        (
            "rare word",
            Box::new(|r: &mut StdRng| vocab[r.random_range(2_000..20_000)].clone()),
        ),
        (
            "rare word prefix",
            Box::new(|r: &mut StdRng| vocab[r.random_range(2_000..20_000)][..3].to_string()),
        ),
        (
            "two words",
            Box::new(|r: &mut StdRng| {
                format!(
                    "{} {}",
                    vocab[r.random_range(0..200)],
                    vocab[r.random_range(0..200)]
                )
            }),
        ),
        (
            "no match",
            Box::new(|_: &mut StdRng| "zzzzqqqq".to_string()),
        ),
    ];
    println!("| query | results (mean) | p50 | p95 | p99 |");
    println!("|---|---|---|---|---|");
    for (kind, make) in &kinds {
        let mut times = Vec::with_capacity(args.queries);
        let mut found = 0usize;
        for _ in 0..args.queries {
            let q = SearchQuery {
                terms: Terms::parse(&make(&mut rng)),
                reader: Reader::User(reader),
                now: now_millis(),
                limit: 21,
                offset: 0,
            };
            let t = Instant::now();
            found += index.search(&q).await?.len();
            times.push(t.elapsed());
        }
        times.sort();
        let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {kind} | {:.1} | {:.2} ms | {:.2} ms | {:.2} ms |",
            found as f64 / args.queries as f64,
            ms(at(0.5)),
            ms(at(0.95)),
            ms(at(0.99))
        );
    }
    Ok(())
}
