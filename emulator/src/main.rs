//! `campaign-emulator`: serve the Adobe IMS, Campaign and Privacy Service
//! stand-in on a port.

use std::time::Duration;

use anyhow::Context;
use campaign_emulator::{Emulator, EmulatorConfig};
use clap::Parser;

/// A stand-in for Adobe IMS, Campaign Standard's profile API and Privacy
/// Service's consent endpoint.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (keep it on loopback).
    #[arg(long, env = "EMULATOR_LISTEN", default_value = "127.0.0.1:8181")]
    listen: String,
    /// The organization path segment.
    #[arg(long, env = "EMULATOR_ORGANIZATION", default_value = "demo-org")]
    organization: String,
    /// OAuth client id, also the accepted X-Api-Key.
    #[arg(long, env = "EMULATOR_CLIENT_ID", default_value = "ccpa-demo-client")]
    client_id: String,
    /// OAuth client secret.
    #[arg(
        long,
        env = "EMULATOR_CLIENT_SECRET",
        default_value = "ccpa-demo-secret"
    )]
    client_secret: String,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 86_399)]
    token_lifetime_secs: u64,
    /// Latency added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Above this many profiles, a collection's `next` link needs
    /// `_forcePagination=true` (Campaign's `XtkBigTableThreshold`).
    #[arg(long, default_value_t = 100_000)]
    big_table_threshold: usize,
    /// The API to play: `standard` (Campaign Standard) or `v8-migrated` (a
    /// Campaign Standard tenant migrated to Campaign v8).
    #[arg(long, env = "EMULATOR_API", default_value = "standard")]
    api: campaign_emulator::Api,
    /// The profile's boolean field for the opt-out of sale (a `cus…` name
    /// is a custom field, shown in the extended resource only).
    #[arg(long, env = "EMULATOR_OPT_OUT_FIELD", default_value = "ccpaOptOut")]
    opt_out_field: String,
    /// The IMS organization Privacy Service takes (`x-gw-ims-org-id`).
    #[arg(long, env = "EMULATOR_IMS_ORG", default_value = campaign_emulator::DEMO_IMS_ORG)]
    ims_org: String,
    /// Extra customers `LOAD-0000`, `LOAD-0001`, … (allowing sale), for
    /// benchmarks that need many users.
    #[arg(long, default_value_t = 0)]
    customers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let emulator = Emulator::spawn(
        listener,
        EmulatorConfig {
            organization: args.organization,
            client_id: args.client_id,
            client_secret: args.client_secret,
            token_lifetime: Duration::from_secs(args.token_lifetime_secs),
            latency: Duration::from_millis(args.latency_ms),
            big_table_threshold: args.big_table_threshold,
            api: args.api,
            opt_out_field: args.opt_out_field,
            custom_keys: true,
            ims_org: args.ims_org,
        },
    )?;
    for i in 0..args.customers {
        emulator.add_customer(&format!("LOAD-{i:04}"));
    }
    tracing::info!(url = %emulator.url(), "campaign emulator listening");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
