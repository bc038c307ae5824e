//! Structured logs. What is logged is chosen at the call sites: method and
//! path of requests, digests of subjects, error kinds; never headers, bodies,
//! tokens, secrets or email addresses.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the proxy's subscriber, writing to stderr (stdout carries
/// command output, such as an audit export).
pub fn init(json: bool) {
    init_with(json, std::io::stderr);
}

/// Installs the proxy's subscriber, printing JSON lines (`json = true`) or
/// text to `writer`, filtered by `RUST_LOG` (default `info`). The log tests
/// install this very subscriber with a writer into memory.
pub fn init_with<W>(json: bool, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
