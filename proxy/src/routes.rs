//! The API: read and change the signed-in user's `ccpaOptOut`, and nothing
//! else. Handlers take an [`AuthUser`], so whose profile is touched comes
//! from the verified token only.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{AppendHeaders, IntoResponse, Response};
use ccpa_api::{
    ECID_HEADER, EmailOptOut, GPC_HEADER, OptOutState, OptOutUpdate, SensitiveState,
    SensitiveUpdate,
};
use serde_json::json;

use crate::browser::{BrowserChoice, Cookies, Told, tell_adobe};
use crate::campaign::{CampaignClient, CampaignError, Health, Profile};
use crate::clients::ClientAddr;
use crate::delivery::{Attempt, Delivery};
use crate::error::ApiError;
use crate::identity::{AuthUser, Ecid, LogTags, ProfileKey};
use crate::metrics::Metrics;
use crate::privacy_service::{ConsentDelivery, Tell};
use crate::store::{Action, Choice, NewRequest, Source, Store};

/// Far above the 20-odd bytes of a real body, far below anything harmful.
pub const MAX_BODY_BYTES: usize = 1024;

/// What the routes that read and change choices use.
#[derive(Clone)]
pub struct Choices {
    /// Where the choices are.
    pub campaign: Arc<CampaignClient>,
    /// Pending choices, and what was recorded of the signals.
    pub store: Arc<Store>,
    /// Records a change and applies it.
    pub delivery: Arc<Delivery>,
    /// Keyed tags for subjects in log lines.
    pub log_tags: Arc<LogTags>,
    /// Whether the site offers the limit on sensitive information
    /// (`campaign.sensitive_field` is set).
    pub sensitive_offered: bool,
    /// Whom Privacy Service is told a choice about sale for.
    pub tell: Tell,
}

/// What readiness, metrics and the admin listings read.
#[derive(Clone)]
pub struct Oversight {
    /// What the latest call said about Campaign.
    pub campaign: Arc<CampaignClient>,
    /// The backlog.
    pub store: Arc<Store>,
    /// When a change counts as stuck; woken after a release.
    pub delivery: Arc<Delivery>,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// Privacy Service's deliveries, when it is told: what its latest
    /// call found wrong.
    pub consents: Option<Arc<ConsentDelivery>>,
}

/// How long a body may take once its head is in
/// (`server.body_timeout_ms`).
#[derive(Clone, Copy)]
pub struct BodyPatience(pub Duration);

/// `GET /api/v1/opt-out`: the pending choice if one waits for Campaign,
/// else Campaign's (no opt-out when Campaign has no profile yet). A signal
/// that the signed-in consumer opted out, `Sec-GPC: 1` or this browser's
/// own earlier opt-out (§ 7025(c)(1): a known consumer's request applies to
/// the consumer), opts a profile that allows sale out first. Neither ever
/// opts anyone back in. Where the site offers it, the limit on the use of
/// sensitive information comes with it, from the same look-up.
pub async fn get_opt_out(
    State(state): State<Choices>,
    ClientAddr(client): ClientAddr,
    user: AuthUser,
    how: Provenance,
) -> Result<impl IntoResponse, ApiError> {
    let read = read_opt_out(&state, &user, &how).await?;
    // An opt-out Campaign holds reaches Adobe for this browser too: one
    // made before Privacy Service was told, elsewhere, or by a read
    // whose page had not sent its ECID yet. (A signal applied now was
    // told for it already.)
    if read.ccpa_opt_out && !read.signal_applied {
        tell_adobe(&state, client, &how, Told::Account).await;
    }
    Ok((AppendHeaders(how.applied_cookie()), read))
}

async fn read_opt_out(
    state: &Choices,
    user: &AuthUser,
    how: &Provenance,
) -> Result<Json<OptOutState>, ApiError> {
    let offered = state.sensitive_offered;
    let sale = state.store.pending_value(&user.key, Choice::Sale).await?;
    let sensitive = match offered {
        true => {
            state
                .store
                .pending_value(&user.key, Choice::Sensitive)
                .await?
        }
        false => None,
    };
    // Campaign is asked once, and only when a choice has no pending value.
    let profile = match sale.is_none() || (offered && sensitive.is_none()) {
        true => match state.campaign.find(&user.key).await {
            Ok(profile) => Ok(Some(profile)),
            Err(CampaignError::ProfileNotFound) => Ok(None),
            Err(error) => Err(error),
        },
        false => Ok(None),
    };
    // A limit a migration lost, that the trail shows applied: recorded to
    // be sent again (by the worker: the opt-out never waits for it).
    let restored = match (&profile, offered && sensitive.is_none()) {
        (Ok(Some(found)), true) if lost(state, user, found, Choice::Sensitive).await? => {
            restore(state, user, how, Choice::Sensitive).await?;
            Some(SensitiveState {
                limited: true,
                pending: true,
            })
        }
        _ => None,
    };
    // The limit when it is known: pending, or read. Campaign failing, or
    // its answer lacking the field, costs only this part of the answer:
    // the opt-out (and a signal to record) never waits for it.
    let sensitive = match (offered, sensitive, &profile) {
        _ if restored.is_some() => restored,
        (false, ..) => None,
        (true, Some(limited), _) => Some(SensitiveState {
            limited,
            pending: true,
        }),
        (true, None, Ok(None)) => Some(SensitiveState {
            limited: false,
            pending: false,
        }),
        (true, None, Ok(Some(profile))) => {
            profile
                .value(Choice::Sensitive)
                .ok()
                .map(|limited| SensitiveState {
                    limited,
                    pending: false,
                })
        }
        (true, None, Err(_)) => None,
    };
    let Json(mut read) = read_sale(state, user, how, sale, profile).await?;
    read.sensitive = sensitive;
    Ok(Json(read))
}

/// The opt-out of sale: pending, else Campaign's (`profile`, when `pending`
/// is `None`), after applying a signal that the consumer opted out.
async fn read_sale(
    state: &Choices,
    user: &AuthUser,
    how: &Provenance,
    pending: Option<bool>,
    profile: Result<Option<Profile>, CampaignError>,
) -> Result<Json<OptOutState>, ApiError> {
    if let Some(value) = pending {
        return Ok(answer(value, true, how));
    }
    // An opt-out a migration lost, that the trail shows applied: recorded
    // to be sent again, never shown as sale allowed.
    if let Ok(Some(found)) = &profile
        && lost(state, user, found, Choice::Sale).await?
    {
        restore(state, user, how, Choice::Sale).await?;
        return Ok(answer(true, true, how));
    }
    let signal = match how.opt_out_signal() {
        Some(Source::Gpc) if state.store.gpc_waived(&user.subject).await? => None,
        signal => signal,
    };
    let current = match profile {
        Ok(found) => Ok(found.is_some_and(|p| p.ccpa_opt_out)),
        Err(CampaignError::AmbiguousProfile) => every_match_opted_out(state, user).await,
        Err(error) => Err(error),
    };
    let source = match (signal, current) {
        (_, Ok(true)) => return Ok(answer(true, false, how)),
        (None, current) => return Ok(answer(current?, false, how)),
        // Campaign's value is unknown or allows sale: record the opt-out;
        // applying it to a profile that already has it changes nothing.
        // Several profiles for the email: it opts them all out.
        (Some(source), _) => source,
    };
    // Only a notice hangs on it: a failed look-up must not stop the opt-out.
    let conflict = source == Source::Gpc
        && state
            .store
            .signal_conflicts(&user.subject)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "could not tell whether the signal overrode a choice");
                false
            });
    let pending = record_and_apply(state, user, how, (Choice::Sale, true), source).await?;
    let Json(mut read) = answer(true, pending, how);
    read.signal_applied = true;
    read.gpc_conflict = conflict;
    Ok(Json(read))
}

/// Whether Campaign answered `choice` blank where the audit trail shows
/// the consumer's opt-out (or limit) applied as their latest word: a
/// migration to Campaign v8 lost it. Their opt-outs by email count when
/// they sign in with that address.
async fn lost(
    state: &Choices,
    user: &AuthUser,
    found: &Profile,
    choice: Choice,
) -> Result<bool, ApiError> {
    if !found.left_blank(choice) {
        return Ok(false);
    }
    let by_email = match &user.key {
        ProfileKey::Email(_) => format!("email:{}", user.key.as_str()),
        ProfileKey::CustomKey(_) => user.subject.as_str().to_owned(),
    };
    let subjects = [user.subject.as_str(), by_email.as_str()];
    Ok(state.store.opted_out_last(subjects, choice).await?)
}

/// Records `choice`, lost by a migration, to be sent again by the worker
/// (audited `restored`): a read does not wait for Campaign's answer.
async fn restore(
    state: &Choices,
    user: &AuthUser,
    how: &Provenance,
    choice: Choice,
) -> Result<(), ApiError> {
    let request = NewRequest {
        subject: user.subject.clone(),
        key: user.key.clone(),
        choice,
        value: true,
        action: Action::Set,
        source: Source::Restored,
        gpc: how.gpc,
        request_id: how.request_id.clone(),
        client: None,
        // Campaign lost it; what Privacy Service was told stands.
        adobe: Vec::new(),
    };
    state.delivery.record(request).await?;
    tracing::info!(
        subject = %state.log_tags.tag(&user.subject),
        request = %how.request_id,
        ?choice,
        "a choice a migration left blank is sent again"
    );
    Ok(())
}

/// Whether every profile with the signed-in email is opted out: the state
/// of an email that several profiles share. An opt-out reaches them all;
/// allowing sale on one of them is refused (`409`).
async fn every_match_opted_out(state: &Choices, user: &AuthUser) -> Result<bool, CampaignError> {
    let ProfileKey::Email(address) = &user.key else {
        return Err(CampaignError::AmbiguousProfile);
    };
    let profiles = state.campaign.find_every(address).await?;
    Ok(profiles.iter().all(|p| p.ccpa_opt_out))
}

/// `PATCH /api/v1/opt-out` with `{"ccpaOptOut": bool}`: `200` once Campaign
/// has it, `202` when it is recorded and will be applied. An opt-out this
/// browser made before is from then on the account's business: their own
/// choice stands, the browser's does not undo it at the next read.
pub async fn patch_opt_out(
    State(state): State<Choices>,
    user: AuthUser,
    how: Provenance,
    Body(update): OptOutBody,
) -> Result<impl IntoResponse, ApiError> {
    let value = update.ccpa_opt_out;
    let chosen = (Choice::Sale, value);
    let pending = record_and_apply(&state, &user, &how, chosen, Source::Widget).await?;
    Ok((
        status(pending),
        AppendHeaders(how.applied_cookie()),
        answer(value, pending, &how),
    ))
}

/// `PATCH /api/v1/opt-out/sensitive` with `{"limitSensitive": bool}`, where
/// the site offers the choice: answered as the opt-out's PATCH is.
pub async fn patch_sensitive(
    State(state): State<Choices>,
    user: AuthUser,
    how: Provenance,
    Body(update): Body<SensitiveUpdate>,
) -> Result<impl IntoResponse, ApiError> {
    let limited = update.limit_sensitive;
    let chosen = (Choice::Sensitive, limited);
    let pending = record_and_apply(&state, &user, &how, chosen, Source::Widget).await?;
    Ok((status(pending), Json(SensitiveState { limited, pending })))
}

/// `202` while a change waits for Campaign, else `200`.
fn status(pending: bool) -> StatusCode {
    if pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    }
}

/// Records the request (`choice` set to `value`) durably, then tries to
/// apply it at once. Returns whether it is still pending.
async fn record_and_apply(
    state: &Choices,
    user: &AuthUser,
    how: &Provenance,
    (choice, value): (Choice, bool),
    source: Source,
) -> Result<bool, ApiError> {
    let request = NewRequest {
        subject: user.subject.clone(),
        key: user.key.clone(),
        choice,
        value,
        action: Action::Set,
        source,
        gpc: how.gpc,
        request_id: how.request_id.clone(),
        client: None,
        adobe: state.tell.identities(Some(&user.key), how.ecid(), choice),
    };
    let attempt = state.delivery.accept(request).await?;
    tracing::info!(
        subject = %state.log_tags.tag(&user.subject),
        request = %how.request_id,
        value,
        ?choice,
        ?source,
        ?attempt,
        "opt-out choice recorded"
    );
    match attempt {
        Attempt::Applied => Ok(false),
        Attempt::Pending => Ok(true),
        Attempt::Denied(error) => Err(error.into()),
        Attempt::Failed(error) => Err(ApiError::GaveUp(error)),
    }
}

fn answer(value: bool, pending: bool, how: &Provenance) -> Json<OptOutState> {
    Json(OptOutState {
        sensitive: None,
        ccpa_opt_out: value,
        pending,
        gpc_honored: how.gpc && value,
        signal_applied: false,
        gpc_conflict: false,
    })
}

/// Where a request came from: its id (as in the logs and the audit trail)
/// and whether the browser sent Global Privacy Control.
pub struct Provenance {
    request_id: String,
    gpc: bool,
    browser: Option<BrowserChoice>,
    cookies: Cookies,
    /// The page's Experience Cloud ID, when the widget sent one.
    ecid: Option<Ecid>,
}

impl Provenance {
    /// The request id, as in the logs and the audit trail.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Whether the browser sent Global Privacy Control.
    pub fn gpc(&self) -> bool {
        self.gpc
    }

    /// The page's Experience Cloud ID ([`ECID_HEADER`]), checked.
    pub fn ecid(&self) -> Option<&Ecid> {
        self.ecid.as_ref()
    }

    /// When this browser carries an opt-out not yet applied to an account,
    /// the cookie that marks it applied: a signed-in request applies it (or
    /// the consumer decides for themselves), once.
    fn applied_cookie(&self) -> Option<(header::HeaderName, HeaderValue)> {
        (self.browser == Some(BrowserChoice::OptedOut))
            .then(|| BrowserChoice::OptedOutApplied.cookie(self.cookies))
    }

    /// What says this consumer opted out, besides their own click now:
    /// Global Privacy Control, or this browser's earlier opt-out.
    fn opt_out_signal(&self) -> Option<Source> {
        if self.gpc {
            Some(Source::Gpc)
        } else if self.browser == Some(BrowserChoice::OptedOut) {
            Some(Source::Browser)
        } else {
            None
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Provenance
where
    Cookies: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let cookies = Cookies::from_ref(state);
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        Ok(Self {
            ecid: page_ecid(&parts.headers)?,
            request_id: header("x-request-id").unwrap_or("-").to_owned(),
            // The GPC specification: the header's only valid value is "1".
            // The widget's own header says the same for browsers that expose
            // the signal to scripts without sending it.
            gpc: ["sec-gpc", GPC_HEADER]
                .iter()
                .any(|name| header(name).is_some_and(|v| v.trim() == "1")),
            browser: BrowserChoice::of(&parts.headers, cookies),
            cookies,
        })
    }
}

/// The [`ECID_HEADER`] a request carries, if any: one, shaped as an ECID,
/// else refused before anything is recorded.
fn page_ecid(headers: &axum::http::HeaderMap) -> Result<Option<Ecid>, ApiError> {
    let refused = |why| ApiError::InvalidHeader {
        header: ECID_HEADER,
        why,
    };
    let mut sent = headers.get_all(ECID_HEADER).iter();
    let Some(value) = sent.next() else {
        return Ok(None);
    };
    if sent.next().is_some() {
        return Err(refused("send one ECID"));
    }
    let text = value
        .to_str()
        .map_err(|_| refused("an ECID has digits only"))?;
    Ecid::parse(text).map(Some).map_err(refused)
}

/// A body the API takes: one JSON object of one field, described in the
/// words its errors use.
pub trait Contract: serde::de::DeserializeOwned {
    /// The body as the contract shows it.
    const SHAPE: &'static str;
    /// Its one field.
    const FIELD: &'static str;
    /// What that field must be.
    const VALUE: &'static str;
}

impl Contract for OptOutUpdate {
    const SHAPE: &'static str = r#"{"ccpaOptOut": true|false}"#;
    const FIELD: &'static str = "ccpaOptOut";
    const VALUE: &'static str = "true or false";
}

impl Contract for SensitiveUpdate {
    const SHAPE: &'static str = r#"{"limitSensitive": true|false}"#;
    const FIELD: &'static str = "limitSensitive";
    const VALUE: &'static str = "true or false";
}

impl Contract for EmailOptOut {
    const SHAPE: &'static str = r#"{"email": "<address>"}"#;
    const FIELD: &'static str = "email";
    const VALUE: &'static str = "a string";
}

/// A body, checked before anything is forwarded: JSON content type, at
/// most [`MAX_BODY_BYTES`], exactly the contract's one field.
pub struct Body<T>(pub T);

/// The PATCH and PUT body, `{"ccpaOptOut": <bool>}`.
pub type OptOutBody = Body<OptOutUpdate>;

impl<S: Send + Sync, T: Contract> FromRequest<S> for Body<T>
where
    BodyPatience: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        // A body sent a byte at a time must not hold the request open.
        let BodyPatience(patience) = BodyPatience::from_ref(state);
        let read = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES);
        let bytes = tokio::time::timeout(patience, read)
            .await
            .map_err(|_| ApiError::BodyTimeout)?
            .map_err(|_| ApiError::PayloadTooLarge)?;
        let invalid = |why: String| ApiError::InvalidBody {
            shape: T::SHAPE,
            why,
        };
        // serde's derive also takes a sequence (`[true]`): only an object is the contract.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(invalid("the body is not a JSON object".into()));
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| invalid(describe::<T>(&e)))
    }
}

/// What is wrong, in words that never echo the input back.
fn describe<T: Contract>(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let field = T::FIELD;
    if !error.is_data() {
        "the body is not valid JSON".into()
    } else if text.starts_with("unknown field") {
        format!("only the field {field} is accepted")
    } else if text.starts_with("missing field") {
        format!("the field {field} is missing")
    } else if text.starts_with("duplicate field") {
        format!("the field {field} appears more than once")
    } else {
        format!("{field} must be {}", T::VALUE)
    }
}

/// Refuses query strings: the API takes no parameters, and a request that
/// tries to name a profile (`?email=`, `?PKey=`) must not pass unnoticed.
pub async fn refuse_query(request: Request, next: Next) -> Response {
    if request.uri().query().is_some() {
        return ApiError::UnexpectedParameter.into_response();
    }
    next.run(request).await
}

/// `GET /health/live`: the process answers.
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /health/ready` on the public listener: 503 only when storage fails.
/// A proxy whose Campaign is down still records requests durably, so it
/// stays in rotation and says `degraded`; taking it out would turn recorded
/// requests into errors. Campaign's state is what the latest call (or the
/// periodic check) found: a probe asks Campaign and IMS nothing. What is
/// wrong, and the backlog, are for the admin listener only.
pub async fn ready(State(state): State<Oversight>) -> Response {
    readiness(&state, false).await
}

/// `GET /health/ready` on the admin listener: the same, with what is wrong
/// and the backlog.
pub async fn ready_in_full(State(state): State<Oversight>) -> Response {
    readiness(&state, true).await
}

/// `GET /metrics` on the admin listener, in Prometheus' text format.
/// Storage failing costs only the backlog's gauges: the counters are what
/// an operator needs most then.
pub async fn metrics(State(state): State<Oversight>) -> Response {
    let backlog = state.store.backlog(state.delivery.stuck_after()).await.ok();
    let text = state.metrics.render(backlog.as_ref());
    let kind = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, kind)], text).into_response()
}

async fn readiness(state: &Oversight, full: bool) -> Response {
    let health = state.campaign.health();
    let (upstream, problem) = (health.as_str(), health.problem());
    // The backlog's query is the check: it reads the tables a request is
    // recorded in (a database that answers `SELECT 1` may still have lost
    // them). The public probe is not shown what it found.
    match state.store.backlog(state.delivery.stuck_after()).await {
        Ok(backlog) => {
            let status = if health == Health::Ok {
                "ready"
            } else {
                "degraded"
            };
            let body = match full {
                false => json!({ "status": status, "storage": "ok", "upstream": upstream }),
                true => json!({
                    "status": status,
                    "storage": "ok",
                    "upstream": upstream,
                    "problem": problem,
                    "pending": backlog.pending,
                    "oldestPendingMs": backlog.oldest_pending_ms,
                    "deadLetters": backlog.dead_letters,
                    "heldCreations": backlog.held,
                    "stuck": backlog.stuck,
                    "privacyService": {
                        "pending": backlog.consents_pending,
                        "deadLetters": backlog.consent_dead_letters,
                        "problem": state.consents.as_ref().and_then(|c| c.problem()),
                    },
                }),
            };
            Json(body).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "storage is not answering");
            let body =
                json!({ "status": "unavailable", "storage": "unavailable", "upstream": upstream });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// How many changes an admin listing shows at most: the oldest first.
const LISTED: u32 = 1_000;

/// `GET /changes/stuck` on the admin listener: the changes still failing
/// after `delivery.stuck_after_ms`, longest first, each with its response
/// deadline (§ 7026(f)). Audit numbers and request ids, never a key.
pub async fn stuck(State(state): State<Oversight>) -> Result<Json<serde_json::Value>, ApiError> {
    let changes = state
        .store
        .stuck(state.delivery.stuck_after(), LISTED)
        .await?;
    Ok(listing(changes))
}

/// `GET /changes/privacy-service` on the admin listener: the choices
/// waiting for Privacy Service, longest first, each with how Campaign
/// answered the same request (`applied`: in Campaign, not yet in the other
/// Adobe products) and its response deadline. Never an identity.
pub async fn consents_waiting(
    State(state): State<Oversight>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let waiting = state.store.consents_waiting(LISTED).await?;
    let changes: Vec<serde_json::Value> = waiting
        .into_iter()
        .map(|consent| with_deadline(consent.pending_since, json!(consent)))
        .collect();
    Ok(Json(json!({ "changes": changes })))
}

/// `GET /changes/held` on the admin listener: the profiles to create for
/// addresses nobody has that wait for the creation budget, longest first.
pub async fn held(State(state): State<Oversight>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(listing(state.store.held(LISTED).await?))
}

/// `POST /changes/held/release` on the admin listener: lets every held
/// creation through at once, past the budget (an operator's decision).
pub async fn release_held(
    State(state): State<Oversight>,
    headers: axum::http::HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    from_an_operator(&headers)?;
    let released = state.store.release_all_held().await?;
    tracing::info!(
        released,
        "an operator released the creations held for the budget"
    );
    state.delivery.wake();
    Ok(Json(json!({ "released": released })))
}

/// Whether a change asked of the admin listener comes from an operator's
/// tool rather than a web page open on the operator's machine: it says
/// `Content-Type: application/json` (a page of another origin cannot
/// without a preflight, which the listener never answers), and its `Host`
/// is an address or `localhost` (a page that points its own name at the
/// listener's address sends that name).
fn from_an_operator(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/json"));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(&format!("http://{v}")).ok());
    let by_address = host.as_ref().and_then(url::Url::host).is_some_and(|host| {
        matches!(host, url::Host::Ipv4(_) | url::Host::Ipv6(_))
            || host == url::Host::Domain("localhost")
    });
    if !by_address {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

fn listing(changes: Vec<crate::store::Waiting>) -> Json<serde_json::Value> {
    let changes: Vec<serde_json::Value> = changes
        .into_iter()
        .map(|change| with_deadline(change.pending_since, json!(change)))
        .collect();
    Json(json!({ "changes": changes }))
}

/// `listed`, with the response deadline (§ 7026(f)) of a request waiting
/// since `pending_since`.
fn with_deadline(pending_since: i64, mut listed: serde_json::Value) -> serde_json::Value {
    let deadline = crate::audit::response_deadline(pending_since);
    listed["deadline"] = json!(crate::audit::rfc3339(deadline));
    listed
}

/// `GET /.well-known/gpc.json`: this site honours Global Privacy Control.
pub async fn gpc_support() -> Json<serde_json::Value> {
    Json(json!({ "gpc": true, "lastUpdate": GPC_SUPPORT_SINCE }))
}

/// The path of [`openapi`].
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// `GET /api/v1/openapi.json`: the public API as OpenAPI 3.1. Written by
/// hand beside the handlers; `tests/api/openapi.rs` holds every answer
/// the proxy gives in the tests to it.
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../openapi.json"),
    )
}

/// When GPC support was last changed (the GPC specification's `lastUpdate`).
const GPC_SUPPORT_SINCE: &str = "2026-11-23";

/// JSON 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// JSON 405 for known routes with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
