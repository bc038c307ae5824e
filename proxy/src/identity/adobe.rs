//! The identities Adobe's products know a consumer by, as the proxy sends
//! them to Privacy Service: an email address, and the browser's Experience
//! Cloud ID (ECID).

use std::fmt;

use super::EmailAddress;

/// The fewest digits an ECID has. Adobe's own example has 30, the IDs its
/// Web SDK hands out 38; fewer is no ECID, whatever the page says.
const SHORTEST_ECID: usize = 20;

/// The most: far above any ECID Adobe documents, far below harm.
const LONGEST_ECID: usize = 40;

/// A browser's Experience Cloud ID, as Adobe's Web SDK
/// (`alloy("getIdentity")`) or Visitor API gives it: digits only. The page
/// sends it, so nothing else gets through: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Ecid(String);

impl Ecid {
    /// Parses `raw`, or says what is wrong with it (never echoing it).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if !(SHORTEST_ECID..=LONGEST_ECID).contains(&raw.len()) {
            return Err("an ECID has 20 to 40 digits");
        }
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err("an ECID has digits only");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ECID names a browser, and so a person: it stays out of logs.
impl fmt::Debug for Ecid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ecid(..)")
    }
}

/// One identity Privacy Service is told about.
#[derive(Clone, PartialEq, Eq)]
pub enum AdobeId {
    /// An email address: Privacy Service's `email` namespace.
    Email(EmailAddress),
    /// A browser's ECID: the `ECID` namespace.
    Ecid(Ecid),
}

impl AdobeId {
    /// Privacy Service's name for its namespace.
    pub fn namespace(&self) -> &'static str {
        match self {
            Self::Email(_) => "email",
            Self::Ecid(_) => "ECID",
        }
    }

    /// What names it among the deliveries: one row, one order of changes,
    /// per identity (an address's key ignores case).
    pub fn key(&self) -> &str {
        match self {
            Self::Email(address) => address.key(),
            Self::Ecid(ecid) => ecid.as_str(),
        }
    }

    /// The spelling of the request, where it differs from the key.
    pub fn given(&self) -> Option<&str> {
        match self {
            Self::Email(address) => address.given(),
            Self::Ecid(_) => None,
        }
    }

    /// Parses a stored identity back: `namespace`, its `key`, and the
    /// spelling given, if it differed.
    pub fn parse(namespace: &str, key: &str, given: Option<&str>) -> Result<Self, &'static str> {
        match namespace {
            "email" => EmailAddress::parse(given.unwrap_or(key)).map(Self::Email),
            "ECID" => Ecid::parse(key).map(Self::Ecid),
            _ => Err("a namespace this version does not send"),
        }
    }

    /// What Privacy Service is sent: every spelling Adobe's products may
    /// hold an address in (Adobe does not say whether it ignores case), or
    /// the ECID.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Self::Email(address) => address.spellings().collect(),
            Self::Ecid(ecid) => vec![ecid.as_str()],
        }
    }
}

/// Never the identity itself.
impl fmt::Debug for AdobeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdobeId({})", self.namespace())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ecid_is_digits_of_a_bounded_length() {
        for good in ["443636576799758681021090721276", &"7".repeat(38)] {
            assert_eq!(Ecid::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "1234",
            &"1".repeat(41),
            "44363657679975868102109072127x",
            " 443636576799758681021090721276",
            "４４３６３６５７６７９９７５８６８１０２１０９０",
        ] {
            assert!(Ecid::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            format!("{:?}", Ecid::parse(&"9".repeat(38)).unwrap()),
            "Ecid(..)"
        );
    }

    #[test]
    fn a_stored_identity_parses_back_with_its_spelling() {
        let address = EmailAddress::parse("Ada@Example.COM").unwrap();
        let id = AdobeId::Email(address);
        let back = AdobeId::parse(id.namespace(), id.key(), id.given()).unwrap();
        assert_eq!(back, id);
        assert_eq!(
            back.values(),
            ["Ada@Example.COM", "Ada@example.com", "ada@example.com"]
        );
        assert!(AdobeId::parse("phone", "1", None).is_err());
        assert!(!format!("{id:?}").contains("Ada"));
    }
}
