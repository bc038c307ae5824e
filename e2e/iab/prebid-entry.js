// Prebid.js as a site builds it for these tests: its core, the modules
// that read GPP and US Privacy from the page's consent APIs, and the
// activity controls that act on the US National and state sections.
// Bundled by `e2e::readers::prebid` from the pinned npm package.
import pbjs from "prebid.js";
import "prebid.js/modules/consentManagementGpp";
import "prebid.js/modules/consentManagementUsp";
import "prebid.js/modules/gppControl_usnat";
import "prebid.js/modules/gppControl_usstates";

pbjs.processQueue();
