//! Signing keys made when a test or the benchmark starts (none is kept in
//! the repository), and an identity provider publishing their public
//! halves as a JWKS on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand_core::OsRng;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

/// A private key, the algorithm it signs with, and its public halves.
pub struct SigningKey {
    /// What its tokens' `alg` says.
    pub algorithm: Algorithm,
    /// Its `kid`, in the JWK and in every token's header.
    pub kid: String,
    /// The public key as `identity.public_key_pem` takes it.
    pub public_pem: String,
    /// The public key as a JWKS holds it.
    pub jwk: Value,
    encoding: EncodingKey,
}

impl SigningKey {
    /// A fresh RSA key of `bits` (RS256).
    pub fn rsa(kid: &str, bits: usize) -> Self {
        let private = rsa::RsaPrivateKey::new(&mut OsRng, bits).expect("an RSA key");
        let public = private.to_public_key();
        let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())});
        let pem = private.to_pkcs8_pem(LineEnding::LF).expect("PEM");
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("an RSA key");
        let public_pem = public.to_public_key_pem(LineEnding::LF).expect("PEM");
        Self::new(Algorithm::RS256, kid, public_pem, jwk, encoding)
    }

    /// A fresh P-256 key (ES256).
    pub fn p256(kid: &str) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let private = p256::SecretKey::random(&mut OsRng);
        let point = private.public_key().to_encoded_point(false);
        let (x, y) = (point.x().expect("x"), point.y().expect("y"));
        let jwk = json!({"kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
            "x": b64(x), "y": b64(y)});
        let pem = private.to_pkcs8_pem(LineEnding::LF).expect("PEM");
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).expect("a P-256 key");
        let public_pem = private
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM");
        Self::new(Algorithm::ES256, kid, public_pem, jwk, encoding)
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn ed25519(kid: &str) -> Self {
        let private = ed25519_dalek::SigningKey::generate(&mut OsRng);
        let public = private.verifying_key();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid,
            "x": b64(public.as_bytes())});
        let pem = private.to_pkcs8_pem(LineEnding::LF).expect("PEM");
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).expect("an Ed25519 key");
        let public_pem = public.to_public_key_pem(LineEnding::LF).expect("PEM");
        Self::new(Algorithm::EdDSA, kid, public_pem, jwk, encoding)
    }

    fn new(
        algorithm: Algorithm,
        kid: &str,
        public_pem: String,
        jwk: Value,
        encoding: EncodingKey,
    ) -> Self {
        Self {
            algorithm,
            kid: kid.to_owned(),
            public_pem,
            jwk,
            encoding,
        }
    }

    /// The private key, for signing by hand.
    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// `claims` signed with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, Some(&self.kid))
    }

    /// `claims` signed with this key under `kid` (or none).
    pub fn sign_as(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing")
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A host's identity provider: its JWKS at `/.well-known/jwks.json`,
/// counting how often it is read.
pub struct IdentityProvider {
    addr: SocketAddr,
    state: Arc<Published>,
}

#[derive(Default)]
struct Published {
    keys: Mutex<Vec<Value>>,
    reads: AtomicUsize,
    /// How long it takes to answer (ms).
    delay_ms: AtomicU64,
}

impl IdentityProvider {
    /// Serves `keys` (JWKs) on a free loopback port.
    pub async fn spawn(keys: Vec<Value>) -> Self {
        let state = Arc::new(Published {
            keys: Mutex::new(keys),
            ..Published::default()
        });
        let app = axum::Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    /// Where its key set is.
    pub fn jwks_url(&self) -> url::Url {
        format!("http://{}/.well-known/jwks.json", self.addr)
            .parse()
            .expect("a URL")
    }

    /// Publishes `keys` instead (a key rolled over, or withdrawn).
    pub fn publish(&self, keys: Vec<Value>) {
        *self.state.keys.lock().expect("not poisoned") = keys;
    }

    /// Answers only after `delay` from now on: a provider far away.
    pub fn answer_after(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).expect("a short delay");
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How often its key set has been read (counted as each read begins).
    pub fn reads(&self) -> usize {
        self.state.reads.load(Ordering::SeqCst)
    }
}

async fn jwks(State(state): State<Arc<Published>>) -> Json<Value> {
    state.reads.fetch_add(1, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let keys = state.keys.lock().expect("not poisoned").clone();
    Json(json!({ "keys": keys }))
}
