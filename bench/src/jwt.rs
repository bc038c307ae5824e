//! What verifying a sign-in token costs, per algorithm, with the validation
//! the proxy applies (signature, `exp`, `iss`, `aud`, required claims).

use std::collections::HashMap;
use std::time::Instant;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;
use testkit::SigningKey;

/// Median time of one verification, in microseconds, per algorithm. The
/// keys are made here, afresh: none is kept in the repository.
pub fn verification_costs() -> Vec<(&'static str, f64)> {
    let hs = b"bench-host-shared-hs256-secret-of-40-bytes";
    let hs256 = (
        Algorithm::HS256,
        EncodingKey::from_secret(hs),
        DecodingKey::from_secret(hs),
    );
    let public =
        |key: SigningKey, decoding: fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>| {
            let decoding = decoding(key.public_pem.as_bytes()).expect("a public key");
            (key.algorithm, key.encoding().clone(), decoding)
        };
    let cases = [
        ("HS256", hs256),
        (
            "RS256 (2048-bit)",
            public(SigningKey::rsa("bench", 2048), DecodingKey::from_rsa_pem),
        ),
        (
            "ES256 (P-256)",
            public(SigningKey::p256("bench"), DecodingKey::from_ec_pem),
        ),
        (
            "EdDSA (Ed25519)",
            public(SigningKey::ed25519("bench"), DecodingKey::from_ed_pem),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, (algorithm, encoding, decoding))| {
            (name, median_micros(algorithm, &encoding, &decoding))
        })
        .collect()
}

fn median_micros(algorithm: Algorithm, encoding: &EncodingKey, decoding: &DecodingKey) -> f64 {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "sub": "LOAD-0001", "iss": "https://shop.example", "aud": "ccpa-proxy",
        "iat": now, "exp": now + 600,
    });
    let token = jsonwebtoken::encode(&Header::new(algorithm), &claims, encoding).expect("signing");
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&["ccpa-proxy"]);
    validation.set_issuer(&["https://shop.example"]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    const BATCH: u32 = 200;
    let mut batches: Vec<f64> = (0..21)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..BATCH {
                let verified =
                    jsonwebtoken::decode::<HashMap<String, Value>>(&token, decoding, &validation);
                assert!(verified.is_ok(), "the token verifies");
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[batches.len() / 2]
}
