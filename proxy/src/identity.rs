//! Who is signed in: a short-lived JWT minted by the host's backend, verified
//! here, and nothing the browser says besides.
//!
//! Handlers take an [`AuthUser`] argument, so a route that touches a profile
//! cannot forget to authenticate: without a verified token it never runs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use hmac::{Hmac, Mac};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;
use sha2::Sha256;

use crate::config::{IdentitySettings, KeyKind, KeySymbols};
use crate::error::ApiError;
use crate::limits::Limits;

mod address;
mod adobe;
mod keys;
pub use address::EmailAddress;
pub use adobe::{AdobeId, Ecid};
pub use keys::Keys;

/// How long a clock may be off between the host and the proxy.
const LEEWAY_SECS: u64 = 30;

/// The longest business key accepted; Campaign keys and emails are far shorter.
const MAX_KEY_LEN: usize = 254;

/// The user's business key, parsed once: a custom key or an email address.
/// An instance is always a well-formed key of the configured kind.
#[derive(Clone)]
pub enum ProfileKey {
    /// A Campaign custom key (`profileAndServicesExt/profile/<key>`).
    CustomKey(String),
    /// An email address (`byEmail`), in every spelling Campaign may hold.
    Email(EmailAddress),
}

/// Two keys are one person when their kinds and normalized keys agree.
impl PartialEq for ProfileKey {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.as_str() == other.as_str()
    }
}

impl Eq for ProfileKey {}

impl ProfileKey {
    /// Parses `raw` as a key of `kind`. An email is keyed in one canonical
    /// form ([`EmailAddress`]): `Ada@Example.COM` and ` ada@example.com`
    /// are one person, with one pending change and one lease.
    pub fn parse(raw: &str, kind: KeyKind) -> Result<Self, &'static str> {
        match kind {
            KeyKind::CustomKey => {
                if raw.is_empty() || raw.len() > MAX_KEY_LEN {
                    return Err("key is empty or too long");
                }
                if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    return Err("key contains whitespace or control characters");
                }
                Ok(Self::CustomKey(raw.to_owned()))
            }
            KeyKind::Email => EmailAddress::parse(raw).map(Self::Email),
        }
    }

    /// The key itself (normalized), for the pending change and leases only.
    pub fn as_str(&self) -> &str {
        match self {
            Self::CustomKey(key) => key,
            Self::Email(address) => address.key(),
        }
    }

    /// The spelling the token or form gave, where it differs from
    /// [`Self::as_str`]: what Campaign is asked for first.
    pub fn given(&self) -> Option<&str> {
        match self {
            Self::Email(address) => address.given(),
            Self::CustomKey(_) => None,
        }
    }

    /// Which kind of key it is.
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::CustomKey(_) => KeyKind::CustomKey,
            Self::Email(_) => KeyKind::Email,
        }
    }
}

/// Keys may be emails: never print them.
impl fmt::Debug for ProfileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProfileKey(..)")
    }
}

/// Whether Campaign would read `key`, as the last segment of
/// `…/profile/<key>`, as one of its own routes rather than a profile:
/// `_count` and its other `_` names, a filter (`byEmail`, `byText`, a
/// custom `by…` filter), the value list of a field (`email`, a custom
/// `cus…` field; Adobe: `…/profile/email?_lineCount=10` lists addresses).
/// Such a key is refused at the token, and never sent.
pub fn names_a_campaign_route(key: &str) -> bool {
    let prefixed = |prefix: &str| {
        key.strip_prefix(prefix)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| c.is_ascii_uppercase())
    };
    key.starts_with('_')
        || prefixed("by")
        || prefixed("cus")
        || PROFILE_ROUTES
            .iter()
            .any(|route| route.eq_ignore_ascii_case(key))
}

/// The names under `…/profile/` that are Campaign's own: the profile
/// resource's fields as Adobe's API reference lists them (each answers the
/// list of its values), and its metadata.
const PROFILE_ROUTES: [&str; 37] = [
    "PKey",
    "metadata",
    "resourceType",
    "age",
    "birthDate",
    "blackList",
    "blackListAllLastModified",
    "blackListEmail",
    "blackListEmailLastModified",
    "blackListFax",
    "blackListLastModified",
    "blackListMobile",
    "blackListPhone",
    "blackListPostalMail",
    "blackListPushnotification",
    "ccpaOptOut",
    "created",
    "createdBy",
    "cryptedId",
    "domain",
    "email",
    "emailFormat",
    "fax",
    "firstName",
    "gender",
    "isExternal",
    "lastModified",
    "lastName",
    "location",
    "middleName",
    "mobilePhone",
    "modifiedBy",
    "phone",
    "preferredLanguage",
    "salutation",
    "timeZone",
    "title",
];

/// The host's subject (`sub`), shown in logs only as a keyed digest
/// ([`LogTags`]) so that a log line never carries an email address or a
/// customer number.
#[derive(Clone, PartialEq, Eq)]
pub struct Subject(String);

impl Subject {
    /// The subject itself, for the audit trail only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Tags subjects for log lines with an HMAC under a key only the proxy
/// holds. A plain hash would not do: customer numbers are few and
/// guessable, and anyone with the logs could hash them all and match.
#[derive(Clone)]
pub struct LogTags(Hmac<Sha256>);

impl LogTags {
    /// Tags keyed by `key` (the same in every replica and across restarts,
    /// so that one customer's lines can be followed); `None`: a random key
    /// for this process only.
    pub fn new(key: Option<&[u8]>) -> Self {
        let random: [u8; 32] = rand::random();
        let mac = Hmac::new_from_slice(key.unwrap_or(&random)).expect("HMAC takes any key");
        Self(mac)
    }

    /// A stable, non-reversible tag for `subject`.
    pub fn tag(&self, subject: &Subject) -> String {
        self.digest(&subject.0)
    }

    /// The same for anything else that must not be kept as it is (a
    /// client's address).
    pub fn digest(&self, value: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Subject {
    /// A subject a verified token carried (or the audit trail recorded
    /// from one).
    pub(crate) fn verified(subject: &str) -> Self {
        Self(subject.to_owned())
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Subject(..)")
    }
}

/// A request's verified user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The host's subject.
    pub subject: Subject,
    /// Where their profile is in Campaign.
    pub key: ProfileKey,
}

/// Verifies sign-in tokens. Built once: keys and validation rules are not
/// re-parsed per request.
pub struct TokenVerifier {
    keys: Keys,
    /// The rules for each algorithm a key may verify.
    validations: Vec<Validation>,
    key_claim: String,
    key_kind: KeyKind,
    key_symbols: KeySymbols,
    max_lifetime_secs: u64,
}

impl TokenVerifier {
    /// A verifier for `settings`, checking signatures with `keys`.
    pub fn new(settings: &IdentitySettings, keys: Keys) -> Self {
        let validations = [
            Algorithm::HS256,
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ]
        .map(|algorithm| {
            let mut validation = Validation::new(algorithm);
            validation.set_audience(&[&settings.audience]);
            validation.set_issuer(&[&settings.issuer]);
            validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
            validation.validate_nbf = true;
            validation.leeway = LEEWAY_SECS;
            validation
        });
        Self {
            keys,
            validations: validations.into(),
            key_claim: settings.key_claim.clone(),
            key_kind: settings.key_kind,
            key_symbols: settings.custom_key_symbols.clone(),
            max_lifetime_secs: settings.max_token_lifetime_secs,
        }
    }

    /// The user `token` vouches for.
    pub async fn verify(&self, token: &str) -> Result<AuthUser, ApiError> {
        let invalid = ApiError::InvalidToken("the token is not valid for this service");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid)?;
        let key = self.keys.find(&header).await?;
        let validation = self
            .validations
            .iter()
            .find(|v| v.algorithms == [key.algorithm])
            .expect("a validation for every algorithm a key may have");
        let claims = jsonwebtoken::decode::<HashMap<String, Value>>(token, &key.key, validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::TokenExpired,
                _ => ApiError::InvalidToken("the token is not valid for this service"),
            })?
            .claims;
        self.check_lifetime(&claims)?;
        let subject = claim_str(&claims, "sub")?;
        let key = claim_str(&claims, &self.key_claim)?;
        let key = ProfileKey::parse(key, self.key_kind).map_err(ApiError::InvalidToken)?;
        if let ProfileKey::CustomKey(custom) = &key {
            self.check_custom_key(custom)?;
        }
        Ok(AuthUser {
            subject: Subject(subject.to_owned()),
            key,
        })
    }
}

impl TokenVerifier {
    /// `iat` is required, no later than now, and at most the longest
    /// lifetime before `exp`: a token minted to live for a year is refused
    /// however fresh it looks.
    fn check_lifetime(&self, claims: &HashMap<String, Value>) -> Result<(), ApiError> {
        let time = |name| claims.get(name).and_then(Value::as_u64);
        let (Some(iat), Some(exp)) = (time("iat"), time("exp")) else {
            return Err(ApiError::InvalidToken("a required claim is missing"));
        };
        let now = jsonwebtoken::get_current_timestamp();
        if iat > now + LEEWAY_SECS {
            return Err(ApiError::InvalidToken("the token was issued in the future"));
        }
        if exp.saturating_sub(iat) > self.max_lifetime_secs {
            return Err(ApiError::InvalidToken(
                "the token lives longer than allowed",
            ));
        }
        Ok(())
    }

    /// A custom key becomes a path segment of Campaign's URL: only letters,
    /// digits and the configured symbols, never `.` or `..` (the segment
    /// would name the collection), never a leading `@` (Campaign's PKey),
    /// never a name Campaign reads as one of its routes.
    fn check_custom_key(&self, key: &str) -> Result<(), ApiError> {
        if key.starts_with('@') || key.chars().all(|c| c == '.') {
            return Err(ApiError::InvalidToken(
                "the key claim is not a customer key",
            ));
        }
        if names_a_campaign_route(key) {
            return Err(ApiError::InvalidToken(
                "the key claim is a name Campaign keeps for its own routes",
            ));
        }
        if !key.chars().all(|c| self.key_symbols.allows(c)) {
            return Err(ApiError::InvalidToken(
                "the key claim holds a character keys may not",
            ));
        }
        Ok(())
    }
}

fn claim_str<'c>(claims: &'c HashMap<String, Value>, name: &str) -> Result<&'c str, ApiError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or(ApiError::InvalidToken("a required claim is missing"))
}

/// What the [`AuthUser`] extractor uses: the verifier of sign-in tokens,
/// and the per-customer limits it counts a request against.
#[derive(Clone)]
pub struct SignIn {
    /// Verifies sign-in tokens.
    pub verifier: Arc<TokenVerifier>,
    /// What one customer may ask for.
    pub limits: Arc<Limits>,
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser
where
    SignIn: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = SignIn::from_ref(state);
        let mut headers = parts.headers.get_all(header::AUTHORIZATION).iter();
        let header = headers.next().ok_or(ApiError::MissingToken)?;
        // Which of two would win depends on who reads them: neither does.
        if headers.next().is_some() {
            return Err(ApiError::InvalidToken(
                "the request has more than one Authorization header",
            ));
        }
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or(ApiError::InvalidToken(
                "the Authorization header is not a bearer token",
            ))?;
        let user = state
            .verifier
            .verify(token.trim())
            .await
            .inspect_err(|error| {
                // Why, never what: the reason is one of the verifier's own
                // sentences, not the token or its claims.
                if let ApiError::InvalidToken(why) = error {
                    tracing::info!(why, "sign-in token refused");
                }
            })?;
        // Counted before the body is read or anything is recorded.
        let change = !matches!(parts.method, Method::GET | Method::HEAD);
        state
            .limits
            .customer(user.subject.as_str(), change)
            .map_err(ApiError::TooManyRequests)?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    fn settings() -> IdentitySettings {
        IdentitySettings {
            hs256_secret: Some(SECRET.into()),
            public_key_pem: None,
            jwks_url: None,
            jwks_min_refresh_secs: 60,
            jwks_max_age_secs: 3_600,
            issuer: "https://shop.example".into(),
            audience: "ccpa-proxy".into(),
            key_claim: "sub".into(),
            key_kind: KeyKind::CustomKey,
            max_token_lifetime_secs: 600,
            custom_key_symbols: "-_.".to_owned().try_into().unwrap(),
        }
    }

    const SECRET: &str = "unit-test-shared-hs256-secret-32+bytes";

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(&settings(), Keys::shared(SECRET.as_bytes()))
    }

    /// A shared secret needs nothing fetched: verifying never waits.
    fn verify(verifier: &TokenVerifier, token: &str) -> Result<AuthUser, ApiError> {
        futures_util::FutureExt::now_or_never(verifier.verify(token)).expect("nothing to wait for")
    }

    fn token(claims: Value, secret: &str) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn claims(exp_in: i64) -> Value {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        json!({"sub": "CUST-1", "iss": "https://shop.example", "aud": "ccpa-proxy",
               "iat": now, "exp": now + exp_in})
    }

    /// `claims(60)` with `changes` applied (`null` removes a claim).
    fn claims_with(changes: Value) -> Value {
        let mut claims = claims(60);
        for (name, value) in changes.as_object().unwrap() {
            match value {
                Value::Null => claims.as_object_mut().unwrap().remove(name),
                value => claims
                    .as_object_mut()
                    .unwrap()
                    .insert(name.clone(), value.clone()),
            };
        }
        claims
    }

    /// The times, keys and secrets a token or setting must not get past.
    #[test]
    fn refuses_odd_lifetimes_keys_and_short_secrets() {
        let verifier = verifier();
        let now = jsonwebtoken::get_current_timestamp();
        let refused = [
            (json!({"iat": null}), "a required claim is missing"),
            (
                json!({"iat": now + 3_600}),
                "the token was issued in the future",
            ),
            (
                json!({"iat": now - 3_000, "exp": now + 60}),
                "the token lives longer than allowed",
            ),
            (
                json!({"nbf": now + 3_600}),
                "the token is not valid for this service",
            ),
            (json!({"sub": "."}), "the key claim is not a customer key"),
            (json!({"sub": ".."}), "the key claim is not a customer key"),
            (
                json!({"sub": "@Hk4wq9TzL2bYc"}),
                "the key claim is not a customer key",
            ),
            (
                json!({"sub": "CUST;1"}),
                "the key claim holds a character keys may not",
            ),
            (
                json!({"sub": "CUST/1"}),
                "the key claim holds a character keys may not",
            ),
            (
                json!({"sub": "CUST%2F1"}),
                "the key claim holds a character keys may not",
            ),
            (
                json!({"sub": "CÜST-1"}),
                "the key claim holds a character keys may not",
            ),
        ];
        let route = "the key claim is a name Campaign keeps for its own routes";
        let refused = refused.into_iter().chain(
            [
                "byEmail",
                "byText",
                "_count",
                "_lineCount",
                "email",
                "EMAIL",
                "cusCustomerId",
            ]
            .map(|key| (json!({ "sub": key }), route)),
        );
        for (changes, why) in refused {
            let token = token(claims_with(changes.clone()), SECRET);
            assert!(
                matches!(verify(&verifier, &token), Err(ApiError::InvalidToken(w)) if w == why),
                "{changes}: {:?}",
                verify(&verifier, &token).err()
            );
        }
        for fine in [
            "CUST-1001",
            "a.b_c",
            "42",
            "by-1",
            "bypass",
            "customer7",
            "emailer",
        ] {
            let token = token(claims_with(json!({ "sub": fine })), SECRET);
            assert!(verify(&verifier, &token).is_ok(), "{fine}");
        }
        let mut short = settings();
        short.hs256_secret = Some("31-bytes-is-one-byte-too-short!".into());
        assert!(short.check().unwrap_err().contains("at least 32"));
        assert!(settings().check().is_ok());
        for symbols in ["@", "/", ";", "%", " ", "é"] {
            let refused: Result<KeySymbols, _> = symbols.to_owned().try_into();
            assert!(refused.is_err(), "{symbols:?}");
        }
    }

    #[test]
    fn accepts_a_fresh_token_from_the_host() {
        let user = verify(&verifier(), &token(claims(60), SECRET)).unwrap();
        assert_eq!(user.key, ProfileKey::CustomKey("CUST-1".into()));
    }

    #[test]
    fn refuses_wrong_signature_issuer_audience_expiry_and_lifetime() {
        let verifier = verifier();
        let mut wrong_iss = claims(60);
        wrong_iss["iss"] = json!("https://evil.example");
        let mut wrong_aud = claims(60);
        wrong_aud["aud"] = json!("other");
        let mut no_sub = claims(60);
        no_sub.as_object_mut().unwrap().remove("sub");
        for bad in [
            token(claims(60), "another-secret-that-is-long-enough-too"),
            token(wrong_iss, SECRET),
            token(wrong_aud, SECRET),
            token(no_sub, SECRET),
            token(claims(86_400), SECRET),
            "not.a.jwt".to_owned(),
        ] {
            assert!(
                matches!(verify(&verifier, &bad), Err(ApiError::InvalidToken(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            verify(&verifier, &token(claims(-120), SECRET)),
            Err(ApiError::TokenExpired)
        ));
    }

    #[test]
    fn refuses_the_none_algorithm() {
        let body = claims(60).to_string();
        let unsigned = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            base64_url(body.as_bytes())
        );
        assert!(matches!(
            verify(&verifier(), &unsigned),
            Err(ApiError::InvalidToken(
                "the token is not valid for this service"
            ))
        ));
    }

    fn base64_url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        bytes
            .chunks(3)
            .flat_map(|c| {
                let n =
                    c.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)) << (8 * (3 - c.len()));
                (0..=c.len()).map(move |i| ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char)
            })
            .collect()
    }

    #[test]
    fn keys_are_parsed_once_and_never_printed() {
        let refused = [
            ("", KeyKind::CustomKey, "key is empty or too long"),
            (
                "a b",
                KeyKind::CustomKey,
                "key contains whitespace or control characters",
            ),
            (
                "x\u{0}",
                KeyKind::CustomKey,
                "key contains whitespace or control characters",
            ),
            (
                &"k".repeat(255),
                KeyKind::CustomKey,
                "key is empty or too long",
            ),
            (
                "ada@example",
                KeyKind::Email,
                "key is not an email address: its domain is not a host name",
            ),
            (
                "@example.com",
                KeyKind::Email,
                "key is not an email address",
            ),
        ];
        for (raw, kind, why) in refused {
            assert_eq!(ProfileKey::parse(raw, kind), Err(why), "{raw:?}");
        }
        assert_eq!(
            ProfileKey::parse(&"k".repeat(254), KeyKind::CustomKey).map(|k| k.as_str().len()),
            Ok(254),
            "the longest key passes"
        );
        let key = ProfileKey::parse("ada@example.com", KeyKind::Email).unwrap();
        assert!(!format!("{key:?}").contains("ada"));
        assert_eq!(
            ProfileKey::parse("Ada@Example.COM", KeyKind::Email).unwrap(),
            key,
            "one address, one key"
        );
        let subject = Subject("ada@example.com".into());
        assert!(!format!("{subject:?}").contains("ada"));
    }

    proptest::proptest! {
        /// Whatever a key claim holds, the verifier answers without a
        /// panic, and a custom key it lets through can only be one path
        /// segment naming one profile.
        #[test]
        fn a_key_let_through_is_one_safe_path_segment(
            key in "[@./;%?#a-zA-Z0-9_-]{0,12}|\\PC{0,40}"
        ) {
            let verifier = verifier();
            let token = token(claims_with(json!({ "sub": key })), SECRET);
            if let Ok(user) = verify(&verifier, &token) {
                let key = user.key.as_str();
                proptest::prop_assert!(!key.starts_with('@') && !key.chars().all(|c| c == '.'));
                proptest::prop_assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                );
            }
        }

        /// Anything that is not a token signed with the secret is refused,
        /// without a panic.
        #[test]
        fn arbitrary_tokens_are_refused(raw in "\\PC{0,300}|[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,90}\\.[A-Za-z0-9_-]{0,60}") {
            proptest::prop_assert!(verify(&verifier(), &raw).is_err());
        }
    }

    /// Tags are stable under one key, differ under another, and are not
    /// the plain hash anyone could compute from a guessed customer number.
    #[test]
    fn log_tags_are_keyed() {
        use sha2::Digest;
        let subject = Subject("CUST-1001".into());
        let ours = LogTags::new(Some(b"the proxy's own log key"));
        let tag = ours.tag(&subject);
        assert_eq!(tag.len(), 12);
        assert_eq!(ours.tag(&subject), tag, "stable");
        assert_ne!(LogTags::new(Some(b"another key")).tag(&subject), tag);
        assert_ne!(LogTags::new(None).tag(&subject), tag);
        let plain = sha2::Sha256::digest(b"CUST-1001");
        let plain: String = plain[..6].iter().map(|b| format!("{b:02x}")).collect();
        assert_ne!(tag, plain);
    }
}
