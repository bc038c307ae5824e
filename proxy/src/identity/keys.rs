//! The keys sign-in tokens are checked with: a secret shared with the host's
//! backend (HS256), one public key in PEM, or the set an identity provider
//! publishes (JWKS), so that a site can hand the widget the access token
//! its provider already issues.
//!
//! Each key verifies exactly one algorithm, fixed when the key is loaded,
//! never taken from the token: a token's `alg` only has to agree. That is
//! what stops the classic confusions (`none`, or HS256 "signed" with a
//! public key as the secret).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use secrecy::ExposeSecret;
use serde::Deserialize;
use tokio::sync::watch;
use url::Url;

use crate::config::IdentitySettings;
use crate::error::ApiError;

/// Shorter RSA moduli are within reach of a determined attacker.
const MIN_RSA_BITS: usize = 2048;
/// A key set larger than this is not a key set.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Keys taken from one set; providers publish two or three (current, next).
const MAX_JWKS_KEYS: usize = 32;
/// How long one fetch of the set may take.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries at start before giving up with a sentence.
const START_ATTEMPTS: u32 = 3;
/// Past its `max_age`, a set the provider cannot replace is trusted this
/// much longer, and then no more: a withdrawn key must stop working even
/// if someone keeps the provider out of reach.
const MAX_STALE: Duration = Duration::from_secs(24 * 3600);
/// Larger RSA keys are refused by the verifier's library anyway.
const MAX_RSA_BITS: usize = 4096;

/// A key and the one algorithm it verifies.
pub struct VerifyingKey {
    /// The key.
    pub key: DecodingKey,
    /// What a token checked with it must be signed with.
    pub algorithm: Algorithm,
}

/// Where keys come from.
pub enum Keys {
    /// One key for every token: the shared secret or a public key.
    Fixed(Arc<VerifyingKey>),
    /// The identity provider's published set, fetched and kept fresh.
    Published(Arc<Jwks>),
}

impl Keys {
    /// The keys `settings` name (exactly one source, checked at load). A
    /// key set is fetched before this returns: a proxy that could verify
    /// no token would only answer 401s.
    pub async fn load(settings: &IdentitySettings) -> anyhow::Result<Self> {
        if let Some(secret) = &settings.hs256_secret {
            return Ok(Self::shared(secret.expose_secret().as_bytes()));
        }
        if let Some(pem) = &settings.public_key_pem {
            return public_key(pem).map(|key| Self::Fixed(Arc::new(key)));
        }
        let url = settings.jwks_url.clone().ok_or_else(|| {
            anyhow::anyhow!("identity: set hs256_secret, public_key_pem or jwks_url")
        })?;
        let settings = JwksSettings {
            url,
            min_refresh: Duration::from_secs(settings.jwks_min_refresh_secs),
            max_age: Duration::from_secs(settings.jwks_max_age_secs),
        };
        let jwks = Jwks::fetch_at_start(settings).await?;
        Ok(Self::Published(Arc::new(jwks)))
    }

    /// Keys for HS256 with `secret`.
    pub fn shared(secret: &[u8]) -> Self {
        Self::Fixed(Arc::new(VerifyingKey {
            key: DecodingKey::from_secret(secret),
            algorithm: Algorithm::HS256,
        }))
    }

    /// The key a token with `header` claims to be signed with.
    pub async fn find(&self, header: &Header) -> Result<Arc<VerifyingKey>, ApiError> {
        // RFC 7515 § 4.1.11: extensions the verifier does not understand
        // must be refused; this one understands none.
        if header.crit.is_some() {
            return Err(ApiError::InvalidToken(
                "the token names critical header extensions this service does not know",
            ));
        }
        let key = match self {
            Self::Fixed(key) => key.clone(),
            Self::Published(jwks) => jwks.find(header.kid.as_deref()).await?,
        };
        if key.algorithm != header.alg {
            return Err(ApiError::InvalidToken(
                "the token is signed with an algorithm this service does not accept",
            ));
        }
        Ok(key)
    }
}

/// A public key in PEM, of a kind and size worth trusting; its algorithm
/// follows from it: RSA → RS256, P-256 → ES256, Ed25519 → EdDSA.
fn public_key(pem: &str) -> anyhow::Result<VerifyingKey> {
    let pem = pem.trim();
    let rsa = rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem));
    let (key, algorithm) = if let Ok(rsa) = rsa {
        check_rsa_size(rsa.n().bits())?;
        (DecodingKey::from_rsa_pem(pem.as_bytes())?, Algorithm::RS256)
    } else if p256::PublicKey::from_public_key_pem(pem).is_ok() {
        (DecodingKey::from_ec_pem(pem.as_bytes())?, Algorithm::ES256)
    } else if ed25519_dalek::VerifyingKey::from_public_key_pem(pem).is_ok() {
        (DecodingKey::from_ed_pem(pem.as_bytes())?, Algorithm::EdDSA)
    } else {
        anyhow::bail!(
            "identity.public_key_pem is not an RSA ({MIN_RSA_BITS} to {MAX_RSA_BITS} bits), \
             P-256 or Ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----)"
        );
    };
    Ok(VerifyingKey { key, algorithm })
}

fn check_rsa_size(bits: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits),
        "an RSA key of {bits} bits: it needs {MIN_RSA_BITS} to {MAX_RSA_BITS}"
    );
    Ok(())
}

/// Where the set is and how fresh it is kept.
struct JwksSettings {
    url: Url,
    /// Reads for unknown `kid`s, and after a failed read, start at most
    /// this often: a flood of made-up `kid`s costs the provider one request
    /// per interval.
    min_refresh: Duration,
    /// A set older than this is read again, so that a key the provider
    /// withdrew stops being trusted.
    max_age: Duration,
}

/// The identity provider's keys, by `kid`.
pub struct Jwks {
    settings: JwksSettings,
    client: reqwest::Client,
    /// Read by every request; replaced whole by a successful read.
    current: RwLock<Arc<KeySet>>,
    fetching: Mutex<Fetching>,
}

/// The reads of the set: when the last began, and the one under way.
#[derive(Default)]
struct Fetching {
    began: Option<Instant>,
    /// Becomes `true` when the read under way ends.
    under_way: Option<watch::Receiver<bool>>,
}

struct KeySet {
    keys: HashMap<Option<String>, Arc<VerifyingKey>>,
    fetched: Instant,
}

impl KeySet {
    /// The key named `kid`; a token without one may use a set's only key.
    fn get(&self, kid: Option<&str>) -> Option<Arc<VerifyingKey>> {
        match kid {
            Some(kid) => self.keys.get(&Some(kid.to_owned())).cloned(),
            None if self.keys.len() == 1 => self.keys.values().next().cloned(),
            None => None,
        }
    }
}

impl Jwks {
    async fn fetch_at_start(settings: JwksSettings) -> anyhow::Result<Self> {
        let https = settings.url.scheme() == "https";
        anyhow::ensure!(
            https || is_loopback(&settings.url),
            "identity.jwks_url must be https (plain http only on loopback)"
        );
        let client = reqwest::Client::builder()
            .timeout(JWKS_TIMEOUT)
            // A redirect to plain http would let the network hand out keys.
            .https_only(https)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        let mut attempt = 1;
        let set = loop {
            match fetch(&client, &settings.url).await {
                Ok(set) => break set,
                // Only a provider out of reach may come back in a moment.
                Err(e) if attempt < START_ATTEMPTS && out_of_reach(&e) => attempt += 1,
                Err(e) => anyhow::bail!("identity.jwks_url: could not read the key set: {e:#}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        anyhow::ensure!(
            !set.keys.is_empty(),
            "identity.jwks_url holds no RS256, ES256 or EdDSA signing key"
        );
        Ok(Self {
            settings,
            client,
            current: RwLock::new(Arc::new(set)),
            fetching: Mutex::new(Fetching::default()),
        })
    }

    fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn find(self: &Arc<Self>, kid: Option<&str>) -> Result<Arc<VerifyingKey>, ApiError> {
        let set = self.current();
        let age = set.fetched.elapsed();
        if age > self.settings.max_age {
            // Stale: read it again, while the set in hand still serves.
            self.begin_read();
        }
        if age > self.settings.max_age + MAX_STALE {
            return Err(ApiError::KeysUnavailable);
        }
        if let Some(key) = set.get(kid) {
            return Ok(key);
        }
        // A `kid` not in the set may be a key the provider just rolled out.
        if let Some(mut done) = self.begin_read() {
            let _ = done.wait_for(|done| *done).await;
        }
        self.current().get(kid).ok_or(ApiError::InvalidToken(
            "the token's key is not among the identity provider's keys",
        ))
    }

    /// The read under way, or a new one when the last began at least
    /// `min_refresh` ago; `None` when neither. The read is a task of its
    /// own: a client that hangs up cannot cut it short, and so cannot make
    /// the next request start another.
    fn begin_read(self: &Arc<Self>) -> Option<watch::Receiver<bool>> {
        let mut fetching = self.fetching.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(under_way) = &fetching.under_way {
            return Some(under_way.clone());
        }
        if fetching
            .began
            .is_some_and(|began| began.elapsed() < self.settings.min_refresh)
        {
            return None;
        }
        let (done, under_way) = watch::channel(false);
        fetching.began = Some(Instant::now());
        fetching.under_way = Some(under_way.clone());
        let jwks = self.clone();
        tokio::spawn(async move {
            jwks.read().await;
            jwks.fetching
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .under_way = None;
            let _ = done.send(true);
        });
        Some(under_way)
    }

    /// Reads the set; a failure keeps the old one (a provider's brief
    /// outage must not sign everyone out) for at most [`MAX_STALE`] past
    /// its age, trying again every `min_refresh`.
    async fn read(&self) {
        match fetch(&self.client, &self.settings.url).await {
            Ok(set) if !set.keys.is_empty() => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
            }
            outcome => {
                let why = outcome
                    .err()
                    .map_or("it holds no usable key".into(), |e| format!("{e:#}"));
                tracing::warn!(
                    why,
                    "the identity provider's key set could not be read; keeping the last"
                );
            }
        }
    }
}

/// Whether reading failed for want of an answer (rather than a wrong one).
fn out_of_reach(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<reqwest::Error>()
        .is_some_and(|e| e.is_connect() || e.is_timeout())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// Reads the set at `url`, bounded in size, keeping the keys it can trust.
async fn fetch(client: &reqwest::Client, url: &Url) -> anyhow::Result<KeySet> {
    let mut response = client.get(url.clone()).send().await?.error_for_status()?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        anyhow::ensure!(
            body.len() <= MAX_JWKS_BYTES,
            "the key set is over {MAX_JWKS_BYTES} bytes"
        );
    }
    let raw: RawSet = serde_json::from_slice(&body)?;
    let keys = raw
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| Some((jwk.common.key_id.clone(), Arc::new(signing_key(&jwk)?))))
        .take(MAX_JWKS_KEYS)
        .collect();
    tracing::info!("the identity provider's key set was read");
    Ok(KeySet {
        keys,
        fetched: Instant::now(),
    })
}

/// A published key this service can trust, with its algorithm; `None` for
/// anything else: encryption keys, symmetric (`oct`) keys — which would let
/// anyone who reads the set sign tokens — short RSA keys, other curves.
fn signing_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let (algorithm, named) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let modulus = URL_SAFE_NO_PAD.decode(&rsa.n).ok()?;
            let significant = modulus.iter().skip_while(|b| **b == 0);
            let first = *significant.clone().next()?;
            let bits = significant.count() * 8 - first.leading_zeros() as usize;
            check_rsa_size(bits).ok()?;
            (Algorithm::RS256, KeyAlgorithm::RS256)
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, KeyAlgorithm::EdDSA)
        }
        _ => return None,
    };
    if jwk.common.key_algorithm.is_some_and(|alg| alg != named) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyingKey { key, algorithm })
}
