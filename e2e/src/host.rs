//! A host shop on its own origin: it serves the built widget's files and a
//! privacy page embedding it, and mints sign-in tokens like a real shop's
//! backend. The proxy runs on another origin, so CORS is exercised too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use campaign_emulator::Emulator;
use ccpa_proxy::config::Settings;
use ccpa_proxy::startup::Application;
use serde::Deserialize;
use serde_json::json;
use testkit::ReservedPort;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::services::{ServeDir, ServeFile};

/// Emulator + host shop (+ proxy, once started).
pub struct Stack {
    /// The emulated Campaign tenant.
    pub emulator: Emulator,
    /// The host shop's origin, e.g. `http://127.0.0.1:41234`.
    pub host_url: String,
    /// Where the widget expects the proxy.
    pub proxy_addr: SocketAddr,
    tokens_minted: Arc<AtomicUsize>,
    /// The proxy's database, kept across its restarts.
    database: testkit::TestDatabase,
    /// The running proxy: how to stop it, and its task.
    proxy: Mutex<Option<RunningProxy>>,
    /// The proxy's port, held from the start (connections refused) until
    /// the proxy first serves on it.
    reserved: Mutex<Option<ReservedPort>>,
    /// What a test changes in the proxy's settings, at every start.
    customize: fn(&mut Settings),
}

type RunningProxy = (oneshot::Sender<()>, JoinHandle<std::io::Result<()>>);

/// Where the host shop serves the other build of a comparison.
pub const OTHER_BUILD: &str = "/other";

/// Where a build without its wasm and glue is served: the loader and the
/// stylesheet only, so that the widget cannot start.
const BROKEN_BUILD: &str = "/broken";

/// Where the build is served with its wasm and its GPP API held back
/// [`HELD_BACK`]: the page, and any frame in it, load long before the
/// widget or the API can start, as on a slow network.
const SLOW_BUILD: &str = "/slow";

/// How long [`SLOW_BUILD`] holds its wasm back.
const HELD_BACK: std::time::Duration = std::time::Duration::from_millis(2_500);

/// How long it holds its GPP API back: less than the wasm, as on a slow
/// network (a tenth of the wasm's bytes), so that what the API says before
/// the widget shows anything is seen every time, not when a race allows.
const GPP_HELD_BACK: std::time::Duration = std::time::Duration::from_millis(1_500);

/// The address the ad network's origin listens on: another loopback
/// address, so another origin than the shop's.
const AD_ADDRESS: &str = "127.0.0.2";

#[derive(Clone)]
struct Host {
    proxy_url: String,
    /// The ad network's origin: the same server on another address, for
    /// the frame an ad tag runs in.
    ad_url: String,
    /// How many tokens the shop has minted.
    tokens_minted: Arc<AtomicUsize>,
}

impl Stack {
    /// Everything running: emulator, proxy and host shop.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The same, with the proxy's settings changed by `customize`.
    pub async fn start_with(customize: fn(&mut Settings)) -> Self {
        let stack = Self {
            customize,
            ..Self::without_proxy().await
        };
        stack.start_proxy().await;
        stack
    }

    /// Everything running, the host shop also serving another build of the
    /// widget under [`OTHER_BUILD`], for pages with [`PageOptions::other_build`].
    pub async fn start_comparing(other: &std::path::Path) -> Self {
        let stack = Self::serving(Some(other)).await;
        stack.start_proxy().await;
        stack
    }

    /// Emulator and host shop; the proxy's port stays closed until
    /// [`Stack::start_proxy`].
    pub async fn without_proxy() -> Self {
        Self::serving(None).await
    }

    async fn serving(other: Option<&std::path::Path>) -> Self {
        let emulator = testkit::spawn_emulator().await;
        let reserved = ReservedPort::new();
        let proxy_addr = reserved.addr();
        let host_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let host_url = format!("http://{}", host_listener.local_addr().unwrap());
        let ad_listener = TcpListener::bind((AD_ADDRESS, 0))
            .await
            .expect("bind a second loopback address");
        let tokens_minted = Arc::new(AtomicUsize::new(0));
        let host = Host {
            proxy_url: format!("http://{proxy_addr}"),
            ad_url: format!("http://{}", ad_listener.local_addr().unwrap()),
            tokens_minted: tokens_minted.clone(),
        };
        let app = Router::new()
            .route("/privacy/{customer}", get(privacy_page))
            .route("/session/{customer}/token", get(token))
            .route("/tag-manager.js", get(tag_manager))
            .route("/floor/{customer}", get(floor_page))
            .route(
                "/floor.js",
                get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], FLOOR_JS) }),
            )
            .route("/logs-an-error", get(logs_an_error))
            .route(
                "/logs-an-error.js",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "text/javascript")],
                        "console.error('ccpa-e2e: an error this page logs on purpose');",
                    )
                }),
            )
            .route(
                "/hostile.css",
                get(|| async { ([(header::CONTENT_TYPE, "text/css")], HOSTILE_CSS) }),
            )
            .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
            .route("/ad-frame", get(ad_frame))
            .route("/ad-frame.js", get(|| script(crate::readers::AD_FRAME_JS)))
            .route("/adobe/web-sdk.js", get(|| script(WEB_SDK_JS)))
            .route("/adobe/visitor-api.js", get(|| script(VISITOR_API_JS)))
            .route("/prebid.js", get(prebid))
            .route(
                &format!("{SLOW_BUILD}/ccpa-widget_bg.wasm"),
                get(|| held_back("ccpa-widget_bg.wasm", "application/wasm", HELD_BACK)),
            )
            .route(
                &format!("{SLOW_BUILD}/ccpa-gpp.js"),
                get(|| held_back("ccpa-gpp.js", "text/javascript", GPP_HELD_BACK)),
            )
            .nest_service(
                SLOW_BUILD,
                ServeDir::new(crate::dist_dir())
                    .precompressed_br()
                    .precompressed_gzip(),
            )
            .route_service(
                &format!("{BROKEN_BUILD}/ccpa-optout.js"),
                ServeFile::new(crate::dist_dir().join("ccpa-optout.js")),
            )
            .route_service(
                &format!("{BROKEN_BUILD}/ccpa-optout.css"),
                ServeFile::new(crate::dist_dir().join("ccpa-optout.css")),
            )
            .route_service(
                &format!("{BROKEN_BUILD}/ccpa-first-paint.js"),
                ServeFile::new(crate::dist_dir().join("ccpa-first-paint.js")),
            )
            .with_state(host)
            .fallback_service(
                ServeDir::new(crate::dist_dir())
                    .precompressed_br()
                    .precompressed_gzip(),
            );
        let app = match other {
            Some(dir) => app.nest_service(
                OTHER_BUILD,
                ServeDir::new(dir).precompressed_br().precompressed_gzip(),
            ),
            None => app,
        };
        let ads = app.clone();
        tokio::spawn(async move { axum::serve(host_listener, app).await });
        tokio::spawn(async move { axum::serve(ad_listener, ads).await });
        Self {
            emulator,
            host_url,
            proxy_addr,
            tokens_minted,
            database: testkit::database().await,
            proxy: Mutex::new(None),
            reserved: Mutex::new(Some(reserved)),
            customize: |_| {},
        }
    }

    /// Starts the proxy on its reserved port. After a stop, the port is
    /// bound again: the one moment another process could take it, right
    /// after our own server let it go.
    pub async fn start_proxy(&self) {
        let reserved = self.reserved.lock().unwrap().take();
        let listener = match reserved {
            Some(reserved) => reserved.listen(),
            None => TcpListener::bind(self.proxy_addr)
                .await
                .expect("the proxy's port is free again"),
        };
        let app = Application::build_on(listener, self.proxy_settings())
            .await
            .expect("proxy starts");
        // Tests count what the widget does, not the proxy's check at start.
        self.emulator.reset_stats();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        *self.proxy.lock().unwrap() = Some((stop, task));
    }

    /// Stops the proxy gracefully, as a deployment would; its port closes.
    pub async fn stop_proxy(&self) {
        let (stop, task) = self.proxy.lock().unwrap().take().expect("a running proxy");
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }

    /// The proxy in demo mode, as `cargo xtask demo` runs it: serving the
    /// demo page and the widget itself, with the demo sign-in. Returns its URL.
    pub async fn start_demo_proxy(&self) -> String {
        let mut settings = self.base_settings();
        settings.server.widget_dir = Some(crate::dist_dir());
        settings.demo.enabled = true;
        // As `cargo xtask demo` runs it: Privacy Service played by the
        // emulator too.
        settings.privacy_service.enabled = true;
        settings.privacy_service.base_url = settings.campaign.base_url.clone();
        settings.privacy_service.ims_org = Some(self.emulator.config().ims_org.clone());
        format!("http://{}", testkit::spawn_proxy(settings).await)
    }

    /// How many sign-in tokens the shop's backend has minted so far.
    pub fn tokens_minted(&self) -> usize {
        self.tokens_minted.load(Ordering::SeqCst)
    }

    /// The privacy page as `customer` sees it when signed in to the shop.
    pub fn page_for(&self, customer: &str) -> String {
        self.page_with(customer, &PageOptions::default())
    }

    /// The load benchmark's floor: the same read as the privacy page's, and
    /// a switch, in a few lines of plain JavaScript.
    pub fn floor_for(&self, customer: &str) -> String {
        format!("{}/floor/{customer}", self.host_url)
    }

    /// The privacy page, shaped by `options`.
    pub fn page_with(&self, customer: &str, options: &PageOptions) -> String {
        format!("{}/privacy/{customer}{}", self.host_url, options.query())
    }

    /// The proxy as the demo runs it: offering both choices, the limit on
    /// sensitive information kept in the emulator's custom field.
    fn base_settings(&self) -> Settings {
        let mut settings = testkit::proxy_settings(&self.emulator, self.database.url());
        let field = campaign_emulator::store::SENSITIVE_FIELD.to_owned();
        settings.campaign.sensitive_field = Some(field.try_into().expect("a field name"));
        settings
    }

    /// The proxy on its reserved port, admitting the shop's origin.
    fn proxy_settings(&self) -> Settings {
        let mut settings = self.base_settings();
        settings.server.allowed_origins = vec![self.host_url.clone()];
        (self.customize)(&mut settings);
        settings
    }
}

/// How a test wants the privacy page: the widget's attributes, the page's
/// direction and styles, and how many widgets it embeds.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageOptions {
    /// The widget's `data-lang`.
    pub lang: Option<String>,
    /// The widget's `data-theme`.
    pub theme: Option<String>,
    /// The page's `dir`.
    pub dir: Option<String>,
    /// How many widgets (default one).
    pub widgets: Option<usize>,
    /// Whether the page has a theme whose broad rules reach into anything
    /// embedded (`/hostile.css`).
    pub hostile: bool,
    /// Whether the page loads the other build [`Stack::start_comparing`]
    /// serves, instead of `dist/`.
    pub other_build: bool,
    /// Whether the page carries the customer's token itself (`data-token`,
    /// a page rendered per user) instead of a `data-token-url`.
    pub inline_token: bool,
    /// The widget's `data-timeout-ms`.
    pub timeout_ms: Option<u32>,
    /// Whether the widget offers the opt-out by email (`data-email-opt-out`).
    pub email_form: bool,
    /// Whether the page's header has a "Your Privacy Choices" link
    /// (`data-ccpa-optout-link`).
    pub link: bool,
    /// The widget's `data-heading-level`.
    pub heading_level: Option<u8>,
    /// Whether the page leaves the widget's stylesheet to the loader
    /// instead of linking it in its head.
    pub late_stylesheet: bool,
    /// Whether the page loads a build whose wasm is missing.
    pub broken_build: bool,
    /// Whether the page loads a build whose wasm, and GPP API, arrive
    /// seconds late.
    pub slow_wasm: bool,
    /// The loader's `data-gpp-sections`.
    pub gpp_sections: Option<String>,
    /// Whether the loader is told to leave `__uspapi` out
    /// (`data-uspapi="off"`).
    pub uspapi_off: bool,
    /// Whether the page has an ad slot: a frame of another origin running
    /// Prebid.js, which reads GPP and USP through the locator frames, put
    /// in by the page's tag manager once the page is parsed.
    pub ad_frame: bool,
    /// Which of Adobe's libraries the page runs (a stand-in answering
    /// [`crate::STAND_IN_ECID`]): `web-sdk` or `visitor-api`.
    pub adobe: Option<String>,
}

impl PageOptions {
    /// The query string that asks for these options.
    pub fn query(&self) -> String {
        let pairs = [
            ("lang", self.lang.clone()),
            ("theme", self.theme.clone()),
            ("dir", self.dir.clone()),
            ("widgets", self.widgets.map(|n| n.to_string())),
            ("hostile", self.hostile.then(|| "true".to_owned())),
            ("other_build", self.other_build.then(|| "true".to_owned())),
            ("inline_token", self.inline_token.then(|| "true".to_owned())),
            ("timeout_ms", self.timeout_ms.map(|ms| ms.to_string())),
            ("email_form", self.email_form.then(|| "true".to_owned())),
            ("link", self.link.then(|| "true".to_owned())),
            ("heading_level", self.heading_level.map(|n| n.to_string())),
            (
                "late_stylesheet",
                self.late_stylesheet.then(|| "true".to_owned()),
            ),
            ("broken_build", self.broken_build.then(|| "true".to_owned())),
            ("slow_wasm", self.slow_wasm.then(|| "true".to_owned())),
            ("gpp_sections", self.gpp_sections.clone()),
            ("uspapi_off", self.uspapi_off.then(|| "true".to_owned())),
            ("ad_frame", self.ad_frame.then(|| "true".to_owned())),
            ("adobe", self.adobe.clone()),
        ];
        let query: Vec<String> = pairs
            .into_iter()
            .filter_map(|(name, value)| {
                value.map(|v| {
                    let v: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
                    format!("{name}={v}")
                })
            })
            .collect();
        if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        }
    }
}

/// The shop's privacy page, under the strict policy the widget promises to
/// work with: no inline script or style anywhere. A tag manager's script
/// records the widget's events in `window.dataLayer` and, as ad stacks do,
/// puts the ad slots' frames in once the page is parsed.
async fn privacy_page(
    State(host): State<Host>,
    Path(customer): Path<String>,
    Query(options): Query<PageOptions>,
) -> Response {
    // Only tag-like values reach the markup.
    let attribute = |name: &str, value: &Option<String>| match value {
        Some(v) if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            format!(" {name}=\"{v}\"")
        }
        _ => String::new(),
    };
    let sign_in = if options.inline_token {
        format!(r#"data-token="{}""#, testkit::token_for(&customer))
    } else {
        format!(r#"data-token-url="/session/{customer}/token""#)
    };
    let widget = format!(
        r#"<div data-ccpa-optout data-api="{api}" {sign_in}{lang}{theme}{timeout}{email}{heading}></div>"#,
        api = host.proxy_url,
        lang = attribute("data-lang", &options.lang),
        theme = attribute("data-theme", &options.theme),
        heading = attribute(
            "data-heading-level",
            &options.heading_level.map(|n| n.to_string())
        ),
        timeout = attribute(
            "data-timeout-ms",
            &options.timeout_ms.map(|ms| ms.to_string())
        ),
        email = if options.email_form {
            " data-email-opt-out"
        } else {
            ""
        },
    );
    let build = match (options.other_build, options.broken_build, options.slow_wasm) {
        (_, true, _) => BROKEN_BUILD,
        (true, false, _) => OTHER_BUILD,
        (false, false, true) => SLOW_BUILD,
        (false, false, false) => "",
    };
    let sections = options
        .gpp_sections
        .as_ref()
        .filter(|s| {
            s.chars()
                .all(|c| c.is_ascii_alphabetic() || c == ',' || c == ' ')
        })
        .map(|s| format!(r#" data-gpp-sections="{s}""#))
        .unwrap_or_default();
    let uspapi = if options.uspapi_off {
        r#" data-uspapi="off""#
    } else {
        ""
    };
    let loader = format!("{sections}{uspapi}");
    let adobe = match options.adobe.as_deref() {
        Some(library @ ("web-sdk" | "visitor-api")) => {
            format!("\n<script src=\"/adobe/{library}.js\"></script>")
        }
        _ => String::new(),
    };
    let page = format!(
        r#"<!doctype html>
<html lang="en"{dir}>
<head>
<meta charset="utf-8">
<title>Privacy choices</title>{theme}
<script src="/tag-manager.js"></script>{adobe}
<script type="module" src="{build}/ccpa-optout.js"{loader}></script>{stylesheet}
</head>
<body>{header}
<main>
<h1>Privacy choices</h1>
{widgets}{ad}
</main>
<footer><p>Shop footer: what a layout shift would move.</p></footer>
</body>
</html>"#,
        dir = attribute("dir", &options.dir),
        theme = if options.hostile {
            r#"<link rel="stylesheet" href="/hostile.css">"#
        } else {
            ""
        },
        widgets = widget.repeat(options.widgets.unwrap_or(1).min(5)),
        // As the embedding guide advises: kept space from the first paint,
        // linked after the page's classic scripts, which would wait for it.
        stylesheet = if options.late_stylesheet {
            String::new()
        } else {
            format!("\n<link rel=\"stylesheet\" href=\"{build}/ccpa-optout.css\">")
        },
        build = build,
        ad = if options.ad_frame {
            format!("\n<div data-ad-slot=\"{}/ad-frame\"></div>", host.ad_url)
        } else {
            String::new()
        },
        header = if options.link {
            format!(
                "\n<header><a data-ccpa-optout-link data-api=\"{}\" data-token-url=\"/session/{customer}/token\" href=\"/privacy/anonymous\"></a></header>",
                host.proxy_url
            )
        } else {
            String::new()
        },
    );
    under_policy(page, &host)
}

/// `page`, served under the strict policy the widget promises to work with.
fn under_policy(page: String, host: &Host) -> Response {
    let csp = format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; connect-src 'self' {}; frame-src 'self' {}",
        host.proxy_url, host.ad_url
    );
    let mut response = Html(page).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp).expect("a valid header"),
    );
    response
}

/// The floor the load benchmark measures the widget against: the least a
/// page can do to show the choice, in a few lines of plain JavaScript
/// ([`FLOOR_JS`]): the same token and the same read, then a switch. It
/// reports `data-state="ready"` as the widget does.
async fn floor_page(State(host): State<Host>, Path(customer): Path<String>) -> Response {
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Privacy choices</title>
<script src="/tag-manager.js"></script>
<script type="module" src="/floor.js"></script>
</head>
<body>
<main>
<h1>Privacy choices</h1>
<div data-testid="ccpa-optout" data-state="loading" data-api="{api}" data-token-url="/session/{customer}/token"></div>
</main>
<footer><p>Shop footer: what a layout shift would move.</p></footer>
</body>
</html>"#,
        api = host.proxy_url,
    );
    under_policy(page, &host)
}

/// The floor's script: fetch the token, then the choice, then show it.
const FLOOR_JS: &str = r#"const host = document.querySelector("[data-testid=ccpa-optout]");
const { api, tokenUrl } = host.dataset;
const { token } = await (await fetch(tokenUrl, { credentials: "same-origin" })).json();
const read = await fetch(`${api}/api/v1/opt-out`, { headers: { Authorization: `Bearer ${token}` }, credentials: "include" });
const { ccpaOptOut } = await read.json();
const button = document.createElement("button");
button.setAttribute("role", "switch");
button.setAttribute("aria-checked", String(ccpaOptOut));
button.textContent = "Do not sell or share my personal information";
host.append(button);
host.dataset.state = "ready";
"#;

/// A shop theme of the kind that breaks embeds: the 62.5 % root font size,
/// inherited text styles, and element rules (some with a class or a
/// pseudo-class in front) for everything a widget is made of.
const HOSTILE_CSS: &str = "html { font-size: 62.5%; }
iframe { display: block !important; width: 300px; height: 150px; border: 2px solid; }
body { font-size: 1.6rem; line-height: 2.4; letter-spacing: .1em; word-spacing: 4px;
  text-transform: uppercase; font-style: italic; text-shadow: 1px 1px 0 #f0f; text-indent: 2em; }
* { box-sizing: content-box; }
main div, main section, main span, main p, main h2, main strong {
  margin: 2rem; padding: 1.5rem; border: 3px dashed #c00; background: #ff0;
  float: left; text-align: center; color: #333; }
main span { display: block; width: 5rem; height: 5rem; }
.entry main p, main p:first-child { font-size: 2.4rem; color: #900; }
h2::before, p::before, span::after { content: '» '; }
main button, main button:hover, button[type=button] { display: block; width: 100%;
  margin: 1rem 0; padding: 2rem; border: 0; border-radius: 0; background: #000;
  color: #fff; font-size: 3rem; box-shadow: 0 0 8px #000; }
";

/// A page that logs an error and nothing else: the console check must see it.
async fn logs_an_error() -> Html<&'static str> {
    Html(
        "<!doctype html><html lang=\"en\"><head><title>Logs an error</title>\
         <script src=\"/logs-an-error.js\"></script></head><body></body></html>",
    )
}

/// What a tag manager does with the widget's event: push it to its data layer.
async fn tag_manager() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript")],
        "window.dataLayer = window.dataLayer || [];\n\
         document.addEventListener('ccpa-optout:change', (e) =>\n\
           window.dataLayer.push({ event: 'ccpa-optout:change', ...e.detail }));\n\
         document.addEventListener('DOMContentLoaded', () => {\n\
           for (const slot of document.querySelectorAll('[data-ad-slot]')) {\n\
             const frame = document.createElement('iframe');\n\
             Object.assign(frame, { src: slot.dataset.adSlot, title: 'Advertisement', width: 300, height: 250 });\n\
             slot.append(frame);\n\
           }\n\
         });\n",
    )
}

/// The shop's backend mints a five-minute token for its signed-in customer.
/// `anonymous` plays a visitor who is not signed in; `<key>+stale` a page
/// whose first token has already expired (a tab left open too long).
async fn token(State(host): State<Host>, Path(customer): Path<String>) -> Response {
    if customer == "anonymous" {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let first = host.tokens_minted.fetch_add(1, Ordering::SeqCst) == 0;
    let token = match customer.strip_suffix("+stale") {
        Some(key) if first => testkit::expired_token_for(key),
        Some(key) => testkit::token_for(key),
        None => testkit::token_for(&customer),
    };
    axum::Json(json!({ "token": token })).into_response()
}

/// A JavaScript file's answer.
/// Stand-ins for Adobe's Web SDK and Visitor API (`e2e/adobe/`): the real
/// libraries answer only for an Adobe organization, on Adobe's network.
const WEB_SDK_JS: &str = include_str!("../adobe/web-sdk.js");
const VISITOR_API_JS: &str = include_str!("../adobe/visitor-api.js");

#[test]
fn the_stand_ins_answer_the_ecid_the_tests_expect() {
    for source in [WEB_SDK_JS, VISITOR_API_JS] {
        assert!(source.contains(&format!("\"{}\"", crate::STAND_IN_ECID)));
    }
}

async fn script(source: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript")], source)
}

/// The ad slot's page, on the ad network's origin: Prebid.js, and the ad
/// tag that configures it to read GPP and USP from the page.
async fn ad_frame() -> Html<&'static str> {
    Html(
        "<!doctype html><html lang=\"en\"><head><title>Advertisement</title>\
         <script src=\"/prebid.js\"></script><script src=\"/ad-frame.js\"></script>\
         </head><body></body></html>",
    )
}

/// Prebid.js as the ad frame loads it ([`crate::readers::prebid`]).
async fn prebid() -> Response {
    match std::fs::read(crate::readers::prebid()) {
        Ok(bundle) => ([(header::CONTENT_TYPE, "text/javascript")], bundle).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The build's `file`, `delay` late.
async fn held_back(file: &str, content_type: &'static str, delay: std::time::Duration) -> Response {
    tokio::time::sleep(delay).await;
    match std::fs::read(crate::dist_dir().join(file)) {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
