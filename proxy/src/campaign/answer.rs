//! Campaign's answers, read whole and bounded, and what each failure means.

use std::time::Duration;

use reqwest::{StatusCode, header};
use serde::Deserialize;

use super::CampaignError;
use super::api::Api;

/// Campaign's error body, as far as the proxy reads it.
#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    message: String,
}

/// Far above any answer the proxy asks for (a profile is a few KB, a page
/// of the email filter holds [`super::PAGE`] of them); an answer beyond is
/// not Campaign's.
const LARGEST_ANSWER: usize = 1024 * 1024;

/// An answer from Campaign, read whole (up to [`LARGEST_ANSWER`]).
pub(super) struct Answer {
    pub(super) status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Answer {
    pub(super) async fn read(mut response: reqwest::Response) -> Result<Self, CampaignError> {
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
    pub(super) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, CampaignError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            CampaignError::Unexpected(format!(
                "Campaign answered {} with a body that is not the documented JSON",
                self.status
            ))
        })
    }

    /// Whether this is the API's own "no profile has this key" answer,
    /// not a gateway's 404 for a path it does not know.
    pub(super) fn is_no_such_profile(&self, api: &Api) -> bool {
        api.not_found.iter().any(|words| self.is_404_saying(words))
    }

    /// Whether this is a 404 whose error body's message holds `words`.
    pub(super) fn is_404_saying(&self, words: &str) -> bool {
        self.status == StatusCode::NOT_FOUND
            && serde_json::from_slice::<ErrorAnswer>(&self.body)
                .is_ok_and(|e| e.message.contains(words))
    }

    /// The error for an answer that is not the success asked for.
    pub(super) fn failure(&self, resource: &str) -> CampaignError {
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
