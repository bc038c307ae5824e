// Demo page only: a stand-in for Adobe's Web SDK, as a shop running Adobe
// Experience Platform has it, so that this browser has an Experience Cloud
// ID (ECID) the widget can send to Adobe's Privacy Service. The real SDK
// keeps the ECID in a first-party cookie and answers `getIdentity` once it
// has asked Adobe's Edge Network; this one makes up 38 digits, once per
// browser, and keeps them in storage.
(() => {
  const made = () => Array.from(crypto.getRandomValues(new Uint8Array(38)), (b) => b % 10).join("").replace(/^0/, "1");
  let ecid;
  try {
    ecid = localStorage.getItem("demo:ecid") ?? made();
    localStorage.setItem("demo:ecid", ecid);
  } catch {
    ecid = made();
  }
  window.__alloyNS = [...(window.__alloyNS ?? []), "alloy"];
  window.alloy = (command) => Promise.resolve(command === "getIdentity" ? { identity: { ECID: ecid } } : {});
})();
