//! Who the browser is, and which host name it believes it talks to.
//!
//! Limits and bans need the browser's address: the TCP peer, unless the peer
//! is a configured reverse proxy, whose `X-Forwarded-For` then names the
//! browser. Only the entries a trusted proxy appended are believed: the list
//! is read from the right, skipping trusted proxies, and the first address
//! that is not one is the client (anything to its left was written by the
//! client itself and could be anything).
//!
//! The `Host` check defeats DNS rebinding: a page on `evil.example` whose
//! name is made to resolve to this gateway would send `Host: evil.example`,
//! and the login's `Origin` check alone would pass it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::{HeaderMap, header};
use ipnet::IpNet;

/// The key per-address limits count under: an IPv4 address as is (also when
/// written IPv4-mapped), an IPv6 address by its /64 network, since one
/// IPv6 client usually has a whole /64 to pick addresses from.
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// The browser's address for a request that came from `peer`.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    // Several header lines form one list, in order.
    let entries: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    for entry in entries.iter().rev() {
        let Some(ip) = parse_forwarded(entry) else {
            // Garbage where an address should be: stop at the last good one.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an IP address, maybe with a port, IPv6 maybe in brackets.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')).and_then(|e| e.parse().ok())
}

/// The host names a request's `Host` header may carry.
#[derive(Debug, Clone)]
pub(crate) struct AllowedHosts {
    /// Lower case; IPv6 addresses without brackets.
    names: Vec<String>,
}

impl AllowedHosts {
    /// `configured`, or when it is empty: `listen`'s address (unless a
    /// wildcard, which names no host), `localhost` and the loopback addresses.
    pub(crate) fn new(configured: &[String], listen: SocketAddr) -> AllowedHosts {
        let mut names: Vec<String> = configured.iter().filter_map(|h| normalize_host(h)).collect();
        if configured.is_empty() {
            if !listen.ip().is_unspecified() {
                names.push(listen.ip().to_string());
            }
            names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
        }
        AllowedHosts { names }
    }

    /// Whether the request's `Host` header names an allowed host (its port,
    /// if any, is not compared: rebinding changes the name, not the port).
    pub(crate) fn allows(&self, headers: &HeaderMap) -> bool {
        let mut hosts = headers.get_all(header::HOST).iter();
        let (Some(host), None) = (hosts.next(), hosts.next()) else {
            // None, or several: HTTP/1.1 requires exactly one.
            return false;
        };
        let Some(name) = host.to_str().ok().and_then(host_name) else { return false };
        self.names.contains(&name)
    }
}

/// The host part of a `Host` value (`name`, `name:port`, `[v6]:port`),
/// lower case, IPv6 without brackets.
fn host_name(value: &str) -> Option<String> {
    let value = value.trim();
    let name = if let Some(rest) = value.strip_prefix('[') {
        rest.split_once(']')?.0
    } else {
        value
            .rsplit_once(':')
            .map_or(value, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { value })
    };
    normalize_host(name)
}

/// A configured or received host name in comparable form; `None` when it is
/// empty or holds characters no host name has.
pub(crate) fn normalize_host(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.');
    let name = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    ok.then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(limit_key("::ffff:192.0.2.7".parse().unwrap()), IpAddr::from([192, 0, 2, 7]));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7")]);
        // From the proxy: the rightmost untrusted entry (the leftmost is the client's own claim).
        assert_eq!(client_ip(proxy, &h, &trusted), IpAddr::from([198, 51, 100, 7]));
        // From anyone else the header is ignored.
        let stranger: IpAddr = "203.0.113.1".parse().unwrap();
        assert_eq!(client_ip(stranger, &h, &trusted), stranger);
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
        // Chained proxies are skipped; ports and brackets are understood.
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:4711"), ("x-forwarded-for", "10.0.0.9")]);
        assert_eq!(client_ip(proxy, &h, &trusted), "2001:db8::1".parse::<IpAddr>().unwrap());
        let h = headers(&[("x-forwarded-for", "198.51.100.7:555, junk, 10.0.0.9")]);
        assert_eq!(client_ip(proxy, &h, &trusted), "10.0.0.9".parse::<IpAddr>().unwrap());
        // No header: the proxy itself.
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }

    #[test]
    fn only_allowed_host_names_pass() {
        let default = AllowedHosts::new(&[], "127.0.0.1:8080".parse().unwrap());
        for ok in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "localhost."] {
            assert!(default.allows(&headers(&[("host", ok)])), "{ok}");
        }
        for bad in ["evil.example:8080", "127.0.0.2:8080", "", "localhost:8080 x", "[::1"] {
            assert!(!default.allows(&headers(&[("host", bad)])), "{bad}");
        }
        assert!(!default.allows(&HeaderMap::new()), "no Host");
        assert!(!default.allows(&headers(&[("host", "localhost"), ("host", "evil.example")])), "two Hosts");
        let wildcard = AllowedHosts::new(&[], "0.0.0.0:80".parse().unwrap());
        assert!(!wildcard.allows(&headers(&[("host", "0.0.0.0")])));
        let configured =
            AllowedHosts::new(&["Files.Example.org".into(), "[2001:db8::1]".into()], "0.0.0.0:80".parse().unwrap());
        assert!(configured.allows(&headers(&[("host", "files.example.org")])));
        assert!(configured.allows(&headers(&[("host", "[2001:db8::1]:443")])));
        assert!(!configured.allows(&headers(&[("host", "localhost")])), "configured names replace the defaults");
    }
}
