//! Typed settings, loaded once at start-up from an optional TOML file and
//! `CCPA__SECTION__KEY` environment variables (which win).
//!
//! Secrets are `SecretString`s: they cannot be printed by accident, and
//! nothing in the proxy ever serializes them back out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::clients::{ForwardedHeader, TrustedProxies};
use crate::store::{Budget, Engine};

/// Everything the proxy needs to run.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The HTTP server.
    pub server: ServerSettings,
    /// Adobe Campaign and IMS.
    pub campaign: CampaignSettings,
    /// How browser requests prove who is signed in.
    pub identity: IdentitySettings,
    /// Where requests and the audit trail are kept.
    #[serde(default)]
    pub storage: StorageSettings,
    /// How changes Campaign did not take at once are retried.
    #[serde(default)]
    pub delivery: DeliverySettings,
    /// The demo sign-in (never in production).
    #[serde(default)]
    pub demo: DemoSettings,
    /// Opting out by email, without a sign-in.
    #[serde(default)]
    pub email_opt_out: EmailOptOutSettings,
    /// What one customer, or one client address, may ask for.
    #[serde(default)]
    pub limits: LimitSettings,
    /// Adobe's Privacy Service, the second destination of a choice about
    /// sale.
    #[serde(default)]
    pub privacy_service: PrivacyServiceSettings,
}

/// Adobe's Privacy Service (`POST /data/core/privacy/consent`): every
/// choice about sale goes there too, when enabled, so that it reaches the
/// Adobe products that sell or share (Audience Manager, Advertising,
/// Analytics, Experience Platform), not only Campaign. It is called with
/// the Campaign credential (`campaign.client_id`, its token): the Adobe
/// Developer Console project must hold both APIs under that credential.
#[derive(Debug, Clone, Deserialize)]
pub struct PrivacyServiceSettings {
    /// Whether choices go to Privacy Service at all.
    #[serde(default)]
    pub enabled: bool,
    /// `https://platform.adobe.io` in production; the emulator's URL
    /// otherwise.
    #[serde(default = "default_privacy_service_url")]
    pub base_url: Url,
    /// The IMS organization (`…@AdobeOrg`) sent as `x-gw-ims-org-id`:
    /// the organization of the Developer Console project, not Campaign's
    /// tenant name.
    #[serde(default)]
    pub ims_org: Option<String>,
    /// Upper bound for one call, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Calls per second from this process, on average (as many at once).
    /// 0: no pace.
    #[serde(default = "default_privacy_calls_per_second")]
    pub max_calls_per_second: u32,
    /// Calls in flight at once from this process.
    #[serde(default = "default_privacy_concurrency")]
    pub max_concurrency: usize,
    /// A browser's own choice, made without an account, is recorded and
    /// told for its ECID: this many per client address at once, and as
    /// many per minute on average. 0: no limit.
    #[serde(default = "default_privacy_per_client_per_minute")]
    pub per_client_per_minute: u32,
    /// The same, all clients together. 0: no limit.
    #[serde(default = "default_privacy_browsers_per_minute")]
    pub browsers_per_minute: u32,
}

impl Default for PrivacyServiceSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: default_privacy_service_url(),
            ims_org: None,
            timeout_ms: default_timeout_ms(),
            max_calls_per_second: default_privacy_calls_per_second(),
            max_concurrency: default_privacy_concurrency(),
            per_client_per_minute: default_privacy_per_client_per_minute(),
            browsers_per_minute: default_privacy_browsers_per_minute(),
        }
    }
}

impl PrivacyServiceSettings {
    /// Upper bound for one call.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The organization, when enabled: refuses a missing one, or one not
    /// shaped as Adobe's (`<hex>@AdobeOrg`: a Campaign tenant name there
    /// would fail every call).
    pub fn check(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let org = self.ims_org.as_deref().unwrap_or_default();
        let shaped = org.strip_suffix("@AdobeOrg").is_some_and(|id| {
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !shaped {
            return Err("privacy_service.ims_org must be the IMS organization ID, \
                        <letters and digits>@AdobeOrg (Adobe Developer Console, the \
                        project's credential)"
                .into());
        }
        if self.max_concurrency == 0 || self.timeout_ms == 0 {
            return Err("privacy_service.max_concurrency and timeout_ms must be above 0".into());
        }
        Ok(())
    }
}

/// Token buckets: each allows its number at once, and as many per minute
/// on average. 0 turns one off.
#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    /// Reads of one signed-in customer's choices. A page load is one, a
    /// tab waiting for a pending change at most one every 5 s (then fewer):
    /// 60 is several tabs of a person, and far below a script's thousands.
    #[serde(default = "default_reads_per_minute")]
    pub reads_per_minute: u32,
    /// Changes by one signed-in customer. Each is an audit record and a
    /// Campaign call; a person flips a switch a few times.
    #[serde(default = "default_changes_per_minute")]
    pub changes_per_minute: u32,
    /// Requests from one client (an IPv4 address or an IPv6 /64; behind a
    /// load balancer, the address it forwards: `server.trusted_proxies`)
    /// to the API and health routes (not the widget's files). Generous, as
    /// one address may be a whole office.
    #[serde(default = "default_per_client_per_minute_all")]
    pub per_client_per_minute: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            reads_per_minute: default_reads_per_minute(),
            changes_per_minute: default_changes_per_minute(),
            per_client_per_minute: default_per_client_per_minute_all(),
        }
    }
}

/// The opt-out by email (`POST /api/v1/opt-out/email`).
#[derive(Debug, Clone, Deserialize)]
pub struct EmailOptOutSettings {
    /// Off unless set.
    #[serde(default)]
    pub enabled: bool,
    /// Requests one client address may make in a minute. Ten is more than
    /// a household sharing one address needs.
    #[serde(default = "default_per_client_per_minute")]
    pub per_client_per_minute: u32,
    /// Requests for one email address in an hour that are sent to
    /// Campaign. Three is more than a person who doubts the first went
    /// through makes; more are recorded as repeats (audited `repeat`),
    /// covered by the earlier ones. Either way a request can only opt out:
    /// the limits guard storage and Campaign, not people.
    #[serde(default = "default_per_address_per_hour")]
    pub per_address_per_hour: u32,
    /// Profiles the proxy may create in an hour for addresses Campaign
    /// does not have (suppression records). Past it, such requests are
    /// held, never dropped, until the budget has room or an operator
    /// releases them: anyone may type any address, and each would stay in
    /// Campaign for good. 0: every one waits for an operator.
    #[serde(default = "default_new_profiles_per_hour")]
    pub new_profiles_per_hour: u32,
    /// The same, in a day.
    #[serde(default = "default_new_profiles_per_day")]
    pub new_profiles_per_day: u32,
}

impl Default for EmailOptOutSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            per_client_per_minute: default_per_client_per_minute(),
            per_address_per_hour: default_per_address_per_hour(),
            new_profiles_per_hour: default_new_profiles_per_hour(),
            new_profiles_per_day: default_new_profiles_per_day(),
        }
    }
}

impl EmailOptOutSettings {
    /// The budget of profiles created for addresses nobody has.
    pub fn budget(&self) -> Budget {
        Budget {
            per_hour: self.new_profiles_per_hour,
            per_day: self.new_profiles_per_day,
        }
    }
}

/// The database. SQLite unless the URL says `postgres://`.
#[derive(Debug, Clone, Deserialize)]
pub struct StorageSettings {
    /// `url`: `sqlite://<file>` (created on first start) or
    /// `postgres://user:password@host/db` (secret, as it may hold a
    /// password), parsed once here.
    #[serde(default, rename = "url")]
    pub engine: Engine,
    /// Connections in the PostgreSQL pool (SQLite always uses one: it has
    /// a single writer).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// When SQLite syncs its log to disk.
    #[serde(default)]
    pub sqlite_synchronous: Synchronous,
    /// Whether the proxy brings the schema up to date at start. Off where
    /// its database role may not change the schema (PostgreSQL roles in
    /// docs/operations.md): then `ccpa-proxy migrate` does it, as the
    /// owner, and the proxy refuses to start on an older schema.
    #[serde(default = "default_migrate")]
    pub migrate: bool,
}

impl StorageSettings {
    /// Settings for the database at `url`, the rest by default.
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            engine: Engine::parse(url)?,
            ..Self::default()
        })
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            engine: Engine::default(),
            max_connections: default_max_connections(),
            sqlite_synchronous: Synchronous::default(),
            migrate: default_migrate(),
        }
    }
}

/// SQLite's `synchronous` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// At every commit: an accepted request survives a power cut.
    #[default]
    Full,
    /// At checkpoints: it survives a crash of the process, but a power cut
    /// may lose the last instants.
    Normal,
}

/// The background worker that applies pending changes.
#[derive(Debug, Clone, Deserialize)]
pub struct DeliverySettings {
    /// How often the worker looks for due changes when idle (milliseconds).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// The first retry waits about this long; each failure doubles it.
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    /// The longest wait between two attempts.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// The most one attempt may take, IMS token wait and both Campaign
    /// calls included (milliseconds). Default: three call timeouts.
    pub attempt_timeout_ms: Option<u64>,
    /// How long a change stays leased to one attempt (milliseconds).
    /// Default: the attempt timeout plus ten seconds. It must exceed the
    /// attempt timeout by [`LEASE_MARGIN`], or the proxy does not start.
    pub lease_ms: Option<u64>,
    /// A change that Campaign answers this many times in ways the proxy
    /// cannot understand (not outages: those are retried for as long as
    /// they last) is given up and kept among the dead letters.
    #[serde(default = "default_max_strikes")]
    pub max_strikes: u32,
    /// The retry worker's share of `campaign.max_concurrency`, in percent:
    /// the rest is kept for customers' own requests, so that a backlog
    /// draining after an outage does not slow those who are waiting.
    #[serde(default = "default_worker_share_percent")]
    pub worker_share_percent: u8,
    /// How often the worker logs how many changes wait and how long the
    /// oldest has waited (milliseconds; 0: never).
    #[serde(default = "default_report_interval_ms")]
    pub report_interval_ms: u64,
    /// A change still failing this long after its profile's first waiting
    /// request (Campaign down, 5xx, timeouts) is reported stuck: counted
    /// in `/metrics`, listed on the admin listener with its response
    /// deadline, and warned of in the log at every failed attempt. It is
    /// still retried (milliseconds).
    #[serde(default = "default_stuck_after_ms")]
    pub stuck_after_ms: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            poll_interval_ms: default_poll_interval_ms(),
            backoff_base_ms: default_backoff_base_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            attempt_timeout_ms: None,
            lease_ms: None,
            max_strikes: default_max_strikes(),
            worker_share_percent: default_worker_share_percent(),
            report_interval_ms: default_report_interval_ms(),
            stuck_after_ms: default_stuck_after_ms(),
        }
    }
}

/// How much longer than an attempt a lease must last, at the least: the
/// lease starts when the request is recorded, the attempt's clock only
/// once that has committed (a batch's sync), and clocks step.
pub const LEASE_MARGIN: Duration = Duration::from_secs(1);

impl DeliverySettings {
    /// The deadline of one attempt.
    pub fn attempt_timeout(&self, campaign: &CampaignSettings) -> Duration {
        self.attempt_timeout_ms
            .map_or(campaign.timeout() * 3, Duration::from_millis)
    }

    /// How long a claim holds its change.
    pub fn lease(&self, campaign: &CampaignSettings) -> Duration {
        self.lease_ms.map_or(
            self.attempt_timeout(campaign) + Duration::from_secs(10),
            Duration::from_millis,
        )
    }

    /// Refuses a lease that an attempt could outlive: the late attempt's
    /// PATCH could then overwrite a newer choice sent by the next one. And
    /// a health check period of 0, which would ask Campaign without pause.
    pub fn check(&self, campaign: &CampaignSettings) -> Result<(), String> {
        if campaign.health_check_ms == 0 {
            return Err("campaign.health_check_ms must be above 0".into());
        }
        if (1..1_000).contains(&self.report_interval_ms) {
            return Err(
                "delivery.report_interval_ms must be 0 (never) or at least 1000: each report \
                 counts the pending changes in the database"
                    .into(),
            );
        }
        let (attempt, lease) = (self.attempt_timeout(campaign), self.lease(campaign));
        if lease < attempt + LEASE_MARGIN {
            return Err(format!(
                "delivery.lease_ms ({} ms) must exceed the attempt timeout ({} ms) by at least \
                 {} ms: an attempt could outlive its lease and overwrite a newer choice",
                lease.as_millis(),
                attempt.as_millis(),
                LEASE_MARGIN.as_millis()
            ));
        }
        Ok(())
    }
}

/// The HTTP server.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Origins (scheme://host[:port]) of pages allowed to call the API from
    /// a browser. Same-origin pages need no entry.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// A directory of static files (the built widget and demo page) to serve
    /// under `/`; none when the widget is hosted elsewhere.
    pub widget_dir: Option<PathBuf>,
    /// Whether the browser's cookie is marked `Secure` (sent over HTTPS
    /// only). Off only where the proxy is reached over plain HTTP, as in
    /// the demo on a loopback address.
    #[serde(default = "default_true")]
    pub secure_cookies: bool,
    /// The key of the subject tags in log lines (an HMAC): the same in
    /// every replica, so that one customer's lines can be followed across
    /// them and across restarts. Unset, each start picks a random one.
    #[serde(default)]
    pub log_tag_key: Option<SecretString>,
    /// How long a request's head may take to arrive, and a kept-alive
    /// connection may wait for its next request (ms).
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// How long a request's body may take to arrive once its head has (ms).
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// How long sending an answer may make no progress at all (ms): a
    /// client that stops reading is cut off. Generous, as a phone on a
    /// poor link may stall for seconds and then go on.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// The most a request may take from head to answer (ms); by default
    /// the delivery attempt timeout plus 10 s, and never less than that
    /// attempt: a request's own attempt must be able to finish.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// Connections open at once; more are answered `503` at once. Capped
    /// at start by the open files the process may have.
    #[serde(default = "default_max_connections_open")]
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold at once; more
    /// are answered `503`. A browser opens six to a host; an office behind
    /// one address a few hundred. A trusted proxy's connections are not
    /// capped (they carry every client's). 0: no cap.
    #[serde(default = "default_max_connections_per_client")]
    pub max_connections_per_client: usize,
    /// How long requests under way may run on after a stop signal (ms); by
    /// default the request deadline, so that each can finish.
    #[serde(default)]
    pub shutdown_timeout_ms: Option<u64>,
    /// Where operators read readiness in full and `/metrics`; keep it off
    /// the internet (e.g. `127.0.0.1:9090`). Unset, neither is served.
    #[serde(default)]
    pub admin_listen: Option<SocketAddr>,
    /// The load balancers, CDNs or reverse proxies in front of the proxy
    /// (addresses or CIDR networks): only from them is `forwarded_header`
    /// read, for the client every per-client limit counts. Empty: the
    /// connection's peer is the client.
    #[serde(default)]
    pub trusted_proxies: TrustedProxies,
    /// The header those proxies set: `x-forwarded-for` or `forwarded`
    /// (RFC 7239). Only that one is read.
    #[serde(default)]
    pub forwarded_header: ForwardedHeader,
}

impl ServerSettings {
    /// Listening on `listen`, everything else as a settings file that names
    /// only `listen` would have it.
    pub fn on(listen: SocketAddr) -> Self {
        Self {
            listen,
            allowed_origins: Vec::new(),
            widget_dir: None,
            secure_cookies: true,
            log_tag_key: None,
            header_read_timeout_ms: default_header_read_timeout_ms(),
            body_timeout_ms: default_body_timeout_ms(),
            write_timeout_ms: default_write_timeout_ms(),
            request_timeout_ms: None,
            max_connections: default_max_connections_open(),
            max_connections_per_client: default_max_connections_per_client(),
            shutdown_timeout_ms: None,
            admin_listen: None,
            trusted_proxies: TrustedProxies::default(),
            forwarded_header: ForwardedHeader::default(),
        }
    }

    /// How long requests under way may run on after a stop signal, given
    /// the delivery `attempt` timeout.
    pub fn shutdown_timeout(&self, attempt: Duration) -> Duration {
        self.shutdown_timeout_ms
            .map_or(self.request_timeout(attempt), Duration::from_millis)
    }

    /// The whole-request deadline, given the delivery `attempt` timeout.
    pub fn request_timeout(&self, attempt: Duration) -> Duration {
        self.request_timeout_ms
            .map_or(attempt + Duration::from_secs(10), Duration::from_millis)
    }

    /// Refuses a request deadline that would cut a request's own attempt
    /// short: its sender would be told less than the proxy knows.
    pub fn check(&self, attempt: Duration) -> Result<(), String> {
        let deadline = self.request_timeout(attempt);
        if deadline < attempt + LEASE_MARGIN {
            return Err(format!(
                "server.request_timeout_ms ({} ms) must exceed the delivery attempt timeout \
                 ({} ms) by at least {} ms",
                deadline.as_millis(),
                attempt.as_millis(),
                LEASE_MARGIN.as_millis()
            ));
        }
        if [
            self.header_read_timeout_ms,
            self.body_timeout_ms,
            self.write_timeout_ms,
        ]
        .contains(&0)
        {
            return Err(
                "server.header_read_timeout_ms, body_timeout_ms and write_timeout_ms must be above 0"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Adobe Campaign Standard and the IMS token endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct CampaignSettings {
    /// Which of Adobe's APIs the tenant speaks: Campaign Standard's, or
    /// that of a Campaign Standard tenant Adobe moved to Campaign v8.
    #[serde(default)]
    pub api: CampaignApi,
    /// The profile's boolean field that holds the opt-out of sale (`true`:
    /// do not sell). Campaign Standard's is `ccpaOptOut`; on a migrated
    /// tenant it is the field the company added to the recipient schema,
    /// as the REST API names it.
    #[serde(default = "default_opt_out_field")]
    pub opt_out_field: ApiName,
    /// The profile filter that finds profiles by email (called with
    /// `?email=`). Unset: the API's own, `byEmail` on Campaign Standard and
    /// `email` on a migrated tenant, whose filters go without `by`.
    #[serde(default)]
    pub email_filter: Option<ApiName>,
    /// `https://mc.adobe.io` in production; the emulator's URL otherwise.
    pub base_url: Url,
    /// The tenant's `<ORGANIZATION>` path segment.
    pub organization: String,
    /// Campaign Standard's profile resource (look-ups by email there).
    #[serde(default = "default_standard_resource")]
    pub standard_resource: String,
    /// The extended profile resource, addressed by custom key.
    #[serde(default = "default_extended_resource")]
    pub extended_resource: String,
    /// `https://ims-na1.adobelogin.com/ims/token/v3` in production.
    pub ims_token_url: Url,
    /// The OAuth server-to-server credential's client id (also `X-Api-Key`).
    pub client_id: String,
    /// The credential's client secret.
    pub client_secret: SecretString,
    /// The scopes copied from the Adobe Developer Console, comma separated.
    pub scope: String,
    /// Upper bound for one upstream call, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Most Campaign calls in flight at once from this process; more wait
    /// (within `timeout_ms`), so a burst cannot trip Adobe's rate limits.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Campaign calls per second from this process, on average (as many at
    /// once); more wait, within `timeout_ms`. Campaign Standard throttles
    /// no one and counts every call against the licence's daily engine
    /// calls, so the caller must pace itself: 50 a second is some 25
    /// changes a second, far above a privacy page's traffic. 0: no pace.
    #[serde(default = "default_max_calls_per_second")]
    pub max_calls_per_second: u32,
    /// An opt-out for a key Campaign has no profile for creates one,
    /// flagged in `opt_out_field` (the seed's POST): a suppression record,
    /// so that the person is known not to be sold if they appear later.
    #[serde(default = "default_true")]
    pub create_missing_profiles: bool,
    /// The most profiles one address may match for an opt-out by email to
    /// change them all. An address on more is held for an operator (among
    /// the dead letters, audited `held`), never applied in part: more
    /// profiles than any person has share a shared or junk address.
    #[serde(default = "default_max_email_matches")]
    pub max_email_matches: usize,
    /// The custom-key field of the extended profile resource, set on a
    /// profile created for a custom key.
    #[serde(default = "default_custom_key_field")]
    pub custom_key_field: String,
    /// The custom boolean field of the extended profile resource that holds
    /// the limit on the use of sensitive personal information (`true`:
    /// limited), e.g. `cusLimitSensitive`. Unset, the proxy offers no such
    /// choice. It needs identities by custom key: custom fields live in the
    /// extended resource, which Campaign Standard's look-ups by email do
    /// not read.
    #[serde(default)]
    pub sensitive_field: Option<FieldName>,
    /// Whether the profile Campaign answers a custom-key look-up with must
    /// carry that key in `custom_key_field`: a look-up answered with
    /// someone else's profile is then refused, never changed.
    #[serde(default = "default_true")]
    pub verify_returned_key: bool,
    /// When no request has asked Campaign anything for this long, the
    /// proxy checks it once, so that readiness stays true (milliseconds).
    #[serde(default = "default_health_check_ms")]
    pub health_check_ms: u64,
}

impl CampaignSettings {
    /// Upper bound for one upstream call.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Refuses settings that cannot work together: a sensitive field with
    /// identities by email, or named like a field the proxy sets itself;
    /// a ceiling of matches that would hold every opt-out by email, or
    /// none.
    pub fn check(&self, kind: KeyKind) -> Result<(), String> {
        let opt_out = self.opt_out_field.as_str();
        let taken = [self.custom_key_field.as_str(), "email", "PKey", "href"];
        if taken.iter().any(|name| name.eq_ignore_ascii_case(opt_out))
            || self
                .sensitive_field
                .as_ref()
                .is_some_and(|field| field.as_str().eq_ignore_ascii_case(opt_out))
        {
            return Err(format!(
                "campaign.opt_out_field ({opt_out}) names a field the proxy reads or sets \
                 for something else: it must be the boolean field of the opt-out of sale"
            ));
        }
        // Campaign's own fields and routes (`blackListEmail`, `email`, a
        // `by…` filter) are never the opt-out: writing the opt-out of sale
        // into the email block list would re-subscribe whoever allows sale.
        let own = opt_out != "ccpaOptOut"
            && !opt_out.starts_with("cus")
            && crate::identity::names_a_campaign_route(opt_out);
        if own {
            return Err(format!(
                "campaign.opt_out_field ({opt_out}) is one of Campaign's own fields: it must be \
                 the field of the opt-out of sale (ccpaOptOut, or a field of your own)"
            ));
        }
        if !(1..=MOST_EMAIL_MATCHES).contains(&self.max_email_matches) {
            return Err(format!(
                "campaign.max_email_matches ({}) must be between 1 and {MOST_EMAIL_MATCHES}",
                self.max_email_matches
            ));
        }
        let Some(field) = &self.sensitive_field else {
            return Ok(());
        };
        if kind == KeyKind::Email {
            return Err(format!(
                "campaign.sensitive_field ({field}) needs identity.key_kind = \"custom-key\": \
                 custom fields are read, and the limit found, by custom key only"
            ));
        }
        if field.as_str().eq_ignore_ascii_case(&self.custom_key_field) {
            return Err(format!(
                "campaign.sensitive_field ({field}) is the custom key field: it must be a \
                 boolean field of its own"
            ));
        }
        Ok(())
    }
}

/// A custom field's name as Campaign's API spells it (`cusLimitSensitive`):
/// `cus`, then letters, digits or `_`. Campaign prefixes every custom field
/// so; requiring it keeps out its own booleans (`blackList`,
/// `blackListEmail`, `ccpaOptOut`), which a choice must never write.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FieldName(String);

impl FieldName {
    /// The name, as sent to Campaign.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FieldName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let rest = name.strip_prefix("cus").unwrap_or_default();
        let shaped = !rest.is_empty()
            && name.len() <= 64
            && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !shaped {
            return Err(format!(
                "{name:?} is not a Campaign custom field (cus, then letters, digits or _)"
            ));
        }
        Ok(Self(name))
    }
}

impl std::fmt::Display for FieldName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which of Adobe's profile APIs the tenant speaks. Everything that
/// differs between them is data in `campaign::api`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CampaignApi {
    /// Campaign Standard's REST API.
    #[default]
    Standard,
    /// The same API on a Campaign Standard tenant migrated to Campaign v8
    /// (Adobe: "Campaign Standard APIs for migrated users").
    V8Migrated,
}

impl CampaignApi {
    /// The name used in settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::V8Migrated => "v8-migrated",
        }
    }
}

/// A field's or filter's name as Campaign's REST API spells it: a letter,
/// then letters, digits or `_` (at most 64). Nothing else can reach a URL
/// path or a JSON key the proxy builds from it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ApiName(String);

impl ApiName {
    /// The name, as sent to Campaign.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ApiName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let shaped = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !shaped {
            return Err(format!(
                "{name:?} is not a name Campaign's REST API uses (a letter, then letters, \
                 digits or _)"
            ));
        }
        Ok(Self(name))
    }
}

impl From<&str> for ApiName {
    /// For names written in code, known to be shaped.
    fn from(name: &str) -> Self {
        Self::try_from(name.to_owned()).expect("a REST API name")
    }
}

impl std::fmt::Display for ApiName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the signed-in user's key finds their Campaign profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// `profileAndServicesExt/profile/<customKey>`.
    CustomKey,
    /// `profileAndServices/profile/byEmail?email=<email>`.
    Email,
}

impl KeyKind {
    /// The name used in settings and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomKey => "custom-key",
            Self::Email => "email",
        }
    }

    /// The kind named `name` by [`KeyKind::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        [Self::CustomKey, Self::Email]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// Verification of the sign-in token. Its keys come from exactly one of
/// `hs256_secret`, `public_key_pem` and `jwks_url`.
#[derive(Debug, Clone, Deserialize)]
pub struct IdentitySettings {
    /// The HS256 key shared with the host's backend.
    #[serde(default)]
    pub hs256_secret: Option<SecretString>,
    /// The public key of whoever signs the tokens, in PEM: RSA of 2048 to
    /// 4096 bits (RS256), P-256 (ES256) or Ed25519 (EdDSA).
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// The identity provider's published keys (JWKS): RS256, ES256 and
    /// EdDSA keys are used, others ignored.
    #[serde(default)]
    pub jwks_url: Option<Url>,
    /// A read of the set, for a token naming a `kid` it lacks or after a
    /// failed read, begins at most this often (seconds; above 0).
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh_secs: u64,
    /// The set is read again when it is this old (seconds), so a key the
    /// provider withdrew stops being trusted.
    #[serde(default = "default_jwks_max_age")]
    pub jwks_max_age_secs: u64,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// The claim holding the user's business key.
    #[serde(default = "default_key_claim")]
    pub key_claim: String,
    /// What that key is.
    #[serde(default = "default_key_kind")]
    pub key_kind: KeyKind,
    /// Tokens that claim to live longer than this are refused (seconds).
    #[serde(default = "default_max_token_lifetime")]
    pub max_token_lifetime_secs: u64,
    /// Besides ASCII letters and digits, the characters a custom key may
    /// hold. Never `@` (a Campaign PKey starts so), `/`, `\`, `;`, `?`,
    /// `#`, `%` or whitespace: a key is a path segment of Campaign's URL.
    #[serde(default = "default_custom_key_symbols")]
    pub custom_key_symbols: KeySymbols,
}

impl IdentitySettings {
    /// Refuses anything but exactly one source of keys, and an HS256
    /// secret too short to resist guessing: RFC 7518 asks for a key at
    /// least as long as the hash, 32 bytes.
    pub fn check(&self) -> Result<(), String> {
        let sources = [
            self.hs256_secret.is_some(),
            self.public_key_pem.is_some(),
            self.jwks_url.is_some(),
        ];
        if sources.into_iter().filter(|set| *set).count() != 1 {
            return Err(
                "set exactly one of identity.hs256_secret, identity.public_key_pem and \
                        identity.jwks_url"
                    .into(),
            );
        }
        if self.jwks_url.is_some()
            && (self.jwks_min_refresh_secs == 0
                || self.jwks_max_age_secs < self.jwks_min_refresh_secs)
        {
            return Err("identity.jwks_min_refresh_secs must be above 0, and \
                        identity.jwks_max_age_secs at least as long"
                .into());
        }
        let length = self
            .hs256_secret
            .as_ref()
            .map_or(MIN_SECRET_BYTES, |secret| secret.expose_secret().len());
        if length < MIN_SECRET_BYTES {
            return Err(format!(
                "identity.hs256_secret has {length} bytes; it needs at least \
                 {MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)"
            ));
        }
        Ok(())
    }
}

/// RFC 7518 § 3.2: an HS256 key at least as long as the hash.
const MIN_SECRET_BYTES: usize = 32;

/// The symbols a custom key may hold besides ASCII letters and digits,
/// checked once at load.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct KeySymbols(String);

impl KeySymbols {
    /// Whether `c` may appear in a custom key.
    pub fn allows(&self, c: char) -> bool {
        c.is_ascii_alphanumeric() || self.0.contains(c)
    }
}

impl TryFrom<String> for KeySymbols {
    type Error = String;

    fn try_from(symbols: String) -> Result<Self, String> {
        const NEVER: &str = "@/\\;?#%";
        match symbols
            .chars()
            .find(|&c| NEVER.contains(c) || !c.is_ascii_graphic())
        {
            Some(c) => Err(format!(
                "identity.custom_key_symbols may not hold {c:?}: a key is a path segment of \
                 Campaign's URL, and a leading @ names a profile by its PKey"
            )),
            None => Ok(Self(symbols)),
        }
    }
}

/// The demo sign-in: `/demo/*` routes that mint tokens for any customer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DemoSettings {
    /// Off unless set; never enable it where real profiles live.
    #[serde(default)]
    pub enabled: bool,
}

impl DemoSettings {
    /// The demo mints its tokens itself, so it needs the shared secret.
    pub fn check(&self, identity: &IdentitySettings) -> Result<(), String> {
        if self.enabled && identity.hs256_secret.is_none() {
            return Err(
                "demo.enabled needs identity.hs256_secret: the demo signs its own tokens".into(),
            );
        }
        Ok(())
    }
}

fn default_jwks_min_refresh() -> u64 {
    60
}
fn default_jwks_max_age() -> u64 {
    3_600
}
fn default_reads_per_minute() -> u32 {
    60
}
fn default_changes_per_minute() -> u32 {
    20
}
fn default_per_client_per_minute_all() -> u32 {
    600
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_write_timeout_ms() -> u64 {
    30_000
}
fn default_body_timeout_ms() -> u64 {
    10_000
}
fn default_max_connections_open() -> usize {
    10_000
}
fn default_max_connections_per_client() -> usize {
    256
}
fn default_custom_key_symbols() -> KeySymbols {
    KeySymbols("-_.".into())
}
fn default_standard_resource() -> String {
    "profileAndServices".into()
}
fn default_extended_resource() -> String {
    "profileAndServicesExt".into()
}
fn default_timeout_ms() -> u64 {
    5_000
}
fn default_report_interval_ms() -> u64 {
    60_000
}
fn default_worker_share_percent() -> u8 {
    50
}
fn default_max_calls_per_second() -> u32 {
    50
}
fn default_max_concurrency() -> usize {
    32
}
fn default_health_check_ms() -> u64 {
    30_000
}
fn default_migrate() -> bool {
    true
}
fn default_per_client_per_minute() -> u32 {
    10
}
fn default_per_address_per_hour() -> u32 {
    3
}
fn default_new_profiles_per_hour() -> u32 {
    100
}
fn default_new_profiles_per_day() -> u32 {
    1_000
}
fn default_privacy_service_url() -> Url {
    Url::parse("https://platform.adobe.io").expect("a valid URL")
}
fn default_privacy_calls_per_second() -> u32 {
    10
}
fn default_privacy_concurrency() -> usize {
    4
}
fn default_privacy_per_client_per_minute() -> u32 {
    10
}
fn default_privacy_browsers_per_minute() -> u32 {
    600
}
fn default_stuck_after_ms() -> u64 {
    3_600_000
}
/// The highest `campaign.max_email_matches`: some 4,000 pages of
/// `byEmail`, each a call.
const MOST_EMAIL_MATCHES: usize = 100_000;

fn default_max_email_matches() -> usize {
    1_000
}
fn default_true() -> bool {
    true
}
fn default_opt_out_field() -> ApiName {
    ApiName::from("ccpaOptOut")
}
fn default_custom_key_field() -> String {
    "cusCustomerId".into()
}
fn default_max_connections() -> u32 {
    8
}
fn default_poll_interval_ms() -> u64 {
    1_000
}
fn default_backoff_base_ms() -> u64 {
    1_000
}
fn default_backoff_max_ms() -> u64 {
    300_000
}
fn default_max_strikes() -> u32 {
    20
}
fn default_key_claim() -> String {
    "sub".into()
}
fn default_key_kind() -> KeyKind {
    KeyKind::CustomKey
}
fn default_max_token_lifetime() -> u64 {
    3_600
}

/// Settings that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Missing, malformed or out of range.
    #[error(transparent)]
    Invalid(#[from] config::ConfigError),
    /// Keys no setting has: a misspelt one would otherwise be silence, and
    /// the default it meant to change would quietly apply. Every one read
    /// is named, in order (reading stops at an invalid value).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Unknown(Vec<UnknownKey>),
    /// Environment variables shaped like settings but for their prefix
    /// (`CCPA_CAMPAIGN__API`): read by nothing, so silence too.
    #[error(
        "{}",
        .0.iter()
            .map(|name| format!(
                "the environment variable `{name}` is read by nothing: settings start with \
                 `CCPA__` (two underscores); did you mean `CCPA__{}`?",
                name.strip_prefix("CCPA_").unwrap_or(name)
            ))
            .collect::<Vec<_>>()
            .join("; ")
    )]
    Prefix(Vec<String>),
}

/// A key no setting has, as the operator wrote it.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownKey {
    /// Dotted (`campaign.sensitive_feild`), or a whole section (`campain`).
    pub key: String,
    /// The known key (or section) it was likely meant to be, if one is
    /// close: a far one would send the operator to the wrong setting.
    pub nearest: Option<&'static str>,
}

impl std::fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let variable = format!("CCPA__{}", self.key.replace('.', "__").to_uppercase());
        let variable = if self.key.contains('.') {
            variable
        } else {
            format!("{variable}__…")
        };
        write!(
            f,
            "unknown setting `{}` (in the file, or as {variable} in the environment); ",
            self.key
        )?;
        match self.nearest {
            Some(nearest) => write!(f, "did you mean `{nearest}`?"),
            None => write!(
                f,
                "no setting is near it (the settings: docs/operations.md, Configuration)"
            ),
        }
    }
}

/// Loads settings from `file` (which must exist, if named) and the
/// environment (`CCPA__SECTION__KEY`), refusing keys no setting has.
pub fn load(file: Option<&std::path::Path>) -> Result<Settings, SettingsError> {
    settings_prefixed_right(std::env::vars_os())?;
    known_keys_only(sources(file)?)
}

/// Refuses environment variables that name a section of the settings and
/// a key under `CCPA_` rather than `CCPA__` (`CCPA_STORAGE__URL`): the
/// settings' own prefix misspelt. Anything else under `CCPA_` is left
/// alone: the product's other variables (`CCPA_CONFIG`, `CCPA_LOG_JSON`,
/// the tests' and the demo's), and what platforms inject for a service
/// named `ccpa…` (`CCPA_A__B_SERVICE_HOST`).
fn settings_prefixed_right(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<(), SettingsError> {
    let mut misspelt: Vec<String> = vars
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| {
            let section = name
                .strip_prefix("CCPA_")
                .and_then(|rest| rest.split_once("__"))
                .map(|(section, _)| section.to_ascii_lowercase());
            section.is_some_and(|section| SECTIONS.contains(&section.as_str()))
        })
        .collect();
    if misspelt.is_empty() {
        return Ok(());
    }
    misspelt.sort();
    Err(SettingsError::Prefix(misspelt))
}

/// Loads only the storage settings: what the audit export needs, so that
/// the privacy team can run it without Campaign or signing secrets.
pub fn load_storage(file: Option<&std::path::Path>) -> Result<StorageSettings, SettingsError> {
    settings_prefixed_right(std::env::vars_os())?;
    storage_from(sources(file)?)
}

/// What the storage-only commands read: `[storage]`, judged key by key;
/// the other sections as they are (not theirs to judge, and they may hold
/// secrets these commands need not check), but no section the proxy does
/// not have (a misspelt `[storge]` would leave them on the default
/// database, migrating or exporting the wrong one).
#[derive(Deserialize)]
struct StorageOnly {
    #[serde(default)]
    storage: StorageSettings,
    #[serde(rename = "server")]
    _server: Option<config::Value>,
    #[serde(rename = "campaign")]
    _campaign: Option<config::Value>,
    #[serde(rename = "identity")]
    _identity: Option<config::Value>,
    #[serde(rename = "delivery")]
    _delivery: Option<config::Value>,
    #[serde(rename = "demo")]
    _demo: Option<config::Value>,
    #[serde(rename = "email_opt_out")]
    _email_opt_out: Option<config::Value>,
    #[serde(rename = "limits")]
    _limits: Option<config::Value>,
}

fn storage_from(sources: config::Config) -> Result<StorageSettings, SettingsError> {
    known_keys_only::<StorageOnly, _>(sources).map(|only| only.storage)
}

/// Deserializes `from`, or names every key it has that no setting takes.
fn known_keys_only<'de, T, D>(from: D) -> Result<T, SettingsError>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de, Error = config::ConfigError>,
{
    let mut ignored = Vec::new();
    let settings = serde_ignored::deserialize(from, |path| ignored.push(path.to_string()));
    if ignored.is_empty() {
        return Ok(settings?);
    }
    ignored.sort();
    Err(SettingsError::Unknown(
        ignored
            .into_iter()
            .map(|key| UnknownKey {
                nearest: nearest(&key),
                key,
            })
            .collect(),
    ))
}

/// The known key (or, for a whole section, the section) `key` was likely
/// meant to be: a key written with `_` for `.` (`CCPA__STORAGE_URL` is
/// `storage_url`), one in the same section whose name holds the given one
/// (`campaign.secret`: `campaign.client_secret`), else the closest by
/// edit distance if it is within a third of the key's length.
fn nearest(key: &str) -> Option<&'static str> {
    if let Some(&flat) = KEYS.iter().find(|k| k.replace('.', "_") == key) {
        return Some(flat);
    }
    let known = || {
        KEYS.iter().map(|&known| match known.split_once('.') {
            Some((section, _)) if !key.contains('.') => section,
            _ => known,
        })
    };
    if let Some((section, name)) = key.split_once('.') {
        let holding = known().find(|k| {
            k.split_once('.')
                .is_some_and(|(s, n)| s == section && n.contains(name))
        });
        if holding.is_some() {
            return holding;
        }
    }
    known()
        .map(|k| (strsim::levenshtein(k, key), k))
        .min()
        .filter(|(distance, _)| *distance <= (key.len() / 3).max(2))
        .map(|(_, k)| k)
}

/// The sections of the settings, as `CCPA_<SECTION>__…` would name them.
const SECTIONS: [&str; 9] = [
    "server",
    "campaign",
    "identity",
    "storage",
    "delivery",
    "demo",
    "email_opt_out",
    "limits",
    "privacy_service",
];

/// Every setting's key, for naming the nearest to an unknown one. The
/// tests check that each is a key the settings take, and that
/// docs/operations.md lists each.
const KEYS: [&str; 76] = [
    "server.listen",
    "server.allowed_origins",
    "server.widget_dir",
    "server.secure_cookies",
    "server.log_tag_key",
    "server.header_read_timeout_ms",
    "server.body_timeout_ms",
    "server.write_timeout_ms",
    "server.request_timeout_ms",
    "server.max_connections",
    "server.max_connections_per_client",
    "server.shutdown_timeout_ms",
    "server.admin_listen",
    "server.trusted_proxies",
    "server.forwarded_header",
    "campaign.api",
    "campaign.opt_out_field",
    "campaign.email_filter",
    "campaign.base_url",
    "campaign.organization",
    "campaign.standard_resource",
    "campaign.extended_resource",
    "campaign.ims_token_url",
    "campaign.client_id",
    "campaign.client_secret",
    "campaign.scope",
    "campaign.timeout_ms",
    "campaign.max_concurrency",
    "campaign.max_calls_per_second",
    "campaign.create_missing_profiles",
    "campaign.max_email_matches",
    "campaign.custom_key_field",
    "campaign.sensitive_field",
    "campaign.verify_returned_key",
    "campaign.health_check_ms",
    "identity.hs256_secret",
    "identity.public_key_pem",
    "identity.jwks_url",
    "identity.jwks_min_refresh_secs",
    "identity.jwks_max_age_secs",
    "identity.issuer",
    "identity.audience",
    "identity.key_claim",
    "identity.key_kind",
    "identity.max_token_lifetime_secs",
    "identity.custom_key_symbols",
    "storage.url",
    "storage.max_connections",
    "storage.sqlite_synchronous",
    "storage.migrate",
    "delivery.poll_interval_ms",
    "delivery.backoff_base_ms",
    "delivery.backoff_max_ms",
    "delivery.attempt_timeout_ms",
    "delivery.lease_ms",
    "delivery.max_strikes",
    "delivery.worker_share_percent",
    "delivery.report_interval_ms",
    "delivery.stuck_after_ms",
    "demo.enabled",
    "email_opt_out.enabled",
    "email_opt_out.per_client_per_minute",
    "email_opt_out.per_address_per_hour",
    "email_opt_out.new_profiles_per_hour",
    "email_opt_out.new_profiles_per_day",
    "limits.reads_per_minute",
    "limits.changes_per_minute",
    "limits.per_client_per_minute",
    "privacy_service.enabled",
    "privacy_service.base_url",
    "privacy_service.ims_org",
    "privacy_service.timeout_ms",
    "privacy_service.max_calls_per_second",
    "privacy_service.max_concurrency",
    "privacy_service.per_client_per_minute",
    "privacy_service.browsers_per_minute",
];

fn sources(file: Option<&std::path::Path>) -> Result<config::Config, config::ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(file) = file {
        builder = builder.add_source(config::File::from(file).required(true));
    }
    builder
        .add_source(
            config::Environment::with_prefix("CCPA")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("server.allowed_origins")
                .with_list_parse_key("server.trusted_proxies")
                .try_parsing(true),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_the_environment_leaves_out() {
        let settings: Settings = from_toml(REQUIRED).try_deserialize().unwrap();
        assert_eq!(settings.campaign.extended_resource, "profileAndServicesExt");
        assert!(settings.campaign.check(KeyKind::CustomKey).is_ok());
        for wrong in [0, 100_001, usize::MAX] {
            let mut campaign = settings.campaign.clone();
            campaign.max_email_matches = wrong;
            let refused = campaign.check(KeyKind::CustomKey).unwrap_err();
            assert!(refused.contains("campaign.max_email_matches"), "{refused}");
        }
        assert_eq!(settings.identity.key_kind, KeyKind::CustomKey);
        assert!(!settings.demo.enabled);
        assert_eq!(settings.delivery.max_strikes, 20);
        assert_eq!(settings.storage.sqlite_synchronous, Synchronous::Full);
        let printed = format!("{settings:?}");
        assert!(
            printed.contains("client_id: \"id\""),
            "the settings print: {printed}"
        );
        for secret in ["client-s3cr3t", "signing-s3cr3t"] {
            assert!(!printed.contains(secret), "{secret} printed: {printed}");
        }
    }

    /// The tenant's API, its opt-out field and its email filter: read from
    /// the file, shaped, and never a field the proxy uses for another end.
    #[test]
    fn the_tenants_api_is_a_setting_with_names_it_can_use() {
        let settings: Settings = from_toml(REQUIRED).try_deserialize().unwrap();
        let campaign = &settings.campaign;
        assert_eq!(campaign.api, CampaignApi::Standard);
        assert_eq!(campaign.opt_out_field.as_str(), "ccpaOptOut");
        assert_eq!(campaign.email_filter, None, "the API's own");
        let migrated = REQUIRED.replace(
            "[campaign]",
            "[campaign]\napi = \"v8-migrated\"\nopt_out_field = \"cusDoNotSell\"",
        );
        let settings: Settings = from_toml(&migrated).try_deserialize().unwrap();
        assert_eq!(settings.campaign.api, CampaignApi::V8Migrated);
        assert_eq!(settings.campaign.opt_out_field.as_str(), "cusDoNotSell");
        for wrong in [
            "",
            "1field",
            "ccpa/OptOut",
            "opt out",
            "x".repeat(65).as_str(),
        ] {
            assert!(ApiName::try_from(wrong.to_owned()).is_err(), "{wrong:?}");
        }
        for taken in [
            "cusCustomerId",
            "email",
            "pkey",
            "href",
            "cusLimitSensitive",
            "blackListEmail",
            "byEmail",
        ] {
            let mut campaign = settings.campaign.clone();
            campaign.sensitive_field = Some(FieldName("cusLimitSensitive".into()));
            campaign.opt_out_field = ApiName::from(taken);
            let refused = campaign.check(KeyKind::CustomKey).unwrap_err();
            assert!(refused.contains("campaign.opt_out_field"), "{refused}");
        }
    }

    /// A variable meant as a setting, with its prefix misspelt, is named
    /// with the one meant; the product's other variables pass.
    #[test]
    fn a_settings_variable_with_a_misspelt_prefix_is_named() {
        let vars = |names: &[&str]| {
            names
                .iter()
                .map(|name| (name.into(), "x".into()))
                .collect::<Vec<(std::ffi::OsString, std::ffi::OsString)>>()
                .into_iter()
        };
        for key in KEYS {
            let (section, _) = key.split_once('.').unwrap();
            assert!(SECTIONS.contains(&section), "{section} is a section");
        }
        let others = [
            "CCPA_CONFIG",
            "CCPA_LOG_JSON",
            "CCPA_TEST_POSTGRES_URL",
            "CCPA_A__B_SERVICE_HOST",
            "CCPA_ENV_CCPA__STORAGE__URL",
        ];
        assert!(settings_prefixed_right(vars(&others)).is_ok());
        assert!(settings_prefixed_right(vars(&["CCPA__CAMPAIGN__API", "PATH"])).is_ok());
        let refused = settings_prefixed_right(vars(&["CCPA_STORAGE__URL", "CCPA_CAMPAIGN__API"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            "the environment variable `CCPA_CAMPAIGN__API` is read by nothing: settings start \
             with `CCPA__` (two underscores); did you mean `CCPA__CAMPAIGN__API`?; the \
             environment variable `CCPA_STORAGE__URL` is read by nothing: settings start with \
             `CCPA__` (two underscores); did you mean `CCPA__STORAGE__URL`?"
        );
    }

    /// The settings that have no default.
    const REQUIRED: &str = r#"
        [server]
        listen = "127.0.0.1:0"
        [campaign]
        base_url = "http://127.0.0.1:1"
        organization = "org"
        ims_token_url = "http://127.0.0.1:1/ims/token/v3"
        client_id = "id"
        client_secret = "client-s3cr3t"
        scope = "campaign"
        [identity]
        hs256_secret = "signing-s3cr3t"
        issuer = "i"
        audience = "a"
    "#;

    fn from_toml(toml: &str) -> config::Config {
        config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .unwrap()
    }

    #[test]
    fn every_listed_key_is_a_setting_and_documented() {
        let documented = include_str!("../../docs/operations.md");
        for key in KEYS {
            let (section, name) = key.split_once('.').unwrap();
            let taken =
                known_keys_only::<Settings, _>(from_toml(&format!("[{section}]\n{name} = 1")));
            assert!(
                !matches!(taken, Err(SettingsError::Unknown(_))),
                "{key}: {taken:?}"
            );
            assert!(
                documented.contains(&format!("`{key}`")),
                "{key} is not in docs/operations.md"
            );
        }
    }

    fn unknown_keys(refused: Result<impl std::fmt::Debug, SettingsError>) -> Vec<UnknownKey> {
        match refused {
            Err(SettingsError::Unknown(keys)) => keys,
            other => panic!("not refused for an unknown key: {other:?}"),
        }
    }

    #[test]
    fn every_unknown_key_is_named_with_a_near_one_if_there_is_one() {
        // Settings otherwise complete: keys past an invalid value would go
        // unseen (the first error stops the reading).
        let mut sources = config::Config::builder()
            .add_source(config::File::from_str(REQUIRED, config::FileFormat::Toml));
        for (key, value) in [
            ("campaign.sensitive_feild", "x"),
            ("campaign.secret", "x"),
            ("campaign.retry_budget", "3"),
            ("campain.base_url", "x"),
            ("server.trusted_proxy", "10.0.0.0/8"),
        ] {
            sources = sources.set_override(key, value).unwrap();
        }
        let keys = unknown_keys(known_keys_only::<Settings, _>(sources.build().unwrap()));
        let named: Vec<_> = keys.iter().map(|k| (k.key.as_str(), k.nearest)).collect();
        assert_eq!(
            named,
            [
                ("campaign.retry_budget", None),
                ("campaign.secret", Some("campaign.client_secret")),
                ("campaign.sensitive_feild", Some("campaign.sensitive_field")),
                ("campain", Some("campaign")),
                ("server.trusted_proxy", Some("server.trusted_proxies")),
            ]
        );
        let said = SettingsError::Unknown(keys).to_string();
        for words in [
            "unknown setting `campaign.sensitive_feild` (in the file, or as \
             CCPA__CAMPAIGN__SENSITIVE_FEILD in the environment); did you mean \
             `campaign.sensitive_field`?",
            "`campain` (in the file, or as CCPA__CAMPAIN__… in the environment); did you mean `campaign`?",
            "`campaign.retry_budget` (in the file, or as CCPA__CAMPAIGN__RETRY_BUDGET in the \
             environment); no setting is near it",
        ] {
            assert!(said.contains(words), "{words:?} not in {said}");
        }
    }

    #[test]
    fn the_storage_commands_refuse_an_unknown_storage_key_or_section_and_leave_the_rest() {
        for (toml, key, nearest) in [
            (
                "[storage]\nurls = \"sqlite://x.db\"",
                "storage.urls",
                "storage.url",
            ),
            ("[storge]\nurl = \"postgres://h/db\"", "storge", "storage"),
            (
                "storage_url = \"postgres://h/db\"",
                "storage_url",
                "storage.url",
            ),
        ] {
            let keys = unknown_keys(storage_from(from_toml(toml)));
            assert_eq!(
                keys,
                [UnknownKey {
                    key: key.into(),
                    nearest: Some(nearest)
                }],
                "{toml}"
            );
        }
        let elsewhere = storage_from(from_toml(
            "[storage]\nurl = \"sqlite://x.db\"\n[campaign]\nsensitive_feild = \"x\"",
        ));
        assert!(elsewhere.is_ok(), "{elsewhere:?}");
    }

    #[test]
    fn privacy_service_needs_an_organization_shaped_as_adobes_when_enabled() {
        let mut privacy = PrivacyServiceSettings::default();
        assert_eq!(privacy.check(), Ok(()), "off: nothing to check");
        privacy.enabled = true;
        for wrong in [
            None,
            Some("demo-org"),
            Some("@AdobeOrg"),
            Some("ab cd@AdobeOrg"),
        ] {
            privacy.ims_org = wrong.map(str::to_owned);
            let refused = privacy.check().unwrap_err();
            assert!(refused.contains("privacy_service.ims_org"), "{refused}");
        }
        privacy.ims_org = Some("0123456789ABCDEF01234567@AdobeOrg".into());
        assert_eq!(privacy.check(), Ok(()));
    }

    #[test]
    fn the_example_file_is_complete_once_secrets_are_given() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../ccpa-proxy.example.toml");
        let settings: Settings = known_keys_only(
            config::Config::builder()
                .add_source(config::File::with_name(example))
                .set_override("campaign.client_secret", "s")
                .unwrap()
                .set_override("identity.hs256_secret", "k")
                .unwrap()
                .build()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(settings.campaign.base_url.as_str(), "https://mc.adobe.io/");
        assert_eq!(settings.identity.key_kind, KeyKind::CustomKey);
    }
}
