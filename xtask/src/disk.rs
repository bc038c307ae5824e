//! Room on disk for a build, checked before it starts: a full disk
//! otherwise shows up a quarter of an hour later as "linking with `cc`
//! failed", with the reason cut off in the linker's output.

use std::path::{Path, PathBuf};

use crate::Result;
use crate::shell::output;

/// What `cargo xtask test` leaves in a fresh clone's target directory: the
/// debug, wasm and release builds (measured).
pub const TEST_BUILD_GB: f64 = 6.0;
/// What `cargo xtask demo` leaves there: the widget in release, the proxy
/// and the emulator in debug (measured).
pub const DEMO_BUILD_GB: f64 = 1.9;
/// Free beyond what the build adds: incremental state grows on every
/// rebuild, and tests write databases and browser profiles meanwhile.
const MARGIN_GB: f64 = 1.0;

/// Fails, saying how much room there is and how much is needed, when the
/// target directory's disk cannot hold a build of `build_gb`, of which what
/// is already there counts.
pub fn ensure_room(root: &Path, build_gb: f64) -> Result {
    let target = target_dir(root);
    // Without `df` there is no answer; the build may still fit.
    let Some(free) = free_gb(&target) else {
        return Ok(());
    };
    let built = used_gb(&target).unwrap_or(0.0);
    let need = (build_gb - built).max(0.0) + MARGIN_GB;
    if free >= need {
        return Ok(());
    }
    Err(format!(
        "{} has {free:.1} GB free, and the build needs about {need:.1} GB more there.\n\
         Free some space (an old clone's target directory, `cargo clean`), or set \
         CARGO_TARGET_DIR to a directory on a larger disk.",
        target.display()
    ))
}

/// Where cargo builds, as cargo itself says (`CARGO_TARGET_DIR`,
/// `build.target-dir` in a config file, or `target/`).
pub fn target_dir(root: &Path) -> PathBuf {
    let metadata = output(
        &std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        &[
            "metadata",
            "--no-deps",
            "--format-version=1",
            "--manifest-path",
            &root.join("Cargo.toml").to_string_lossy(),
        ],
    );
    metadata
        .as_deref()
        .and_then(target_directory)
        .unwrap_or_else(|| root.join("target"))
}

/// The `target_directory` of `cargo metadata`'s JSON (the xtask has no JSON
/// parser: it must build before anything is installed).
fn target_directory(metadata: &str) -> Option<PathBuf> {
    let key = "\"target_directory\":\"";
    let start = metadata.find(key)? + key.len();
    let value = &metadata[start..];
    let end = value.find('"')?;
    // A path with a quote or a backslash is escaped: not worth guessing.
    (!value[..end].contains('\\')).then(|| PathBuf::from(&value[..end]))
}

/// Gigabytes free to this user on the disk that holds `path` (or would hold
/// it: the nearest existing directory above it).
fn free_gb(path: &Path) -> Option<f64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let report = output("df", &["-Pk", &existing.to_string_lossy()])?;
    kilobytes_to_gb(report.lines().nth(1)?.split_whitespace().nth(3)?)
}

/// Gigabytes under `path`, if it exists.
fn used_gb(path: &Path) -> Option<f64> {
    let report = output("du", &["-sk", &path.to_string_lossy()])?;
    kilobytes_to_gb(report.split_whitespace().next()?)
}

fn kilobytes_to_gb(kilobytes: &str) -> Option<f64> {
    let kilobytes: f64 = kilobytes.parse().ok()?;
    Some(kilobytes / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_directory_is_cargos() {
        let metadata = r#"{"packages":[],"target_directory":"/builds/ccpa/target","version":1}"#;
        assert_eq!(
            target_directory(metadata),
            Some(PathBuf::from("/builds/ccpa/target"))
        );
        assert_eq!(target_directory(r#"{"target_directory":"C:\\t"}"#), None);
        // This test runs from a build: cargo names its directory.
        let found = target_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        assert!(found.is_absolute() && found.is_dir(), "{found:?}");
    }
}
