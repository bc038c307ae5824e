// ccpa-optout loader: the one script a page includes. It adds the widget's
// stylesheet (once), answers the IAB US Privacy API, and starts the
// WebAssembly, which mounts a widget into every [data-ccpa-optout] element.
// Files are resolved next to this script, so the widget can be hosted on
// another origin than the page.
import init from "./ccpa-widget.js";

const css = new URL("ccpa-optout.css", import.meta.url).href;
if (![...document.styleSheets].some((sheet) => sheet.href === css)) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = css;
  document.head.append(link);
}

// `__uspapi("getUSPData", 1, cb)` answers "1" + notice given (Y: this widget
// is the notice) + opted out of sale (from the widget's confirmed state;
// before it loads, Y under Global Privacy Control, else "-") + LSPA (N).
// A consent platform's own __uspapi on the page is left alone.
window.__uspapi ??= (command, version, callback) => {
  if (command !== "getUSPData" || version !== 1) return callback?.(null, false);
  const state = document.querySelector("[data-ccpa-opt-out]")?.dataset.ccpaOptOut;
  const out = state ? (state === "true" ? "Y" : "N") : navigator.globalPrivacyControl ? "Y" : "-";
  callback({ version: 1, uspString: `1Y${out}N` }, true);
};

await init({ module_or_path: new URL("ccpa-widget_bg.wasm", import.meta.url) });
