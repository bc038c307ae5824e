//! `cargo xtask bench`: builds the proxy, the emulator and the load
//! generator with the speed profile, installs nginx when it is missing, and
//! runs `ccpa-bench`, which prints its tables and writes them to
//! `bench.md` in the target directory, to be copied with their date into
//! `docs/performance.md`. Not part of the tests: figures are reported, not
//! asserted.

use std::path::Path;

use crate::shell::{cargo, step, tied};
use crate::tools::apt_install;
use crate::{Result, disk};

/// Runs the benchmark, or only its `flood` part; `BENCH_SECONDS`,
/// `BENCH_SOAK_MINUTES` and `BENCH_SOAK_RATE` pass through.
pub fn run(root: &Path, part: Option<&str>) -> Result {
    if part.is_some_and(|part| part != "flood") {
        return Err("`cargo xtask bench` takes no part but `flood`".into());
    }
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
    let target = disk::target_dir(root);
    let bin = target.join("release-native");
    let results = target.join("bench.md");
    let mut bench = tied(bin.join("ccpa-bench"));
    bench.args(part).arg(&bin).arg(&results);
    step(
        &format!("benchmark (results in {})", results.display()),
        bench,
    )
}
