//! The Campaign Standard profile API: `profileAndServices/profile` and the
//! extended `profileAndServicesExt/profile` resource, behind the API
//! gateway's credential checks; as Campaign Standard answers it, or as a
//! tenant migrated to Campaign v8 does (`EmulatorConfig::api`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::store::{Profile, SENSITIVE_FIELD};
use crate::{Api, AppState, EmulatorConfig};

/// Which resource a route serves. The plural spelling from Adobe's CCPA page
/// is answered too, but links always use the documented singular.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `profileAndServices`: out-of-the-box fields, addressed by PKey.
    Standard,
    /// `profileAndServicesExt`: custom fields, addressed by custom key or PKey.
    Extended,
}

impl Resource {
    fn path(self) -> &'static str {
        match self {
            Resource::Standard => "profileAndServices",
            Resource::Extended => "profileAndServicesExt",
        }
    }
}

/// Campaign's error body: `{"code": 404, "message": "…"}`.
pub fn campaign_error(status: StatusCode, message: &str) -> impl IntoResponse + use<> {
    (
        status,
        Json(json!({ "code": status.as_u16(), "message": message })),
    )
}

/// A key no profile has. A migrated tenant tries a key that is not a
/// custom key as a PKey, and says it cannot decrypt it.
fn not_found(api: Api) -> Response {
    let message = match api {
        Api::Standard => {
            "RST-360011 An error has occurred - please contact your administrator. Unable to find document"
        }
        Api::V8Migrated => "Unable to decrypt PKey",
    };
    campaign_error(StatusCode::NOT_FOUND, message).into_response()
}

/// What the API gateway answers for a path it routes nowhere: an unknown
/// organization or resource. Not Campaign's "document not found": nothing
/// was looked up. (Adobe does not document this answer; the shape follows
/// the gateway's other errors.)
pub async fn no_such_resource() -> Response {
    gateway_error(StatusCode::NOT_FOUND, "404050", "Resource not found")
}

fn bad_request(message: &str) -> Response {
    campaign_error(StatusCode::BAD_REQUEST, message).into_response()
}

/// The API gateway: a valid IMS bearer token (else 401) and the client's
/// API key (else 403), with the gateway's own error shape.
pub async fn require_credentials(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let token_ok = token.is_some_and(|t| {
        app.store
            .lock()
            .expect("emulator store poisoned")
            .token_is_valid(t)
    });
    if !token_ok {
        return gateway_error(
            StatusCode::UNAUTHORIZED,
            "401013",
            "Oauth token is not valid",
        );
    }
    let key_ok = headers
        .get("x-api-key")
        .is_some_and(|v| v.as_bytes() == app.config.client_id.as_bytes());
    if !key_ok {
        return gateway_error(StatusCode::FORBIDDEN, "403003", "Api Key is invalid");
    }
    app.store
        .lock()
        .expect("emulator store poisoned")
        .stats
        .campaign_requests += 1;
    next.run(request).await
}

fn gateway_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error_code": code, "message": message })),
    )
        .into_response()
}

/// A custom field of another type than a boolean, the same on every
/// profile: what a setting that names the wrong field finds.
const SEGMENT_FIELD: &str = "cusSegment";

/// Whether `resource` shows the field `name`: a custom (`cus…`) field
/// only the extended one.
fn shows(resource: Resource, name: &str) -> bool {
    resource == Resource::Extended || !name.starts_with("cus")
}

/// Renders a profile the way `resource` shows it, with its `href`.
fn render(profile: &Profile, resource: Resource, base: &str, config: &EmulatorConfig) -> Value {
    let mut body = json!({
        "PKey": profile.pkey,
        "href": format!("{base}/{}/profile/{}", resource.path(), profile.pkey),
        "firstName": profile.first_name,
        "lastName": profile.last_name,
        "email": profile.email,
    });
    let field = config.opt_out_field.as_str();
    if shows(resource, field) {
        body[field] = match (config.api, profile.opt_out_blank) {
            (Api::V8Migrated, true) => Value::Null,
            _ => json!(profile.ccpa_opt_out),
        };
    }
    if resource == Resource::Extended {
        body["cusCustomerId"] = json!(profile.cus_customer_id);
        body[SEGMENT_FIELD] = json!("retail");
        body[SENSITIVE_FIELD] = match (config.api, profile.sensitive_blank) {
            (Api::V8Migrated, true) => Value::Null,
            _ => json!(profile.cus_limit_sensitive),
        };
    }
    body
}

/// `http://<host>/<org>/campaign`, the prefix of every link the API returns.
fn base_url(app: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/{}/campaign", app.config.organization)
}

/// Query of a collection (the resource itself, or a filter such as
/// `byEmail`), as Campaign pages it: `_lineCount` profiles a page (25 by
/// default) from `_lineStart`; `_forcePagination=true` asks for the `next`
/// link on a large table, where Campaign leaves it out otherwise.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    #[serde(rename = "_lineCount")]
    line_count: Option<usize>,
    #[serde(rename = "_lineStart")]
    line_start: Option<usize>,
    #[serde(rename = "_forcePagination")]
    force_pagination: Option<bool>,
    /// The `byEmail` filter's parameter.
    email: Option<String>,
}

/// Campaign's page when `_lineCount` is not given.
const DEFAULT_PAGE: usize = 25;

/// One page of `items` as Campaign answers a collection: `content`, the
/// `count` link, and a `next` link while items remain, unless the table is
/// a large one (more profiles than Campaign's `XtkBigTableThreshold`, which
/// the emulator can be given) and the caller did not force it.
fn collection(
    items: Vec<Value>,
    paging: &Paging,
    uri: &Uri,
    (base, resource): (&str, Resource),
    large: bool,
) -> Value {
    let (start, count) = (
        paging.line_start.unwrap_or(0),
        paging.line_count.unwrap_or(DEFAULT_PAGE),
    );
    let more = items.len() > start.saturating_add(count);
    let content: Vec<Value> = items.into_iter().skip(start).take(count).collect();
    let mut page = json!({
        "content": content,
        "count": { "href": format!("{base}/{}/profile/_count", resource.path()) },
        "serverSidePagination": true,
    });
    if more && (!large || paging.force_pagination == Some(true)) {
        page["next"] = json!({ "href": next_href((base, resource), uri, start + count, count) });
    }
    page
}

/// The request's own URL (the documented spelling of its resource) with
/// `_lineStart` moved on: Campaign computes it, and callers must take it
/// from the `next` link as it is.
fn next_href((base, resource): (&str, Resource), uri: &Uri, start: usize, count: usize) -> String {
    let route = uri
        .path()
        .rsplit_once("/profile")
        .map_or("", |(_, route)| route);
    let mut url = url::Url::parse(&format!("{base}/{}/profile{route}", resource.path()))
        .expect("a valid URL");
    let asked = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes());
    url.query_pairs_mut()
        .extend_pairs(asked.filter(|(name, _)| !name.starts_with("_line")))
        .append_pair("_lineCount", &count.to_string())
        .append_pair("_lineStart", &start.to_string());
    url.into()
}

/// Path parameters of a single-profile route.
#[derive(Debug, Deserialize)]
pub struct ProfilePath {
    org: String,
    key: String,
}

/// `GET …/profile`: a page of every profile.
pub async fn list(
    State((app, resource)): State<(AppState, Resource)>,
    Path(org): Path<String>,
    Query(paging): Query<Paging>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if org != app.config.organization {
        return no_such_resource().await;
    }
    let base = base_url(&app, &headers);
    let store = app.store.lock().expect("emulator store poisoned");
    let large = store.is_large();
    let items = store
        .profiles
        .iter()
        .map(|p| render(p, resource, &base, &app.config))
        .collect();
    Json(collection(items, &paging, &uri, (&base, resource), large)).into_response()
}

/// `GET …/profile/byEmail?email=`: a page of the profiles with exactly that
/// email (compared as stored, case included: see `docs/emulator.md`).
pub async fn by_email(
    State((app, resource)): State<(AppState, Resource)>,
    Path(org): Path<String>,
    Query(paging): Query<Paging>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if org != app.config.organization {
        return no_such_resource().await;
    }
    let Some(email) = &paging.email else {
        return bad_request("The 'email' parameter is required");
    };
    let base = base_url(&app, &headers);
    let store = app.store.lock().expect("emulator store poisoned");
    let large = store.is_large();
    let items = store
        .by_email(email)
        .iter()
        .map(|p| render(p, resource, &base, &app.config))
        .collect();
    Json(collection(items, &paging, &uri, (&base, resource), large)).into_response()
}

/// `GET …/profile/<key>`.
pub async fn get(
    State((app, resource)): State<(AppState, Resource)>,
    Path(path): Path<ProfilePath>,
    headers: HeaderMap,
) -> Response {
    if path.org != app.config.organization {
        return no_such_resource().await;
    }
    let base = base_url(&app, &headers);
    let mut store = app.store.lock().expect("emulator store poisoned");
    match find(&mut store, (resource, app.config.custom_keys), &path) {
        Some(profile) => Json(render(profile, resource, &base, &app.config)).into_response(),
        None => not_found(app.config.api),
    }
}

fn find<'s>(
    store: &'s mut crate::store::Store,
    (resource, custom_keys): (Resource, bool),
    path: &ProfilePath,
) -> Option<&'s mut Profile> {
    match resource {
        Resource::Extended if custom_keys => store.by_ext_key_mut(&path.key),
        _ => store.by_pkey_mut(&path.key),
    }
}

/// `PATCH …/profile/<key>`: changes only the attributes in the body and
/// answers the documented `{"PKey", "href"}`. An empty body changes
/// nothing; a migrated tenant answers it 204.
pub async fn patch(
    State((app, resource)): State<(AppState, Resource)>,
    Path(path): Path<ProfilePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if path.org != app.config.organization {
        return no_such_resource().await;
    }
    let changes = match json_object(&headers, &body) {
        Ok(changes) => changes,
        Err(response) => return *response,
    };
    let (config, base) = (&app.config, base_url(&app, &headers));
    let migrated = config.api == Api::V8Migrated;
    let mut store = app.store.lock().expect("emulator store poisoned");
    let Some(profile) = find(&mut store, (resource, app.config.custom_keys), &path) else {
        return not_found(config.api);
    };
    let mut updated = profile.clone();
    if let Err(refusal) = apply(&mut updated, &changes, resource, config) {
        return bad_request(&refusal.text(config.api));
    }
    let pkey = updated.pkey.clone();
    *profile = updated;
    let answer = json!({
        "PKey": profile.pkey,
        "href": format!("{base}/{}/profile/{}", resource.path(), profile.pkey),
    });
    if changes.is_empty() {
        return if migrated {
            StatusCode::NO_CONTENT.into_response()
        } else {
            Json(answer).into_response()
        };
    }
    store.stats.patches += 1;
    if let Some(value) = changes
        .get(&config.opt_out_field)
        .and_then(serde_json::Value::as_bool)
    {
        store.history.entry(pkey).or_default().push(value);
    }
    Json(answer).into_response()
}

/// `POST …/profile/`: creates a profile and answers it whole.
pub async fn create(
    State((app, resource)): State<(AppState, Resource)>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if org != app.config.organization {
        return no_such_resource().await;
    }
    let fields = match json_object(&headers, &body) {
        Ok(fields) => fields,
        Err(response) => return *response,
    };
    let mut profile = Profile {
        pkey: String::new(),
        cus_customer_id: None,
        first_name: String::new(),
        last_name: String::new(),
        email: String::new(),
        ccpa_opt_out: false,
        cus_limit_sensitive: false,
        opt_out_blank: false,
        sensitive_blank: false,
    };
    if let Some(key) = fields.get("cusCustomerId") {
        let Some(key) = key.as_str() else {
            return bad_request(&Refusal::WrongType("cusCustomerId".into()).text(app.config.api));
        };
        profile.cus_customer_id = Some(key.to_owned());
    }
    let rest: Map<String, Value> = fields
        .into_iter()
        .filter(|(k, _)| k != "cusCustomerId")
        .collect();
    if let Err(refusal) = apply(&mut profile, &rest, resource, &app.config) {
        return bad_request(&refusal.text(app.config.api));
    }
    let base = base_url(&app, &headers);
    let mut store = app.store.lock().expect("emulator store poisoned");
    if let Some(key) = &profile.cus_customer_id
        && store.by_custom_key(key).is_some()
    {
        // Campaign answers a duplicate key with a 500, not a 409.
        let message = match app.config.api {
            Api::Standard => "Duplicate key",
            Api::V8Migrated => "Unique index violation",
        };
        return campaign_error(StatusCode::INTERNAL_SERVER_ERROR, message).into_response();
    }
    let profile = store.create(profile);
    let shown = render(&profile, resource, &base, &app.config);
    (StatusCode::CREATED, Json(shown)).into_response()
}

/// `GET …/resourceType/profile`: the resource's metadata (Adobe's
/// "metadata mechanism"): its fields by REST API name with their types,
/// and where its filters are described.
pub async fn resource_type(
    State((app, resource)): State<(AppState, Resource)>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    if org != app.config.organization {
        return no_such_resource().await;
    }
    let base = base_url(&app, &headers);
    let field =
        |name: &str, kind: &str| (name.to_owned(), json!({ "apiName": name, "type": kind }));
    let mut fields = vec![
        field("PKey", "string"),
        field("firstName", "string"),
        field("lastName", "string"),
        field("email", "string"),
    ];
    if shows(resource, &app.config.opt_out_field) {
        fields.push(field(&app.config.opt_out_field, "boolean"));
    }
    if resource == Resource::Extended {
        fields.extend([
            field("cusCustomerId", "string"),
            field(SENSITIVE_FIELD, "boolean"),
            field(SEGMENT_FIELD, "string"),
        ]);
    }
    let path = resource.path();
    Json(json!({
        "content": fields.into_iter().collect::<Map<String, Value>>(),
        "data": format!("/{path}/profile/"),
        "filters": { "href": format!("{base}/{path}/resourceType/{FILTERS_PKEY}/filters") },
        "help": "Identified profiles",
        "href": format!("{base}/{path}/resourceType/profile"),
    }))
    .into_response()
}

/// The made-up PKey of the profile resource's filter list.
const FILTERS_PKEY: &str = "@emulatorProfileFilters";

/// `GET …/resourceType/<PKEY>/filters`: the filters of the profile
/// resource, by the name they are called with.
pub async fn filters(
    State((app, resource)): State<(AppState, Resource)>,
    Path((org, _pkey)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if org != app.config.organization {
        return no_such_resource().await;
    }
    let base = base_url(&app, &headers);
    let by_email = app.config.api.email_filter();
    let data = format!("{base}/{}/profile/{by_email}?email=$value", resource.path());
    Json(json!({
        by_email: { "data": data, "label": "Email", "category": "0150_profile" },
    }))
    .into_response()
}

/// The body as a JSON object, or the answer Campaign gives instead.
fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Box<Response>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(Box::new(
            campaign_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            )
            .into_response(),
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Box::new(bad_request("The body must be a JSON object"))),
        Err(_) => Err(Box::new(bad_request("The body is not valid JSON"))),
    }
}

/// Why a change was refused: Campaign says so in its own words, a
/// migrated tenant in others (Adobe documents that they differ, not how:
/// the emulator's are made up, see docs/emulator.md).
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Unknown(String),
    WrongType(String),
    ReadOnly(String),
}

impl Refusal {
    fn text(&self, api: Api) -> String {
        match (api, self) {
            (Api::Standard, Self::Unknown(name)) => format!("Unknown property '{name}'"),
            (Api::Standard, Self::WrongType(name)) => {
                format!("Property '{name}' has the wrong type")
            }
            (Api::Standard, Self::ReadOnly(name)) => {
                format!("Property '{name}' cannot be modified")
            }
            (Api::V8Migrated, Self::Unknown(name)) => {
                format!("The field '{name}' does not exist in the schema 'nms:recipient'")
            }
            (Api::V8Migrated, Self::WrongType(name)) => {
                format!("Invalid value for the field '{name}'")
            }
            (Api::V8Migrated, Self::ReadOnly(name)) => format!("The field '{name}' is read-only"),
        }
    }
}

/// Custom fields exist in the extended resource only: the standard one
/// answers them as unknown, as Campaign does.
fn apply(
    profile: &mut Profile,
    changes: &Map<String, Value>,
    resource: Resource,
    config: &EmulatorConfig,
) -> Result<(), Refusal> {
    let extended = resource == Resource::Extended;
    for (name, value) in changes {
        let opt_out = *name == config.opt_out_field && shows(resource, name);
        match (name.as_str(), value) {
            (_, Value::Bool(b)) if opt_out => {
                profile.ccpa_opt_out = *b;
                profile.opt_out_blank = false;
            }
            (SENSITIVE_FIELD, Value::Bool(b)) if extended => {
                profile.cus_limit_sensitive = *b;
                profile.sensitive_blank = false;
            }
            ("firstName", Value::String(s)) => profile.first_name.clone_from(s),
            ("lastName", Value::String(s)) => profile.last_name.clone_from(s),
            ("email", Value::String(s)) => profile.email.clone_from(s),
            ("PKey" | "href" | "cusCustomerId" | SEGMENT_FIELD, _) => {
                return Err(Refusal::ReadOnly(name.clone()));
            }
            (SENSITIVE_FIELD, _) if extended => return Err(Refusal::WrongType(name.clone())),
            ("firstName" | "lastName" | "email", _) => {
                return Err(Refusal::WrongType(name.clone()));
            }
            _ if opt_out => return Err(Refusal::WrongType(name.clone())),
            _ => return Err(Refusal::Unknown(name.clone())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::demo_profiles;

    #[test]
    fn patch_changes_only_known_attributes_of_the_right_type() {
        let standard = EmulatorConfig::default();
        let mut profile = demo_profiles().remove(0);
        let changes = |v: Value| v.as_object().unwrap().clone();
        apply(
            &mut profile,
            &changes(json!({"ccpaOptOut": true})),
            Resource::Extended,
            &standard,
        )
        .unwrap();
        assert!(profile.ccpa_opt_out);
        assert!(
            apply(
                &mut profile,
                &changes(json!({"ccpaOptOut": "false"})),
                Resource::Extended,
                &standard,
            )
            .is_err()
        );
        assert!(
            apply(
                &mut profile,
                &changes(json!({"cusCustomerId": "X"})),
                Resource::Extended,
                &standard,
            )
            .is_err()
        );
        assert!(
            apply(
                &mut profile,
                &changes(json!({"nope": 1})),
                Resource::Extended,
                &standard,
            )
            .is_err()
        );
        assert!(profile.ccpa_opt_out);
    }

    /// A custom field is the extended resource's: the standard one does not
    /// know it, as Campaign's does not.
    #[test]
    fn the_sensitive_field_lives_in_the_extended_resource_only() {
        let standard = EmulatorConfig::default();
        let mut profile = demo_profiles().remove(0);
        let limit = json!({ SENSITIVE_FIELD: true })
            .as_object()
            .unwrap()
            .clone();
        let error = apply(&mut profile, &limit, Resource::Standard, &standard).unwrap_err();
        assert_eq!(
            error.text(Api::Standard),
            "Unknown property 'cusLimitSensitive'"
        );
        assert!(!profile.cus_limit_sensitive);
        apply(&mut profile, &limit, Resource::Extended, &standard).unwrap();
        assert!(profile.cus_limit_sensitive);
        let wrong = json!({ SENSITIVE_FIELD: "yes" })
            .as_object()
            .unwrap()
            .clone();
        assert!(apply(&mut profile, &wrong, Resource::Extended, &standard).is_err());
        let shown = |resource| render(&profile, resource, "http://h/org/campaign", &standard);
        assert_eq!(shown(Resource::Extended)[SENSITIVE_FIELD], true);
        assert!(shown(Resource::Standard).get(SENSITIVE_FIELD).is_none());
    }

    /// Collections come a page at a time, 25 by default, with the `next`
    /// link Campaign computes while items remain; on a large table only
    /// when the caller forced pagination.
    #[test]
    fn collections_are_paged_as_campaign_pages_them() {
        let items: Vec<Value> = (0..30).map(|n| json!({ "n": n })).collect();
        let base = "http://h/org/campaign";
        let at = (base, Resource::Standard);
        let query = |q: &str| -> (Paging, Uri) {
            let uri: Uri = format!("/org/campaign/profilesAndServices/profile/byEmail?{q}")
                .parse()
                .unwrap();
            (Query::try_from_uri(&uri).unwrap().0, uri)
        };
        let (paging, uri) = query("email=a%40b.c");
        let first = collection(items.clone(), &paging, &uri, at, false);
        assert_eq!(first["content"].as_array().unwrap().len(), 25);
        let next = first["next"]["href"].as_str().unwrap();
        assert_eq!(
            next,
            "http://h/org/campaign/profileAndServices/profile/byEmail?email=a%40b.c\
             &_lineCount=25&_lineStart=25",
            "the documented spelling, the query kept, the start moved on"
        );
        let (paging, uri) = query(next.split_once('?').unwrap().1);
        let last = collection(items.clone(), &paging, &uri, at, false);
        assert_eq!(last["content"][0]["n"], 25);
        assert_eq!(last["content"].as_array().unwrap().len(), 5);
        assert!(last.get("next").is_none(), "no more");

        let (paging, uri) = query("email=a%40b.c");
        assert!(
            collection(items.clone(), &paging, &uri, at, true)
                .get("next")
                .is_none(),
            "a large table hides the link"
        );
        let (paging, uri) = query("email=a%40b.c&_forcePagination=true&_lineCount=10");
        let forced = collection(items, &paging, &uri, at, true);
        assert!(
            forced["next"]["href"]
                .as_str()
                .unwrap()
                .ends_with("_forcePagination=true&_lineCount=10&_lineStart=10")
        );
    }

    #[test]
    fn extended_resource_shows_the_custom_key() {
        let profile = demo_profiles().remove(0);
        let standard = EmulatorConfig::default();
        let body = render(
            &profile,
            Resource::Extended,
            "http://h/org/campaign",
            &standard,
        );
        assert_eq!(body["cusCustomerId"], "CUST-1001");
        assert_eq!(
            body["href"],
            format!(
                "http://h/org/campaign/profileAndServicesExt/profile/{}",
                profile.pkey
            )
        );
        assert!(
            render(&profile, Resource::Standard, "b", &standard)
                .get("cusCustomerId")
                .is_none()
        );
    }

    /// A migrated tenant's opt-out is the field it names; a custom one
    /// lives in the extended resource only, and may come back blank from
    /// the migration until it is set.
    #[test]
    fn a_migrated_tenant_keeps_the_opt_out_in_its_own_field() {
        let migrated = EmulatorConfig {
            api: Api::V8Migrated,
            opt_out_field: "cusDoNotSell".into(),
            ..EmulatorConfig::default()
        };
        let mut profile = demo_profiles().remove(0);
        profile.opt_out_blank = true;
        let shown = |profile: &Profile, resource| render(profile, resource, "h", &migrated);
        assert_eq!(
            shown(&profile, Resource::Extended)["cusDoNotSell"],
            Value::Null
        );
        assert!(
            shown(&profile, Resource::Standard)
                .get("cusDoNotSell")
                .is_none()
        );
        assert!(
            shown(&profile, Resource::Extended)
                .get("ccpaOptOut")
                .is_none()
        );
        let change = |v: Value| v.as_object().unwrap().clone();
        let refused = apply(
            &mut profile,
            &change(json!({"ccpaOptOut": true})),
            Resource::Extended,
            &migrated,
        )
        .unwrap_err();
        assert_eq!(
            refused.text(Api::V8Migrated),
            "The field 'ccpaOptOut' does not exist in the schema 'nms:recipient'"
        );
        let opt_out = change(json!({"cusDoNotSell": true}));
        assert!(apply(&mut profile, &opt_out, Resource::Standard, &migrated).is_err());
        apply(&mut profile, &opt_out, Resource::Extended, &migrated).unwrap();
        assert_eq!(shown(&profile, Resource::Extended)["cusDoNotSell"], true);
    }
}
