//! The processes under test: the emulator, nginx in front of it, and our
//! proxy, each a real process on loopback; and what `/proc` says about them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// The emulator's tenant and credentials (its defaults).
pub const ORGANIZATION: &str = "demo-org";
/// The emulator's client id, also the API key.
pub const CLIENT_ID: &str = "ccpa-demo-client";
const CLIENT_SECRET: &str = "ccpa-demo-secret";
/// A limit the benchmark's load never reaches (a `u32`).
const UNREACHED: &str = "4000000000";

/// The HS256 key the benchmark's "host" shares with the proxy.
pub const SIGNING_SECRET: &str = "bench-host-shared-hs256-secret-of-42-bytes";
/// Test customers in the emulator.
pub const USERS: usize = 1_000;

/// A child process, stopped when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    fn spawn(command: &mut Command, what: &str) -> anyhow::Result<Self> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        Ok(Self { child })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    /// SIGTERM first, and a moment to act on it: nginx's master stops its
    /// workers then, while a SIGKILL would leave them serving. SIGKILL
    /// after two seconds.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..200 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of the benchmark's own, deleted when dropped: at the end,
/// and when a signal stops the benchmark.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A fresh directory under the system's temporary one.
    pub fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("ccpa-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl std::ops::Deref for ScratchDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until `url` answers at all (10 s at most).
pub async fn wait_until_up(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if http.get(url).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("{url} never answered")
}

/// The emulator with [`USERS`] extra customers and `latency_ms`.
pub async fn emulator(bin: &Path, latency_ms: u64) -> anyhow::Result<(Process, String)> {
    let port = free_port();
    let process = Process::spawn(
        Command::new(bin.join("campaign-emulator")).args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--latency-ms",
            &latency_ms.to_string(),
            "--customers",
            &USERS.to_string(),
        ]),
        "the emulator",
    )?;
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{url}/_emulator/stats")).await?;
    Ok((process, url))
}

/// An IMS access token from the emulator at `url`.
pub async fn ims_token(url: &str) -> anyhow::Result<String> {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/ims/token/v3"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", "campaign"),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(answer["access_token"]
        .as_str()
        .context("IMS gave no token")?
        .to_owned())
}

/// Our proxy in front of the emulator at `emulator`, storing in a fresh
/// SQLite file under `dir`.
pub async fn proxy(bin: &Path, emulator: &str, dir: &Path) -> anyhow::Result<(Process, String)> {
    proxy_with(bin, emulator, dir, &[]).await
}

/// The proxy with `settings` (environment variables) added to the usual.
pub async fn proxy_with(
    bin: &Path,
    emulator: &str,
    dir: &Path,
    settings: &[(&str, &str)],
) -> anyhow::Result<(Process, String)> {
    let port = free_port();
    let database = dir.join(format!("proxy-{port}.db"));
    let process = Process::spawn(
        Command::new(bin.join("ccpa-proxy"))
            .env_remove("CCPA_CONFIG")
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .env("CCPA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("CCPA__CAMPAIGN__BASE_URL", emulator)
            .env(
                "CCPA__CAMPAIGN__IMS_TOKEN_URL",
                format!("{emulator}/ims/token/v3"),
            )
            .env("CCPA__CAMPAIGN__ORGANIZATION", ORGANIZATION)
            .env("CCPA__CAMPAIGN__CLIENT_ID", CLIENT_ID)
            .env("CCPA__CAMPAIGN__CLIENT_SECRET", CLIENT_SECRET)
            .env("CCPA__CAMPAIGN__SCOPE", "campaign")
            .env("CCPA__CAMPAIGN__MAX_CONCURRENCY", "256")
            .env("CCPA__IDENTITY__HS256_SECRET", SIGNING_SECRET)
            .env("CCPA__IDENTITY__ISSUER", "https://shop.example")
            .env("CCPA__IDENTITY__AUDIENCE", "ccpa-proxy")
            .env(
                "CCPA__STORAGE__URL",
                format!("sqlite://{}", database.display()),
            )
            .env("CCPA__DELIVERY__POLL_INTERVAL_MS", "200")
            // The limits are counted, as in service, but never reached: the
            // load comes from one address, and some users are hammered.
            .env("CCPA__LIMITS__READS_PER_MINUTE", UNREACHED)
            .env("CCPA__LIMITS__CHANGES_PER_MINUTE", UNREACHED)
            .env("CCPA__LIMITS__PER_CLIENT_PER_MINUTE", UNREACHED)
            .env("CCPA__CAMPAIGN__MAX_CALLS_PER_SECOND", UNREACHED)
            .env("CCPA__SERVER__MAX_CONNECTIONS_PER_CLIENT", "0")
            .envs(settings.iter().copied()),
        "the proxy",
    )?;
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{url}/health/live")).await?;
    Ok((process, url))
}

/// nginx as a plain reverse proxy to the emulator's profiles, adding the
/// headers our proxy adds (a static IMS token), with an upstream keep-alive
/// pool: the reference for a proxy that does nothing.
pub async fn nginx(emulator: &str, token: &str, dir: &Path) -> anyhow::Result<(Process, String)> {
    let port = free_port();
    let prefix = dir.join(format!("nginx-{port}"));
    std::fs::create_dir_all(&prefix)?;
    let upstream = emulator.trim_start_matches("http://");
    let config = format!(
        r#"worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream campaign {{ server {upstream}; keepalive 256; }}
    server {{
        listen 127.0.0.1:{port};
        location /profile/ {{
            proxy_pass http://campaign/{ORGANIZATION}/campaign/profileAndServicesExt/profile/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer {token}";
            proxy_set_header X-Api-Key "{CLIENT_ID}";
            proxy_set_header Cache-Control "no-cache";
            proxy_set_header Content-Type "application/json;charset=utf-8";
        }}
    }}
}}
"#,
        prefix = prefix.display()
    );
    let file = prefix.join("nginx.conf");
    std::fs::write(&file, config)?;
    let process = Process::spawn(
        Command::new(nginx_binary()).args([
            "-p",
            &prefix.display().to_string(),
            "-c",
            &file.display().to_string(),
            "-g",
            "daemon off;",
        ]),
        "nginx",
    )?;
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{url}/")).await?;
    Ok((process, url))
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| "nginx".into())
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`).
/// A process that is gone is an error, never 0 MB.
pub fn memory_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| anyhow::anyhow!("process {pid} is gone (its /proc status: {e})"))?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("process {pid} reports no {field}"))
}

/// Open file descriptors of `pid`; a process that is gone is an error.
pub fn open_fds(pid: u32) -> anyhow::Result<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .map_err(|e| anyhow::anyhow!("process {pid} is gone (its /proc fds: {e})"))
}

/// A sign-in token for test customer `user`, valid for an hour.
pub fn sign_in_token(user: usize) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "sub": crate::load::customer(user), "iss": "https://shop.example",
        "aud": "ccpa-proxy", "iat": now, "exp": now + 3_500,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SIGNING_SECRET.as_bytes()),
    )
    .expect("HS256 signing")
}
