// Prebid.js as a site builds it for these tests: its core, and the modules
// that read GPP and US Privacy from the page's consent APIs. Bundled by
// `e2e::readers::prebid` from the pinned npm package.
import pbjs from "prebid.js";
import "prebid.js/modules/consentManagementGpp";
import "prebid.js/modules/consentManagementUsp";

pbjs.processQueue();
