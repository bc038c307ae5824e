//! What a call to Campaign or IMS can end in, and what the latest one said
//! about Campaign's health.

use std::time::Duration;

/// Why a Campaign call did not give an answer. No variant carries an
/// upstream body, a URL (it may hold an email) or a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CampaignError {
    /// No profile has the user's key: Campaign said "document not found"
    /// to a look-up by custom key, or the email filter matched none.
    #[error("no Campaign profile for this key")]
    ProfileNotFound,
    /// Several profiles share the user's email.
    #[error("several Campaign profiles match this key")]
    AmbiguousProfile,
    /// More profiles share the address than `campaign.max_email_matches`:
    /// more than any person has, so an operator looks before all of them
    /// are changed.
    #[error("more than {0} Campaign profiles share this address")]
    TooManyMatches(usize),
    /// IMS or Campaign did not answer within the timeout.
    #[error("upstream timed out")]
    Timeout,
    /// IMS or Campaign answered a failure, or could not be connected to:
    /// nothing was taken.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// The call went out, and its answer broke off: what Campaign did with
    /// it is unknown.
    #[error("upstream answer interrupted: {0}")]
    Interrupted(String),
    /// Campaign answered 429; `Retry-After` said when to come back, if it did.
    #[error("Campaign is throttling requests")]
    Throttled(Option<Duration>),
    /// The proxy's own pace (`max_calls_per_second`) had no turn within the
    /// call timeout: nothing was sent, and Campaign is not at fault.
    #[error("the proxy's calls to Campaign are at their pace")]
    Paced(Duration),
    /// IMS or Campaign says the settings are wrong: a 404 that is not
    /// Campaign's "document not found" (a wrong organization or resource
    /// name), or a refused credential. Retried: settings get fixed.
    #[error("Campaign's settings look wrong: {0}")]
    Misconfigured(String),
    /// A success whose body is not the documented one: an HTML page from a
    /// gateway, JSON of another shape, a link outside the tenant. Never
    /// taken as success; what Campaign did is unknown.
    #[error("unexpected upstream answer: {0}")]
    Unexpected(String),
    /// A status the API does not give for this call (an unexpected `4xx`):
    /// Campaign did not take it.
    #[error("upstream refused: {0}")]
    Refused(String),
}

impl CampaignError {
    /// Whether the answer was one the proxy cannot understand, as opposed
    /// to an outage: asking again the same way is unlikely to help, so
    /// delivery gives up after a bounded number of these.
    pub fn is_strike(&self) -> bool {
        matches!(self, Self::Unexpected(_) | Self::Refused(_))
    }

    /// Whether Campaign could not be asked: nothing it said, only that it
    /// did not (yet) answer.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::Timeout
                | Self::Unavailable(_)
                | Self::Interrupted(_)
                | Self::Throttled(_)
                | Self::Paced(_)
        )
    }

    /// Whether a change sent with the call that failed so may have been
    /// made all the same: no answer came, or not one the proxy can read.
    pub fn may_have_applied(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Interrupted(_) | Self::Unexpected(_)
        )
    }
}

impl From<reqwest::Error> for CampaignError {
    fn from(error: reqwest::Error) -> Self {
        let (timeout, connect) = (error.is_timeout(), error.is_connect());
        // `without_url`: an email filter's URL carries the user's email.
        let text = error.without_url().to_string();
        if timeout {
            Self::Timeout
        } else if connect {
            Self::Unavailable(text)
        } else {
            Self::Interrupted(text)
        }
    }
}

/// What the latest call said about Campaign (IMS included): what readiness
/// reports, without a call of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// It answered as documented.
    Ok,
    /// It could not be reached, timed out, failed or throttled.
    Unreachable(String),
    /// It says the settings are wrong.
    Misconfigured(String),
    /// It answered in a way the proxy cannot understand.
    Unexpected(String),
}

impl Health {
    /// The word readiness reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unreachable(_) => "unreachable",
            Self::Misconfigured(_) => "misconfigured",
            Self::Unexpected(_) => "unexpected",
        }
    }

    /// What is wrong, in words for operators (no bodies, URLs or tokens).
    pub fn problem(&self) -> Option<&str> {
        match self {
            Self::Ok => None,
            Self::Unreachable(why) | Self::Misconfigured(why) | Self::Unexpected(why) => Some(why),
        }
    }

    pub(super) fn of<T>(result: &Result<T, CampaignError>) -> Self {
        match result {
            // Our own pace says nothing of Campaign.
            Ok(_)
            | Err(
                CampaignError::ProfileNotFound
                | CampaignError::AmbiguousProfile
                | CampaignError::TooManyMatches(_)
                | CampaignError::Paced(_),
            ) => Self::Ok,
            Err(CampaignError::Misconfigured(why)) => Self::Misconfigured(why.clone()),
            Err(CampaignError::Unexpected(why) | CampaignError::Refused(why)) => {
                Self::Unexpected(why.clone())
            }
            Err(
                error @ (CampaignError::Timeout
                | CampaignError::Unavailable(_)
                | CampaignError::Interrupted(_)
                | CampaignError::Throttled(_)),
            ) => Self::Unreachable(error.to_string()),
        }
    }
}
