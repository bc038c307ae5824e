//! Builds the application: one function used by `main` and by the tests, so
//! that what is tested is what runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, MatchedPath};
use axum::handler::HandlerWithoutStateExt;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::middleware::{from_fn, map_request};
use axum::routing::{get, patch, post};
use ccpa_api::{
    BROWSER_OPT_OUT_HEADER, BROWSER_OPT_OUT_PATH, ECID_HEADER, EMAIL_OPT_OUT_PATH, GPC_HEADER,
    OPT_OUT_PATH, PRIVACY_SERVICE_HEADER, SENSITIVE_PATH,
};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::browser::Cookies;
use crate::campaign::{CampaignClient, CampaignError, Needs};
use crate::clients::{self, ClientAddr};
use crate::config::{KeyKind, ServerSettings, Settings};
use crate::delivery::Delivery;
use crate::email::{EmailGuard, EmailLimits};
use crate::identity::{Keys, LogTags, SignIn, TokenVerifier};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::privacy_service::{ConsentDelivery, PrivacyServiceClient, Tell};
use crate::routes::{BodyPatience, Choices, Oversight};
use crate::store::Store;
use crate::{browser, demo, email, front, routes};

/// The whole application, assembled once here and private to this module:
/// handlers and extractors take the pieces they use (the sub-states
/// below), so that nothing below `startup` can depend on the whole.
#[derive(Clone)]
struct AppState {
    /// The settings the proxy started with.
    settings: Arc<Settings>,
    /// The Campaign client, with its connection pool and token cache.
    campaign: Arc<CampaignClient>,
    /// The sign-in token verifier.
    verifier: Arc<TokenVerifier>,
    /// Requests and the audit trail.
    store: Arc<Store>,
    /// Applies recorded changes to Campaign.
    delivery: Arc<Delivery>,
    /// What the opt-out by email lets one client, or one address, ask.
    email_limits: Arc<EmailLimits>,
    /// Keyed tags for subjects in log lines.
    log_tags: Arc<LogTags>,
    /// What one customer, or one client address, may ask for.
    limits: Arc<Limits>,
    /// What operators watch.
    metrics: Arc<Metrics>,
    /// Whom Privacy Service is told a choice for.
    tell: Tell,
    /// Privacy Service's worker, when it is told choices.
    consents: Option<Arc<ConsentDelivery>>,
}

impl FromRef<AppState> for Cookies {
    fn from_ref(app: &AppState) -> Self {
        Cookies::new(app.settings.server.secure_cookies)
    }
}

impl FromRef<AppState> for Choices {
    fn from_ref(app: &AppState) -> Self {
        Choices {
            campaign: app.campaign.clone(),
            store: app.store.clone(),
            delivery: app.delivery.clone(),
            log_tags: app.log_tags.clone(),
            sensitive_offered: app.settings.campaign.sensitive_field.is_some(),
            tell: app.tell.clone(),
        }
    }
}

impl FromRef<AppState> for Oversight {
    fn from_ref(app: &AppState) -> Self {
        Oversight {
            campaign: app.campaign.clone(),
            store: app.store.clone(),
            delivery: app.delivery.clone(),
            metrics: app.metrics.clone(),
            consents: app.consents.clone(),
        }
    }
}

impl FromRef<AppState> for SignIn {
    fn from_ref(app: &AppState) -> Self {
        SignIn {
            verifier: app.verifier.clone(),
            limits: app.limits.clone(),
        }
    }
}

impl FromRef<AppState> for EmailGuard {
    fn from_ref(app: &AppState) -> Self {
        EmailGuard {
            limits: app.email_limits.clone(),
            metrics: app.metrics.clone(),
        }
    }
}

impl FromRef<AppState> for BodyPatience {
    fn from_ref(app: &AppState) -> Self {
        BodyPatience(Duration::from_millis(app.settings.server.body_timeout_ms))
    }
}

impl FromRef<AppState> for Arc<Settings> {
    fn from_ref(app: &AppState) -> Self {
        app.settings.clone()
    }
}

/// Pages served by the proxy (the demo page, the widget's files) may only
/// load code and styles from here: no inline script or style is needed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; \
     base-uri 'none'; form-action 'self'; object-src 'none'";

/// A bound, ready-to-run proxy.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// The admin listener and what it serves (readiness in full, metrics),
    /// when `server.admin_listen` is set.
    admin: Option<(TcpListener, Router)>,
    metrics: Arc<Metrics>,
    store: Arc<Store>,
    delivery: Arc<Delivery>,
    /// Privacy Service's worker, when it is told choices.
    consents: Option<Arc<ConsentDelivery>>,
    campaign: Arc<CampaignClient>,
    /// How often Campaign is checked when nothing else asks it.
    watch: Duration,
    /// The front door's bounds.
    server: ServerSettings,
}

impl Application {
    /// Binds `server.listen` and builds every part from `settings`.
    /// Stops with a sentence when the settings cannot work: a lease an
    /// attempt could outlive, a database another process holds, a Campaign
    /// resource Campaign says does not exist.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.server.listen).await?;
        Self::build_on(listener, settings).await
    }

    /// The same, serving on `listener`, bound already (`server.listen` is
    /// not used): tests bind first, so no other process can take the port
    /// between choosing it and serving on it.
    pub async fn build_on(listener: TcpListener, settings: Settings) -> anyhow::Result<Self> {
        settings
            .delivery
            .check(&settings.campaign)
            .and_then(|()| settings.campaign.check(settings.identity.key_kind))
            .and_then(|()| settings.identity.check())
            .and_then(|()| settings.privacy_service.check())
            .and_then(|()| settings.demo.check(&settings.identity))
            .and_then(|()| {
                let attempt = settings.delivery.attempt_timeout(&settings.campaign);
                settings.server.check(attempt)
            })
            .map_err(anyhow::Error::msg)?;
        let admin = match settings.server.admin_listen {
            Some(at) => Some(TcpListener::bind(at).await?),
            None => None,
        };
        let keys = Keys::load(&settings.identity).await?;
        let metrics = Arc::new(Metrics::default());
        let store = Arc::new(Store::connect(&settings.storage).await?);
        let needs = Needs {
            key_kind: settings.identity.key_kind,
            by_email: settings.identity.key_kind == KeyKind::Email
                || settings.email_opt_out.enabled,
        };
        let campaign = Arc::new(CampaignClient::new(
            settings.campaign.clone(),
            needs,
            metrics.clone(),
        )?);
        check_campaign(&campaign).await?;
        let delivery = Arc::new(Delivery::new(
            store.clone(),
            campaign.clone(),
            &settings.campaign,
            (settings.delivery.clone(), settings.email_opt_out.budget()),
            metrics.clone(),
        ));
        let consents = consent_delivery(&settings, &store, &campaign, &metrics)?;
        let watch = Duration::from_millis(settings.campaign.health_check_ms);
        let state = AppState {
            campaign: campaign.clone(),
            verifier: Arc::new(TokenVerifier::new(&settings.identity, keys)),
            store: store.clone(),
            delivery: delivery.clone(),
            email_limits: Arc::new(EmailLimits::new(&settings.email_opt_out)),
            limits: Arc::new(Limits::new(&settings.limits, metrics.clone())),
            metrics: metrics.clone(),
            tell: Tell::new(&settings.privacy_service, metrics.clone()),
            consents: consents.clone(),
            log_tags: Arc::new(LogTags::new(
                settings
                    .server
                    .log_tag_key
                    .as_ref()
                    .map(|key| key.expose_secret().as_bytes()),
            )),
            settings: Arc::new(settings),
        };
        if state.settings.demo.enabled {
            tracing::warn!("demo sign-in is enabled: anyone can act as any demo customer");
        }
        let mut server = state.settings.server.clone();
        let drain = server.shutdown_timeout(delivery.attempt_timeout());
        server.shutdown_timeout_ms = Some(u64::try_from(drain.as_millis()).unwrap_or(u64::MAX));
        let admin = admin.map(|listener| (listener, admin_router(state.clone())));
        Ok(Self {
            listener,
            router: router(state),
            admin,
            metrics,
            store,
            delivery,
            consents,
            campaign,
            watch,
            server,
        })
    }

    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The admin listener's address, when there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(listener, _)| {
            listener
                .local_addr()
                .expect("a bound listener has an address")
        })
    }

    /// Serves, with the delivery worker beside it, until `shutdown`
    /// completes; then finishes in-flight requests, lets the worker finish
    /// its attempts, and closes the database. Whatever is still pending
    /// stays recorded for the next start.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let worker = tokio::spawn(self.delivery.run(stop.clone()));
        let consents = self
            .consents
            .map(|consents| tokio::spawn(consents.run(stop.clone())));
        let every = self.watch;
        let campaign = self.campaign.clone();
        let watcher = stop.clone();
        tokio::spawn(async move { campaign.watch(every, watcher).await });
        let admin = self.admin.map(|(listener, router)| {
            let (server, metrics, stop) = (self.server.clone(), self.metrics.clone(), stop.clone());
            tokio::spawn(async move {
                let stopped = stop.cancelled_owned();
                front::serve(listener, router, &server, metrics, stopped).await
            })
        });
        // The worker stops claiming as the stop begins, not after the
        // drain: a stop takes the shutdown deadline, not that and an
        // attempt more.
        let stopping = stop.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.cancel();
        };
        let served = front::serve(
            self.listener,
            self.router,
            &self.server,
            self.metrics,
            shutdown,
        )
        .await;
        stop.cancel();
        if let Some(admin) = admin {
            let _ = admin.await;
        }
        if let Err(error) = worker.await {
            tracing::error!(%error, "the delivery worker failed");
        }
        if let Some(Err(error)) = futures_util::future::OptionFuture::from(consents).await {
            tracing::error!(%error, "the Privacy Service worker failed");
        }
        self.store.close().await;
        served
    }
}

/// Privacy Service's worker, when `privacy_service.enabled`: each attempt
/// may renew the token (IMS's timeout) and call twice.
fn consent_delivery(
    settings: &Settings,
    store: &Arc<Store>,
    campaign: &Arc<CampaignClient>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Option<Arc<ConsentDelivery>>> {
    let privacy = &settings.privacy_service;
    if !privacy.enabled {
        return Ok(None);
    }
    let client = PrivacyServiceClient::new(privacy, campaign.clone(), metrics.clone())?;
    let attempt = settings.campaign.timeout() + privacy.timeout() * 2 + Duration::from_secs(1);
    Ok(Some(Arc::new(ConsentDelivery::new(
        store.clone(),
        (client, privacy.max_concurrency),
        settings.delivery.clone(),
        attempt,
        metrics.clone(),
    ))))
}

/// Stops the start when Campaign says the tenant is not the one the
/// settings describe: another API than `campaign.api`, no boolean
/// `campaign.opt_out_field`, no `campaign.email_filter`, or no resource
/// profiles are looked up in (a wrong organization, or the misspelled
/// `profilesAndServices` of Adobe's CCPA page). When Campaign cannot be
/// asked, the proxy starts all the same: it records requests durably,
/// applies them once Campaign answers, and checks the tenant then.
async fn check_campaign(campaign: &CampaignClient) -> anyhow::Result<()> {
    let checked = match campaign.check_tenant().await {
        Ok(()) => campaign.check_resource().await,
        failed => failed,
    };
    match checked {
        Ok(()) => Ok(()),
        Err(CampaignError::Misconfigured(why)) => Err(anyhow::anyhow!(why)),
        Err(error) => {
            tracing::warn!(%error, "could not check the Campaign tenant at start");
            Ok(())
        }
    }
}

/// What the admin listener serves: for operators and their scrapers,
/// never for the internet.
fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/health/ready", get(routes::ready_in_full))
        .route("/metrics", get(routes::metrics))
        .route("/changes/stuck", get(routes::stuck))
        .route("/changes/held", get(routes::held))
        .route("/changes/privacy-service", get(routes::consents_waiting))
        .route("/changes/held/release", post(routes::release_held))
        .fallback(routes::not_found)
        .with_state(state)
}

/// Every route and layer of the proxy.
fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            OPT_OUT_PATH,
            get(routes::get_opt_out).patch(routes::patch_opt_out),
        )
        .route(
            BROWSER_OPT_OUT_PATH,
            get(browser::get_browser).put(browser::put_browser),
        );
    // Off, a route is not there at all: a 404 before its body is read.
    let api = if state.settings.email_opt_out.enabled {
        api.route(EMAIL_OPT_OUT_PATH, post(email::post_email))
    } else {
        api
    };
    let api = if state.settings.campaign.sensitive_field.is_some() {
        api.route(SENSITIVE_PATH, patch(routes::patch_sensitive))
    } else {
        api
    };
    let api =
        api.route_layer(from_fn(routes::refuse_query))
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ));
    // Only then may the widget read the page's ECID.
    let api = match state.tell.enabled() {
        true => api.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_bytes(PRIVACY_SERVICE_HEADER.as_bytes()).expect("a valid header name"),
            HeaderValue::from_static("on"),
        )),
        false => api,
    };
    let mut app = Router::new()
        .merge(api)
        .route("/health/live", get(routes::live))
        .route("/health/ready", get(routes::ready))
        .route("/.well-known/gpc.json", get(routes::gpc_support))
        .route(routes::OPENAPI_PATH, get(routes::openapi));
    if state.settings.demo.enabled {
        app = app.merge(demo::routes());
    }
    // Every route, not the widget's files: a page view fetches half a
    // dozen, and serving them costs a read of a file.
    let limits = state.limits.clone();
    app = app.route_layer(from_fn(move |request, next| {
        per_client(limits.clone(), request, next)
    }));
    app = match &state.settings.server.widget_dir {
        // Which twin went out depends on Accept-Encoding: caches between
        // must keep them apart (ServeDir does not say so itself).
        Some(dir) => app.fallback_service(
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::appending(
                    header::VARY,
                    HeaderValue::from_static("accept-encoding"),
                ))
                .service(
                    ServeDir::new(dir)
                        .precompressed_br()
                        .precompressed_gzip()
                        .not_found_service(routes::not_found.into_service()),
                ),
        ),
        None => app.fallback(routes::not_found),
    };
    let cors = cors(&state.settings.server.allowed_origins);
    let forwarded = (
        state.settings.server.trusted_proxies.clone(),
        state.settings.server.forwarded_header,
    );
    let deadline = state
        .settings
        .server
        .request_timeout(state.delivery.attempt_timeout());
    app.method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state)
        .layer(from_fn(move |request, next| {
            within(deadline, request, next)
        }))
        .layer(cors)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(PropagateRequestIdLayer::new(request_id()))
        .layer(from_fn(move |request, next| {
            clients::identify(forwarded.clone(), request, next)
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    // Method and path only: headers carry tokens, queries may carry emails.
                    let id = request
                        .headers()
                        .get(request_id())
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    let client_id = request
                        .extensions()
                        .get::<ClientRequestId>()
                        .map(|ClientRequestId(id)| id.as_str());
                    let (method, path) = loggable(request);
                    tracing::info_span!("request", method, path, id, client_id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(map_request(assign_request_id))
}

/// The method and path as the request's log span shows them: the
/// standard methods; the route a request matched (its template, which the
/// router holds, not the client) and the widget's files by name. Anything
/// else is the client's to fill (with a token, a customer's key or an
/// address, if it likes) and shows as `(other)`.
fn loggable(request: &Request<Body>) -> (&str, &str) {
    const WIDGET_FILES: [&str; 11] = [
        "/",
        "/index.html",
        "/ccpa-optout.js",
        "/ccpa-gpp.js",
        "/ccpa-first-paint.js",
        "/ccpa-widget.js",
        "/ccpa-widget_bg.wasm",
        "/ccpa-optout.css",
        "/privacy-choices.svg",
        "/demo.js",
        "/demo.css",
    ];
    let standard = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    let method = request.method();
    let method = if standard.contains(method) {
        method.as_str()
    } else {
        "(other)"
    };
    let path = request.uri().path();
    let path = match request.extensions().get::<MatchedPath>() {
        Some(route) => route.as_str(),
        None if WIDGET_FILES.contains(&path) => path,
        None => "(other)",
    };
    (method, path)
}

/// What a client said its request's id was, cut to [`CLIENT_ID_LEN`]
/// characters of `[A-Za-z0-9._-]`: kept in the request's log span only, to
/// match a site's own logs.
#[derive(Clone)]
struct ClientRequestId(String);

const CLIENT_ID_LEN: usize = 64;

/// Every request gets an id of the proxy's own, which the logs, the audit
/// trail and the answer's `X-Request-Id` carry: a client's id can neither
/// fill the append-only trail nor pass for another request's.
async fn assign_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    let client = request
        .headers()
        .get(request_id())
        .and_then(|v| v.to_str().ok())
        .map(|id| {
            id.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .take(CLIENT_ID_LEN)
                .collect::<String>()
        })
        .filter(|id| !id.is_empty());
    let own = uuid::Uuid::new_v4().to_string();
    let own = HeaderValue::from_str(&own).expect("a UUID is a header value");
    request.headers_mut().insert(request_id(), own);
    if let Some(client) = client {
        request.extensions_mut().insert(ClientRequestId(client));
    }
    request
}

/// Answers `504` when the request takes longer than `deadline`: something
/// it waits for is stuck, and the client should not wait with it. A
/// request's own delivery attempt runs as a task of its own and goes on.
async fn within(
    deadline: Duration,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => crate::error::ApiError::Deadline.into_response(),
    }
}

/// Refuses a client past its limit (`429` with `Retry-After`), before
/// anything else is done for it.
async fn per_client(
    limits: Arc<Limits>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let client = request.extensions().get::<ClientAddr>().copied();
    match client.map(|ClientAddr(ip)| limits.client(ip)) {
        Some(Err(wait)) => crate::error::ApiError::TooManyRequests(wait).into_response(),
        _ => next.run(request).await,
    }
}

fn request_id() -> HeaderName {
    HeaderName::from_static("x-request-id")
}

/// Browsers on the configured origins may call the API and load the widget,
/// with their cookies (this browser's choice).
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::PATCH, Method::PUT, Method::POST])
        .allow_credentials(true)
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_bytes(GPC_HEADER.as_bytes()).expect("a valid header name"),
            HeaderName::from_bytes(BROWSER_OPT_OUT_HEADER.as_bytes()).expect("a valid header name"),
            HeaderName::from_bytes(ECID_HEADER.as_bytes()).expect("a valid header name"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            request_id(),
            HeaderName::from_bytes(PRIVACY_SERVICE_HEADER.as_bytes()).expect("a valid header name"),
        ])
        .max_age(Duration::from_secs(600))
}
