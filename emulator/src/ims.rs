//! Adobe IMS, OAuth server-to-server: `POST /ims/token/v3` with the
//! client-credentials grant in a form body.

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;

/// The form IMS expects. Secrets travel in the body, never the query string.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: String,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
}

/// Issues an access token to the configured client.
pub async fn token(State(app): State<AppState>, Form(form): Form<TokenRequest>) -> Response {
    let mut store = app.store.lock().expect("emulator store poisoned");
    store.stats.token_requests += 1;
    if form.grant_type != "client_credentials" {
        return ims_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if form.scope.as_deref().is_none_or(str::is_empty) {
        return ims_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    if form.client_id != app.config.client_id || form.client_secret != app.config.client_secret {
        return ims_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let lifetime = app.config.token_lifetime;
    let token = store.issue_token(lifetime);
    Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
    }))
    .into_response()
}

fn ims_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}
