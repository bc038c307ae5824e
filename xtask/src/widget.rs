//! Building the widget with trunk, and measuring what a visitor downloads.

use std::path::Path;
use std::process::Command;

use crate::shell::step;
use crate::{Result, tools};

/// What a visitor's browser fetches for the widget (the demo page aside).
const SHIPPED: [&str; 6] = [
    "ccpa-optout.js",
    "ccpa-gpp.js",
    "ccpa-first-paint.js",
    "ccpa-widget.js",
    "ccpa-widget_bg.wasm",
    "ccpa-optout.css",
];

/// `trunk build --release` into `dist/`, tools installed first.
pub fn build(root: &Path) -> Result {
    let bin = tools::ensure_widget_tools(root)?;
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .map_err(|e| format!("cannot extend PATH: {e}"))?;
    let mut trunk = Command::new("trunk");
    trunk
        .args(["build", "--release"])
        .current_dir(root)
        .env("PATH", path);
    step("widget (trunk build --release)", trunk)
}

/// Prints the transfer size of every shipped file, raw and as its gzip -9
/// and brotli twins (made by the build, sent to browsers that accept them:
/// brotli where they do, as browsers do over HTTPS).
pub fn report_size(root: &Path) -> Result {
    let dist = root.join("dist");
    println!("\nwidget transfer size (gzip -9, brotli 11):");
    println!("| file | bytes | gzip -9 | brotli |");
    println!("| --- | ---: | ---: | ---: |");
    let mut totals = [0; 3];
    for file in SHIPPED {
        let sizes = [
            file_size(&dist.join(file))?,
            file_size(&dist.join(format!("{file}.gz")))?,
            file_size(&dist.join(format!("{file}.br")))?,
        ];
        println!("| {file} | {} | {} | {} |", sizes[0], sizes[1], sizes[2]);
        for (total, size) in totals.iter_mut().zip(sizes) {
            *total += size;
        }
    }
    let [raw, gz, br] = totals;
    println!(
        "| **total** | {raw} | **{gz}** ({:.1} KB) | **{br}** ({:.1} KB) |",
        gz as f64 / 1024.0,
        br as f64 / 1024.0
    );
    Ok(())
}

/// Cold loads of each page on each profile in headless Chromium: the time
/// until the switch shows the state from Campaign, against the floor (the
/// `widget-load` program).
pub fn report_load_time(root: &Path) -> Result {
    tools::ensure_browser()?;
    let mut load = crate::shell::cargo(
        root,
        &["run", "--quiet", "-p", "e2e", "--bin", "widget-load"],
    );
    load.env("RUST_LOG", "off");
    step("widget load time", load)
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len())
}
