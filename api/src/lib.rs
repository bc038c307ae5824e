//! The wire contract between the ccpa-optout widget, the host page and the proxy.
//!
//! Both the widget (compiled to WebAssembly) and the proxy serialize these
//! types, so a field renamed here is renamed on both sides at once. The crate
//! depends on `serde` alone: every byte it pulls in is shipped to every visitor
//! of a privacy page.

use serde::{Deserialize, Serialize};

/// Path of the one resource the proxy exposes, relative to its base URL.
///
/// There is deliberately no profile identifier in it: the proxy learns whose
/// choice it is from the verified sign-in token, never from the browser.
pub const OPT_OUT_PATH: &str = "/api/v1/opt-out";

/// Path of this browser's own choice, for visitors who are not signed in:
/// `GET` reads it, `PUT` with an [`OptOutUpdate`] sets it. It is kept in a
/// first-party cookie the proxy sets ([`BROWSER_COOKIE`]), and names no one.
pub const BROWSER_OPT_OUT_PATH: &str = "/api/v1/opt-out/browser";

/// Path of the opt-out by email, for visitors without a sign-in: `POST`
/// with an [`EmailOptOut`]. Answered [`EmailReceived`] whether or not
/// anyone has the address; it can only ever opt out.
pub const EMAIL_OPT_OUT_PATH: &str = "/api/v1/opt-out/email";

/// Path of the signed-in consumer's limit on the use of their sensitive
/// personal information, where the site offers it: `PATCH` with a
/// [`SensitiveUpdate`], answered [`SensitiveState`]. `GET` [`OPT_OUT_PATH`]
/// reads it with the opt-out, in [`OptOutState::sensitive`].
pub const SENSITIVE_PATH: &str = "/api/v1/opt-out/sensitive";

/// The cookie that holds this browser's choice: `1` (opted out), `0`
/// (allows sale), or `waived` (allows sale, chosen while the browser sent
/// Global Privacy Control).
pub const BROWSER_COOKIE: &str = "ccpa_optout";

/// The request header a widget sends (`X-CCPA-Browser-Opt-Out: 1`) when
/// this browser opted out while nobody was signed in, as its own storage
/// remembers (for when the cookie could not be kept): for a signed-in
/// request, the proxy then applies that opt-out to the account. Like
/// [`GPC_HEADER`], it can only ever opt out.
pub const BROWSER_OPT_OUT_HEADER: &str = "X-CCPA-Browser-Opt-Out";

/// The request header a widget sends (`X-GPC: 1`) when
/// `navigator.globalPrivacyControl` is true.
///
/// Scripts may not set `Sec-GPC` (the `Sec-` prefix is reserved to the
/// browser), and browsers that expose the property do not all send the
/// header. The proxy treats this header exactly like `Sec-GPC: 1`: it can only
/// ever opt a consumer out, never in, so it needs no more trust than that.
pub const GPC_HEADER: &str = "X-GPC";

/// The request header a widget sends with the page's Experience Cloud ID
/// (`X-CCPA-ECID: <digits>`), when the page runs Adobe's Web SDK or
/// Visitor API and the site tells Adobe's Privacy Service: a choice about
/// sale is then told to Adobe for that browser too. A value not shaped as
/// an ECID is refused (`invalid_header`), and nothing is recorded.
pub const ECID_HEADER: &str = "X-CCPA-ECID";

/// The response header (`X-CCPA-Privacy-Service: on`) on every answer of
/// the API while the site tells Adobe's Privacy Service: only then does the
/// widget read the page's ECID and send it ([`ECID_HEADER`]). The widget
/// remembers it for the next page, so that a page's first request can
/// carry the ECID too.
pub const PRIVACY_SERVICE_HEADER: &str = "X-CCPA-Privacy-Service";

/// The signed-in consumer's current choice, as the proxy reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOutState {
    /// The limit on the use of sensitive personal information, when the
    /// site offers that choice (and someone is signed in); absent otherwise,
    /// and while it cannot be read (Campaign failing): the opt-out is
    /// answered all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<SensitiveState>,
    /// `true`: the consumer forbids the sale or sharing of their personal
    /// information (Campaign's `ccpaOptOut` attribute).
    pub ccpa_opt_out: bool,
    /// `true` while a change was accepted but Campaign has not confirmed it
    /// yet; `ccpa_opt_out` then holds the value that will be applied.
    pub pending: bool,
    /// `true` when the browser sent Global Privacy Control and the proxy
    /// applied (or keeps) the opt-out because of it; `false` when no signal
    /// came, or the consumer chose to allow sale despite it.
    #[serde(default)]
    pub gpc_honored: bool,
    /// `true` on the read that applied an opt-out signal (Global Privacy
    /// Control, or this browser's own opt-out) and so changed the choice:
    /// the widget tells the page, as it does after a click.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signal_applied: bool,
    /// `true` on the read whose Global Privacy Control signal overrode the
    /// consumer's own earlier choice to allow sale, when they had not
    /// opted out in the twelve months before: the widget may tell them,
    /// and how to allow it again (CCPA regulations § 7025(c)(3)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gpc_conflict: bool,
}

/// The signed-in consumer's limit on the use of their sensitive personal
/// information (CCPA § 1798.121).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SensitiveState {
    /// `true`: the consumer limits the use of their sensitive personal
    /// information to what the services they ask for need.
    pub limited: bool,
    /// `true` while a change was accepted but Campaign has not confirmed it
    /// yet; `limited` then holds the value that will be applied.
    pub pending: bool,
}

/// The body of `PATCH /api/v1/opt-out/sensitive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SensitiveUpdate {
    /// Whether to limit the use of sensitive personal information.
    pub limit_sensitive: bool,
}

impl SensitiveUpdate {
    /// The body as JSON text, without a serializer (see
    /// [`OptOutUpdate::to_json`]).
    pub fn to_json(self) -> &'static str {
        if self.limit_sensitive {
            r#"{"limitSensitive":true}"#
        } else {
            r#"{"limitSensitive":false}"#
        }
    }
}

/// The body of `PATCH /api/v1/opt-out`: the only change the browser may ask for.
///
/// Unknown fields are refused, so a body that tries to name a profile
/// (`PKey`, `email`, …) is rejected instead of silently ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptOutUpdate {
    /// The value the consumer chose for Campaign's `ccpaOptOut`.
    pub ccpa_opt_out: bool,
}

impl OptOutUpdate {
    /// The body as JSON text, without a serializer: the widget sends it and
    /// every byte of serializer code would ship to every visitor. A test
    /// keeps it equal to serde's output.
    pub fn to_json(self) -> &'static str {
        if self.ccpa_opt_out {
            r#"{"ccpaOptOut":true}"#
        } else {
            r#"{"ccpaOptOut":false}"#
        }
    }
}

/// The body of `POST /api/v1/opt-out/email`: the address to opt out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailOptOut {
    /// The consumer's email address.
    pub email: String,
}

/// What `POST /api/v1/opt-out/email` answers, always the same: the request
/// is recorded, whether or not anyone has the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailReceived {
    /// Always `true`.
    pub received: bool,
}

/// What a host page's token URL answers: a short-lived token for its
/// signed-in user, minted by the host's own backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInToken {
    /// A compact JWT the proxy verifies (signature, `exp`, `aud`, `iss`).
    pub token: String,
}

/// Every error the proxy answers has this body, whatever the status code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The machine-readable code and a human-readable English sentence.
///
/// Clients should branch on `code` and show their own localized text: the
/// message is for developers reading a network log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable identifier of the error kind.
    pub code: ErrorCode,
    /// A sentence for developers; never contains upstream bodies or secrets.
    pub message: String,
}

/// Stable error identifiers. New codes may be added; clients treat codes
/// they do not know as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No `Authorization: Bearer …` header was sent.
    MissingToken,
    /// The token's signature, issuer, audience or claims are not acceptable.
    InvalidToken,
    /// The token has expired: fetch a fresh one and try again.
    TokenExpired,
    /// The body is not exactly `{"ccpaOptOut": true|false}`.
    InvalidBody,
    /// A header the proxy reads ([`ECID_HEADER`]) is not shaped as it
    /// must be.
    InvalidHeader,
    /// The request's `Content-Type` is not `application/json`.
    UnsupportedMediaType,
    /// The body is larger than the proxy accepts.
    PayloadTooLarge,
    /// The body did not arrive in time.
    RequestTimeout,
    /// The proxy holds as many connections as it may: try again after
    /// `Retry-After`.
    Overloaded,
    /// The request carried a query string; the proxy takes no parameters.
    UnexpectedParameter,
    /// No such route.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// Campaign has no profile for the signed-in user.
    ProfileNotFound,
    /// Campaign has several profiles for the signed-in user's key, so the
    /// proxy refuses to guess which one to touch.
    AmbiguousProfile,
    /// Campaign (or Adobe IMS) refused or failed the request.
    UpstreamUnavailable,
    /// Campaign (or Adobe IMS) did not answer in time.
    UpstreamTimeout,
    /// The proxy could not record the request, so it changed nothing.
    StorageUnavailable,
    /// Too many requests from this client (or for this address): wait as
    /// long as `Retry-After` says, then try again.
    RateLimited,
    /// A fault inside the proxy.
    Internal,
    /// A code this version of the contract does not know.
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_uses_campaign_attribute_name() {
        let json = serde_json::to_string(&OptOutState {
            sensitive: None,
            ccpa_opt_out: true,
            pending: false,
            gpc_honored: true,
            signal_applied: false,
            gpc_conflict: false,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"ccpaOptOut":true,"pending":false,"gpcHonored":true}"#
        );
        let older: OptOutState = serde_json::from_str(r#"{"ccpaOptOut":true,"pending":true}"#)
            .expect("a proxy without GPC support");
        assert!(!older.gpc_honored);
    }

    #[test]
    fn handwritten_update_json_equals_serdes() {
        for value in [true, false] {
            let update = OptOutUpdate {
                ccpa_opt_out: value,
            };
            assert_eq!(update.to_json(), serde_json::to_string(&update).unwrap());
            let update = SensitiveUpdate {
                limit_sensitive: value,
            };
            assert_eq!(update.to_json(), serde_json::to_string(&update).unwrap());
        }
    }

    #[test]
    fn update_refuses_fields_that_could_name_a_profile() {
        let err =
            serde_json::from_str::<OptOutUpdate>(r#"{"ccpaOptOut":true,"PKey":"@x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn update_refuses_non_booleans_and_duplicates() {
        for body in [
            r#"{"ccpaOptOut":"true"}"#,
            r#"{"ccpaOptOut":1}"#,
            r#"{"ccpaOptOut":null}"#,
            r#"{"ccpaOptOut":true,"ccpaOptOut":false}"#,
            r#"{}"#,
        ] {
            assert!(
                serde_json::from_str::<OptOutUpdate>(body).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn unknown_error_codes_do_not_break_old_clients() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":{"code":"brand_new","message":"m"}}"#).unwrap();
        assert_eq!(body.error.code, ErrorCode::Unknown);
    }
}
