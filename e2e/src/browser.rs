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

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// axe-core, installed by `cargo xtask test` (npm).
const AXE: &str = ".tools/node_modules/axe-core/axe.min.js";

/// How long any expected state may take to appear.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The widget's own section (the loader's first paint of it is
/// `ccpa-optout-early`).
pub const WIDGET: &str = "[data-testid=ccpa-optout]";

/// Sums the page's layout shifts without recent input (its Cumulative
/// Layout Shift) into `window.__ccpaShift`, from before any page script
/// runs: for [`Browser::on_every_page`].
pub const WATCH_LAYOUT_SHIFTS: &str = "window.__ccpaShift = 0;
new PerformanceObserver((shifts) => {
  for (const shift of shifts.getEntries()) if (!shift.hadRecentInput) window.__ccpaShift += shift.value;
}).observe({ type: 'layout-shift', buffered: true });";

/// A network link and a CPU, as Chromium emulates them for a page.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// How the benchmarks name it.
    pub name: &'static str,
    /// Added to every request's round trip.
    pub latency_ms: f64,
    /// Down and up; `None`: as fast as loopback goes.
    pub bits_per_second: Option<(f64, f64)>,
    /// How many times slower the page's CPU runs (1: not slowed).
    pub cpu_slowdown: f64,
}

impl Profile {
    /// Loopback, this machine's CPU.
    pub const LOOPBACK: Self = Self {
        name: "loopback",
        latency_ms: 0.0,
        bits_per_second: None,
        cpu_slowdown: 1.0,
    };
    /// Loopback with the CPU slowed four times: a mid-tier phone's.
    pub const LOOPBACK_SLOW_CPU: Self = Self {
        name: "loopback, CPU 4× slower",
        cpu_slowdown: 4.0,
        ..Self::LOOPBACK
    };
    /// A good 4G link: 50 ms round trips, 12 Mbit/s down, 3 up.
    pub const GOOD_4G: Self = Self {
        name: "emulated 4G",
        latency_ms: 50.0,
        bits_per_second: Some((12e6, 3e6)),
        cpu_slowdown: 1.0,
    };
    /// Lighthouse's mid-tier phone: the CPU four times slower, 150 ms round
    /// trips, 1.6 Mbit/s down, 750 kbit/s up.
    pub const PHONE: Self = Self {
        name: "phone (CPU 4×, 150 ms, 1.6 Mbit/s)",
        latency_ms: 150.0,
        bits_per_second: Some((1.6e6, 750e3)),
        cpu_slowdown: 4.0,
    };
}

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
        // chromedriver binds the port itself: the one port chosen here and
        // bound later. Should another process take it meanwhile, the
        // session below is refused and the test fails loudly.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let profile = std::env::temp_dir().join(format!("ccpa-e2e-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile).expect("the browser's profile directory is made");
        // Its own process group, so that Drop can end the browser with it.
        // Killed, Chromium cannot delete its `org.chromium.*` temporary
        // directories (about a hundred a run): they go in the profile, which
        // Drop deletes.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .env("TMPDIR", &profile)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
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

    /// Waits until the widget itself (not the loader's first paint, which
    /// it replaces) reports `state` in its `data-state`.
    pub async fn wait_for_state(&self, state: &str) {
        let selector = format!("{WIDGET}[data-state={state}]");
        let found = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(&selector))
            .await;
        if found.is_err() {
            let widget = self.wait_for("[data-testid=ccpa-optout]").await;
            let shown = self.state().await;
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

    /// Types `email` into the widget's email form, sends it, and returns
    /// how the form was answered and what its status line says then (see
    /// [`Browser::wait_for_email_answer`]).
    pub async fn opt_out_by_email(&self, email: &str) -> (String, String) {
        let field = self.wait_for(".ccpa-optout__email-field").await;
        field.send_keys(email).await.unwrap();
        self.wait_for("[data-testid=ccpa-optout-email] button")
            .await
            .click()
            .await
            .unwrap();
        self.wait_for_email_answer().await
    }

    /// The widget's `data-state` now.
    pub async fn state(&self) -> Option<String> {
        let widget = self.wait_for(WIDGET).await;
        widget.attr("data-state").await.ok().flatten()
    }

    /// Adds an empty frame to the page, as an ad tag would, and enters it:
    /// scripts run in the frame from then on.
    pub async fn enter_new_frame(&self) {
        let frame = self
            .script(
                "const ad = document.createElement('iframe');
                 document.querySelector('main').append(ad);
                 return Array.from({ length: window.frames.length }, (_, i) => window.frames[i]).indexOf(ad.contentWindow);",
            )
            .await;
        let frame = u16::try_from(frame.as_u64().expect("a frame index")).unwrap();
        self.client.enter_frame(frame).await.unwrap();
    }

    /// Waits for the email form to be answered (`sent`, `invalid` or
    /// `failed`, never the `sending` on the way) and returns how, and what
    /// its status line says then.
    async fn wait_for_email_answer(&self) -> (String, String) {
        let form = "[data-testid=ccpa-optout-email]";
        let answered = format!(
            "{form}[data-state=sent], {form}[data-state=invalid], {form}[data-state=failed]"
        );
        let found = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(&answered))
            .await
            .unwrap_or_else(|_| panic!("the email form was never answered"));
        let state = found
            .attr("data-state")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        (state, self.text(&format!("{form} [role=status]")).await)
    }

    /// The text of the element `selector` matches.
    pub async fn text(&self, selector: &str) -> String {
        self.wait_for(selector).await.text().await.expect("text")
    }

    /// Runs a Chrome DevTools Protocol command (media and language
    /// emulation, scripts that run before the page's own).
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp {
                command: command.to_owned(),
                params,
            })
            .await
            .unwrap_or_else(|e| panic!("CDP {command}: {e}"))
    }

    /// What Chromium's accessibility tree holds for the element `selector`
    /// finds as a live region of role `status`: its text, or `None` when
    /// the element is no such node of the tree (e.g. `display: none`).
    /// What a screen reader hears, not what the DOM says.
    pub async fn spoken_status(&self, selector: &str) -> Option<String> {
        let root = self.cdp("DOM.getDocument", json!({})).await;
        let node = self
            .cdp(
                "DOM.querySelector",
                json!({ "nodeId": root["root"]["nodeId"], "selector": selector }),
            )
            .await;
        let tree = self
            .cdp(
                "Accessibility.getPartialAXTree",
                json!({ "nodeId": node["nodeId"], "fetchRelatives": true }),
            )
            .await;
        let nodes = tree["nodes"].as_array()?;
        let status = nodes
            .iter()
            .find(|n| n["role"]["value"] == "status" && n["ignored"] != true)?;
        // Absent, as the protocol allows, when the region is empty.
        let children = status["childIds"].as_array().cloned().unwrap_or_default();
        let text = nodes
            .iter()
            .filter(|n| children.contains(&n["nodeId"]) && n["role"]["value"] == "StaticText")
            .filter_map(|n| n["name"]["value"].as_str())
            .collect();
        Some(text)
    }

    /// Runs `script` (a function body; its `return` is the result) in the page.
    pub async fn script(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Opens `url` in the browser's tab.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// Emulates the media feature `name` (e.g. `prefers-reduced-motion`)
    /// with `value` from now on; only the latest emulated feature holds.
    pub async fn emulate_media(&self, name: &str, value: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": name, "value": value }] }),
        )
        .await;
    }

    /// Emulates `prefers-color-scheme: dark` (or light) from now on.
    pub async fn prefer_dark(&self, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        self.emulate_media("prefers-color-scheme", scheme).await;
    }

    /// Makes the browser's preferred languages `accept_language` (as in the
    /// `Accept-Language` header) for the pages loaded from now on.
    pub async fn prefer_languages(&self, accept_language: &str) {
        let agent = self.script("return navigator.userAgent").await;
        self.cdp(
            "Emulation.setUserAgentOverride",
            json!({ "userAgent": agent, "acceptLanguage": accept_language }),
        )
        .await;
    }

    /// Chromium's network and CPU emulation from now on, as `profile` says.
    pub async fn emulate(&self, profile: Profile) {
        let (down, up) = profile
            .bits_per_second
            .map_or((-1.0, -1.0), |(down, up)| (down / 8.0, up / 8.0));
        self.cdp("Network.enable", json!({})).await;
        self.cdp(
            "Network.emulateNetworkConditions",
            json!({ "offline": false, "latency": profile.latency_ms,
                    "downloadThroughput": down, "uploadThroughput": up }),
        )
        .await;
        self.cdp(
            "Emulation.setCPUThrottlingRate",
            json!({ "rate": profile.cpu_slowdown }),
        )
        .await;
    }

    /// Turns Global Privacy Control on, as a browser that exposes
    /// `navigator.globalPrivacyControl` to scripts, for pages loaded from now on.
    pub async fn enable_gpc(&self) {
        self.on_every_page(
            "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });",
        )
        .await;
    }

    /// Runs `source` in every page loaded from now on, before its own scripts.
    pub async fn on_every_page(&self, source: &str) {
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": source }),
        )
        .await;
    }

    /// The WCAG 2.2 A/AA violations axe-core finds in every widget on the
    /// page, each as `rule: target…`.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        self.accessibility_violations_in("[data-testid=ccpa-optout]")
            .await
    }

    /// The WCAG 2.2 A/AA violations axe-core finds in what `selector`
    /// matches (`html`: the whole page). (WebDriver's scripts are not
    /// subject to the page's Content-Security-Policy, so axe can be
    /// injected.)
    pub async fn accessibility_violations_in(&self, selector: &str) -> Vec<String> {
        let axe = std::fs::read_to_string(crate::repo_root().join(AXE))
            .unwrap_or_else(|e| panic!("{AXE}: {e}; run `cargo xtask test`, which installs it"));
        self.script(&format!("{axe}\nreturn true;")).await;
        let found = self
            .client
            .execute_async(
                "const [selector, done] = arguments;
                 axe.run({ include: [[selector]] },
                         { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] })
                   .then((r) => done(r.violations.map((v) =>
                     v.id + ': ' + v.nodes.map((n) => n.target.join(' ') + ' (' + n.failureSummary + ')').join('; '))))
                   .catch((e) => done(['axe failed: ' + e]));",
                vec![json!(selector)],
            )
            .await
            .expect("axe-core runs");
        serde_json::from_value(found).expect("a list of strings")
    }

    /// Everything the page logged at level SEVERE (errors), since the last
    /// call. An answer that is not a list of entries fails the test: it
    /// must never read as "no errors".
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("browser log");
        let Some(entries) = entries.as_array() else {
            panic!("the browser log is not a list of entries: {entries}");
        };
        entries
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| {
                e["message"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a log entry without a message: {e}"))
                    .to_owned()
            })
            .collect()
    }

    /// Moves the mouse over the centre of the element `selector` matches,
    /// as a real pointer does (`:hover` applies).
    pub async fn hover(&self, selector: &str) {
        let centre = self
            .script(&format!(
                "const r = document.querySelector('{selector}').getBoundingClientRect();
                 return [r.x + r.width / 2, r.y + r.height / 2];"
            ))
            .await;
        self.cdp(
            "Input.dispatchMouseEvent",
            json!({ "type": "mouseMoved", "x": centre[0], "y": centre[1] }),
        )
        .await;
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

/// chromedriver's passthrough to the Chrome DevTools Protocol.
#[derive(Debug)]
struct Cdp {
    command: String,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.command, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}
