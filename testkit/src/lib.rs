//! Shared by the proxy's integration tests and the browser tests: a proxy
//! configured against a running emulator, and tokens minted the way a host
//! site's backend mints them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use campaign_emulator::{Api, Emulator, EmulatorConfig};
use ccpa_proxy::config::{
    CampaignApi, CampaignSettings, DeliverySettings, DemoSettings, EmailOptOutSettings,
    IdentitySettings, KeyKind, LimitSettings, PrivacyServiceSettings, ServerSettings, Settings,
    StorageSettings,
};
use ccpa_proxy::startup::Application;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

mod signing;
pub use signing::{IdentityProvider, SigningKey};

/// The HS256 key the test host and the proxy share.
pub const SECRET: &str = "test-host-shared-hs256-secret-of-41-bytes";
/// The test host's issuer.
pub const ISSUER: &str = "https://shop.example";
/// The proxy's audience.
pub const AUDIENCE: &str = "ccpa-proxy";

/// A loopback port held for a server that starts later: bound, so that no
/// other process can take it meanwhile, but not listening, so that
/// connections to it are refused until [`ReservedPort::listen`].
pub struct ReservedPort {
    socket: socket2::Socket,
    addr: SocketAddr,
}

impl ReservedPort {
    /// A port the system picks.
    pub fn new() -> Self {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        // As Tokio's own listeners do: a server stopped and started again
        // on this port must not wait for the old connections' TIME_WAIT.
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        socket.bind(&any.into()).expect("bind loopback");
        let addr = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("a bound address");
        Self { socket, addr }
    }

    /// Where it is.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts listening on it, for a server to accept from.
    pub fn listen(self) -> tokio::net::TcpListener {
        self.socket.listen(1024).expect("listen");
        self.socket.set_nonblocking(true).expect("non-blocking");
        tokio::net::TcpListener::from_std(self.socket.into()).expect("a Tokio listener")
    }
}

impl Default for ReservedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// Names the API the tests' emulator plays, and their proxies are set
/// for: `standard` (unset) or `v8-migrated` (`cargo xtask test` runs the
/// proxy's integration tests again so).
pub const CAMPAIGN_API_ENV: &str = "CCPA_TEST_CAMPAIGN_API";

/// The opt-out field of the migrated tenant the tests play: a custom field
/// of the company's own, as on a real migrated tenant, so that nothing can
/// pass by writing Campaign Standard's `ccpaOptOut`.
pub const MIGRATED_OPT_OUT_FIELD: &str = "cusCcpaOptOut";

/// The emulator's settings for the API [`CAMPAIGN_API_ENV`] names.
pub fn emulator_config() -> EmulatorConfig {
    let api = std::env::var(CAMPAIGN_API_ENV).map_or(Api::Standard, |name| {
        name.parse()
            .unwrap_or_else(|e| panic!("{CAMPAIGN_API_ENV}: {e}"))
    });
    match api {
        Api::Standard => EmulatorConfig::default(),
        Api::V8Migrated => EmulatorConfig {
            api,
            opt_out_field: MIGRATED_OPT_OUT_FIELD.into(),
            ..EmulatorConfig::default()
        },
    }
}

/// An emulator with the demo profiles on a free loopback port, playing
/// the API [`CAMPAIGN_API_ENV`] names.
pub async fn spawn_emulator() -> Emulator {
    spawn_emulator_with(emulator_config()).await
}

/// An emulator with the demo profiles on a free loopback port, as `config`
/// has it.
pub async fn spawn_emulator_with(config: EmulatorConfig) -> Emulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    Emulator::spawn(listener, config).expect("emulator starts")
}

/// A proxy serving `settings` in the background; returns where it listens.
pub async fn spawn_proxy(settings: Settings) -> SocketAddr {
    spawn_proxy_with_admin(settings).await.0
}

/// The same; also returns the admin listener's address (readiness in
/// full, metrics), which [`proxy_settings`] asks for.
pub async fn spawn_proxy_with_admin(settings: Settings) -> (SocketAddr, SocketAddr) {
    let app = Application::build(settings).await.expect("proxy starts");
    let addrs = (app.addr(), app.admin_addr().expect("an admin listener"));
    tokio::spawn(app.run_until(std::future::pending()));
    addrs
}

/// Names the PostgreSQL server the tests use instead of SQLite, as a URL
/// whose user may create databases (`cargo xtask test` starts one).
pub const POSTGRES_ENV: &str = "CCPA_TEST_POSTGRES_URL";

/// Whether the tests run on PostgreSQL ([`POSTGRES_ENV`] is set).
pub fn on_postgres() -> bool {
    std::env::var_os(POSTGRES_ENV).is_some()
}

/// A new, empty database for one test: a SQLite file in the temporary
/// directory, or a fresh database on the server [`POSTGRES_ENV`] names.
pub async fn database() -> TestDatabase {
    let name = format!("ccpa_test_{}", uuid::Uuid::new_v4().simple());
    match std::env::var(POSTGRES_ENV) {
        Ok(server) => {
            let mut admin = sqlx::PgConnection::connect(&server)
                .await
                .expect("the test PostgreSQL server answers");
            admin
                .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                .await
                .expect("a test database can be created");
            let mut url = url::Url::parse(&server).expect("a PostgreSQL URL");
            url.set_path(&name);
            TestDatabase {
                url: url.to_string(),
                _files: None,
            }
        }
        Err(_) => {
            // The database and its write-ahead log and shared-memory index.
            let files = ["", "-wal", "-shm"]
                .map(|suffix| std::env::temp_dir().join(format!("{name}.db{suffix}")));
            TestDatabase {
                url: format!("sqlite://{}", files[0].display()),
                _files: Some(Arc::new(Scratch::new(files))),
            }
        }
    }
}

/// One test's database. A SQLite file is deleted when the last clone is
/// dropped (a hundred a run would otherwise pile up); a PostgreSQL database
/// is left to its server, which `cargo xtask test` deletes whole.
#[derive(Clone)]
pub struct TestDatabase {
    url: String,
    _files: Option<Arc<Scratch>>,
}

impl TestDatabase {
    /// The URL the proxy's `storage.url` takes.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Files a test writes, deleted when dropped, pass or fail.
pub struct Scratch(Vec<PathBuf>);

impl Scratch {
    /// Deletes `paths` (those that exist) when dropped.
    pub fn new(paths: impl IntoIterator<Item = PathBuf>) -> Self {
        Self(paths.into_iter().collect())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Settings for a proxy on a free loopback port in front of `emulator`,
/// verifying tokens minted with [`SECRET`], keyed by custom key in `sub`,
/// storing in `database` and retrying quickly.
pub fn proxy_settings(emulator: &Emulator, database: &str) -> Settings {
    let config = emulator.config();
    Settings {
        server: ServerSettings {
            // Tests reach the proxy over plain HTTP on loopback.
            secure_cookies: false,
            admin_listen: Some("127.0.0.1:0".parse().expect("a socket address")),
            ..ServerSettings::on("127.0.0.1:0".parse().expect("a socket address"))
        },
        campaign: CampaignSettings {
            api: match config.api {
                Api::Standard => CampaignApi::Standard,
                Api::V8Migrated => CampaignApi::V8Migrated,
            },
            opt_out_field: config.opt_out_field.as_str().into(),
            email_filter: None,
            base_url: emulator.url().parse().expect("the emulator's URL"),
            organization: config.organization.clone(),
            standard_resource: "profileAndServices".into(),
            extended_resource: "profileAndServicesExt".into(),
            ims_token_url: format!("{}/ims/token/v3", emulator.url())
                .parse()
                .expect("the emulator's URL"),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone().into(),
            scope: "openid,AdobeID,campaign".into(),
            timeout_ms: 2_000,
            max_concurrency: 32,
            health_check_ms: 30_000,
            create_missing_profiles: true,
            max_email_matches: 1_000,
            custom_key_field: "cusCustomerId".into(),
            sensitive_field: None,
            verify_returned_key: true,
            // Tests are crowds on purpose; the pace's own test sets one.
            max_calls_per_second: 0,
        },
        identity: IdentitySettings {
            hs256_secret: Some(SECRET.into()),
            public_key_pem: None,
            jwks_url: None,
            jwks_min_refresh_secs: 60,
            jwks_max_age_secs: 3_600,
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            key_claim: "sub".into(),
            key_kind: KeyKind::CustomKey,
            max_token_lifetime_secs: 600,
            custom_key_symbols: "-_.".to_owned().try_into().expect("key symbols"),
        },
        storage: StorageSettings::new(database).expect("a database URL"),
        delivery: DeliverySettings {
            poll_interval_ms: 50,
            backoff_base_ms: 50,
            backoff_max_ms: 1_000,
            ..DeliverySettings::default()
        },
        demo: DemoSettings::default(),
        email_opt_out: EmailOptOutSettings {
            enabled: true,
            ..EmailOptOutSettings::default()
        },
        // Every test client is 127.0.0.1, and some tests are crowds of
        // one customer on purpose: the tests of the limits turn them on.
        limits: LimitSettings {
            reads_per_minute: 0,
            changes_per_minute: 0,
            per_client_per_minute: 0,
        },
        privacy_service: PrivacyServiceSettings::default(),
    }
}

/// Claims a host backend would sign for `sub`, valid for five minutes.
pub fn claims(sub: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300})
}

/// `claims` signed with [`SECRET`].
pub fn sign(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("HS256 signing")
}

/// A fresh token for `sub`.
pub fn token_for(sub: &str) -> String {
    sign(&claims(sub))
}

/// A token for `sub` that expired two minutes ago (beyond the proxy's leeway).
pub fn expired_token_for(sub: &str) -> String {
    let mut claims = claims(sub);
    claims["exp"] = json!(jsonwebtoken::get_current_timestamp() - 120);
    sign(&claims)
}
