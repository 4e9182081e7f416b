//! Argument parsers: one function per argument shape, each turning the raw
//! bytes after the verb into a typed value or a [`ParseError`] that knows its
//! reply. Paths stay raw bytes; text arguments must be UTF-8.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use super::{NET_PROTO_NOT_SUPPORTED, ParseError};
use crate::time::parse_timestamp;

/// A `SITE` subcommand.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteCommand {
    /// `SITE CHMOD mode path`: mode is octal, at most `0o7777`.
    Chmod { mode: u32, path: Vec<u8> },
    /// `SITE HELP [topic]`.
    Help { topic: Option<String> },
    /// Any other `SITE name args`: name upper-cased, args trimmed.
    Other { name: String, args: String },
}

/// Every SITE subcommand the server understands, with its syntax and what
/// it does: what `SITE HELP` lists, so the list cannot fall behind.
pub const SITE_COMMANDS: &[(&str, &str, &str)] = &[
    ("CHMOD", "<octal mode> <path>", "change a file's permission bits"),
    ("HELP", "[command]", "this list, or one command's syntax"),
];

/// The representation type of transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    /// `TYPE A` / `TYPE A N`: text, CRLF on the wire.
    Ascii,
    /// `TYPE I` / `TYPE L 8`: bytes as they are.
    Image,
}

/// The argument of `EPSV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// `EPSV`: open a port of the control connection's family.
    None,
    /// `EPSV ALL`: from now on only EPSV is allowed (RFC 2428 §4).
    All,
    /// `EPSV n`: open a port for network protocol n (1 IPv4, 2 IPv6); the
    /// engine answers 522 for other values.
    Protocol(u8),
}

/// The argument of `AUTH` (RFC 2228 §3, RFC 4217 §4), upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMechanism {
    /// `AUTH TLS` (RFC 4217).
    Tls,
    /// `AUTH SSL`: the older name clients still send (curl tries it first).
    Ssl,
    /// `AUTH TLS-C`: TLS, data connections clear until PROT (draft-murray-auth-ftp-ssl).
    TlsC,
    /// `AUTH TLS-P`: TLS, data connections protected (draft-murray-auth-ftp-ssl).
    TlsP,
    /// Any other mechanism (the engine answers 504).
    Other(String),
}

impl AuthMechanism {
    /// Parse an upper-cased mechanism name.
    fn from_upper(word: String) -> AuthMechanism {
        match word.as_str() {
            "TLS" => AuthMechanism::Tls,
            "SSL" => AuthMechanism::Ssl,
            "TLS-C" => AuthMechanism::TlsC,
            "TLS-P" => AuthMechanism::TlsP,
            _ => AuthMechanism::Other(word),
        }
    }

    /// The mechanism as sent (upper-cased).
    pub fn as_str(&self) -> &str {
        match self {
            AuthMechanism::Tls => "TLS",
            AuthMechanism::Ssl => "SSL",
            AuthMechanism::TlsC => "TLS-C",
            AuthMechanism::TlsP => "TLS-P",
            AuthMechanism::Other(name) => name,
        }
    }

    /// Whether this is one of the names of TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, AuthMechanism::Other(_))
    }
}

impl fmt::Display for AuthMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The argument of `PROT` (RFC 2228 §3): the data channel protection level, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtLevel {
    /// `C`: clear.
    Clear,
    /// `S`: safe (integrity only), which TLS cannot offer.
    Safe,
    /// `E`: confidential (privacy only), which TLS cannot offer.
    Confidential,
    /// `P`: private (TLS on data connections).
    Private,
    /// Anything else (the engine answers 504).
    Other(String),
}

impl ProtLevel {
    fn from_upper(word: String) -> ProtLevel {
        match word.as_str() {
            "C" => ProtLevel::Clear,
            "S" => ProtLevel::Safe,
            "E" => ProtLevel::Confidential,
            "P" => ProtLevel::Private,
            _ => ProtLevel::Other(word),
        }
    }

    /// The level as sent (upper-cased).
    pub fn as_str(&self) -> &str {
        match self {
            ProtLevel::Clear => "C",
            ProtLevel::Safe => "S",
            ProtLevel::Confidential => "E",
            ProtLevel::Private => "P",
            ProtLevel::Other(level) => level,
        }
    }
}

impl fmt::Display for ProtLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `AUTH mechanism`: required, case-insensitive.
pub(super) fn parse_auth(arg: &Arg<'_>) -> Result<AuthMechanism, ParseError> {
    Ok(AuthMechanism::from_upper(arg.word()?.to_ascii_uppercase()))
}

/// `PROT level`: required, case-insensitive.
pub(super) fn parse_prot(arg: &Arg<'_>) -> Result<ProtLevel, ParseError> {
    Ok(ProtLevel::from_upper(arg.word()?.to_ascii_uppercase()))
}

/// `PBSZ size`: required; the size when it is a decimal number. Any other
/// word is accepted too, as before (a stream has no protection buffer: the
/// answer is always `PBSZ=0`, RFC 4217 §8).
pub(super) fn parse_pbsz(arg: &Arg<'_>) -> Result<Option<u64>, ParseError> {
    Ok(decimal(arg.word()?.as_bytes()))
}

pub(super) fn syntax(text: impl Into<String>) -> ParseError {
    ParseError::Syntax(text.into())
}

/// The argument after the verb, and helpers that check it for each shape of command.
pub(super) struct Arg<'a> {
    pub(super) verb: &'static str,
    /// `None` when no space followed the verb; otherwise the bytes after
    /// exactly one space, verbatim.
    pub(super) raw: Option<&'a [u8]>,
}

impl<'a> Arg<'a> {
    /// The argument if there is a non-blank one.
    pub(super) fn present(&self) -> Option<&'a [u8]> {
        self.raw.filter(|a| a.iter().any(|&b| b != b' '))
    }

    /// For commands that take nothing (a trailing blank is tolerated).
    pub(super) fn none(&self) -> Result<(), ParseError> {
        match self.present() {
            None => Ok(()),
            Some(_) => Err(syntax(format!("{} takes no argument.", self.verb))),
        }
    }

    /// A required argument, verbatim.
    pub(super) fn required(&self) -> Result<&'a [u8], ParseError> {
        self.present().ok_or_else(|| syntax(format!("{} needs an argument.", self.verb)))
    }

    /// A required path.
    pub(super) fn path(&self) -> Result<Vec<u8>, ParseError> {
        self.required().map(<[u8]>::to_vec)
    }

    /// An optional path.
    pub(super) fn opt_path(&self) -> Option<Vec<u8>> {
        self.present().map(<[u8]>::to_vec)
    }

    /// A required UTF-8 argument, verbatim.
    pub(super) fn text(&self) -> Result<String, ParseError> {
        utf8(self.required()?)
    }

    /// A required UTF-8 argument with surrounding blanks removed.
    pub(super) fn word(&self) -> Result<String, ParseError> {
        Ok(self.text()?.trim_matches(' ').to_string())
    }

    /// An optional UTF-8 argument with surrounding blanks removed.
    pub(super) fn opt_word(&self) -> Result<Option<String>, ParseError> {
        self.present().map(|a| utf8(a).map(|s| s.trim_matches(' ').to_string())).transpose()
    }
}

pub(super) fn utf8(bytes: &[u8]) -> Result<String, ParseError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| syntax("Argument is not valid UTF-8."))
}

/// A decimal number of ASCII digits only (no sign, no blanks inside).
pub(super) fn decimal<T: std::str::FromStr>(s: &[u8]) -> Option<T> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Strip ASCII blanks (space, tab) from both ends of a byte string.
fn trim_blanks(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// Strip leading spaces.
fn trim_blanks_start(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ').unwrap_or(s.len());
    s.get(start..).unwrap_or_default()
}

pub(super) fn parse_rest(arg: &[u8]) -> Result<u64, ParseError> {
    decimal(trim_blanks(arg)).ok_or_else(|| syntax("REST needs a byte offset: a decimal number from 0 to 2^64-1."))
}

/// `TYPE` argument (RFC 959 §4.1.2): `A [N|T|C]`, `E [N|T|C]`, `I`, `L n`.
pub(super) fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    let words: Vec<&str> = arg.split_ascii_whitespace().collect();
    let bad = || syntax(format!("Unrecognised TYPE \"{arg}\"; use A or I."));
    let unsupported = || ParseError::NotImplementedParameter(format!("TYPE {arg} not supported; use A or I."));
    let code = words.first().map(|w| w.to_ascii_uppercase()).ok_or_else(bad)?;
    let second = words.get(1).map(|w| w.to_ascii_uppercase());
    if words.len() > 2 {
        return Err(bad());
    }
    match (code.as_str(), second.as_deref()) {
        ("A", None | Some("N")) => Ok(TransferType::Ascii),
        ("A" | "E", Some("T" | "C")) | ("E", None | Some("N")) => Err(unsupported()),
        ("I", None) => Ok(TransferType::Image),
        ("L", Some(size)) => match decimal::<u8>(size.as_bytes()) {
            Some(8) => Ok(TransferType::Image),
            Some(n) if n > 0 => Err(unsupported()),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// `MODE`/`STRU`: one letter; `ok` is supported, `known` are valid but not
/// supported (504), anything else is a syntax error.
pub(super) fn parse_single_code(arg: &str, verb: &str, ok: char, known: &str) -> Result<(), ParseError> {
    let mut chars = arg.chars();
    match (chars.next().map(|c| c.to_ascii_uppercase()), chars.next()) {
        (Some(c), None) if c == ok => Ok(()),
        (Some(c), None) if known.contains(c) => {
            Err(ParseError::NotImplementedParameter(format!("{verb} {c} not supported; use {verb} {ok}.")))
        }
        _ => Err(syntax(format!("Unrecognised {verb} \"{arg}\"."))),
    }
}

pub(super) fn parse_epsv(arg: Option<String>) -> Result<EpsvArg, ParseError> {
    match arg {
        None => Ok(EpsvArg::None),
        Some(a) if a.eq_ignore_ascii_case("ALL") => Ok(EpsvArg::All),
        Some(a) => decimal::<u8>(a.as_bytes())
            .map(EpsvArg::Protocol)
            .ok_or_else(|| syntax("EPSV takes ALL or a network protocol number.")),
    }
}

/// `PORT h1,h2,h3,h4,p1,p2`: six decimal numbers 0..=255, blanks allowed
/// around each.
pub(super) fn parse_port(arg: &[u8]) -> Result<SocketAddrV4, ParseError> {
    let bad = || syntax("PORT needs h1,h2,h3,h4,p1,p2 (six numbers 0-255).");
    let mut n = [0u8; 6];
    let mut fields = arg.split(|&b| b == b',');
    for slot in &mut n {
        *slot = fields.next().and_then(|f| decimal::<u8>(trim_blanks(f))).ok_or_else(bad)?;
    }
    if fields.next().is_some() {
        return Err(bad());
    }
    let [h1, h2, h3, h4, p1, p2] = n;
    Ok(SocketAddrV4::new(Ipv4Addr::new(h1, h2, h3, h4), u16::from_be_bytes([p1, p2])))
}

/// `EPRT <d><proto><d><addr><d><port><d>` (RFC 2428 §2), where `d` is any
/// printable ASCII character other than a digit, usually `|`.
pub(super) fn parse_eprt(arg: &[u8]) -> Result<SocketAddr, ParseError> {
    let bad = || syntax("EPRT needs |proto|address|port| (proto 1 for IPv4, 2 for IPv6).");
    let arg = trim_blanks(arg);
    let delim = *arg.first().ok_or_else(bad)?;
    if !(33..=126).contains(&delim) || delim.is_ascii_digit() {
        return Err(bad());
    }
    let fields: Vec<&[u8]> = arg.split(|&b| b == delim).collect();
    let [first, proto, addr, port, last] = fields.as_slice() else {
        return Err(bad());
    };
    if !first.is_empty() || !last.is_empty() {
        return Err(bad());
    }
    let port: u16 = decimal(port).ok_or_else(bad)?;
    let addr = std::str::from_utf8(addr).map_err(|_| bad())?;
    let ip = match decimal::<u32>(proto) {
        Some(1) => IpAddr::V4(addr.parse::<Ipv4Addr>().map_err(|_| bad())?),
        Some(2) => IpAddr::V6(addr.parse::<Ipv6Addr>().map_err(|_| bad())?),
        Some(_) => {
            return Err(ParseError::NotImplementedParameter(NET_PROTO_NOT_SUPPORTED.to_string()));
        }
        None => return Err(bad()),
    };
    Ok(SocketAddr::new(ip, port))
}

/// `MFMT YYYYMMDDHHMMSS[.sss] path`: the time in Unix seconds and the path.
pub(super) fn parse_mfmt(arg: &[u8]) -> Result<(i64, Vec<u8>), ParseError> {
    let bad = || syntax("MFMT needs YYYYMMDDHHMMSS and a path.");
    let sp = arg.iter().position(|&b| b == b' ').ok_or_else(bad)?;
    let stamp = std::str::from_utf8(&arg[..sp]).map_err(|_| bad())?;
    let path = &arg[sp + 1..];
    if path.iter().all(|&b| b == b' ') {
        return Err(bad());
    }
    let unix_secs = parse_timestamp(stamp).ok_or_else(|| syntax(format!("MFMT: \"{stamp}\" is not a valid time.")))?;
    Ok((unix_secs, path.to_vec()))
}

/// The old set-time form of MDTM some clients send, `MDTM YYYYMMDDHHMMSS
/// path` (the form MFMT standardised): the time and the path, when the
/// argument starts with a valid time word followed by a path. The engine
/// checks first that the whole argument is not itself a file name.
pub fn mdtm_set_form(arg: &[u8]) -> Option<(i64, Vec<u8>)> {
    let sp = arg.iter().position(|&b| b == b' ')?;
    let word = &arg[..sp];
    let digits = word.split(|&b| b == b'.').next().unwrap_or_default();
    if digits.len() != 14 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    parse_mfmt(arg).ok()
}

/// `XCRC`/`XMD5`/`XSHA256` argument: a path, or `"path" [start [end]]`;
/// only the whole file (no range, or `0` alone) is offered.
pub(super) fn parse_digest(arg: &[u8]) -> Result<Vec<u8>, ParseError> {
    let Some(quoted) = arg.strip_prefix(b"\"") else { return Ok(arg.to_vec()) };
    let end = quoted.iter().position(|&b| b == b'"').ok_or_else(|| syntax("Unterminated quoted path."))?;
    let rest: Vec<&[u8]> = quoted[end + 1..].split(|&b| b == b' ').filter(|w| !w.is_empty()).collect();
    match rest.as_slice() {
        [] | [b"0"] => Ok(quoted[..end].to_vec()),
        _ => Err(ParseError::NotImplementedParameter("Digests of byte ranges are not supported; use HASH.".into())),
    }
}

/// `OPTS option [value]`: the option upper-cased, the value trimmed.
pub(super) fn parse_opts(arg: &str) -> (String, String) {
    let (option, value) = arg.split_once(' ').unwrap_or((arg, ""));
    (option.to_ascii_uppercase(), value.trim_matches(' ').to_string())
}

/// `SITE name args`: the first word names the subcommand.
pub(super) fn parse_site(arg: &[u8]) -> Result<SiteCommand, ParseError> {
    let arg = trim_blanks_start(arg);
    let (name, rest) = match arg.iter().position(|&b| b == b' ') {
        Some(sp) => (&arg[..sp], &arg[sp + 1..]),
        None => (arg, &b""[..]),
    };
    let name = utf8(name)?.to_ascii_uppercase();
    match name.as_str() {
        "CHMOD" => {
            let bad = || syntax("SITE CHMOD needs an octal mode (at most 7777) and a path.");
            let sp = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
            let digits = &rest[..sp];
            let path = &rest[sp + 1..];
            if digits.is_empty() || digits.len() > 5 || !digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
                return Err(bad());
            }
            let mode = digits.iter().fold(0u32, |acc, &b| acc * 8 + u32::from(b - b'0'));
            if mode > 0o7777 || path.iter().all(|&b| b == b' ') {
                return Err(bad());
            }
            Ok(SiteCommand::Chmod { mode, path: path.to_vec() })
        }
        "HELP" => {
            let topic = utf8(rest)?.trim_matches(' ').to_string();
            Ok(SiteCommand::Help { topic: (!topic.is_empty()).then_some(topic) })
        }
        _ => Ok(SiteCommand::Other { name, args: utf8(rest)?.trim_matches(' ').to_string() }),
    }
}

/// `HOST` (RFC 7151 §3): a domain name, an IPv4 address, or an IPv6
/// address in brackets.
pub(super) fn parse_host(arg: &str) -> Result<String, ParseError> {
    let bad = || syntax("HOST needs a domain name or an IP address ([IPv6] in brackets).");
    if arg.len() > 255 {
        return Err(bad());
    }
    if let Some(inner) = arg.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(bad)?;
        inner.parse::<Ipv6Addr>().map_err(|_| bad())?;
        return Ok(arg.to_string());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    // One trailing dot (a fully qualified name) is fine.
    let name = arg.strip_suffix('.').unwrap_or(arg);
    if name.split('.').all(label_ok) { Ok(arg.to_string()) } else { Err(bad()) }
}
