//! `allowed_ip_ranges`: the networks an account may log in from.

use std::net::IpAddr;

use ipnet::IpNet;

/// Networks (IPv4 and IPv6, CIDR or single addresses) an account may log in
/// from.
///
/// unFTP reads IPv4 ranges only; IPv6 ranges are our extension. An empty list
/// allows no address at all, as in unFTP (an account that is switched off by
/// network); leave the field out to allow every address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRanges(Vec<IpNet>);

impl IpRanges {
    /// Parses `"192.168.178.0/24"`, `"2001:db8::/32"`, or a bare address
    /// (taken as a single-host range).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<IpRanges, String> {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref().trim();
            let net = if entry.contains('/') {
                entry.parse::<IpNet>().ok()
            } else {
                entry.parse::<IpAddr>().ok().map(IpNet::from)
            };
            match net {
                Some(net) => nets.push(net),
                None => {
                    return Err(format!(
                        "{entry:?} is not a CIDR range or an address (expected e.g. \"192.168.178.0/24\" or \"2001:db8::/32\")"
                    ));
                }
            }
        }
        Ok(IpRanges(nets))
    }

    /// Whether `ip` is inside one of the ranges. An IPv4 client seen through
    /// a dual-stack socket (`::ffff:192.0.2.7`) is matched as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The ranges, as parsed.
    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_ranges_match_their_members_only() {
        let r = IpRanges::parse(&["192.168.178.0/24", "127.0.0.0/8"]).unwrap();
        assert!(r.contains(ip("192.168.178.1")));
        assert!(r.contains(ip("192.168.178.255")));
        assert!(r.contains(ip("127.1.2.3")));
        assert!(!r.contains(ip("192.168.179.1")));
        assert!(!r.contains(ip("10.0.0.1")));
        assert!(!r.contains(ip("::1")));
    }

    #[test]
    fn ipv6_ranges_and_mapped_ipv4_addresses() {
        let r = IpRanges::parse(&["2001:db8::/32", "10.0.0.0/8"]).unwrap();
        assert!(r.contains(ip("2001:db8:1::42")));
        assert!(!r.contains(ip("2001:db9::1")));
        assert!(r.contains(ip("::ffff:10.1.2.3")), "a v4 client on a dual-stack socket");
        assert!(!r.contains(ip("::ffff:11.1.2.3")));
    }

    #[test]
    fn bare_addresses_are_single_hosts() {
        let r = IpRanges::parse(&["192.0.2.7", " ::1 "]).unwrap();
        assert!(r.contains(ip("192.0.2.7")));
        assert!(!r.contains(ip("192.0.2.8")));
        assert!(r.contains(ip("::1")));
        assert_eq!(r.nets().len(), 2);
    }

    #[test]
    fn empty_list_allows_nobody_and_bad_entries_are_refused() {
        assert!(!IpRanges::parse::<&str>(&[]).unwrap().contains(ip("127.0.0.1")));
        for bad in ["192.168.0.0/33", "localhost", "", "10.0.0.0/", "1.2.3.4/8/8"] {
            assert!(IpRanges::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
