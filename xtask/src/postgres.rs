//! A throwaway PostgreSQL server on loopback for the proxy's tests, so that
//! they run against PostgreSQL as well as SQLite. Installed from Debian when
//! missing; a fresh cluster per run, stopped and deleted afterwards.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Result;
use crate::shell::{output, run};
use crate::tools::apt_install;

/// A running test server; stopped and removed when dropped.
pub struct TestPostgres {
    bin: PathBuf,
    data: PathBuf,
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub url: String,
}

impl TestPostgres {
    /// Starts a new cluster on a free port.
    pub fn start() -> Result<Self> {
        let bin = match binaries() {
            Some(bin) => bin,
            None => {
                eprintln!("PostgreSQL is needed for the storage tests; installing Debian's");
                apt_install(&["postgresql"], "the storage tests need PostgreSQL")?;
                binaries().ok_or("PostgreSQL was installed but initdb is not found")?
            }
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for PostgreSQL: {e}"))?
            .port();
        // Outside the repository: the server's user must reach it.
        let data = std::env::temp_dir().join(format!("ccpa-test-postgres-{port}"));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        let server = Self {
            bin,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            data,
        };
        if is_root() {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres"]).arg(&server.data);
            run(chown)?;
        }
        let data = server.data.display().to_string();
        server.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let options = format!("-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off");
        let log = format!("{data}/server.log");
        server.pg(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        )?;
        eprintln!(
            "PostgreSQL {} for tests at 127.0.0.1:{port}",
            server.version()
        );
        Ok(server)
    }

    fn version(&self) -> String {
        output(
            &self.bin.join("postgres").display().to_string(),
            &["--version"],
        )
        .unwrap_or_default()
    }

    /// Runs a PostgreSQL program as the `postgres` user when we are root
    /// (initdb refuses root), else as ourselves.
    fn pg(&self, program: &str, args: &[&str]) -> Result {
        let program = self.bin.join(program);
        let mut command = if is_root() {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        command.args(args).current_dir(std::env::temp_dir());
        run(command)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self.pg("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn is_root() -> bool {
    output("id", &["-u"]).as_deref() == Some("0")
}

/// The newest installed server's `bin` directory.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|bin| version_of(bin));
    versions.pop()
}

fn version_of(bin: &Path) -> u32 {
    bin.parent()
        .and_then(Path::file_name)
        .and_then(|v| v.to_str()?.parse().ok())
        .unwrap_or(0)
}
