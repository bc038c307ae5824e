//! `cargo xtask demo`: the whole product on one local URL. The emulator
//! plays Adobe, the proxy serves the demo page and the widget, and a demo
//! sign-in plays the shop's login.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::shell::{cargo, step, tied};
use crate::{Result, disk, widget};

/// The emulator's tenant, as the emulator's defaults have it.
const ORGANIZATION: &str = "demo-org";
const CLIENT_ID: &str = "ccpa-demo-client";
const CLIENT_SECRET: &str = "ccpa-demo-secret";
/// The IMS organization the emulated Privacy Service takes.
const IMS_ORG: &str = "DEMO0123456789ABCDEF0123@AdobeOrg";

/// Children are killed when the demo ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The opt-out field of the migrated tenant the demo plays: a field of the
/// company's own, as on a real one.
const MIGRATED_OPT_OUT_FIELD: &str = "cusCcpaOptOut";

pub fn run(root: &Path) -> Result {
    let api = api_from_env()?;
    let port = port_from_env("CCPA_DEMO_PORT", 8080)?;
    let emulator_port = port_from_env("CCPA_EMULATOR_PORT", 8181)?;
    disk::ensure_room(root, disk::DEMO_BUILD_GB)?;
    widget::build(root)?;
    step(
        "proxy and emulator",
        cargo(
            root,
            &["build", "-p", "ccpa-proxy", "-p", "campaign-emulator"],
        ),
    )?;
    let bin = disk::target_dir(root).join("debug");
    let database = fresh_database(root)?;
    let emulator_url = format!("http://127.0.0.1:{emulator_port}");

    let mut emulator = tied(bin.join("campaign-emulator"));
    emulator.args(["--listen", &format!("127.0.0.1:{emulator_port}")]);
    emulator.args(["--api", api.name, "--opt-out-field", api.opt_out_field]);
    emulator.args(["--ims-org", IMS_ORG]);
    let emulator = Running(
        emulator
            .spawn()
            .map_err(|e| format!("cannot start the emulator: {e}"))?,
    );
    wait_until_ok(emulator_port, "/_emulator/stats")?;

    let mut proxy = tied(bin.join("ccpa-proxy"));
    proxy
        .env_remove("CCPA_CONFIG")
        .current_dir(root)
        .env("CCPA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("CCPA__SERVER__WIDGET_DIR", root.join("dist"))
        .env("CCPA__CAMPAIGN__BASE_URL", &emulator_url)
        .env(
            "CCPA__CAMPAIGN__IMS_TOKEN_URL",
            format!("{emulator_url}/ims/token/v3"),
        )
        .env("CCPA__CAMPAIGN__ORGANIZATION", ORGANIZATION)
        .env("CCPA__CAMPAIGN__API", api.name)
        .env("CCPA__CAMPAIGN__OPT_OUT_FIELD", api.opt_out_field)
        .env("CCPA__CAMPAIGN__CLIENT_ID", CLIENT_ID)
        .env("CCPA__CAMPAIGN__CLIENT_SECRET", CLIENT_SECRET)
        .env("CCPA__CAMPAIGN__SCOPE", "openid,AdobeID,campaign")
        .env("CCPA__IDENTITY__HS256_SECRET", random_secret()?)
        .env("CCPA__IDENTITY__ISSUER", "ccpa-optout-demo")
        .env("CCPA__IDENTITY__AUDIENCE", "ccpa-proxy")
        .env(
            "CCPA__STORAGE__URL",
            format!("sqlite://{}", database.display()),
        )
        .env("CCPA__DEMO__ENABLED", "true")
        .env("CCPA__EMAIL_OPT_OUT__ENABLED", "true")
        .env("CCPA__CAMPAIGN__SENSITIVE_FIELD", "cusLimitSensitive")
        // Adobe's Privacy Service, played by the emulator too.
        .env("CCPA__PRIVACY_SERVICE__ENABLED", "true")
        .env("CCPA__PRIVACY_SERVICE__BASE_URL", &emulator_url)
        .env("CCPA__PRIVACY_SERVICE__IMS_ORG", IMS_ORG)
        // The demo is plain HTTP on loopback.
        .env("CCPA__SERVER__SECURE_COOKIES", "false");
    let mut proxy = Running(
        proxy
            .spawn()
            .map_err(|e| format!("cannot start the proxy: {e}"))?,
    );
    wait_until_ok(port, "/health/ready")?;

    println!("\n  ccpa-optout demo: http://127.0.0.1:{port}/");
    println!("  Campaign's API: {} (CCPA_CAMPAIGN_API)", api.name);
    println!("  Campaign emulator: {emulator_url}/_emulator/profiles");
    println!("  What Privacy Service was told: {emulator_url}/_emulator/privacy");
    println!(
        "  Pick a demo customer, sign in, flip the switch, reload. Ctrl-C stops everything.\n"
    );
    let status = proxy.0.wait().map_err(|e| e.to_string())?;
    drop(emulator);
    Err(format!("the proxy stopped ({status})"))
}

/// The demo's database, emptied: the emulator starts afresh each run too.
fn fresh_database(root: &Path) -> Result<std::path::PathBuf> {
    let dir = disk::target_dir(root).join("demo");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for file in ["ccpa-proxy.db", "ccpa-proxy.db-wal", "ccpa-proxy.db-shm"] {
        let _ = std::fs::remove_file(dir.join(file));
    }
    Ok(dir.join("ccpa-proxy.db"))
}

/// The API the demo's tenant speaks, and its opt-out field.
struct Api {
    name: &'static str,
    opt_out_field: &'static str,
}

/// `CCPA_CAMPAIGN_API`: `standard` (unset) or `v8-migrated`.
fn api_from_env() -> Result<Api> {
    match std::env::var("CCPA_CAMPAIGN_API").as_deref() {
        Err(_) | Ok("standard") => Ok(Api {
            name: "standard",
            opt_out_field: "ccpaOptOut",
        }),
        Ok("v8-migrated") => Ok(Api {
            name: "v8-migrated",
            opt_out_field: MIGRATED_OPT_OUT_FIELD,
        }),
        Ok(other) => Err(format!(
            "CCPA_CAMPAIGN_API={other} is not an API: standard or v8-migrated"
        )),
    }
}

fn port_from_env(name: &str, default: u16) -> Result<u16> {
    let port = match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("{name}={value} is not a port"))?,
        Err(_) => default,
    };
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|e| format!("port {port} is not free ({e}): set {name} to another port"))?;
    Ok(port)
}

/// A fresh token-signing key per run: demo tokens die with the demo.
fn random_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Polls `GET path` on loopback until it answers 200, for up to 30 s.
fn wait_until_ok(port: u16, path: &str) -> Result {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_status(port, path).as_deref() == Some("200") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "nothing answered 200 on 127.0.0.1:{port}{path} within 30 s"
    ))
}

fn http_status(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
}
