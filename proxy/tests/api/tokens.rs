//! Tokens a site's identity provider already issues: RS256, ES256 and
//! EdDSA, checked with one public key or the provider's published set.

use std::time::{Duration, Instant};

use ccpa_proxy::config::Settings;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use testkit::{IdentityProvider, SigningKey};

use crate::helpers::*;

/// Keys from a published set, not a shared secret.
fn with_jwks(provider: &IdentityProvider) -> impl FnOnce(&mut Settings) {
    let url = provider.jwks_url();
    move |settings| {
        settings.identity.hs256_secret = None;
        settings.identity.jwks_url = Some(url);
    }
}

#[tokio::test]
async fn each_algorithm_from_a_published_set_opens_the_customers_own_profile() {
    let keys = [
        SigningKey::rsa("rsa-1", 2048),
        SigningKey::p256("ec-1"),
        SigningKey::ed25519("ed-1"),
    ];
    let provider = IdentityProvider::spawn(keys.iter().map(|k| k.jwk.clone()).collect()).await;
    let app = spawn_app_with(with_jwks(&provider)).await;
    for key in &keys {
        let token = key.sign(&claims("CUST-1001"));
        let response = app.get_opt_out(&token).await;
        assert_eq!(response.status(), 200, "{:?}", key.algorithm);
        assert_eq!(state_of(response).await["ccpaOptOut"], false);
    }
    let token = keys[2].sign(&claims("CUST-1001"));
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    assert!(app.opt_out_of("CUST-1001"));
    assert_eq!(provider.reads(), 1, "the set was read once, at start");
}

#[tokio::test]
async fn one_public_key_in_pem_verifies_its_own_algorithm_only() {
    for key in [
        SigningKey::rsa("k", 2048),
        SigningKey::p256("k"),
        SigningKey::ed25519("k"),
    ] {
        let pem = key.public_pem.clone();
        let app = spawn_app_with(|settings| {
            settings.identity.hs256_secret = None;
            settings.identity.public_key_pem = Some(pem);
        })
        .await;
        let response = app.get_opt_out(&key.sign(&claims("CUST-1001"))).await;
        assert_eq!(response.status(), 200, "{:?}", key.algorithm);
        // The classic confusion: HS256 "signed" with the public key itself.
        let confused = jsonwebtoken::encode(
            &Header::default(),
            &claims("CUST-1001"),
            &EncodingKey::from_secret(key.public_pem.as_bytes()),
        )
        .unwrap();
        // And a key that is not the configured one.
        let another = SigningKey::p256("k").sign(&claims("CUST-1001"));
        refused_after_one_read(&app, [confused, another]).await;
    }
}

/// Each of `tokens` is refused `401 invalid_token`, and Campaign was asked
/// only by the one read that was let through.
async fn refused_after_one_read(app: &TestApp, tokens: impl IntoIterator<Item = String>) {
    for token in tokens {
        let (status, code) = error_of(app.get_opt_out(&token).await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"), "{token}");
    }
    assert_eq!(
        app.emulator.stats().campaign_requests,
        1,
        "refusals forward nothing"
    );
}

#[tokio::test]
async fn keys_the_set_should_not_hold_are_never_used() {
    let kept = SigningKey::p256("kept");
    let short = SigningKey::rsa("short", 1024);
    let secret = "a symmetric key anyone reading the set knows, 32+ bytes";
    let oct = json!({"kty": "oct", "kid": "oct", "alg": "HS256",
        "k": base64_url(secret.as_bytes())});
    let mut encrypting = SigningKey::rsa("enc", 2048);
    encrypting.jwk["use"] = json!("enc");
    let provider = IdentityProvider::spawn(vec![
        kept.jwk.clone(),
        short.jwk.clone(),
        oct,
        encrypting.jwk.clone(),
        json!({"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"}),
        json!({"kty": "made-up", "kid": "odd"}),
    ])
    .await;
    let app = spawn_app_with(with_jwks(&provider)).await;
    assert_eq!(
        app.get_opt_out(&kept.sign(&claims("CUST-1001")))
            .await
            .status(),
        200
    );
    let by_oct = jsonwebtoken::encode(
        &Header {
            kid: Some("oct".into()),
            ..Header::default()
        },
        &claims("CUST-1001"),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let refused = [
        by_oct,
        short.sign(&claims("CUST-1001")),
        encrypting.sign(&claims("CUST-1001")),
        // Right key, but the header names another key's `kid`.
        kept.sign_as(&claims("CUST-1001"), Some("enc")),
    ];
    refused_after_one_read(&app, refused).await;
}

#[tokio::test]
async fn a_rolled_key_is_fetched_and_made_up_kids_cost_at_most_one_read_an_interval() {
    let old = SigningKey::ed25519("2026-11");
    let provider = IdentityProvider::spawn(vec![old.jwk.clone()]).await;
    let app = spawn_app_with(|settings| {
        with_jwks(&provider)(settings);
        settings.identity.jwks_min_refresh_secs = 1;
    })
    .await;
    let new = SigningKey::rsa("2026-12", 2048);
    provider.publish(vec![old.jwk.clone(), new.jwk.clone()]);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        app.get_opt_out(&new.sign(&claims("CUST-1001")))
            .await
            .status(),
        200
    );
    assert_eq!(
        provider.reads(),
        2,
        "the new kid made the proxy read the set once"
    );

    let flood = Instant::now();
    let before = provider.reads();
    for n in 0..40 {
        let token = new.sign_as(&claims("CUST-1001"), Some(&format!("made-up-{n}")));
        assert_eq!(error_of(app.get_opt_out(&token).await).await.0, 401);
    }
    // Without a `kid`, a set of two keys has no key to offer.
    let kidless = new.sign_as(&claims("CUST-1001"), None);
    assert_eq!(error_of(app.get_opt_out(&kidless).await).await.0, 401);
    let intervals = flood.elapsed().as_secs() as usize + 1;
    assert!(
        provider.reads() - before <= intervals,
        "{} reads for 41 tokens of unknown keys in {intervals} interval(s)",
        provider.reads() - before
    );
}

#[tokio::test]
async fn a_withdrawn_key_stops_working_once_the_set_is_old() {
    let withdrawn = SigningKey::p256("withdrawn");
    let kept = SigningKey::p256("kept");
    let provider = IdentityProvider::spawn(vec![withdrawn.jwk.clone(), kept.jwk.clone()]).await;
    let app = spawn_app_with(|settings| {
        with_jwks(&provider)(settings);
        settings.identity.jwks_min_refresh_secs = 1;
        settings.identity.jwks_max_age_secs = 1;
    })
    .await;
    assert_eq!(
        app.get_opt_out(&withdrawn.sign(&claims("CUST-1001")))
            .await
            .status(),
        200
    );
    provider.publish(vec![kept.jwk.clone()]);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // The first request past the age starts a read and is served by the
    // set in hand meanwhile; once the read is in, the withdrawn key is
    // refused.
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        while app
            .get_opt_out(&withdrawn.sign(&claims("CUST-1001")))
            .await
            .status()
            != 401
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "the withdrawn key still opens the profile");
    assert_eq!(provider.reads(), 2, "one read for the old set");
    assert_eq!(
        app.get_opt_out(&kept.sign(&claims("CUST-1001")))
            .await
            .status(),
        200
    );
    // A token without a `kid` is only taken when the set has one key.
    assert_eq!(
        app.get_opt_out(&kept.sign_as(&claims("CUST-1001"), None))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn keys_that_cannot_work_stop_the_start_with_a_sentence() {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let base = testkit::proxy_settings(&emulator, database.url());
    let unreachable = testkit::ReservedPort::new();
    let jwks_down: url::Url = format!("http://{}/jwks", unreachable.addr())
        .parse()
        .unwrap();
    let only_oct = json!({"kty": "oct", "kid": "oct", "k": "c2VjcmV0"});
    let useless = IdentityProvider::spawn(vec![only_oct]).await.jwks_url();
    type Change = Box<dyn Fn(&mut Settings)>;
    let cases: [(&str, Change); 8] = [
        (
            "identity.jwks_url holds no RS256, ES256 or EdDSA signing key",
            Box::new(move |s| {
                s.identity.hs256_secret = None;
                s.identity.jwks_url = Some(useless.clone());
            }),
        ),
        (
            "identity.jwks_min_refresh_secs must be above 0",
            Box::new(|s| {
                s.identity.hs256_secret = None;
                s.identity.jwks_url = Some("https://idp.example/jwks".parse().unwrap());
                s.identity.jwks_max_age_secs = 30;
            }),
        ),
        (
            "it needs 2048 to 4096",
            Box::new(|s| {
                s.identity.hs256_secret = None;
                s.identity.public_key_pem = Some(SigningKey::rsa("k", 1024).public_pem);
            }),
        ),
        (
            "P-256 or Ed25519 public key in PEM",
            Box::new(|s| {
                s.identity.hs256_secret = None;
                s.identity.public_key_pem =
                    Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".into());
            }),
        ),
        (
            "set exactly one of identity.hs256_secret",
            Box::new(|s| s.identity.public_key_pem = Some(SigningKey::p256("k").public_pem)),
        ),
        (
            "identity.jwks_url: could not read the key set",
            Box::new(move |s| {
                s.identity.hs256_secret = None;
                s.identity.jwks_url = Some(jwks_down.clone());
            }),
        ),
        (
            "identity.jwks_url must be https",
            Box::new(|s| {
                s.identity.hs256_secret = None;
                s.identity.jwks_url = Some("http://idp.example/jwks".parse().unwrap());
            }),
        ),
        (
            "demo.enabled needs identity.hs256_secret",
            Box::new(|s| {
                s.identity.hs256_secret = None;
                s.identity.public_key_pem = Some(SigningKey::p256("k").public_pem);
                s.demo.enabled = true;
            }),
        ),
    ];
    for (why, change) in cases {
        let mut settings = base.clone();
        change(&mut settings);
        let error = ccpa_proxy::startup::Application::build(settings)
            .await
            .err()
            .expect("refused");
        assert!(error.to_string().contains(why), "{why}: {error}");
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn made_up_kids_from_clients_that_hang_up_still_cost_one_read_an_interval() {
    let key = SigningKey::p256("known");
    let provider = IdentityProvider::spawn(vec![key.jwk.clone()]).await;
    let app = spawn_app_with(with_jwks(&provider)).await;
    provider.answer_after(Duration::from_millis(300));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let hanging_up = (0..30).map(|n| {
        let token = key.sign_as(&claims("CUST-1001"), Some(&format!("made-up-{n}")));
        impatient.get(app.api()).bearer_auth(token).send()
    });
    let answered = futures_util::future::join_all(hanging_up).await;
    assert!(answered.iter().all(Result::is_err), "every client hung up");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        provider.reads(),
        2,
        "the start's read, and one for 30 made-up kids whose clients hung up"
    );
}
