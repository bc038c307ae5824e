//! Opting out by email, for visitors without a sign-in (a setting).
//!
//! The answer is the same, as fast, whether or not anyone has the address:
//! the request is only recorded here, and the worker applies it later (every
//! profile with the address opted out, or one created flagged so when none
//! has it). The route can never opt anyone in.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use ccpa_api::{EmailOptOut, EmailReceived};

use crate::config::{EmailOptOutSettings, KeyKind};
use crate::error::ApiError;
use crate::identity::{ProfileKey, Subject};
use crate::limits::Window;
use crate::routes::{Body, Provenance};
use crate::startup::AppState;
use crate::store::{Action, Choice, NewRequest, Source};

/// The limits of the route: per client address, and per email address.
pub struct EmailLimits {
    by_client: Window,
    by_address: Window,
}

impl EmailLimits {
    /// The limits `settings` set.
    pub fn new(settings: &EmailOptOutSettings) -> Self {
        Self {
            by_client: Window::new(settings.per_client_per_minute, Duration::from_secs(60)),
            by_address: Window::new(settings.per_address_per_hour, Duration::from_secs(3_600)),
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
        .map_err(ApiError::TooManyRequests)?;
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

/// Who counts as one client: an IPv4 address, or an IPv6 /64 (one
/// household or host has a whole /64 to pick addresses from).
fn client_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_of(one), client_of(other));
        assert_eq!(client_of("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_ne!(
            client_of(one),
            client_of("2001:db8:1:3::1".parse().unwrap())
        );
    }
}
