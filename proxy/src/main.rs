//! `ccpa-proxy`: serve the API with settings from a TOML file (`CCPA_CONFIG`,
//! else `ccpa-proxy.toml` if present) and `CCPA__*` environment variables.

use std::path::PathBuf;

use anyhow::Context;
use ccpa_proxy::{config, startup::Application, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(std::env::var_os("CCPA_LOG_JSON").is_some());
    let file = match std::env::var_os("CCPA_CONFIG") {
        Some(path) => Some(PathBuf::from(path)),
        None => Some(PathBuf::from("ccpa-proxy.toml")).filter(|p| p.is_file()),
    };
    let settings = config::load(file.as_deref()).context("invalid configuration")?;
    let app = Application::build(settings).await?;
    tracing::info!(addr = %app.addr(), "ccpa-proxy listening");
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
