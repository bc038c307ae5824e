//! One error type for every route, mapped to a status code and the JSON body
//! of the wire contract. Upstream details stay in the logs (without bodies,
//! tokens or emails); the browser only learns what it can act on.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ccpa_api::{ErrorBody, ErrorCode, ErrorDetail};
use std::time::Duration;

use crate::campaign::CampaignError;
use crate::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization` header.
    #[error("sign-in token missing")]
    MissingToken,
    /// A token that does not verify; the reason is for the developer.
    #[error("sign-in token invalid: {0}")]
    InvalidToken(&'static str),
    /// A token past its `exp`.
    #[error("sign-in token expired")]
    TokenExpired,
    /// A body that is not exactly the contract's `shape`.
    #[error("invalid body: {why}")]
    InvalidBody {
        /// The body as the contract shows it.
        shape: &'static str,
        /// What is wrong, in words that never echo the input.
        why: String,
    },
    /// A header the proxy reads, not shaped as it must be.
    #[error("invalid header {header}: {why}")]
    InvalidHeader {
        /// Its name.
        header: &'static str,
        /// What is wrong, in words that never echo the input.
        why: &'static str,
    },
    /// Too many requests from one client or for one address; try again
    /// after this long.
    #[error("too many requests")]
    TooManyRequests(std::time::Duration),
    /// Not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Over the body limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within `server.body_timeout_ms`.
    #[error("body timed out")]
    BodyTimeout,
    /// The request took longer than `server.request_timeout_ms`: something
    /// it waited for is stuck. A change may have been recorded all the same.
    #[error("request timed out")]
    Deadline,
    /// Every connection the proxy may hold is taken.
    #[error("overloaded")]
    Overloaded,
    /// The identity provider's key set has not been read for too long to
    /// trust it.
    #[error("identity provider keys unavailable")]
    KeysUnavailable,
    /// A query string on a route that takes none.
    #[error("unexpected query parameters")]
    UnexpectedParameter,
    /// No such route.
    #[error("not found")]
    NotFound,
    /// Wrong method for the route.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The upstream failed.
    #[error(transparent)]
    Campaign(#[from] CampaignError),
    /// Campaign kept refusing a recorded change in ways the proxy cannot
    /// understand; it was given up and kept among the dead letters.
    #[error("given up: {0}")]
    GaveUp(CampaignError),
    /// The database failed: a request that cannot be recorded is refused.
    #[error("storage failed: {0}")]
    Storage(#[from] StoreError),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, ErrorCode, String) {
        use ApiError as E;
        let simple = |status, code, message: &str| (status, code, message.to_owned());
        match self {
            E::MissingToken => simple(
                StatusCode::UNAUTHORIZED,
                ErrorCode::MissingToken,
                "Send the host's sign-in token as `Authorization: Bearer <token>`.",
            ),
            E::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidToken,
                format!("The sign-in token was refused: {why}."),
            ),
            E::TokenExpired => simple(
                StatusCode::UNAUTHORIZED,
                ErrorCode::TokenExpired,
                "The sign-in token has expired; fetch a new one.",
            ),
            E::InvalidBody { shape, why } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidBody,
                format!("The body must be exactly {shape}: {why}."),
            ),
            E::InvalidHeader { header, why } => (
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidHeader,
                format!("The header {header} was refused: {why}."),
            ),
            E::TooManyRequests(_) => simple(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "Too many requests; try again later (see Retry-After).",
            ),
            E::UnsupportedMediaType => simple(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "Send the body as `Content-Type: application/json`.",
            ),
            E::PayloadTooLarge => simple(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "The body is larger than this API accepts.",
            ),
            E::BodyTimeout => simple(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                "The body did not arrive in time.",
            ),
            E::Deadline => simple(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::UpstreamTimeout,
                "The proxy could not answer in time. A change may still have been recorded: \
                 read the choice again.",
            ),
            E::Overloaded => simple(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Overloaded,
                "The proxy is at its limit of open connections; try again shortly.",
            ),
            E::KeysUnavailable => simple(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::UpstreamUnavailable,
                "The sign-in service's keys could not be read for too long; try again later.",
            ),
            E::UnexpectedParameter => simple(
                StatusCode::BAD_REQUEST,
                ErrorCode::UnexpectedParameter,
                "This API takes no query parameters; the profile comes from the sign-in token.",
            ),
            E::NotFound => simple(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "No such resource.",
            ),
            E::MethodNotAllowed => simple(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "Use GET or PATCH.",
            ),
            E::Campaign(error) => campaign_parts(error),
            E::GaveUp(_) => simple(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamUnavailable,
                "Adobe Campaign did not accept the change. It is recorded, and the site's staff \
                 have been told to look into it.",
            ),
            E::Storage(_) => simple(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::StorageUnavailable,
                "The request could not be recorded; nothing was changed. Try again shortly.",
            ),
        }
    }
}

fn campaign_parts(error: &CampaignError) -> (StatusCode, ErrorCode, String) {
    let (status, code, message) = match error {
        CampaignError::ProfileNotFound => (
            StatusCode::NOT_FOUND,
            ErrorCode::ProfileNotFound,
            "Campaign has no profile for the signed-in user.",
        ),
        CampaignError::AmbiguousProfile | CampaignError::TooManyMatches(_) => (
            StatusCode::CONFLICT,
            ErrorCode::AmbiguousProfile,
            "Several Campaign profiles match the signed-in user; none was changed.",
        ),
        CampaignError::Paced(_) => (
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "The proxy's calls to Adobe Campaign are at their limit; try again shortly \
             (see Retry-After).",
        ),
        CampaignError::Timeout => (
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::UpstreamTimeout,
            "Adobe Campaign did not answer in time; nothing was changed.",
        ),
        CampaignError::Unavailable(_)
        | CampaignError::Interrupted(_)
        | CampaignError::Throttled(_)
        | CampaignError::Misconfigured(_)
        | CampaignError::Unexpected(_)
        | CampaignError::Refused(_) => (
            StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamUnavailable,
            "Adobe Campaign could not be reached; nothing was changed.",
        ),
    };
    (status, code, message.to_owned())
}

impl ApiError {
    /// The JSON body of this error, as text.
    pub fn body(&self) -> String {
        let (_, code, message) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail { code, message },
        };
        serde_json::to_string(&body).expect("an error body serializes")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed upstream");
        }
        let body = ErrorBody {
            error: ErrorDetail { code, message },
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match self {
            Self::TooManyRequests(after) | Self::Campaign(CampaignError::Paced(after)) => {
                Some(after)
            }
            Self::Overloaded => Some(Duration::from_secs(1)),
            _ => None,
        };
        if let Some(after) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                // Whole seconds, rounded up: never sooner than allowed.
                axum::http::HeaderValue::from(
                    (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1),
                ),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
