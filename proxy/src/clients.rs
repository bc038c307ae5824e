//! Who is asking: the address every per-client limit counts.
//!
//! Facing the internet, that is the connection's peer. Behind a load
//! balancer or CDN, every connection comes from the balancer, and the
//! client's address is in the header it adds (`X-Forwarded-For`, or RFC
//! 7239's `Forwarded`). Anyone can send those headers too, so they are read
//! only from the peers `server.trusted_proxies` names, and from the right:
//! each trusted hop appends the address it received the request from, so
//! the rightmost address that is not itself a trusted proxy is the first
//! one nobody trusted vouches for (nginx's `real_ip_recursive`, Envoy's
//! `xff_num_trusted_hops`). Whatever a client wrote to the left of it is
//! never read.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use serde::Deserialize;

/// The client a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The peers whose forwarding header is believed, and which header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct TrustedProxies(Vec<IpNet>);

/// The header the trusted proxies set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: <client>, <proxy>, …` (nginx, Envoy, AWS, GCP).
    #[default]
    XForwardedFor,
    /// RFC 7239: `Forwarded: for=<client>, for=<proxy>`.
    Forwarded,
}

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = String;

    fn try_from(entries: Vec<String>) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!(
                            "server.trusted_proxies: {entry:?} is neither an address nor a \
                             network (CIDR, e.g. 10.0.0.0/8)"
                        )
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    /// Whether `ip` is one of them.
    pub fn trust(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a request from `peer` with `headers`: the peer
    /// itself unless it is trusted; else the rightmost address of the
    /// forwarding header that is not trusted, or the leftmost if all are
    /// (the balancer's own health checks); the peer when the header is
    /// missing or its next hop cannot be read.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap, header: ForwardedHeader) -> IpAddr {
        if !self.trust(peer) {
            return canonical(peer);
        }
        let mut client = canonical(peer);
        for hop in hops(headers, header).into_iter().rev() {
            let Some(hop) = hop else {
                return client;
            };
            client = canonical(hop);
            if !self.trust(client) {
                return client;
            }
        }
        client
    }
}

/// The addresses of the forwarding header, left to right (several lines
/// are one list, in order); `None` for one that is not an address (RFC
/// 7239's `unknown` or an obfuscated name included). Each element is read
/// alone: bytes a client put in its own element (not text) must not cost
/// the element the balancer appended after it.
fn hops(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    headers
        .get_all(name)
        .iter()
        .flat_map(|line| line.as_bytes().split(|byte| *byte == b','))
        .map(|element| std::str::from_utf8(element).unwrap_or("unknown"))
        .map(|element| match header {
            ForwardedHeader::XForwardedFor => address(element),
            ForwardedHeader::Forwarded => element
                .split(';')
                .find_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    name.eq_ignore_ascii_case("for").then_some(value)
                })
                .and_then(address),
        })
        .collect()
}

/// One hop: an address, perhaps quoted, bracketed (IPv6) or with a port.
fn address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(v6) = hop.strip_prefix('[') {
        return v6.split_once(']')?.0.parse().ok();
    }
    hop.parse::<SocketAddr>().ok().map(|at| at.ip())
}

/// An IPv4 address however it came (IPv4-mapped IPv6 included).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Puts the request's [`ClientAddr`] among its extensions, once, before
/// anything counts it.
pub async fn identify(
    (trusted, header): (TrustedProxies, ForwardedHeader),
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(peer)| peer.ip());
    let client = trusted.client(peer, request.headers(), header);
    request.extensions_mut().insert(ClientAddr(client));
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Self>()
            .copied()
            .unwrap_or(Self(IpAddr::from([0, 0, 0, 0]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        nets.iter()
            .map(|net| (*net).to_owned())
            .collect::<Vec<_>>()
            .try_into()
            .unwrap()
    }

    fn headers(name: &'static str, lines: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(name, HeaderValue::from_static(line));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_rightmost_address_nobody_trusted_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8", "192.0.2.1"]);
        let xff = ForwardedHeader::XForwardedFor;
        let client = |peer, lines: &[&'static str]| {
            proxies.client(ip(peer), &headers("x-forwarded-for", lines), xff)
        };
        assert_eq!(
            client("10.0.0.5", &["203.0.113.9"]),
            ip("203.0.113.9"),
            "from the balancer: the address it forwarded"
        );
        assert_eq!(
            client("10.0.0.5", &["6.6.6.6, 203.0.113.9, 192.0.2.1"]),
            ip("203.0.113.9"),
            "what the client wrote to the left is never read"
        );
        assert_eq!(
            client("10.0.0.5", &["6.6.6.6", "203.0.113.9"]),
            ip("203.0.113.9"),
            "two lines are one list"
        );
        assert_eq!(
            client("198.51.100.7", &["1.2.3.4"]),
            ip("198.51.100.7"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            client("10.0.0.5", &[]),
            ip("10.0.0.5"),
            "no header: the peer"
        );
        assert_eq!(
            client("10.0.0.5", &["garbage"]),
            ip("10.0.0.5"),
            "an unreadable hop: the last one that could be read"
        );
        let mut bytes = HeaderMap::new();
        let line = HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.9").unwrap();
        bytes.append("x-forwarded-for", line);
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &bytes, xff),
            ip("203.0.113.9"),
            "bytes that are no text in the client's part cost it nothing"
        );
        assert_eq!(
            client("10.0.0.5", &["10.1.1.1, 10.2.2.2"]),
            ip("10.1.1.1"),
            "all trusted: the leftmost"
        );
        assert_eq!(
            client("::ffff:10.0.0.5", &["::ffff:203.0.113.9"]),
            ip("203.0.113.9"),
            "IPv4-mapped addresses are IPv4"
        );
    }

    #[test]
    fn forwarded_is_read_per_rfc_7239() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let lines =
            [r#"for="[2001:db8:cafe::17]:4711";proto=https, For=192.0.2.60:8080;by=10.0.0.1"#];
        let header = headers("forwarded", &lines);
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &header, ForwardedHeader::Forwarded),
            ip("192.0.2.60")
        );
        let hidden = headers("forwarded", &["for=192.0.2.60, for=_hidden"]);
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &hidden, ForwardedHeader::Forwarded),
            ip("10.0.0.5"),
            "an obfuscated hop stops the walk"
        );
        let other = headers("x-forwarded-for", &["192.0.2.60"]);
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &other, ForwardedHeader::Forwarded),
            ip("10.0.0.5"),
            "only the configured header is read"
        );
    }

    #[test]
    fn settings_name_addresses_or_networks() {
        assert!(trusted(&["127.0.0.2", "fd00::/8"]).trust(ip("127.0.0.2")));
        assert!(!trusted(&["127.0.0.2"]).trust(ip("127.0.0.1")));
        assert!(trusted(&["fd00::/8"]).trust(ip("fd12::1")));
        let refused: Result<TrustedProxies, _> = vec!["10.0.0.0/33".to_owned()].try_into();
        assert!(refused.unwrap_err().contains("server.trusted_proxies"));
        assert!(!TrustedProxies::default().trust(ip("127.0.0.1")));
    }
}
