//! `ccpa-proxy`: serve the API with settings from `CCPA_CONFIG` (a TOML file,
//! default `ccpa-proxy.toml`, optional) and `CCPA__*` environment variables.

use anyhow::Context;
use ccpa_proxy::{config, startup::Application, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(std::env::var_os("CCPA_LOG_JSON").is_some());
    let file = std::env::var("CCPA_CONFIG").unwrap_or_else(|_| "ccpa-proxy.toml".into());
    let settings = config::load(Some(&file)).context("invalid configuration")?;
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
