//! Names the widget and `frontend/loader/ccpa-optout.js` must spell alike.
//! The loader is plain JavaScript and cannot import them, and the widget's
//! view spells its attributes in a macro that takes no constants:
//! `tests/loader_names.rs` reads both and checks they use these. The paths
//! and headers of the API are in `ccpa_api`.

/// The attribute that marks an element to mount a widget into.
pub const HOST_ATTRIBUTE: &str = "data-ccpa-optout";

/// The host element's attribute naming the proxy's base URL.
pub const API_ATTRIBUTE: &str = "data-api";

/// The host element's attribute naming the host site's token URL.
pub const TOKEN_URL_ATTRIBUTE: &str = "data-token-url";

/// The element property the loader leaves its token request's answer in.
pub const TOKEN_PROPERTY: &str = "ccpaOptOutToken";

/// The element property the loader leaves its first read's answer in.
pub const READ_PROPERTY: &str = "ccpaOptOutRead";

/// The element property the loader leaves its reader of the page's
/// Experience Cloud ID in: a function answering a promise of the ECID (from
/// Adobe's Web SDK or Visitor API), or of null.
pub const ECID_PROPERTY: &str = "ccpaOptOutEcid";

/// Where the widget and the loader remember that the proxy tells Adobe's
/// Privacy Service (`on`): only then is the page's ECID read.
pub const PRIVACY_SERVICE_KEY: &str = "ccpa-optout:privacy-service";

/// Where this browser's opt-out is remembered by script, beside the cookie
/// (as the cookie: `1`, not yet applied to an account; `applied`, applied).
pub const REMEMBERED_KEY: &str = "ccpa-optout:browser";

/// The host element's attribute carrying a sign-in token itself.
pub const TOKEN_ATTRIBUTE: &str = "data-token";

/// The host element's attribute setting how long a request may take.
pub const TIMEOUT_ATTRIBUTE: &str = "data-timeout-ms";

/// How long a request may take when the page does not say.
pub const DEFAULT_TIMEOUT_MS: u32 = 20_000;

/// The widget's attribute holding the choice the proxy confirmed (`true`
/// or `false`), which the loader's `__uspapi` and `__gpp` read and watch.
pub const OPT_OUT_STATE_ATTRIBUTE: &str = "data-ccpa-opt-out";

/// The widget's attribute holding the confirmed limit on the use of
/// sensitive information, where offered; read and watched as the above.
pub const LIMIT_STATE_ATTRIBUTE: &str = "data-ccpa-limit-sensitive";

/// The widget's attribute holding its phase (`Phase::as_str`): the loader
/// adds the ad tags' locator frames once no widget is `loading`.
pub const PHASE_ATTRIBUTE: &str = "data-state";

/// The event a widget sends the host page for every confirmed change.
pub const CHANGE_EVENT: &str = "ccpa-optout:change";

/// Marks a host element the widget is mounted in; until then the
/// stylesheet keeps the widget's space there.
pub const MOUNTED_ATTRIBUTE: &str = "data-ccpa-mounted";

/// Marks the host elements of a widget that could not start: the
/// stylesheet keeps no space there.
pub const FAILED_ATTRIBUTE: &str = "data-ccpa-failed";
