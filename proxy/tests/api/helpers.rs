use std::time::Duration;

use campaign_emulator::{Emulator, EmulatorConfig};
use ccpa_proxy::config::{
    CampaignSettings, DemoSettings, IdentitySettings, KeyKind, ServerSettings, Settings,
};
use ccpa_proxy::startup::Application;
use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::Response;
use serde_json::{Value, json};

pub const SECRET: &str = "integration-test-hs256-secret";
pub const ISSUER: &str = "https://shop.example";
pub const AUDIENCE: &str = "ccpa-proxy";
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let emulator = Emulator::spawn(listener, EmulatorConfig::default()).unwrap();
    let mut settings = settings_for(&emulator);
    customize(&mut settings);
    let app = Application::build(settings).await.expect("proxy builds");
    let url = format!("http://{}", app.addr());
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        url,
        emulator,
        http: reqwest::Client::new(),
    }
}

pub fn settings_for(emulator: &Emulator) -> Settings {
    let config = emulator.config();
    Settings {
        server: ServerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            allowed_origins: vec![ALLOWED_ORIGIN.into()],
            widget_dir: None,
        },
        campaign: CampaignSettings {
            base_url: emulator.url().parse().unwrap(),
            organization: config.organization.clone(),
            standard_resource: "profileAndServices".into(),
            extended_resource: "profileAndServicesExt".into(),
            ims_token_url: format!("{}/ims/token/v3", emulator.url()).parse().unwrap(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone().into(),
            scope: "openid,AdobeID,campaign_sdk".into(),
            timeout_ms: 2_000,
        },
        identity: IdentitySettings {
            hs256_secret: SECRET.into(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            key_claim: "sub".into(),
            key_kind: KeyKind::CustomKey,
            max_token_lifetime_secs: 600,
        },
        demo: DemoSettings::default(),
    }
}

/// Claims a host backend would sign for `sub`, valid for five minutes.
pub fn claims(sub: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300})
}

pub fn sign(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

pub fn token_for(sub: &str) -> String {
    sign(&claims(sub))
}

impl TestApp {
    pub fn api(&self) -> String {
        format!("{}/api/v1/opt-out", self.url)
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
