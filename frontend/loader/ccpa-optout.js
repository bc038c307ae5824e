// ccpa-optout loader: the one script a page includes. It adds the widget's
// stylesheet (once), answers the IAB US Privacy API, and starts the
// WebAssembly, which mounts a widget into every [data-ccpa-optout] element,
// now and whenever one is added later.
// Files are resolved next to this script, so the widget can be hosted on
// another origin than the page.
const here = (file) => new URL(file, import.meta.url);

// The stylesheet, the wasm, its JavaScript glue and the sign-in tokens are
// all requested before anything else is done, not one after another: a
// static import would hold the rest back until the glue had arrived and been
// parsed (one round trip more on every cold load).
const css = here("ccpa-optout.css").href;
if (![...document.styleSheets].some((sheet) => sheet.href === css)) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = css;
  document.head.append(link);
}
// Compiled while it downloads, not once the glue has arrived and run. A
// host serving .wasm under another MIME type gets the slower path the glue
// would have taken too.
const wasm = fetch(here("ccpa-widget_bg.wasm")).then((response) => {
  if (!response.ok) throw new Error(`ccpa-optout: ${response.status} for ${response.url}`);
  return response.headers.get("Content-Type") === "application/wasm"
    ? WebAssembly.compileStreaming(response)
    : response.arrayBuffer().then((bytes) => WebAssembly.compile(bytes));
});
const glue = import("./ccpa-widget.js");

// Each widget's first sign-in token is asked for now, while the wasm is on
// its way; the widget takes this answer from its element (early_token in
// src/client.rs) and asks by itself for any later token.
for (const element of document.querySelectorAll("[data-ccpa-optout]")) {
  const { token, tokenUrl } = element.dataset;
  if (!token?.trim() && tokenUrl?.trim() && !element.ccpaOptOutToken) {
    element.ccpaOptOutToken = fetch(tokenUrl, { credentials: "same-origin" });
  }
}

// `__uspapi("getUSPData", 1, cb)` answers "1" + notice given (Y: this widget
// is the notice) + opted out of sale (from the widget's confirmed state;
// before it loads, Y under Global Privacy Control, else "-") + LSPA (N).
// A consent platform's own __uspapi on the page is left alone, frames too.
if (!window.__uspapi) {
  window.__uspapi = (command, version, callback) => {
    if (command !== "getUSPData" || version !== 1) return callback?.(null, false);
    const state = document.querySelector("[data-ccpa-opt-out]")?.dataset.ccpaOptOut;
    const out = state ? (state === "true" ? "Y" : "N") : navigator.globalPrivacyControl ? "Y" : "-";
    callback({ version: 1, uspString: `1Y${out}N` }, true);
  };
  answerFrames();
}

// Ad tags in frames reach the API as the IAB specifies: they look up their
// window chain for a frame named __uspapiLocator and post it
// {__uspapiCall: {command, version, callId}}, then hear back
// {__uspapiReturn: {returnValue, success, callId}}, as JSON text if they
// asked in JSON text. The string is no secret: any frame may ask.
function answerFrames() {
  window.addEventListener("message", ({ data, source }) => {
    let message = data;
    try {
      if (typeof data === "string") message = JSON.parse(data);
    } catch {
      return;
    }
    const call = message?.__uspapiCall;
    if (!call || !source) return;
    window.__uspapi(call.command, call.version, (returnValue, success) => {
      const answer = { __uspapiReturn: { returnValue, success, callId: call.callId } };
      source.postMessage(typeof data === "string" ? JSON.stringify(answer) : answer, "*");
    });
  });
  // Making a frame costs the page tens of milliseconds of its main thread:
  // it waits until the browser is idle (two seconds at most), so the widget
  // comes first.
  const idle = window.requestIdleCallback ?? ((then) => setTimeout(then, 1000));
  idle(() => {
    if (window.frames.__uspapiLocator) return;
    const locator = document.createElement("iframe");
    locator.name = "__uspapiLocator";
    locator.hidden = true;
    document.body.append(locator);
  }, { timeout: 2000 });
}

const { default: init, mountAll } = await glue;
await init({ module_or_path: wasm });

// Single-page apps and tag managers add widget elements later, and take
// them away: each change of that kind mounts the new and unmounts the gone.
const widget = "[data-ccpa-optout]";
const touchesWidgets = ({ addedNodes, removedNodes }) =>
  [...addedNodes, ...removedNodes].some(
    (node) => node.nodeType === Node.ELEMENT_NODE && (node.matches(widget) || node.querySelector(widget)),
  );
new MutationObserver((changes) => changes.some(touchesWidgets) && mountAll()).observe(document, {
  childList: true,
  subtree: true,
});
