// ccpa-optout loader: the one script a page includes. It adds the widget's
// stylesheet (once) and starts the WebAssembly, which mounts a widget into
// every [data-ccpa-optout] element. Both files are resolved next to this
// script, so the widget can be hosted on another origin than the page.
import init from "./ccpa-widget.js";

const css = new URL("ccpa-optout.css", import.meta.url).href;
if (![...document.styleSheets].some((sheet) => sheet.href === css)) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = css;
  document.head.append(link);
}
await init({ module_or_path: new URL("ccpa-widget_bg.wasm", import.meta.url) });
