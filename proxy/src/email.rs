//! Opting out by email, for visitors without a sign-in (a setting).
//!
//! The answer is the same, as fast, whether or not anyone has the address:
//! the request is only recorded here, and the worker applies it later (every
//! profile with the address opted out, or one created flagged so when none
//! has it, within the creation budget). The route can never opt anyone in.
//! Every request that passes the per-client limit is recorded: past the
//! address's own limit, as a repeat when an opt-out for it still waits
//! (that one covers it), else as usual, so that the answer says nothing
//! about the address either way, and no opt-out is left unsent because
//! someone used the address's limit up.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ccpa_api::{EmailOptOut, EmailReceived};

use crate::clients::ClientAddr;
use crate::config::{EmailOptOutSettings, KeyKind};
use crate::error::ApiError;
use crate::identity::{ProfileKey, Subject};
use crate::limits::{Limit, client_of};
use crate::metrics::{Limited, Metrics};
use crate::routes::{Body, Choices, Provenance};
use crate::store::{Action, Choice, NewRequest, Source};

/// What the route's door uses besides the choices: its limits, and the
/// counter of requests they turned away.
#[derive(Clone)]
pub struct EmailGuard {
    /// Per client address, and per email address.
    pub limits: Arc<EmailLimits>,
    /// Where a request turned away is counted.
    pub metrics: Arc<Metrics>,
}

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
    State(guard): State<EmailGuard>,
    State(app): State<Choices>,
    ClientAddr(client): ClientAddr,
    how: Provenance,
    Body(EmailOptOut { email }): Body<EmailOptOut>,
) -> Result<(StatusCode, Json<EmailReceived>), ApiError> {
    let key = ProfileKey::parse(&email, KeyKind::Email).map_err(|why| ApiError::InvalidBody {
        shape: r#"{"email": "<address>"}"#,
        why: why.into(),
    })?;
    let limits = &guard.limits;
    let client = client_of(client);
    limits.by_client.allow(&client).map_err(|wait| {
        guard.metrics.limited(Limited::Email);
        ApiError::TooManyRequests(wait)
    })?;
    // Prefixed, so that it can never be taken for a host's `sub`.
    let subject = Subject::verified(&format!("email:{}", key.as_str()));
    let over = limits.by_address.allow(key.as_str()).is_err();
    // The address alone: a form anyone may fill in is no proof of the
    // browser, and its limits are the address's, not a browser's.
    let adobe = app.tell.identities(Some(&key), None, Choice::Sale);
    let request = NewRequest {
        subject,
        key,
        choice: Choice::Sale,
        value: true,
        action: Action::OptOutEveryMatch,
        source: Source::Email,
        gpc: how.gpc(),
        request_id: how.request_id().to_owned(),
        client: Some(app.log_tags.digest(&client)),
        adobe,
    };
    let tag = app.log_tags.tag(&request.subject);
    // The address has had its requests this hour: recorded all the same,
    // and answered alike.
    let repeat = match over {
        true => app.delivery.repeat(request).await?,
        false => {
            app.delivery.record(request).await?;
            false
        }
    };
    tracing::info!(subject = %tag, request = %how.request_id(), repeat, "opt-out by email recorded");
    Ok((StatusCode::ACCEPTED, Json(EmailReceived { received: true })))
}
