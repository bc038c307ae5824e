//! The audit trail as the privacy team receives it: one record per accepted
//! request, with the fields § 7101 of the CCPA regulations asks a business to
//! keep (date, nature and manner of the request; date and nature of the
//! response; basis of a denial), as JSON lines or CSV.

use std::io::Write;

use futures_util::TryStreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::store::{AuditRow, Store};

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// One exported record. Field names are the export's contract.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Order of acceptance.
    pub id: i64,
    /// The request id, as in the proxy's logs.
    pub request_id: String,
    /// Date of the request (RFC 3339, UTC).
    pub received_at: String,
    /// The host's subject: who asked.
    pub subject: String,
    /// Nature of the request: `opt-out` or `opt-in` (of sale and
    /// sharing), `limit-sensitive-use` or `allow-sensitive-use`.
    pub request: &'static str,
    /// Manner: `widget`, `gpc`, `email`, `browser` or `operator`.
    pub source: String,
    /// Whether the browser sent Global Privacy Control with it.
    pub gpc_signal: bool,
    /// Nature of the response: `applied`, `created`, `pending`,
    /// `superseded` (replaced by the same person's later choice before it
    /// was sent), `denied`, `failed`, `held` (for an operator) or `repeat`
    /// (covered by the same address's requests earlier that hour).
    pub outcome: String,
    /// Campaign's value before the change, when it was read.
    pub previous_value: Option<bool>,
    /// How many Campaign profiles the response changed (PATCHed or
    /// created): an opt-out by email reaches every profile with the
    /// address.
    pub profiles_changed: Option<i64>,
    /// Date of the response: when Campaign took it, or it was decided.
    pub responded_at: Option<String>,
    /// Basis of a denial.
    pub basis: Option<String>,
    /// How Adobe's Privacy Service answered, per identity's namespace, when
    /// it was told (`privacy_service.enabled`): `ECID:pending
    /// email:applied`; the identities themselves are not exported.
    pub privacy_service: Option<String>,
}

impl From<AuditRow> for AuditRecord {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            request_id: row.request_id,
            received_at: rfc3339(row.received_at),
            subject: row.subject,
            request: match (row.choice.as_str(), row.requested) {
                ("sensitive", true) => "limit-sensitive-use",
                ("sensitive", false) => "allow-sensitive-use",
                (_, true) => "opt-out",
                (_, false) => "opt-in",
            },
            source: row.source,
            gpc_signal: row.gpc,
            outcome: row.outcome.unwrap_or_else(|| "pending".into()),
            previous_value: row.previous,
            profiles_changed: row.profiles_changed,
            responded_at: row.decided_at.map(rfc3339),
            basis: row.basis,
            privacy_service: row.privacy_service,
        }
    }
}

const CSV_HEADER: [&str; 13] = [
    "id",
    "requestId",
    "receivedAt",
    "subject",
    "request",
    "source",
    "gpcSignal",
    "outcome",
    "previousValue",
    "profilesChanged",
    "respondedAt",
    "basis",
    "privacyService",
];

impl AuditRecord {
    fn csv_fields(&self) -> [String; 13] {
        let optional = |value: Option<String>| value.unwrap_or_default();
        [
            self.id.to_string(),
            self.request_id.clone(),
            self.received_at.clone(),
            self.subject.clone(),
            self.request.to_owned(),
            self.source.clone(),
            self.gpc_signal.to_string(),
            self.outcome.clone(),
            optional(self.previous_value.map(|v| v.to_string())),
            optional(self.profiles_changed.map(|v| v.to_string())),
            optional(self.responded_at.clone()),
            optional(self.basis.clone()),
            optional(self.privacy_service.clone()),
        ]
    }
}

/// Writes the records accepted in `[from, to)` (Unix ms) to `out`; returns
/// how many.
pub async fn export(
    store: &Store,
    from: i64,
    to: i64,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    if format == Format::Csv {
        write_csv_line(out, CSV_HEADER.map(str::to_owned))?;
    }
    let mut rows = std::pin::pin!(store.audit(from, to));
    let mut count = 0;
    while let Some(row) = rows.try_next().await? {
        let record = AuditRecord::from(row);
        match format {
            Format::Jsonl => {
                serde_json::to_writer(&mut *out, &record)?;
                out.write_all(b"\n")?;
            }
            Format::Csv => write_csv_line(out, record.csv_fields())?,
        }
        count += 1;
    }
    out.flush()?;
    Ok(count)
}

fn write_csv_line(out: &mut impl Write, fields: [String; 13]) -> std::io::Result<()> {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(out, "{}", line.join(","))
}

/// Quotes a field when it needs it (RFC 4180). A field a spreadsheet would
/// run as a formula (`=`, `+`, `-`, `@`, or a tab or carriage return before
/// one, as OWASP lists them) is prefixed with `'`: subjects come from the
/// host's tokens, and the export is opened by people.
fn csv_field(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}")
    } else {
        field.to_owned()
    };
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

/// `unix_ms` as an RFC 3339 time (UTC).
pub fn rfc3339(unix_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The business days a business has to act on a request to opt out
/// (CCPA regulations § 7026(f)).
const RESPONSE_BUSINESS_DAYS: u32 = 15;

/// When the response to a request received at `received_ms` (Unix ms) is
/// due: 15 business days later, counting Monday to Friday in UTC. Public
/// holidays are counted as business days, which can only bring the
/// deadline earlier.
pub fn response_deadline(received_ms: i64) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    let weekday = |at_ms: i64| {
        OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1_000))
            .map_or(time::Weekday::Monday, OffsetDateTime::weekday)
    };
    let mut due = received_ms;
    let mut counted = 0;
    while counted < RESPONSE_BUSINESS_DAYS {
        due += DAY_MS;
        if !matches!(
            weekday(due),
            time::Weekday::Saturday | time::Weekday::Sunday
        ) {
            counted += 1;
        }
    }
    due
}

/// Parses `2026-11-01` (UTC midnight) or an RFC 3339 time into Unix ms.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let at = OffsetDateTime::parse(text, &Rfc3339).or_else(|_| {
        let date = time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| format!("`{text}` is neither YYYY-MM-DD nor an RFC 3339 time"))?;
        Ok::<_, String>(date.midnight().assume_utc())
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| "time out of range".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("CUST-1001"), "CUST-1001");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        for formula in ["=HYPERLINK(1)", "+1", "-1", "@SUM(1)", "\t=1", "\r=1"] {
            assert!(
                csv_field(formula).trim_start_matches('"').starts_with('\''),
                "{formula:?}"
            );
        }
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("\r=1"), "\"'\r=1\"");
    }

    /// A field as a spreadsheet reads it back (RFC 4180).
    fn read_back(written: &str) -> String {
        match written.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None => written.to_owned(),
        }
    }

    proptest::proptest! {
        /// Every field reads back as written (with `'` before a formula),
        /// never runs as a formula, and never breaks the row.
        #[test]
        fn every_field_reads_back_and_never_runs_as_a_formula(
            field in "\\PC{0,40}|[=+@\t\r-][\\PC\n,\"]{0,12}"
        ) {
            let written = csv_field(&field);
            let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
            let expected = if formula { format!("'{field}") } else { field.clone() };
            proptest::prop_assert_eq!(read_back(&written), expected);
            if !written.starts_with('"') {
                proptest::prop_assert!(!written.contains([',', '"', '\n', '\r']));
            }
        }
    }

    #[test]
    fn the_response_is_due_fifteen_business_days_later() {
        let at = |text| parse_time(text).unwrap();
        // Friday 2026-12-04: three weeks on, the weekends left out.
        assert_eq!(
            rfc3339(response_deadline(at("2026-12-04T10:00:00Z"))),
            "2026-12-25T10:00:00Z"
        );
        // Received on a Saturday: counting starts on Monday.
        assert_eq!(
            rfc3339(response_deadline(at("2026-12-05T10:00:00Z"))),
            "2026-12-25T10:00:00Z"
        );
        assert_eq!(
            rfc3339(response_deadline(at("2026-12-07T00:00:00Z"))),
            "2026-12-28T00:00:00Z"
        );
    }

    #[test]
    fn times_parse_as_dates_or_rfc3339_and_print_back() {
        let midnight = parse_time("2026-11-23").unwrap();
        assert_eq!(parse_time("2026-11-23T00:00:00Z").unwrap(), midnight);
        assert_eq!(rfc3339(midnight), "2026-11-23T00:00:00Z");
        assert!(parse_time("yesterday").is_err());
    }
}
