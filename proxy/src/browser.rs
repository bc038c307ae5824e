//! This browser's own choice, for visitors who are not signed in: the
//! California regulations let anyone opt out, account or not (§ 7026).
//!
//! The choice lives in a first-party cookie the proxy sets (a server-set
//! cookie outlives Safari's seven-day cap on script-written storage), holds
//! nothing but the choice, and names no one. Global Privacy Control opts the
//! browser out as well, unless the visitor chose otherwise while sending it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{AppendHeaders, IntoResponse};
use ccpa_api::{BROWSER_COOKIE, BROWSER_OPT_OUT_HEADER, OptOutState};

use crate::error::ApiError;
use crate::routes::{Body, OptOutBody, Provenance};
use crate::startup::AppState;

/// How long the cookie lasts: 13 months, past the 12 a business must wait
/// before asking an opted-out consumer to opt back in.
const COOKIE_MAX_AGE_SECS: u64 = 395 * 24 * 3600;

/// What this browser chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserChoice {
    /// Do not sell or share.
    OptedOut,
    /// Sale allowed.
    Allowed,
    /// Sale allowed, chosen while the browser sent Global Privacy Control:
    /// the signal no longer overrides it (§ 7025(c)(3)).
    Waived,
}

impl BrowserChoice {
    /// The choice the visitor makes with the switch (`value`), given
    /// whether their browser sends Global Privacy Control.
    pub fn made(value: bool, gpc: bool) -> Self {
        match (value, gpc) {
            (true, _) => Self::OptedOut,
            (false, true) => Self::Waived,
            (false, false) => Self::Allowed,
        }
    }

    fn cookie_value(self) -> &'static str {
        match self {
            Self::OptedOut => "1",
            Self::Allowed => "0",
            Self::Waived => "waived",
        }
    }

    /// The choice `headers` carry: the cookie, else the widget's header
    /// (its own storage remembers an opt-out when the cookie was not kept).
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == BROWSER_COOKIE)
            .and_then(|(_, value)| {
                [Self::OptedOut, Self::Allowed, Self::Waived]
                    .into_iter()
                    .find(|choice| choice.cookie_value() == value)
            });
        cookie.or_else(|| {
            headers
                .get(BROWSER_OPT_OUT_HEADER)
                .is_some_and(|v| v.as_bytes() == b"1")
                .then_some(Self::OptedOut)
        })
    }

    /// The `Set-Cookie` that keeps this choice.
    pub fn cookie(self, secure: bool) -> (header::HeaderName, HeaderValue) {
        let secure = if secure { "; Secure" } else { "" };
        let cookie = format!(
            "{BROWSER_COOKIE}={}; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax{secure}",
            self.cookie_value()
        );
        (
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("a valid cookie"),
        )
    }
}

/// What the browser's choice and signal amount to.
fn state(choice: Option<BrowserChoice>, gpc: bool) -> OptOutState {
    let honored = gpc && choice != Some(BrowserChoice::Waived);
    OptOutState {
        ccpa_opt_out: honored || choice == Some(BrowserChoice::OptedOut),
        pending: false,
        gpc_honored: honored,
    }
}

/// `GET /api/v1/opt-out/browser`: this browser's choice.
pub async fn get_browser(headers: HeaderMap, how: Provenance) -> Json<OptOutState> {
    Json(state(BrowserChoice::of(&headers), how.gpc()))
}

/// `PUT /api/v1/opt-out/browser` with `{"ccpaOptOut": bool}`: keeps the
/// choice in the cookie; the answer says what it now is.
pub async fn put_browser(
    State(app): State<AppState>,
    how: Provenance,
    Body(update): OptOutBody,
) -> Result<impl IntoResponse, ApiError> {
    let choice = BrowserChoice::made(update.ccpa_opt_out, how.gpc());
    let cookie = choice.cookie(app.settings.server.secure_cookies);
    Ok((
        AppendHeaders([cookie]),
        Json(state(Some(choice), how.gpc())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[test]
    fn the_cookie_is_read_among_others_and_wins_over_the_header() {
        assert_eq!(
            BrowserChoice::of(&headers("a=b; ccpa_optout=1; c=d")),
            Some(BrowserChoice::OptedOut)
        );
        let mut both = headers("ccpa_optout=waived");
        both.insert(BROWSER_OPT_OUT_HEADER, HeaderValue::from_static("1"));
        assert_eq!(BrowserChoice::of(&both), Some(BrowserChoice::Waived));
        assert_eq!(BrowserChoice::of(&headers("ccpa_optout=yes")), None);
    }

    #[test]
    fn the_signal_opts_out_unless_waived_and_never_opts_in() {
        assert!(state(None, true).ccpa_opt_out);
        assert!(state(Some(BrowserChoice::Allowed), true).ccpa_opt_out);
        assert!(!state(Some(BrowserChoice::Waived), true).ccpa_opt_out);
        assert!(state(Some(BrowserChoice::OptedOut), false).ccpa_opt_out);
        assert!(!state(None, false).ccpa_opt_out);
    }
}
