//! A typed client for the two Adobe APIs the proxy speaks: IMS (an access
//! token for the OAuth server-to-server credential) and Campaign Standard's
//! profile resources.
//!
//! The PKey Campaign returns only ever lives in a [`Profile`] for the length
//! of one request: Adobe forbids storing it outside Campaign.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use url::Url;

use crate::config::CampaignSettings;
use crate::identity::ProfileKey;

/// Why a Campaign call did not give an answer. No variant carries an
/// upstream body, a URL (it may hold an email) or a token.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// No profile has the user's key.
    #[error("no Campaign profile for this key")]
    ProfileNotFound,
    /// Several profiles share the user's email.
    #[error("several Campaign profiles match this key")]
    AmbiguousProfile,
    /// IMS or Campaign did not answer within the timeout.
    #[error("upstream timed out")]
    Timeout,
    /// IMS or Campaign refused, failed, or could not be reached.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// Campaign answered 429; `Retry-After` said when to come back, if it did.
    #[error("Campaign is throttling requests")]
    Throttled(Option<Duration>),
    /// An answer the proxy does not understand.
    #[error("unexpected upstream answer: {0}")]
    Unexpected(&'static str),
}

impl From<reqwest::Error> for CampaignError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else {
            // `without_url`: a byEmail URL carries the user's email.
            Self::Unavailable(error.without_url().to_string())
        }
    }
}

/// A profile as far as the proxy needs it, for the length of one request.
#[derive(Debug)]
pub struct Profile {
    /// Campaign's `ccpaOptOut`.
    pub ccpa_opt_out: bool,
    /// The `href` Campaign gave for it: where changes go.
    href: Url,
}

/// The part of a profile the proxy reads; everything else is dropped unread.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileBody {
    ccpa_opt_out: bool,
    href: Url,
}

#[derive(Debug, Deserialize)]
struct Collection {
    content: Vec<ProfileBody>,
}

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
}

impl CampaignClient {
    /// A client for `settings`, with its timeouts applied to every call.
    pub fn new(settings: CampaignSettings) -> Result<Self, reqwest::Error> {
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
        Ok(Self {
            http,
            permits: Semaphore::new(settings.max_concurrency.max(1)),
            settings,
            campaign_root,
            tokens: TokenCache::default(),
        })
    }

    /// Finds the profile for `key`: exactly one, or an error.
    pub async fn find(&self, key: &ProfileKey) -> Result<Profile, CampaignError> {
        let _permit = self.permit().await?;
        let response = self.send(Method::GET, self.lookup_url(key), None).await?;
        let profile = match (key, response.status()) {
            (_, StatusCode::NOT_FOUND) => return Err(CampaignError::ProfileNotFound),
            (_, status) if !status.is_success() => return Err(failure(&response)),
            (ProfileKey::CustomKey(_), _) => response.json::<ProfileBody>().await?,
            (ProfileKey::Email(_), _) => {
                let mut matches = response.json::<Collection>().await?.content;
                match matches.len() {
                    0 => return Err(CampaignError::ProfileNotFound),
                    1 => matches.remove(0),
                    _ => return Err(CampaignError::AmbiguousProfile),
                }
            }
        };
        if !profile
            .href
            .as_str()
            .starts_with(self.campaign_root.as_str())
        {
            return Err(CampaignError::Unexpected("profile link outside the tenant"));
        }
        Ok(Profile {
            ccpa_opt_out: profile.ccpa_opt_out,
            href: profile.href,
        })
    }

    /// Sets `ccpaOptOut` on `profile`, following the link Campaign gave.
    pub async fn set_opt_out(&self, profile: &Profile, value: bool) -> Result<(), CampaignError> {
        let _permit = self.permit().await?;
        let body = json!({ "ccpaOptOut": value });
        let response = self
            .send(Method::PATCH, profile.href.clone(), Some(&body))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Err(CampaignError::ProfileNotFound),
            status if status.is_success() => Ok(()),
            _ => Err(failure(&response)),
        }
    }

    /// A place among the calls in flight, waiting at most the call timeout.
    async fn permit(&self) -> Result<SemaphorePermit<'_>, CampaignError> {
        tokio::time::timeout(self.settings.timeout(), self.permits.acquire())
            .await
            .map_err(|_| CampaignError::Timeout)?
            .map_err(|_| CampaignError::Unexpected("the client was closed"))
    }

    /// Whether IMS gives (or has cached) an access token.
    pub async fn is_ready(&self) -> bool {
        self.tokens.get(&self.http, &self.settings).await.is_ok()
    }

    fn lookup_url(&self, key: &ProfileKey) -> Url {
        let mut url = self.campaign_root.clone();
        {
            let mut path = url.path_segments_mut().expect("http URLs have paths");
            path.pop_if_empty();
            match key {
                ProfileKey::CustomKey(key) => {
                    path.extend([self.settings.extended_resource.as_str(), "profile", key]);
                }
                ProfileKey::Email(_) => {
                    path.extend([
                        self.settings.standard_resource.as_str(),
                        "profile",
                        "byEmail",
                    ]);
                }
            }
        }
        if let ProfileKey::Email(email) = key {
            url.query_pairs_mut().append_pair("email", email);
        }
        url
    }

    /// One authenticated call; on a 401 the token is renewed and the call
    /// made once more (the token may have been revoked before its expiry).
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response, CampaignError> {
        let token = self.tokens.get(&self.http, &self.settings).await?;
        let response = self
            .request(method.clone(), url.clone(), &token, body)
            .send()
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        tracing::info!("Campaign refused the access token; renewing it once");
        self.tokens.invalidate(&token).await;
        let token = self.tokens.get(&self.http, &self.settings).await?;
        Ok(self.request(method, url, &token, body).send().await?)
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

/// The error for a non-success answer; 429 keeps its `Retry-After` (seconds).
fn failure(response: &reqwest::Response) -> CampaignError {
    match response.status() {
        StatusCode::TOO_MANY_REQUESTS => CampaignError::Throttled(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_secs),
        ),
        status => CampaignError::Unavailable(format!("Campaign answered {status}")),
    }
}

/// The IMS access token, fetched lazily and renewed before it expires.
///
/// The mutex is held across the token request, so however many requests
/// arrive at once only one asks IMS (Adobe throttles integrations that mint
/// too many tokens); the others wait and reuse its answer.
#[derive(Default)]
struct TokenCache {
    current: Mutex<Option<AccessToken>>,
}

struct AccessToken {
    secret: SecretString,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
    expires_in: u64,
}

impl TokenCache {
    async fn get(
        &self,
        http: &reqwest::Client,
        settings: &CampaignSettings,
    ) -> Result<SecretString, CampaignError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref().filter(|t| t.renew_at > Instant::now()) {
            return Ok(token.secret.clone());
        }
        let token = fetch_token(http, settings).await?;
        let secret = token.secret.clone();
        *current = Some(token);
        Ok(secret)
    }

    /// Forgets `stale` unless another request already replaced it.
    async fn invalidate(&self, stale: &SecretString) {
        let mut current = self.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|t| t.secret.expose_secret() == stale.expose_secret())
        {
            *current = None;
        }
    }
}

async fn fetch_token(
    http: &reqwest::Client,
    settings: &CampaignSettings,
) -> Result<AccessToken, CampaignError> {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", settings.client_id.as_str()),
        ("client_secret", settings.client_secret.expose_secret()),
        ("scope", settings.scope.as_str()),
    ];
    let response = http
        .post(settings.ims_token_url.clone())
        .form(&form)
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(CampaignError::Unavailable(format!(
            "IMS answered {}",
            response.status()
        )));
    }
    let answer: TokenAnswer = response.json().await?;
    tracing::info!(
        expires_in = answer.expires_in,
        "obtained an IMS access token"
    );
    Ok(AccessToken {
        secret: answer.access_token,
        renew_at: Instant::now() + renew_after(Duration::from_secs(answer.expires_in)),
    })
}

/// Renew one twenty-fourth before expiry (Adobe: every 23 of 24 hours), so
/// that a token never expires between being read and being used.
fn renew_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(lifetime / 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_an_hour_early_for_a_day_long_token() {
        assert_eq!(
            renew_after(Duration::from_secs(86_400)),
            Duration::from_secs(82_800)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }
}
