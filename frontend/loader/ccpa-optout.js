// ccpa-optout loader: the one script a page includes, on the privacy page
// and, for Global Privacy Control, the link and the tags, on every other.
// It adds the widget's stylesheet (once), answers the IAB US Privacy API,
// and starts the WebAssembly, which mounts a widget into every
// [data-ccpa-optout] element, now or once one is added: a page without one
// downloads no wasm.
// Files are resolved next to this script, so the widget can be hosted on
// another origin than the page.
const here = (file) => new URL(file, import.meta.url);

// The loader's settings, on its own script element (found by its URL, else
// as the one script that carries them; also read from the loader's query,
// as `?gpp=usca`, which earlier versions took): `data-gpp-sections` names
// the GPP sections that apply on this site ("usnat", the default; "usca";
// or both), and `data-uspapi="off"` drops the IAB's deprecated US Privacy
// API. A value it does not know is said in the console and ignored.
const ownScript =
  [...document.querySelectorAll("script[src]")].find((script) => script.src === import.meta.url) ??
  document.querySelector("script[data-gpp-sections], script[data-uspapi]");
const setting = (attribute, query) =>
  (ownScript?.getAttribute(attribute) ?? new URL(import.meta.url).searchParams.get(query) ?? "").trim().toLowerCase();
const ignored = (attribute, value) => console.warn(`ccpa-optout: ${attribute}="${value}" is not a value it knows; ignored`);

// REMEMBERED in src/client.rs ("1": this browser opted out, not yet
// applied to an account; "applied": applied since); storage may be refused.
const stored = () => {
  try {
    return localStorage.getItem("ccpa-optout:browser");
  } catch {
    return null;
  }
};

// What the page's tags are told: the choice the widget shows, or the last
// it showed, or, before it shows one, what the loader's own read of a
// signed-in customer's choice found (`confirmed`); else, on a page without
// a widget, what the proxy said of this browser. Until one of these is
// known, the browser's own signals: opted out under Global Privacy
// Control or when this browser opted out, which nothing learnt later can
// turn into "not opted out" (so `known` too). Not `ready` until known,
// nor while a change is on its way.
const gpc = navigator.globalPrivacyControl === true;
const widget = "[data-ccpa-optout]";
let browserOptedOut = stored() !== null;
let browserRead = false;
let confirmed;
function choice() {
  const shown = document.querySelector(".ccpa-optout[data-ccpa-opt-out]");
  if (shown) {
    const { ccpaOptOut, ccpaLimitSensitive } = shown.dataset;
    const limited = ccpaLimitSensitive ? ccpaLimitSensitive === "true" : undefined;
    confirmed = { optedOut: ccpaOptOut === "true", limited };
    const busy = !!shown.querySelector("[role=switch][aria-busy=true]");
    return { ...confirmed, gpc, known: true, ready: !busy };
  }
  if (confirmed) return { ...confirmed, gpc, known: true, ready: true };
  const known = browserRead && !document.querySelector(widget);
  const optedOut = gpc || browserOptedOut;
  return { optedOut, limited: undefined, gpc, known: known || optedOut, ready: known || (optedOut && failed()) };
}
// A widget that could not read the choice: where the browser's signals
// say "opted out", that is what tags are told, ready; else they wait.
const failed = () => !!document.querySelector('.ccpa-optout[data-state="error"]');

// Everything that may move the signals calls this: the widget's
// attributes, the loader's reads, widgets coming and going.
const waitingForChoice = [];
let gppMoved = () => {};
function signalsMoved() {
  if (choice().known) for (const answer of waitingForChoice.splice(0)) answer();
  gppMoved();
}

// `__uspapi("getUSPData", 1, cb)` answers "1" + notice given (Y: this widget
// is the notice) + opted out of sale (Y or N: never "-", "not applicable",
// for a visitor the site covers) + LSPA (N), once the choice is known: it
// has no way to say "not known yet", and "N" for someone who opted out
// would invert their choice. The IAB deprecated it for GPP; some ad SDKs
// still read it. A consent platform's own API is left alone.
const uspapiSetting = setting("data-uspapi", "uspapi");
if (!["", "on", "true", "off", "false"].includes(uspapiSetting)) ignored("data-uspapi", uspapiSetting);
const ownUspapi =
  !window.__uspapi && !["off", "false"].includes(uspapiSetting)
    ? (command, version, callback) => {
        if (command !== "getUSPData" || version !== 1) return callback?.(null, false);
        const answer = () => callback?.({ version: 1, uspString: `1Y${choice().optedOut ? "Y" : "N"}N` }, true);
        if (choice().known) answer();
        else waitingForChoice.push(answer);
      }
    : null;
if (ownUspapi) window.__uspapi = ownUspapi;

// `__gpp`, the IAB's GPP CMP API 1.1, for the sections that apply on this
// site (`data-gpp-sections`; US National by default). Defined at once as
// the IAB's stub, which queues calls; ccpa-gpp.js answers them when it is
// in, and every call after. A consent platform that defines its own
// `__gpp` (before the loader, or after it, replacing the stub) keeps it.
const SECTIONS = ["usnat", "usca"];
const sectionsSetting = setting("data-gpp-sections", "gpp").split(/[\s,]+/).filter(Boolean);
for (const name of sectionsSetting.filter((name) => !SECTIONS.includes(name))) ignored("data-gpp-sections", name);
const sections = SECTIONS.filter((name) => sectionsSetting.includes(name));
let ownGpp = null;
if (!window.__gpp) {
  // As the IAB's stub: `ping` answered at once, the rest queued.
  const stub = (...call) => {
    if (call[0] !== "ping") return stub.queue.push(call);
    call[1]?.({ gppVersion: "1.1", cmpStatus: "stub", cmpDisplayStatus: "hidden", signalStatus: "not ready", supportedAPIs: [], cmpId: 0, sectionList: [], applicableSections: [-1], gppString: "", parsedSections: {} }, true);
  };
  stub.queue = [];
  window.__gpp = ownGpp = stub;
  const replaced = () => window.__gpp !== stub;
  const take = (api) => {
    // Queued calls go to whichever API now answers.
    if (!replaced()) window.__gpp = ownGpp = api;
    else ownGpp = null;
    for (const call of stub.queue.splice(0)) window.__gpp(...call);
  };
  import("./ccpa-gpp.js").then(
    ({ install }) => {
      if (replaced()) return take();
      const gpp = install(sections.length ? sections : ["usnat"], choice);
      gppMoved = gpp.changed;
      take(gpp.api);
      gpp.loaded();
    },
    // The API could not load: every call is answered as failed.
    () => take((command, callback) => callback?.(null, false)),
  );
}
if (ownUspapi || ownGpp) {
  answerFrames();
  new MutationObserver(signalsMoved).observe(document, {
    subtree: true,
    attributeFilter: ["data-ccpa-opt-out", "data-ccpa-limit-sensitive", "data-state", "aria-busy"],
  });
}

// The frames ad tags look for (made below, in this same first run): a tag
// in a frame looks for them as it loads, and concludes there is no API
// when they are not there. Hidden by more than the attribute, which a
// page's `iframe { display: block !important }` would undo.
function addLocators() {
  const names = [ownUspapi && "__uspapiLocator", ownGpp && "__gppLocator"].filter(Boolean);
  for (const name of names) {
    if (window.frames[name]) continue;
    const locator = document.createElement("iframe");
    locator.name = name;
    locator.title = name;
    locator.hidden = true;
    locator.style.setProperty("display", "none", "important");
    locator.tabIndex = -1;
    locator.setAttribute("aria-hidden", "true");
    document.body.append(locator);
  }
}

// The page's Experience Cloud ID, where the proxy tells Adobe's Privacy
// Service (its answers say `X-CCPA-Privacy-Service: on`, remembered here
// for the next page) and the page runs Adobe's Web SDK (`alloy(
// "getIdentity")`, under the first instance name `__alloyNS` lists) or the
// older Visitor API (its instance in `s_c_il`): the widget sends it
// (X-CCPA-ECID) so that the choice reaches the Adobe products that know
// this browser by it. Nothing else is read (no cookie), and nothing at all
// while the proxy does not tell Adobe or the page runs neither library.
// Asked again until one answers (tag managers bring the SDK late), each
// time for at most a second; an SDK that never answers (its script
// blocked, its stub left) is not waited for twice. Only digits are taken.
const TOLD = "ccpa-optout:privacy-service";
const told = () => {
  try {
    return localStorage.getItem(TOLD) === "on";
  } catch {
    return false;
  }
};
// Only the API's own successes say it: a limit's 429 or a load balancer's
// error page carries no such header, and proves nothing either way.
const noteTold = (response) => {
  try {
    if (!response.ok) return response;
    if (response.headers.get("X-CCPA-Privacy-Service") === "on") localStorage.setItem(TOLD, "on");
    else localStorage.removeItem(TOLD);
  } catch {}
  return response;
};
let ecidFound = null;
let ecidAsking = null;
let ecidSlow = false;
function askEcid() {
  const shaped = (id) => (typeof id === "string" && /^[0-9]{20,40}$/.test(id) ? id : null);
  const sdk = (Array.isArray(window.__alloyNS) ? window.__alloyNS : []).map((name) => window[name]).find((f) => typeof f === "function");
  const visitor = (Array.isArray(window.s_c_il) ? window.s_c_il : []).find((v) => typeof v?.getMarketingCloudVisitorID === "function");
  const asks = [
    sdk && (() => sdk("getIdentity", { namespaces: ["ECID"] }).then((result) => result?.identity?.ECID)),
    visitor && (() => new Promise((found) => visitor.getMarketingCloudVisitorID(found))),
  ].filter(Boolean);
  // Both at once, the first usable answer taken: one that throws, answers
  // nothing usable or never answers does not keep the other from it.
  return new Promise((found) => {
    let left = asks.length;
    if (!left) found(null);
    for (const ask of asks) {
      Promise.resolve()
        .then(ask)
        .then(shaped, () => null)
        .then((id) => (id ? found(id) : --left || found(null)));
    }
  });
}
function pageEcid() {
  if (ecidFound || ecidSlow || !told()) return Promise.resolve(ecidFound);
  const asking = (ecidAsking ??= askEcid().then((id) => {
    ecidAsking = null;
    return (ecidFound = id);
  }));
  const late = new Promise((none) =>
    setTimeout(() => {
      ecidSlow = ecidAsking === asking;
      none(null);
    }, 1000),
  );
  return Promise.race([asking, late]);
}
if (told()) pageEcid();
const offerEcid = (element) => {
  element.ccpaOptOutEcid = pageEcid;
};

// The stylesheet, the wasm, its JavaScript glue and the sign-in tokens are
// all requested before anything else is done, not one after another: a
// static import would hold the rest back until the glue had arrived and been
// parsed (one round trip more on every cold load).
// The widgets start once it is in (or has failed, or 3 s have passed):
// unstyled, a widget would show for a moment and then jump, moving the
// page around it.
const css = here("ccpa-optout.css").href;
// `styled` says whether it is there (the first paint is drawn only then).
let styled = Promise.resolve(true);
if (![...document.styleSheets].some((sheet) => sheet.href === css)) {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = css;
  styled = new Promise((settle) => {
    link.addEventListener("load", () => settle(true));
    link.addEventListener("error", () => settle(false));
    setTimeout(() => settle(false), 3000);
  });
  document.head.append(link);
}
// Compiled while it downloads, not once the glue has arrived and run. A
// host serving .wasm under another MIME type gets the slower path the glue
// would have taken too. Started at once where the page has a widget.
// A failure is reported once, and the next widget element tries again.
let widgets;
const startWidgets = () => {
  widgets ??= (async () => {
    const wasm = fetch(here("ccpa-widget_bg.wasm")).then((response) => {
      if (!response.ok) throw new Error(`ccpa-optout: ${response.status} for ${response.url}`);
      return response.headers.get("Content-Type") === "application/wasm"
        ? WebAssembly.compileStreaming(response)
        : response.arrayBuffer().then((bytes) => WebAssembly.compile(bytes));
    });
    wasm.catch(() => {}); // Reported below, once, whichever fails first.
    const [{ default: init, mountAll }] = await Promise.all([import("./ccpa-widget.js"), styled]);
    await init({ module_or_path: wasm });
    return mountAll;
  })().catch((error) => {
    console.error("ccpa-optout: the widget could not start", error);
    // The space kept for them would stay empty.
    for (const host of document.querySelectorAll(widget)) host.setAttribute("data-ccpa-failed", "");
    widgets = undefined;
    return () => {};
  });
  return widgets;
};
if (document.querySelector(widget)) startWidgets();

// The first paint (ccpa-first-paint.js): the switch drawn from the read
// below while the wasm is still on its way. Fetched with the token (on a
// phone, later would be after the read), run once the read is sent
// (running it at once held up the token's answer, and the read behind
// it, on a slow CPU). Not under Global Privacy Control, whose notice the
// widget works out.
const paintUrl = here("ccpa-first-paint.js").href;
let preloaded = gpc;
function preloadPaint() {
  if (preloaded) return;
  preloaded = true;
  const link = document.createElement("link");
  link.rel = "modulepreload";
  link.href = paintUrl;
  if (ownScript?.nonce) link.nonce = ownScript.nonce;
  document.head.append(link);
}
let firstPaint;
const paintModule = () =>
  (firstPaint ??= gpc ? Promise.resolve(null) : import(paintUrl).then(({ paint }) => paint, () => null));
// The read's answer, only as the widget would take it (OptOutState in
// api/src/lib.rs: the booleans it requires, those it may have), from the
// body's own fields: an answer the widget would refuse is not painted, nor
// believed for the signals.
const own = (object, field) => (Object.hasOwn(object, field) ? object[field] : undefined);
const flags = (object, required, optional) =>
  required.every((field) => typeof own(object, field) === "boolean") &&
  optional.every((field) => !Object.hasOwn(object, field) || typeof object[field] === "boolean");
const settled = (body) => {
  if (!body || typeof body !== "object" || !flags(body, ["ccpaOptOut", "pending"], ["gpcHonored", "signalApplied", "gpcConflict"])) return false;
  const sensitive = own(body, "sensitive");
  if (sensitive != null && !(typeof sensitive === "object" && flags(sensitive, ["limited", "pending"], []))) return false;
  return {
    ccpaOptOut: body.ccpaOptOut,
    pending: body.pending,
    sensitive: sensitive ? { limited: sensitive.limited, pending: sensitive.pending } : undefined,
  };
};
const notMounted = (element) =>
  element.isConnected && !element.hasAttribute("data-ccpa-mounted") && !element.hasAttribute("data-ccpa-failed");

// Each widget's first sign-in token is asked for now, while the wasm is on
// its way, and as soon as the token is in, the customer's choice too. Both
// answers are read here, into `{status, body}` (JSON body, or null), and
// left on the element for the widget (Early in src/client.rs), which asks
// by itself for anything later, and when an answer is null: not got.
// The read is the widget's own GET (OPT_OUT_PATH and GPC_HEADER in
// api/src/lib.rs; `Sec-GPC` cannot be set by scripts, `X-GPC` says it).
const remembered = () => stored() === "1";
const answer = (response) =>
  response.json().catch(() => null).then((body) => ({ status: response.status, body }));
for (const element of document.querySelectorAll(widget)) {
  offerEcid(element);
  if (element.ccpaOptOutToken || element.ccpaOptOutRead) continue;
  const { token, tokenUrl, api, timeoutMs } = element.dataset;
  // No request waits forever (DEFAULT_TIMEOUT_MS in src/settings.rs); the
  // widget asks again by itself after one that timed out here. Browsers
  // without AbortSignal.timeout wait as long as they do.
  const ms = Number.parseInt(timeoutMs, 10);
  const signal = () => AbortSignal.timeout?.(ms > 0 ? ms : 20000);
  let bearer;
  if (token?.trim()) {
    bearer = Promise.resolve(token);
  } else if (tokenUrl?.trim()) {
    element.ccpaOptOutToken = fetch(tokenUrl, { credentials: "same-origin", signal: signal() })
      .then(answer)
      .catch(() => null);
    bearer = element.ccpaOptOutToken.then((sent) => (sent?.status === 200 && sent.body?.token) || Promise.reject());
  } else {
    continue;
  }
  preloadPaint();
  const url = `${api?.trim() ? api.replace(/\/+$/, "") : ""}/api/v1/opt-out`;
  const read = (jwt) => {
    const headers = { Authorization: `Bearer ${jwt}` };
    if (navigator.globalPrivacyControl === true) headers["X-GPC"] = "1";
    // This browser's opt-out from before its owner signed in (the widget
    // keeps it in storage too, for when the cookie could not be kept).
    if (remembered()) headers["X-CCPA-Browser-Opt-Out"] = "1";
    // Only if known by now: the first read waits for nothing.
    if (ecidFound) headers["X-CCPA-ECID"] = ecidFound;
    const sent = fetch(url, { headers, credentials: "include", signal: signal() });
    paintModule();
    return sent;
  };
  element.ccpaOptOutRead = bearer.then(read).then(noteTold).then(answer).catch(() => null);
  element.ccpaOptOutRead.then((got) => {
    const state = got?.status === 200 && settled(got.body);
    if (!state) return;
    if (notMounted(element)) {
      Promise.all([paintModule(), styled]).then(([paint, css]) => paint && css && notMounted(element) && paint(element, state));
    }
    if (confirmed) return;
    confirmed = { optedOut: state.ccpaOptOut, limited: state.sensitive?.limited };
    signalsMoved();
  });
}

// The locator frames, now that the widget's requests are on their way:
// making the frames takes the main thread 15-20 ms, which before them would
// hold every request back as long. No script, frame or answer runs
// between the loader's start and here. A module script runs once the page
// is parsed, unless it is `async`.
if (document.body) addLocators();
else document.addEventListener("DOMContentLoaded", addLocators, { once: true });

// "Your Privacy Choices" links (§ 7015): a page's `<a data-ccpa-optout-link
// href="…">` in its header or footer gets the CPPA's opt-out icon (an image
// file: no inline markup or style under a strict policy) and, when it has no
// text of its own, the title.
for (const link of document.querySelectorAll("a[data-ccpa-optout-link]")) {
  if (link.querySelector(".ccpa-optout__choices-icon")) continue;
  if (!link.textContent.trim()) {
    link.textContent = "Your Privacy Choices";
    link.lang = "en";
  }
  link.classList.add("ccpa-optout__choices");
  const icon = document.createElement("img");
  icon.className = "ccpa-optout__choices-icon";
  icon.src = here("privacy-choices.svg").href;
  icon.alt = "California Consumer Privacy Act (CCPA) Opt-Out Icon";
  link.append(" ", icon);
}

// A page without the widget (the loader on every page, for the link and
// the tags) asks the proxy for this browser's choice: its cookie outlives
// script storage. The proxy is the one a link names (`data-api`), else the
// one that serves the loader. (Also once the last widget of a page is
// taken away before it showed a choice.)
const named = (attribute) => document.querySelector(`a[data-ccpa-optout-link][${attribute}]`)?.getAttribute(attribute)?.trim();
const base = named("data-api")?.replace(/\/+$/, "") || new URL(import.meta.url).origin;
let browserReading = false;
// Under Global Privacy Control the read waits for the page's ECID (a
// second at most), so that the signal reaches Adobe's Privacy Service too:
// the tags are told "opted out" meanwhile, which nothing can undo.
function readBrowser() {
  if (browserReading) return;
  browserReading = true;
  const ecid = gpc ? pageEcid() : Promise.resolve(null);
  ecid
    .then((ecid) =>
      fetch(`${base}/api/v1/opt-out/browser`, {
        credentials: "include",
        headers: gpc ? { "X-GPC": "1", ...(ecid ? { "X-CCPA-ECID": ecid } : {}) } : {},
        signal: AbortSignal.timeout?.(20000),
      }),
    )
    .then((response) => (noteTold(response).ok ? response.json() : null))
    .then((state) => {
      // The proxy's "no" does not undo this browser's own opt-out: its
      // cookie may not have reached the proxy (a third-party context).
      if (state?.ccpaOptOut === true) browserOptedOut = true;
    })
    .catch(() => {})
    .finally(() => {
      browserRead = true;
      signalsMoved();
    });
}
if (!document.querySelector(widget)) {
  const tokenUrl = named("data-token-url");
  if (gpc && tokenUrl) signalOnce(base, tokenUrl);
  readBrowser();
}

// Global Privacy Control is to be honoured wherever the business receives
// it, not only on the privacy page: for a signed-in visitor (the link's
// `data-token-url` answers a token), the account's choice is read once per
// browsing session with the signal, which the proxy records and applies
// as the widget's read would. Marked done (in this tab's session storage)
// once the proxy has answered for good, success or refusal: a visitor who
// signs in later in the session is told on their next page, and one whose
// read cannot succeed (no profile, a token the proxy refuses) is not asked
// again on every page. Where storage is refused, every page tells it.
function signalOnce(base, tokenUrl) {
  const SIGNALLED = "ccpa-optout:gpc-signalled";
  const storage = (() => {
    try {
      return window.sessionStorage;
    } catch {
      return null;
    }
  })();
  if (storage?.getItem(SIGNALLED)) return;
  const done = () => {
    try {
      storage?.setItem(SIGNALLED, "1");
    } catch {}
  };
  const signal = () => AbortSignal.timeout?.(20000);
  const asked = fetch(tokenUrl, { credentials: "same-origin", signal: signal() })
    .then((response) => (response.ok ? response.json() : Promise.reject()));
  Promise.all([asked, pageEcid()])
    .then(([{ token }, ecid]) =>
      typeof token !== "string"
        ? Promise.reject()
        : fetch(`${base}/api/v1/opt-out`, {
            headers: { Authorization: `Bearer ${token}`, "X-GPC": "1", ...(ecid ? { "X-CCPA-ECID": ecid } : {}) },
            credentials: "include",
            signal: signal(),
          }),
    )
    .then(noteTold)
    .then((response) => {
      // A refusal will not change by asking again this session; an outage
      // or a limit may.
      if (response.ok || [401, 404, 409].includes(response.status)) done();
      return response.text();
    })
    .catch(() => {});
}

// Single-page apps and tag managers add widget elements later, and take
// them away: each change of that kind mounts the new and unmounts the gone.
const touchesWidgets = ({ addedNodes, removedNodes }) =>
  [...addedNodes, ...removedNodes].some(
    (node) => node.nodeType === Node.ELEMENT_NODE && (node.matches(widget) || node.querySelector(widget)),
  );
new MutationObserver((changes) => {
  if (!changes.some(touchesWidgets)) return;
  for (const element of document.querySelectorAll(widget)) offerEcid(element);
  startWidgets().then((mountAll) => mountAll());
  if (!document.querySelector(widget) && !confirmed) readBrowser();
  signalsMoved();
}).observe(document, {
  childList: true,
  subtree: true,
});

// Ad tags in frames reach the APIs as the IAB specifies: they look up their
// window chain for a frame named __uspapiLocator (__gppLocator) and post it
// {__uspapiCall: {command, version, callId}} ({__gppCall: {command,
// parameter, version, callId}}), then hear back {__uspapiReturn: …}
// ({__gppReturn: …}) with {returnValue, success, callId}, as JSON text if
// they asked in JSON text. Only frames inside this page are answered.
function answerFrames() {
  const inside = (source) => {
    for (let frame = source; frame && frame !== frame.parent; frame = frame.parent) {
      if (frame.parent === window) return true;
    }
    return false;
  };
  window.addEventListener("message", ({ data, source }) => {
    let message = data;
    try {
      if (typeof data === "string") message = JSON.parse(data);
    } catch {
      return;
    }
    if (!message || !source || !inside(source)) return;
    const reply = (name, callId) => (returnValue, success) => {
      const answer = { [name]: { returnValue, success, callId } };
      source.postMessage(typeof data === "string" ? JSON.stringify(answer) : answer, "*");
    };
    // Only while the APIs are still ours: a consent platform that took
    // them over answers its frames itself.
    const usp = ownUspapi && window.__uspapi === ownUspapi && message.__uspapiCall;
    if (usp) window.__uspapi(usp.command, usp.version, reply("__uspapiReturn", usp.callId));
    const gppCall = ownGpp && window.__gpp === ownGpp && message.__gppCall;
    if (gppCall) callGpp(source, gppCall, reply("__gppReturn", gppCall.callId));
  });
}

// A frame's GPP call. A frame may remove only the listeners it added (their
// ids are counted 1, 2, 3…, so it could guess the page's), and add at most
// 32 of them.
const framesListeners = new WeakMap();
function callGpp(frame, { command, parameter, version }, reply) {
  const own = framesListeners.get(frame) ?? new Set();
  framesListeners.set(frame, own);
  if (command === "addEventListener") {
    if (own.size >= 32) return reply(null, false);
    return window.__gpp(command, (event, success) => {
      if (event?.eventName === "listenerRegistered") own.add(event.listenerId);
      reply(event, success);
    }, parameter, version);
  }
  if (command === "removeEventListener" && !own.delete(parameter)) {
    return window.__gpp("ping", (pingData) => reply({ eventName: "listenerRemoved", listenerId: parameter, data: false, pingData }, true));
  }
  window.__gpp(command, reply, parameter, version);
}
