//! Parsing what an FTP server sends on the control connection: reply lines
//! and the data addresses in EPSV (229) and PASV (227) replies.
//!
//! Pure functions over bytes, so the client in [`crate::ftp`] stays a thin
//! I/O shell and every rule here is unit-tested without a server.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// One line of a reply, classified by RFC 959's multi-line rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// `ddd text`: the last (or only) line of a reply with this code.
    Last(u16),
    /// `ddd-text`: the first line of a multi-line reply with this code.
    First(u16),
    /// Any other line: continuation text inside a multi-line reply.
    Text,
}

/// Classifies one reply line (without its line end).
pub fn classify(line: &[u8]) -> Line {
    let Some((digits, rest)) = line.split_at_checked(3) else {
        return Line::Text;
    };
    let Some(code) = three_digits(digits) else {
        return Line::Text;
    };
    match rest.first() {
        Some(b'-') => Line::First(code),
        // A bare "ddd" is a complete reply too (seen from some servers).
        Some(b' ') | None => Line::Last(code),
        Some(_) => Line::Text,
    }
}

/// The reply code in `digits` if they are exactly three ASCII digits and the
/// first is a valid reply class (1-5).
fn three_digits(digits: &[u8]) -> Option<u16> {
    let mut code = 0u16;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        code = code * 10 + u16::from(d - b'0');
    }
    (100..600).contains(&code).then_some(code)
}

/// Tracks where a possibly multi-line reply ends.
///
/// Feed it each line; it answers `Some(code)` on the line that completes the
/// reply. A multi-line reply ends only at `ddd ` with the same code as its
/// first line, so text lines that happen to start with digits do not end it.
#[derive(Debug, Default)]
pub struct ReplyAssembler {
    open: Option<u16>,
}

impl ReplyAssembler {
    /// Takes the next line; returns the reply code once the reply is complete.
    pub fn push(&mut self, line: &[u8]) -> Option<u16> {
        match (self.open, classify(line)) {
            (None, Line::Last(code)) => Some(code),
            (None, Line::First(code)) => {
                self.open = Some(code);
                None
            }
            (Some(open), Line::Last(code)) if open == code => {
                self.open = None;
                Some(code)
            }
            // Stray text before any code, or text inside a multi-line reply.
            _ => None,
        }
    }
}

/// The port in an EPSV reply text such as `Entering Extended Passive Mode (|||6446|)`.
///
/// RFC 2428 lets the delimiter be any printable character; it is whatever
/// follows the opening parenthesis.
pub fn epsv_port(text: &str) -> Option<u16> {
    let open = text.find('(')?;
    let inner = text.get(open + 1..)?;
    let delim = inner.chars().next()?;
    let mut fields = inner.split(delim);
    // "(|||port|)" splits into "", "", "", "port", ")".
    let (_, _, _, port) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    port.parse::<u16>().ok().filter(|&p| p != 0)
}

/// The address in a PASV reply text such as `Entering Passive Mode (127,0,0,1,195,80).`
///
/// Servers differ in what surrounds the six numbers (parentheses or not), so
/// this takes the first run of six comma-separated numbers in the text.
pub fn pasv_addr(text: &str) -> Option<SocketAddr> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let tail = text.get(start..)?;
    let end = tail.find(|c: char| !(c.is_ascii_digit() || c == ',')).unwrap_or(tail.len());
    let numbers: Vec<u8> = tail.get(..end)?.split(',').map(|n| n.parse::<u8>().ok()).collect::<Option<_>>()?;
    let [a, b, c, d, hi, lo] = numbers.as_slice() else {
        return None;
    };
    let port = u16::from(*hi) << 8 | u16::from(*lo);
    (port != 0).then(|| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(*a, *b, *c, *d), port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_lines() {
        assert_eq!(classify(b"220 ready"), Line::Last(220));
        assert_eq!(classify(b"220"), Line::Last(220));
        assert_eq!(classify(b"211-Features:"), Line::First(211));
        assert_eq!(classify(b" MDTM"), Line::Text);
        assert_eq!(classify(b"22"), Line::Text);
        assert_eq!(classify(b"2x0 no"), Line::Text);
        assert_eq!(classify(b"099 too low"), Line::Text);
        assert_eq!(classify(b"600 too high"), Line::Text);
        assert_eq!(classify(b"200x"), Line::Text);
        assert_eq!(classify(b""), Line::Text);
    }

    #[test]
    fn assembles_single_and_multi_line_replies() {
        let mut r = ReplyAssembler::default();
        assert_eq!(r.push(b"230 Login successful."), Some(230));

        assert_eq!(r.push(b"211-Features:"), None);
        assert_eq!(r.push(b" EPSV"), None);
        // Same class, other code: still inside the reply.
        assert_eq!(r.push(b"212 not the end"), None);
        assert_eq!(r.push(b"211-still open"), None);
        assert_eq!(r.push(b"211 End"), Some(211));

        // The assembler is reusable after a reply completes.
        assert_eq!(r.push(b"garbage"), None);
        assert_eq!(r.push(b"200 ok"), Some(200));
    }

    #[test]
    fn parses_epsv() {
        assert_eq!(epsv_port("Entering Extended Passive Mode (|||6446|)"), Some(6446));
        assert_eq!(epsv_port("ok (!!!65535!)"), Some(65535));
        assert_eq!(epsv_port("Entering Extended Passive Mode (|||0|)"), None);
        assert_eq!(epsv_port("Entering Extended Passive Mode (|||70000|)"), None);
        assert_eq!(epsv_port("Entering Extended Passive Mode (||)"), None);
        assert_eq!(epsv_port("no parenthesis"), None);
        assert_eq!(epsv_port("("), None);
    }

    #[test]
    fn parses_pasv() {
        let want: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        assert_eq!(pasv_addr("Entering Passive Mode (127,0,0,1,195,80)."), Some(want));
        assert_eq!(pasv_addr("Entering Passive Mode 127,0,0,1,195,80"), Some(want));
        assert_eq!(pasv_addr("Entering Passive Mode (127,0,0,1,195)"), None);
        assert_eq!(pasv_addr("Entering Passive Mode (127,0,0,1,195,80,1)"), None);
        assert_eq!(pasv_addr("Entering Passive Mode (127,0,0,1,256,80)"), None);
        assert_eq!(pasv_addr("Entering Passive Mode (127,0,0,1,0,0)"), None);
        assert_eq!(pasv_addr("nothing here"), None);
    }
}
