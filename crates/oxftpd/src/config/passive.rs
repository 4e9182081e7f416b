//! `[passive]`: what PASV/EPSV use.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{DEFAULT_RESOLVE_INTERVAL, PassiveHost, Validator};

/// `[passive]`: what PASV/EPSV use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveConfig {
    /// Inclusive port range; `None`: ports chosen by the OS.
    pub port_range: Option<(u16, u16)>,
    /// Address advertised in 227 replies (behind NAT): an IP or a DNS name.
    pub address: Option<PassiveHost>,
    /// How often a DNS name in `address` is resolved again.
    pub resolve_interval: Duration,
    /// Announce this node's own address on the control connection, even
    /// behind a proxy (clients reach each node directly for data).
    pub announce_node_address: bool,
    /// Passive data connections start with a PROXY protocol header.
    pub proxy_protocol: bool,
}

impl Default for PassiveConfig {
    fn default() -> Self {
        PassiveConfig {
            port_range: None,
            address: None,
            resolve_interval: DEFAULT_RESOLVE_INTERVAL,
            announce_node_address: false,
            proxy_protocol: false,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPassive {
    port_range: Option<Spanned<Vec<Spanned<i64>>>>,
    address: Option<Spanned<String>>,
    resolve_interval: Option<Spanned<u64>>,
    announce_node_address: Option<bool>,
    proxy_protocol: Option<bool>,
}

impl Validator<'_> {
    pub(super) fn passive(&mut self, raw: RawPassive) -> PassiveConfig {
        let mut passive = PassiveConfig::default();
        if let Some(range) = raw.port_range {
            const EXPECTED: &str = "expected [LOW, HIGH] with 1 <= LOW <= HIGH <= 65535";
            let ports: Vec<i64> = range.get_ref().iter().map(|p| *p.get_ref()).collect();
            match ports.as_slice() {
                [lo, hi] => match (u16::try_from(*lo), u16::try_from(*hi)) {
                    (Ok(lo), Ok(hi)) if lo >= 1 && lo <= hi => passive.port_range = Some((lo, hi)),
                    _ => self.error(range.span(), "passive.port_range", format!("{EXPECTED}, found [{lo}, {hi}]")),
                },
                _ => self.error(
                    range.span(),
                    "passive.port_range",
                    format!("{EXPECTED}, found {} number(s)", ports.len()),
                ),
            }
        }
        if let Some(address) = &raw.address {
            passive.address = self.passive_host(address.get_ref(), address.span(), "passive.address");
        }
        passive.resolve_interval =
            self.seconds(raw.resolve_interval, "passive.resolve_interval").unwrap_or(DEFAULT_RESOLVE_INTERVAL);
        passive.announce_node_address = raw.announce_node_address.unwrap_or(false);
        passive.proxy_protocol = raw.proxy_protocol.unwrap_or(false);
        if let (true, Some(address)) = (passive.announce_node_address, &raw.address) {
            self.error(
                address.span(),
                "passive.announce_node_address",
                "cannot be used with passive.address: announce either this node's address or that one",
            );
        }
        passive
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{only_error, parse, tree};

    #[test]
    fn port_range_must_be_ordered_and_nonzero() {
        let dir = tree();
        for (range, why) in [
            ("[2000, 1000]", "found [2000, 1000]"),
            ("[0, 10]", "found [0, 10]"),
            ("[1, 70000]", "70000"),
            ("[5]", "1 number"),
        ] {
            let (line, key, message) = only_error(&dir, &format!("[passive]\nport_range = {range}\n"));
            assert_eq!((line, key.as_deref()), (Some(2), Some("passive.port_range")), "{range}");
            assert!(message.contains(why) && message.contains("LOW <= HIGH"), "{range}: {message}");
        }
        let config = parse(&dir, "[passive]\nport_range = [1024, 1024]\n").unwrap();
        assert_eq!(config.passive.port_range, Some((1024, 1024)));
    }
}
