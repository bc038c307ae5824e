//! Talks to the proxy (and to the host's token URL) with gloo-net. Every
//! failure becomes a [`Failure`] the view can explain in plain words; no
//! parser or network message ever reaches the page.

use ccpa_api::{
    ErrorBody, ErrorCode, GPC_HEADER, OPT_OUT_PATH, OptOutState, OptOutUpdate, SignInToken,
};
use gloo_net::http::{Request, Response};
use js_sys::Promise;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlElement, RequestCredentials};

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

/// Where the loader leaves its request for a widget's first token.
const EARLY_TOKEN: &str = "ccpaOptOutToken";

/// The request the loader sent for `host`'s first token (a promise of the
/// token URL's `Response`), taken off the element: it answers once.
pub fn early_token(host: &HtmlElement) -> Option<Promise> {
    let key = EARLY_TOKEN.into();
    let sent = js_sys::Reflect::get(host, &key).ok()?.dyn_into().ok()?;
    let _ = js_sys::Reflect::delete_property(host, &key);
    Some(sent)
}

/// The proxy client of one widget instance. Cheap to copy into handlers: the
/// settings are shared and the cached token lives in a signal.
#[derive(Clone, Copy)]
pub struct ApiClient {
    settings: StoredValue<Settings>,
    token: RwSignal<Option<String>>,
    /// The loader's request for the first token, until it is used.
    early_token: StoredValue<Option<Promise>, LocalStorage>,
}

impl ApiClient {
    /// A client for `settings`; the token is fetched on first use, or taken
    /// from `early_token` if the loader already asked for it.
    pub fn new(settings: Settings, early_token: Option<Promise>) -> Self {
        Self {
            settings: StoredValue::new(settings),
            token: RwSignal::new(None),
            early_token: StoredValue::new_local(early_token),
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
            TokenSource::Url(url) => {
                let early = self.early_token.try_update_value(Option::take).flatten();
                fetch_token(&url, early).await?
            }
        };
        self.token.set(Some(token.clone()));
        Ok(token)
    }
}

/// The token from `url`, or from the loader's request to it when given.
async fn fetch_token(url: &str, early: Option<Promise>) -> Result<String, Failure> {
    let response = match early {
        Some(sent) => JsFuture::from(sent)
            .await
            .ok()
            .and_then(|r| r.dyn_into::<web_sys::Response>().ok())
            .map(Response::from),
        None => Request::get(url)
            .credentials(RequestCredentials::SameOrigin)
            .send()
            .await
            .ok(),
    }
    .ok_or(Failure::Unavailable)?;
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

#[cfg(test)]
mod tests {
    use js_sys::Reflect;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    fn element() -> HtmlElement {
        let document = web_sys::window().unwrap().document().unwrap();
        document.create_element("div").unwrap().dyn_into().unwrap()
    }

    #[wasm_bindgen_test]
    fn the_loaders_token_request_is_taken_once() {
        let host = element();
        let sent = Promise::resolve(&JsValue::NULL);
        Reflect::set(&host, &EARLY_TOKEN.into(), &sent).unwrap();
        assert_eq!(early_token(&host).map(JsValue::from), Some(sent.into()));
        assert!(early_token(&host).is_none(), "taken off the element");
        Reflect::set(&host, &EARLY_TOKEN.into(), &"a.b.c".into()).unwrap();
        assert!(early_token(&host).is_none(), "only a request counts");
        assert!(early_token(&element()).is_none());
    }
}
