// ccpa-optout's IAB Global Privacy Platform (GPP) support: the GPP string
// encoder, and the CMP API 1.1 (`__gpp`) behind the stub the loader defines.
// Sections: US National (id 7, "usnat", version 2) and US California (id 8,
// "usca", version 1), each with its Global Privacy Control sub-section; the
// page names which apply. The loader imports this file beside the wasm;
// tests import it to check the encoder against the IAB's decoders.

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Field names and widths, in the order the IAB's section specifications
// give them ([name, bits] or [name, bits, count] for an N-bitfield), and
// the version of each specification they follow.
const SECTIONS = {
  usca: {
    id: 8,
    version: 1,
    core: [
      ["Version", 6], ["SaleOptOutNotice", 2], ["SharingOptOutNotice", 2],
      ["SensitiveDataLimitUseNotice", 2], ["SaleOptOut", 2], ["SharingOptOut", 2],
      ["SensitiveDataProcessing", 2, 9], ["KnownChildSensitiveDataConsents", 2, 2],
      ["PersonalDataConsents", 2], ["MspaCoveredTransaction", 2],
      ["MspaOptOutOptionMode", 2], ["MspaServiceProviderMode", 2],
    ],
  },
  // The MSPA US National specification, version 2 (August 2024): 16
  // sensitive categories, 3 ages of children (13 to 16, under 13, 16 to 17).
  usnat: {
    id: 7,
    version: 2,
    core: [
      ["Version", 6], ["SharingNotice", 2], ["SaleOptOutNotice", 2], ["SharingOptOutNotice", 2],
      ["TargetedAdvertisingOptOutNotice", 2], ["SensitiveDataProcessingOptOutNotice", 2],
      ["SensitiveDataLimitUseNotice", 2], ["SaleOptOut", 2], ["SharingOptOut", 2],
      ["TargetedAdvertisingOptOut", 2], ["SensitiveDataProcessing", 2, 16],
      ["KnownChildSensitiveDataConsents", 2, 3], ["PersonalDataConsents", 2],
      ["MspaCoveredTransaction", 2], ["MspaOptOutOptionMode", 2], ["MspaServiceProviderMode", 2],
    ],
  },
};

// Bits as "0"/"1" text: short strings, and easy to read in a test.
const int = (value, width) => value.toString(2).padStart(width, "0").slice(-width);

// Zeckendorf representation, smallest Fibonacci number (1, 2, 3, 5, …)
// first, ended by an extra 1.
function fibonacci(value) {
  const fibs = [1, 2];
  while (fibs[fibs.length - 1] <= value) fibs.push(fibs[fibs.length - 1] + fibs[fibs.length - 2]);
  const bits = Array(fibs.length).fill("0");
  let rest = value;
  for (let i = fibs.length - 1; i >= 0; i--) {
    if (fibs[i] <= rest) {
      bits[i] = "1";
      rest -= fibs[i];
    }
  }
  return bits.join("").replace(/0+$/, "") + "1";
}

// As the IAB's reference encoder: padded to whole bytes, then to whole
// base64 characters, no "=".
function base64url(bits) {
  let padded = bits.padEnd(Math.ceil(bits.length / 8) * 8, "0");
  padded = padded.padEnd(Math.ceil(padded.length / 6) * 6, "0");
  let text = "";
  for (let i = 0; i < padded.length; i += 6) text += BASE64URL[parseInt(padded.slice(i, i + 6), 2)];
  return text;
}

// The header: type 3, version 1, the section ids as Fibonacci-coded ranges
// (each an offset from the end of the one before).
function header(ids) {
  const ranges = [];
  for (const id of [...ids].sort((a, b) => a - b)) {
    const last = ranges[ranges.length - 1];
    if (last && last[1] === id - 1) last[1] = id;
    else ranges.push([id, id]);
  }
  let bits = int(3, 6) + int(1, 6) + int(ranges.length, 12);
  let previous = 0;
  for (const [start, end] of ranges) {
    bits += start === end ? "0" : "1";
    bits += fibonacci(start - previous);
    if (start !== end) bits += fibonacci(end - start);
    previous = end;
  }
  return base64url(bits);
}

// One section: its core fields, then the GPC sub-section (type 1) unless
// `gpc` is undefined.
function section(name, fields, gpc) {
  let bits = "";
  for (const [field, width, count] of SECTIONS[name].core) {
    const value = fields[field] ?? 0;
    bits += count ? Array.from({ length: count }, (_, i) => int(value[i] ?? 0, width)).join("") : int(value, width);
  }
  const core = base64url(bits);
  return gpc === undefined ? core : `${core}.${base64url(int(1, 2) + (gpc ? "1" : "0"))}`;
}

/** The GPP string for `sections`: {usca: {fields, gpc}, usnat: {…}}. */
export function encode(sections) {
  const names = Object.keys(sections).sort((a, b) => SECTIONS[a].id - SECTIONS[b].id);
  return [header(names.map((name) => SECTIONS[name].id)), ...names.map((name) => section(name, sections[name].fields, sections[name].gpc))].join("~");
}

// What the business says in each section: notices given (the widget is the
// notice: 1), opt-outs from the choice (1 opted out, 2 not), nothing about
// children (0: not applicable), not an MSPA signatory (covered transaction
// 2). Sharing for cross-context behavioural advertising is opted out with
// sale, as the CCPA's "sale or sharing". Where the page offers the limit on
// sensitive information (`limited` is a boolean), its notice is given and
// every sensitive category says it: usca 1 (opted out) or 2 (did not opt
// out); usnat 1 (no consent) when limited, else 0 (not applicable): its 2
// means consent, which nobody gave. Without the limit, 0 throughout.
function fieldsFor(name, { optedOut, limited }) {
  const choice = optedOut ? 1 : 2;
  const common = { Version: SECTIONS[name].version, SaleOptOutNotice: 1, SharingOptOutNotice: 1, SaleOptOut: choice, SharingOptOut: choice, MspaCoveredTransaction: 2 };
  if (typeof limited === "boolean") {
    const categories = SECTIONS[name].core.find(([field]) => field === "SensitiveDataProcessing")[2];
    const unlimited = name === "usca" ? 2 : 0;
    Object.assign(common, { SensitiveDataLimitUseNotice: 1, SensitiveDataProcessing: Array(categories).fill(limited ? 1 : unlimited) });
  }
  return name === "usca" ? common : { ...common, SharingNotice: 1, TargetedAdvertisingOptOutNotice: 1, TargetedAdvertisingOptOut: choice };
}

/**
 * The CMP API 1.1 for the sections `names` (those that apply on this
 * page): `api`, the `__gpp` function, which the loader puts in its stub's
 * place; `loaded()`, to call once it is (listeners hear `cmpStatus`
 * "loaded", then the signals); `changed()`, to call whenever the choice
 * may have moved. `state()` gives {optedOut, limited, gpc, ready}: the
 * choice (`limited` undefined where the page does not offer that choice),
 * and whether it is settled (false while it is not known or a change is
 * on its way). Listeners hear `listenerRegistered`; as the choice moves,
 * `signalStatus` "not ready", then, once it is settled, one
 * `sectionChange` per section whose string changed and `signalStatus`
 * "ready"; nothing when nothing a reader sees changed.
 */
export function install(names, state) {
  const listeners = new Map();
  let nextListener = 1;
  const ids = names.map((name) => SECTIONS[name].id).sort((a, b) => a - b);
  const sections = (now) => Object.fromEntries(names.map((name) => [name, { fields: fieldsFor(name, now), gpc: now.gpc }]));
  // Every field of the section, as the IAB's own library gives it: readers
  // (Prebid's activity controls) read fields we leave at 0.
  const parsed = (now) =>
    Object.fromEntries(
      names.map((name) => {
        const fields = fieldsFor(name, now);
        const all = SECTIONS[name].core.map(([field, , count]) => [field, fields[field] ?? (count ? Array(count).fill(0) : 0)]);
        return [name, { ...Object.fromEntries(all), GpcSegmentType: 1, Gpc: now.gpc }];
      }),
    );
  const ping = () => {
    const now = state();
    return {
      gppVersion: "1.1",
      cmpStatus: "loaded",
      cmpDisplayStatus: "hidden",
      signalStatus: now.ready ? "ready" : "not ready",
      supportedAPIs: names.map((name) => `${SECTIONS[name].id}:${name}`),
      cmpId: 0,
      sectionList: ids,
      applicableSections: ids,
      gppString: encode(sections(now)),
      parsedSections: parsed(now),
    };
  };
  // A page's callback that throws must not silence the others.
  const safely = (callback, ...answer) => {
    try {
      callback(...answer);
    } catch (error) {
      setTimeout(() => {
        throw error;
      });
    }
  };
  const emit = (eventName, data) => {
    for (const [listenerId, callback] of listeners) safely(callback, { eventName, listenerId, data, pingData: ping() }, true);
  };
  const field = (name, key) => {
    const section = names.includes(name) ? parsed(state())[name] : undefined;
    return section && Object.hasOwn(section, key) ? section[key] : undefined;
  };
  const commands = {
    ping: (callback) => callback(ping(), true),
    addEventListener: (callback) => {
      const listenerId = nextListener++;
      listeners.set(listenerId, callback);
      callback({ eventName: "listenerRegistered", listenerId, data: true, pingData: ping() }, true);
    },
    // As the IAB's library answers: an event whose data says whether the
    // listener was there.
    removeEventListener: (callback, listenerId) => {
      const removed = listeners.delete(listenerId);
      callback({ eventName: "listenerRemoved", listenerId, data: removed, pingData: ping() }, true);
    },
    hasSection: (callback, name) => callback(names.includes(name), true),
    getSection: (callback, name) => callback(names.includes(name) ? parsed(state())[name] : null, true),
    getField: (callback, path) => {
      const [name, key, ...rest] = String(path).split(".");
      const value = rest.length ? undefined : field(name, key);
      callback(value ?? null, value !== undefined);
    },
  };
  const api = (command, callback, parameter) => {
    const answer = (...reply) => callback && safely(callback, ...reply);
    if (!Object.hasOwn(commands, command)) return answer(null, false);
    commands[command](answer, parameter);
  };
  // What readers were last told was ready: at first, the stub's "not
  // ready" and no sections. Sections are compared only once the choice
  // is settled, so a reader hears each change once, not its drafts.
  let told = { ready: false, strings: {} };
  let live = false;
  const changed = () => {
    if (!live) return;
    const now = state();
    const strings = Object.fromEntries(Object.entries(sections(now)).map(([name, section]) => [name, encode({ [name]: section })]));
    const moved = names.filter((name) => strings[name] !== told.strings[name]);
    if (told.ready && (!now.ready || moved.length)) emit("signalStatus", "not ready");
    if (!now.ready) {
      told.ready = false;
      return;
    }
    if (told.ready && !moved.length) return;
    for (const name of moved) emit("sectionChange", name);
    emit("signalStatus", "ready");
    told = { ready: true, strings };
  };
  const loaded = () => {
    live = true;
    emit("cmpStatus", "loaded");
    changed();
  };
  return { api, loaded, changed };
}
