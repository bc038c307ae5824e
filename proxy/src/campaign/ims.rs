//! Adobe IMS: the access token of the OAuth server-to-server credential.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::CampaignError;
use crate::config::CampaignSettings;
use crate::metrics::{Metrics, Upstream};

/// The IMS access token, fetched lazily and renewed before it expires.
///
/// Every call reads it without a lock. Only a renewal is single-flight:
/// the mutex is held across the token request, so however many calls find
/// the token stale at once only one asks IMS (Adobe throttles integrations
/// that mint too many tokens); the others wait and reuse its answer.
#[derive(Default)]
pub(super) struct TokenCache {
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
    pub(super) async fn get(
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
    pub(super) fn invalidate(&self, stale: &SecretString) {
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

    #[test]
    fn tokens_are_renewed_an_hour_early_for_a_day_long_token() {
        assert_eq!(
            renew_after(Duration::from_secs(86_400)),
            Duration::from_secs(82_800)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }
}
