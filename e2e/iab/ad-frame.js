// The ad tag in the test shop's ad slot, a frame of another origin: Prebid.js
// configured to read GPP and US Privacy from the page, through the locator
// frames, as a publisher's ad stack does, with first-party data about the
// user (which the activity controls withhold from bidders when the
// visitor opted out), and a bidder that bids nothing and only keeps the
// consent and the user data every bidder is given.
window.given = [];
pbjs.que.push(() => {
  pbjs.registerBidAdapter(null, "probe", {
    code: "probe",
    isBidRequestValid: () => true,
    buildRequests(_, bidderRequest) {
      given.push({
        gpp: bidderRequest.gppConsent ?? null,
        usp: bidderRequest.uspConsent ?? null,
        userData: bidderRequest.ortb2?.user?.keywords ?? null,
      });
      return [];
    },
    interpretResponse: () => [],
  });
  pbjs.setConfig({
    consentManagement: {
      gpp: { cmpApi: "iab", timeout: 20000 },
      usp: { cmpApi: "iab", timeout: 20000 },
    },
    ortb2: { user: { keywords: "first-party" } },
  });
  pbjs.addAdUnits([{ code: "slot", mediaTypes: { banner: { sizes: [[300, 250]] } }, bids: [{ bidder: "probe", params: {} }] }]);
});

// An auction, and the consent its bidder was given.
window.auction = () =>
  new Promise((done) => pbjs.que.push(() => pbjs.requestBids({ bidsBackHandler: () => done(given.at(-1) ?? null) })));

// What the page's GPP API answered this frame as it loaded, before Prebid
// asked anything: whether the frame came before the widget had started.
window.firstPing = new Promise((answered) => {
  let api = window;
  while (!api.frames.__gppLocator && api !== top) api = api.parent;
  addEventListener("message", ({ data }) => {
    if (data?.__gppReturn?.callId === "first-ping") answered(data.__gppReturn.returnValue);
  });
  api.postMessage({ __gppCall: { command: "ping", version: "1.1", callId: "first-ping" } }, "*");
});
