//! Adobe's Privacy Service: the consent endpoint that carries a choice
//! about sale to every Adobe product that sells or shares.
//!
//! `POST <base>/data/core/privacy/consent` with
//! `{"optOutOfSale": bool, "entities": [{"nameSpace": …, "values": […]}]}`,
//! answered `202 Accepted` without a body (Experience League, "Consent
//! endpoint"). Each call carries one identity: its deliveries are ordered
//! and retried on their own ([`crate::store`]'s `consent_pending`).

mod delivery;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};
use url::Url;

pub use delivery::ConsentDelivery;

use crate::campaign::{CampaignClient, CampaignError};
use crate::config::PrivacyServiceSettings;
use crate::identity::{AdobeId, Ecid, ProfileKey};
use crate::limits::Limit;
use crate::metrics::{Limited, Metrics, Upstream};
use crate::store::Choice;

/// Which identities of a request Privacy Service is told its choice for,
/// and how often one client may have a browser's own choice told.
#[derive(Clone)]
pub struct Tell {
    enabled: bool,
    /// Browsers' own choices told per client address.
    by_client: Arc<Limit>,
    /// And in all, whatever the clients.
    overall: Arc<Limit>,
    /// Where a choice the limit turned away is counted.
    metrics: Arc<Metrics>,
}

impl Tell {
    /// As `settings` say.
    pub fn new(settings: &PrivacyServiceSettings, metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            enabled: settings.enabled,
            by_client: Arc::new(Limit::new(
                settings.per_client_per_minute,
                Duration::from_secs(60),
            )),
            overall: Arc::new(Limit::new(
                settings.browsers_per_minute,
                Duration::from_secs(60),
            )),
        }
    }

    /// Whether Privacy Service is told anything.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The identities Adobe knows, for a choice about sale while Privacy
    /// Service is told: the address of `key` (a custom key is the host's
    /// own and means nothing to Adobe's products), and the page's ECID.
    pub fn identities(
        &self,
        key: Option<&ProfileKey>,
        ecid: Option<&Ecid>,
        choice: Choice,
    ) -> Vec<AdobeId> {
        if !self.enabled || choice != Choice::Sale {
            return Vec::new();
        }
        let address = match key {
            Some(ProfileKey::Email(address)) => Some(AdobeId::Email(address.clone())),
            _ => None,
        };
        address
            .into_iter()
            .chain(ecid.cloned().map(AdobeId::Ecid))
            .collect()
    }

    /// Whether `client` may have one more browser's own choice told now,
    /// or how long it waits: within its own limit, and within all
    /// clients' (addresses are many; an IPv6 /48 alone holds 65,536
    /// clients).
    pub fn admit(&self, client: &str) -> Result<(), Duration> {
        self.by_client
            .allow(client)
            .and_then(|()| self.overall.allow(""))
            .inspect_err(|_| self.metrics.limited(Limited::Browser))
    }
}

/// Why a consent did not reach Privacy Service, in words for operators
/// (never an identity, a token or a body).
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// No answer within `privacy_service.timeout_ms`.
    #[error("Privacy Service timed out")]
    Timeout,
    /// It could not be reached, or answered a failure: nothing was taken.
    #[error("Privacy Service unavailable: {0}")]
    Unavailable(String),
    /// The call went out and its answer broke off: it may have been taken.
    #[error("Privacy Service answer interrupted: {0}")]
    Interrupted(String),
    /// `401`: the access token was refused (it is renewed once).
    #[error("Privacy Service refused the access token")]
    TokenRefused,
    /// `429`, with `Retry-After` if it gave one.
    #[error("Privacy Service is throttling requests")]
    Throttled(Option<Duration>),
    /// The settings or the credential are wrong: retried, as settings get
    /// fixed.
    #[error("Privacy Service settings look wrong: {0}")]
    Misconfigured(String),
    /// An answer the documentation does not give: counted towards the
    /// dead letters.
    #[error("unexpected Privacy Service answer: {0}")]
    Unexpected(String),
    /// A `4xx` refusal of the request itself: counted towards the dead
    /// letters.
    #[error("Privacy Service refused: {0}")]
    Refused(String),
}

impl ConsentError {
    /// Whether asking again the same way is unlikely to help.
    pub fn is_strike(&self) -> bool {
        matches!(self, Self::Unexpected(_) | Self::Refused(_))
    }

    /// Whether the consent may have been taken all the same.
    fn may_have_landed(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Interrupted(_) | Self::Unexpected(_)
        )
    }

    /// How long `Retry-After` asked to wait, if it did.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled(after) => *after,
            _ => None,
        }
    }
}

/// IMS's failures, as Privacy Service's: the token is the same.
impl From<CampaignError> for ConsentError {
    fn from(error: CampaignError) -> Self {
        match error {
            CampaignError::Timeout => Self::Timeout,
            CampaignError::Misconfigured(why) => Self::Misconfigured(why),
            other => Self::Unavailable(format!("no access token: {other}")),
        }
    }
}

/// The client. Cheap to share: one connection pool; the token is the
/// Campaign client's.
pub struct PrivacyServiceClient {
    http: reqwest::Client,
    consent_url: Url,
    org: String,
    /// Holds the credential and its token.
    campaign: Arc<CampaignClient>,
    /// Bounds the calls in flight (`max_concurrency`).
    permits: Semaphore,
    /// One call per tick (`max_calls_per_second`), when paced.
    pace: Option<Mutex<tokio::time::Interval>>,
    metrics: Arc<Metrics>,
    /// When a refused token was last renewed: the token is Campaign's too,
    /// and a credential that lacks the Privacy Service API would otherwise
    /// make every call ask IMS for a new one (IMS throttles that, and
    /// Campaign's calls would pay).
    renewed: std::sync::Mutex<Option<Instant>>,
    /// What the latest call found wrong with the settings, for readiness.
    problem: std::sync::Mutex<Option<String>>,
}

/// The least time between two renewals of a token Privacy Service refused.
const RENEWAL_GAP: Duration = Duration::from_secs(60);

impl PrivacyServiceClient {
    /// A client for `settings` (checked), with its timeout on every call.
    pub fn new(
        settings: &PrivacyServiceSettings,
        campaign: Arc<CampaignClient>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout())
            .connect_timeout(settings.timeout())
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let pace = (settings.max_calls_per_second > 0).then(|| {
            let every = Duration::from_secs(1) / settings.max_calls_per_second;
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            Mutex::new(ticks)
        });
        Ok(Self {
            http,
            consent_url: settings
                .base_url
                .join("data/core/privacy/consent")
                .expect("a path joins any base URL"),
            org: settings.ims_org.clone().unwrap_or_default(),
            campaign,
            permits: Semaphore::new(settings.max_concurrency.max(1)),
            pace,
            metrics,
            renewed: std::sync::Mutex::new(None),
            problem: std::sync::Mutex::new(None),
        })
    }

    /// What the latest call found wrong with the settings or the
    /// credential, if anything: readiness says it.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Tells Privacy Service `id`'s choice (`optOutOfSale`). `sent` is set
    /// once the call has gone out: its answer may then be lost while the
    /// consent was taken. A token refused once is renewed and the call
    /// made again.
    pub async fn send(
        &self,
        id: &AdobeId,
        opt_out: bool,
        sent: &AtomicBool,
    ) -> Result<(), ConsentError> {
        let _permit = self.permits.acquire().await.expect("never closed");
        let body = json!({
            "optOutOfSale": opt_out,
            "entities": [{"nameSpace": id.namespace(), "values": id.values()}],
        });
        let (token, client_id) = self.campaign.credential().await?;
        let answered = match self.call(&body, &token, client_id, sent).await {
            Err(ConsentError::TokenRefused) => self.with_another_token(&body, &token, sent).await,
            answered => answered,
        };
        let answered = answered.map_err(|error| match error {
            ConsentError::TokenRefused => ConsentError::Misconfigured(
                "401: the access token was refused (renewed at most once a minute): check that \
                 the credential holds the Privacy Service API, and campaign.scope"
                    .into(),
            ),
            error => error,
        });
        self.observe(&answered);
        answered
    }

    /// The call again, after `refused`: with the token another call renewed
    /// meanwhile, else with one renewed now, if one may be.
    async fn with_another_token(
        &self,
        body: &serde_json::Value,
        refused: &SecretString,
        sent: &AtomicBool,
    ) -> Result<(), ConsentError> {
        let (current, _) = self.campaign.credential().await?;
        if current.expose_secret() == refused.expose_secret() {
            if !self.may_renew() {
                return Err(ConsentError::TokenRefused);
            }
            self.campaign.forget_token(refused);
        }
        let (token, client_id) = self.campaign.credential().await?;
        self.call(body, &token, client_id, sent).await
    }

    /// Whether a refused token may be renewed now (at most once a
    /// [`RENEWAL_GAP`]).
    fn may_renew(&self) -> bool {
        let mut renewed = self
            .renewed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if renewed.is_some_and(|at| at.elapsed() < RENEWAL_GAP) {
            return false;
        }
        *renewed = Some(Instant::now());
        true
    }

    /// Keeps what `answered` says of the settings: a problem, or none.
    fn observe(&self, answered: &Result<(), ConsentError>) {
        let found = match answered {
            Ok(()) => None,
            Err(ConsentError::Misconfigured(why)) => Some(why.clone()),
            // An outage says nothing about the settings.
            Err(_) => return,
        };
        *self
            .problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = found;
    }

    async fn call(
        &self,
        body: &serde_json::Value,
        token: &SecretString,
        client_id: &str,
        sent: &AtomicBool,
    ) -> Result<(), ConsentError> {
        if let Some(pace) = &self.pace {
            pace.lock().await.tick().await;
        }
        let request = self
            .http
            .post(self.consent_url.clone())
            .bearer_auth(token.expose_secret())
            .header("x-api-key", client_id)
            .header("x-gw-ims-org-id", &self.org)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let started = Instant::now();
        let answer = request.send().await;
        self.metrics
            .called(Upstream::PrivacyService, started.elapsed());
        let response = match answer {
            Ok(response) => response,
            Err(error) if error.is_connect() => {
                return Err(ConsentError::Unavailable("could not connect".into()));
            }
            Err(error) => {
                sent.store(true, Ordering::SeqCst);
                return Err(if error.is_timeout() {
                    ConsentError::Timeout
                } else {
                    ConsentError::Interrupted("no answer".into())
                });
            }
        };
        sent.store(true, Ordering::SeqCst);
        judge(&response)
    }
}

/// What Privacy Service's status says. Only `202` is its documented
/// success; any other `2xx` is not taken for one.
fn judge(response: &reqwest::Response) -> Result<(), ConsentError> {
    let status = response.status();
    match status {
        StatusCode::ACCEPTED => Ok(()),
        StatusCode::UNAUTHORIZED => Err(ConsentError::TokenRefused),
        StatusCode::FORBIDDEN => Err(ConsentError::Misconfigured(
            "403: the credential lacks the Privacy Service API or its product profile, or \
             privacy_service.ims_org is not its organization"
                .into(),
        )),
        StatusCode::NOT_FOUND => Err(ConsentError::Misconfigured(
            "404: check privacy_service.base_url".into(),
        )),
        StatusCode::TOO_MANY_REQUESTS => Err(ConsentError::Throttled(retry_after(response))),
        // A gateway's 408, as Campaign's: nothing was taken.
        status if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT => {
            Err(ConsentError::Unavailable(format!("answered {status}")))
        }
        status if status.is_client_error() => {
            Err(ConsentError::Refused(format!("answered {status}")))
        }
        status => Err(ConsentError::Unexpected(format!("answered {status}"))),
    }
}

/// `Retry-After` in seconds, as Adobe's gateways give it.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds = response.headers().get(header::RETRY_AFTER)?.to_str().ok()?;
    seconds.trim().parse().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_choices_are_limited_per_client_and_in_all() {
        let settings = PrivacyServiceSettings {
            per_client_per_minute: 2,
            browsers_per_minute: 3,
            ..PrivacyServiceSettings::default()
        };
        let metrics = Arc::new(Metrics::default());
        let tell = Tell::new(&settings, metrics.clone());
        assert!(tell.admit("a").is_ok() && tell.admit("a").is_ok());
        assert!(tell.admit("a").is_err(), "the client's own limit");
        assert!(tell.admit("b").is_ok());
        assert!(tell.admit("c").is_err(), "all clients' limit");
        let counted = metrics.render(None);
        assert!(
            counted.contains("ccpa_rate_limited_total{limit=\"browser\"} 2"),
            "{counted}"
        );
    }
}
