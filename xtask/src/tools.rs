//! Installs the tools the build and the tests need, unless the right version
//! is already there. Versions are pinned: trunk 0.22 needs a newer rustc,
//! wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock, and wasm-opt
//! comes from npm's `binaryen` because trunk runs offline.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Result;
use crate::shell::{output, run};

const TRUNK: &str = "0.21.14";
const BINARYEN: &str = "132.0.0";
const TERSER: &str = "5.44.0";
const AXE_CORE: &str = "4.14.1";
const PREBID: &str = "11.36.0";
const IAB_GPP: &str = "3.2.0";
const ESBUILD: &str = "0.28.2";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Makes sure the wasm target, trunk, wasm-bindgen and the npm packages
/// ([`NPM_PACKAGES`]: wasm-opt and terser for the build, and what the
/// browser tests read the signals with) are there; returns the directory
/// to put first on `PATH` for trunk.
pub fn ensure_widget_tools(root: &Path) -> Result<PathBuf> {
    ensure_wasm_target()?;
    ensure_cargo_tool("trunk", "trunk", TRUNK, &["--locked"])?;
    let bindgen = locked_version(root, "wasm-bindgen")?;
    check_trunk_pin(root, &bindgen)?;
    // `--locked` fails on a yanked webpki-roots release: install without it.
    ensure_cargo_tool("wasm-bindgen", "wasm-bindgen-cli", &bindgen, &[])?;
    // terser and the brotli twins (frontend/brotli.mjs) run on Node.
    if output("node", &["--version"]).is_none() {
        return Err(
            "the widget's build runs terser and writes its brotli files with Node.js, \
                    which is missing: install Node.js and npm"
                .into(),
        );
    }
    ensure_npm_tools(root)
}

fn ensure_wasm_target() -> Result {
    let installed = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|t| t == WASM_TARGET) {
        return Ok(());
    }
    let mut command = Command::new("rustup");
    command.args(["target", "add", WASM_TARGET]);
    run(command).map_err(|e| format!("{e}\nthe {WASM_TARGET} target is needed to build the widget"))
}

/// `cargo install <krate> --version <version> --debug` unless `<binary>
/// --version` already prints that version. Unoptimised: trunk and
/// wasm-bindgen-cli build in 4 min 22 s instead of 9 min 50 s on two
/// cores, write the very same files, and take under a second longer per
/// widget build (docs/performance.md, "The first run").
fn ensure_cargo_tool(binary: &str, krate: &str, version: &str, flags: &[&str]) -> Result {
    let found = output(binary, &["--version"]).unwrap_or_default();
    if found.split_whitespace().nth(1) == Some(version) {
        return Ok(());
    }
    eprintln!(
        "{binary} {version} is needed (found: {}); installing it once",
        or_none(&found)
    );
    let mut command = Command::new("cargo");
    command
        .args(["install", krate, "--version", version, "--debug"])
        .args(flags);
    run(command).map_err(|e| format!("{e}\ncould not install {krate} {version} from crates.io"))
}

/// What comes from npm, into `.tools/`: wasm-opt (binaryen) and terser for
/// the build; for the browser tests, axe-core (accessibility), and what ad
/// tech reads our signals with: the IAB's GPP library and Prebid.js, which
/// esbuild bundles. One list, installed together: npm prunes what a later
/// install does not name.
const NPM_PACKAGES: [(&str, &str); 6] = [
    ("binaryen", BINARYEN),
    ("terser", TERSER),
    ("axe-core", AXE_CORE),
    ("prebid.js", PREBID),
    ("@iabgpp/cmpapi", IAB_GPP),
    ("esbuild", ESBUILD),
];

/// The npm packages at their pinned versions; returns their `.bin`.
fn ensure_npm_tools(root: &Path) -> Result<PathBuf> {
    let modules = root.join(".tools/node_modules");
    let missing: Vec<String> = NPM_PACKAGES
        .iter()
        .filter(|(package, version)| npm_version(&modules, package).as_deref() != Some(*version))
        .map(|(package, version)| format!("{package}@{version}"))
        .collect();
    if missing.is_empty() {
        return Ok(modules.join(".bin"));
    }
    if output("npm", &["--version"]).is_none() {
        return Err(format!(
            "{} come from npm, but npm is missing: install Node.js and npm",
            missing.join(", ")
        ));
    }
    eprintln!("installing {} from npm into .tools/", missing.join(", "));
    let mut command = Command::new("npm");
    command
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(root.join(".tools"))
        .args(NPM_PACKAGES.map(|(package, version)| format!("{package}@{version}")));
    run(command).map_err(|e| format!("{e}\ncould not install {} from npm", missing.join(", ")))?;
    Ok(modules.join(".bin"))
}

/// The `version` in an installed npm package's `package.json`.
fn npm_version(modules: &Path, package: &str) -> Option<String> {
    let manifest = std::fs::read_to_string(modules.join(package).join("package.json")).ok()?;
    let rest = &manifest[manifest.find("\"version\"")? + "\"version\"".len()..];
    let value = rest.split('"').nth(1)?;
    Some(value.to_owned())
}

/// The version of `package` in Cargo.lock.
fn locked_version(root: &Path, package: &str) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let needle = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == needle {
            let version = lines.next().unwrap_or_default();
            return version
                .strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned)
                .ok_or_else(|| format!("unexpected Cargo.lock entry for {package}"));
        }
    }
    Err(format!("{package} is not in Cargo.lock"))
}

/// trunk runs offline and refuses a wasm-bindgen of another version than
/// Trunk.toml names: say so plainly instead of letting trunk try a download.
fn check_trunk_pin(root: &Path, bindgen: &str) -> Result {
    let trunk_toml = std::fs::read_to_string(root.join("Trunk.toml"))
        .map_err(|e| format!("cannot read Trunk.toml: {e}"))?;
    if trunk_toml.contains(&format!("wasm_bindgen = \"{bindgen}\"")) {
        Ok(())
    } else {
        Err(format!(
            "Cargo.lock has wasm-bindgen {bindgen}: set `wasm_bindgen = \"{bindgen}\"` in Trunk.toml"
        ))
    }
}

/// Debian's Chromium and its chromedriver, of one version, for the browser tests.
pub fn ensure_browser() -> Result {
    let browser = output("/usr/bin/chromium", &["--version"]).unwrap_or_default();
    let driver = output("/usr/bin/chromedriver", &["--version"]).unwrap_or_default();
    let version = |s: &str| s.split_whitespace().nth(1).map(str::to_owned);
    if version(&browser).is_some() && version(&browser) == version(&driver) {
        return Ok(());
    }
    eprintln!(
        "Chromium and chromedriver of one version are needed (found: {}, {}); installing Debian's",
        or_none(&browser),
        or_none(&driver)
    );
    apt_install(
        &["chromium", "chromium-driver"],
        "the browser tests need Debian's chromium and chromium-driver",
    )
}

/// Installs Debian `packages`; `why` says what needs them if that fails.
pub fn apt_install(packages: &[&str], why: &str) -> Result {
    let apt = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(command)
    };
    apt(&["update", "-q"])
        .and_then(|()| apt(&[&["install", "-y", "-q"], packages].concat()))
        .map_err(|e| format!("{e}\n{why} (run as root, or install them yourself)"))
}

fn or_none(found: &str) -> &str {
    if found.is_empty() { "none" } else { found }
}
