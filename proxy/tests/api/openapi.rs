//! The API's OpenAPI document (`proxy/openapi.json`, served at
//! `/api/v1/openapi.json`) against the running proxy: it names exactly the
//! proxy's routes and error codes, and every answer below — each route, its
//! successes and its refusals — has a status the document lists for that
//! operation and a body its schema accepts.

use std::collections::BTreeSet;

use campaign_emulator::faults::{Fault, FaultKind};
use campaign_emulator::store::SENSITIVE_FIELD;
use ccpa_api::{BROWSER_OPT_OUT_PATH, EMAIL_OPT_OUT_PATH, ErrorCode, OPT_OUT_PATH, SENSITIVE_PATH};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::helpers::*;

/// The document the proxy serves, and the answers checked against it.
struct Spec {
    document: Value,
    /// `METHOD path status` of every answer checked.
    answered: BTreeSet<String>,
}

impl Spec {
    async fn served(app: &TestApp) -> Self {
        let response = app.get("/api/v1/openapi.json").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let document: Value = response.json().await.expect("the document is JSON");
        assert_eq!(document["openapi"], "3.1.0");
        Self {
            document,
            answered: BTreeSet::new(),
        }
    }

    /// Sends `request` and checks its answer: a status the document lists
    /// for the operation, and a body the listed schema accepts.
    async fn check(&mut self, request: RequestBuilder) -> (u16, Value) {
        let (client, request) = request.build_split();
        let request = request.expect("a well-formed request");
        let method = request.method().as_str().to_lowercase();
        let path = request.url().path().to_owned();
        let response = client.execute(request).await.expect("the proxy answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body: Value = response.json().await.expect("every answer is JSON");
        let escaped = path.replace('~', "~0").replace('/', "~1");
        let operation = format!("/paths/{escaped}/{method}/responses/{status}");
        let documented = self
            .document
            .pointer(&operation)
            .unwrap_or_else(|| panic!("{method} {path} answered {status}, undocumented: {body}"));
        // A shared response is read where it is defined.
        let at = shared(documented).unwrap_or(operation);
        for (name, header) in self.required_headers(&at) {
            assert!(
                headers.contains_key(name.as_str()),
                "{method} {path} {status} lacks the {name} header the document requires \
                 ({header})"
            );
        }
        let mut schema = self.document.clone();
        schema["$ref"] = json!(format!("#{at}/content/application~1json/schema"));
        let validator =
            jsonschema::draft202012::new(&schema).expect("the document's schemas compile");
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {body} does not fit the document: {errors:?}"
        );
        self.answered
            .insert(format!("{} {path} {status}", method.to_uppercase()));
        (status, body)
    }
}

/// The pointer within the document that `part` refers to, if it is a
/// `$ref` to a shared part.
fn shared(part: &Value) -> Option<String> {
    let reference = part["$ref"].as_str()?;
    Some(reference.trim_start_matches('#').to_owned())
}

impl Spec {
    /// The headers the response at pointer `at` requires, by name.
    fn required_headers(&self, at: &str) -> Vec<(String, String)> {
        let response = self
            .document
            .pointer(at)
            .expect("the response is in the document");
        let Some(headers) = response["headers"].as_object() else {
            return Vec::new();
        };
        headers
            .iter()
            .filter_map(|(name, header)| {
                let header = match shared(header) {
                    Some(at) => self.document.pointer(&at)?,
                    None => header,
                };
                (header["required"] == true)
                    .then(|| (name.clone(), header["description"].to_string()))
            })
            .collect()
    }
}

/// How many codes the proxy may answer with: the arms of [`position`].
const CODES: usize = 19;

/// Where `code` stands among the proxy's codes. A code added to
/// `ErrorCode` stops this from compiling until it is given a place.
fn position(code: ErrorCode) -> Option<usize> {
    use ErrorCode::*;
    Some(match code {
        MissingToken => 0,
        InvalidToken => 1,
        TokenExpired => 2,
        InvalidBody => 3,
        UnsupportedMediaType => 4,
        PayloadTooLarge => 5,
        RequestTimeout => 6,
        Overloaded => 7,
        UnexpectedParameter => 8,
        NotFound => 9,
        MethodNotAllowed => 10,
        ProfileNotFound => 11,
        AmbiguousProfile => 12,
        UpstreamUnavailable => 13,
        UpstreamTimeout => 14,
        StorageUnavailable => 15,
        RateLimited => 16,
        Internal => 17,
        InvalidHeader => 18,
        // Only ever read: what a client makes of a code it does not know.
        Unknown => return None,
    })
}

fn offer_everything(settings: &mut ccpa_proxy::config::Settings) {
    settings.email_opt_out.enabled = true;
    settings.campaign.sensitive_field = Some(SENSITIVE_FIELD.to_owned().try_into().unwrap());
}

#[tokio::test]
async fn the_document_names_exactly_the_routes_and_error_codes_of_the_proxy() {
    let app = spawn_app_with(offer_everything).await;
    let spec = Spec::served(&app).await;
    let paths: BTreeSet<&str> = spec.document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let served = BTreeSet::from([
        OPT_OUT_PATH,
        BROWSER_OPT_OUT_PATH,
        EMAIL_OPT_OUT_PATH,
        SENSITIVE_PATH,
        ccpa_proxy::routes::OPENAPI_PATH,
        "/.well-known/gpc.json",
        "/health/live",
        "/health/ready",
    ]);
    assert_eq!(paths, served);
    // And the proxy answers each documented method on each, and refuses
    // the others.
    for (path, item) in spec.document["paths"].as_object().unwrap() {
        for method in ["get", "put", "patch", "post", "delete"] {
            let url = format!("{}{path}", app.url);
            let method_name = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = app
                .http
                .request(method_name, url)
                .send()
                .await
                .unwrap()
                .status();
            let documented = item.get(method).is_some();
            assert_eq!(
                documented,
                status != 405,
                "{method} {path}: answered {status}, documented: {documented}"
            );
        }
    }

    let code = "/components/schemas/ErrorBody/properties/error/properties/code/enum";
    let documented = spec.document.pointer(code).unwrap().as_array().unwrap();
    let places: BTreeSet<usize> = documented
        .iter()
        .map(|name| {
            let code: ErrorCode = serde_json::from_value(name.clone()).unwrap();
            assert_eq!(
                &serde_json::to_value(code).unwrap(),
                name,
                "spelled as on the wire"
            );
            position(code).unwrap_or_else(|| panic!("{name} is no code of the proxy"))
        })
        .collect();
    assert_eq!(documented.len(), CODES, "each code once");
    assert_eq!(places, (0..CODES).collect(), "every code of the proxy");
}

#[tokio::test]
async fn every_answer_of_the_proxy_fits_the_document() {
    let app = spawn_app_with(offer_everything).await;
    let mut spec = Spec::served(&app).await;
    let http = &app.http;
    let url = |path: &str| format!("{}{path}", app.url);
    let token = token_for("CUST-1001");
    let opt_out = json!({"ccpaOptOut": true});
    let change = |path: &str, body: Value| http.patch(url(path)).bearer_auth(&token).json(&body);
    let fail_once = || {
        app.emulator
            .inject(Fault::campaign(FaultKind::Status { status: 500 }, 1))
    };

    // A read, and one that applies every signal.
    spec.check(http.get(url(OPT_OUT_PATH)).bearer_auth(&token))
        .await;
    let signalled = http
        .get(url(OPT_OUT_PATH))
        .bearer_auth(token_for("CUST-1003"))
        .header("Sec-GPC", "1")
        .header("X-CCPA-Browser-Opt-Out", "1");
    let (_, body) = spec.check(signalled).await;
    assert_eq!(body["signalApplied"], true, "{body}");

    // Changes: applied, then recorded while Campaign fails.
    spec.check(change(OPT_OUT_PATH, opt_out.clone())).await;
    spec.check(change(SENSITIVE_PATH, json!({"limitSensitive": true})))
        .await;
    fail_once();
    spec.check(change(OPT_OUT_PATH, json!({"ccpaOptOut": false})))
        .await;
    fail_once();
    spec.check(change(SENSITIVE_PATH, json!({"limitSensitive": false})))
        .await;
    app.drained().await;
    // GPC over the consumer's own choice to allow sale.
    let conflict = http
        .get(url(OPT_OUT_PATH))
        .bearer_auth(&token)
        .header("Sec-GPC", "1");
    let (_, body) = spec.check(conflict).await;
    assert_eq!(body["gpcConflict"], true, "{body}");

    // A read while Campaign fails, and allowing sale for a stranger.
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 500 }, 3));
    spec.check(
        http.get(url(OPT_OUT_PATH))
            .bearer_auth(token_for("CUST-1002")),
    )
    .await;
    app.emulator.clear_faults();
    let stranger = http
        .patch(url(OPT_OUT_PATH))
        .bearer_auth(token_for("NOBODY-404"))
        .json(&json!({"ccpaOptOut": false}));
    spec.check(stranger).await;

    // Refusals, each before anything is forwarded.
    let patch = || http.patch(url(OPT_OUT_PATH));
    let query = format!("{OPT_OUT_PATH}?profile=CUST-1002");
    for refused in [
        patch().json(&opt_out),
        patch().bearer_auth("not.a.token").json(&opt_out),
        http.patch(url(&query)).bearer_auth(&token).json(&opt_out),
        patch().bearer_auth(&token).body("ccpaOptOut=true"),
        patch()
            .bearer_auth(&token)
            .json(&json!({"ccpaOptOut": "yes"})),
        patch()
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("x".repeat(4_096)),
        change(SENSITIVE_PATH, opt_out.clone()),
    ] {
        spec.check(refused).await;
    }

    // This browser's own choice, the opt-out by email, the other routes.
    let browser = url(BROWSER_OPT_OUT_PATH);
    spec.check(http.get(&browser).header("Sec-GPC", "1")).await;
    spec.check(http.put(&browser).json(&opt_out)).await;
    spec.check(http.put(&browser).json(&json!({}))).await;
    let email = url(EMAIL_OPT_OUT_PATH);
    spec.check(http.post(&email).json(&json!({"email": "ada@example.com"})))
        .await;
    spec.check(http.post(&email).json(&json!({"email": "not an address"})))
        .await;
    for path in ["/.well-known/gpc.json", "/health/live", "/health/ready"] {
        spec.check(http.get(url(path))).await;
    }

    // One customer past their limit of reads.
    let limited = spawn_app_with(|s| s.limits.reads_per_minute = 1).await;
    let read = || {
        http.get(format!("{}{OPT_OUT_PATH}", limited.url))
            .bearer_auth(&token)
    };
    spec.check(read()).await;
    spec.check(read()).await;

    let expected = [
        "GET /api/v1/opt-out 200",
        "GET /api/v1/opt-out 429",
        "GET /api/v1/opt-out 502",
        "PATCH /api/v1/opt-out 200",
        "PATCH /api/v1/opt-out 202",
        "PATCH /api/v1/opt-out 400",
        "PATCH /api/v1/opt-out 401",
        "PATCH /api/v1/opt-out 404",
        "PATCH /api/v1/opt-out 413",
        "PATCH /api/v1/opt-out 415",
        "PATCH /api/v1/opt-out 422",
        "PATCH /api/v1/opt-out/sensitive 200",
        "PATCH /api/v1/opt-out/sensitive 202",
        "PATCH /api/v1/opt-out/sensitive 422",
        "GET /api/v1/opt-out/browser 200",
        "PUT /api/v1/opt-out/browser 200",
        "PUT /api/v1/opt-out/browser 422",
        "POST /api/v1/opt-out/email 202",
        "POST /api/v1/opt-out/email 422",
        "GET /.well-known/gpc.json 200",
        "GET /health/live 200",
        "GET /health/ready 200",
    ];
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        spec.answered, expected,
        "the answers this test meant to see"
    );
}
