//! Passive-mode replies (RFC 959 PASV, RFC 2428 EPSV).

use crate::reply::Reply;
use std::net::SocketAddrV4;

/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` for the address the
/// client should connect to. The parenthesised form is the one every client
/// scans for.
pub fn pasv_reply(addr: SocketAddrV4) -> Reply {
    let [h1, h2, h3, h4] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    Reply::new(227, format!("Entering Passive Mode ({h1},{h2},{h3},{h4},{p1},{p2})."))
}

/// `229 Entering Extended Passive Mode (|||port|)`: EPSV names only the
/// port; the client reuses the control connection's address, which is what
/// makes EPSV work through NAT and over IPv6.
pub fn epsv_reply(port: u16) -> Reply {
    Reply::new(229, format!("Entering Extended Passive Mode (|||{port}|)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn pasv_encodes_address_and_port() {
        let r = pasv_reply(SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 20), 50_001));
        assert_eq!(r.to_bytes(), b"227 Entering Passive Mode (192,168,1,20,195,81).\r\n");
        let r = pasv_reply(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        assert_eq!(r.to_bytes(), b"227 Entering Passive Mode (0,0,0,0,0,0).\r\n");
    }

    #[test]
    fn epsv_names_only_the_port() {
        assert_eq!(epsv_reply(50_001).to_bytes(), b"229 Entering Extended Passive Mode (|||50001|)\r\n");
    }
}
