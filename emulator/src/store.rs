//! The emulator's in-memory tenant: profiles, issued access tokens, pending
//! faults and counters. One mutex guards it all: the emulator is a test
//! double, and a single lock keeps every request's view consistent.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

use crate::faults::Fault;

/// One Campaign profile, with the fields the emulator knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Campaign's automatic primary key (opaque; never to be stored outside).
    #[serde(rename = "PKey")]
    pub pkey: String,
    /// The custom key of the extended profile resource.
    pub cus_customer_id: Option<String>,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Email address; `byEmail` matches it exactly.
    pub email: String,
    /// `true` forbids the sale of personal information.
    pub ccpa_opt_out: bool,
    /// A custom boolean field of the extended resource ([`SENSITIVE_FIELD`]):
    /// `true` limits the use of sensitive personal information.
    #[serde(default)]
    pub cus_limit_sensitive: bool,
    /// Whether the opt-out field came back blank from a migration to
    /// Campaign v8: a migrated tenant shows it `null` until it is set.
    #[serde(default)]
    pub opt_out_blank: bool,
    /// The same for [`SENSITIVE_FIELD`].
    #[serde(default)]
    pub sensitive_blank: bool,
}

/// The name of the emulator's custom field for the limit on the use of
/// sensitive personal information, as `campaign.sensitive_field` names it.
pub const SENSITIVE_FIELD: &str = "cusLimitSensitive";

/// Profiles every emulator starts with: three customers with custom keys,
/// and two profiles sharing one email to exercise ambiguous look-ups.
pub fn demo_profiles() -> Vec<Profile> {
    let p = |pkey: &str, key: Option<&str>, first: &str, last: &str, email: &str, opt| Profile {
        pkey: pkey.to_owned(),
        cus_customer_id: key.map(str::to_owned),
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        email: email.to_owned(),
        ccpa_opt_out: opt,
        cus_limit_sensitive: false,
        opt_out_blank: false,
        sensitive_blank: false,
    };
    vec![
        p(
            "@dQ1kz7mRn3Vfa",
            Some("CUST-1001"),
            "Ada",
            "Lovelace",
            "ada@example.com",
            false,
        ),
        p(
            "@Hk4wq9TzL2bYc",
            Some("CUST-1002"),
            "Grace",
            "Hopper",
            "grace@example.com",
            true,
        ),
        p(
            "@Pm8sx5NvJ6gRe",
            Some("CUST-1003"),
            "Alan",
            "Turing",
            "alan@example.com",
            false,
        ),
        p(
            "@Zt3yb1CwQ7hUi",
            None,
            "Twin",
            "One",
            "twin@example.com",
            false,
        ),
        p(
            "@Xr6ua2DeW9kOp",
            None,
            "Twin",
            "Two",
            "twin@example.com",
            false,
        ),
    ]
}

/// Requests the emulator has answered, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Successful and failed calls to the IMS token endpoint.
    pub token_requests: u64,
    /// Calls to the Campaign profile API (after faults and auth).
    pub campaign_requests: u64,
    /// PATCH requests that changed a profile.
    pub patches: u64,
    /// Faults that were injected into an answer.
    pub faults_injected: u64,
    /// The most Campaign requests ever in progress at once.
    pub peak_concurrent_requests: u64,
}

/// What a call to the emulator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CallKind {
    /// `POST /ims/token/v3`.
    Token,
    /// `GET …/profile/<key>`.
    Lookup,
    /// `GET …/profile/byEmail?email=` (`…/profile/email?email=` on a
    /// migrated tenant).
    ByEmail,
    /// `GET …/profile` (a page of the collection).
    List,
    /// `PATCH …/profile/<key>`.
    Patch,
    /// `POST …/profile`.
    Create,
    /// `POST /data/core/privacy/consent`: Privacy Service.
    Consent,
}

impl CallKind {
    /// The kind of a request with `method` on `path`.
    pub fn of(method: &str, path: &str) -> Self {
        let path = path.trim_end_matches('/');
        match method {
            "POST" if path.ends_with("/ims/token/v3") => Self::Token,
            "POST" if path.ends_with("/privacy/consent") => Self::Consent,
            "POST" => Self::Create,
            "PATCH" => Self::Patch,
            _ if path.ends_with("/byEmail") || path.ends_with("/profile/email") => Self::ByEmail,
            _ if path.ends_with("/profile") => Self::List,
            _ => Self::Lookup,
        }
    }
}

/// One call the emulator answered, faults included; no query string (it
/// may hold an email) and no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// What it asked for.
    pub kind: CallKind,
    /// When it arrived, in milliseconds since the emulator started.
    pub at_ms: u64,
    /// The status it was answered with.
    pub status: u16,
}

/// Everything the emulator remembers.
#[derive(Debug)]
pub struct Store {
    pub(crate) profiles: Vec<Profile>,
    tokens: HashMap<String, Instant>,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) latency: Duration,
    /// Campaign's `XtkBigTableThreshold`: above this many profiles, a
    /// collection's `next` link comes only with `_forcePagination=true`.
    pub(crate) big_table_threshold: usize,
    pub(crate) stats: Stats,
    /// Campaign requests in progress now.
    pub(crate) in_flight: u64,
    /// Every `ccpaOptOut` value PATCHed, per PKey, in the order applied.
    pub(crate) history: HashMap<String, Vec<bool>>,
    /// Every call answered, in order of arrival.
    pub(crate) calls: Vec<Call>,
    /// When the emulator started: calls are timed from here.
    pub(crate) started: Instant,
    /// Every consent Privacy Service took, in order of arrival.
    pub(crate) consents: Vec<crate::privacy::Consent>,
}

impl Store {
    /// A store holding `profiles` and no tokens.
    pub fn new(profiles: Vec<Profile>) -> Self {
        Self {
            profiles,
            tokens: HashMap::new(),
            faults: VecDeque::new(),
            latency: Duration::ZERO,
            big_table_threshold: 100_000,
            stats: Stats::default(),
            in_flight: 0,
            history: HashMap::new(),
            calls: Vec::new(),
            started: Instant::now(),
            consents: Vec::new(),
        }
    }

    /// Forgets the counters and the calls.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
        self.calls.clear();
    }

    /// Issues a fresh opaque access token valid for `lifetime`.
    pub fn issue_token(&mut self, lifetime: Duration) -> String {
        let token: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(48)
            .map(char::from)
            .collect();
        self.tokens.insert(token.clone(), Instant::now() + lifetime);
        token
    }

    /// Whether `token` was issued here and has not expired.
    pub fn token_is_valid(&self, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }

    /// Every access token issued so far, valid or not.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.tokens.keys().cloned().collect()
    }

    /// Makes every issued token invalid, as if they had all expired.
    pub fn expire_tokens(&mut self) {
        let now = Instant::now();
        self.tokens.values_mut().for_each(|expires| *expires = now);
    }

    /// The profile whose PKey is `pkey`.
    pub fn by_pkey_mut(&mut self, pkey: &str) -> Option<&mut Profile> {
        self.profiles.iter_mut().find(|p| p.pkey == pkey)
    }

    /// The profile addressed through the extended resource: by custom key
    /// first, then by PKey (Campaign accepts both there).
    pub fn by_ext_key_mut(&mut self, key: &str) -> Option<&mut Profile> {
        let index = self
            .profiles
            .iter()
            .position(|p| p.cus_customer_id.as_deref() == Some(key))
            .or_else(|| self.profiles.iter().position(|p| p.pkey == key))?;
        self.profiles.get_mut(index)
    }

    /// The profile with custom key `key`, if any.
    pub fn by_custom_key(&self, key: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.cus_customer_id.as_deref() == Some(key))
    }

    /// Whether the profile table counts as large: then Campaign leaves a
    /// collection's `next` link out unless asked to paginate.
    pub fn is_large(&self) -> bool {
        self.profiles.len() > self.big_table_threshold
    }

    /// Profiles whose email equals `email` exactly.
    pub fn by_email(&self, email: &str) -> Vec<Profile> {
        self.profiles
            .iter()
            .filter(|p| p.email == email)
            .cloned()
            .collect()
    }

    /// Adds a profile with a fresh PKey and returns it.
    pub fn create(&mut self, mut profile: Profile) -> Profile {
        let suffix: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(13)
            .map(char::from)
            .collect();
        profile.pkey = format!("@{suffix}");
        self.profiles.push(profile.clone());
        profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire() {
        let mut store = Store::new(demo_profiles());
        let token = store.issue_token(Duration::ZERO);
        assert!(!store.token_is_valid(&token));
        let token = store.issue_token(Duration::from_secs(60));
        assert!(store.token_is_valid(&token));
        store.expire_tokens();
        assert!(!store.token_is_valid(&token));
    }

    #[test]
    fn ext_resource_accepts_custom_key_and_pkey() {
        let mut store = Store::new(demo_profiles());
        let pkey = store.by_ext_key_mut("CUST-1002").unwrap().pkey.clone();
        assert_eq!(
            store
                .by_ext_key_mut(&pkey)
                .unwrap()
                .cus_customer_id
                .as_deref(),
            Some("CUST-1002")
        );
        assert!(store.by_ext_key_mut("CUST-9999").is_none());
    }

    #[test]
    fn email_lookup_is_exact() {
        let store = Store::new(demo_profiles());
        assert_eq!(store.by_email("ada@example.com").len(), 1);
        assert_eq!(store.by_email("twin@example.com").len(), 2);
        assert!(store.by_email("ADA@example.com").is_empty());
        assert!(store.by_email("ada@").is_empty());
    }
}
