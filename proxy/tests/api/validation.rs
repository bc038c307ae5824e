//! Bad input gets a clear JSON error and nothing reaches Campaign.

use crate::helpers::*;

#[tokio::test]
async fn malformed_bodies_are_refused_before_anything_is_forwarded() {
    let app = spawn_app().await;
    let token = token_for("CUST-1001");
    let cases: [(&str, &str, u16, &str); 11] = [
        (
            "application/json",
            r#"{"ccpaOptOut":"true"}"#,
            422,
            "invalid_body",
        ),
        (
            "application/json",
            r#"{"ccpaOptOut":1}"#,
            422,
            "invalid_body",
        ),
        (
            "application/json",
            r#"{"ccpaOptOut":null}"#,
            422,
            "invalid_body",
        ),
        (
            "application/json",
            r#"{"ccpaOptOut":true,"extra":1}"#,
            422,
            "invalid_body",
        ),
        (
            "application/json",
            r#"{"ccpaOptOut":true,"ccpaOptOut":false}"#,
            422,
            "invalid_body",
        ),
        ("application/json", r#"{}"#, 422, "invalid_body"),
        ("application/json", r#"[true]"#, 422, "invalid_body"),
        (
            "application/json",
            r#"{"ccpaOptOut":tru"#,
            422,
            "invalid_body",
        ),
        ("application/json", "", 422, "invalid_body"),
        (
            "text/plain",
            r#"{"ccpaOptOut":true}"#,
            415,
            "unsupported_media_type",
        ),
        (
            "application/x-www-form-urlencoded",
            "ccpaOptOut=true",
            415,
            "unsupported_media_type",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let response = app.patch_raw(&token, content_type, body).await;
        assert_eq!(
            error_of(response).await,
            (status, code.into()),
            "{content_type} {body}"
        );
    }
    let huge = format!(r#"{{"ccpaOptOut":true,"pad":"{}"}}"#, "x".repeat(64 * 1024));
    let response = app.patch_raw(&token, "application/json", huge).await;
    assert_eq!(error_of(response).await, (413, "payload_too_large".into()));
    assert_eq!(
        app.emulator.stats().campaign_requests,
        0,
        "nothing forwarded"
    );
    assert!(!app.opt_out_of("CUST-1001"));
}

#[tokio::test]
async fn errors_never_echo_the_input() {
    let app = spawn_app().await;
    let response = app
        .patch_raw(
            &token_for("CUST-1001"),
            "application/json",
            r#"{"ccpaOptOut":"<script>alert(1)</script>"}"#,
        )
        .await;
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    assert!(!body.contains("<script>"), "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["error"]["message"],
        "The body must be exactly {\"ccpaOptOut\": true|false}: ccpaOptOut must be true or false."
    );
}

#[tokio::test]
async fn charset_parameters_on_json_are_fine() {
    let app = spawn_app().await;
    let response = app
        .patch_raw(
            &token_for("CUST-1001"),
            "application/json; charset=utf-8",
            r#"{"ccpaOptOut":true}"#,
        )
        .await;
    assert_eq!(state_of(response).await["ccpaOptOut"], true);
    assert!(app.opt_out_of("CUST-1001"), "and it was applied");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/profile").await;
    assert_eq!(error_of(response).await, (404, "not_found".into()));
    let response = app
        .http
        .post(app.api())
        .bearer_auth(token_for("CUST-1001"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await, (405, "method_not_allowed".into()));
    let response = app.http.delete(app.api()).send().await.unwrap();
    assert_eq!(error_of(response).await, (405, "method_not_allowed".into()));
}
