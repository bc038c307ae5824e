//! Running commands: echoed before they run, failures named after them.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::Result;

/// Runs `command` to completion with inherited output.
pub fn run(mut command: Command) -> Result {
    let shown = format!("{command:?}").replace('"', "");
    eprintln!("$ {shown}");
    let status = command
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// The trimmed standard output of `program args`, if it runs and succeeds.
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `cargo <args>` in the repository.
pub fn cargo(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).current_dir(root);
    command
}

/// Runs `command` under a heading, so that a long log says where it is.
pub fn step(name: &str, command: Command) -> Result {
    eprintln!("\n==> {name}");
    run(command)
}
