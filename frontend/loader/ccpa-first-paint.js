// ccpa-optout's first paint: the widget as it will look, drawn by the
// loader from the customer's choice it has already read, while the wasm is
// still on its way (on a phone, the wasm arrives a quarter of a second
// after the choice). The same markup, classes and accessible names as the
// widget's settled view (frontend/src/toggle.rs, switch.rs, sensitive.rs),
// in the widget's own words (TEXTS below, written from its texts). When
// the widget has read the choice itself, it takes the paint's place in
// the same frame; a click made before is then made on the widget's switch,
// and focus follows. Drawn only for what it can show exactly: a signed-in
// customer's choice (settled or pending) without Global Privacy Control
// (whose notice the widget works out).

// Texts: written by widget-state/tests/loader_texts.rs from widget-state/src/i18n (edit those, not these).
const TEXTS = {
  en: {
    tag: "en",
    title: "Do Not Sell or Share My Personal Information",
    intro: "California law lets you stop the sale or sharing of your personal information.",
    switchLabel: "Do not sell or share my personal information",
    optedOut: "On: we do not sell or share your personal information.",
    optedIn: "Off: your personal information may be sold or shared.",
    pending: "Your choice is recorded and will apply to your account within a few minutes.",
    saving: "Saving your choice…",
    saveFailed: "We could not save your choice, so nothing has changed. Please try again.",
    accountNote: "Your choice is saved to your account and applies wherever you sign in.",
    sensitiveLabel: "Limit the use of my sensitive personal information",
    sensitiveOn: "On: we use your sensitive personal information only to provide the services you ask for.",
    sensitiveOff: "Off: we may also use your sensitive personal information for other purposes.",
  },
  es: {
    tag: "es",
    title: "No vender ni compartir mi información personal",
    intro: "La ley de California le permite impedir la venta o el intercambio de su información personal.",
    switchLabel: "No vender ni compartir mi información personal",
    optedOut: "Activado: no vendemos ni compartimos su información personal.",
    optedIn: "Desactivado: su información personal puede venderse o compartirse.",
    pending: "Su elección está registrada y se aplicará a su cuenta en unos minutos.",
    saving: "Guardando su elección…",
    saveFailed: "No pudimos guardar su elección, así que nada ha cambiado. Inténtelo de nuevo.",
    accountNote: "Su elección se guarda en su cuenta y se aplica dondequiera que inicie sesión.",
    sensitiveLabel: "Limitar el uso de mi información personal confidencial",
    sensitiveOn: "Activado: usamos su información personal confidencial solo para prestar los servicios que solicita.",
    sensitiveOff: "Desactivado: también podemos usar su información personal confidencial para otros fines.",
  },
  de: {
    tag: "de",
    title: "Meine personenbezogenen Daten nicht verkaufen oder weitergeben",
    intro: "Nach kalifornischem Recht können Sie den Verkauf und die Weitergabe Ihrer personenbezogenen Daten untersagen.",
    switchLabel: "Meine personenbezogenen Daten nicht verkaufen oder weitergeben",
    optedOut: "Ein: Wir verkaufen Ihre personenbezogenen Daten nicht und geben sie nicht weiter.",
    optedIn: "Aus: Ihre personenbezogenen Daten dürfen verkauft oder weitergegeben werden.",
    pending: "Ihre Wahl ist erfasst und gilt in wenigen Minuten für Ihr Konto.",
    saving: "Ihre Wahl wird gespeichert…",
    saveFailed: "Ihre Wahl konnte nicht gespeichert werden; es hat sich nichts geändert. Bitte versuchen Sie es erneut.",
    accountNote: "Ihre Wahl wird in Ihrem Konto gespeichert und gilt überall, wo Sie sich anmelden.",
    sensitiveLabel: "Die Verwendung meiner sensiblen personenbezogenen Daten einschränken",
    sensitiveOn: "Ein: Wir verwenden Ihre sensiblen personenbezogenen Daten nur für die Leistungen, die Sie anfordern.",
    sensitiveOff: "Aus: Wir dürfen Ihre sensiblen personenbezogenen Daten auch für andere Zwecke verwenden.",
  },
  zh: {
    tag: "zh-Hans",
    title: "请勿出售或共享我的个人信息",
    intro: "根据加利福尼亚州法律，您可以阻止出售或共享您的个人信息。",
    switchLabel: "请勿出售或共享我的个人信息",
    optedOut: "开启：我们不会出售或共享您的个人信息。",
    optedIn: "关闭：您的个人信息可能会被出售或共享。",
    pending: "您的选择已记录，将在几分钟内应用到您的账户。",
    saving: "正在保存您的选择…",
    saveFailed: "无法保存您的选择，因此没有任何更改。请重试。",
    accountNote: "您的选择将保存到您的账户，并在您登录的任何地方生效。",
    sensitiveLabel: "限制使用我的敏感个人信息",
    sensitiveOn: "开：我们仅为提供您所要求的服务而使用您的敏感个人信息。",
    sensitiveOff: "关：我们也可能将您的敏感个人信息用于其他目的。",
  },
};
// End of the texts.

// As the widget picks (Lang::pick in widget-state/src/i18n.rs): the first
// preference whose primary subtag it speaks (not Traditional Chinese, which
// our Simplified would serve badly), else English.
function language(preferences) {
  for (const tag of preferences) {
    const [first, ...rest] = String(tag ?? "").trim().split(/[-_]/);
    const primary = first.toLowerCase();
    const traditional = rest.some((subtag) => ["hant", "tw", "hk", "mo"].includes(subtag.toLowerCase()));
    if (Object.hasOwn(TEXTS, primary) && !(primary === "zh" && traditional)) return TEXTS[primary];
  }
  return TEXTS.en;
}

// One element: its attributes in the order the widget sets them, then its
// children. `false` and `undefined` attributes are left out.
function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== false && value !== undefined) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

// The widget's Switch: the button, its state sentence, its pending note.
function choice({ label, on, off, pending, testId, checked, waiting, stateId, describedBy }) {
  return [
    element(
      "button",
      { type: "button", role: "switch", class: "ccpa-optout__switch", "data-testid": `${testId}-switch`, "aria-checked": String(checked), "aria-describedby": describedBy, "aria-disabled": "false", "aria-busy": "false" },
      element("span", { class: "ccpa-optout__track", "aria-hidden": "true" }, element("span", { class: "ccpa-optout__thumb" })),
      element("span", { class: "ccpa-optout__label" }, label),
    ),
    element("p", { class: "ccpa-optout__state", id: stateId, "data-testid": `${testId}-state` }, checked ? on : off),
    element("p", { class: "ccpa-optout__pending", "data-testid": `${testId}-pending`, hidden: !waiting }, pending),
  ];
}

let painted = 0;

// The level as the widget reads it (Settings::from_element: digits, an
// optional "+", 1 to 6), else 2.
function headingLevel(given) {
  const level = /^\+?\d+$/.test(String(given ?? "").trim()) ? Number(given.trim()) : 0;
  return level >= 1 && level <= 6 ? level : 2;
}

// Where focus goes in the widget when the paint's focused element has no
// counterpart there (the widget shows an error: no switch).
const FOCUS_FALLBACK = ".ccpa-optout__switch, .ccpa-optout__retry, .ccpa-optout__title";

/**
 * Paints `host` (a [data-ccpa-optout] element) from `state`, the proxy's
 * answer to the customer's read ({ccpaOptOut, pending, sensitive?}), and
 * hands over to the widget when it has shown the choice itself.
 */
export function paint(host, state) {
  if (host.hasAttribute("data-ccpa-failed")) return;
  const text = language([host.dataset.lang, ...(navigator.languages ?? []), document.documentElement.lang]);
  const heading = `h${headingLevel(host.dataset.headingLevel)}`;
  const id = `ccpa-optout-early${painted++}`;
  const sensitive = state.sensitive;
  const section = element(
    "section",
    {
      class: "ccpa-optout",
      lang: text.tag,
      // Its own test ids where the widget, still loading beside it, has the
      // same element: a test's locator of the widget never finds two.
      "data-testid": "ccpa-optout-early",
      "data-state": state.pending ? "pending" : "ready",
      "data-ccpa-opt-out": String(state.ccpaOptOut),
      "data-ccpa-limit-sensitive": sensitive && String(sensitive.limited),
      "aria-labelledby": `${id}-title`,
      "data-ccpa-early": true,
    },
    element(heading, { class: "ccpa-optout__title", id: `${id}-title`, tabindex: "-1" }, text.title),
    element("p", { class: "ccpa-optout__intro" }, text.intro),
    ...choice({
      label: text.switchLabel, on: text.optedOut, off: text.optedIn, pending: text.pending, testId: "ccpa-optout",
      checked: state.ccpaOptOut, waiting: state.pending, stateId: `${id}-state`, describedBy: `${id}-state ${id}-scope`,
    }),
    element("p", { class: "ccpa-optout__scope", id: `${id}-scope`, "data-testid": "ccpa-optout-scope" }, text.accountNote),
    ...(sensitive
      ? [element("div", { class: "ccpa-optout__choice", "data-testid": "ccpa-optout-sensitive" }, ...choice({
          label: text.sensitiveLabel, on: text.sensitiveOn, off: text.sensitiveOff, pending: text.pending, testId: "ccpa-optout-sensitive",
          checked: sensitive.limited, waiting: sensitive.pending, stateId: `${id}-sensitive-state`, describedBy: `${id}-sensitive-state`,
        }))]
      : []),
  );
  const status = element("p", { class: "ccpa-optout__status", role: "status", "aria-live": "polite", "data-testid": "ccpa-optout-early-status" });
  section.append(status);
  // A click before the widget is there: the switch says it is busy and the
  // status what the widget's will say (nothing moves at the handover), and
  // the widget's switch gets the click once it is there.
  const clicked = new Set();
  section.addEventListener("click", (event) => {
    const button = event.target.closest?.("[role=switch]");
    if (!button || clicked.has(button.dataset.testid)) return;
    clicked.add(button.dataset.testid);
    button.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
    status.textContent = text.saving;
  });
  host.prepend(section);
  const handOver = new MutationObserver(() => {
    if (host.hasAttribute("data-ccpa-failed")) return failed();
    const widget = host.querySelector(".ccpa-optout:not([data-ccpa-early])");
    if (!widget || widget.dataset.state === "loading") return;
    const focused = section.contains(document.activeElement) && document.activeElement;
    handOver.disconnect();
    section.remove();
    const counterpart = (testId) => testId && widget.querySelector(`[data-testid="${testId}"]`);
    if (focused) (counterpart(focused.dataset.testid) || widget.querySelector(FOCUS_FALLBACK))?.focus();
    for (const testId of clicked) counterpart(testId)?.click();
  });
  // The widget could not start: the paint goes, and its space with it (as
  // the widget's would); but a change asked for is not left as "Saving…":
  // the customer is told it was not made.
  const failed = () => {
    handOver.disconnect();
    if (!clicked.size) return section.remove();
    const alert = element("p", { class: "ccpa-optout__error", role: "alert", "data-testid": "ccpa-optout-early-error" }, text.saveFailed);
    const hadFocus = section.contains(document.activeElement);
    section.replaceChildren(section.firstChild, alert);
    if (hadFocus) section.firstChild.focus();
  };
  handOver.observe(host, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state", "data-ccpa-failed"] });
}
