//! The one table of FTP verbs: each verb's name, its aliases, whether it needs
//! a login, its HELP line, the RFC that defines it and the FEAT lines it brings.
//! Parsing, the engine's dispatch, HELP and FEAT all read it, so a verb is
//! added in exactly one place (and the compiler then asks for its parser and
//! its handler).

use std::fmt;

/// Declares [`Verb`] and its table, one row per verb.
macro_rules! verbs {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $name:literal $([$($alias:literal),+])? {
            login: $login:literal,
            rfc: $rfc:literal,
            syntax: $syntax:literal,
            about: $about:expr,
            feat: [$($feat:literal),*] $(,)?
        }
    )*) => {
        /// An FTP command verb (aliases folded: `XPWD` is [`Verb::Pwd`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Verb {
            $($(#[$doc])* $variant,)*
        }

        impl Verb {
            /// Every verb, in table order.
            pub const ALL: &'static [Verb] = &[$(Verb::$variant),*];

            fn row(self) -> &'static Row {
                match self {
                    $(Verb::$variant => &Row {
                        name: $name,
                        aliases: &[$($($alias),+)?],
                        needs_login: $login,
                        rfc: $rfc,
                        syntax: $syntax,
                        about: $about,
                        features: &[$($feat),*],
                    },)*
                }
            }
        }
    };
}

/// What the table knows about one verb.
struct Row {
    name: &'static str,
    aliases: &'static [&'static str],
    needs_login: bool,
    rfc: &'static str,
    syntax: &'static str,
    about: Option<&'static str>,
    features: &'static [&'static str],
}

verbs! {
    /// `USER name`: start a login.
    User = "USER" { login: false, rfc: "RFC 959 4.1.1", syntax: "<name>", about: None, feat: [] }
    /// `PASS [password]`: finish a login.
    Pass = "PASS" { login: false, rfc: "RFC 959 4.1.1", syntax: "<password>", about: None, feat: [] }
    /// `ACCT account`: account information, not needed here.
    Acct = "ACCT" { login: false, rfc: "RFC 959 4.1.1", syntax: "<account>", about: Some("not needed"), feat: [] }
    /// `REIN`: log out, keep the connection.
    Rein = "REIN" { login: false, rfc: "RFC 959 4.1.1", syntax: "", about: Some("reset the session"), feat: [] }
    /// `QUIT`: log out and close.
    Quit = "QUIT" { login: false, rfc: "RFC 959 4.1.1", syntax: "", about: None, feat: [] }
    /// `CWD path`: change directory.
    Cwd = "CWD" ["XCWD"] {
        login: true, rfc: "RFC 959 4.1.1; XCWD RFC 775", syntax: "<path>", about: Some("change directory"), feat: []
    }
    /// `CDUP`: change to the parent directory.
    Cdup = "CDUP" ["XCUP"] {
        login: true, rfc: "RFC 959 4.1.1; XCUP RFC 775", syntax: "", about: Some("go to the parent directory"), feat: []
    }
    /// `PWD`: print the current directory.
    Pwd = "PWD" ["XPWD"] {
        login: true, rfc: "RFC 959 4.1.3; XPWD RFC 775", syntax: "", about: Some("print working directory"), feat: []
    }
    /// `MKD path`: make a directory.
    Mkd = "MKD" ["XMKD"] {
        login: true, rfc: "RFC 959 4.1.3; XMKD RFC 775", syntax: "<path>", about: Some("make a directory"), feat: []
    }
    /// `RMD path`: remove a directory.
    Rmd = "RMD" ["XRMD"] {
        login: true, rfc: "RFC 959 4.1.3; XRMD RFC 775", syntax: "<path>", about: Some("remove a directory"), feat: []
    }
    /// `DELE path`: delete a file.
    Dele = "DELE" { login: true, rfc: "RFC 959 4.1.3", syntax: "<path>", about: Some("delete a file"), feat: [] }
    /// `RNFR path`: rename from.
    Rnfr = "RNFR" { login: true, rfc: "RFC 959 4.1.3", syntax: "<path>", about: Some("rename from"), feat: [] }
    /// `RNTO path`: rename to.
    Rnto = "RNTO" { login: true, rfc: "RFC 959 4.1.3", syntax: "<path>", about: Some("rename to"), feat: [] }
    /// `RETR path`: download.
    Retr = "RETR" { login: true, rfc: "RFC 959 4.1.3", syntax: "<path>", about: Some("download"), feat: [] }
    /// `STOR path`: upload, replacing.
    Stor = "STOR" { login: true, rfc: "RFC 959 4.1.3", syntax: "<path>", about: Some("upload"), feat: [] }
    /// `STOU [name]`: upload under a unique name.
    Stou = "STOU" {
        login: true, rfc: "RFC 959 4.1.3; RFC 1123 4.1.2.9", syntax: "[name]",
        about: Some("upload under a unique name"), feat: []
    }
    /// `APPE path`: upload, appending.
    Appe = "APPE" { login: true, rfc: "RFC 959 4.1.3", syntax: "<path>", about: Some("append to a file"), feat: [] }
    /// `REST offset`: restart the next transfer at an offset.
    Rest = "REST" {
        login: true, rfc: "RFC 959 4.1.3; RFC 3659 §5", syntax: "<offset>", about: Some("restart a transfer"),
        feat: ["REST STREAM"]
    }
    /// `ALLO ...`: reserve space (not needed).
    Allo = "ALLO" { login: true, rfc: "RFC 959 4.1.3", syntax: "<bytes>", about: Some("not needed"), feat: [] }
    /// `ABOR`: abort the running transfer.
    Abor = "ABOR" {
        login: false, rfc: "RFC 959 4.1.3", syntax: "", about: Some("abort the running transfer"), feat: []
    }
    /// `TYPE A|I|L 8`: representation type.
    Type = "TYPE" { login: true, rfc: "RFC 959 4.1.2", syntax: "A | TYPE I | TYPE L 8", about: None, feat: [] }
    /// `MODE S`: transfer mode (stream only).
    Mode = "MODE" { login: true, rfc: "RFC 959 4.1.2", syntax: "S", about: Some("stream only"), feat: [] }
    /// `STRU F`: file structure (file only).
    Stru = "STRU" { login: true, rfc: "RFC 959 4.1.2", syntax: "F", about: Some("file structure only"), feat: [] }
    /// `PASV`: passive mode, IPv4.
    Pasv = "PASV" { login: true, rfc: "RFC 959 4.1.2", syntax: "", about: Some("passive mode"), feat: [] }
    /// `EPSV [ALL|proto]`: extended passive mode.
    Epsv = "EPSV" {
        login: true, rfc: "RFC 2428 §3", syntax: "[1|2|ALL]", about: Some("extended passive mode"), feat: ["EPSV"]
    }
    /// `PORT h1,h2,h3,h4,p1,p2`: active mode, IPv4.
    Port = "PORT" {
        login: true, rfc: "RFC 959 4.1.2", syntax: "h1,h2,h3,h4,p1,p2", about: Some("active mode"), feat: []
    }
    /// `EPRT |proto|addr|port|`: extended active mode.
    Eprt = "EPRT" {
        login: true, rfc: "RFC 2428 §2", syntax: "|proto|address|port|", about: Some("active data connection"),
        feat: ["EPRT"]
    }
    /// `LIST [args]`: long listing.
    List = "LIST" {
        login: true, rfc: "RFC 959 4.1.3", syntax: "[-flags] [path]", about: Some("long listing"), feat: []
    }
    /// `NLST [args]`: names only.
    Nlst = "NLST" {
        login: true, rfc: "RFC 959 4.1.3", syntax: "[-flags] [path|pattern]", about: Some("name list"), feat: []
    }
    /// `MLSD [path]`: machine-readable directory listing.
    Mlsd = "MLSD" {
        login: true, rfc: "RFC 3659 §7", syntax: "[path]", about: Some("machine listing of a directory"), feat: []
    }
    /// `MLST [path]`: machine-readable facts of one path.
    Mlst = "MLST" {
        login: true, rfc: "RFC 3659 §7", syntax: "[path]", about: Some("machine facts of one path"),
        feat: ["MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;"]
    }
    /// `SIZE path`: a file's size.
    Size = "SIZE" { login: true, rfc: "RFC 3659 §4", syntax: "<path>", about: None, feat: ["SIZE"] }
    /// `MDTM path`: a file's modification time.
    Mdtm = "MDTM" { login: true, rfc: "RFC 3659 §3", syntax: "<path>", about: Some("modification time"), feat: ["MDTM"] }
    /// `MFMT YYYYMMDDHHMMSS path`: set a file's modification time.
    Mfmt = "MFMT" {
        login: true, rfc: "draft-somers-ftp-mfxx", syntax: "YYYYMMDDHHMMSS <path>",
        about: Some("set modification time"), feat: ["MFMT"]
    }
    /// `HASH path`: a file's digest, in the algorithm `OPTS HASH` chose
    /// (its FEAT line is the engine's: it names the chosen algorithm).
    Hash = "HASH" {
        login: true, rfc: "draft-bryan-ftpext-hash-02", syntax: "<path>",
        about: Some("a file's SHA-256, SHA-1, MD5 or CRC32 (OPTS HASH chooses)"), feat: []
    }
    /// `XCRC path`: a file's CRC32 in one step (the de facto digest commands
    /// before HASH, as ProFTPD's mod_digest answers them).
    Xcrc = "XCRC" {
        login: true, rfc: "none (de facto; ProFTPD mod_digest)", syntax: "<path>", about: Some("a file's CRC32"),
        feat: ["XCRC"]
    }
    /// `XMD5 path`: a file's MD5.
    Xmd5 = "XMD5" {
        login: true, rfc: "none (de facto; ProFTPD mod_digest)", syntax: "<path>", about: Some("a file's MD5"),
        feat: ["XMD5"]
    }
    /// `XSHA256 path`: a file's SHA-256.
    Xsha256 = "XSHA256" {
        login: true, rfc: "none (de facto; ProFTPD mod_digest)", syntax: "<path>", about: Some("a file's SHA-256"),
        feat: ["XSHA256"]
    }
    /// `STAT [path]`: server status, or a listing over the control connection
    /// (`STAT path` needs a login, `STAT` alone does not: see `Command::needs_login`).
    Stat = "STAT" { login: false, rfc: "RFC 959 4.1.3", syntax: "[path]", about: None, feat: [] }
    /// `HELP [topic]`.
    Help = "HELP" { login: false, rfc: "RFC 959 4.1.3", syntax: "[command]", about: None, feat: [] }
    /// `SYST`: system type.
    Syst = "SYST" { login: false, rfc: "RFC 959 4.1.3", syntax: "", about: None, feat: [] }
    /// `NOOP`.
    Noop = "NOOP" { login: false, rfc: "RFC 959 4.1.3", syntax: "", about: None, feat: [] }
    /// `FEAT`: list extensions.
    Feat = "FEAT" { login: false, rfc: "RFC 2389 §3", syntax: "", about: Some("list extensions"), feat: [] }
    /// `OPTS option [value]`: set an option of a command.
    Opts = "OPTS" {
        login: false, rfc: "RFC 2389 §4; OPTS UTF8 RFC 2640", syntax: "UTF8 ON | OPTS MLST facts", about: None,
        feat: ["UTF8"]
    }
    /// `SITE ...`: site-specific commands (CHMOD, HELP).
    Site = "SITE" { login: true, rfc: "RFC 959 4.1.3", syntax: "CHMOD <mode> <path> | SITE HELP", about: None, feat: [] }
    /// `HOST name`: virtual host, before login.
    Host = "HOST" {
        login: false, rfc: "RFC 7151", syntax: "<hostname>", about: Some("virtual host, before login"), feat: ["HOST"]
    }
    /// `CLNT text`: the client's name (a de facto extension; logged only).
    Clnt = "CLNT" { login: false, rfc: "none (de facto)", syntax: "<client name>", about: None, feat: ["CLNT"] }
    /// `AUTH mechanism`: start TLS on the control connection.
    Auth = "AUTH" {
        login: false, rfc: "RFC 2228 §3; RFC 4217 §4", syntax: "TLS", about: Some("start TLS on the control connection"),
        feat: ["AUTH TLS", "AUTH SSL"]
    }
    /// `PBSZ size`: protection buffer size (always 0 with TLS).
    Pbsz = "PBSZ" {
        login: false, rfc: "RFC 2228 §3; RFC 4217 §8", syntax: "0", about: Some("protection buffer size, after AUTH"),
        feat: ["PBSZ"]
    }
    /// `PROT level`: data connection protection.
    Prot = "PROT" {
        login: false, rfc: "RFC 2228 §3; RFC 4217 §9", syntax: "C|P", about: Some("data connection protection"),
        feat: ["PROT"]
    }
    /// `CCC`: clear the command channel.
    Ccc = "CCC" {
        login: false, rfc: "RFC 2228 §3; RFC 4217 §12.3", syntax: "", about: Some("clear the control channel, when allowed"),
        feat: []
    }
}

/// Features FEAT lists that belong to no verb: TVFS (RFC 3659 §6), the
/// trivial virtual file store `/`-separated paths this server always uses.
pub const FEATURES_WITHOUT_VERB: &[&str] = &["TVFS"];

impl Verb {
    /// The canonical name (`PWD` for `XPWD`).
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Other names of this verb (RFC 775's `X` forms).
    pub fn aliases(self) -> &'static [&'static str] {
        self.row().aliases
    }

    /// Whether the verb needs a logged-in session (before login it gets 530).
    pub fn needs_login(self) -> bool {
        self.row().needs_login
    }

    /// Where the verb is defined.
    pub fn rfc(self) -> &'static str {
        self.row().rfc
    }

    /// The FEAT lines this verb brings (RFC 2389), when the server offers it.
    pub fn features(self) -> &'static [&'static str] {
        self.row().features
    }

    /// The verb an upper-cased word names, by name or alias.
    pub fn from_upper(word: &[u8]) -> Option<Verb> {
        Verb::ALL.iter().copied().find(|v| {
            let row = v.row();
            row.name.as_bytes() == word || row.aliases.iter().any(|a| a.as_bytes() == word)
        })
    }

    /// The HELP line for `spelling`, the verb's name or one of its aliases:
    /// `CWD <path> (change directory)`, `XCWD <path> (same as CWD)`.
    pub fn help(self, spelling: &str) -> String {
        let row = self.row();
        let mut line = spelling.to_string();
        if !row.syntax.is_empty() {
            line.push(' ');
            line.push_str(row.syntax);
        }
        if spelling != row.name {
            line.push_str(&format!(" (same as {})", row.name));
        } else if let Some(about) = row.about {
            line.push_str(&format!(" ({about})"));
        }
        line
    }

    /// Every spelling the server understands (names and aliases), sorted, for HELP.
    pub fn spellings() -> Vec<(&'static str, Verb)> {
        let mut all: Vec<(&'static str, Verb)> = Verb::ALL
            .iter()
            .flat_map(|&v| std::iter::once(v.name()).chain(v.aliases().iter().copied()).map(move |s| (s, v)))
            .collect();
        all.sort_unstable();
        all
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique_upper_case_words() {
        let spellings = Verb::spellings();
        assert_eq!(spellings.len(), 56);
        for pair in spellings.windows(2) {
            assert_ne!(pair[0].0, pair[1].0, "spelled twice");
        }
        for (spelling, verb) in &spellings {
            assert!(spelling.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{spelling}");
            assert!(spelling.as_bytes()[0].is_ascii_uppercase(), "{spelling}");
            assert_eq!(Verb::from_upper(spelling.as_bytes()), Some(*verb));
        }
        assert_eq!(Verb::from_upper(b"XPWD"), Some(Verb::Pwd));
        assert_eq!(Verb::from_upper(b"pwd"), None, "the caller upper-cases");
    }

    #[test]
    fn help_lines() {
        assert_eq!(Verb::Cwd.help("CWD"), "CWD <path> (change directory)");
        assert_eq!(Verb::Cwd.help("XCWD"), "XCWD <path> (same as CWD)");
        assert_eq!(Verb::Cdup.help("XCUP"), "XCUP (same as CDUP)");
        assert_eq!(Verb::Noop.help("NOOP"), "NOOP");
        assert_eq!(Verb::Type.help("TYPE"), "TYPE A | TYPE I | TYPE L 8");
        assert_eq!(Verb::Abor.help("ABOR"), "ABOR (abort the running transfer)");
    }

    #[test]
    fn login_and_features() {
        let open: Vec<&str> = Verb::ALL.iter().filter(|v| !v.needs_login()).map(|v| v.name()).collect();
        assert_eq!(
            open,
            [
                "USER", "PASS", "ACCT", "REIN", "QUIT", "ABOR", "STAT", "HELP", "SYST", "NOOP", "FEAT", "OPTS", "HOST",
                "CLNT", "AUTH", "PBSZ", "PROT", "CCC"
            ]
        );
        assert_eq!(Verb::Auth.features(), ["AUTH TLS", "AUTH SSL"]);
        assert_eq!(Verb::Rest.to_string(), "REST");
        assert!(Verb::ALL.iter().all(|v| !v.rfc().is_empty()));
    }
}
