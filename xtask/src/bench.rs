//! `cargo xtask bench`: builds the proxy, the emulator and the load
//! generator with the speed profile, installs nginx when it is missing, and
//! runs `ccpa-bench`, which prints its tables and writes them to
//! `target/bench.md`, to be copied with their date into
//! `docs/performance.md`. Not part of the tests: figures are reported, not
//! asserted.

use std::path::Path;
use std::process::Command;

use crate::Result;
use crate::shell::{cargo, step};
use crate::tools::apt_install;

/// Runs the benchmark; `BENCH_SECONDS`, `BENCH_SOAK_MINUTES` and
/// `BENCH_SOAK_RATE` pass through.
pub fn run(root: &Path) -> Result {
    if !["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .any(|p| Path::new(p).is_file())
    {
        eprintln!("nginx is the benchmark's reference proxy; installing Debian's");
        apt_install(&["nginx"], "the benchmark needs Debian's nginx")?;
    }
    step(
        "proxy, emulator and load generator (profile release-native)",
        cargo(
            root,
            &[
                "build",
                "--profile",
                "release-native",
                "-p",
                "ccpa-proxy",
                "-p",
                "campaign-emulator",
                "-p",
                "ccpa-bench",
            ],
        ),
    )?;
    let mut bench = Command::new(root.join("target/release-native/ccpa-bench"));
    bench.arg(root).arg(root.join("target/bench.md"));
    step("benchmark (results in target/bench.md)", bench)
}
