//! Running commands: echoed before they run, failures named after them.

use std::ffi::OsStr;
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

/// `program`, ended (SIGTERM) when the thread that starts it ends, however
/// the xtask ends: a SIGINT or SIGKILL to the xtask alone would otherwise
/// leave it running. Linux's parent-death signal, set by util-linux's
/// `setpriv` (the workspace forbids the `unsafe` a `prctl` call needs).
pub fn tied(program: impl AsRef<OsStr>) -> Command {
    const SETPRIV: &str = "setpriv";
    // util-linux 2.33 and later.
    let able = output(SETPRIV, &["--help"]).is_some_and(|help| help.contains("--pdeathsig"));
    if !able {
        eprintln!(
            "note: no {SETPRIV} with --pdeathsig (util-linux 2.33 or later): should this \
             command be killed, end {} yourself",
            program.as_ref().to_string_lossy()
        );
        return Command::new(program);
    }
    let mut command = Command::new(SETPRIV);
    command.args(["--pdeathsig", "TERM", "--"]).arg(program);
    command
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_tied_process_ends_with_the_thread_that_started_it() {
        let starter = std::thread::spawn(|| {
            let child = tied("sleep").arg("30").spawn().expect("sleep starts");
            // `setpriv` sets the signal, then becomes `sleep`: once it is
            // `sleep`, the signal is set.
            let name = format!("/proc/{}/comm", child.id());
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::read_to_string(&name).unwrap_or_default().trim() != "sleep" {
                assert!(Instant::now() < deadline, "setpriv never became sleep");
                std::thread::sleep(Duration::from_millis(5));
            }
            child
        });
        let mut child = starter.join().expect("the starting thread ends");
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().expect("waitable").is_none() {
            assert!(
                Instant::now() < deadline,
                "still running 5 s after its starter ended"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
