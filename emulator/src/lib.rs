//! A faithful stand-in for Adobe IMS, the Campaign Standard profile API and
//! Privacy Service's consent endpoint.
//!
//! It is a real HTTP server: the demo runs against it, the proxy's tests and
//! benchmarks hit it over loopback sockets, and customers can run it in their
//! own CI. Besides the Adobe routes it offers `/_emulator/*` admin routes to
//! inspect profiles and counters and to inject faults.

mod admin;
pub mod campaign;
pub mod faults;
mod ims;
pub mod privacy;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use campaign::Resource;
use faults::{Fault, Target};
use store::{Call, Profile, Stats, Store};

/// The tenant the emulator pretends to be.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The `<ORGANIZATION>` path segment Campaign answers to.
    pub organization: String,
    /// The OAuth client id; also the only accepted `X-Api-Key`.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: String,
    /// How long issued access tokens stay valid (IMS: 24 hours).
    pub token_lifetime: Duration,
    /// Added to every Campaign and IMS answer, to look like a real upstream.
    pub latency: Duration,
    /// Campaign's `XtkBigTableThreshold`: above this many profiles, a
    /// collection's `next` link comes only with `_forcePagination=true`
    /// (Campaign's default: 100,000).
    pub big_table_threshold: usize,
    /// Which API it plays.
    pub api: Api,
    /// The profile's boolean field for the opt-out of sale: Campaign
    /// Standard's `ccpaOptOut`, or a migrated tenant's own (a name starting
    /// with `cus` is a custom field: only the extended resource shows it).
    pub opt_out_field: String,
    /// Whether the extended resource finds a profile by its custom key, as
    /// Adobe documents for Campaign Standard (for a migrated tenant it does
    /// not say): otherwise only by PKey.
    pub custom_keys: bool,
    /// The IMS organization Privacy Service takes in `x-gw-ims-org-id`.
    pub ims_org: String,
}

/// The API the emulator plays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// Campaign Standard's REST API.
    #[default]
    Standard,
    /// The same API on a tenant Adobe migrated to Campaign v8: filters
    /// without `by`, 204 to an empty PATCH, 404 "Unable to decrypt PKey",
    /// its own error messages, fields left blank by the migration.
    V8Migrated,
}

impl Api {
    /// Its name on the command line and in `CCPA_CAMPAIGN_API`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::V8Migrated => "v8-migrated",
        }
    }

    /// The filter that finds profiles by email.
    pub fn email_filter(self) -> &'static str {
        match self {
            Self::Standard => "byEmail",
            Self::V8Migrated => "email",
        }
    }
}

impl std::str::FromStr for Api {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "standard" => Ok(Self::Standard),
            "v8-migrated" => Ok(Self::V8Migrated),
            other => Err(format!("{other:?} is not an API: standard or v8-migrated")),
        }
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            organization: "demo-org".into(),
            client_id: "ccpa-demo-client".into(),
            client_secret: "ccpa-demo-secret".into(),
            token_lifetime: Duration::from_secs(86_399),
            latency: Duration::ZERO,
            big_table_threshold: 100_000,
            api: Api::Standard,
            opt_out_field: "ccpaOptOut".into(),
            custom_keys: true,
            ims_org: DEMO_IMS_ORG.into(),
        }
    }
}

/// The demo's IMS organization, as Adobe shapes one.
pub const DEMO_IMS_ORG: &str = "0123456789ABCDEF01234567@AdobeOrg";

type SharedStore = Arc<Mutex<Store>>;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    config: Arc<EmulatorConfig>,
    store: SharedStore,
}

/// A running emulator: its address and a window onto its state.
#[derive(Debug, Clone)]
pub struct Emulator {
    addr: SocketAddr,
    state: AppState,
}

impl Emulator {
    /// Serves the emulator on `listener` with the demo profiles, in a
    /// background task of the current Tokio runtime.
    pub fn spawn(listener: TcpListener, config: EmulatorConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let mut store = Store::new(store::demo_profiles());
        store.latency = config.latency;
        store.big_table_threshold = config.big_table_threshold;
        let state = AppState {
            store: Arc::new(Mutex::new(store)),
            config: Arc::new(config),
        };
        let app = router(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "emulator stopped");
            }
        });
        Ok(Self { addr, state })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its configuration.
    pub fn config(&self) -> &EmulatorConfig {
        &self.state.config
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.state.store.lock().expect("emulator store poisoned")
    }

    /// Every profile, in the order made.
    pub fn profiles(&self) -> Vec<Profile> {
        self.store().profiles.clone()
    }

    /// The profile with custom key `key`.
    pub fn profile(&self, key: &str) -> Option<Profile> {
        self.store().by_custom_key(key).cloned()
    }

    /// Every `ccpaOptOut` value PATCHed onto the profile with custom key
    /// `key`, oldest first: tests check that changes arrived in order.
    pub fn opt_out_history(&self, key: &str) -> Vec<bool> {
        let store = self.store();
        store
            .by_custom_key(key)
            .and_then(|p| store.history.get(&p.pkey))
            .cloned()
            .unwrap_or_default()
    }

    /// Adds a profile with custom key `key` (and a made-up email) that
    /// allows sale, for tests that need many customers.
    pub fn add_customer(&self, key: &str) {
        self.add_customer_with_email(key, &format!("{}@example.com", key.to_ascii_lowercase()));
    }

    /// Adds a profile with custom key `key` and `email`, spelt as given,
    /// that allows sale.
    pub fn add_customer_with_email(&self, key: &str, email: &str) {
        self.store().create(test_profile(key, email, false, false));
    }

    /// Leaves the custom fields of the profile with custom key `key` as a
    /// migration to Campaign v8 may: its opt-out and sensitive fields blank
    /// (`null`) until set, whatever they held.
    pub fn leave_blank(&self, key: &str) {
        let mut store = self.store();
        let profile = store.by_ext_key_mut(key).expect("a profile with that key");
        profile.opt_out_blank = true;
        profile.sensitive_blank = true;
    }

    /// Adds a profile with custom key `key` that already holds these
    /// choices, as one made elsewhere (Campaign's own screens, another
    /// channel) would.
    pub fn add_customer_choosing(&self, key: &str, ccpa_opt_out: bool, limit_sensitive: bool) {
        let email = format!("{}@example.com", key.to_ascii_lowercase());
        self.store()
            .create(test_profile(key, &email, ccpa_opt_out, limit_sensitive));
    }

    /// Every consent Privacy Service took, oldest first.
    pub fn consents(&self) -> Vec<privacy::Consent> {
        self.store().consents.clone()
    }

    /// Counters of what it has answered.
    pub fn stats(&self) -> Stats {
        self.store().stats
    }

    /// Campaign calls being answered right now (arrived, not yet answered).
    pub fn in_flight(&self) -> u64 {
        self.store().in_flight
    }

    /// Every IMS and Campaign call answered so far, in order of arrival,
    /// with its time and status: tests check when attempts came, and how
    /// many calls of each kind a change took.
    pub fn calls(&self) -> Vec<Call> {
        self.store().calls.clone()
    }

    /// Sets every counter back to zero, so that a test counts only what it
    /// does itself (not, say, the proxy's check of Campaign at its start).
    pub fn reset_stats(&self) {
        self.store().reset_stats();
    }

    /// Queues a fault for the next matching requests.
    pub fn inject(&self, fault: Fault) {
        self.store().faults.push_back(fault);
    }

    /// Makes the profile table count as large above `profiles` (Campaign's
    /// `XtkBigTableThreshold`): then collections give their `next` link
    /// only to callers that pass `_forcePagination=true`.
    pub fn set_big_table_threshold(&self, profiles: usize) {
        self.store().big_table_threshold = profiles;
    }

    /// Adds `latency` to every answer from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.store().latency = latency;
    }

    /// Forgets every queued fault: Campaign and IMS are well again.
    pub fn clear_faults(&self) {
        self.store().faults.clear();
    }

    /// Every access token issued so far: tests look for them where they
    /// must never appear (logs, answers).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.store().issued_tokens()
    }

    /// Invalidates every access token issued so far.
    pub fn expire_tokens(&self) {
        self.store().expire_tokens();
    }
}

/// The whole HTTP surface: IMS, Campaign (both spellings), Privacy Service
/// and admin routes.
pub fn router(state: AppState) -> Router {
    let ims = Router::new()
        .route("/ims/token/v3", post(ims::token))
        .with_state(state.clone())
        .layer(from_fn_with_state(
            (state.store.clone(), Target::Ims),
            faults::inject,
        ));
    let campaign = ["profileAndServices", "profilesAndServices"]
        .into_iter()
        .map(|name| (name, Resource::Standard))
        .chain([("profileAndServicesExt", Resource::Extended)])
        .fold(Router::new(), |router, (name, resource)| {
            router.merge(profile_routes(name, resource, state.clone()))
        })
        .layer(from_fn_with_state(
            state.clone(),
            campaign::require_credentials,
        ))
        .layer(from_fn_with_state(
            (state.store.clone(), Target::Campaign),
            faults::inject,
        ));
    let privacy = Router::new()
        .route("/data/core/privacy/consent", post(privacy::consent))
        .with_state(state.clone())
        .layer(from_fn_with_state(
            (state.store.clone(), Target::Privacy),
            faults::inject,
        ));
    Router::new()
        .merge(ims)
        .merge(campaign)
        .merge(privacy)
        .nest("/_emulator", admin::routes(state))
        .fallback(campaign::no_such_resource)
}

fn profile_routes(name: &str, resource: Resource, state: AppState) -> Router {
    let base = format!("/{{org}}/campaign/{name}/profile");
    Router::new()
        .route(&base, get(campaign::list).post(campaign::create))
        .route(
            &format!("{base}/"),
            get(campaign::list).post(campaign::create),
        )
        .route(
            &format!("{base}/{}", state.config.api.email_filter()),
            get(campaign::by_email),
        )
        .route(
            &format!("{base}/{{key}}"),
            get(campaign::get).patch(campaign::patch),
        )
        .route(
            &format!("/{{org}}/campaign/{name}/resourceType/profile"),
            get(campaign::resource_type),
        )
        .route(
            &format!("/{{org}}/campaign/{name}/resourceType/{{pkey}}/filters"),
            get(campaign::filters),
        )
        .with_state((state, resource))
}

/// A profile the tests add, named after its key.
fn test_profile(key: &str, email: &str, ccpa_opt_out: bool, cus_limit_sensitive: bool) -> Profile {
    Profile {
        pkey: String::new(),
        cus_customer_id: Some(key.to_owned()),
        first_name: "Test".into(),
        last_name: key.to_owned(),
        email: email.to_owned(),
        ccpa_opt_out,
        cus_limit_sensitive,
        opt_out_blank: false,
        sensitive_blank: false,
    }
}
