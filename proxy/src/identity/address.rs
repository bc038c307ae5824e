//! An email address as a key, parsed once into the spellings Campaign may
//! hold it in.
//!
//! Campaign's `byEmail` compares addresses as stored, case included (Adobe
//! does not document otherwise; see `docs/operations.md`, "Email keys"),
//! and people type the same address in several ways. So one address has:
//!
//! - its **key**: Unicode NFC, trimmed, all of it lower-cased. It names
//!   the person in the proxy (one pending change, one lease, one limit),
//!   and it is the spelling the proxy gives a profile it creates, so that
//!   every later spelling of the address, which always includes the key,
//!   finds that profile;
//! - the **spellings** Campaign is asked for: as given (NFC, trimmed), with
//!   the domain lower-cased (domains ignore case, by the DNS's rules), and
//!   the key.

use unicode_normalization::UnicodeNormalization;

/// The longest address (RFC 5321's path limit, less its brackets).
const MAX_ADDRESS_LEN: usize = 254;

/// The longest local part (RFC 5321).
const MAX_LOCAL_LEN: usize = 64;

/// An address whose domain is a host name and whose local part holds no
/// space or control character. Never printed: see [`EmailAddress::key`].
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress {
    /// As given, NFC and trimmed.
    given: String,
    /// `given` with its domain lower-cased.
    canonical: String,
    /// All of it lower-cased.
    key: String,
}

impl EmailAddress {
    /// Parses `raw`, or says what is wrong with it (never echoing it).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let given: String = raw.trim().nfc().collect();
        if given.is_empty() || given.len() > MAX_ADDRESS_LEN {
            return Err("key is empty or too long");
        }
        if given.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("key contains whitespace or control characters");
        }
        let (local, domain) = given
            .rsplit_once('@')
            .filter(|(local, _)| {
                !local.is_empty() && local.len() <= MAX_LOCAL_LEN && !local.contains('@')
            })
            .ok_or("key is not an email address")?;
        let domain = host_name(domain)
            .ok_or("key is not an email address: its domain is not a host name")?;
        let canonical = format!("{local}@{domain}");
        let key = canonical.to_lowercase().nfc().collect();
        Ok(Self {
            given,
            canonical,
            key,
        })
    }

    /// What identifies the person: see the module's description.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// As given (NFC, trimmed), where that differs from the key.
    pub fn given(&self) -> Option<&str> {
        (self.given != self.key).then_some(self.given.as_str())
    }

    /// The spellings to look the address up by, most likely first, each
    /// once.
    pub fn spellings(&self) -> impl Iterator<Item = &str> {
        let mut spellings = vec![self.given.as_str()];
        for other in [&self.canonical, &self.key] {
            if !spellings.contains(&other.as_str()) {
                spellings.push(other);
            }
        }
        spellings.into_iter()
    }
}

/// `domain` lower-cased, if it is a host name a mail server could have:
/// letters, digits and inner hyphens in labels of 1 to 63 characters (an
/// internationalized name as its Punycode spells it), at least two labels,
/// a top-level label not all digits (not an IP address), 253 characters in
/// all. Internationalized names are kept in their Unicode form, as people
/// type them.
fn host_name(domain: &str) -> Option<String> {
    let ascii = idna::domain_to_ascii_strict(domain).ok()?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let shaped = ascii.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    if !shaped {
        return None;
    }
    let (unicode, checked) = idna::domain_to_unicode(&ascii);
    checked.ok()?;
    Some(unicode.nfc().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> EmailAddress {
        EmailAddress::parse(raw).unwrap_or_else(|why| panic!("{raw:?}: {why}"))
    }

    #[test]
    fn an_address_has_one_key_whatever_its_case_form_or_padding() {
        let nfc = "Zoë@Example.COM";
        let nfd = "Zoe\u{308}@Example.COM";
        assert_ne!(nfc, nfd);
        for raw in [nfc, nfd, " zoë@example.com\t", "ZOË@EXAMPLE.COM"] {
            assert_eq!(parsed(raw).key(), "zoë@example.com", "{raw:?}");
        }
        let address = parsed(nfd);
        assert_eq!(
            address.spellings().collect::<Vec<_>>(),
            ["Zoë@Example.COM", "Zoë@example.com", "zoë@example.com"],
            "as given (NFC), domain lower-cased, all lower-cased"
        );
        assert_eq!(
            parsed("ada@example.com").spellings().collect::<Vec<_>>(),
            ["ada@example.com"],
            "each spelling once"
        );
        assert_eq!(
            parsed("Ada@example.com").spellings().collect::<Vec<_>>(),
            ["Ada@example.com", "ada@example.com"]
        );
        assert_eq!(parsed("ada@EXAMPLE.com").given(), Some("ada@EXAMPLE.com"));
        assert_eq!(parsed("ada@example.com").given(), None);
    }

    #[test]
    fn the_domain_must_be_a_host_name() {
        for raw in [
            "grace@example.com;",
            "grace@example.com%00",
            "grace@example.com/x",
            "grace@example",
            "grace@.example.com",
            "grace@example.com.",
            "grace@example..com",
            "grace@-example.com",
            "grace@example-.com",
            "grace@10.0.0.1",
            "grace@[10.0.0.1]",
            "grace@exa mple.com",
            "grace@example.com\u{0}",
            &format!("grace@{}.com", "a".repeat(64)),
            "@example.com",
            "grace",
            "grace@",
            &format!("{}@example.com", "g".repeat(65)),
        ] {
            assert!(EmailAddress::parse(raw).is_err(), "{raw:?} was taken");
        }
        for raw in [
            "grace@example.com",
            "grace.hopper+navy@mail.example.co.uk",
            "o'brien@example.com",
            "grace@xn--bcher-kva.example",
            "grace@bücher.example",
            &format!("grace@{}.com", "a".repeat(63)),
        ] {
            assert!(EmailAddress::parse(raw).is_ok(), "{raw:?} was refused");
        }
        assert_eq!(
            parsed("Grace@XN--BCHER-KVA.example").key(),
            "grace@bücher.example",
            "an internationalized domain in the form people type"
        );
    }
}
