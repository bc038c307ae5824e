//! The routes without a sign-in, flooded: profiles are created for unknown
//! addresses within a budget (the rest held, never dropped), and the
//! worker's lanes keep a queue of unknown addresses from holding up a
//! signed-in customer or an address Campaign knows.

use std::net::IpAddr;
use std::time::Duration;

use campaign_emulator::faults::{Fault, FaultKind};
use campaign_emulator::store::CallKind;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

/// Where the tests' load balancer connects from.
const BALANCER: &str = "127.0.0.2";

impl TestApp {
    /// An opt-out by email from `client`, as a load balancer on
    /// [`BALANCER`] forwards it.
    async fn by_email_from(&self, http: &reqwest::Client, client: &str, email: &str) -> u16 {
        http.post(format!("{}/api/v1/opt-out/email", self.url))
            .header("X-Forwarded-For", client)
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn created(&self) -> usize {
        self.emulator
            .calls()
            .iter()
            .filter(|c| c.kind == CallKind::Create && c.status == 201)
            .count()
    }
}

/// A client that connects from the load balancer's address.
pub fn balancer() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(BALANCER.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

fn behind_a_balancer(settings: &mut ccpa_proxy::config::Settings) {
    settings.server.trusted_proxies = vec![BALANCER.to_owned()].try_into().unwrap();
}

/// Past the budget, unknown addresses are recorded and held: listed on the
/// admin listener and in `/metrics`, and let through by an operator.
#[tokio::test]
async fn creations_past_the_budget_are_held_until_an_operator_releases_them() {
    let app = spawn_app_with(|s| s.email_opt_out.new_profiles_per_hour = 2).await;
    for n in 0..4 {
        let email = format!("unknown-{n}@example.com");
        assert_eq!(app.by_email(json!({ "email": email })).await.status(), 202);
    }
    eventually("two held", Duration::from_secs(10), || app.created() == 2).await;
    let ready = app.counted().await;
    assert_eq!(
        (&ready["pending"], &ready["heldCreations"]),
        (&json!(2), &json!(2))
    );
    let held = app.admin(Method::GET, "/changes/held").await;
    let held = held["changes"].as_array().unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!(held[0]["lane"], "create");
    assert!(
        held[0]["deadline"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z'))
    );
    assert!(
        !held[0].to_string().contains("example.com"),
        "no address on the listing: {held:?}"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.lines().any(|l| l == "ccpa_held_creations 2"),
        "{metrics}"
    );
    assert!(
        app.audit()
            .await
            .iter()
            .filter(|r| r.outcome.is_none())
            .count()
            == 2
    );

    let release = format!("{}/changes/held/release", app.admin);
    let page = app.http.post(&release).send().await.unwrap();
    assert_eq!(
        page.status(),
        415,
        "not without the JSON a page cannot send"
    );
    let rebound = app
        .http
        .post(&release)
        .header("Content-Type", "application/json")
        .header("Host", "evil.example:9090")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rebound.status(),
        404,
        "not for a name rebound to the listener"
    );
    assert_eq!(app.counted().await["heldCreations"], 2, "nothing released");
    let released = app.admin(Method::POST, "/changes/held/release").await;
    assert_eq!(released, json!({"released": 2}));
    app.drained().await;
    assert_eq!(app.created(), 4);
    let outcomes: Vec<_> = app
        .audit()
        .await
        .into_iter()
        .map(|r| (r.outcome, r.profiles_changed))
        .collect();
    assert!(
        outcomes
            .iter()
            .all(|o| *o == (Some("created".to_owned()), Some(1))),
        "{outcomes:?}"
    );
}

/// When the budget has room again, held creations go on by themselves,
/// as many as it allows.
#[tokio::test]
async fn held_creations_go_on_when_the_budget_refills() {
    let app = spawn_app_with(|s| s.email_opt_out.new_profiles_per_hour = 2).await;
    for n in 0..3 {
        let email = format!("later-{n}@example.com");
        assert_eq!(app.by_email(json!({ "email": email })).await.status(), 202);
    }
    eventually("one held", Duration::from_secs(10), || app.created() == 2).await;
    assert_eq!(app.counted().await["heldCreations"], 1);
    // An hour passes, for the budget.
    let mut db = app.database_connection().await;
    sqlx::query("UPDATE creation_budget SET hour_start = hour_start - 3600000")
        .execute(&mut db)
        .await
        .unwrap();
    app.drained().await;
    assert_eq!(app.created(), 3);
}

/// A flood of unknown addresses from twenty clients behind the balancer,
/// each within its limit: an address Campaign knows, sent by another
/// client during it, waits behind one request per client (the lane serves
/// clients in turn), not behind the whole queue; a signed-in customer's
/// opt-out is applied at once; and profiles are created within the budget
/// only. (The queue was taken oldest first.)
#[tokio::test]
async fn a_flood_of_unknown_addresses_holds_up_no_one_else() {
    let app = spawn_app_with(|s| {
        behind_a_balancer(s);
        s.email_opt_out.new_profiles_per_hour = 5;
        s.campaign.max_calls_per_second = 50;
    })
    .await;
    app.emulator.set_latency(Duration::from_millis(50));
    let http = balancer();
    let flood = (0..20).flat_map(|client| {
        let http = &http;
        let app = &app;
        (0..10).map(move |n| async move {
            let email = format!("flood-{client}-{n}@example.com");
            app.by_email_from(http, &format!("203.0.113.{client}"), &email)
                .await
        })
    });
    let answers = futures_util::future::join_all(flood).await;
    assert!(answers.iter().all(|status| *status == 202), "{answers:?}");
    let looked_up = || {
        app.emulator
            .calls()
            .iter()
            .filter(|c| c.kind == CallKind::ByEmail)
            .count()
    };
    let before = looked_up();
    assert_eq!(
        app.by_email_from(&http, "198.51.100.7", "ada@example.com")
            .await,
        202
    );
    let signed_in = app.patch_opt_out(&token_for("CUST-1003"), true).await;
    assert_eq!(signed_in.status(), 200, "applied at once");
    eventually("Ada's opt-out is applied", Duration::from_secs(20), || {
        app.opt_out_of("CUST-1001")
    })
    .await;
    // One turn per client (20), the worker's attempts in flight when Ada's
    // request came and while hers ran (its 16 places, twice), and hers:
    // not the 200 waiting.
    let ahead = looked_up() - before;
    eprintln!("flood: {ahead} look-ups before the known address's, {before} before it came");
    assert!(
        ahead <= 20 + 2 * 16 + 1,
        "{ahead} look-ups went before Ada's, of {} waiting",
        200 - before
    );
    tokio::time::sleep(COUNTED_AGAIN).await;
    eventually(
        "every flooded address looked up",
        Duration::from_secs(30),
        || looked_up() >= 201,
    )
    .await;
    assert_eq!(app.created(), 5, "the budget, and no more");
    assert_eq!(app.counted().await["heldCreations"], 195);
}

/// A held creation asked for again, by a client with opt-outs by email
/// still waiting, stays held and goes on once released. (The request gave
/// the held row that client's turn, which no claim of its lane reads: the
/// row was stranded, and its place in the budget lost.)
#[tokio::test]
async fn a_held_creation_asked_for_again_is_released_all_the_same() {
    let app = spawn_app_with(|s| s.email_opt_out.new_profiles_per_hour = 1).await;
    for email in ["first@example.com", "held@example.com"] {
        assert_eq!(app.by_email(json!({ "email": email })).await.status(), 202);
    }
    eventually("one created", Duration::from_secs(10), || {
        app.created() == 1
    })
    .await;
    assert_eq!(app.counted().await["heldCreations"], 1);
    app.emulator
        .inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    assert_eq!(
        app.by_email(json!({"email": "waiting@example.com"}))
            .await
            .status(),
        202
    );
    assert_eq!(
        app.by_email(json!({"email": "held@example.com"}))
            .await
            .status(),
        202,
        "asked for again, with another of the client's waiting"
    );
    app.emulator.clear_faults();
    let released = app.admin(Method::POST, "/changes/held/release").await;
    assert_eq!(released, json!({"released": 1}));
    eventually("the released one created", Duration::from_secs(10), || {
        app.created() == 2
    })
    .await;
    // The client's other address is new, and the budget is spent: held.
    eventually("the other held", Duration::from_secs(10), || {
        app.emulator
            .calls()
            .iter()
            .filter(|c| c.kind == CallKind::ByEmail && c.status == 200)
            .count()
            >= 4
    })
    .await;
    assert_eq!(app.counted().await["heldCreations"], 1);
    assert_eq!(app.created(), 2);
}
