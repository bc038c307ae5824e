use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn no_token_no_answer() {
    let app = spawn_app().await;
    let response = app.http.get(app.api()).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_of(response).await, (401, "missing_token".into()));
    let response = app
        .http
        .get(app.api())
        .header("Authorization", "Basic eDp5")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await, (401, "invalid_token".into()));
    assert_eq!(
        app.emulator.stats().campaign_requests,
        0,
        "nothing forwarded"
    );
}

#[tokio::test]
async fn expired_forged_and_foreign_tokens_are_refused() {
    let app = spawn_app().await;
    let expired = testkit::expired_token_for("CUST-1001");
    let (_, code) = error_of(app.get_opt_out(&expired).await).await;
    assert_eq!(code, "token_expired");

    let mut foreign = claims("CUST-1001");
    foreign["aud"] = json!("some-other-service");
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims("CUST-1001"),
        &jsonwebtoken::EncodingKey::from_secret(b"guessed-secret"),
    )
    .unwrap();
    for token in [sign(&foreign), forged] {
        assert_eq!(
            error_of(app.get_opt_out(&token).await).await,
            (401, "invalid_token".into())
        );
    }
    assert_eq!(app.emulator.stats().campaign_requests, 0);
}
