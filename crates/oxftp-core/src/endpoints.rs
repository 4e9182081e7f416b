//! Who is at the other end of a connection: the TCP peer, or the client a
//! trusted proxy names in a PROXY protocol header (v1 or v2, parsed by
//! [`oxftp_proto::proxy`]).
//!
//! The address found here is set once, when a connection is accepted, and is
//! then *the* client address everywhere: logs, bans, IP allow/deny rules,
//! per-address session limits, an account's `allowed_ips`, the FTP-bounce
//! check on PORT/EPRT and the check that a passive data connection comes from
//! the control connection's client.
//!
//! Rules for a listener that expects the header (HAProxy `send-proxy` or
//! `send-proxy-v2`):
//!
//! - a connection from an address outside [`ProxyProtocol::trusted`] is
//!   refused before a byte is read: whatever it would send, its claim about
//!   the client cannot be believed, and a direct client cannot speak FTP on a
//!   listener where the first bytes must be a header;
//! - a trusted connection must start with a valid header; anything else (no
//!   header, a malformed one) is refused, never guessed around;
//! - the whole header must arrive within [`ProxyProtocol::header_timeout`];
//! - exactly the header's bytes are read, so what follows (FTP, or the TLS
//!   ClientHello of implicit FTPS, which comes after the header) is untouched.
//!
//! A `LOCAL` header (the proxy's own health check) and headers without IP
//! addresses (`UNKNOWN`, `AF_UNSPEC`, `AF_UNIX`) leave the connection's own
//! endpoints in place.

use std::net::SocketAddr;
use std::time::Duration;

use oxftp_proto::proxy::{ProxyError, parse_with_limit};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::account::IpNet;

/// Longest PROXY v2 header accepted, TLVs included. HAProxy's headers are
/// well under 1 KiB even with SSL and unique-id TLVs; a bound keeps what one
/// connection can make the server buffer small.
pub const MAX_HEADER_LEN: usize = 4096;

/// Who may send PROXY protocol headers, and how long one may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocol {
    /// Addresses and networks of the proxies whose headers are believed.
    /// Connections from anywhere else to a listener that expects a header
    /// are refused.
    pub trusted: Vec<IpNet>,
    /// The whole header must arrive within this.
    pub header_timeout: Duration,
}

impl Default for ProxyProtocol {
    fn default() -> Self {
        ProxyProtocol { trusted: Vec::new(), header_timeout: Duration::from_secs(10) }
    }
}

impl ProxyProtocol {
    /// Whether `peer` may send a header.
    pub fn trusts(&self, peer: SocketAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(peer.ip()))
    }
}

/// The two ends of a connection, as far as the client is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// The client: from the PROXY header when a trusted proxy sent one,
    /// otherwise the TCP peer.
    pub client: SocketAddr,
    /// The address the client connected to: the proxy's (from the header),
    /// otherwise our socket's own.
    pub reached: SocketAddr,
    /// Our socket's own local address (passive listeners and active
    /// connections bind here).
    pub local: SocketAddr,
    /// The proxy, when the connection came through one.
    pub proxy: Option<SocketAddr>,
}

impl Endpoints {
    /// A direct connection: the TCP peer is the client.
    pub fn direct(peer: SocketAddr, local: SocketAddr) -> Endpoints {
        Endpoints { client: peer, reached: local, local, proxy: None }
    }
}

/// Why a connection was refused while looking for its client.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A PROXY listener was reached from an address that is not a trusted proxy.
    #[error("{0} is not a trusted proxy")]
    Untrusted(SocketAddr),
    /// The header did not arrive in time.
    #[error("no complete PROXY header within {0:?}")]
    Timeout(Duration),
    /// The bytes are not a valid header.
    #[error("invalid PROXY header: {0}")]
    Invalid(#[from] ProxyError),
    /// The connection closed before the header was complete.
    #[error("connection closed inside the PROXY header")]
    Closed,
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The endpoints of a connection accepted from `peer` (as `accept` said:
/// asking the socket fails once a health check has already hung up). With
/// `expect_header`, reads the PROXY header (see the module doc for the
/// rules); otherwise the TCP peer is the client and nothing is read.
pub async fn of_accepted(
    stream: &mut TcpStream,
    peer: SocketAddr,
    expect_header: bool,
    proxy: &ProxyProtocol,
) -> Result<Endpoints, Refusal> {
    let own = Endpoints::direct(peer, stream.local_addr()?);
    if !expect_header {
        return Ok(own);
    }
    if !proxy.trusts(own.client) {
        return Err(Refusal::Untrusted(own.client));
    }
    let timeout = proxy.header_timeout;
    let header = tokio::time::timeout(timeout, read_header(stream)).await.map_err(|_| Refusal::Timeout(timeout))??;
    let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    Ok(match (header.source(), header.destination()) {
        (Some(client), Some(reached)) => Endpoints {
            client: canonical(client),
            reached: canonical(reached),
            local: own.local,
            proxy: Some(own.client),
        },
        _ => Endpoints { proxy: Some(own.client), ..own },
    })
}

/// Read exactly one header, never a byte beyond it.
async fn read_header(stream: &mut TcpStream) -> Result<oxftp_proto::proxy::Header, Refusal> {
    use oxftp_proto::proxy::Parsed;
    let mut buf = Vec::with_capacity(128);
    loop {
        match parse_with_limit(&buf, MAX_HEADER_LEN)? {
            Parsed::Complete(header) => return Ok(header),
            Parsed::Incomplete { needed } => {
                let start = buf.len();
                buf.resize(start + needed, 0);
                let n = stream.read(&mut buf[start..]).await?;
                if n == 0 {
                    return Err(Refusal::Closed);
                }
                buf.truncate(start + n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxftp_proto::proxy::{Addresses, Command, Transport, write_v1, write_v2};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    fn trusting(net: &str) -> ProxyProtocol {
        ProxyProtocol { trusted: vec![net.parse().unwrap()], header_timeout: Duration::from_millis(300) }
    }

    /// Accept one connection on a fresh loopback listener after `send` wrote
    /// its bytes from `source`; what `of_accepted` made of it and the bytes left.
    async fn accept_after(
        source: &str,
        bytes: Vec<u8>,
        expect: bool,
        proxy: ProxyProtocol,
    ) -> (Result<Endpoints, Refusal>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let mut client = socket.connect(addr).await.unwrap();
        client.write_all(&bytes).await.unwrap();
        let (mut stream, peer) = listener.accept().await.unwrap();
        let result = of_accepted(&mut stream, peer, expect, &proxy).await;
        drop(client);
        let mut rest = Vec::new();
        if result.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
        }
        (result, rest)
    }

    #[tokio::test]
    async fn v1_and_v2_name_the_client_and_leave_the_rest_unread() {
        let client: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let balancer: SocketAddr = "203.0.113.1:21".parse().unwrap();
        let mut v1 = write_v1(Some((client, balancer))).unwrap();
        v1.extend_from_slice(b"USER ann\r\n");
        let (got, rest) = accept_after("127.0.0.1", v1, true, trusting("127.0.0.0/8")).await;
        let got = got.unwrap();
        assert_eq!((got.client, got.reached), (client, balancer));
        assert_eq!(got.proxy.unwrap().ip().to_string(), "127.0.0.1");
        assert_eq!(rest, b"USER ann\r\n");

        let addresses = Addresses::Inet { source: client, destination: balancer };
        let mut v2 = write_v2(Command::Proxy, Transport::Stream, &addresses, &[], true).unwrap();
        v2.extend_from_slice(&[0x16, 0x03, 0x01]); // a TLS ClientHello begins
        let (got, rest) = accept_after("127.0.0.1", v2, true, trusting("127.0.0.1")).await;
        assert_eq!(got.unwrap().client, client);
        assert_eq!(rest, [0x16, 0x03, 0x01]);
    }

    #[tokio::test]
    async fn local_headers_keep_the_connections_own_endpoints() {
        let v2 = write_v2(Command::Local, Transport::Unspec, &Addresses::Unspecified, &[], false).unwrap();
        let (got, _) = accept_after("127.0.0.1", v2, true, trusting("127.0.0.1")).await;
        let got = got.unwrap();
        assert_eq!(got.client.ip().to_string(), "127.0.0.1");
        assert_eq!(got.reached, got.local);
        assert!(got.proxy.is_some());
    }

    #[tokio::test]
    async fn untrusted_missing_malformed_and_slow_headers_are_refused() {
        let v1 = write_v1(Some(("198.51.100.7:1".parse().unwrap(), "203.0.113.1:21".parse().unwrap()))).unwrap();
        // From an address that is not a trusted proxy, even with a valid header.
        let (got, _) = accept_after("127.0.0.2", v1.clone(), true, trusting("127.0.0.1")).await;
        assert!(matches!(got, Err(Refusal::Untrusted(_))), "{got:?}");
        // A trusted proxy that sends FTP instead of a header.
        let (got, _) = accept_after("127.0.0.1", b"USER ann\r\n".to_vec(), true, trusting("127.0.0.1")).await;
        assert!(matches!(got, Err(Refusal::Invalid(_))), "{got:?}");
        // Half a header, then silence.
        let (got, _) = accept_after("127.0.0.1", v1[..10].to_vec(), true, trusting("127.0.0.1")).await;
        assert!(matches!(got, Err(Refusal::Timeout(_)) | Err(Refusal::Closed)), "{got:?}");
        // Without a header expected, a header is just the client's bytes.
        let (got, rest) = accept_after("127.0.0.2", v1.clone(), false, ProxyProtocol::default()).await;
        assert_eq!(got.unwrap().client.ip().to_string(), "127.0.0.2");
        assert_eq!(rest, v1);
    }

    #[tokio::test]
    async fn a_header_that_stalls_is_cut_off_at_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        client.write_all(b"PROXY TCP4 ").await.unwrap();
        let (mut stream, peer) = listener.accept().await.unwrap();
        let started = std::time::Instant::now();
        let got = of_accepted(&mut stream, peer, true, &trusting("127.0.0.1")).await;
        assert!(matches!(got, Err(Refusal::Timeout(_))), "{got:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(client);
    }
}
