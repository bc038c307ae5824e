use std::time::Duration;

use campaign_emulator::Emulator;
use ccpa_proxy::config::{Settings, StorageSettings};
use ccpa_proxy::store::{AuditRow, Store};
use futures_util::TryStreamExt;
use reqwest::Response;
use serde_json::{Value, json};

pub use testkit::{SECRET, claims, sign, token_for};

pub const ALLOWED_ORIGIN: &str = "https://shop.example";

/// A proxy and its emulator, both serving on loopback.
pub struct TestApp {
    pub url: String,
    /// The admin listener: readiness in full, metrics.
    pub admin: String,
    pub emulator: Emulator,
    pub http: reqwest::Client,
    /// The proxy's database (SQLite, or PostgreSQL under `cargo xtask test`).
    pub database: testkit::TestDatabase,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A proxy whose sign-in tokens name the customer by email (the `email`
/// claim), not by custom key.
pub async fn spawn_app_keyed_by_email() -> TestApp {
    spawn_app_with(|s| {
        s.identity.key_claim = "email".into();
        s.identity.key_kind = ccpa_proxy::config::KeyKind::Email;
    })
    .await
}

/// Spawns an emulator, then a proxy configured against it; `customize`
/// adjusts the proxy's settings before it starts.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(testkit::emulator_config(), customize).await
}

/// Points the proxy's Campaign and IMS at `port` on loopback (where an
/// emulator will listen later, or none).
pub fn campaign_on_port(settings: &mut Settings, port: u16) {
    let at = format!("http://127.0.0.1:{port}");
    settings.campaign.base_url = at.parse().unwrap();
    settings.campaign.ims_token_url = format!("{at}/ims/token/v3").parse().unwrap();
}

/// A proxy in front of a tenant migrated to Campaign v8, whatever API the
/// run plays otherwise; `customize` adjusts its settings.
pub async fn spawn_app_migrated(customize: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(migrated_tenant(), customize).await
}

/// The emulator's settings for a tenant migrated to Campaign v8.
pub fn migrated_tenant() -> campaign_emulator::EmulatorConfig {
    campaign_emulator::EmulatorConfig {
        api: campaign_emulator::Api::V8Migrated,
        opt_out_field: testkit::MIGRATED_OPT_OUT_FIELD.into(),
        ..Default::default()
    }
}

/// The same, in front of an emulator set as `config` has it.
pub async fn spawn_app_on(
    config: campaign_emulator::EmulatorConfig,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    let emulator = testkit::spawn_emulator_with(config).await;
    let database = testkit::database().await;
    let mut settings = testkit::proxy_settings(&emulator, database.url());
    settings.server.allowed_origins = vec![ALLOWED_ORIGIN.into()];
    customize(&mut settings);
    let (public, admin) = testkit::spawn_proxy_with_admin(settings).await;
    let (url, admin) = (format!("http://{public}"), format!("http://{admin}"));
    // Tests count what they do, not the proxy's check of Campaign at start.
    emulator.reset_stats();
    TestApp {
        url,
        admin,
        emulator,
        http: reqwest::Client::new(),
        database,
    }
}

impl TestApp {
    pub fn api(&self) -> String {
        format!("{}/api/v1/opt-out", self.url)
    }

    /// A plain GET of `path` on the proxy.
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// A read by `token` from a browser that sends Global Privacy Control.
    pub async fn get_with_gpc(&self, token: &str) -> Response {
        self.http
            .get(self.api())
            .bearer_auth(token)
            .header("Sec-GPC", "1")
            .send()
            .await
            .unwrap()
    }

    pub async fn get_opt_out(&self, token: &str) -> Response {
        self.http
            .get(self.api())
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The status of a GET by `token`, for reads sent side by side.
    pub async fn get_opt_out_owned(&self, token: String) -> u16 {
        self.get_opt_out(&token).await.status().as_u16()
    }

    pub async fn patch_raw(
        &self,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.http
            .patch(self.api())
            .bearer_auth(token)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_opt_out(&self, token: &str, value: bool) -> Response {
        self.patch_raw(
            token,
            "application/json",
            json!({ "ccpaOptOut": value }).to_string(),
        )
        .await
    }

    /// The whole audit trail, read from the proxy's database.
    pub async fn audit(&self) -> Vec<AuditRow> {
        audit_of(self.database.url()).await
    }

    /// A connection of our own to the proxy's database, as an operator (or
    /// an intruder) would have.
    pub async fn database_connection(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(self.database.url())
            .await
            .unwrap()
    }

    /// The readiness body, in full, from the admin listener.
    pub async fn readiness(&self) -> Value {
        let url = format!("{}/health/ready", self.admin);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A JSON answer of the admin listener to `method` on `path`.
    pub async fn admin(&self, method: reqwest::Method, path: &str) -> Value {
        self.http
            .request(method, format!("{}{path}", self.admin))
            .header("Content-Type", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `/metrics` from the admin listener, as Prometheus' text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The readiness body in full, once its counts are fresh: readiness
    /// counts the backlog at most once a second, so a figure read at once
    /// may predate what the test just did.
    pub async fn counted(&self) -> Value {
        tokio::time::sleep(COUNTED_AGAIN).await;
        self.readiness().await
    }

    /// How many profiles have a change waiting, as readiness reports it.
    pub async fn pending(&self) -> i64 {
        let ready = self.counted().await;
        ready["pending"]
            .as_i64()
            .expect("readiness counts pending changes")
    }

    /// Waits until no change is pending, for Campaign or Privacy Service.
    pub async fn drained(&self) {
        tokio::time::sleep(COUNTED_AGAIN).await;
        let mut pending = (0, 0);
        for _ in 0..600 {
            let ready = self.readiness().await;
            let count = |value: &Value| value.as_i64().expect("readiness counts pending changes");
            pending = (
                count(&ready["pending"]),
                count(&ready["privacyService"]["pending"]),
            );
            if pending == (0, 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{pending:?} changes still pending (Campaign, Privacy Service) after 30 s");
    }

    pub fn opt_out_of(&self, custom_key: &str) -> bool {
        self.emulator
            .profile(custom_key)
            .expect("demo profile")
            .ccpa_opt_out
    }
}

/// Tells the Privacy Service of the emulator behind `settings.campaign`
/// every choice about sale, as the emulator's organization.
pub fn tell_privacy_service(settings: &mut Settings) {
    settings.privacy_service.enabled = true;
    settings.privacy_service.base_url = settings.campaign.base_url.clone();
    settings.privacy_service.ims_org = Some(campaign_emulator::DEMO_IMS_ORG.into());
    // Tests are crowds on purpose, as for Campaign.
    settings.privacy_service.max_calls_per_second = 0;
}

/// A token for host subject `sub` whose `email` claim is `email`.
pub fn token_with_email(sub: &str, email: &str) -> String {
    let mut claims = claims(sub);
    claims["email"] = json!(email);
    sign(&claims)
}

/// Campaign refusing with `status` and its error body: a status the API does
/// not give for the call.
pub fn refusal(status: u16) -> campaign_emulator::faults::FaultKind {
    campaign_emulator::faults::FaultKind::Answer {
        status,
        content_type: "application/json".into(),
        body: json!({"code": status, "message": "Unprocessable"}).to_string(),
    }
}

/// The statuses of two PATCHes by `token`: `first`, and `second` sent
/// `gap` later, while the first may still be under way.
pub async fn two_flips(
    app: &TestApp,
    token: &str,
    first: bool,
    second: bool,
    gap: Duration,
) -> (u16, u16) {
    let later = async {
        tokio::time::sleep(gap).await;
        app.patch_opt_out(token, second).await
    };
    let (first, second) = tokio::join!(app.patch_opt_out(token, first), later);
    (first.status().as_u16(), second.status().as_u16())
}

/// The status and the JSON error code of an error answer.
pub async fn error_of(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("errors are JSON");
    (
        status,
        body["error"]["code"]
            .as_str()
            .expect("an error code")
            .to_owned(),
    )
}

pub async fn state_of(response: Response) -> Value {
    assert_eq!(response.status(), 200, "expected a state");
    response.json().await.unwrap()
}

pub const SHORT: Duration = Duration::from_millis(300);

/// Longer than readiness keeps a count of the backlog.
pub const COUNTED_AGAIN: Duration = Duration::from_millis(1_100);

/// Every audit record in `database`, oldest first, read as the export
/// reads it (beside the running proxy).
pub async fn audit_of(database: &str) -> Vec<AuditRow> {
    let store = Store::open_read_only(&StorageSettings::new(database).unwrap())
        .await
        .expect("the test database opens");
    let rows = store.audit(0, i64::MAX).try_collect().await.unwrap();
    store.close().await;
    rows
}

/// Polls `condition` every 20 ms for up to `within`; panics naming `what`.
pub async fn eventually(what: &str, within: Duration, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
