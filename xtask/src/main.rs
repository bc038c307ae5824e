//! `cargo xtask <command>`: the README's commands. Each installs what it
//! needs (checking versions first) and fails with a message that says what
//! to do when it cannot.

mod demo;
mod shell;
mod tools;
mod widget;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  demo    build the widget, start the Campaign emulator and the proxy, serve the demo page
  test    install what tests need, then run every test (lint, unit, integration, browser)
  size    build the widget and print its transfer size (gzip -9)
  setup   install the widget and browser tools only";

/// What failed, in words for the person at the terminal.
pub type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    let root = repo_root();
    let outcome = match command.as_str() {
        "demo" => demo::run(&root),
        "test" => test(&root),
        "size" => widget::build(&root).and_then(|()| widget::report_size(&root)),
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

/// Every check and test the project has, in the order that fails fastest.
fn test(root: &std::path::Path) -> Result {
    tools::ensure_browser()?;
    shell::step(
        "formatting",
        shell::cargo(root, &["fmt", "--all", "--check"]),
    )?;
    shell::step(
        "clippy (native)",
        shell::cargo(
            root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
    )?;
    shell::step(
        "clippy (widget, wasm32)",
        shell::cargo(
            root,
            &[
                "clippy",
                "-p",
                "ccpa-widget",
                "--target",
                "wasm32-unknown-unknown",
                "--",
                "-D",
                "warnings",
            ],
        ),
    )?;
    widget::build(root)?;
    widget::report_size(root)?;
    shell::step(
        "tests",
        shell::cargo(root, &["test", "--workspace", "--exclude", "ccpa-widget"]),
    )
}
