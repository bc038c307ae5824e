//! What verifying a sign-in token costs, per algorithm, with the validation
//! the proxy applies (signature, `exp`, `iss`, `aud`, required claims).

use std::collections::HashMap;
use std::time::Instant;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

/// Median time of one verification, in microseconds, per algorithm.
pub fn verification_costs() -> Vec<(&'static str, f64)> {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/");
    let pem = |name: &str| std::fs::read(format!("{keys}{name}")).expect("bench key");
    let hs = b"bench-host-shared-hs256-secret";
    let cases = [
        (
            "HS256",
            Algorithm::HS256,
            EncodingKey::from_secret(hs),
            DecodingKey::from_secret(hs),
        ),
        (
            "RS256 (2048-bit)",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&pem("rsa-private.pem")).expect("RSA key"),
            DecodingKey::from_rsa_pem(&pem("rsa-public.pem")).expect("RSA key"),
        ),
        (
            "ES256 (P-256)",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&pem("ec-private.pem")).expect("EC key"),
            DecodingKey::from_ec_pem(&pem("ec-public.pem")).expect("EC key"),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, algorithm, encoding, decoding)| {
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
