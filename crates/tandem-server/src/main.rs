//! The `tandem` binary: parse config, set up telemetry, build, run until SIGTERM or ctrl-c.

use anyhow::Context;
use clap::Parser;
use tandem_server::cli::{self, UserCommand};
use tandem_server::config::{Options, Settings};
use tandem_server::{telemetry, Application};

#[derive(Parser)]
#[command(
    name = "tandem",
    version,
    about = "Tandem: a real-time collaboration server for Yjs documents"
)]
struct Cli {
    /// Optional TOML file with the same option names (flags and TANDEM_* variables win)
    #[arg(long, env = "TANDEM_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Manage accounts (add, list, disable, enable)
    #[command(subcommand)]
    User(UserCommand),
    /// Rebuild the full-text search index from every document
    Reindex,
    /// Copy the data (database and files) into a new directory while the server runs
    Backup { path: std::path::PathBuf },
    /// Put a backup into an empty data directory (then rebuild the search index)
    Restore { path: std::path::PathBuf },
    /// Write every document as Markdown and JSON, with its files, into a new directory
    ExportAll { dir: std::path::PathBuf },
    /// Exit 0 if the server on --listen (or --admin-listen) is ready: a container's health check
    Health,
    /// Print the HTTP API's OpenAPI document (`make api-types` keeps web/openapi.json equal to it)
    Openapi,
}

/// Buffers of 256 KiB and more (a large document's sync step 2, a large message being read) are
/// given back to the system when freed. glibc otherwise raises its threshold for that after the
/// first large buffer is freed, and later ones stay resident in its arenas: a flood of refused
/// 4 MiB messages left up to 20 MB resident, and 200 readers of a 1 MB document 122 kB each.
fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any large allocation.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    return_large_buffers();
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        let doc = tandem_server::routes::openapi::document();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let file = match &cli.config {
        Some(path) => Options::from_toml_file(path)?,
        None => Options::default(),
    };
    let settings = Settings::from_options(cli.options.or(file))?;
    match &cli.command {
        Some(Command::Backup { path }) => {
            println!("{}", tandem_server::backup::backup(&settings, path).await?);
            return Ok(());
        }
        Some(Command::Restore { path }) => {
            println!("{}", tandem_server::backup::restore(&settings, path).await?);
            return Ok(());
        }
        Some(Command::Health) => {
            println!("{}", cli::health(&settings).await?);
            return Ok(());
        }
        Some(Command::ExportAll { dir }) => {
            println!(
                "{}",
                tandem_server::backup::export_all(&settings, dir).await?
            );
            return Ok(());
        }
        _ => {}
    }
    if let Some(Command::Reindex) = cli.command {
        println!("{}", cli::reindex(&settings).await?);
        return Ok(());
    }
    if let Some(Command::User(cmd)) = cli.command {
        let accounts = cli::open_accounts(&settings).await?;
        let password = match cmd {
            UserCommand::Add { .. } => {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            }
            _ => None,
        };
        println!("{}", cli::run(accounts.as_ref(), cmd, password).await?);
        return Ok(());
    }
    telemetry::init_tracing(settings.log_format);
    match &settings.web_dir {
        Some(dir) => {
            tracing::info!(dir = %dir.display(), "serving the web client from a directory")
        }
        None if tandem_server::routes::web::embedded() => {}
        None => tracing::warn!(
            "this binary has no web client built in and no --web-dir: `/` answers 404 \
             (build with `make build-release`)"
        ),
    }
    let app = Application::build(settings)
        .await
        .context("starting tandem")?;
    // One plain line whatever the log filter says: scripts and tests wait for it.
    println!("tandem listening on http://{}", app.local_addr());
    let token = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
    app.run_until_stopped().await.context("serving")
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
