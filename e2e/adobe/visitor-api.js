// A stand-in for Adobe's older Visitor API (VisitorAPI.js) on the test
// shop: an instance in `s_c_il`, as `Visitor.getInstance` leaves it, whose
// `getMarketingCloudVisitorID(callback)` answers the ECID (the Marketing
// Cloud visitor ID) asynchronously, as the real one does.
// The ECID is the one e2e::STAND_IN_ECID names.
(() => {
  const ecid = "68219372648310938462015382945603712894";
  const instance = {
    _c: "Visitor",
    getMarketingCloudVisitorID(callback) {
      setTimeout(() => callback?.(ecid), 50);
      return ecid;
    },
  };
  window.s_c_il = [...(window.s_c_il ?? []), instance];
  window.Visitor = { getInstance: () => instance };
})();
