//! The harness of the browser end-to-end tests: a Campaign emulator, the
//! proxy, a host shop serving the release-built widget from its own origin,
//! and headless Chromium driven through chromedriver. Everything talks over
//! loopback sockets; nothing is mocked.

mod browser;
mod host;
pub mod readers;

pub use browser::{Browser, PATIENCE, Profile, WATCH_LAYOUT_SHIFTS, WIDGET};
pub use host::{PageOptions, Stack};

use std::path::PathBuf;

/// The Experience Cloud ID the test shop's stand-ins for Adobe's Web SDK
/// and Visitor API answer ([`PageOptions::adobe`]).
pub const STAND_IN_ECID: &str = "68219372648310938462015382945603712894";

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The release build of the widget, which these tests exercise.
pub fn dist_dir() -> PathBuf {
    let dist = repo_root().join("dist");
    assert!(
        dist.join("ccpa-widget_bg.wasm").is_file(),
        "no release build of the widget in {}: run `cargo xtask test`, which builds it first",
        dist.display()
    );
    dist
}

/// A browser on `stack`'s privacy page as `customer`, shaped by `options`.
pub async fn open_page(stack: &Stack, customer: &str, options: &PageOptions) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&stack.page_with(customer, options)).await;
    browser
}

/// The whole stack, and a browser on the shop's privacy page as `customer`.
pub async fn open_privacy_page(customer: &str) -> (Stack, Browser) {
    let stack = Stack::start().await;
    let browser = open_page(&stack, customer, &PageOptions::default()).await;
    (stack, browser)
}

/// The same, once the widget shows the customer's state.
pub async fn open_ready_privacy_page(customer: &str) -> (Stack, Browser) {
    let (stack, browser) = open_privacy_page(customer).await;
    browser.wait_for_state("ready").await;
    (stack, browser)
}

/// Keeps a picture of the docs true: the tests take it on every run. What
/// is written must be a PNG with something in it, and must be on disk.
pub fn save_picture(name: &str, png: Vec<u8>) {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    assert!(
        png.starts_with(SIGNATURE) && png.len() > 1_000,
        "{name}: not a picture ({} bytes)",
        png.len()
    );
    let path = repo_root().join("docs").join(name);
    std::fs::write(&path, &png).unwrap();
    let written = std::fs::read(&path).unwrap();
    assert!(written == png, "{} was not written whole", path.display());
}
