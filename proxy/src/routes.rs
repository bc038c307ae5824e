//! The API: read and change the signed-in user's `ccpaOptOut`, and nothing
//! else. Handlers take an [`AuthUser`], so whose profile is touched comes
//! from the verified token only.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ccpa_api::{OptOutState, OptOutUpdate};
use serde_json::json;

use crate::error::ApiError;
use crate::identity::AuthUser;
use crate::startup::AppState;

/// Far above the 20-odd bytes of a real body, far below anything harmful.
pub const MAX_BODY_BYTES: usize = 1024;

/// `GET /api/v1/opt-out`.
pub async fn get_opt_out(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<OptOutState>, ApiError> {
    let profile = state.campaign.find(&user.key).await?;
    Ok(Json(OptOutState {
        ccpa_opt_out: profile.ccpa_opt_out,
        pending: false,
    }))
}

/// `PATCH /api/v1/opt-out` with `{"ccpaOptOut": bool}`.
pub async fn patch_opt_out(
    State(state): State<AppState>,
    user: AuthUser,
    OptOutBody(update): OptOutBody,
) -> Result<Json<OptOutState>, ApiError> {
    let profile = state.campaign.find(&user.key).await?;
    if profile.ccpa_opt_out != update.ccpa_opt_out {
        state
            .campaign
            .set_opt_out(&profile, update.ccpa_opt_out)
            .await?;
    }
    tracing::info!(
        subject = %user.subject.log_tag(),
        from = profile.ccpa_opt_out,
        to = update.ccpa_opt_out,
        "opt-out choice applied"
    );
    Ok(Json(OptOutState {
        ccpa_opt_out: update.ccpa_opt_out,
        pending: false,
    }))
}

/// The PATCH body, checked before anything is forwarded: JSON content type,
/// at most [`MAX_BODY_BYTES`], exactly `{"ccpaOptOut": <bool>}`.
pub struct OptOutBody(pub OptOutUpdate);

impl<S: Send + Sync> FromRequest<S> for OptOutBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        // serde's derive also takes a sequence (`[true]`): only an object is the contract.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiError::InvalidBody(
                "the body is not a JSON object".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(OptOutBody)
            .map_err(|e| ApiError::InvalidBody(describe(&e).into()))
    }
}

/// What is wrong, in words that never echo the input back.
fn describe(error: &serde_json::Error) -> &'static str {
    let text = error.to_string();
    if !error.is_data() {
        "the body is not valid JSON"
    } else if text.starts_with("unknown field") {
        "only the field ccpaOptOut is accepted"
    } else if text.starts_with("missing field") {
        "the field ccpaOptOut is missing"
    } else if text.starts_with("duplicate field") {
        "the field ccpaOptOut appears more than once"
    } else {
        "ccpaOptOut must be true or false"
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

/// `GET /health/ready`: IMS gives an access token, so Campaign calls can work.
pub async fn ready(State(state): State<AppState>) -> Response {
    if state.campaign.is_ready().await {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "upstream unavailable" })),
        )
            .into_response()
    }
}

/// JSON 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// JSON 405 for known routes with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
