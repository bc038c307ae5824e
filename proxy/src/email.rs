//! Opting out by email, for visitors without a sign-in (a setting).
//!
//! The answer is the same, as fast, whether or not anyone has the address:
//! the request is only recorded here, and the worker applies it later (every
//! profile with the address opted out, or one created flagged so when none
//! has it). The route can never opt anyone in.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use ccpa_api::{EmailOptOut, EmailReceived};

use crate::config::{EmailOptOutSettings, KeyKind};
use crate::error::ApiError;
use crate::identity::{ProfileKey, Subject};
use crate::limits::{Limit, client_of};
use crate::metrics::Limited;
use crate::routes::{Body, Provenance};
use crate::startup::AppState;
use crate::store::{Action, Choice, NewRequest, Source};

/// The limits of the route: per client address, and per email address.
pub struct EmailLimits {
    by_client: Limit,
    by_address: Limit,
}

impl EmailLimits {
    /// The limits `settings` set.
    pub fn new(settings: &EmailOptOutSettings) -> Self {
        Self {
            by_client: Limit::new(settings.per_client_per_minute, Duration::from_secs(60)),
            by_address: Limit::new(settings.per_address_per_hour, Duration::from_secs(3_600)),
        }
    }
}

/// `POST /api/v1/opt-out/email` with `{"email": "<address>"}`: `202
/// {"received": true}`, whoever has the address.
pub async fn post_email(
    State(app): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    how: Provenance,
    Body(EmailOptOut { email }): Body<EmailOptOut>,
) -> Result<(StatusCode, Json<EmailReceived>), ApiError> {
    let key = ProfileKey::parse(&email, KeyKind::Email).map_err(|why| ApiError::InvalidBody {
        shape: r#"{"email": "<address>"}"#,
        why: why.into(),
    })?;
    let limits = &app.email_limits;
    limits
        .by_client
        .allow(&client_of(client.ip()))
        .map_err(|wait| {
            app.metrics.limited(Limited::Email);
            ApiError::TooManyRequests(wait)
        })?;
    let received = (StatusCode::ACCEPTED, Json(EmailReceived { received: true }));
    // The address has had its requests this hour, all recorded: the same
    // answer, so that nobody learns of the limit, and a person whose
    // address someone else used up is told what is true.
    if limits.by_address.allow(key.as_str()).is_err() {
        return Ok(received);
    }
    // Prefixed, so that it can never be taken for a host's `sub`.
    let subject = Subject::verified(&format!("email:{}", key.as_str()));
    tracing::info!(subject = %app.log_tags.tag(&subject), request = %how.request_id(), "opt-out by email recorded");
    app.delivery
        .record(NewRequest {
            subject,
            key,
            choice: Choice::Sale,
            value: true,
            action: Action::OptOutEveryMatch,
            source: Source::Email,
            gpc: how.gpc(),
            request_id: how.request_id().to_owned(),
        })
        .await?;
    Ok(received)
}
