//! What ad tech reads our signals with, nobody here wrote: the IAB's own
//! GPP library (`@iabgpp/cmpapi`) and Prebid.js, at the versions
//! `cargo xtask test` pins and installs into `.tools/`. The library runs in
//! Node ([`iab`]); Prebid.js runs in the test shop's ad frame, bundled here
//! from its npm package ([`prebid`]).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The ad tag the test shop's ad frame runs (`e2e/iab/ad-frame.js`).
pub const AD_FRAME_JS: &str = include_str!("../iab/ad-frame.js");

/// The npm packages `cargo xtask test` installs.
fn node_modules() -> PathBuf {
    let modules = crate::repo_root().join(".tools/node_modules");
    assert!(
        modules.join("@iabgpp/cmpapi").is_dir() && modules.join("prebid.js").is_dir(),
        "the IAB's GPP library and Prebid.js are not in {}: run `cargo xtask test`, which \
         installs them first",
        modules.display()
    );
    modules
}

/// The IAB's GPP library's answer to `command` (`decode` a list of
/// strings, or `encode` sections' fields) on `input` (`e2e/iab/gpp.mjs`).
pub fn iab(command: &str, input: &Value) -> Value {
    let script = crate::repo_root().join("e2e/iab/gpp.mjs");
    let output = Command::new("node")
        .arg(script)
        .arg(node_modules())
        .arg(command)
        .arg(input.to_string())
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "the IAB's library failed to {command} {input}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from the IAB's library")
}

/// Prebid.js with its consent and activity-control modules
/// (`e2e/iab/prebid-entry.js`), bundled with the pinned esbuild once per
/// test binary into `target/iab/prebid.js` (written beside, then renamed
/// over it: another test binary may be reading the last one).
pub fn prebid() -> PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE
        .get_or_init(|| {
            let modules = node_modules();
            let dir = crate::repo_root().join("target/iab");
            std::fs::create_dir_all(&dir).expect("target/iab");
            let bundle = dir.join("prebid.js");
            let fresh = dir.join(format!("prebid.{}.js", std::process::id()));
            let built = Command::new(modules.join(".bin/esbuild"))
                .arg(crate::repo_root().join("e2e/iab/prebid-entry.js"))
                .args(["--bundle", "--format=iife", "--log-level=warning"])
                .arg(format!("--outfile={}", fresh.display()))
                .env("NODE_PATH", &modules)
                .status()
                .expect("esbuild runs");
            assert!(built.success(), "esbuild could not bundle Prebid.js");
            std::fs::rename(&fresh, &bundle).expect("the bundle in place");
            bundle
        })
        .clone()
}
