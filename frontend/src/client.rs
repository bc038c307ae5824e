//! Talks to the proxy (and to the host's token URL) with gloo-net. Every
//! failure becomes a [`Failure`] the view can explain in plain words; no
//! parser or network message ever reaches the page.

use ccpa_api::{
    ErrorBody, ErrorCode, GPC_HEADER, OPT_OUT_PATH, OptOutState, OptOutUpdate, SignInToken,
};
use gloo_net::http::{Request, Response};
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use wasm_bindgen_futures::JsFuture;
use web_sys::RequestCredentials;

use crate::settings::{Settings, TokenSource};

/// Why a call did not give a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nobody is signed in (or the sign-in could not be renewed).
    SignedOut,
    /// Campaign has no (single) profile for this user.
    NoProfile,
    /// Network down, proxy down, upstream failure, or an answer we do not
    /// understand: all worth a retry.
    Unavailable,
}

/// The proxy client of one widget instance. Cheap to copy into handlers: the
/// settings are shared and the cached token lives in a signal.
#[derive(Clone, Copy)]
pub struct ApiClient {
    settings: StoredValue<Settings>,
    token: RwSignal<Option<String>>,
}

impl ApiClient {
    /// A client for `settings`; the token is fetched on first use.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings: StoredValue::new(settings),
            token: RwSignal::new(None),
        }
    }

    /// The signed-in user's current choice.
    pub async fn load(self) -> Result<OptOutState, Failure> {
        self.call(None).await
    }

    /// Asks the proxy to set the choice to `ccpa_opt_out`.
    pub async fn save(self, ccpa_opt_out: bool) -> Result<OptOutState, Failure> {
        self.call(Some(OptOutUpdate { ccpa_opt_out })).await
    }

    /// GET (no update) or PATCH, with a sign-in token; when the proxy says
    /// the token expired, fetches a fresh one and sends the request once more.
    async fn call(self, update: Option<OptOutUpdate>) -> Result<OptOutState, Failure> {
        let url = format!(
            "{}{OPT_OUT_PATH}",
            self.settings.with_value(|s| s.api.clone())
        );
        let gpc = self.settings.with_value(|s| s.gpc);
        for attempt in 0..2 {
            let authorization = format!("Bearer {}", self.token().await?);
            let mut request = match update {
                None => Request::get(&url),
                Some(_) => Request::patch(&url).header("Content-Type", "application/json"),
            }
            .header("Authorization", &authorization);
            if gpc {
                // Scripts may not send `Sec-GPC`; browsers that support GPC
                // add it themselves, this says it for the rest.
                request = request.header(GPC_HEADER, "1");
            }
            let request = match update {
                None => request.build(),
                Some(update) => request.body(update.to_json()),
            };
            let request = request.map_err(|_| Failure::Unavailable)?;
            let response = request.send().await.map_err(|_| Failure::Unavailable)?;
            match read(response).await {
                Err(Some(ErrorCode::TokenExpired | ErrorCode::InvalidToken)) if attempt == 0 => {
                    self.token.set(None);
                }
                Err(code) => return Err(failure_for(code)),
                Ok(state) => return Ok(state),
            }
        }
        Err(Failure::SignedOut)
    }

    async fn token(self) -> Result<String, Failure> {
        if let Some(token) = self.token.get_untracked() {
            return Ok(token);
        }
        let token = match self.settings.with_value(|s| s.token.clone()) {
            TokenSource::Inline(token) => token,
            TokenSource::Missing => return Err(Failure::SignedOut),
            TokenSource::Url(url) => fetch_token(&url).await?,
        };
        self.token.set(Some(token.clone()));
        Ok(token)
    }
}

async fn fetch_token(url: &str) -> Result<String, Failure> {
    let response = Request::get(url)
        .credentials(RequestCredentials::SameOrigin)
        .send()
        .await
        .map_err(|_| Failure::Unavailable)?;
    match response.status() {
        200 => json::<SignInToken>(response)
            .await
            .map(|t| t.token)
            .ok_or(Failure::Unavailable),
        401 | 403 => Err(Failure::SignedOut),
        _ => Err(Failure::Unavailable),
    }
}

/// The state in a 2xx answer, or the error code of any other.
async fn read(response: Response) -> Result<OptOutState, Option<ErrorCode>> {
    if response.ok() {
        return json::<OptOutState>(response).await.ok_or(None);
    }
    Err(json::<ErrorBody>(response).await.map(|b| b.error.code))
}

/// The body as `T`, parsed by the browser and mapped by serde.
async fn json<T: DeserializeOwned>(response: Response) -> Option<T> {
    let promise = web_sys::Response::from(response).json().ok()?;
    let value = JsFuture::from(promise).await.ok()?;
    crate::json::from_js(value).ok()
}

fn failure_for(code: Option<ErrorCode>) -> Failure {
    match code {
        Some(ErrorCode::MissingToken | ErrorCode::InvalidToken | ErrorCode::TokenExpired) => {
            Failure::SignedOut
        }
        Some(ErrorCode::ProfileNotFound | ErrorCode::AmbiguousProfile) => Failure::NoProfile,
        _ => Failure::Unavailable,
    }
}
