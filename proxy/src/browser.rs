//! This browser's own choice, for visitors who are not signed in: the
//! California regulations let anyone opt out, account or not (§ 7026).
//!
//! The choice lives in a first-party cookie the proxy sets (a server-set
//! cookie outlives Safari's seven-day cap on script-written storage), holds
//! nothing but the choice, and names no one. Global Privacy Control opts the
//! browser out as well, unless the visitor chose otherwise while sending it.

use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{AppendHeaders, IntoResponse};
use ccpa_api::{BROWSER_COOKIE, BROWSER_OPT_OUT_HEADER, OptOutState};

use crate::clients::ClientAddr;
use crate::error::ApiError;
use crate::identity::{AdobeId, Ecid, Subject};
use crate::limits::client_of;
use crate::routes::{Body, Choices, OptOutBody, Provenance};
use crate::store::{BrowserRequest, Source, StoreError};

/// How long the cookie lasts: 13 months from the last visit (every read of
/// an opt-out sets it again), so that an opt-out does not lapse while the
/// visitor keeps coming.
const COOKIE_MAX_AGE_SECS: u64 = 395 * 24 * 3600;

/// The cookie's name under HTTPS: `__Host-` binds it to the proxy's host, so
/// a sibling subdomain cannot plant a choice.
const SECURE_COOKIE: &str = "__Host-ccpa_optout";

/// How this browser's cookie is named and sent, as `server.secure_cookies`
/// says: under HTTPS, `__Host-ccpa_optout` with `Secure`, and only that
/// name is read (a sibling subdomain, or a page over plain HTTP, can set
/// the unprefixed one, never the prefixed); over plain HTTP (the demo on
/// loopback), `ccpa_optout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    /// Cookies for a proxy reached over HTTPS (`secure`) or not.
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    fn name(self) -> &'static str {
        if self.secure {
            SECURE_COOKIE
        } else {
            BROWSER_COOKIE
        }
    }
}

/// What this browser chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BrowserChoice {
    /// Sale allowed, chosen while the browser sent Global Privacy Control:
    /// the signal no longer overrides it (§ 7025(c)(3)).
    Waived,
    /// Sale allowed.
    Allowed,
    /// Do not sell or share; already applied to the account of whoever
    /// signed in on this browser since, so no longer a request to them
    /// (their own later choice stands), but still this browser's choice.
    OptedOutApplied,
    /// Do not sell or share, not yet applied to any account: a signed-in
    /// read applies it (§ 7025(c)(1)).
    OptedOut,
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

    /// Whether this browser is opted out.
    fn opted_out(self) -> bool {
        matches!(self, Self::OptedOut | Self::OptedOutApplied)
    }

    fn cookie_value(self) -> &'static str {
        match self {
            Self::OptedOut => "1",
            Self::OptedOutApplied => "applied",
            Self::Allowed => "0",
            Self::Waived => "waived",
        }
    }

    /// The choice `headers` carry: the cookie of the name `cookies` give
    /// (several: the most protective), else the widget's header (its own
    /// storage remembers an opt-out not yet applied, when the cookie was
    /// not kept).
    pub fn of(headers: &HeaderMap, cookies: Cookies) -> Option<Self> {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == cookies.name())
            .filter_map(|(_, value)| {
                [
                    Self::OptedOut,
                    Self::OptedOutApplied,
                    Self::Allowed,
                    Self::Waived,
                ]
                .into_iter()
                .find(|choice| choice.cookie_value() == value)
            })
            .max();
        cookie.or_else(|| {
            headers
                .get(BROWSER_OPT_OUT_HEADER)
                .is_some_and(|v| v.as_bytes() == b"1")
                .then_some(Self::OptedOut)
        })
    }

    /// The `Set-Cookie` that keeps this choice.
    pub fn cookie(self, cookies: Cookies) -> (header::HeaderName, HeaderValue) {
        let secure = if cookies.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{}={}; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax{secure}",
            cookies.name(),
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
        sensitive: None,
        ccpa_opt_out: honored || choice.is_some_and(BrowserChoice::opted_out),
        pending: false,
        gpc_honored: honored,
        signal_applied: false,
        gpc_conflict: false,
    }
}

/// `GET /api/v1/opt-out/browser`: this browser's choice; an opt-out's
/// cookie is set again, so that it lasts 13 months from the last visit.
/// Global Privacy Control honoured here is told to Privacy Service for the
/// page's ECID, where it is told.
pub async fn get_browser(
    State(cookies): State<Cookies>,
    State(choices): State<Choices>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    how: Provenance,
) -> impl IntoResponse {
    let choice = BrowserChoice::of(&headers, cookies);
    let read = state(choice, how.gpc());
    if read.gpc_honored {
        tell_adobe(&choices, client, &how, Told::Signal).await;
    } else if read.ccpa_opt_out {
        tell_adobe(&choices, client, &how, Told::Kept).await;
    }
    let refresh = choice.filter(|c| c.opted_out()).map(|c| c.cookie(cookies));
    (AppendHeaders(refresh), Json(read))
}

/// `PUT /api/v1/opt-out/browser` with `{"ccpaOptOut": bool}`: keeps the
/// choice in the cookie, and where the site tells Adobe's Privacy Service
/// and the page sent its ECID, records it for Privacy Service too; the
/// answer says what it now is.
pub async fn put_browser(
    State(cookies): State<Cookies>,
    State(choices): State<Choices>,
    ClientAddr(client): ClientAddr,
    how: Provenance,
    Body(update): OptOutBody,
) -> Result<impl IntoResponse, ApiError> {
    let value = update.ccpa_opt_out;
    tell_adobe(&choices, client, &how, Told::Switch(value)).await;
    let choice = BrowserChoice::made(value, how.gpc());
    let cookie = choice.cookie(cookies);
    Ok((
        AppendHeaders([cookie]),
        Json(state(Some(choice), how.gpc())),
    ))
}

/// What is told to Privacy Service for this browser's ECID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// The visitor's own switch, without an account: told either way.
    Switch(bool),
    /// Global Privacy Control, without an account: an opt-out.
    Signal,
    /// The opt-out this browser's cookie keeps, without an account: one
    /// its switch made while Privacy Service could not be told, or before
    /// it was.
    Kept,
    /// The signed-in customer's opt-out, which Campaign holds, for the
    /// browser they use now (a browser Adobe's products may not have
    /// been told of).
    Account,
}

/// How long telling Privacy Service may hold up a browser's answer: the
/// visitor's choice never waits for a slow database on Adobe's account.
const TELL_PATIENCE: Duration = Duration::from_secs(2);

impl Told {
    fn value(self) -> bool {
        match self {
            Self::Switch(value) => value,
            Self::Signal | Self::Kept | Self::Account => true,
        }
    }

    fn source(self) -> Source {
        match self {
            Self::Signal => Source::Gpc,
            Self::Switch(_) | Self::Kept | Self::Account => Source::Browser,
        }
    }

    fn basis(self) -> &'static str {
        match self {
            Self::Account => {
                "the signed-in customer's opt-out, which Campaign holds, told for the browser \
                 they use"
            }
            Self::Switch(_) | Self::Signal | Self::Kept => {
                "this browser's own choice, without an account: kept in its cookie, and told to \
                 Privacy Service for its ECID; no Campaign profile to change"
            }
        }
    }
}

/// Records `told` in the audit trail (subject `ecid:<the ECID>`) and for
/// Privacy Service, for the page's ECID, where it is told. The switch is
/// told every time; an opt-out that every page view repeats (a signal, a
/// cookie's, an account's) once (see [`Store::told_already`]).
///
/// It never stands in the way of what the visitor asked for: past the
/// limits (one client address may be a whole office), with storage failing
/// or slower than [`TELL_PATIENCE`], their choice stands all the same, and
/// an opt-out is told at a later visit (the cookie's, the account's).
/// Anyone may send these, so they are bounded per client and in all
/// (`privacy_service.per_client_per_minute`,
/// `privacy_service.browsers_per_minute`).
///
/// [`Store::told_already`]: crate::store::Store::told_already
pub async fn tell_adobe(state: &Choices, client: IpAddr, how: &Provenance, told: Told) {
    let Some(ecid) = how.ecid().filter(|_| state.tell.enabled()) else {
        return;
    };
    let recorded = tokio::time::timeout(TELL_PATIENCE, record(state, client, how, (ecid, told)));
    match recorded.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, request = %how.request_id(), "could not record a browser's choice for Privacy Service")
        }
        Err(_) => {
            tracing::warn!(request = %how.request_id(), "recording a browser's choice for Privacy Service took too long; the answer did not wait")
        }
    }
}

async fn record(
    state: &Choices,
    client: IpAddr,
    how: &Provenance,
    (ecid, told): (&Ecid, Told),
) -> Result<(), StoreError> {
    // Prefixed, so that it can never be taken for a host's `sub`.
    let subject = Subject::verified(&format!("ecid:{}", ecid.as_str()));
    let id = AdobeId::Ecid(ecid.clone());
    if !matches!(told, Told::Switch(_)) && state.store.told_already(&subject, &id).await? {
        return Ok(());
    }
    if state.tell.admit(&client_of(client)).is_err() {
        tracing::info!(request = %how.request_id(), "a browser's choice is not told to Privacy Service: past privacy_service's limits");
        return Ok(());
    }
    let tag = state.log_tags.tag(&subject);
    let request = BrowserRequest {
        subject,
        value: told.value(),
        gpc: how.gpc(),
        source: told.source(),
        basis: told.basis(),
        request_id: how.request_id().to_owned(),
        adobe: vec![id],
    };
    state.store.record_browser(request).await?;
    tracing::info!(subject = %tag, request = %how.request_id(), ?told, "a browser's choice recorded for Privacy Service");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    const PLAIN: Cookies = Cookies { secure: false };
    const SECURE: Cookies = Cookies { secure: true };

    #[test]
    fn the_cookie_is_read_among_others_and_wins_over_the_header() {
        assert_eq!(
            BrowserChoice::of(&headers("a=b; ccpa_optout=1; c=d"), PLAIN),
            Some(BrowserChoice::OptedOut)
        );
        let mut both = headers("ccpa_optout=waived");
        both.insert(BROWSER_OPT_OUT_HEADER, HeaderValue::from_static("1"));
        assert_eq!(BrowserChoice::of(&both, PLAIN), Some(BrowserChoice::Waived));
        assert_eq!(BrowserChoice::of(&headers("ccpa_optout=yes"), PLAIN), None);
        assert_eq!(
            BrowserChoice::of(
                &headers("__Host-ccpa_optout=waived; __Host-ccpa_optout=applied"),
                SECURE
            ),
            Some(BrowserChoice::OptedOutApplied),
            "several cookies: the most protective"
        );
    }

    /// Under HTTPS only the `__Host-` cookie is believed: a sibling
    /// subdomain or a plain-HTTP page can plant the unprefixed one.
    #[test]
    fn under_https_a_planted_unprefixed_cookie_is_not_read() {
        for planted in ["ccpa_optout=waived", "ccpa_optout=1", "ccpa_optout=applied"] {
            assert_eq!(
                BrowserChoice::of(&headers(planted), SECURE),
                None,
                "{planted}"
            );
        }
        assert_eq!(
            BrowserChoice::of(&headers("ccpa_optout=waived; __Host-ccpa_optout=0"), SECURE),
            Some(BrowserChoice::Allowed)
        );
    }

    #[test]
    fn over_https_the_cookie_is_bound_to_the_proxys_host() {
        let (_, secure) = BrowserChoice::OptedOut.cookie(SECURE);
        let secure = secure.to_str().unwrap();
        assert!(
            secure.starts_with("__Host-ccpa_optout=1; Path=/;"),
            "{secure}"
        );
        assert!(secure.ends_with("; Secure"), "{secure}");
        let (_, plain) = BrowserChoice::Allowed.cookie(PLAIN);
        assert!(plain.to_str().unwrap().starts_with("ccpa_optout=0;"));
    }

    #[test]
    fn the_signal_opts_out_unless_waived_and_never_opts_in() {
        assert!(state(None, true).ccpa_opt_out);
        assert!(state(Some(BrowserChoice::Allowed), true).ccpa_opt_out);
        assert!(!state(Some(BrowserChoice::Waived), true).ccpa_opt_out);
        assert!(state(Some(BrowserChoice::OptedOut), false).ccpa_opt_out);
        assert!(state(Some(BrowserChoice::OptedOutApplied), false).ccpa_opt_out);
        assert!(!state(None, false).ccpa_opt_out);
    }
}
