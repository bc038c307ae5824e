// A stand-in for Adobe's Web SDK (alloy.js) on the test shop: its base
// code's shape (an instance named in `__alloyNS`, a function answering
// promises), answering `getIdentity` as Adobe documents it, after a
// moment, as the real one does once it has asked the Edge Network.
// The ECID is the one e2e::STAND_IN_ECID names.
(() => {
  const ecid = "68219372648310938462015382945603712894";
  window.__alloyNS = [...(window.__alloyNS ?? []), "alloy"];
  window.alloy = (command, options) =>
    new Promise((answer) =>
      setTimeout(() => {
        if (command === "getIdentity" && (options?.namespaces ?? ["ECID"]).includes("ECID")) {
          answer({ identity: { ECID: ecid }, edge: { regionId: 9 } });
        } else {
          answer({});
        }
      }, 50),
    );
})();
