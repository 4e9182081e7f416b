//! Parsing one control line into a [`Command`].
//!
//! A line is a verb (ASCII letters, case-insensitive), optionally one space
//! and an argument that runs verbatim to the end of the line (RFC 959 §5.3).
//! Paths stay raw bytes, because file names need not be UTF-8; text
//! arguments (user names, options, host names) must be UTF-8. Every malformed
//! line becomes a [`ParseError`] that knows its own reply, so the session can
//! answer and carry on instead of dropping the connection.
//!
//! [`Verb`] (in `verb.rs`) is the one table of verbs; the argument parsers
//! are in `args.rs`.

mod args;
mod shown;
mod verb;

use std::net::{SocketAddr, SocketAddrV4};

use crate::reply::Reply;
use args::{
    Arg, parse_auth, parse_digest, parse_eprt, parse_epsv, parse_host, parse_mfmt, parse_opts, parse_pbsz, parse_port,
    parse_prot, parse_rest, parse_single_code, parse_site, parse_type, syntax, utf8,
};
pub use args::{AuthMechanism, EpsvArg, ProtLevel, SITE_COMMANDS, SiteCommand, TransferType, mdtm_set_form};
pub use shown::{ShownCommand, ShownReply};
pub use verb::{FEATURES_WITHOUT_VERB, Verb};

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
    /// `HASH path`: a file's digest (draft-bryan-ftpext-hash).
    Hash { path: Vec<u8> },
    /// `XCRC path` / `XMD5 path` / `XSHA256 path`: a file's digest in one
    /// step, as ProFTPD's mod_digest takes it (`"path"` may be quoted; a
    /// byte range is refused with 504).
    Digest { verb: Verb, path: Vec<u8> },
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
    /// `AUTH mechanism` (RFC 2228/4217).
    Auth(AuthMechanism),
    /// `PBSZ size` (RFC 2228): the protection buffer size when it is a
    /// decimal number (`None` for any other word, which is still accepted).
    Pbsz(Option<u64>),
    /// `PROT level` (RFC 2228).
    Prot(ProtLevel),
    /// `CCC`: clear the command channel (RFC 2228).
    Ccc,
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
    // Letters, then letters or digits (XSHA256).
    if verb.len() > MAX_VERB || !verb[0].is_ascii_alphabetic() || !verb.iter().all(u8::is_ascii_alphanumeric) {
        return Err(ParseError::Unknown(printable_verb(verb)));
    }
    let mut upper = [0u8; MAX_VERB];
    let upper = &mut upper[..verb.len()];
    upper.copy_from_slice(verb);
    upper.make_ascii_uppercase();
    let Some(verb) = Verb::from_upper(upper) else {
        return Err(ParseError::Unknown(printable_verb(upper)));
    };
    let arg = Arg { verb: verb.name(), raw };
    Ok(match verb {
        Verb::User => Command::User { name: arg.text()? },
        Verb::Pass => Command::Pass { password: arg.raw.map(utf8).transpose()?.unwrap_or_default() },
        Verb::Acct => Command::Acct { account: arg.text()? },
        Verb::Rein => arg.none().map(|()| Command::Rein)?,
        Verb::Quit => arg.none().map(|()| Command::Quit)?,
        Verb::Cwd => Command::Cwd { path: arg.path()? },
        Verb::Cdup => arg.none().map(|()| Command::Cdup)?,
        Verb::Pwd => arg.none().map(|()| Command::Pwd)?,
        Verb::Mkd => Command::Mkd { path: arg.path()? },
        Verb::Rmd => Command::Rmd { path: arg.path()? },
        Verb::Dele => Command::Dele { path: arg.path()? },
        Verb::Rnfr => Command::Rnfr { path: arg.path()? },
        Verb::Rnto => Command::Rnto { path: arg.path()? },
        Verb::Retr => Command::Retr { path: arg.path()? },
        Verb::Stor => Command::Stor { path: arg.path()? },
        Verb::Stou => Command::Stou { path: arg.opt_path() },
        Verb::Appe => Command::Appe { path: arg.path()? },
        Verb::Rest => Command::Rest { offset: parse_rest(arg.required()?)? },
        Verb::Allo => Command::Allo,
        Verb::Abor => arg.none().map(|()| Command::Abor)?,
        Verb::Type => Command::Type(parse_type(&arg.word()?)?),
        Verb::Mode => parse_single_code(&arg.word()?, "MODE", 'S', "BCZ").map(|()| Command::Mode)?,
        Verb::Stru => parse_single_code(&arg.word()?, "STRU", 'F', "RP").map(|()| Command::Stru)?,
        Verb::Pasv => arg.none().map(|()| Command::Pasv)?,
        Verb::Epsv => Command::Epsv(parse_epsv(arg.opt_word()?)?),
        Verb::Port => Command::Port(parse_port(arg.required()?)?),
        Verb::Eprt => Command::Eprt(parse_eprt(arg.required()?)?),
        Verb::List => Command::List { args: arg.raw.unwrap_or_default().to_vec() },
        Verb::Nlst => Command::Nlst { args: arg.raw.unwrap_or_default().to_vec() },
        Verb::Mlsd => Command::Mlsd { path: arg.opt_path() },
        Verb::Mlst => Command::Mlst { path: arg.opt_path() },
        Verb::Size => Command::Size { path: arg.path()? },
        Verb::Mdtm => Command::Mdtm { path: arg.path()? },
        Verb::Mfmt => {
            let (unix_secs, path) = parse_mfmt(arg.required()?)?;
            Command::Mfmt { unix_secs, path }
        }
        Verb::Hash => Command::Hash { path: arg.path()? },
        Verb::Xcrc | Verb::Xmd5 | Verb::Xsha256 => Command::Digest { verb, path: parse_digest(arg.required()?)? },
        Verb::Stat => Command::Stat { path: arg.opt_path() },
        Verb::Help => Command::Help { topic: arg.opt_word()? },
        Verb::Syst => arg.none().map(|()| Command::Syst)?,
        Verb::Noop => arg.none().map(|()| Command::Noop)?,
        Verb::Feat => arg.none().map(|()| Command::Feat)?,
        Verb::Opts => {
            let (option, value) = parse_opts(&arg.word()?);
            Command::Opts { option, value }
        }
        Verb::Site => Command::Site(parse_site(arg.required()?)?),
        Verb::Host => Command::Host { host: parse_host(&arg.word()?)? },
        Verb::Clnt => Command::Clnt { client: arg.word()? },
        Verb::Auth => Command::Auth(parse_auth(&arg)?),
        Verb::Pbsz => Command::Pbsz(parse_pbsz(&arg)?),
        Verb::Prot => Command::Prot(parse_prot(&arg)?),
        Verb::Ccc => arg.none().map(|()| Command::Ccc)?,
    })
}

/// An unknown verb made safe for a reply: upper-cased, non-printable bytes
/// shown as `?`, at most [`MAX_VERB`] characters.
fn printable_verb(verb: &[u8]) -> String {
    verb.iter()
        .take(MAX_VERB)
        .map(|&b| if b.is_ascii_graphic() { char::from(b.to_ascii_uppercase()) } else { '?' })
        .collect()
}

impl Command {
    /// The verb (aliases folded: `XCWD` gives [`Verb::Cwd`]), for logs and
    /// for replies such as "503 RNTO needs RNFR first".
    pub fn verb(&self) -> Verb {
        match self {
            Command::User { .. } => Verb::User,
            Command::Pass { .. } => Verb::Pass,
            Command::Acct { .. } => Verb::Acct,
            Command::Rein => Verb::Rein,
            Command::Quit => Verb::Quit,
            Command::Cwd { .. } => Verb::Cwd,
            Command::Cdup => Verb::Cdup,
            Command::Pwd => Verb::Pwd,
            Command::Mkd { .. } => Verb::Mkd,
            Command::Rmd { .. } => Verb::Rmd,
            Command::Dele { .. } => Verb::Dele,
            Command::Rnfr { .. } => Verb::Rnfr,
            Command::Rnto { .. } => Verb::Rnto,
            Command::Retr { .. } => Verb::Retr,
            Command::Stor { .. } => Verb::Stor,
            Command::Stou { .. } => Verb::Stou,
            Command::Appe { .. } => Verb::Appe,
            Command::Rest { .. } => Verb::Rest,
            Command::Allo => Verb::Allo,
            Command::Abor => Verb::Abor,
            Command::Type(_) => Verb::Type,
            Command::Mode => Verb::Mode,
            Command::Stru => Verb::Stru,
            Command::Pasv => Verb::Pasv,
            Command::Epsv(_) => Verb::Epsv,
            Command::Port(_) => Verb::Port,
            Command::Eprt(_) => Verb::Eprt,
            Command::List { .. } => Verb::List,
            Command::Nlst { .. } => Verb::Nlst,
            Command::Mlsd { .. } => Verb::Mlsd,
            Command::Mlst { .. } => Verb::Mlst,
            Command::Size { .. } => Verb::Size,
            Command::Mdtm { .. } => Verb::Mdtm,
            Command::Mfmt { .. } => Verb::Mfmt,
            Command::Hash { .. } => Verb::Hash,
            Command::Digest { verb, .. } => *verb,
            Command::Stat { .. } => Verb::Stat,
            Command::Help { .. } => Verb::Help,
            Command::Syst => Verb::Syst,
            Command::Noop => Verb::Noop,
            Command::Feat => Verb::Feat,
            Command::Opts { .. } => Verb::Opts,
            Command::Site(_) => Verb::Site,
            Command::Host { .. } => Verb::Host,
            Command::Clnt { .. } => Verb::Clnt,
            Command::Auth(_) => Verb::Auth,
            Command::Pbsz(_) => Verb::Pbsz,
            Command::Prot(_) => Verb::Prot,
            Command::Ccc => Verb::Ccc,
        }
    }

    /// Whether this command needs a logged-in session: its verb's entry in
    /// the table, except that `STAT path` (a listing) needs one while `STAT`
    /// alone (server status) does not.
    pub fn needs_login(&self) -> bool {
        match self {
            Command::Stat { path: Some(_) } => true,
            other => other.verb().needs_login(),
        }
    }
}

#[cfg(test)]
mod tests;
