//! A typed client for the two Adobe APIs the proxy speaks: IMS (an access
//! token for the OAuth server-to-server credential) and the Campaign
//! profile API, as Campaign Standard or a tenant migrated to Campaign v8
//! speaks it. What those two do differently is data in [`api`]; nothing
//! outside this module knows which one it talks to.
//!
//! The PKey Campaign returns only ever lives in a [`Profile`] for the length
//! of one request: Adobe forbids storing it outside Campaign.

mod answer;
mod api;
mod change;
mod error;
mod ims;
mod lookup;
mod pace;
mod tenant;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use url::Url;

use crate::config::{CampaignSettings, KeyKind};
use crate::identity::names_a_campaign_route;
use crate::metrics::{Metrics, Upstream};
use crate::store::Choice;
use answer::Answer;
use api::{Api, Resource};
pub use error::{CampaignError, Health};
use ims::TokenCache;
pub use pace::as_worker;
use pace::{Pace, is_worker};
pub use tenant::Needs;

/// A profile as far as the proxy needs it, for the length of one request.
#[derive(Debug)]
pub struct Profile {
    /// The opt-out of sale: the field `campaign.opt_out_field` names
    /// (Campaign Standard's `ccpaOptOut`).
    pub ccpa_opt_out: bool,
    /// Whether the opt-out came back blank (a migrated tenant's), read as
    /// `false`.
    sale_left_blank: bool,
    /// The field `campaign.sensitive_field` names, when one does and the
    /// profile was read in the extended resource (the standard one has no
    /// custom fields); `None` when blank; an error when the answer lacks
    /// it. It never stands in the way of the opt-out.
    limit_sensitive: Option<Result<Option<bool>, CampaignError>>,
    /// The `href` Campaign gave for it: where changes go.
    href: Url,
    /// The resource it was read in.
    resource: Resource,
}

impl Profile {
    /// What Campaign holds for `choice`. A sensitive field that was not
    /// read, or could not be, is an error, never a `false`.
    pub fn value(&self, choice: Choice) -> Result<bool, CampaignError> {
        match (choice, &self.limit_sensitive) {
            (Choice::Sale, _) => Ok(self.ccpa_opt_out),
            (Choice::Sensitive, Some(limited)) => limited.clone().map(|v| v.unwrap_or(false)),
            (Choice::Sensitive, None) => Err(CampaignError::Misconfigured(
                "the sensitive-information field is read by custom key only".into(),
            )),
        }
    }

    /// Whether Campaign answered `choice` blank: a migration lost it, and
    /// it reads as `false` (no opt-out, no limit) unless the audit trail
    /// shows the consumer's choice applied before.
    pub fn left_blank(&self, choice: Choice) -> bool {
        match choice {
            Choice::Sale => self.sale_left_blank,
            Choice::Sensitive => matches!(self.limit_sensitive, Some(Ok(None))),
        }
    }

    /// What is wrong with the answer, though the profile was found.
    fn problem(&self) -> Result<(), CampaignError> {
        match &self.limit_sensitive {
            Some(Err(error)) => Err(error.clone()),
            _ => Ok(()),
        }
    }
}

/// The part of a profile the proxy reads. The opt-out's and the sensitive
/// field's names are settings, so the fields are kept until picked out.
#[derive(Debug, Deserialize)]
struct ProfileBody {
    href: Url,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// A page of a collection: its profiles, and the link to the next page
/// while there is one (Campaign computes it; it is followed as given).
#[derive(Debug, Deserialize)]
struct Collection<T> {
    content: Vec<T>,
    #[serde(default)]
    next: Option<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: Url,
}

/// What a PATCH (or a POST, among the rest of the profile) answers, as
/// documented: the profile's key and link.
#[derive(Debug, Deserialize)]
struct Patched {
    #[serde(rename = "PKey")]
    pkey: String,
    href: Url,
}

/// A tenant found right is asked which API it speaks once in this many
/// health-check periods (every 10 min with the default 30 s).
const REPROBE_PERIODS: u32 = 20;

/// Profiles asked for on a page of the email filter: Campaign's default, the only
/// page size Adobe documents (an address rarely has more).
const PAGE: usize = 25;

/// The client. Cheap to share: one connection pool, one token cache.
pub struct CampaignClient {
    http: reqwest::Client,
    settings: CampaignSettings,
    /// `<base>/<org>/campaign/`: every `href` must start with it, so a
    /// forged link can never send the access token elsewhere.
    campaign_root: Url,
    tokens: TokenCache,
    /// Bounds the calls in flight (`max_concurrency`).
    permits: Semaphore,
    /// What the latest call said about Campaign, and when.
    observed: std::sync::Mutex<(Health, Instant)>,
    /// Where the calls' latencies are counted.
    metrics: Arc<Metrics>,
    /// Calls per second (`max_calls_per_second`).
    pace: Pace,
    /// What the tenant's API does its own way.
    api: &'static Api,
    /// The filter that finds profiles by email (`campaign.email_filter`,
    /// or the API's own).
    email_filter: String,
    /// Whether the tenant was found to be the one the settings describe
    /// (`check_tenant`); until then the watch checks it every period.
    tenant_checked: AtomicBool,
    /// What the latest check of the tenant found wrong: readiness says it,
    /// and changes wait, until a check finds it right.
    tenant_problem: std::sync::Mutex<Option<String>>,
    /// What the proxy asks of the tenant.
    needs: Needs,
    /// Held while the tenant is checked: one check at a time, so that a
    /// late answer cannot overwrite a newer one.
    checking: tokio::sync::Mutex<()>,
    /// When the tenant was last checked while unsettled, and what holds
    /// changes back since (the API not known yet), if anything.
    tenant_last_check: std::sync::Mutex<Option<(Instant, Option<CampaignError>)>>,
}

impl CampaignClient {
    /// A client for `settings`, with its timeouts applied to every call.
    pub fn new(
        settings: CampaignSettings,
        needs: Needs,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout())
            .connect_timeout(settings.timeout())
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let campaign_root = settings
            .base_url
            .join(&format!("{}/campaign/", settings.organization))
            .expect("organization forms a valid path");
        let pace = Pace::new(settings.max_calls_per_second);
        let api = api::of(settings.api);
        let email_filter = settings
            .email_filter
            .as_ref()
            .map_or(api.email_filter, |filter| filter.as_str())
            .to_owned();
        Ok(Self {
            api,
            email_filter,
            tenant_checked: AtomicBool::new(false),
            tenant_problem: std::sync::Mutex::new(None),
            needs,
            checking: tokio::sync::Mutex::new(()),
            tenant_last_check: std::sync::Mutex::new(None),
            http,
            permits: Semaphore::new(settings.max_concurrency.max(1)),
            settings,
            campaign_root,
            tokens: TokenCache::default(),
            observed: std::sync::Mutex::new((
                Health::Unreachable("not asked yet".into()),
                Instant::now(),
            )),
            metrics,
            pace,
        })
    }

    /// Checks once that the resource keys are looked up in exists:
    /// a wrong organization or resource name would otherwise only show as
    /// every request failing. `Misconfigured` when Campaign says it does
    /// not exist; other errors when Campaign could not say. Whatever it
    /// finds, a call that failed included, is what readiness reports next.
    pub async fn check_resource(&self) -> Result<(), CampaignError> {
        let result = self.resource_answers().await;
        self.observe(result)
    }

    async fn resource_answers(&self) -> Result<(), CampaignError> {
        let resource = self.resource_name(match self.needs.key_kind {
            KeyKind::CustomKey => Resource::Extended,
            KeyKind::Email => self.api.email_resource,
        });
        let mut url = self.resource_url(resource);
        url.query_pairs_mut().append_pair("_lineCount", "1");
        let answer = self.get(url).await?;
        match answer.status {
            StatusCode::OK => answer.json::<Collection<serde::de::IgnoredAny>>().map(drop),
            _ => Err(answer.failure(resource)),
        }
    }

    /// What the latest call said about Campaign, unless the tenant was
    /// found not to be the one the settings describe: that stands until a
    /// check finds it right.
    pub fn health(&self) -> Health {
        match self.tenant_problem().clone() {
            Some(why) => Health::Misconfigured(why),
            None => self.observation().0.clone(),
        }
    }

    fn tenant_problem(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.tenant_problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tenant_last_check(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<(Instant, Option<CampaignError>)>> {
        self.tenant_last_check
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn observation(&self) -> std::sync::MutexGuard<'_, (Health, Instant)> {
        self.observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers what `result` says about Campaign.
    fn observe<T>(&self, result: Result<T, CampaignError>) -> Result<T, CampaignError> {
        *self.observation() = (Health::of(&result), Instant::now());
        result
    }

    /// Keeps [`CampaignClient::health`] fresh while no request asks
    /// Campaign anything: a check of the resource keys are looked up in
    /// `every` after the latest call, whatever made it, until `stop`. So
    /// readiness learns of an outage at most `every` and one call timeout
    /// after it began, and Campaign gets one call per period at most,
    /// however often readiness is probed. A tenant not yet found right
    /// (Campaign could not be asked at start, or said it differs) is
    /// checked in full every period instead, whatever else asks Campaign;
    /// one found right is asked which API it speaks every
    /// [`REPROBE_PERIODS`] periods (one call), so that a tenant Adobe
    /// migrates under a running proxy holds its changes, and says so,
    /// rather than meet PATCHes of a field it no longer has.
    pub async fn watch(&self, every: Duration, stop: CancellationToken) {
        let (mut tenant_checked_at, mut probed_at) = (Instant::now(), Instant::now());
        loop {
            let due = if self.tenant_settled() {
                let probe = (every * REPROBE_PERIODS).saturating_sub(probed_at.elapsed());
                let idle = every.saturating_sub(self.observation().1.elapsed());
                if probe.is_zero() {
                    probed_at = Instant::now();
                    let _ = self.check_api().await;
                    continue;
                }
                if idle.is_zero() {
                    let _ = self.check_resource().await;
                    continue;
                }
                probe.min(idle)
            } else {
                let due = every.saturating_sub(tenant_checked_at.elapsed());
                if due.is_zero() {
                    tenant_checked_at = Instant::now();
                    let _ = self.check_tenant().await;
                    continue;
                }
                due
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(due) => {}
            }
        }
    }

    /// Links must stay inside the tenant: a forged one would carry the
    /// access token elsewhere.
    fn in_tenant(&self, href: &Url) -> Result<(), CampaignError> {
        if href.as_str().starts_with(self.campaign_root.as_str()) {
            Ok(())
        } else {
            Err(CampaignError::Unexpected(
                "a link outside the tenant".into(),
            ))
        }
    }

    /// A call's turn in the pace, then a place among the calls in flight,
    /// waiting at most the call timeout for both together.
    async fn permit(&self) -> Result<SemaphorePermit<'_>, CampaignError> {
        let deadline = tokio::time::Instant::now() + self.settings.timeout();
        self.pace.take(is_worker(), deadline).await?;
        tokio::time::timeout_at(deadline, self.permits.acquire())
            .await
            .map_err(|_| CampaignError::Timeout)?
            .map_err(|_| CampaignError::Unavailable("the client was closed".into()))
    }

    /// The profile of the extended resource whose custom key is `key` (one
    /// path segment, escaped). Identities never hold `.`, `..`, nothing or
    /// a name of Campaign's own routes, which would name the collection,
    /// a filter or a field's values; refused here again all the same, and
    /// so are the filter and field the settings name.
    fn key_url(&self, key: &str) -> Result<Url, CampaignError> {
        let configured = [&self.email_filter, self.settings.opt_out_field.as_str()];
        if key.is_empty()
            || key.chars().all(|c| c == '.')
            || names_a_campaign_route(key)
            || configured.iter().any(|name| name.eq_ignore_ascii_case(key))
        {
            return Err(CampaignError::Unexpected(
                "a custom key that names no profile".into(),
            ));
        }
        let mut url = self.resource_url(&self.settings.extended_resource);
        url.path_segments_mut()
            .expect("http URLs have paths")
            .push(key);
        Ok(url)
    }

    /// The name the settings give `resource`.
    fn resource_name(&self, resource: Resource) -> &str {
        match resource {
            Resource::Standard => &self.settings.standard_resource,
            Resource::Extended => &self.settings.extended_resource,
        }
    }

    /// `<root><resource>/profile`.
    fn resource_url(&self, resource: &str) -> Url {
        let mut url = self.campaign_root.clone();
        url.path_segments_mut()
            .expect("http URLs have paths")
            .pop_if_empty()
            .extend([resource, "profile"]);
        url
    }

    /// A GET of `url`, in its turn of the pace and among the calls in flight.
    async fn get(&self, url: Url) -> Result<Answer, CampaignError> {
        let _permit = self.permit().await?;
        self.call(Method::GET, url, None).await
    }

    /// One authenticated call, its answer read, in a span of its own
    /// within the caller's (a request's, a delivery's): its logs say whose
    /// request it serves. Never the URL in a log: it holds the key.
    async fn call(
        &self,
        method: Method,
        url: Url,
        change: Option<(&serde_json::Value, &AtomicBool)>,
    ) -> Result<Answer, CampaignError> {
        let span = tracing::info_span!("campaign", method = %method);
        let started = Instant::now();
        let answer = self
            .exchange(method, url, change)
            .instrument(span.clone())
            .await;
        let ms = started.elapsed().as_millis() as u64;
        span.in_scope(|| match &answer {
            Ok(answer) => tracing::debug!(status = answer.status.as_u16(), ms, "Campaign answered"),
            Err(error) => tracing::debug!(%error, ms, "Campaign call failed"),
        });
        answer
    }

    /// Sends `method` to `url`; on a 401 the token is renewed and the call
    /// made once more (the token may have been revoked before its expiry).
    /// A change's `body` comes with the flag that says it went out, set
    /// just before it does (and not while waiting for a token): from then
    /// on its answer may be lost while Campaign takes it.
    async fn exchange(
        &self,
        method: Method,
        url: Url,
        change: Option<(&serde_json::Value, &AtomicBool)>,
    ) -> Result<Answer, CampaignError> {
        let body = change.map(|(body, _)| body);
        let token = self.token().await?;
        if let Some((_, sent)) = change {
            sent.store(true, Ordering::SeqCst);
        }
        let started = Instant::now();
        let response = self
            .request(method.clone(), url.clone(), &token, body)
            .send()
            .await;
        let response = self.timed(started, response)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Answer::read(response).await;
        }
        tracing::info!("Campaign refused the access token; renewing it once");
        self.tokens.invalidate(&token);
        let token = self.token().await?;
        let turn = tokio::time::Instant::now() + self.settings.timeout();
        self.pace.take(is_worker(), turn).await?;
        let started = Instant::now();
        let response = self.request(method, url, &token, body).send().await;
        Answer::read(self.timed(started, response)?).await
    }

    /// The credential's access token (from the cache or IMS) and client
    /// id, for another of Adobe's APIs its Developer Console project holds:
    /// Privacy Service is called with the same credential.
    pub async fn credential(&self) -> Result<(SecretString, &str), CampaignError> {
        Ok((self.token().await?, self.settings.client_id.as_str()))
    }

    /// Forgets `stale`, a token another API refused: the next call asks
    /// IMS for a new one.
    pub fn forget_token(&self, stale: &SecretString) {
        self.tokens.invalidate(stale);
    }

    /// The access token, from the cache or IMS (its call timed).
    async fn token(&self) -> Result<SecretString, CampaignError> {
        self.tokens
            .get(&self.http, &self.settings, &self.metrics)
            .await
    }

    /// Counts a Campaign call that began at `started`, answered or not.
    fn timed<T>(&self, started: Instant, sent: reqwest::Result<T>) -> Result<T, CampaignError> {
        self.metrics.called(Upstream::Campaign, started.elapsed());
        Ok(sent?)
    }

    /// The headers exactly as Adobe's examples send them.
    fn request(
        &self,
        method: Method,
        url: Url,
        token: &SecretString,
        body: Option<&serde_json::Value>,
    ) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, url)
            .bearer_auth(token.expose_secret())
            .header("X-Api-Key", &self.settings.client_id)
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::CONTENT_TYPE, "application/json;charset=utf-8");
        match body {
            Some(body) => request.body(body.to_string()),
            None => request,
        }
    }
}
