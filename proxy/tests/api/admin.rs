//! Operators read the backlog and the metrics on the admin listener; the
//! public listener discloses neither.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn the_backlog_and_the_metrics_are_on_the_admin_listener_only() {
    let app = spawn_app_with(|s| s.limits.changes_per_minute = 1).await;
    let token = token_for("CUST-1001");
    assert_eq!(app.patch_opt_out(&token, true).await.status(), 200);
    assert_eq!(app.patch_opt_out(&token, false).await.status(), 429);

    let public: Value = app.get("/health/ready").await.json().await.unwrap();
    assert_eq!(
        public,
        json!({"status": "ready", "storage": "ok", "upstream": "ok"})
    );
    assert_eq!(app.get("/metrics").await.status(), 404);
    assert_eq!(app.readiness().await["pending"], 0);

    let scraped = app
        .http
        .get(format!("{}/metrics", app.admin))
        .send()
        .await
        .unwrap();
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = scraped.text().await.unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} in:\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("ccpa_pending_changes"), 0.0);
    assert_eq!(value("ccpa_attempts_total{outcome=\"applied\"}"), 1.0);
    assert_eq!(value("ccpa_rate_limited_total{limit=\"changes\"}"), 1.0);
    assert_eq!(value("ccpa_upstream_seconds_count{upstream=\"ims\"}"), 1.0);
    assert!(
        value("ccpa_upstream_seconds_count{upstream=\"campaign\"}") >= 2.0,
        "a look-up and a PATCH"
    );
    assert_eq!(value("ccpa_connections_shed_total"), 0.0);
}
