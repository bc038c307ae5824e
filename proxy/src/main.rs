//! `ccpa-proxy`: serve the API, or export the audit trail. Settings come from
//! a TOML file (`--config`, `CCPA_CONFIG`, else `ccpa-proxy.toml` if present)
//! and `CCPA__*` environment variables.

use std::path::PathBuf;

use anyhow::Context;
use ccpa_proxy::audit::{self, Format};
use std::io::Write;

use ccpa_proxy::config::{self, Settings, StorageSettings};
use ccpa_proxy::startup::Application;
use ccpa_proxy::store::Store;
use ccpa_proxy::telemetry;
use clap::{Parser, Subcommand};
use futures_util::TryStreamExt;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The settings file.
    #[arg(long, env = "CCPA_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and apply pending changes (the default).
    Serve,
    /// Bring the database's schema up to date, then stop (for roles set up
    /// so that the proxy in service may not change the schema).
    Migrate,
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The changes given up on (audited `failed`), Campaign's and Privacy
    /// Service's.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetterCommand),
}

#[derive(Subcommand)]
enum DeadLetterCommand {
    /// Write them to standard output as JSON lines (read-only; may run
    /// beside the proxy).
    List,
    /// Send them all again, as new requests, once Campaign is put right.
    /// (With SQLite, stop the proxy first: its file serves one process.)
    Retry,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write the requests accepted in [from, to) to standard output.
    Export {
        /// First day (YYYY-MM-DD, UTC) or time (RFC 3339) included.
        #[arg(long, value_parser = audit::parse_time)]
        from: i64,
        /// First day or time no longer included.
        #[arg(long, value_parser = audit::parse_time)]
        to: i64,
        /// `jsonl` or `csv`.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = cli
        .config
        .or_else(|| Some(PathBuf::from("ccpa-proxy.toml")).filter(|p| p.is_file()));
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let settings = config::load(file.as_deref()).context("invalid configuration")?;
            serve(settings).await
        }
        Command::Migrate => {
            telemetry::init(false);
            let mut storage =
                config::load_storage(file.as_deref()).context("invalid configuration")?;
            storage.migrate = true;
            Store::connect(&storage)
                .await
                .context("cannot migrate the database named by storage.url")?
                .close()
                .await;
            tracing::info!("the database's schema is up to date");
            Ok(())
        }
        Command::DeadLetters(command) => {
            telemetry::init(false);
            let storage = config::load_storage(file.as_deref()).context("invalid configuration")?;
            dead_letters(command, &storage).await
        }
        Command::Audit(AuditCommand::Export { from, to, format }) => {
            // Logs go to stderr; stdout carries only the export.
            telemetry::init(false);
            let storage = config::load_storage(file.as_deref()).context("invalid configuration")?;
            let store = Store::open_read_only(&storage)
                .await
                .context("cannot open the database named by storage.url")?;
            let count =
                audit::export(&store, from, to, format, &mut std::io::stdout().lock()).await?;
            tracing::info!(count, "audit records exported");
            Ok(())
        }
    }
}

async fn dead_letters(command: DeadLetterCommand, storage: &StorageSettings) -> anyhow::Result<()> {
    match command {
        DeadLetterCommand::List => {
            let store = Store::open_read_only(storage)
                .await
                .context("cannot open the database named by storage.url")?;
            let mut out = std::io::stdout().lock();
            let mut letters = std::pin::pin!(store.dead_letters());
            while let Some(letter) = letters.try_next().await? {
                serde_json::to_writer(&mut out, &letter)?;
                writeln!(out)?;
            }
            for letter in store.consent_dead_letters().await? {
                serde_json::to_writer(&mut out, &letter)?;
                writeln!(out)?;
            }
        }
        DeadLetterCommand::Retry => {
            let store = Store::connect(storage)
                .await
                .context("cannot open the database named by storage.url")?;
            let (sent, kept) = store.retry_dead_letters().await?;
            let (told, untold) = store.retry_consent_dead_letters().await?;
            store.close().await;
            tracing::info!(sent, kept, "dead letters sent again as new requests");
            tracing::info!(
                sent = told,
                kept = untold,
                "Privacy Service's dead letters sent again as new requests"
            );
        }
    }
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    telemetry::init(std::env::var_os("CCPA_LOG_JSON").is_some());
    let app = Application::build(settings).await?;
    tracing::info!(addr = %app.addr(), admin = ?app.admin_addr(), "ccpa-proxy listening");
    app.run_until(shutdown_signal()).await?;
    tracing::info!("ccpa-proxy stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM (what orchestrators send) starts a graceful shutdown.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
