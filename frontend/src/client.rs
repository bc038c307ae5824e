//! Talks to the proxy (and to the host's token URL) with gloo-net. Every
//! failure becomes a [`Failure`] the view can explain in plain words; no
//! parser or network message ever reaches the page.

use ccpa_api::{
    BROWSER_OPT_OUT_HEADER, BROWSER_OPT_OUT_PATH, ECID_HEADER, EMAIL_OPT_OUT_PATH, EmailOptOut,
    ErrorBody, ErrorCode, GPC_HEADER, OPT_OUT_PATH, OptOutState, OptOutUpdate,
    PRIVACY_SERVICE_HEADER, SENSITIVE_PATH, SensitiveState, SensitiveUpdate, SignInToken,
};
use gloo_net::http::{Request, RequestBuilder, Response};
use js_sys::{Promise, Reflect};
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, HtmlElement, RequestCredentials};

pub use ccpa_widget_state::Failure;
use ccpa_widget_state::loader::{self, PRIVACY_SERVICE_KEY, REMEMBERED_KEY};

use crate::settings::{Settings, TokenSource};

/// What the loader asked for a widget while the wasm was on its way: its
/// first sign-in token and, with that token, its first read. Each is a
/// promise of an [`Answer`]-shaped object, or of null when the loader could
/// not get one (the widget then asks by itself). Each answers once, so each
/// is used once.
pub struct Early {
    token: Option<Promise>,
    read: Option<Promise>,
    /// The loader's reader of the page's Experience Cloud ID: a function
    /// answering a promise of the ECID, or of null. Kept: asked at every
    /// request, as Adobe's SDK may come after the widget.
    ecid: Option<js_sys::Function>,
}

impl Early {
    /// Takes the loader's requests off `host`, so that a widget mounted
    /// there later asks anew.
    pub fn take(host: &HtmlElement) -> Self {
        let take = |key: &str| {
            let key = key.into();
            let sent = Reflect::get(host, &key).ok()?.dyn_into().ok()?;
            let _ = Reflect::delete_property(host, &key);
            Some(sent)
        };
        let ecid = Reflect::get(host, &loader::ECID_PROPERTY.into())
            .ok()
            .and_then(|reader| reader.dyn_into().ok());
        Self {
            token: take(loader::TOKEN_PROPERTY),
            read: take(loader::READ_PROPERTY),
            ecid,
        }
    }
}

/// A response, read: its status, and its body as the browser parsed it
/// (null when it was not JSON). The loader hands its answers over in this
/// shape, `{status, body}`: read while the wasm was still on its way, they
/// cost the widget no wait for the network once it runs.
struct Answer {
    status: u16,
    body: JsValue,
}

impl Answer {
    /// The loader's answer for `sent`, or `None` when it has none.
    async fn early(sent: Option<Promise>) -> Option<Self> {
        let answer = JsFuture::from(sent?).await.ok()?;
        let field = |name: &str| Reflect::get(&answer, &name.into()).ok();
        Some(Self {
            status: field("status")?.as_f64()? as u16,
            body: field("body")?,
        })
    }

    /// The answer `response` brings, its body read.
    async fn read(response: Response) -> Self {
        let status = response.status();
        let body = match web_sys::Response::from(response).json() {
            Ok(parsed) => JsFuture::from(parsed).await.unwrap_or(JsValue::NULL),
            Err(_) => JsValue::NULL,
        };
        Self { status, body }
    }

    /// The loader's answer for `early`, or else the answer to `request`,
    /// sent now.
    async fn early_or(
        early: Option<Promise>,
        request: impl AsyncFnOnce() -> Result<Response, Failure>,
    ) -> Result<Self, Failure> {
        match Self::early(early).await {
            Some(answer) => Ok(answer),
            None => Ok(Self::read(request().await?).await),
        }
    }

    /// The body as `T`, mapped by serde.
    fn body<T: DeserializeOwned>(self) -> Option<T> {
        crate::json::from_js(self.body).ok()
    }

    /// The `T` in a 2xx answer, or the error code of any other.
    fn parsed<T: DeserializeOwned>(self) -> Result<T, Option<ErrorCode>> {
        if (200..300).contains(&self.status) {
            return self.body().ok_or(None);
        }
        Err(self.body::<ErrorBody>().map(|b| b.error.code))
    }
}

/// What a signed-in request asks: both choices, or a change of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Read,
    Sale(OptOutUpdate),
    Sensitive(SensitiveUpdate),
}

impl Ask {
    fn path(self) -> &'static str {
        match self {
            Ask::Read | Ask::Sale(_) => OPT_OUT_PATH,
            Ask::Sensitive(_) => SENSITIVE_PATH,
        }
    }

    /// The PATCH body of a change; none for a read.
    fn body(self) -> Option<&'static str> {
        match self {
            Ask::Read => None,
            Ask::Sale(update) => Some(update.to_json()),
            Ask::Sensitive(update) => Some(update.to_json()),
        }
    }
}

/// Whose choice the widget shows and changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The signed-in customer's, kept in their Campaign profile.
    Account,
    /// This browser's: nobody is signed in.
    Browser,
}

/// The proxy client of one widget instance. Cheap to copy into handlers: the
/// settings are shared and the cached token lives in a signal.
#[derive(Clone, Copy)]
pub struct ApiClient {
    settings: StoredValue<Settings>,
    token: RwSignal<Option<String>>,
    /// The loader's requests, until they are used.
    early: StoredValue<Early, LocalStorage>,
    /// Account until the host says nobody is signed in.
    scope: RwSignal<Scope>,
}

impl ApiClient {
    /// A client for `settings`; the token is fetched on first use, and the
    /// first token and read are taken from `early` where the loader has them.
    pub fn new(settings: Settings, early: Early) -> Self {
        Self {
            settings: StoredValue::new(settings),
            token: RwSignal::new(None),
            early: StoredValue::new_local(early),
            scope: RwSignal::new(Scope::Account),
        }
    }

    /// Whose choice it is, as a signal for the view.
    pub fn scope(self) -> ReadSignal<Scope> {
        self.scope.read_only()
    }

    /// The current choice: the signed-in customer's, or this browser's when
    /// nobody is signed in.
    pub async fn load(self) -> Result<OptOutState, Failure> {
        if self.scope.get_untracked() == Scope::Account {
            match self.call(Ask::Read).await.and_then(expect) {
                Err(Failure::SignedOut) => self.scope.set(Scope::Browser),
                answer => return answer.inspect(|state| remember(Scope::Account, state)),
            }
        }
        self.browser(None)
            .await
            .inspect(|state| remember(Scope::Browser, state))
    }

    /// Asks the proxy to set the choice to `ccpa_opt_out`.
    pub async fn save(self, ccpa_opt_out: bool) -> Result<OptOutState, Failure> {
        let update = OptOutUpdate { ccpa_opt_out };
        let saved = match self.scope.get_untracked() {
            Scope::Account => self.call(Ask::Sale(update)).await.and_then(expect),
            Scope::Browser => self.browser(Some(update)).await,
        };
        let scope = self.scope.get_untracked();
        saved.inspect(|state| remember(scope, state))
    }

    /// Asks the proxy to limit (or not) the signed-in customer's sensitive
    /// personal information.
    pub async fn save_sensitive(self, limit_sensitive: bool) -> Result<SensitiveState, Failure> {
        self.call(Ask::Sensitive(SensitiveUpdate { limit_sensitive }))
            .await
            .and_then(expect)
    }

    /// Opts `email` out, for a visitor without a sign-in: `true` once the
    /// proxy has recorded it (it answers alike whoever has the address),
    /// `false` when it refused the address as not one.
    pub async fn opt_out_by_email(self, email: &str) -> Result<bool, Failure> {
        let (api, timeout_ms) = self.settings.with_value(|s| (s.api.clone(), s.timeout_ms));
        let body = EmailOptOut {
            email: email.to_owned(),
        };
        let request = Request::post(&format!("{api}{EMAIL_OPT_OUT_PATH}"))
            .header("Content-Type", "application/json")
            .abort_signal(deadline(timeout_ms).as_ref())
            .body(email_json(&body))
            .map_err(|_| Failure::Unavailable)?;
        let answer = Answer::read(request.send().await.map_err(|_| Failure::Unreachable)?).await;
        match answer.status {
            202 => Ok(true),
            422 => Ok(false),
            _ => Err(Failure::Unavailable),
        }
    }

    /// The page's Experience Cloud ID, as the loader reads it (Adobe's Web
    /// SDK or Visitor API), when it has one shaped as an ECID, for a request
    /// that may record a choice: a change, or a read under Global Privacy
    /// Control (which may apply the signal). Other reads wait for nothing.
    /// Only while the proxy tells Adobe's Privacy Service, as its latest
    /// answer said ([`PRIVACY_SERVICE_KEY`]).
    async fn ecid(self, records: bool) -> Option<String> {
        let gpc = self.settings.with_value(|s| s.gpc);
        let told = storage().and_then(|s| s.get_item(PRIVACY_SERVICE_KEY).ok().flatten());
        if !(records || gpc) || told.as_deref() != Some("on") {
            return None;
        }
        let reader = self.early.with_value(|e| e.ecid.clone())?;
        let asked: Promise = reader.call0(&JsValue::NULL).ok()?.dyn_into().ok()?;
        let ecid = JsFuture::from(asked).await.ok()?.as_string()?;
        let shaped = (20..=40).contains(&ecid.len()) && ecid.bytes().all(|b| b.is_ascii_digit());
        shaped.then_some(ecid)
    }

    /// This browser's choice: read (no update) or set.
    async fn browser(self, update: Option<OptOutUpdate>) -> Result<OptOutState, Failure> {
        let (api, gpc, timeout_ms) = self
            .settings
            .with_value(|s| (s.api.clone(), s.gpc, s.timeout_ms));
        let url = format!("{api}{BROWSER_OPT_OUT_PATH}");
        let request = match update {
            None => Request::get(&url),
            Some(_) => Request::put(&url).header("Content-Type", "application/json"),
        };
        let ecid = self.ecid(update.is_some()).await;
        let request =
            signals(request, gpc, ecid.as_deref()).abort_signal(deadline(timeout_ms).as_ref());
        let request = match update {
            None => request.build(),
            Some(update) => request.body(update.to_json()),
        }
        .map_err(|_| Failure::Unavailable)?;
        let sent = request.send().await.map_err(|_| Failure::Unreachable)?;
        let answer = Answer::read(noted(sent)).await;
        let succeeded = (200..300).contains(&answer.status);
        match answer.parsed() {
            Ok(state) => Ok(state),
            Err(None) if succeeded || update.is_some() => Err(Failure::Unreachable),
            Err(code) => Err(failure_for(code)),
        }
    }

    /// GET or PATCH, with a sign-in token; when the proxy says the token
    /// expired, fetches a fresh one and sends the request once more.
    ///
    /// Not generic over the answer's type: each copy of this state machine
    /// costs kilobytes of wasm. Callers read the body with [`expect`].
    async fn call(self, ask: Ask) -> Result<Answer, Failure> {
        let url = format!(
            "{}{}",
            self.settings.with_value(|s| s.api.clone()),
            ask.path()
        );
        let (gpc, timeout_ms) = self.settings.with_value(|s| (s.gpc, s.timeout_ms));
        let update = ask.body();
        for attempt in 0..2 {
            // Without a token nothing was sent: a save failed outright.
            let token = self.token().await.map_err(|failure| match failure {
                Failure::Unreachable if update.is_some() => Failure::Unavailable,
                failure => failure,
            })?;
            // Only the first read can be the loader's.
            let early = match update {
                None => self.early.try_update_value(|e| e.read.take()).flatten(),
                Some(_) => None,
            };
            let answer = Answer::early_or(early, async || {
                let ecid = self.ecid(update.is_some()).await;
                send(&url, &token, update, (gpc, ecid.as_deref()), timeout_ms).await
            });
            let answer = answer.await?;
            if (200..300).contains(&answer.status) {
                return Ok(answer);
            }
            match answer.body::<ErrorBody>().map(|b| b.error.code) {
                Some(ErrorCode::TokenExpired | ErrorCode::InvalidToken) if attempt == 0 => {
                    self.token.set(None);
                }
                // A save answered by something other than the proxy (a load
                // balancer's error page), or cut off by the proxy's own
                // deadline: what became of it is unknown.
                None | Some(ErrorCode::UpstreamTimeout) if update.is_some() => {
                    return Err(Failure::Unreachable);
                }
                code => return Err(failure_for(code)),
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
                let early = self.early.try_update_value(|e| e.token.take()).flatten();
                let timeout_ms = self.settings.with_value(|s| s.timeout_ms);
                fetch_token(&url, early, timeout_ms).await?
            }
        };
        self.token.set(Some(token.clone()));
        Ok(token)
    }
}

/// The `T` in a success's body. A success whose body was cut off (the
/// signal aborts its read too) or garbled: what became of it is unknown.
fn expect<T: DeserializeOwned>(answer: Answer) -> Result<T, Failure> {
    answer.body().ok_or(Failure::Unreachable)
}

/// GET (no update) or PATCH with `update`, signed in with `token`, given up
/// on after `timeout_ms` (the answer's body included: the signal aborts its
/// read).
async fn send(
    url: &str,
    token: &str,
    update: Option<&'static str>,
    (gpc, ecid): (bool, Option<&str>),
    timeout_ms: u32,
) -> Result<Response, Failure> {
    let request = match update {
        None => Request::get(url),
        Some(_) => Request::patch(url).header("Content-Type", "application/json"),
    }
    .header("Authorization", &format!("Bearer {token}"))
    .abort_signal(deadline(timeout_ms).as_ref());
    let request = signals(request, gpc, ecid);
    let request = match update {
        None => request.build(),
        Some(update) => request.body(update),
    };
    let request = request.map_err(|_| Failure::Unavailable)?;
    request
        .send()
        .await
        .map(noted)
        .map_err(|_| Failure::Unreachable)
}

/// `response`, once whether the proxy tells Adobe's Privacy Service is
/// remembered from it ([`PRIVACY_SERVICE_HEADER`]): from the API's own
/// successes only (a limit's `429` or a load balancer's page says nothing).
fn noted(response: Response) -> Response {
    let told = response.headers().get(PRIVACY_SERVICE_HEADER).as_deref() == Some("on");
    if response.ok()
        && let Some(storage) = storage()
    {
        let _ = match told {
            true => storage.set_item(PRIVACY_SERVICE_KEY, "on"),
            false => storage.remove_item(PRIVACY_SERVICE_KEY),
        };
    }
    response
}

/// What a request carries besides: this browser's cookie (its own choice,
/// which the proxy applies to an account once signed in), Global Privacy
/// Control, the opt-out this browser's storage remembers when the cookie
/// could not be kept (a proxy on another site), and the page's ECID (for
/// Adobe's Privacy Service, where the site tells it).
fn signals(request: RequestBuilder, gpc: bool, ecid: Option<&str>) -> RequestBuilder {
    let mut request = request.credentials(RequestCredentials::Include);
    if gpc {
        // Scripts may not send `Sec-GPC`; browsers that support GPC add it
        // themselves, this says it for the rest.
        request = request.header(GPC_HEADER, "1");
    }
    if remembered() {
        request = request.header(BROWSER_OPT_OUT_HEADER, "1");
    }
    if let Some(ecid) = ecid {
        request = request.header(ECID_HEADER, ecid);
    }
    request
}

/// Whether this browser's storage remembers an opt-out not yet applied to
/// an account: the only one that goes with a request, as a signal.
fn remembered() -> bool {
    storage().is_some_and(|s| s.get_item(REMEMBERED_KEY).ok().flatten().as_deref() == Some("1"))
}

/// Keeps what a confirmed state says about this browser in its storage. A
/// browser's opt-out is remembered (a new one as not yet applied), its
/// allowing sale forgets it; an account's read has applied a remembered
/// opt-out (it went with the read), which stays this browser's choice.
fn remember(scope: Scope, state: &OptOutState) {
    let Some(storage) = storage() else { return };
    let stored = storage.get_item(REMEMBERED_KEY).ok().flatten();
    let _ = match (scope, state.ccpa_opt_out, stored.as_deref()) {
        (Scope::Browser, false, _) => storage.remove_item(REMEMBERED_KEY),
        (Scope::Browser, true, None) => storage.set_item(REMEMBERED_KEY, "1"),
        (Scope::Account, _, Some("1")) => storage.set_item(REMEMBERED_KEY, "applied"),
        _ => Ok(()),
    };
}

/// The page's local storage, if the browser lets scripts have it.
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// `{"email": "…"}` with the address escaped, without a JSON serializer
/// in the wasm (see `OptOutUpdate::to_json`).
fn email_json(body: &EmailOptOut) -> String {
    let escaped: String = js_sys::JSON::stringify(&body.email.as_str().into())
        .map(String::from)
        .unwrap_or_default();
    format!(r#"{{"email":{escaped}}}"#)
}

/// A signal that aborts a request (and the reading of its answer) after
/// `timeout_ms`. An `AbortController` and a timer, not
/// `AbortSignal.timeout`, which browsers before 2022 lack.
fn deadline(timeout_ms: u32) -> Option<AbortSignal> {
    let controller = AbortController::new().ok()?;
    let signal = controller.signal();
    set_timeout(
        move || controller.abort(),
        std::time::Duration::from_millis(u64::from(timeout_ms)),
    );
    Some(signal)
}

/// The token from `url`, or from the loader's request to it when given.
async fn fetch_token(
    url: &str,
    early: Option<Promise>,
    timeout_ms: u32,
) -> Result<String, Failure> {
    let answer = Answer::early_or(early, async || {
        Request::get(url)
            .credentials(RequestCredentials::SameOrigin)
            .abort_signal(deadline(timeout_ms).as_ref())
            .send()
            .await
            .map_err(|_| Failure::Unreachable)
    });
    let answer = answer.await?;
    match answer.status {
        200 => answer
            .body::<SignInToken>()
            .map(|t| t.token)
            .ok_or(Failure::Unavailable),
        401 | 403 => Err(Failure::SignedOut),
        _ => Err(Failure::Unavailable),
    }
}

fn failure_for(code: Option<ErrorCode>) -> Failure {
    match code {
        Some(ErrorCode::MissingToken | ErrorCode::InvalidToken | ErrorCode::TokenExpired) => {
            Failure::SignedOut
        }
        Some(ErrorCode::ProfileNotFound | ErrorCode::AmbiguousProfile) => Failure::NoProfile,
        Some(ErrorCode::RateLimited) => Failure::Busy,
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
    fn the_loaders_requests_are_taken_once() {
        let host = element();
        let token = Promise::resolve(&JsValue::NULL);
        let read = Promise::resolve(&JsValue::NULL);
        Reflect::set(&host, &loader::TOKEN_PROPERTY.into(), &token).unwrap();
        Reflect::set(&host, &loader::READ_PROPERTY.into(), &read).unwrap();
        let early = Early::take(&host);
        assert_eq!(early.token.map(JsValue::from), Some(token.into()));
        assert_eq!(early.read.map(JsValue::from), Some(read.into()));
        let again = Early::take(&host);
        assert!(
            again.token.is_none() && again.read.is_none(),
            "taken off the element"
        );
        Reflect::set(&host, &loader::TOKEN_PROPERTY.into(), &"a.b.c".into()).unwrap();
        assert!(Early::take(&host).token.is_none(), "only a request counts");
        assert!(Early::take(&element()).read.is_none());
    }

    #[wasm_bindgen_test]
    async fn the_loaders_answers_are_read_and_null_means_ask_again() {
        let answer = js_sys::JSON::parse(
            r#"{"status": 401, "body": {"error": {"code": "token_expired", "message": "-"}}}"#,
        )
        .unwrap();
        let read = Answer::early(Some(Promise::resolve(&answer)))
            .await
            .unwrap();
        assert_eq!(read.status, 401);
        assert_eq!(
            read.parsed::<OptOutState>().err(),
            Some(Some(ErrorCode::TokenExpired))
        );
        let missing = [
            Promise::resolve(&JsValue::NULL),
            Promise::reject(&JsValue::NULL),
        ];
        for sent in missing {
            assert!(Answer::early(Some(sent)).await.is_none());
        }
        assert!(Answer::early(None).await.is_none());
    }
}
