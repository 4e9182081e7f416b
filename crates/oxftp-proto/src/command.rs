//! Parsing one control line into a [`Command`].
//!
//! A line is a verb (ASCII letters, case-insensitive), optionally one space
//! and an argument that runs verbatim to the end of the line (RFC 959 §5.3).
//! Paths stay raw bytes, because file names need not be UTF-8; text
//! arguments (user names, options, host names) must be UTF-8. Every malformed
//! line becomes a [`ParseError`] that knows its own reply, so the session can
//! answer and carry on instead of dropping the connection.

use crate::reply::Reply;
use crate::time::parse_timestamp;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Longest verb accepted. Real verbs have 3 or 4 letters; a little slack
/// keeps room for extensions without letting junk through.
const MAX_VERB: usize = 16;

/// The [`ParseError::NotImplementedParameter`] text for an EPRT network
/// protocol other than 1 (IPv4) or 2 (IPv6). [`ParseError::reply`] answers it
/// with 522, as RFC 2428 §2 asks, so the client learns which ones work.
pub const NET_PROTO_NOT_SUPPORTED: &str = "Network protocol not supported, use (1,2)";

/// One parsed command. Verb aliases (`XCWD` for `CWD`, ...) map to the same
/// variant. Each variant's doc gives its wire form; fields are named after
/// the argument they hold.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name`: start a login.
    User { name: String },
    /// `PASS [password]`: finish a login; the password may be empty.
    Pass { password: String },
    /// `ACCT account`: account information (RFC 959); rarely used.
    Acct { account: String },
    /// `REIN`: log out but keep the connection.
    Rein,
    /// `QUIT`: log out and close.
    Quit,
    /// `CWD path` / `XCWD path`: change directory.
    Cwd { path: Vec<u8> },
    /// `CDUP` / `XCUP`: change to the parent directory.
    Cdup,
    /// `PWD` / `XPWD`: print the current directory.
    Pwd,
    /// `MKD path` / `XMKD path`: make a directory.
    Mkd { path: Vec<u8> },
    /// `RMD path` / `XRMD path`: remove a directory.
    Rmd { path: Vec<u8> },
    /// `DELE path`: delete a file.
    Dele { path: Vec<u8> },
    /// `RNFR path`: rename from (must be followed by RNTO).
    Rnfr { path: Vec<u8> },
    /// `RNTO path`: rename to.
    Rnto { path: Vec<u8> },
    /// `RETR path`: download.
    Retr { path: Vec<u8> },
    /// `STOR path`: upload, replacing.
    Stor { path: Vec<u8> },
    /// `STOU [path]`: upload under a unique name the server picks.
    Stou { path: Option<Vec<u8>> },
    /// `APPE path`: upload, appending.
    Appe { path: Vec<u8> },
    /// `REST offset`: the next RETR/STOR starts at this byte offset.
    Rest { offset: u64 },
    /// `ALLO ...`: reserve space; accepted and ignored, as RFC 959 allows.
    Allo,
    /// `ABOR`: abort the running transfer.
    Abor,
    /// `TYPE A|I|L 8`: representation type.
    Type(TransferType),
    /// `MODE S`: the only transfer mode supported (stream).
    Mode,
    /// `STRU F`: the only file structure supported (file).
    Stru,
    /// `PASV`: open an IPv4 passive data port.
    Pasv,
    /// `EPSV [ALL|proto]`: extended passive mode (RFC 2428).
    Epsv(EpsvArg),
    /// `PORT h1,h2,h3,h4,p1,p2`: active mode, IPv4.
    Port(SocketAddrV4),
    /// `EPRT |proto|addr|port|`: extended active mode (RFC 2428).
    Eprt(SocketAddr),
    /// `LIST [args]`: long listing; args may hold ls flags and a path or pattern.
    List { args: Vec<u8> },
    /// `NLST [args]`: names only; args as for LIST.
    Nlst { args: Vec<u8> },
    /// `MLSD [path]`: machine-readable directory listing (RFC 3659).
    Mlsd { path: Option<Vec<u8>> },
    /// `MLST [path]`: machine-readable facts about one path (RFC 3659).
    Mlst { path: Option<Vec<u8>> },
    /// `SIZE path` (RFC 3659).
    Size { path: Vec<u8> },
    /// `MDTM path`: modification time (RFC 3659).
    Mdtm { path: Vec<u8> },
    /// `MFMT YYYYMMDDHHMMSS path`: set the modification time
    /// (draft-somers-ftp-mfxx); the time is already converted to Unix seconds.
    Mfmt { unix_secs: i64, path: Vec<u8> },
    /// `STAT [path]`: server status, or a listing over the control channel.
    Stat { path: Option<Vec<u8>> },
    /// `HELP [topic]`.
    Help { topic: Option<String> },
    /// `SYST`: system type.
    Syst,
    /// `NOOP`.
    Noop,
    /// `FEAT`: list extensions (RFC 2389).
    Feat,
    /// `OPTS option [value]` (RFC 2389): option upper-cased, value trimmed.
    Opts { option: String, value: String },
    /// `SITE ...`: site-specific commands.
    Site(SiteCommand),
    /// `HOST name`: virtual host selection (RFC 7151).
    Host { host: String },
    /// `CLNT text`: the client announces its name; logged only.
    Clnt { client: String },
    /// `AUTH mechanism` (RFC 2228/4217): mechanism upper-cased (`TLS`, `SSL`).
    Auth { mechanism: String },
    /// `PBSZ size` (RFC 2228): protection buffer size, as sent.
    Pbsz { size: String },
    /// `PROT level` (RFC 2228): level upper-cased (`C`, `P`).
    Prot { level: String },
    /// `CCC`: clear the command channel (RFC 2228).
    Ccc,
}

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

/// Why a line is not a valid command. Each variant maps to its reply code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An empty line (or one with no verb): 500.
    #[error("empty command line")]
    Empty,
    /// A verb this server does not know, upper-cased and made printable: 502.
    #[error("unknown command {0}")]
    Unknown(String),
    /// A bad, missing or extra argument: 501. The text says what is wrong.
    #[error("{0}")]
    Syntax(String),
    /// Valid syntax but an unsupported parameter: 504 (522 for
    /// [`NET_PROTO_NOT_SUPPORTED`]).
    #[error("{0}")]
    NotImplementedParameter(String),
}

impl ParseError {
    /// The reply to send for this error.
    pub fn reply(&self) -> Reply {
        match self {
            ParseError::Empty => Reply::new(500, "Syntax error, command unrecognized."),
            ParseError::Unknown(verb) => Reply::new(502, format!("Command not implemented: {verb}.")),
            ParseError::Syntax(text) => Reply::new(501, text),
            ParseError::NotImplementedParameter(text) if text == NET_PROTO_NOT_SUPPORTED => Reply::new(522, text),
            ParseError::NotImplementedParameter(text) => Reply::new(504, text),
        }
    }
}

fn syntax(text: impl Into<String>) -> ParseError {
    ParseError::Syntax(text.into())
}

/// The argument after the verb, and helpers that check it for each shape of command.
struct Arg<'a> {
    verb: &'static str,
    /// `None` when no space followed the verb; otherwise the bytes after
    /// exactly one space, verbatim.
    raw: Option<&'a [u8]>,
}

impl<'a> Arg<'a> {
    /// The argument if there is a non-blank one.
    fn present(&self) -> Option<&'a [u8]> {
        self.raw.filter(|a| a.iter().any(|&b| b != b' '))
    }

    /// For commands that take nothing (a trailing blank is tolerated).
    fn none(&self) -> Result<(), ParseError> {
        match self.present() {
            None => Ok(()),
            Some(_) => Err(syntax(format!("{} takes no argument.", self.verb))),
        }
    }

    /// A required argument, verbatim.
    fn required(&self) -> Result<&'a [u8], ParseError> {
        self.present().ok_or_else(|| syntax(format!("{} needs an argument.", self.verb)))
    }

    /// A required path.
    fn path(&self) -> Result<Vec<u8>, ParseError> {
        self.required().map(<[u8]>::to_vec)
    }

    /// An optional path.
    fn opt_path(&self) -> Option<Vec<u8>> {
        self.present().map(<[u8]>::to_vec)
    }

    /// A required UTF-8 argument, verbatim.
    fn text(&self) -> Result<String, ParseError> {
        utf8(self.required()?)
    }

    /// A required UTF-8 argument with surrounding blanks removed.
    fn word(&self) -> Result<String, ParseError> {
        Ok(self.text()?.trim_matches(' ').to_string())
    }

    /// An optional UTF-8 argument with surrounding blanks removed.
    fn opt_word(&self) -> Result<Option<String>, ParseError> {
        self.present().map(|a| utf8(a).map(|s| s.trim_matches(' ').to_string())).transpose()
    }
}

fn utf8(bytes: &[u8]) -> Result<String, ParseError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| syntax("Argument is not valid UTF-8."))
}

/// Parse one command line (without its line terminator).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    if line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(syntax("Invalid character in command line."));
    }
    let (verb, raw) = match line.iter().position(|&b| b == b' ') {
        Some(sp) => (&line[..sp], Some(&line[sp + 1..])),
        None => (line, None),
    };
    if verb.is_empty() {
        return Err(ParseError::Empty);
    }
    if verb.len() > MAX_VERB || !verb.iter().all(u8::is_ascii_alphabetic) {
        return Err(ParseError::Unknown(printable_verb(verb)));
    }
    let mut upper = [0u8; MAX_VERB];
    let upper = &mut upper[..verb.len()];
    upper.copy_from_slice(verb);
    upper.make_ascii_uppercase();
    let name: &'static str = match canonical_verb(upper) {
        Some(name) => name,
        None => return Err(ParseError::Unknown(printable_verb(verb))),
    };
    let arg = Arg { verb: name, raw };
    Ok(match name {
        "USER" => Command::User { name: arg.text()? },
        "PASS" => Command::Pass { password: arg.raw.map(utf8).transpose()?.unwrap_or_default() },
        "ACCT" => Command::Acct { account: arg.text()? },
        "REIN" => arg.none().map(|()| Command::Rein)?,
        "QUIT" => arg.none().map(|()| Command::Quit)?,
        "CWD" => Command::Cwd { path: arg.path()? },
        "CDUP" => arg.none().map(|()| Command::Cdup)?,
        "PWD" => arg.none().map(|()| Command::Pwd)?,
        "MKD" => Command::Mkd { path: arg.path()? },
        "RMD" => Command::Rmd { path: arg.path()? },
        "DELE" => Command::Dele { path: arg.path()? },
        "RNFR" => Command::Rnfr { path: arg.path()? },
        "RNTO" => Command::Rnto { path: arg.path()? },
        "RETR" => Command::Retr { path: arg.path()? },
        "STOR" => Command::Stor { path: arg.path()? },
        "STOU" => Command::Stou { path: arg.opt_path() },
        "APPE" => Command::Appe { path: arg.path()? },
        "REST" => Command::Rest { offset: parse_rest(arg.required()?)? },
        "ALLO" => Command::Allo,
        "ABOR" => arg.none().map(|()| Command::Abor)?,
        "TYPE" => Command::Type(parse_type(&arg.word()?)?),
        "MODE" => parse_single_code(&arg.word()?, "MODE", 'S', "BCZ").map(|()| Command::Mode)?,
        "STRU" => parse_single_code(&arg.word()?, "STRU", 'F', "RP").map(|()| Command::Stru)?,
        "PASV" => arg.none().map(|()| Command::Pasv)?,
        "EPSV" => Command::Epsv(parse_epsv(arg.opt_word()?)?),
        "PORT" => Command::Port(parse_port(arg.required()?)?),
        "EPRT" => Command::Eprt(parse_eprt(arg.required()?)?),
        "LIST" => Command::List { args: arg.raw.unwrap_or_default().to_vec() },
        "NLST" => Command::Nlst { args: arg.raw.unwrap_or_default().to_vec() },
        "MLSD" => Command::Mlsd { path: arg.opt_path() },
        "MLST" => Command::Mlst { path: arg.opt_path() },
        "SIZE" => Command::Size { path: arg.path()? },
        "MDTM" => Command::Mdtm { path: arg.path()? },
        "MFMT" => parse_mfmt(arg.required()?)?,
        "STAT" => Command::Stat { path: arg.opt_path() },
        "HELP" => Command::Help { topic: arg.opt_word()? },
        "SYST" => arg.none().map(|()| Command::Syst)?,
        "NOOP" => arg.none().map(|()| Command::Noop)?,
        "FEAT" => arg.none().map(|()| Command::Feat)?,
        "OPTS" => parse_opts(&arg.word()?),
        "SITE" => Command::Site(parse_site(arg.required()?)?),
        "HOST" => Command::Host { host: parse_host(&arg.word()?)? },
        "CLNT" => Command::Clnt { client: arg.word()? },
        "AUTH" => Command::Auth { mechanism: arg.word()?.to_ascii_uppercase() },
        "PBSZ" => Command::Pbsz { size: arg.word()? },
        "PROT" => Command::Prot { level: arg.word()?.to_ascii_uppercase() },
        "CCC" => arg.none().map(|()| Command::Ccc)?,
        // canonical_verb only returns the names above.
        _ => return Err(ParseError::Unknown(name.to_string())),
    })
}

/// The canonical name of an upper-cased verb, with RFC 775 `X` aliases
/// folded; `None` for unknown verbs.
fn canonical_verb(upper: &[u8]) -> Option<&'static str> {
    const VERBS: &[&str] = &[
        "USER", "PASS", "ACCT", "REIN", "QUIT", "CWD", "CDUP", "PWD", "MKD", "RMD", "DELE", "RNFR", "RNTO", "RETR",
        "STOR", "STOU", "APPE", "REST", "ALLO", "ABOR", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT", "LIST",
        "NLST", "MLSD", "MLST", "SIZE", "MDTM", "MFMT", "STAT", "HELP", "SYST", "NOOP", "FEAT", "OPTS", "SITE", "HOST",
        "CLNT", "AUTH", "PBSZ", "PROT", "CCC",
    ];
    match upper {
        b"XCWD" => Some("CWD"),
        b"XCUP" => Some("CDUP"),
        b"XPWD" => Some("PWD"),
        b"XMKD" => Some("MKD"),
        b"XRMD" => Some("RMD"),
        _ => VERBS.iter().copied().find(|v| v.as_bytes() == upper),
    }
}

/// An unknown verb made safe for a reply: upper-cased, non-printable bytes
/// shown as `?`, at most [`MAX_VERB`] characters.
fn printable_verb(verb: &[u8]) -> String {
    verb.iter()
        .take(MAX_VERB)
        .map(|&b| if b.is_ascii_graphic() { char::from(b.to_ascii_uppercase()) } else { '?' })
        .collect()
}

/// A decimal number of ASCII digits only (no sign, no blanks inside).
fn decimal<T: std::str::FromStr>(s: &[u8]) -> Option<T> {
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

fn parse_rest(arg: &[u8]) -> Result<u64, ParseError> {
    decimal(trim_blanks(arg)).ok_or_else(|| syntax("REST needs a byte offset: a decimal number from 0 to 2^64-1."))
}

/// `TYPE` argument (RFC 959 §4.1.2): `A [N|T|C]`, `E [N|T|C]`, `I`, `L n`.
fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
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
fn parse_single_code(arg: &str, verb: &str, ok: char, known: &str) -> Result<(), ParseError> {
    let mut chars = arg.chars();
    match (chars.next().map(|c| c.to_ascii_uppercase()), chars.next()) {
        (Some(c), None) if c == ok => Ok(()),
        (Some(c), None) if known.contains(c) => {
            Err(ParseError::NotImplementedParameter(format!("{verb} {c} not supported; use {verb} {ok}.")))
        }
        _ => Err(syntax(format!("Unrecognised {verb} \"{arg}\"."))),
    }
}

fn parse_epsv(arg: Option<String>) -> Result<EpsvArg, ParseError> {
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
fn parse_port(arg: &[u8]) -> Result<SocketAddrV4, ParseError> {
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
fn parse_eprt(arg: &[u8]) -> Result<SocketAddr, ParseError> {
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

/// `MFMT YYYYMMDDHHMMSS[.sss] path`.
fn parse_mfmt(arg: &[u8]) -> Result<Command, ParseError> {
    let bad = || syntax("MFMT needs YYYYMMDDHHMMSS and a path.");
    let sp = arg.iter().position(|&b| b == b' ').ok_or_else(bad)?;
    let stamp = std::str::from_utf8(&arg[..sp]).map_err(|_| bad())?;
    let path = &arg[sp + 1..];
    if path.iter().all(|&b| b == b' ') {
        return Err(bad());
    }
    let unix_secs = parse_timestamp(stamp).ok_or_else(|| syntax(format!("MFMT: \"{stamp}\" is not a valid time.")))?;
    Ok(Command::Mfmt { unix_secs, path: path.to_vec() })
}

/// `OPTS option [value]`.
fn parse_opts(arg: &str) -> Command {
    let (option, value) = arg.split_once(' ').unwrap_or((arg, ""));
    Command::Opts { option: option.to_ascii_uppercase(), value: value.trim_matches(' ').to_string() }
}

/// `SITE name args`: the first word names the subcommand.
fn parse_site(arg: &[u8]) -> Result<SiteCommand, ParseError> {
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
fn parse_host(arg: &str) -> Result<String, ParseError> {
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

impl Command {
    /// The canonical verb (aliases folded: `XCWD` gives `CWD`), for logs and
    /// for replies such as "503 RNTO needs RNFR first".
    pub fn verb(&self) -> &'static str {
        match self {
            Command::User { .. } => "USER",
            Command::Pass { .. } => "PASS",
            Command::Acct { .. } => "ACCT",
            Command::Rein => "REIN",
            Command::Quit => "QUIT",
            Command::Cwd { .. } => "CWD",
            Command::Cdup => "CDUP",
            Command::Pwd => "PWD",
            Command::Mkd { .. } => "MKD",
            Command::Rmd { .. } => "RMD",
            Command::Dele { .. } => "DELE",
            Command::Rnfr { .. } => "RNFR",
            Command::Rnto { .. } => "RNTO",
            Command::Retr { .. } => "RETR",
            Command::Stor { .. } => "STOR",
            Command::Stou { .. } => "STOU",
            Command::Appe { .. } => "APPE",
            Command::Rest { .. } => "REST",
            Command::Allo => "ALLO",
            Command::Abor => "ABOR",
            Command::Type(_) => "TYPE",
            Command::Mode => "MODE",
            Command::Stru => "STRU",
            Command::Pasv => "PASV",
            Command::Epsv(_) => "EPSV",
            Command::Port(_) => "PORT",
            Command::Eprt(_) => "EPRT",
            Command::List { .. } => "LIST",
            Command::Nlst { .. } => "NLST",
            Command::Mlsd { .. } => "MLSD",
            Command::Mlst { .. } => "MLST",
            Command::Size { .. } => "SIZE",
            Command::Mdtm { .. } => "MDTM",
            Command::Mfmt { .. } => "MFMT",
            Command::Stat { .. } => "STAT",
            Command::Help { .. } => "HELP",
            Command::Syst => "SYST",
            Command::Noop => "NOOP",
            Command::Feat => "FEAT",
            Command::Opts { .. } => "OPTS",
            Command::Site(_) => "SITE",
            Command::Host { .. } => "HOST",
            Command::Clnt { .. } => "CLNT",
            Command::Auth { .. } => "AUTH",
            Command::Pbsz { .. } => "PBSZ",
            Command::Prot { .. } => "PROT",
            Command::Ccc => "CCC",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
    }

    fn err(line: &[u8]) -> ParseError {
        match parse(line) {
            Ok(c) => panic!("{:?} parsed as {c:?}", String::from_utf8_lossy(line)),
            Err(e) => e,
        }
    }

    fn code(line: &[u8]) -> u16 {
        err(line).reply().code
    }

    #[test]
    fn verbs_are_case_insensitive_and_aliases_fold() {
        assert_eq!(ok("noop"), Command::Noop);
        assert_eq!(ok("NoOp"), Command::Noop);
        assert_eq!(ok("XCWD /a"), Command::Cwd { path: b"/a".to_vec() });
        assert_eq!(ok("xcup"), Command::Cdup);
        assert_eq!(ok("XPWD"), Command::Pwd);
        assert_eq!(ok("XMKD d"), Command::Mkd { path: b"d".to_vec() });
        assert_eq!(ok("XRMD d"), Command::Rmd { path: b"d".to_vec() });
        assert_eq!(ok("XRMD d").verb(), "RMD");
    }

    #[test]
    fn empty_and_unknown() {
        assert_eq!(err(b""), ParseError::Empty);
        assert_eq!(err(b" NOOP"), ParseError::Empty);
        assert_eq!(code(b""), 500);
        assert_eq!(err(b"FOO bar"), ParseError::Unknown("FOO".into()));
        assert_eq!(code(b"FOO"), 502);
        assert_eq!(err(b"NO0P"), ParseError::Unknown("NO0P".into()));
        assert_eq!(err(b"\xffx"), ParseError::Unknown("?X".into()));
        assert!(matches!(err(&[b'A'; 17]), ParseError::Unknown(v) if v.len() == 16));
        assert_eq!(err(b"LPSV"), ParseError::Unknown("LPSV".into()));
    }

    #[test]
    fn invalid_characters() {
        for line in [&b"NOOP\r"[..], b"RETR a\rb", b"RETR a\0b", b"RETR a\nb", b"\r"] {
            assert_eq!(err(line), ParseError::Syntax("Invalid character in command line.".into()));
            assert_eq!(code(line), 501);
        }
    }

    #[test]
    fn arguments_are_verbatim() {
        assert_eq!(ok("CWD  my dir "), Command::Cwd { path: b" my dir ".to_vec() });
        assert_eq!(parse(b"RETR caf\xe9.txt").unwrap(), Command::Retr { path: b"caf\xe9.txt".to_vec() });
        assert_eq!(ok("STOR a b"), Command::Stor { path: b"a b".to_vec() });
        assert_eq!(ok("DELE x"), Command::Dele { path: b"x".to_vec() });
        assert_eq!(ok("RNFR x"), Command::Rnfr { path: b"x".to_vec() });
        assert_eq!(ok("RNTO y"), Command::Rnto { path: b"y".to_vec() });
        assert_eq!(ok("APPE y"), Command::Appe { path: b"y".to_vec() });
        assert_eq!(ok("SIZE y"), Command::Size { path: b"y".to_vec() });
        assert_eq!(ok("MDTM y"), Command::Mdtm { path: b"y".to_vec() });
    }

    #[test]
    fn argument_presence_is_checked() {
        for line in
            ["NOOP x", "PWD x", "CDUP ..", "QUIT now", "REIN x", "ABOR x", "PASV 1", "SYST x", "FEAT x", "CCC x"]
        {
            assert_eq!(code(line.as_bytes()), 501, "{line}");
        }
        assert_eq!(ok("NOOP "), Command::Noop);
        for line in [
            "CWD", "CWD ", "RETR", "STOR  ", "USER", "MKD", "SIZE", "REST", "TYPE", "MODE", "PORT", "EPRT", "SITE",
            "HOST", "AUTH", "MFMT", "OPTS",
        ] {
            assert_eq!(code(line.as_bytes()), 501, "{line}");
        }
    }

    #[test]
    fn login_commands() {
        assert_eq!(ok("USER anonymous"), Command::User { name: "anonymous".into() });
        assert_eq!(ok("PASS"), Command::Pass { password: String::new() });
        assert_eq!(ok("PASS "), Command::Pass { password: String::new() });
        assert_eq!(ok("PASS  se cret "), Command::Pass { password: " se cret ".into() });
        assert_eq!(ok("ACCT x"), Command::Acct { account: "x".into() });
        assert_eq!(code(b"USER \xff"), 501);
        assert_eq!(code(b"PASS \xc3"), 501);
    }

    #[test]
    fn optional_paths() {
        assert_eq!(ok("STOU"), Command::Stou { path: None });
        assert_eq!(ok("STOU f"), Command::Stou { path: Some(b"f".to_vec()) });
        assert_eq!(ok("MLSD"), Command::Mlsd { path: None });
        assert_eq!(ok("MLSD "), Command::Mlsd { path: None });
        assert_eq!(ok("MLST a b"), Command::Mlst { path: Some(b"a b".to_vec()) });
        assert_eq!(ok("STAT"), Command::Stat { path: None });
        assert_eq!(ok("STAT /x"), Command::Stat { path: Some(b"/x".to_vec()) });
        assert_eq!(ok("LIST"), Command::List { args: vec![] });
        assert_eq!(ok("LIST -la /a b"), Command::List { args: b"-la /a b".to_vec() });
        assert_eq!(ok("NLST -CF"), Command::Nlst { args: b"-CF".to_vec() });
    }

    #[test]
    fn rest_offsets() {
        assert_eq!(ok("REST 0"), Command::Rest { offset: 0 });
        assert_eq!(ok("REST 18446744073709551615"), Command::Rest { offset: u64::MAX });
        assert_eq!(ok("REST 100 "), Command::Rest { offset: 100 });
        for bad in ["REST abc", "REST -1", "REST +1", "REST 18446744073709551616", "REST 1 2", "REST 0x10"] {
            assert_eq!(code(bad.as_bytes()), 501, "{bad}");
        }
    }

    #[test]
    fn types_modes_structures() {
        assert_eq!(ok("TYPE A"), Command::Type(TransferType::Ascii));
        assert_eq!(ok("TYPE a n"), Command::Type(TransferType::Ascii));
        assert_eq!(ok("TYPE I"), Command::Type(TransferType::Image));
        assert_eq!(ok("TYPE L 8"), Command::Type(TransferType::Image));
        for unsupported in ["TYPE E", "TYPE A T", "TYPE A C", "TYPE L 16", "TYPE E N"] {
            assert_eq!(code(unsupported.as_bytes()), 504, "{unsupported}");
        }
        for bad in ["TYPE X", "TYPE I N", "TYPE L", "TYPE L x", "TYPE L 0", "TYPE A N X", "TYPE A Q"] {
            assert_eq!(code(bad.as_bytes()), 501, "{bad}");
        }
        assert_eq!(ok("MODE S"), Command::Mode);
        assert_eq!(ok("mode s"), Command::Mode);
        assert_eq!(code(b"MODE B"), 504);
        assert_eq!(code(b"MODE Z"), 504);
        assert_eq!(code(b"MODE X"), 501);
        assert_eq!(code(b"MODE SS"), 501);
        assert_eq!(ok("STRU F"), Command::Stru);
        assert_eq!(code(b"STRU R"), 504);
        assert_eq!(code(b"STRU P"), 504);
        assert_eq!(code(b"STRU Q"), 501);
        assert_eq!(ok("ALLO 1000"), Command::Allo);
        assert_eq!(ok("ALLO"), Command::Allo);
    }

    #[test]
    fn port_and_eprt() {
        let v4 = |a, b, c, d, p| SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), p);
        assert_eq!(ok("PORT 127,0,0,1,4,1"), Command::Port(v4(127, 0, 0, 1, 1025)));
        assert_eq!(ok("PORT 10, 0 ,0,2,255,255"), Command::Port(v4(10, 0, 0, 2, 65535)));
        for bad in [
            "PORT 1,2,3,4,5",
            "PORT 1,2,3,4,5,6,7",
            "PORT 256,0,0,1,0,1",
            "PORT a,b,c,d,e,f",
            "PORT 1,2,3,4,5,",
            "PORT 1,,3,4,5,6",
            "PORT -1,2,3,4,5,6",
        ] {
            assert_eq!(code(bad.as_bytes()), 501, "{bad}");
        }
        assert_eq!(ok("EPRT |1|132.235.1.2|6275|"), Command::Eprt("132.235.1.2:6275".parse().unwrap()));
        assert_eq!(
            ok("EPRT |2|1080::8:800:200C:417A|5282|"),
            Command::Eprt("[1080::8:800:200C:417A]:5282".parse().unwrap())
        );
        assert_eq!(ok("EPRT !1!10.0.0.1!21!"), Command::Eprt("10.0.0.1:21".parse().unwrap()));
        assert_eq!(err(b"EPRT |3|1.2.3.4|5|"), ParseError::NotImplementedParameter(NET_PROTO_NOT_SUPPORTED.into()));
        assert_eq!(code(b"EPRT |3|1.2.3.4|5|"), 522);
        for bad in [
            "EPRT |1|::1|5|",
            "EPRT |2|1.2.3.4|5|",
            "EPRT |1|1.2.3.4|70000|",
            "EPRT |1|1.2.3.4|5",
            "EPRT |1|1.2.3.4|5|x",
            "EPRT 1|1.2.3.4|5|",
            "EPRT |x|1.2.3.4|5|",
            "EPRT |1|1.2.3.4||",
            "EPRT ||||",
        ] {
            assert_eq!(code(bad.as_bytes()), 501, "{bad}");
        }
    }

    #[test]
    fn epsv_arguments() {
        assert_eq!(ok("EPSV"), Command::Epsv(EpsvArg::None));
        assert_eq!(ok("EPSV all"), Command::Epsv(EpsvArg::All));
        assert_eq!(ok("EPSV 1"), Command::Epsv(EpsvArg::Protocol(1)));
        assert_eq!(ok("EPSV 2"), Command::Epsv(EpsvArg::Protocol(2)));
        assert_eq!(ok("EPSV 7"), Command::Epsv(EpsvArg::Protocol(7)));
        assert_eq!(code(b"EPSV x"), 501);
        assert_eq!(code(b"EPSV 300"), 501);
    }

    #[test]
    fn mfmt() {
        assert_eq!(
            ok("MFMT 20231114221320 my file"),
            Command::Mfmt { unix_secs: 1_700_000_000, path: b"my file".to_vec() }
        );
        assert_eq!(ok("MFMT 20231114221320.123 f"), Command::Mfmt { unix_secs: 1_700_000_000, path: b"f".to_vec() });
        for bad in ["MFMT 20231114221320", "MFMT 20231114221320 ", "MFMT 20231314221320 f", "MFMT x f"] {
            assert_eq!(code(bad.as_bytes()), 501, "{bad}");
        }
    }

    #[test]
    fn opts_help_and_text_commands() {
        assert_eq!(ok("OPTS utf8 on"), Command::Opts { option: "UTF8".into(), value: "on".into() });
        assert_eq!(ok("OPTS MLST type;size; "), Command::Opts { option: "MLST".into(), value: "type;size;".into() });
        assert_eq!(ok("OPTS UTF8"), Command::Opts { option: "UTF8".into(), value: String::new() });
        assert_eq!(ok("HELP"), Command::Help { topic: None });
        assert_eq!(ok("HELP SITE"), Command::Help { topic: Some("SITE".into()) });
        assert_eq!(ok("CLNT lftp 4.9"), Command::Clnt { client: "lftp 4.9".into() });
        assert_eq!(ok("AUTH tls"), Command::Auth { mechanism: "TLS".into() });
        assert_eq!(ok("PBSZ 0"), Command::Pbsz { size: "0".into() });
        assert_eq!(ok("PROT p"), Command::Prot { level: "P".into() });
        assert_eq!(ok("CCC"), Command::Ccc);
        assert_eq!(code(b"HELP \xff"), 501);
    }

    #[test]
    fn site_commands() {
        assert_eq!(
            ok("SITE CHMOD 755 my dir"),
            Command::Site(SiteCommand::Chmod { mode: 0o755, path: b"my dir".to_vec() })
        );
        assert_eq!(ok("site chmod 0644 f"), Command::Site(SiteCommand::Chmod { mode: 0o644, path: b"f".to_vec() }));
        assert_eq!(ok("SITE CHMOD 7777 f"), Command::Site(SiteCommand::Chmod { mode: 0o7777, path: b"f".to_vec() }));
        for bad in [
            "SITE CHMOD 10000 f",
            "SITE CHMOD 8 f",
            "SITE CHMOD 644",
            "SITE CHMOD 644 ",
            "SITE CHMOD",
            "SITE CHMOD x f",
        ] {
            assert_eq!(code(bad.as_bytes()), 501, "{bad}");
        }
        assert_eq!(
            parse(b"SITE CHMOD 600 \xff").unwrap(),
            Command::Site(SiteCommand::Chmod { mode: 0o600, path: b"\xff".to_vec() })
        );
        assert_eq!(ok("SITE HELP"), Command::Site(SiteCommand::Help { topic: None }));
        assert_eq!(ok("SITE help chmod"), Command::Site(SiteCommand::Help { topic: Some("chmod".into()) }));
        assert_eq!(ok("SITE idle 60"), Command::Site(SiteCommand::Other { name: "IDLE".into(), args: "60".into() }));
        assert_eq!(ok("SITE UMASK"), Command::Site(SiteCommand::Other { name: "UMASK".into(), args: String::new() }));
    }

    #[test]
    fn host_names() {
        assert_eq!(ok("HOST ftp.example.com"), Command::Host { host: "ftp.example.com".into() });
        assert_eq!(ok("HOST ftp.example.com."), Command::Host { host: "ftp.example.com.".into() });
        assert_eq!(ok("HOST 192.0.2.1"), Command::Host { host: "192.0.2.1".into() });
        assert_eq!(ok("HOST [2001:db8::1]"), Command::Host { host: "[2001:db8::1]".into() });
        for bad in ["HOST a b", "HOST [2001:db8::1", "HOST [x]", "HOST -a.com", "HOST a..b", "HOST a/b"] {
            assert_eq!(code(bad.as_bytes()), 501, "{bad}");
        }
    }

    #[test]
    fn error_replies() {
        assert_eq!(ParseError::Syntax("bad".into()).reply().to_bytes(), b"501 bad\r\n");
        assert_eq!(ParseError::NotImplementedParameter("no".into()).reply().code, 504);
        assert_eq!(ParseError::Unknown("FOO".into()).reply().to_bytes(), b"502 Command not implemented: FOO.\r\n");
    }

    proptest! {
        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Err(e) = parse(&line) {
                let bytes = e.reply().to_bytes();
                prop_assert!(bytes.ends_with(b"\r\n"));
            }
        }

        #[test]
        fn never_panics_on_known_verbs(
            verb in prop_oneof![Just("PORT"), Just("EPRT"), Just("SITE"), Just("MFMT"), Just("TYPE"), Just("HOST"), Just("REST"), Just("OPTS"), Just("EPSV")],
            arg in proptest::collection::vec(prop_oneof![Just(b'|'), Just(b','), Just(b' '), Just(b'1'), any::<u8>()], 0..60),
        ) {
            let mut line = verb.as_bytes().to_vec();
            line.push(b' ');
            line.extend_from_slice(&arg);
            let _ = parse(&line);
        }

        #[test]
        fn paths_round_trip(path in proptest::collection::vec(any::<u8>().prop_filter("no CR/LF/NUL", |b| !matches!(b, b'\r' | b'\n' | 0)), 1..100)) {
            prop_assume!(path.iter().any(|&b| b != b' '));
            let mut line = b"RETR ".to_vec();
            line.extend_from_slice(&path);
            prop_assert_eq!(parse(&line), Ok(Command::Retr { path }));
        }
    }
}
