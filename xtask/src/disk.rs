//! Room on disk for the build, checked before it starts: a full disk
//! otherwise shows up a quarter of an hour later as "linking with `cc`
//! failed", with the reason cut off in the linker's output.

use std::path::{Path, PathBuf};

use crate::Result;
use crate::shell::output;

/// What `cargo xtask test` leaves in a fresh clone's target directory
/// (measured: 5.3 GB), with a margin for what the tests write meanwhile.
const FRESH_BUILD_GB: f64 = 6.0;
/// Where the tests have run before (their proxy binary is there), only the
/// workspace's crates are rebuilt.
const REBUILD_GB: f64 = 2.0;

/// Fails, saying how much room there is and how much is needed, when the
/// target directory's disk cannot hold the build.
pub fn ensure_room_to_build(root: &Path) -> Result {
    let target = target_dir(root);
    // Not `debug/` alone: `cargo xtask` builds itself there first.
    let need = if target.join("debug/ccpa-proxy").is_file() {
        REBUILD_GB
    } else {
        FRESH_BUILD_GB
    };
    // Without `df` there is no answer; the build may still fit.
    let Some(free) = free_gb(&target) else {
        return Ok(());
    };
    if free >= need {
        return Ok(());
    }
    Err(format!(
        "{} has {free:.1} GB free, and the build needs about {need} GB there.\n\
         Free some space (an old clone's target directory, `cargo clean`), or set \
         CARGO_TARGET_DIR to a directory on a larger disk.",
        target.display()
    ))
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"))
}

/// Gigabytes free to this user on the disk that holds `path` (or would hold
/// it: the nearest existing directory above it).
fn free_gb(path: &Path) -> Option<f64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let report = output("df", &["-Pk", &existing.to_string_lossy()])?;
    let available_kb: f64 = report
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(available_kb / (1024.0 * 1024.0))
}
