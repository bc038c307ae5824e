//! Headless Chromium behind its own chromedriver, one per test, torn down
//! (driver, browser and profile directory) when the test ends, pass or fail.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::free_port;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any expected state may take to appear.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A WebDriver session in a fresh headless Chromium.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a browser session.
    pub async fn start() -> Self {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(tool).is_file(),
                "{tool} is missing: run `cargo xtask test`, which installs Chromium and chromedriver"
            );
        }
        let port = free_port();
        // Its own process group, so that Drop can end the browser with it.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let profile = std::env::temp_dir().join(format!("ccpa-e2e-{}-{port}", std::process::id()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1000,800",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        driver,
                        profile,
                    };
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start a browser session: {last_error:?}");
    }

    /// Waits until the widget reports `state` in its `data-state`.
    pub async fn wait_for_state(&self, state: &str) {
        let selector = format!("[data-testid=ccpa-optout][data-state={state}]");
        let found = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(&selector))
            .await;
        if found.is_err() {
            let widget = self.wait_for("[data-testid=ccpa-optout]").await;
            let shown = widget.attr("data-state").await.ok().flatten();
            let text = widget.text().await.unwrap_or_default();
            let console = self.console_errors().await;
            panic!(
                "the widget never reached `{state}`; it is `{shown:?}` showing {text:?}; console: {console:?}"
            );
        }
    }

    /// Waits until the switch shows `checked` and the widget is ready again:
    /// a change the proxy confirmed.
    pub async fn wait_until_confirmed(&self, checked: bool) {
        self.wait_for(&format!(
            "[data-testid=ccpa-optout-switch][aria-checked={checked}]"
        ))
        .await;
        self.wait_for_state("ready").await;
    }

    /// Waits until `selector` matches an element.
    pub async fn wait_for(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector} never appeared: {e}"))
    }

    /// The text of the element `selector` matches.
    pub async fn text(&self, selector: &str) -> String {
        self.wait_for(selector).await.text().await.expect("text")
    }

    /// Everything the page logged at level SEVERE (errors), since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("browser log");
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// chromedriver's log endpoint: the browser console, which the W3C protocol
/// does not cover.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}
