//! A typed client for the two Adobe APIs the proxy speaks: IMS (an access
//! token for the OAuth server-to-server credential) and Campaign Standard's
//! profile resources.
//!
//! The PKey Campaign returns only ever lives in a [`Profile`] for the length
//! of one request: Adobe forbids storing it outside Campaign.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use reqwest::{Method, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use url::Url;

use crate::config::{CampaignSettings, KeyKind};
use crate::identity::{EmailAddress, ProfileKey, names_a_campaign_route};
use crate::limits::refill;
use crate::metrics::{Metrics, Upstream};
use crate::store::Choice;

/// Why a Campaign call did not give an answer. No variant carries an
/// upstream body, a URL (it may hold an email) or a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CampaignError {
    /// No profile has the user's key: Campaign said "document not found"
    /// to a look-up by custom key, or `byEmail` matched none.
    #[error("no Campaign profile for this key")]
    ProfileNotFound,
    /// Several profiles share the user's email.
    #[error("several Campaign profiles match this key")]
    AmbiguousProfile,
    /// More profiles share the address than `campaign.max_email_matches`:
    /// more than any person has, so an operator looks before all of them
    /// are changed.
    #[error("more than {0} Campaign profiles share this address")]
    TooManyMatches(usize),
    /// IMS or Campaign did not answer within the timeout.
    #[error("upstream timed out")]
    Timeout,
    /// IMS or Campaign answered a failure, or could not be connected to:
    /// nothing was taken.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// The call went out, and its answer broke off: what Campaign did with
    /// it is unknown.
    #[error("upstream answer interrupted: {0}")]
    Interrupted(String),
    /// Campaign answered 429; `Retry-After` said when to come back, if it did.
    #[error("Campaign is throttling requests")]
    Throttled(Option<Duration>),
    /// The proxy's own pace (`max_calls_per_second`) had no turn within the
    /// call timeout: nothing was sent, and Campaign is not at fault.
    #[error("the proxy's calls to Campaign are at their pace")]
    Paced(Duration),
    /// IMS or Campaign says the settings are wrong: a 404 that is not
    /// Campaign's "document not found" (a wrong organization or resource
    /// name), or a refused credential. Retried: settings get fixed.
    #[error("Campaign's settings look wrong: {0}")]
    Misconfigured(String),
    /// A success whose body is not the documented one: an HTML page from a
    /// gateway, JSON of another shape, a link outside the tenant. Never
    /// taken as success; what Campaign did is unknown.
    #[error("unexpected upstream answer: {0}")]
    Unexpected(String),
    /// A status the API does not give for this call (an unexpected `4xx`):
    /// Campaign did not take it.
    #[error("upstream refused: {0}")]
    Refused(String),
}

impl CampaignError {
    /// Whether the answer was one the proxy cannot understand, as opposed
    /// to an outage: asking again the same way is unlikely to help, so
    /// delivery gives up after a bounded number of these.
    pub fn is_strike(&self) -> bool {
        matches!(self, Self::Unexpected(_) | Self::Refused(_))
    }

    /// Whether a change sent with the call that failed so may have been
    /// made all the same: no answer came, or not one the proxy can read.
    pub fn may_have_applied(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Interrupted(_) | Self::Unexpected(_)
        )
    }
}

impl From<reqwest::Error> for CampaignError {
    fn from(error: reqwest::Error) -> Self {
        let (timeout, connect) = (error.is_timeout(), error.is_connect());
        // `without_url`: a byEmail URL carries the user's email.
        let text = error.without_url().to_string();
        if timeout {
            Self::Timeout
        } else if connect {
            Self::Unavailable(text)
        } else {
            Self::Interrupted(text)
        }
    }
}

/// A profile as far as the proxy needs it, for the length of one request.
#[derive(Debug)]
pub struct Profile {
    /// Campaign's `ccpaOptOut`.
    pub ccpa_opt_out: bool,
    /// The field `campaign.sensitive_field` names, when one does and the
    /// profile was read in the extended resource (the standard one, where
    /// `byEmail` looks, has no custom fields); an error when the answer
    /// lacks it. It never stands in the way of the opt-out.
    limit_sensitive: Option<Result<bool, CampaignError>>,
    /// The `href` Campaign gave for it: where changes go.
    href: Url,
}

impl Profile {
    /// What Campaign holds for `choice`. A sensitive field that was not
    /// read, or could not be, is an error, never a `false`.
    pub fn value(&self, choice: Choice) -> Result<bool, CampaignError> {
        match (choice, &self.limit_sensitive) {
            (Choice::Sale, _) => Ok(self.ccpa_opt_out),
            (Choice::Sensitive, Some(limited)) => limited.clone(),
            (Choice::Sensitive, None) => Err(CampaignError::Misconfigured(
                "the sensitive-information field is read by custom key only".into(),
            )),
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

/// The part of a profile the proxy reads. The sensitive field's name is a
/// setting, so the other fields are kept until it is picked out.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileBody {
    ccpa_opt_out: bool,
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

/// Campaign's error body, as far as the proxy reads it.
#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    message: String,
}

/// The code Campaign puts in a 404 for a key no profile has.
const DOCUMENT_NOT_FOUND: &str = "RST-360011";

/// Profiles asked for on a page of `byEmail`: Campaign's default, the only
/// page size Adobe documents (an address rarely has more).
const PAGE: usize = 25;

/// Far above any answer the proxy asks for (a profile is a few KB, a page
/// of `byEmail` holds [`PAGE`] of them); an answer beyond is not Campaign's.
const LARGEST_ANSWER: usize = 1024 * 1024;

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
}

tokio::task_local! {
    /// Set for the retry worker's attempts: they leave customers the last
    /// part of the pace.
    static WORKER: bool;
}

/// Whether the running task is the retry worker's.
fn is_worker() -> bool {
    WORKER.try_with(|worker| *worker).unwrap_or(false)
}

/// Runs `attempt` as the retry worker's.
pub fn as_worker<F: Future>(attempt: F) -> impl Future<Output = F::Output> {
    WORKER.scope(true, attempt)
}

/// A token bucket of calls: `per_second` on average, as many at once. The
/// retry worker may not take the last fifth: a customer's call waits for
/// no backlog.
struct Pace {
    per_second: f64,
    tokens: std::sync::Mutex<(f64, tokio::time::Instant)>,
    /// Who waits for a token, customers' calls and the worker's apart, each
    /// in order of arrival (tokio's mutex is fair). Without it a waiter that
    /// woke a moment late lost the token to a later one, again and again:
    /// an attempt's second call (the PATCH after its look-up) waited behind
    /// look-ups that came after it, up to its deadline.
    queues: [tokio::sync::Mutex<()>; 2],
}

impl Pace {
    fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            tokens: std::sync::Mutex::new((f64::from(per_second), tokio::time::Instant::now())),
            queues: Default::default(),
        }
    }

    /// Takes a call's token, waiting for one until `deadline`.
    async fn take(
        &self,
        worker: bool,
        deadline: tokio::time::Instant,
    ) -> Result<(), CampaignError> {
        if self.per_second == 0.0 {
            return Ok(());
        }
        // A fifth, but never so much that the worker could get no turn.
        let floor = if worker {
            (self.per_second / 5.0).min(self.per_second - 1.0)
        } else {
            0.0
        };
        let queue = &self.queues[usize::from(worker)];
        let Ok(_turn) = tokio::time::timeout_at(deadline, queue.lock()).await else {
            let one = Duration::from_secs_f64(1.0 / self.per_second);
            return Err(CampaignError::Paced(one));
        };
        loop {
            let wait = {
                let mut guard = self
                    .tokens
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let (tokens, counted) = &mut *guard;
                let now = tokio::time::Instant::now();
                let elapsed = now.duration_since(*counted);
                *tokens = refill(*tokens, elapsed, self.per_second, self.per_second);
                *counted = now;
                if *tokens >= 1.0 + floor {
                    *tokens -= 1.0;
                    return Ok(());
                }
                Duration::from_secs_f64((1.0 + floor - *tokens) / self.per_second)
            };
            if tokio::time::Instant::now() + wait > deadline {
                return Err(CampaignError::Paced(wait));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// What the latest call said about Campaign (IMS included): what readiness
/// reports, without a call of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// It answered as documented.
    Ok,
    /// It could not be reached, timed out, failed or throttled.
    Unreachable(String),
    /// It says the settings are wrong.
    Misconfigured(String),
    /// It answered in a way the proxy cannot understand.
    Unexpected(String),
}

impl Health {
    /// The word readiness reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unreachable(_) => "unreachable",
            Self::Misconfigured(_) => "misconfigured",
            Self::Unexpected(_) => "unexpected",
        }
    }

    /// What is wrong, in words for operators (no bodies, URLs or tokens).
    pub fn problem(&self) -> Option<&str> {
        match self {
            Self::Ok => None,
            Self::Unreachable(why) | Self::Misconfigured(why) | Self::Unexpected(why) => Some(why),
        }
    }

    fn of<T>(result: &Result<T, CampaignError>) -> Self {
        match result {
            // Our own pace says nothing of Campaign.
            Ok(_)
            | Err(
                CampaignError::ProfileNotFound
                | CampaignError::AmbiguousProfile
                | CampaignError::TooManyMatches(_)
                | CampaignError::Paced(_),
            ) => Self::Ok,
            Err(CampaignError::Misconfigured(why)) => Self::Misconfigured(why.clone()),
            Err(CampaignError::Unexpected(why) | CampaignError::Refused(why)) => {
                Self::Unexpected(why.clone())
            }
            Err(
                error @ (CampaignError::Timeout
                | CampaignError::Unavailable(_)
                | CampaignError::Interrupted(_)
                | CampaignError::Throttled(_)),
            ) => Self::Unreachable(error.to_string()),
        }
    }
}

impl CampaignClient {
    /// A client for `settings`, with its timeouts applied to every call.
    pub fn new(settings: CampaignSettings, metrics: Arc<Metrics>) -> Result<Self, reqwest::Error> {
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
        Ok(Self {
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

    /// Finds the profile for `key`: exactly one, or an error. A profile
    /// whose sensitive field cannot be read is found all the same (the
    /// opt-out does not need it); readiness says what is wrong.
    pub async fn find(&self, key: &ProfileKey) -> Result<Profile, CampaignError> {
        let result = self.look_up(key).await;
        let seen = match &result {
            Ok(profile) => profile.problem(),
            Err(error) => Err(error.clone()),
        };
        *self.observation() = (Health::of(&seen), Instant::now());
        result
    }

    async fn look_up(&self, key: &ProfileKey) -> Result<Profile, CampaignError> {
        match key {
            ProfileKey::CustomKey(custom) => {
                let body = self.by_custom_key(custom).await?;
                self.carries(&body, custom)?;
                self.profile_of(body, true)
            }
            ProfileKey::Email(address) => {
                let body = self.by_email(address).await?;
                self.profile_of(body, false)
            }
        }
    }

    /// Whether the profile Campaign answered a look-up of `key` with holds
    /// that key (unless `campaign.verify_returned_key` is off): a proxy,
    /// cache or bug that answers with another customer's profile must not
    /// get that profile read or changed.
    fn carries(&self, body: &ProfileBody, key: &str) -> Result<(), CampaignError> {
        let field = &self.settings.custom_key_field;
        match body.rest.get(field.as_str()) {
            _ if !self.settings.verify_returned_key => Ok(()),
            Some(serde_json::Value::String(held)) if held == key => Ok(()),
            // A key field of a numeric type holds the same key.
            Some(serde_json::Value::Number(held)) if held.to_string() == key => Ok(()),
            _ => Err(CampaignError::Unexpected(format!(
                "Campaign answered a look-up by custom key with a profile whose {field} is \
                 not that key"
            ))),
        }
    }

    /// The profile `body` describes, checked: its link inside the tenant,
    /// and, read in the `extended` resource where the settings name a
    /// sensitive field, that field a boolean.
    fn profile_of(&self, body: ProfileBody, extended: bool) -> Result<Profile, CampaignError> {
        self.in_tenant(&body.href)?;
        let limit_sensitive = match &self.settings.sensitive_field {
            Some(field) if extended => Some(match body.rest.get(field.as_str()) {
                Some(serde_json::Value::Bool(limited)) => Ok(*limited),
                _ => Err(CampaignError::Misconfigured(format!(
                    "Campaign's profiles have no boolean {field}: check campaign.sensitive_field"
                ))),
            }),
            _ => None,
        };
        Ok(Profile {
            ccpa_opt_out: body.ccpa_opt_out,
            limit_sensitive,
            href: body.href,
        })
    }

    async fn by_custom_key(&self, key: &str) -> Result<ProfileBody, CampaignError> {
        let resource = &self.settings.extended_resource;
        let _permit = self.permit().await?;
        let answer = self.call(Method::GET, self.key_url(key)?, None).await?;
        match answer.status {
            StatusCode::OK => answer.json(),
            StatusCode::NOT_FOUND if answer.is_document_not_found() => {
                Err(CampaignError::ProfileNotFound)
            }
            _ => Err(answer.failure(resource)),
        }
    }

    /// The one profile with the address, in any of its spellings.
    async fn by_email(&self, address: &EmailAddress) -> Result<ProfileBody, CampaignError> {
        let mut found = self
            .every_spelling(address, 1)
            .await
            .map_err(|error| match error {
                CampaignError::TooManyMatches(_) => CampaignError::AmbiguousProfile,
                error => error,
            })?;
        found.pop().ok_or(CampaignError::ProfileNotFound)
    }

    /// Every profile that has the address, in any of its spellings: an
    /// opt-out by email reaches them all. More than
    /// `campaign.max_email_matches` is [`CampaignError::TooManyMatches`].
    pub async fn find_every(&self, address: &EmailAddress) -> Result<Vec<Profile>, CampaignError> {
        let result = self.every_match(address).await;
        self.observe(result)
    }

    async fn every_match(&self, address: &EmailAddress) -> Result<Vec<Profile>, CampaignError> {
        let most = self.settings.max_email_matches;
        self.every_spelling(address, most)
            .await?
            .into_iter()
            .map(|body| self.profile_of(body, false))
            .collect()
    }

    /// The profiles `byEmail` finds for each spelling of `address`, each
    /// once, or `TooManyMatches(most)` as soon as there are more.
    async fn every_spelling(
        &self,
        address: &EmailAddress,
        most: usize,
    ) -> Result<Vec<ProfileBody>, CampaignError> {
        let mut found: Vec<ProfileBody> = Vec::new();
        for spelling in address.spellings() {
            self.matches(spelling, most, &mut found).await?;
        }
        Ok(found)
    }

    /// Adds to `found` the profiles `byEmail` finds for `spelling` that it
    /// lacks, page after page to the last (following Campaign's `next`
    /// links, which must stay in the tenant), or stops at more than `most`.
    /// Each page adds a profile or ends the look-up, so a link that leads
    /// back cannot loop.
    async fn matches(
        &self,
        spelling: &str,
        most: usize,
        found: &mut Vec<ProfileBody>,
    ) -> Result<(), CampaignError> {
        let resource = &self.settings.standard_resource;
        let mut url = self.resource_url(resource);
        url.path_segments_mut()
            .expect("http URLs have paths")
            .push("byEmail");
        // A page big enough to tell "more than `most`"; and the `next`
        // link, which Campaign leaves out on a large table unless asked.
        let page = PAGE.min(most.saturating_add(1)).to_string();
        url.query_pairs_mut()
            .append_pair("email", spelling)
            .append_pair("_lineCount", &page)
            .append_pair("_forcePagination", "true");
        loop {
            let answer = {
                let _permit = self.permit().await?;
                self.call(Method::GET, url, None).await?
            };
            if answer.status != StatusCode::OK {
                return Err(answer.failure(resource));
            }
            let page = answer.json::<Collection<ProfileBody>>()?;
            let before = found.len();
            for body in page.content {
                if found.iter().all(|seen| seen.href != body.href) {
                    found.push(body);
                }
            }
            if found.len() > most {
                return Err(CampaignError::TooManyMatches(most));
            }
            match page.next {
                Some(next) if found.len() > before => {
                    self.in_tenant(&next.href)?;
                    url = next.href;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Creates a profile for `key` with `choice` set to `value` (the seed's
    /// POST): the custom key in `custom_key_field` of the extended
    /// resource, or the address (its key) in the standard one.
    pub async fn create(
        &self,
        key: &ProfileKey,
        (choice, value): (Choice, bool),
        sent: &AtomicBool,
    ) -> Result<(), CampaignError> {
        let result = self.post(key, choice, value, sent).await;
        self.observe(result)
    }

    async fn post(
        &self,
        key: &ProfileKey,
        choice: Choice,
        value: bool,
        sent: &AtomicBool,
    ) -> Result<(), CampaignError> {
        let field = self.field(choice)?;
        let (resource, body) = match key {
            ProfileKey::CustomKey(custom) => (
                &self.settings.extended_resource,
                json!({ self.settings.custom_key_field.as_str(): custom, field: value }),
            ),
            // The key, all lower-cased: every later spelling of the
            // address is looked up by it too, and finds this profile.
            ProfileKey::Email(address) => (
                &self.settings.standard_resource,
                json!({ "email": address.key(), field: value }),
            ),
        };
        let mut url = self.resource_url(resource);
        url.path_segments_mut()
            .expect("http URLs have paths")
            .push("");
        let _permit = self.permit().await?;
        let answer = self.call(Method::POST, url, Some((&body, sent))).await?;
        match answer.status {
            StatusCode::OK | StatusCode::CREATED => self.confirmed(&answer),
            _ => Err(answer.failure(resource)),
        }
    }

    /// Sets `choice` to `value` on `profile`, following the link Campaign
    /// gave. Only the documented answer counts as done.
    pub async fn set(
        &self,
        profile: &Profile,
        (choice, value): (Choice, bool),
        sent: &AtomicBool,
    ) -> Result<(), CampaignError> {
        let result = self.patch(profile, choice, value, sent).await;
        self.observe(result)
    }

    async fn patch(
        &self,
        profile: &Profile,
        choice: Choice,
        value: bool,
        sent: &AtomicBool,
    ) -> Result<(), CampaignError> {
        let body = json!({ self.field(choice)?: value });
        let _permit = self.permit().await?;
        let answer = self
            .call(Method::PATCH, profile.href.clone(), Some((&body, sent)))
            .await?;
        match answer.status {
            // The link Campaign gave a moment ago leads nowhere (the profile
            // went, or its PKey changed in a migration): the next attempt's
            // look-up tells which.
            StatusCode::NOT_FOUND if answer.is_document_not_found() => Err(
                CampaignError::Unavailable("the profile's link answered 404".into()),
            ),
            StatusCode::OK => self.confirmed(&answer),
            _ => Err(answer.failure(&self.settings.extended_resource)),
        }
    }

    /// Sets `choice` to `value` on the profile whose custom key is `key`, in
    /// one call: Adobe documents a profile of a resource extended with a
    /// custom key as addressable by it. `Ok(false)`: Campaign answered that
    /// no document has that key so (a key it does not address, or no such
    /// profile): the caller looks it up instead.
    pub async fn set_by_key(
        &self,
        key: &str,
        (choice, value): (Choice, bool),
        sent: &AtomicBool,
    ) -> Result<bool, CampaignError> {
        let result = self.patch_by_key(key, choice, value, sent).await;
        self.observe(result)
    }

    async fn patch_by_key(
        &self,
        key: &str,
        choice: Choice,
        value: bool,
        sent: &AtomicBool,
    ) -> Result<bool, CampaignError> {
        let body = json!({ self.field(choice)?: value });
        let resource = &self.settings.extended_resource;
        let url = self.key_url(key)?;
        let _permit = self.permit().await?;
        let answer = self.call(Method::PATCH, url, Some((&body, sent))).await?;
        match answer.status {
            StatusCode::OK => self.confirmed(&answer).map(|()| true),
            // A definite answer: nothing was changed.
            StatusCode::NOT_FOUND if answer.is_document_not_found() => {
                sent.store(false, Ordering::SeqCst);
                Ok(false)
            }
            _ => Err(answer.failure(resource)),
        }
    }

    /// Whether the settings let the proxy change `choice` at all; readiness
    /// shows why not.
    pub fn offers(&self, choice: Choice) -> Result<(), CampaignError> {
        // Only a refusal is news: Campaign was not asked anything.
        match self.field(choice) {
            Ok(_) => Ok(()),
            Err(error) => self.observe(Err(error)),
        }
    }

    /// The profile field that holds `choice`. A change of the sensitive
    /// choice recorded before its setting was removed waits for it to come
    /// back: it must never land on `ccpaOptOut`.
    fn field(&self, choice: Choice) -> Result<&str, CampaignError> {
        match (choice, &self.settings.sensitive_field) {
            (Choice::Sale, _) => Ok("ccpaOptOut"),
            (Choice::Sensitive, Some(field)) => Ok(field.as_str()),
            (Choice::Sensitive, None) => Err(CampaignError::Misconfigured(
                "a change of the sensitive-information choice waits for \
                 campaign.sensitive_field to be set again"
                    .into(),
            )),
        }
    }

    /// Checks once that the resource `kind` keys are looked up in exists:
    /// a wrong organization or resource name would otherwise only show as
    /// every request failing. `Misconfigured` when Campaign says it does
    /// not exist; other errors when Campaign could not say. Whatever it
    /// finds, a call that failed included, is what readiness reports next.
    pub async fn check_resource(&self, kind: KeyKind) -> Result<(), CampaignError> {
        let result = self.resource_answers(kind).await;
        self.observe(result)
    }

    async fn resource_answers(&self, kind: KeyKind) -> Result<(), CampaignError> {
        let resource = match kind {
            KeyKind::CustomKey => &self.settings.extended_resource,
            KeyKind::Email => &self.settings.standard_resource,
        };
        let mut url = self.resource_url(resource);
        url.query_pairs_mut().append_pair("_lineCount", "1");
        let _permit = self.permit().await?;
        let answer = self.call(Method::GET, url, None).await?;
        match answer.status {
            StatusCode::OK => answer.json::<Collection<serde::de::IgnoredAny>>().map(drop),
            _ => Err(answer.failure(resource)),
        }
    }

    /// What the latest call said about Campaign.
    pub fn health(&self) -> Health {
        self.observation().0.clone()
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
    /// Campaign anything: a check of the `kind` resource `every` after the
    /// latest call, whatever made it, until `stop`. So readiness learns of
    /// an outage at most `every` and one call timeout after it began, and
    /// Campaign gets one call per period at most, however often readiness
    /// is probed.
    pub async fn watch(&self, kind: KeyKind, every: Duration, stop: CancellationToken) {
        loop {
            let due = every.saturating_sub(self.observation().1.elapsed());
            if due.is_zero() {
                let _ = self.check_resource(kind).await;
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(due) => {}
            }
        }
    }

    /// Whether a change's answer is Campaign's: a PKey, and a link to the
    /// profile inside the tenant.
    fn confirmed(&self, answer: &Answer) -> Result<(), CampaignError> {
        let changed = answer.json::<Patched>()?;
        if changed.pkey.is_empty() {
            return Err(CampaignError::Unexpected("an answer without a PKey".into()));
        }
        self.in_tenant(&changed.href)
    }

    /// Links must stay inside the tenant: a forged one would carry the
    /// access token elsewhere.
    fn in_tenant(&self, href: &Url) -> Result<(), CampaignError> {
        if href.as_str().starts_with(self.campaign_root.as_str()) {
            Ok(())
        } else {
            Err(CampaignError::Unexpected(
                "a profile link outside the tenant".into(),
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
    /// a filter or a field's values; refused here again all the same.
    fn key_url(&self, key: &str) -> Result<Url, CampaignError> {
        if key.is_empty() || key.chars().all(|c| c == '.') || names_a_campaign_route(key) {
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

    /// `<root><resource>/profile`.
    fn resource_url(&self, resource: &str) -> Url {
        let mut url = self.campaign_root.clone();
        url.path_segments_mut()
            .expect("http URLs have paths")
            .pop_if_empty()
            .extend([resource, "profile"]);
        url
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

/// An answer from Campaign, read whole (up to [`LARGEST_ANSWER`]).
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Answer {
    async fn read(mut response: reqwest::Response) -> Result<Self, CampaignError> {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > LARGEST_ANSWER {
                return Err(CampaignError::Unexpected("an answer too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self {
            status,
            retry_after,
            body,
        })
    }

    /// The body as the documented JSON `T`, or `Unexpected`.
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, CampaignError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            CampaignError::Unexpected(format!(
                "Campaign answered {} with a body that is not the documented JSON",
                self.status
            ))
        })
    }

    /// Whether this is Campaign's own "no such document" answer, not a
    /// gateway's 404 for a path it does not know.
    fn is_document_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
            && serde_json::from_slice::<ErrorAnswer>(&self.body)
                .is_ok_and(|e| e.message.contains(DOCUMENT_NOT_FOUND))
    }

    /// The error for an answer that is not the success asked for.
    fn failure(&self, resource: &str) -> CampaignError {
        match self.status {
            StatusCode::TOO_MANY_REQUESTS => CampaignError::Throttled(self.retry_after),
            StatusCode::NOT_FOUND => CampaignError::Misconfigured(format!(
                "Campaign answered 404 for the resource {resource}: check campaign.base_url, \
                 campaign.organization and the resource names"
            )),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                CampaignError::Misconfigured(format!(
                    "Campaign refused the credential ({}): check campaign.client_id and the \
                     credential's product profile",
                    self.status
                ))
            }
            status if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT => {
                CampaignError::Unavailable(format!("Campaign answered {status}"))
            }
            status => CampaignError::Refused(format!("Campaign answered {status}")),
        }
    }
}

/// The IMS access token, fetched lazily and renewed before it expires.
///
/// Every call reads it without a lock. Only a renewal is single-flight:
/// the mutex is held across the token request, so however many calls find
/// the token stale at once only one asks IMS (Adobe throttles integrations
/// that mint too many tokens); the others wait and reuse its answer.
#[derive(Default)]
struct TokenCache {
    current: ArcSwapOption<AccessToken>,
    renewing: Mutex<()>,
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
        metrics: &Metrics,
    ) -> Result<SecretString, CampaignError> {
        if let Some(secret) = self.fresh() {
            return Ok(secret);
        }
        let _renewing = self.renewing.lock().await;
        // Renewed by the call this one waited for.
        if let Some(secret) = self.fresh() {
            return Ok(secret);
        }
        let started = Instant::now();
        let fetched = fetch_token(http, settings).await;
        metrics.called(Upstream::Ims, started.elapsed());
        let token = fetched?;
        let secret = token.secret.clone();
        self.current.store(Some(Arc::new(token)));
        Ok(secret)
    }

    /// The token, unless it is due for renewal.
    fn fresh(&self) -> Option<SecretString> {
        self.current
            .load()
            .as_ref()
            .filter(|token| token.renew_at > Instant::now())
            .map(|token| token.secret.clone())
    }

    /// Forgets `stale` unless another call already replaced it.
    fn invalidate(&self, stale: &SecretString) {
        self.current.rcu(|current| match current {
            Some(token) if token.secret.expose_secret() == stale.expose_secret() => None,
            other => other.clone(),
        });
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
    let status = response.status();
    if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
        return Err(CampaignError::Misconfigured(format!(
            "IMS refused the credential ({status}): check campaign.client_id, \
             campaign.client_secret and campaign.scope"
        )));
    }
    if !status.is_success() {
        return Err(CampaignError::Unavailable(format!("IMS answered {status}")));
    }
    let answer: TokenAnswer = serde_json::from_slice(&response.bytes().await?)
        .map_err(|_| CampaignError::Unexpected("an IMS answer without a token".into()))?;
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

    /// Of ten calls a second, the worker may take eight at once: the last
    /// two are a customer's. (The clock stands still: no token comes back.)
    #[tokio::test(start_paused = true)]
    async fn the_worker_leaves_customers_the_last_fifth_of_the_pace() {
        let pace = Pace::new(10);
        let now = tokio::time::Instant::now();
        for _ in 0..8 {
            pace.take(true, now).await.unwrap();
        }
        let refused = pace.take(true, now).await;
        assert!(
            matches!(refused, Err(CampaignError::Paced(_))),
            "{refused:?}"
        );
        pace.take(false, now).await.unwrap();
        pace.take(false, now).await.unwrap();
        assert!(pace.take(false, now).await.is_err(), "then nobody");
        assert!(Pace::new(0).take(true, now).await.is_ok(), "0: no pace");
        let one = Pace::new(1);
        assert!(
            one.take(true, now).await.is_ok(),
            "at 1 a second, the worker still gets its turn"
        );
    }

    /// Calls that wait for the pace get their tokens in the order they
    /// came (docs/performance.md: the flood measured before and after).
    #[tokio::test(start_paused = true)]
    async fn waiting_calls_take_their_tokens_in_order() {
        let pace = Arc::new(Pace::new(1));
        let far = tokio::time::Instant::now() + Duration::from_secs(60);
        pace.take(false, far).await.unwrap();
        let served = Arc::new(std::sync::Mutex::new(Vec::new()));
        let waiters: Vec<_> = (0..5)
            .map(|n| {
                let (pace, served) = (pace.clone(), served.clone());
                tokio::spawn(async move {
                    pace.take(true, far).await.unwrap();
                    served.lock().unwrap().push(n);
                })
            })
            .collect();
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(*served.lock().unwrap(), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn tokens_are_renewed_an_hour_early_for_a_day_long_token() {
        assert_eq!(
            renew_after(Duration::from_secs(86_400)),
            Duration::from_secs(82_800)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }
}
