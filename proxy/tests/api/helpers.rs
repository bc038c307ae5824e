use std::time::Duration;

use campaign_emulator::Emulator;
use ccpa_proxy::config::Settings;
use reqwest::Response;
use serde_json::{Value, json};

pub use testkit::{SECRET, claims, sign, token_for};

pub const ALLOWED_ORIGIN: &str = "https://shop.example";

/// A proxy and its emulator, both serving on loopback.
pub struct TestApp {
    pub url: String,
    pub emulator: Emulator,
    pub http: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns an emulator, then a proxy configured against it; `customize`
/// adjusts the proxy's settings before it starts.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let emulator = testkit::spawn_emulator().await;
    let mut settings = testkit::proxy_settings(&emulator);
    settings.server.allowed_origins = vec![ALLOWED_ORIGIN.into()];
    customize(&mut settings);
    TestApp {
        url: format!("http://{}", testkit::spawn_proxy(settings).await),
        emulator,
        http: reqwest::Client::new(),
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

    pub async fn get_opt_out(&self, token: &str) -> Response {
        self.http
            .get(self.api())
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
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

    pub fn opt_out_of(&self, custom_key: &str) -> bool {
        self.emulator
            .profile(custom_key)
            .expect("demo profile")
            .ccpa_opt_out
    }
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
