//! The real `ccpa-proxy` binary as operators run it: killed with `kill -9`
//! mid-retry, stopped with SIGTERM mid-request, and asked for the audit trail.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use campaign_emulator::Emulator;
use campaign_emulator::faults::{Fault, FaultKind};
use serde_json::Value;

use testkit::Scratch;

use crate::helpers::*;

/// The binary serving with a settings file like an operator's.
struct ProxyProcess {
    child: Child,
    url: String,
    _settings: Scratch,
}

impl ProxyProcess {
    /// Starts the binary on a port the system picks (`listen` port 0) and
    /// learns the port from its log line: no other process can take the
    /// port between choosing and binding it.
    async fn start(emulator: &Emulator, database: &str) -> Self {
        Self::start_with(emulator, database, &[]).await
    }

    /// The same, with `settings` (environment variables) added.
    async fn start_with(emulator: &Emulator, database: &str, settings: &[(&str, &str)]) -> Self {
        let (mut command, file) = proxy_command(emulator, database);
        let mut child = command
            .envs(settings.iter().copied())
            .env("CCPA_LOG_JSON", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the proxy binary starts");
        let log = child.stderr.take().expect("stderr is piped");
        let (addr, listening) = std::sync::mpsc::channel();
        // Reads the log to its end, or the binary would block on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(log).lines().map_while(Result::ok) {
                let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if entry["fields"]["message"] == "ccpa-proxy listening" {
                    let _ = addr.send(
                        entry["fields"]["addr"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        });
        let addr =
            tokio::task::spawn_blocking(move || listening.recv_timeout(Duration::from_secs(10)))
                .await
                .unwrap()
                .expect("the proxy binary logs where it listens");
        Self {
            child,
            url: format!("http://{addr}"),
            _settings: file,
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to 10 s for the process to end.
    async fn exit_status(&mut self) -> std::process::ExitStatus {
        for _ in 0..400 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the proxy did not stop");
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ccpa-proxy` with a settings file for `emulator` and `database`. The file
/// must outlive the command's start, and is deleted with the returned
/// [`Scratch`]: it holds the emulator's secrets.
/// Starts the binary again and waits until CUST-1001's opt-out, recorded
/// before, reaches Campaign.
async fn restart_until_applied(emulator: &Emulator, database: &str) -> ProxyProcess {
    let restarted = ProxyProcess::start(emulator, database).await;
    eventually(
        "the restarted proxy applies the change",
        // A kill mid-attempt leaves its lease (16 s here) to run out first.
        Duration::from_secs(30),
        || emulator.profile("CUST-1001").unwrap().ccpa_opt_out,
    )
    .await;
    restarted
}

/// Runs `ccpa-proxy <args>` to its end, with `env` added to a settings
/// file for `emulator` and `database`; returns its standard output, after
/// checking that it succeeded.
fn run_proxy(emulator: &Emulator, database: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let (mut command, _settings) = proxy_command(emulator, database);
    let output = command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ccpa-proxy {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn proxy_command(emulator: &Emulator, database: &str) -> (Command, Scratch) {
    let config = emulator.config();
    let file = std::env::temp_dir().join(format!("ccpa-proxy-{}.toml", uuid::Uuid::new_v4()));
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[campaign]
api = "{api}"
opt_out_field = "{opt_out_field}"
base_url = "{url}"
organization = "{org}"
ims_token_url = "{url}/ims/token/v3"
client_id = "{client_id}"
client_secret = "{client_secret}"
scope = "openid,AdobeID,campaign"
timeout_ms = 2000
[identity]
hs256_secret = "{SECRET}"
issuer = "https://shop.example"
audience = "ccpa-proxy"
[storage]
url = "{database}"
[delivery]
poll_interval_ms = 50
backoff_base_ms = 50
backoff_max_ms = 500
"#,
        url = emulator.url(),
        org = config.organization,
        api = config.api.as_str(),
        opt_out_field = config.opt_out_field,
        client_id = config.client_id,
        client_secret = config.client_secret,
    );
    std::fs::write(&file, toml).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ccpa-proxy"));
    command.env("CCPA_CONFIG", &file);
    (command, Scratch::new([file]))
}

#[tokio::test]
async fn a_recorded_change_survives_kill_9_and_is_applied_after_restart() {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let http = reqwest::Client::new();
    let proxy = ProxyProcess::start(&emulator, database.url()).await;
    emulator.inject(Fault::campaign(FaultKind::Status { status: 503 }, u32::MAX));
    let response = http
        .patch(format!("{}/api/v1/opt-out", proxy.url))
        .bearer_auth(token_for("CUST-1001"))
        .json(&serde_json::json!({"ccpaOptOut": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    // Killed mid-retry: once the worker has failed again after the first
    // attempt, as the emulator saw it.
    eventually("the worker retries", Duration::from_secs(10), || {
        emulator.calls().iter().filter(|c| c.status == 503).count() >= 3
    })
    .await;
    proxy.signal("-KILL");
    drop(proxy);
    emulator.clear_faults();
    assert!(!emulator.profile("CUST-1001").unwrap().ccpa_opt_out);
    assert_eq!(
        audit_of(database.url()).await[0].outcome,
        None,
        "still pending"
    );

    let _restarted = restart_until_applied(&emulator, database.url()).await;
    let mut audit = audit_of(database.url()).await;
    for _ in 0..100 {
        if audit[0].outcome.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        audit = audit_of(database.url()).await;
    }
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome.as_deref(), Some("applied"));
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish() {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let mut proxy = ProxyProcess::start(&emulator, database.url()).await;
    emulator.inject(Fault::campaign(FaultKind::Delay { ms: 700 }, 1));
    let url = format!("{}/api/v1/opt-out", proxy.url);
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .patch(url)
            .bearer_auth(token_for("CUST-1001"))
            .json(&serde_json::json!({"ccpaOptOut": true}))
            .send()
            .await
    });
    eventually(
        "the PATCH reaches Campaign",
        Duration::from_secs(10),
        || emulator.in_flight() > 0,
    )
    .await;
    proxy.signal("-TERM");
    let response = in_flight.await.unwrap().expect("an answer, not a reset");
    assert_eq!(response.status(), 200);
    assert!(proxy.exit_status().await.success(), "a clean exit");
    assert!(emulator.profile("CUST-1001").unwrap().ccpa_opt_out);
}

#[tokio::test]
async fn the_audit_trail_exports_as_json_lines_and_csv() {
    let app = spawn_app().await;
    for (customer, value) in [
        ("CUST-1001", true),
        ("CUST-1002", false),
        ("CUST-9999", false),
    ] {
        let _ = app.patch_opt_out(&token_for(customer), value).await;
    }
    let export = |format: &str, to: &str| {
        let args = [
            "audit",
            "export",
            "--from",
            "2020-01-01",
            "--to",
            to,
            "--format",
            format,
        ];
        run_proxy(&app.emulator, app.database.url(), &args, &[])
    };

    let lines: Vec<Value> = export("jsonl", "2100-01-01")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["subject"], "CUST-1001");
    assert_eq!(lines[0]["request"], "opt-out");
    assert_eq!(lines[0]["source"], "widget");
    assert_eq!(lines[0]["outcome"], "applied");
    assert_eq!(
        lines[0]["previousValue"],
        Value::Null,
        "not read: one call by key"
    );
    assert_eq!(lines[1]["request"], "opt-in");
    assert_eq!(lines[2]["outcome"], "denied", "nothing to allow");
    assert!(lines[0]["receivedAt"].as_str().unwrap().ends_with('Z'));
    assert!(lines[0]["respondedAt"].as_str().is_some());

    let csv = export("csv", "2100-01-01");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "a header and three records");
    assert!(rows[0].starts_with("id,requestId,receivedAt,subject,request,source"));
    assert!(rows[3].contains(",CUST-9999,opt-in,widget,false,denied,,"));
    for forbidden in ["Bearer", "eyJ", SECRET, "ccpa-demo-secret", "@"] {
        assert!(!csv.contains(forbidden), "{forbidden} in the export");
    }

    assert_eq!(
        export("jsonl", "2020-01-02"),
        "",
        "no record in another range"
    );
}

/// The export only reads: it runs no migration (here the proxy's SQLite
/// database is made to look one migration behind, and stays so), and on
/// PostgreSQL a role that may only read the audit tables (and which
/// namespaces wait for Privacy Service) is enough.
#[tokio::test]
async fn the_audit_export_only_reads() {
    use sqlx::Executor;
    let app = spawn_app().await;
    state_of(app.patch_opt_out(&token_for("CUST-1001"), true).await).await;
    let mut db = app.database_connection().await;
    let url = if testkit::on_postgres() {
        let role = format!("auditor_{}", uuid::Uuid::new_v4().simple());
        db.execute(format!("CREATE ROLE {role} LOGIN").as_str())
            .await
            .unwrap();
        for grant in [
            format!("GRANT SELECT ON audit, audit_outcome, consent_outcome TO {role}"),
            format!("GRANT SELECT (audit_id, namespace) ON consent_pending TO {role}"),
        ] {
            db.execute(grant.as_str()).await.unwrap();
        }
        let mut url = url::Url::parse(app.database.url()).unwrap();
        url.set_username(&role).unwrap();
        url.to_string()
    } else {
        db.execute("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .await
            .unwrap();
        app.database.url().to_owned()
    };
    let before = applied_migrations(&mut db).await;

    let export = [
        "audit",
        "export",
        "--from",
        "2020-01-01",
        "--to",
        "2100-01-01",
    ];
    let stdout = run_proxy(
        &app.emulator,
        app.database.url(),
        &export,
        &[("CCPA__STORAGE__URL", &url)],
    );
    assert_eq!(stdout.lines().count(), 1);
    assert_eq!(
        applied_migrations(&mut db).await,
        before,
        "no migration ran"
    );
}

async fn applied_migrations(db: &mut sqlx::AnyConnection) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations")
        .fetch_one(db)
        .await
        .unwrap()
        .get("n")
}

/// Where the proxy's role may not change the schema (`storage.migrate =
/// false`), it refuses an older schema with a sentence; `ccpa-proxy
/// migrate` brings it up to date. On PostgreSQL, with the roles set up as
/// docs/operations.md shows: the owner migrates, the application role
/// serves, and may not rewrite the audit trail.
#[tokio::test]
async fn a_proxy_that_may_not_migrate_refuses_an_older_schema_until_migrated() {
    use sqlx::{Connection, Executor};
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    sqlx::any::install_default_drivers();
    let (owner_url, app_url) = if testkit::on_postgres() {
        let mut admin = sqlx::AnyConnection::connect(database.url()).await.unwrap();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let (owner, app) = (format!("owner_{suffix}"), format!("app_{suffix}"));
        let name = url::Url::parse(database.url()).unwrap().path()[1..].to_owned();
        for statement in [
            format!("CREATE ROLE {owner} LOGIN"),
            format!("CREATE ROLE {app} LOGIN"),
            format!(r#"ALTER DATABASE "{name}" OWNER TO {owner}"#),
        ] {
            admin.execute(statement.as_str()).await.unwrap();
        }
        let as_role = |role: &str| {
            let mut url = url::Url::parse(database.url()).unwrap();
            url.set_username(role).unwrap();
            url.to_string()
        };
        (as_role(&owner), as_role(&app))
    } else {
        (database.url().to_owned(), database.url().to_owned())
    };
    let mut settings = testkit::proxy_settings(&emulator, &app_url);
    settings.storage.migrate = false;
    // Its tables too are the application's to write.
    tell_privacy_service(&mut settings);
    let refused = ccpa_proxy::startup::Application::build(settings.clone())
        .await
        .err()
        .expect("an unmigrated database is refused");
    assert!(
        format!("{refused:#}").contains("run `ccpa-proxy migrate`"),
        "{refused:#}"
    );

    run_proxy(&emulator, &owner_url, &["migrate"], &[]);
    if testkit::on_postgres() {
        let mut owner = sqlx::AnyConnection::connect(&owner_url).await.unwrap();
        let app = url::Url::parse(&app_url).unwrap().username().to_owned();
        let grants = [
            format!(
                "GRANT SELECT, INSERT ON audit, audit_outcome, dead_letter, consent_outcome TO {app}"
            ),
            format!("GRANT SELECT, INSERT, DELETE ON consent_dead_letter TO {app}"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON pending_change, consent_pending TO {app}"
            ),
            format!("GRANT SELECT, UPDATE ON creation_budget TO {app}"),
            format!("GRANT SELECT ON _sqlx_migrations TO {app}"),
        ];
        for grant in grants {
            owner.execute(grant.as_str()).await.unwrap();
        }
    }

    let (public, admin) = testkit::spawn_proxy_with_admin(settings).await;
    let app = TestApp {
        url: format!("http://{public}"),
        admin: format!("http://{admin}"),
        emulator,
        http: reqwest::Client::new(),
        database,
    };
    state_of(app.patch_opt_out(&token_for("CUST-1001"), true).await).await;
    assert_eq!(app.audit().await[0].outcome.as_deref(), Some("applied"));
    let unknown = app
        .by_email(serde_json::json!({"email": "new@example.com"}))
        .await;
    assert_eq!(unknown.status(), 202);
    app.drained().await;
    assert_eq!(
        app.audit().await[1].outcome.as_deref(),
        Some("created"),
        "the creation budget is the application's to count"
    );
    assert_eq!(
        app.audit().await[1].privacy_service.as_deref(),
        Some("email:applied"),
        "Privacy Service's deliveries are the application's to write"
    );
    if testkit::on_postgres() {
        let mut as_app = sqlx::AnyConnection::connect(&app_url).await.unwrap();
        for rewrite in [
            "UPDATE audit SET requested = 0",
            "DELETE FROM audit_outcome",
            "TRUNCATE audit_outcome",
        ] {
            let error = as_app.execute(rewrite).await.expect_err(rewrite);
            assert!(
                error.to_string().contains("permission denied"),
                "{rewrite}: {error}"
            );
        }
    }
}

/// An operator lists the changes given up on (beside the running proxy),
/// stops it once Campaign is put right, sends them again, and the proxy
/// applies them after its restart; the trail shows both requests.
#[tokio::test]
async fn an_operator_lists_dead_letters_and_sends_them_again() {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let run = |args: &[&str]| run_proxy(&emulator, database.url(), args, &[]);
    let mut proxy = ProxyProcess::start_with(
        &emulator,
        database.url(),
        &[("CCPA__DELIVERY__MAX_STRIKES", "1")],
    )
    .await;
    let refusal = refusal(422);
    emulator.inject(Fault::campaign(refusal, 1).only("PATCH"));
    let response = reqwest::Client::new()
        .patch(format!("{}/api/v1/opt-out", proxy.url))
        .bearer_auth(token_for("CUST-1001"))
        .json(&serde_json::json!({"ccpaOptOut": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502, "given up at the first strike");

    let listed: Vec<Value> = run(&["dead-letters", "list"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0]["subject"].as_str(), listed[0]["value"].as_bool()),
        (Some("CUST-1001"), Some(true))
    );
    assert!(listed[0]["lastError"].as_str().unwrap().contains("422"));

    proxy.signal("-TERM");
    assert!(proxy.exit_status().await.success());
    run(&["dead-letters", "retry"]);
    assert_eq!(run(&["dead-letters", "list"]), "", "none left");
    let _restarted = restart_until_applied(&emulator, database.url()).await;
    let audit = audit_of(database.url()).await;
    let trail: Vec<_> = audit
        .iter()
        .map(|r| (r.source.as_str(), r.outcome.as_deref()))
        .collect();
    assert_eq!(trail[0], ("widget", Some("failed")));
    assert_eq!(trail[1].0, "operator");
}

/// A misspelt setting stops the proxy before it serves, with a sentence
/// naming the key, its environment variable and the key it was likely
/// meant to be (before, the default it meant to change applied in silence).
#[tokio::test]
async fn a_misspelt_setting_stops_the_proxy_with_the_nearest_key() {
    let said = refused_with(("CCPA__CAMPAIGN__SENSITIVE_FEILD", "limitSensitive")).await;
    for words in [
        "unknown setting `campaign.sensitive_feild`",
        "CCPA__CAMPAIGN__SENSITIVE_FEILD",
        "did you mean `campaign.sensitive_field`?",
    ] {
        assert!(said.contains(words), "{words:?} not in {said}");
    }
    assert!(
        !said.contains("limitSensitive"),
        "the value is not said: {said}"
    );
    // The settings' prefix itself misspelt: the variable was read by nothing.
    let said = refused_with(("CCPA_CAMPAIGN__SENSITIVE_FIELD", "cusLimitSensitive")).await;
    assert!(
        said.contains("did you mean `CCPA__CAMPAIGN__SENSITIVE_FIELD`?"),
        "{said}"
    );
}

/// What the proxy binary says as it refuses to start with `variable` set.
async fn refused_with(variable: (&str, &str)) -> String {
    let emulator = testkit::spawn_emulator().await;
    let database = testkit::database().await;
    let (mut command, _file) = proxy_command(&emulator, database.url());
    let mut child = command
        .env(variable.0, variable.1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the proxy binary starts");
    let mut status = None;
    for _ in 0..400 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the proxy kept running with a misspelt setting");
    };
    assert!(!status.success(), "it stopped with a failure");
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    said
}
