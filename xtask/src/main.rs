//! `cargo xtask <command>`: the README's commands. Each installs what it
//! needs (checking versions first) and fails with a message that says what
//! to do when it cannot.

mod bench;
mod demo;
mod disk;
mod postgres;
mod shell;
mod tools;
mod widget;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  demo    build the widget, start the Campaign emulator and the proxy, serve the demo page
  test    install what tests need, then run every test (lint, unit, integration, browser)
  size    build the widget; print its transfer size (gzip -9) and load time (20 cold loads)
  bench   measure the proxy beside nginx and the bare emulator, flood its email route, then soak it
          (docs/performance.md); `bench flood` floods the email route only
  setup   install the widget and browser tools only";

/// What failed, in words for the person at the terminal.
pub type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    let root = repo_root();
    let outcome = match command.as_str() {
        "demo" => demo::run(&root),
        "test" => test(&root),
        "bench" => bench::run(&root, std::env::args().nth(2).as_deref()),
        "size" => widget::build(&root)
            .and_then(|()| widget::report_size(&root))
            .and_then(|()| widget::report_load_time(&root)),
        "setup" => tools::ensure_widget_tools(&root).and_then(|_| tools::ensure_browser()),
        _ => Err(USAGE.to_owned()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask {command}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .to_path_buf()
}

/// The wasm32 target, for the widget's checks.
const WASM: [&str; 2] = ["--target", "wasm32-unknown-unknown"];
const DENY_WARNINGS: [&str; 3] = ["--", "-D", "warnings"];

/// Every check and test the project has, in the order that fails fastest.
fn test(root: &std::path::Path) -> Result {
    disk::ensure_room(root, disk::TEST_BUILD_GB)?;
    // Before any check: the wasm clippy below needs the wasm32 target.
    tools::ensure_widget_tools(root)?;
    tools::ensure_browser()?;
    let cargo = |args: &[&[&str]]| shell::cargo(root, &args.concat());
    shell::step("formatting", cargo(&[&["fmt", "--all", "--check"]]))?;
    shell::step(
        "clippy (native)",
        cargo(&[&["clippy", "--workspace", "--all-targets"], &DENY_WARNINGS]),
    )?;
    shell::step(
        "clippy (widget, wasm32)",
        cargo(&[
            &["clippy", "-p", "ccpa-widget", "--all-targets"],
            &WASM,
            &DENY_WARNINGS,
        ]),
    )?;
    widget::build(root)?;
    widget::report_size(root)?;
    // Not the load benchmark (`cargo xtask size`): figures, not a test, and
    // three minutes of a fresh machine's first run.
    let mut widget_tests = cargo(&[&["test", "-p", "ccpa-widget"], &WASM]);
    widget_tests.env("CHROMEDRIVER", "/usr/bin/chromedriver");
    shell::step(
        "widget unit tests (wasm32, headless Chromium)",
        widget_tests,
    )?;
    shell::step(
        "unit, integration and browser tests (storage: SQLite)",
        cargo(&[&["test"], &NATIVE_PACKAGES, &SHOW_FIGURES]),
    )?;
    let server = postgres::TestPostgres::start()?;
    // The same package selection as the SQLite run, narrowed by target: with
    // `-p ccpa-proxy` alone, cargo resolves dependencies' features anew and
    // compiles some 70 crates again, sqlx and rustls among them, and links a
    // second test binary: time and disk spent on nothing.
    let mut on_postgres = cargo(&[
        &["test"],
        &NATIVE_PACKAGES,
        &["--test", "api"],
        &SHOW_FIGURES,
    ]);
    on_postgres.env(POSTGRES_ENV, &server.url);
    shell::step("the proxy's tests again (storage: PostgreSQL)", on_postgres)?;
    // Every proxy test once more, on SQLite, against a tenant migrated to
    // Campaign v8: the Campaign-facing ones are most of them, and the rest
    // cost seconds (docs/testing.md).
    let mut migrated = cargo(&[
        &["test"],
        &NATIVE_PACKAGES,
        &["--test", "api"],
        &SHOW_FIGURES,
    ]);
    migrated.env(CAMPAIGN_API_ENV, "v8-migrated");
    shell::step(
        "the proxy's tests again (Campaign: a tenant migrated to v8)",
        migrated,
    )
}

/// Every package that builds for the host: all but the wasm widget.
const NATIVE_PACKAGES: [&str; 3] = ["--workspace", "--exclude", "ccpa-widget"];

/// Shows what tests print: only the figures they measure (the load run's).
const SHOW_FIGURES: [&str; 2] = ["--", "--nocapture"];

/// Where the proxy's tests find PostgreSQL (testkit's `POSTGRES_ENV`).
const POSTGRES_ENV: &str = "CCPA_TEST_POSTGRES_URL";

/// Which API the proxy's tests play Campaign as (testkit's
/// `CAMPAIGN_API_ENV`).
const CAMPAIGN_API_ENV: &str = "CCPA_TEST_CAMPAIGN_API";
