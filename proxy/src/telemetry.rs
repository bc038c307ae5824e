//! Structured logs. What is logged is chosen at the call sites: method and
//! path of requests, digests of subjects, error kinds; never headers, bodies,
//! tokens, secrets or email addresses.

use tracing_subscriber::EnvFilter;

/// Installs a subscriber printing JSON lines (`json = true`) or text to
/// stderr (stdout carries command output, such as an audit export),
/// filtered by `RUST_LOG` (default `info`).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
