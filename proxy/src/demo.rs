//! Demo mode: plays the host site's backend, so that the whole product runs
//! on one URL without an identity provider. A form signs the visitor in as a
//! demo customer (a cookie), and `/demo/token` mints the short-lived JWT a
//! real host would mint for its signed-in user.
//!
//! Anyone can be anyone here: it exists only when `demo.enabled` is set.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use ccpa_api::SignInToken;
use jsonwebtoken::{EncodingKey, Header, encode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::config::{IdentitySettings, KeyKind, Settings};
use crate::error::ApiError;
use crate::identity::ProfileKey;

const COOKIE: &str = "ccpa_demo_customer";

/// Demo tokens live five minutes, like a host's should.
const TOKEN_LIFETIME_SECS: u64 = 300;

/// `/demo/sign-in`, `/demo/sign-out`, `/demo/session`, `/demo/token`,
/// `/demo/privacy-service`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Settings>: FromRef<S>,
{
    Router::new()
        .route("/demo/sign-in", post(sign_in))
        .route("/demo/sign-out", post(sign_out))
        .route("/demo/session", get(session))
        .route("/demo/token", get(token))
        .route("/demo/privacy-service", get(privacy_service))
}

/// Where the emulated Privacy Service shows what it was told, for the demo
/// page's footer: the demo runs against the emulator, which serves that
/// page beside the endpoint. `{"log": null}` while Privacy Service is not
/// told (not an error the page's console would show).
async fn privacy_service(State(settings): State<Arc<Settings>>) -> Json<serde_json::Value> {
    let privacy = &settings.privacy_service;
    let log = privacy
        .enabled
        .then(|| privacy.base_url.join("_emulator/privacy").ok())
        .flatten();
    Json(json!({ "log": log }))
}

/// Who is signed in, for the demo page's header (a shop's page knows).
async fn session(headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let customer = signed_in_customer(&headers).ok_or(ApiError::MissingToken)?;
    Ok(Json(json!({ "customer": customer })))
}

#[derive(Debug, Deserialize)]
struct SignIn {
    customer: String,
}

async fn sign_in(Form(form): Form<SignIn>) -> Response {
    // Only keys that could be real customer keys make it into the cookie.
    let Ok(key) = ProfileKey::parse(&form.customer, KeyKind::CustomKey) else {
        return ApiError::InvalidBody {
            shape: "customer=<demo customer key>",
            why: "unknown demo customer".into(),
        }
        .into_response();
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        key.as_str()
    );
    with_cookie(cookie)
}

async fn sign_out() -> Response {
    with_cookie(format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
}

fn with_cookie(cookie: String) -> Response {
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn token(
    State(settings): State<Arc<Settings>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let customer = signed_in_customer(&headers).ok_or(ApiError::MissingToken)?;
    let token = mint(&settings.identity, &customer);
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(SignInToken { token }),
    ))
}

fn signed_in_customer(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| ProfileKey::parse(value, KeyKind::CustomKey).ok())
        .map(|key| key.as_str().to_owned())
}

/// A token exactly as a host backend would mint it for `subject`.
pub fn mint(identity: &IdentitySettings, subject: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({
        "sub": subject,
        "iss": identity.issuer,
        "aud": identity.audience,
        "iat": now,
        "exp": now + TOKEN_LIFETIME_SECS,
    });
    let secret = identity
        .hs256_secret
        .as_ref()
        .expect("checked at start: the demo has a secret");
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes());
    encode(&Header::default(), &claims, &key).expect("HS256 signing cannot fail")
}
