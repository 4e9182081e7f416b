//! The PROXY protocol header (HAProxy's PROXY protocol, versions 1 and 2).
//!
//! A TCP proxy in front of the server (HAProxy `send-proxy`/`send-proxy-v2`,
//! a cloud load balancer) prepends one header to each connection saying who
//! the real client is. This module parses that header from the bytes read so
//! far and says one of three things ([`parse`]):
//!
//! - [`Parsed::Incomplete`]: a valid beginning; read at least `needed` more
//!   bytes and call again with everything read so far;
//! - [`Parsed::Complete`]: a whole header of [`Header::len`] bytes; the bytes
//!   after it belong to the application protocol (FTP, or the TLS handshake of
//!   implicit FTPS);
//! - `Err(`[`ProxyError`]`)`: not a valid header; the connection must be
//!   dropped (the specification forbids guessing or falling back).
//!
//! Guarantees, relied on by the listener and checked by the fuzz target:
//!
//! - no panic on any input, and nothing read beyond `buf`;
//! - at most [`V1_MAX_LEN`] bytes are looked at for version 1 and at most
//!   `max_len` (default [`V2_MAX_LEN`]) for version 2, so a caller that
//!   buffers only what `needed` asks for holds a bounded amount of memory;
//! - `needed` never points past the end of the header: a caller may read
//!   exactly `needed` bytes at a time and will never consume a byte of the
//!   application protocol;
//! - a prefix of a valid header is always `Incomplete`, and once a buffer is
//!   invalid no further bytes make it valid, so a malformed header is refused
//!   as soon as the first wrong byte arrives.
//!
//! Version 1 is one text line, at most 107 bytes with its CRLF:
//! `PROXY TCP4 192.0.2.1 198.51.100.2 56324 21\r\n` (or `TCP6`, or `UNKNOWN`
//! followed by anything). Addresses and ports are strict: decimal without
//! leading zeros, exactly one space between fields, a CRLF and no lone CR or
//! LF. Version 2 is binary: a 12-byte signature, version and command,
//! family and transport, a 16-bit length, the addresses, then
//! type-length-value (TLV) extensions. TLVs are bounds-checked and skipped
//! (iterate them with [`Header::tlvs`]); a CRC32C TLV, when present, is
//! verified. `LOCAL` connections (health checks from the proxy itself) and
//! the `UNKNOWN`/`AF_UNSPEC` forms carry no addresses: the connection's own
//! endpoints apply.
//!
//! Whether a header is expected at all, and from which peers, is the
//! listener's decision: the specification forbids detecting it
//! automatically, because any client could then forge its address.
//!
//! A listener reads exactly what [`Parsed::Incomplete`] asks for, so the
//! first byte after the header (FTP, or a TLS ClientHello) stays unread:
//!
//! ```
//! use oxftp_proto::proxy::{Parsed, parse};
//!
//! // Stands in for the socket.
//! let mut socket: &[u8] = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 21\r\nUSER ann\r\n";
//! let mut buf = Vec::new();
//! let header = loop {
//!     match parse(&buf)? {
//!         Parsed::Complete(header) => break header,
//!         Parsed::Incomplete { needed } => {
//!             let (chunk, rest) = socket.split_at(needed.min(socket.len()));
//!             buf.extend_from_slice(chunk);
//!             socket = rest;
//!         }
//!     }
//! };
//! assert_eq!(header.source(), Some("192.0.2.1:56324".parse().unwrap()));
//! assert_eq!(header.len, buf.len());
//! assert_eq!(socket, b"USER ann\r\n");
//! # Ok::<(), oxftp_proto::proxy::ProxyError>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

/// Longest version 1 header, CRLF included (the specification's worst case,
/// `UNKNOWN` with two full IPv6 addresses and ports).
pub const V1_MAX_LEN: usize = 107;

/// Shortest header of either version: `PROXY UNKNOWN\r\n`.
pub const MIN_LEN: usize = 15;

/// The version 2 signature, the first 12 bytes of every binary header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Length of the fixed part of a version 2 header (signature, version and
/// command, family and transport, length).
pub const V2_FIXED_LEN: usize = 16;

/// Longest version 2 header the format can express (16 + 65535 bytes).
pub const V2_MAX_LEN: usize = V2_FIXED_LEN + u16::MAX as usize;

/// Length of each `AF_UNIX` address in a version 2 header.
pub const UNIX_ADDR_LEN: usize = 108;

const V1_PREFIX: &[u8] = b"PROXY ";

/// Registered version 2 TLV types (section 2.2 of the specification).
pub mod tlv_type {
    /// Application-Layer Protocol Negotiation, as the client sent it.
    pub const ALPN: u8 = 0x01;
    /// The host name the client asked for (TLS SNI), UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// CRC32C of the whole header; verified by [`super::parse`].
    pub const CRC32C: u8 = 0x03;
    /// Padding; ignore.
    pub const NOOP: u8 = 0x04;
    /// An opaque connection identifier of up to 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// TLS details of the client connection (with sub-TLVs).
    pub const SSL: u8 = 0x20;
    /// The network namespace name.
    pub const NETNS: u8 = 0x30;
}

/// Which version of the protocol a header used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text form (`PROXY TCP4 ...\r\n`).
    V1,
    /// The binary form.
    V2,
}

/// What the proxy says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Version 2 `LOCAL`: the proxy opened the connection itself (a health
    /// check); use the connection's real endpoints.
    Local,
    /// The connection is relayed for a client; the header describes it.
    /// Every version 1 header is `Proxy`.
    Proxy,
}

/// The transport protocol of the relayed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Unknown or not given (`LOCAL`, `UNKNOWN`, `AF_UNSPEC`).
    Unspec,
    /// A stream (TCP, or `SOCK_STREAM` over `AF_UNIX`). Version 1 is always this.
    Stream,
    /// Datagrams (UDP, or `SOCK_DGRAM` over `AF_UNIX`).
    Datagram,
}

/// The relayed connection's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// No usable addresses (`LOCAL`, v1 `UNKNOWN`, v2 `AF_UNSPEC` or an
    /// unspecified transport): use the connection's own endpoints.
    Unspecified,
    /// IPv4 or IPv6 addresses with ports; both have the same family.
    Inet {
        /// The client, as the proxy saw it.
        source: SocketAddr,
        /// The address the client connected to (the proxy's listener).
        destination: SocketAddr,
    },
    /// `AF_UNIX` socket paths.
    Unix(Box<UnixAddresses>),
}

/// The two `AF_UNIX` addresses of a version 2 header, as sent: 108 bytes
/// each, NUL-padded (an abstract socket name starts with NUL).
#[derive(Clone, PartialEq, Eq)]
pub struct UnixAddresses {
    /// The client's socket address.
    pub source: [u8; UNIX_ADDR_LEN],
    /// The server's socket address.
    pub destination: [u8; UNIX_ADDR_LEN],
}

impl fmt::Debug for UnixAddresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |a: &[u8]| {
            let end = a.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            String::from_utf8_lossy(&a[..end]).into_owned()
        };
        f.debug_struct("UnixAddresses")
            .field("source", &show(&self.source))
            .field("destination", &show(&self.destination))
            .finish()
    }
}

/// One complete, valid PROXY protocol header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Text (1) or binary (2).
    pub version: Version,
    /// `LOCAL` or `PROXY`.
    pub command: Command,
    /// TCP, UDP or unspecified.
    pub transport: Transport,
    /// The relayed connection's endpoints, if the header gives them.
    pub addresses: Addresses,
    /// Length of the header in bytes: the application protocol starts at
    /// `buf[len..]`.
    pub len: usize,
    /// Where the TLVs lie in the header's bytes (empty for version 1).
    tlvs: Range<usize>,
}

impl Header {
    /// The client's address, when the header carries IP addresses.
    pub fn source(&self) -> Option<SocketAddr> {
        match self.addresses {
            Addresses::Inet { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The address the client connected to, when the header carries IP addresses.
    pub fn destination(&self) -> Option<SocketAddr> {
        match self.addresses {
            Addresses::Inet { destination, .. } => Some(destination),
            _ => None,
        }
    }

    /// Where the version 2 TLVs lie within the header's bytes (empty when
    /// there are none, and always for version 1).
    pub fn tlv_range(&self) -> Range<usize> {
        self.tlvs.clone()
    }

    /// The TLVs of a version 2 header, read from `header_bytes`: the buffer
    /// this header was parsed from (at least its first [`Header::len`] bytes).
    /// Given other bytes the iterator stops early; it never panics.
    pub fn tlvs<'b>(&self, header_bytes: &'b [u8]) -> Tlvs<'b> {
        Tlvs { rest: header_bytes.get(self.tlvs.clone()).unwrap_or_default() }
    }
}

/// One version 2 type-length-value extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'b> {
    /// The type byte (see [`tlv_type`]).
    pub kind: u8,
    /// The value, at most 65535 bytes.
    pub value: &'b [u8],
}

/// Iterator over the TLVs of a header; see [`Header::tlvs`].
#[derive(Debug, Clone)]
pub struct Tlvs<'b> {
    rest: &'b [u8],
}

impl<'b> Iterator for Tlvs<'b> {
    type Item = Tlv<'b>;

    fn next(&mut self) -> Option<Tlv<'b>> {
        let (tlv, used) = split_tlv(self.rest)?;
        self.rest = self.rest.get(used..).unwrap_or_default();
        Some(tlv)
    }
}

/// The TLV at the start of `bytes` and its total length, if it fits.
fn split_tlv(bytes: &[u8]) -> Option<(Tlv<'_>, usize)> {
    let [kind, hi, lo, ..] = *bytes else { return None };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let value = bytes.get(3..3 + len)?;
    Some((Tlv { kind, value }, 3 + len))
}

/// The result of parsing the bytes read so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A valid beginning of a header: read at least `needed` (≥ 1) more
    /// bytes and parse everything again. Reading exactly `needed` never
    /// reads past the end of the header.
    Incomplete {
        /// Bytes still missing, at least.
        needed: usize,
    },
    /// A whole header; it occupies `buf[..header.len]`.
    Complete(Header),
}

/// Why bytes are not a valid PROXY protocol header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// Neither `PROXY ` nor the version 2 signature.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// Version 1: no CRLF within the first 107 bytes.
    #[error("PROXY v1 line is longer than {V1_MAX_LEN} bytes")]
    V1TooLong,
    /// Version 1: the line does not have the required form.
    #[error("PROXY v1 line: {0}")]
    V1Syntax(&'static str),
    /// Version 2: the version nibble is not 2.
    #[error("PROXY v2 header has version {0}, not 2")]
    V2Version(u8),
    /// Version 2: the command nibble is neither `LOCAL` (0) nor `PROXY` (1).
    #[error("PROXY v2 header has command {0:#x}, neither LOCAL nor PROXY")]
    V2Command(u8),
    /// Version 2: an undefined address family or transport protocol.
    #[error("PROXY v2 header has undefined family/protocol byte {0:#04x}")]
    V2Family(u8),
    /// Version 2: the address block is shorter than its family needs.
    #[error("PROXY v2 address block has {len} bytes; its family needs {need}")]
    V2ShortAddress {
        /// Length given in the header.
        len: usize,
        /// Length the family needs.
        need: usize,
    },
    /// Version 2: the header is longer than the caller's limit.
    #[error("PROXY v2 header of {len} bytes is longer than the limit of {max}")]
    V2TooLong {
        /// Length given in the header (fixed part included).
        len: usize,
        /// The limit passed to [`parse_with_limit`].
        max: usize,
    },
    /// Version 2: a TLV runs past the end of the header.
    #[error("PROXY v2 TLV at byte {0} runs past the end of the header")]
    V2Tlv(usize),
    /// Version 2: a CRC32C TLV that is malformed, repeated or does not match.
    #[error("PROXY v2 CRC32C checksum is malformed or does not match")]
    V2Checksum,
}

/// Parse the bytes read so far from a connection that must start with a
/// PROXY protocol header of either version. Version 2 headers may be as long
/// as the format allows ([`V2_MAX_LEN`]); see [`parse_with_limit`] for a
/// smaller bound.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    parse_with_limit(buf, V2_MAX_LEN)
}

/// [`parse`], refusing version 2 headers longer than `max_len` bytes
/// (fixed part, addresses and TLVs). Version 1 lines are bounded by
/// [`V1_MAX_LEN`] whatever `max_len` says.
pub fn parse_with_limit(buf: &[u8], max_len: usize) -> Result<Parsed, ProxyError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete { needed: MIN_LEN }),
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf, max_len),
        Some(_) => Err(ProxyError::NotProxy),
    }
}

/// Whether `have` could still become `want` or already starts with it.
fn compatible(have: &[u8], want: &[u8]) -> bool {
    if have.len() <= want.len() { want.starts_with(have) } else { have.starts_with(want) }
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if !compatible(buf, V1_PREFIX) {
        return Err(ProxyError::NotProxy);
    }
    // Refuse a wrong protocol word early, before waiting for the CRLF.
    let word = buf.get(V1_PREFIX.len()..).unwrap_or_default();
    if ![&b"TCP4 "[..], b"TCP6 ", b"UNKNOWN ", b"UNKNOWN\r"].iter().any(|w| compatible(word, w)) {
        return Err(ProxyError::V1Syntax("protocol is not TCP4, TCP6 or UNKNOWN"));
    }
    for (i, &b) in buf.iter().enumerate().take(V1_MAX_LEN) {
        match b {
            b'\r' => {
                if i + 2 > V1_MAX_LEN {
                    return Err(ProxyError::V1TooLong);
                }
                return match buf.get(i + 1) {
                    Some(b'\n') => {
                        let line = buf.get(V1_PREFIX.len()..i).unwrap_or_default();
                        v1_line(line, i + 2).map(Parsed::Complete)
                    }
                    Some(_) => Err(ProxyError::V1Syntax("CR not followed by LF")),
                    None => Ok(Parsed::Incomplete { needed: 1 }),
                };
            }
            b'\n' => return Err(ProxyError::V1Syntax("LF without CR")),
            _ => {}
        }
    }
    if buf.len() >= V1_MAX_LEN {
        return Err(ProxyError::V1TooLong);
    }
    Ok(Parsed::Incomplete { needed: MIN_LEN.saturating_sub(buf.len()).max(1) })
}

/// The part of a v1 line after `PROXY ` and before the CRLF.
fn v1_line(line: &[u8], len: usize) -> Result<Header, ProxyError> {
    let header = |addresses, transport| Header {
        version: Version::V1,
        command: Command::Proxy,
        transport,
        addresses,
        len,
        tlvs: 0..0,
    };
    // UNKNOWN: the receiver ignores whatever follows, up to the CRLF.
    if line == b"UNKNOWN" || line.starts_with(b"UNKNOWN ") {
        return Ok(header(Addresses::Unspecified, Transport::Unspec));
    }
    let (v6, rest) = if let Some(rest) = line.strip_prefix(b"TCP4 ") {
        (false, rest)
    } else if let Some(rest) = line.strip_prefix(b"TCP6 ") {
        (true, rest)
    } else {
        return Err(ProxyError::V1Syntax("protocol is not TCP4, TCP6 or UNKNOWN"));
    };
    let mut fields = rest.split(|&b| b == b' ');
    let mut next = || fields.next().ok_or(ProxyError::V1Syntax("expected four fields after the protocol"));
    let (src, dst, sport, dport) = (next()?, next()?, next()?, next()?);
    if fields.next().is_some() {
        return Err(ProxyError::V1Syntax("expected four fields after the protocol"));
    }
    let ip = |field: &[u8]| -> Result<IpAddr, ProxyError> {
        if v6 {
            v1_ipv6(field).map(IpAddr::V6).ok_or(ProxyError::V1Syntax("invalid IPv6 address"))
        } else {
            v1_ipv4(field).map(IpAddr::V4).ok_or(ProxyError::V1Syntax("invalid IPv4 address"))
        }
    };
    let port = |field: &[u8]| v1_decimal(field, 65_535).ok_or(ProxyError::V1Syntax("invalid port"));
    let source = SocketAddr::new(ip(src)?, port(sport)?);
    let destination = SocketAddr::new(ip(dst)?, port(dport)?);
    Ok(header(Addresses::Inet { source, destination }, Transport::Stream))
}

/// A decimal number without sign or leading zeros, at most `max`.
fn v1_decimal(field: &[u8], max: u16) -> Option<u16> {
    if field.is_empty() || field.len() > 5 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if field.len() > 1 && field[0] == b'0' {
        return None;
    }
    let n = field.iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(n).ok().filter(|&n| n <= max)
}

/// Four decimal numbers 0..=255 without leading zeros, separated by dots.
fn v1_ipv4(field: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = field.split(|&b| b == b'.');
    for octet in &mut octets {
        *octet = u8::try_from(v1_decimal(parts.next()?, 255)?).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// An IPv6 address in the usual text form (hex groups, one `::`, optionally
/// a dotted IPv4 tail); no zone, no brackets.
fn v1_ipv6(field: &[u8]) -> Option<Ipv6Addr> {
    if field.len() > 45 || !field.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn parse_v2(buf: &[u8], max_len: usize) -> Result<Parsed, ProxyError> {
    if !compatible(buf, &V2_SIGNATURE) {
        return Err(ProxyError::NotProxy);
    }
    let command = match buf.get(12) {
        None => return Ok(Parsed::Incomplete { needed: V2_FIXED_LEN - buf.len() }),
        Some(&ver_cmd) if ver_cmd >> 4 != 2 => return Err(ProxyError::V2Version(ver_cmd >> 4)),
        Some(&ver_cmd) => match ver_cmd & 0x0F {
            0 => Command::Local,
            1 => Command::Proxy,
            other => return Err(ProxyError::V2Command(other)),
        },
    };
    // LOCAL ignores the family byte entirely (section 2.2).
    let family = match (command, buf.get(13)) {
        (_, None) => return Ok(Parsed::Incomplete { needed: V2_FIXED_LEN - buf.len() }),
        (Command::Local, Some(_)) => None,
        (Command::Proxy, Some(&fam)) => Some(v2_family(fam)?),
    };
    let (Some(&hi), Some(&lo)) = (buf.get(14), buf.get(15)) else {
        return Ok(Parsed::Incomplete { needed: V2_FIXED_LEN - buf.len() });
    };
    let len = V2_FIXED_LEN + usize::from(u16::from_be_bytes([hi, lo]));
    if len > max_len {
        return Err(ProxyError::V2TooLong { len, max: max_len });
    }
    let Some(header) = buf.get(..len) else {
        return Ok(Parsed::Incomplete { needed: len - buf.len() });
    };
    let block = &header[V2_FIXED_LEN..];
    let unspecified = |transport| Header {
        version: Version::V2,
        command,
        transport,
        addresses: Addresses::Unspecified,
        len,
        tlvs: len..len,
    };
    let (family, transport) = match family {
        None => return Ok(Parsed::Complete(unspecified(Transport::Unspec))),
        Some((Family::Unspec, transport)) => return Ok(Parsed::Complete(unspecified(transport))),
        Some((_, Transport::Unspec)) => return Ok(Parsed::Complete(unspecified(Transport::Unspec))),
        Some(pair) => pair,
    };
    let need = family.address_len();
    if block.len() < need {
        return Err(ProxyError::V2ShortAddress { len: block.len(), need });
    }
    let addresses = match family {
        Family::Inet => {
            let ip = |at: usize| Ipv4Addr::new(block[at], block[at + 1], block[at + 2], block[at + 3]);
            let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
            Addresses::Inet {
                source: SocketAddr::new(IpAddr::V4(ip(0)), port(8)),
                destination: SocketAddr::new(IpAddr::V4(ip(4)), port(10)),
            }
        }
        Family::Inet6 => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&block[at..at + 16]);
                Ipv6Addr::from(octets)
            };
            let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
            Addresses::Inet {
                source: SocketAddr::new(IpAddr::V6(ip(0)), port(32)),
                destination: SocketAddr::new(IpAddr::V6(ip(16)), port(34)),
            }
        }
        Family::Unix => {
            let mut unix = Box::new(UnixAddresses { source: [0; UNIX_ADDR_LEN], destination: [0; UNIX_ADDR_LEN] });
            unix.source.copy_from_slice(&block[..UNIX_ADDR_LEN]);
            unix.destination.copy_from_slice(&block[UNIX_ADDR_LEN..2 * UNIX_ADDR_LEN]);
            Addresses::Unix(unix)
        }
        Family::Unspec => Addresses::Unspecified,
    };
    let tlvs = V2_FIXED_LEN + need..len;
    check_tlvs(header, tlvs.clone())?;
    Ok(Parsed::Complete(Header { version: Version::V2, command, transport, addresses, len, tlvs }))
}

/// Address families of version 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Unspec,
    Inet,
    Inet6,
    Unix,
}

impl Family {
    /// Bytes of the address block this family uses (ports included).
    fn address_len(self) -> usize {
        match self {
            Family::Unspec => 0,
            Family::Inet => 12,
            Family::Inet6 => 36,
            Family::Unix => 2 * UNIX_ADDR_LEN,
        }
    }

    fn nibble(self) -> u8 {
        match self {
            Family::Unspec => 0,
            Family::Inet => 1,
            Family::Inet6 => 2,
            Family::Unix => 3,
        }
    }
}

impl Transport {
    fn nibble(self) -> u8 {
        match self {
            Transport::Unspec => 0,
            Transport::Stream => 1,
            Transport::Datagram => 2,
        }
    }
}

/// The 14th byte: family in the high nibble, transport in the low one.
fn v2_family(byte: u8) -> Result<(Family, Transport), ProxyError> {
    let family = match byte >> 4 {
        0 => Family::Unspec,
        1 => Family::Inet,
        2 => Family::Inet6,
        3 => Family::Unix,
        _ => return Err(ProxyError::V2Family(byte)),
    };
    let transport = match byte & 0x0F {
        0 => Transport::Unspec,
        1 => Transport::Stream,
        2 => Transport::Datagram,
        _ => return Err(ProxyError::V2Family(byte)),
    };
    Ok((family, transport))
}

/// Every TLV in `header[range]` must fit; a CRC32C TLV must be 4 bytes,
/// appear once, and match the header.
fn check_tlvs(header: &[u8], range: Range<usize>) -> Result<(), ProxyError> {
    let mut at = range.start;
    let mut crc_seen = false;
    while at < range.end {
        let rest = header.get(at..range.end).unwrap_or_default();
        let Some((tlv, used)) = split_tlv(rest) else {
            return Err(ProxyError::V2Tlv(at));
        };
        if tlv.kind == tlv_type::CRC32C {
            let [a, b, c, d] = *tlv.value else { return Err(ProxyError::V2Checksum) };
            if crc_seen || crc32c_with_zeroed(header, at + 3) != u32::from_be_bytes([a, b, c, d]) {
                return Err(ProxyError::V2Checksum);
            }
            crc_seen = true;
        }
        at += used;
    }
    Ok(())
}

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) lookup table.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC32C of `bytes`.
fn crc32c(bytes: &[u8]) -> u32 {
    crc32c_with_zeroed(bytes, usize::MAX)
}

/// CRC32C of `bytes` with the four bytes at `zero_at` counted as zeros
/// (the checksum field itself, as the specification says).
fn crc32c_with_zeroed(bytes: &[u8], zero_at: usize) -> u32 {
    let mut crc = !0u32;
    for (i, &b) in bytes.iter().enumerate() {
        let b = if i >= zero_at && i - zero_at < 4 { 0 } else { b };
        crc = CRC32C_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// A version 1 line for `addresses` (`None`: `PROXY UNKNOWN\r\n`). `None`
/// when the two addresses are of different families, which v1 cannot say.
pub fn write_v1(addresses: Option<(SocketAddr, SocketAddr)>) -> Option<Vec<u8>> {
    let Some((source, destination)) = addresses else {
        return Some(b"PROXY UNKNOWN\r\n".to_vec());
    };
    let proto = match (source.ip(), destination.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => "TCP4",
        (IpAddr::V6(_), IpAddr::V6(_)) => "TCP6",
        _ => return None,
    };
    let line =
        format!("PROXY {proto} {} {} {} {}\r\n", source.ip(), destination.ip(), source.port(), destination.port());
    Some(line.into_bytes())
}

/// A version 2 header. `Addresses::Unspecified` is sent as `AF_UNSPEC` with
/// `transport`; `Command::Local` ignores `transport` and `addresses` (family
/// byte 0, no address block). With `checksum`, a CRC32C TLV is appended after
/// `tlvs`. `None` when IP addresses mix families, when `transport` is
/// `Unspec` with addresses, or when the result exceeds [`V2_MAX_LEN`].
pub fn write_v2(
    command: Command,
    transport: Transport,
    addresses: &Addresses,
    tlvs: &[Tlv<'_>],
    checksum: bool,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(V2_FIXED_LEN + 2 * UNIX_ADDR_LEN);
    out.extend_from_slice(&V2_SIGNATURE);
    let (family, block): (Family, Vec<u8>) = match (command, addresses) {
        (Command::Local, _) | (Command::Proxy, Addresses::Unspecified) => (Family::Unspec, Vec::new()),
        (Command::Proxy, Addresses::Inet { source, destination }) => {
            let mut block = Vec::with_capacity(36);
            let family = match (source.ip(), destination.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    block.extend_from_slice(&s.octets());
                    block.extend_from_slice(&d.octets());
                    Family::Inet
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    block.extend_from_slice(&s.octets());
                    block.extend_from_slice(&d.octets());
                    Family::Inet6
                }
                _ => return None,
            };
            block.extend_from_slice(&source.port().to_be_bytes());
            block.extend_from_slice(&destination.port().to_be_bytes());
            (family, block)
        }
        (Command::Proxy, Addresses::Unix(unix)) => {
            let mut block = Vec::with_capacity(2 * UNIX_ADDR_LEN);
            block.extend_from_slice(&unix.source);
            block.extend_from_slice(&unix.destination);
            (Family::Unix, block)
        }
    };
    if family != Family::Unspec && transport == Transport::Unspec {
        return None;
    }
    let (ver_cmd, fam) = match command {
        Command::Local => (0x20, 0x00),
        Command::Proxy => (0x21, (family.nibble() << 4) | transport.nibble()),
    };
    out.push(ver_cmd);
    out.push(fam);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&block);
    for tlv in tlvs {
        let len = u16::try_from(tlv.value.len()).ok()?;
        out.push(tlv.kind);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(tlv.value);
    }
    let crc_at = out.len() + 3;
    if checksum {
        out.extend_from_slice(&[tlv_type::CRC32C, 0, 4, 0, 0, 0, 0]);
    }
    let len = u16::try_from(out.len() - V2_FIXED_LEN).ok()?;
    out[14..16].copy_from_slice(&len.to_be_bytes());
    if checksum {
        let crc = crc32c(&out);
        out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn complete(buf: &[u8]) -> Header {
        match parse(buf) {
            Ok(Parsed::Complete(h)) => h,
            other => panic!("expected a header from {buf:?}, got {other:?}"),
        }
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn inet(source: &str, destination: &str) -> Addresses {
        Addresses::Inet { source: sa(source), destination: sa(destination) }
    }

    /// Every strict prefix of a valid header is incomplete, and `needed`
    /// never reaches past its end.
    fn assert_prefixes_incomplete(header: &[u8]) {
        for cut in 0..header.len() {
            match parse(&header[..cut]) {
                Ok(Parsed::Incomplete { needed }) => {
                    assert!(needed >= 1 && cut + needed <= header.len(), "cut {cut} needed {needed}")
                }
                other => panic!("prefix of {cut} bytes gave {other:?}"),
            }
        }
    }

    #[test]
    fn v1_spec_examples() {
        let buf = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        let h = complete(buf);
        assert_eq!((h.version, h.command, h.transport), (Version::V1, Command::Proxy, Transport::Stream));
        assert_eq!(h.addresses, inet("192.168.0.1:56324", "192.168.0.11:443"));
        assert_eq!(&buf[h.len..], b"GET / HTTP/1.1\r\n");
        assert_eq!(h.source(), Some(sa("192.168.0.1:56324")));

        let max4 = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
        assert_eq!(max4.len(), 56);
        assert_eq!(complete(max4).len, 56);

        let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let max6 = format!("PROXY TCP6 {full} {full} 65535 65535\r\n");
        assert_eq!(max6.len(), 104);
        assert_eq!(complete(max6.as_bytes()).source(), Some(SocketAddr::new(full.parse().unwrap(), 65535)));

        let unknown = complete(b"PROXY UNKNOWN\r\n");
        assert_eq!(
            (unknown.len, unknown.addresses, unknown.transport),
            (15, Addresses::Unspecified, Transport::Unspec)
        );

        // The worst case: UNKNOWN with everything else, 107 bytes in all.
        let worst = format!("PROXY UNKNOWN {full} {full} 65535 65535\r\n");
        assert_eq!(worst.len(), V1_MAX_LEN);
        assert_eq!(complete(worst.as_bytes()).addresses, Addresses::Unspecified);
        assert_prefixes_incomplete(worst.as_bytes());
        assert_prefixes_incomplete(max4);
    }

    #[test]
    fn v1_refusals() {
        let bad: &[(&[u8], ProxyError)] = &[
            (b"GET / HTTP/1.1\r\n", ProxyError::NotProxy),
            (b"PROXX", ProxyError::NotProxy),
            (b"PROXY TCP5", ProxyError::V1Syntax("protocol is not TCP4, TCP6 or UNKNOWN")),
            (b"PROXY UNKNOWNX\r\n", ProxyError::V1Syntax("protocol is not TCP4, TCP6 or UNKNOWN")),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", ProxyError::V1Syntax("LF without CR")),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", ProxyError::V1Syntax("CR not followed by LF")),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", ProxyError::V1Syntax("expected four fields after the protocol")),
            (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", ProxyError::V1Syntax("expected four fields after the protocol")),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", ProxyError::V1Syntax("expected four fields after the protocol")),
            (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", ProxyError::V1Syntax("invalid IPv4 address")),
            (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", ProxyError::V1Syntax("invalid IPv4 address")),
            (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", ProxyError::V1Syntax("invalid IPv4 address")),
            (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", ProxyError::V1Syntax("invalid IPv4 address")),
            (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", ProxyError::V1Syntax("invalid IPv6 address")),
            (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", ProxyError::V1Syntax("invalid IPv6 address")),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", ProxyError::V1Syntax("invalid port")),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 021 2\r\n", ProxyError::V1Syntax("invalid port")),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", ProxyError::V1Syntax("invalid port")),
        ];
        for (input, want) in bad {
            assert_eq!(parse(input).as_ref(), Err(want), "{:?}", String::from_utf8_lossy(input));
        }
        // No CRLF within 107 bytes.
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 100]].concat();
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
        let mut cr_last = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 92]].concat();
        cr_last.push(b'\r');
        assert_eq!(cr_last.len(), V1_MAX_LEN);
        assert_eq!(parse(&cr_last), Err(ProxyError::V1TooLong));
        // Port 0 and address 0.0.0.0 are well-formed.
        assert_eq!(complete(b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n").source(), Some(sa("0.0.0.0:0")));
    }

    #[test]
    fn needs_more_bytes_until_the_end() {
        assert_eq!(parse(b""), Ok(Parsed::Incomplete { needed: MIN_LEN }));
        assert_eq!(parse(b"PROXY"), Ok(Parsed::Incomplete { needed: 10 }));
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"), Ok(Parsed::Incomplete { needed: 1 }));
        assert_eq!(parse(&V2_SIGNATURE[..3]), Ok(Parsed::Incomplete { needed: 13 }));
    }

    fn v2_ipv4_example() -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0x00, 0x0C]);
        h.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 2]);
        h.extend_from_slice(&56324u16.to_be_bytes());
        h.extend_from_slice(&21u16.to_be_bytes());
        h
    }

    #[test]
    fn v2_tcp_over_ipv4() {
        let mut buf = v2_ipv4_example();
        buf.extend_from_slice(b"USER x\r\n");
        let h = complete(&buf);
        assert_eq!((h.version, h.command, h.transport, h.len), (Version::V2, Command::Proxy, Transport::Stream, 28));
        assert_eq!(h.addresses, inet("192.0.2.1:56324", "198.51.100.2:21"));
        assert_eq!(h.tlvs(&buf).count(), 0);
        assert_prefixes_incomplete(&v2_ipv4_example());
        assert_eq!(parse(&buf[..16]), Ok(Parsed::Incomplete { needed: 12 }));
    }

    #[test]
    fn v2_tcp_over_ipv6_and_udp() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x22, 0x00, 36]);
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&dst.octets());
        h.extend_from_slice(&[0x12, 0x34, 0x00, 0x15]);
        let parsed = complete(&h);
        assert_eq!(parsed.transport, Transport::Datagram);
        assert_eq!(parsed.addresses, inet("[2001:db8::1]:4660", "[2001:db8::2]:21"));
    }

    #[test]
    fn v2_local_and_unspec_use_the_real_endpoints() {
        // LOCAL with an address block and even an undefined family: ignored.
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0xFF, 0x00, 0x03, 1, 2, 3]);
        let h = complete(&local);
        assert_eq!((h.command, h.addresses.clone(), h.len), (Command::Local, Addresses::Unspecified, 19));
        // PROXY with AF_UNSPEC, and AF_INET with an unspecified transport.
        for fam in [0x00, 0x01, 0x10, 0x30] {
            let mut buf = V2_SIGNATURE.to_vec();
            buf.extend_from_slice(&[0x21, fam, 0x00, 0x00]);
            assert_eq!(complete(&buf).addresses, Addresses::Unspecified, "family byte {fam:#x}");
        }
    }

    #[test]
    fn v2_unix_addresses() {
        let mut unix = UnixAddresses { source: [0; UNIX_ADDR_LEN], destination: [0; UNIX_ADDR_LEN] };
        unix.source[..9].copy_from_slice(b"/tmp/a.so");
        unix.destination[..2].copy_from_slice(b"\0x");
        let addresses = Addresses::Unix(Box::new(unix));
        let buf = write_v2(Command::Proxy, Transport::Stream, &addresses, &[], false).unwrap();
        assert_eq!(buf.len(), V2_FIXED_LEN + 216);
        let h = complete(&buf);
        assert_eq!(h.addresses, addresses);
        assert_eq!(h.source(), None);
        assert!(format!("{:?}", h.addresses).contains("/tmp/a.so"));
    }

    #[test]
    fn v2_refusals() {
        let sig = V2_SIGNATURE.to_vec();
        let with = |tail: &[u8]| [sig.as_slice(), tail].concat();
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIT\r"), Err(ProxyError::NotProxy));
        assert_eq!(parse(&with(&[0x11])), Err(ProxyError::V2Version(1)));
        assert_eq!(parse(&with(&[0x22])), Err(ProxyError::V2Command(2)));
        assert_eq!(parse(&with(&[0x21, 0x41])), Err(ProxyError::V2Family(0x41)));
        assert_eq!(parse(&with(&[0x21, 0x13])), Err(ProxyError::V2Family(0x13)));
        assert_eq!(
            parse(&with(&[0x21, 0x11, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8])),
            Err(ProxyError::V2ShortAddress { len: 8, need: 12 })
        );
        assert_eq!(
            parse_with_limit(&with(&[0x21, 0x11, 0x01, 0x00]), 200),
            Err(ProxyError::V2TooLong { len: 272, max: 200 })
        );
        // A TLV whose length runs past the header, and a TLV cut after its type.
        let mut tlv_over = v2_ipv4_example();
        tlv_over[15] = 12 + 4;
        tlv_over.extend_from_slice(&[tlv_type::NOOP, 0x00, 0x02, 0]);
        assert_eq!(parse(&tlv_over), Err(ProxyError::V2Tlv(28)));
        let mut tlv_cut = v2_ipv4_example();
        tlv_cut[15] = 12 + 2;
        tlv_cut.extend_from_slice(&[tlv_type::NOOP, 0x00]);
        assert_eq!(parse(&tlv_cut), Err(ProxyError::V2Tlv(28)));
    }

    #[test]
    fn v2_tlvs_are_skipped_and_listed() {
        let addresses = inet("192.0.2.1:1000", "192.0.2.2:21");
        let tlvs = [
            Tlv { kind: tlv_type::AUTHORITY, value: b"ftp.example.org" },
            Tlv { kind: tlv_type::NOOP, value: b"" },
            Tlv { kind: tlv_type::SSL, value: &[0x01, 0, 0, 0, 0] },
        ];
        let buf = write_v2(Command::Proxy, Transport::Stream, &addresses, &tlvs, false).unwrap();
        let h = complete(&buf);
        assert_eq!(h.addresses, addresses);
        assert_eq!(h.tlvs(&buf).collect::<Vec<_>>(), tlvs);
        assert_eq!(h.tlv_range(), 28..buf.len());
        // Other bytes than the header's never make the iterator panic.
        assert_eq!(h.tlvs(b"short").count(), 0);
    }

    #[test]
    fn crc32c_check_value_and_tlv() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let addresses = inet("[2001:db8::1]:1000", "[2001:db8::2]:21");
        let tlv = [Tlv { kind: tlv_type::UNIQUE_ID, value: b"abc" }];
        let mut buf = write_v2(Command::Proxy, Transport::Stream, &addresses, &tlv, true).unwrap();
        let h = complete(&buf);
        let kinds: Vec<u8> = h.tlvs(&buf).map(|t| t.kind).collect();
        assert_eq!(kinds, [tlv_type::UNIQUE_ID, tlv_type::CRC32C]);
        // Any flipped bit in the header breaks the checksum.
        buf[20] ^= 1;
        assert_eq!(parse(&buf), Err(ProxyError::V2Checksum));
    }

    #[test]
    fn writers_refuse_what_the_format_cannot_say() {
        assert_eq!(write_v1(Some((sa("1.2.3.4:1"), sa("[::1]:2")))), None);
        assert_eq!(write_v1(None).unwrap(), b"PROXY UNKNOWN\r\n");
        let mixed = inet("1.2.3.4:1", "[::1]:2");
        assert_eq!(write_v2(Command::Proxy, Transport::Stream, &mixed, &[], false), None);
        let v4 = inet("1.2.3.4:1", "5.6.7.8:2");
        assert_eq!(write_v2(Command::Proxy, Transport::Unspec, &v4, &[], false), None);
        let huge = vec![0u8; 65_535];
        assert_eq!(write_v2(Command::Proxy, Transport::Stream, &v4, &[Tlv { kind: 0xE0, value: &huge }], false), None);
    }

    fn arb_inet() -> impl Strategy<Value = Addresses> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<u16>(), any::<u16>()).prop_map(|(s, d, sp, dp)| {
                Addresses::Inet {
                    source: SocketAddr::new(IpAddr::from(s), sp),
                    destination: SocketAddr::new(IpAddr::from(d), dp),
                }
            }),
            (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u16>(), any::<u16>()).prop_map(|(s, d, sp, dp)| {
                Addresses::Inet {
                    source: SocketAddr::new(IpAddr::from(s), sp),
                    destination: SocketAddr::new(IpAddr::from(d), dp),
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn v1_round_trips(addresses in arb_inet(), tail in proptest::collection::vec(any::<u8>(), 0..20)) {
            let Addresses::Inet { source, destination } = addresses.clone() else { unreachable!() };
            let line = write_v1(Some((source, destination))).unwrap();
            prop_assert!(line.len() <= V1_MAX_LEN);
            let buf = [line.as_slice(), &tail].concat();
            let h = complete(&buf);
            prop_assert_eq!(h.addresses, addresses);
            prop_assert_eq!(h.len, line.len());
            assert_prefixes_incomplete(&line);
        }

        #[test]
        fn v2_round_trips(
            addresses in arb_inet(),
            datagram in any::<bool>(),
            tlvs in proptest::collection::vec((0xE0u8..=0xEF, proptest::collection::vec(any::<u8>(), 0..40)), 0..5),
            checksum in any::<bool>(),
            tail in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let transport = if datagram { Transport::Datagram } else { Transport::Stream };
            let tlvs: Vec<Tlv<'_>> = tlvs.iter().map(|(kind, value)| Tlv { kind: *kind, value }).collect();
            let header = write_v2(Command::Proxy, transport, &addresses, &tlvs, checksum).unwrap();
            let buf = [header.as_slice(), &tail].concat();
            let h = complete(&buf);
            prop_assert_eq!((h.command, h.transport, h.len), (Command::Proxy, transport, header.len()));
            prop_assert_eq!(&h.addresses, &addresses);
            let got: Vec<Tlv<'_>> = h.tlvs(&buf).filter(|t| t.kind != tlv_type::CRC32C).collect();
            prop_assert_eq!(got, tlvs);
            assert_prefixes_incomplete(&header);
        }

        #[test]
        fn never_panics_and_errors_stick(buf in proptest::collection::vec(any::<u8>(), 0..300), extra in proptest::collection::vec(any::<u8>(), 0..20)) {
            if parse(&buf).is_err() {
                let longer = [buf.as_slice(), &extra].concat();
                prop_assert!(parse(&longer).is_err());
            }
        }
    }
}
