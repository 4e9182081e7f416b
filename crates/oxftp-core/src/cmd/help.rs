//! HELP (RFC 959 4.1.3) and FEAT (RFC 2389).
//!
//! Wire format: `HELP` → `214-` the commands we understand `214 ...` ·
//! `HELP <cmd>` → 214 with that command's syntax, 502 for an unknown one ·
//! `FEAT` → `211-Features:`, one feature per line (each indented one space),
//! `211 End`. FEAT is answered from the storage's capabilities so REST
//! STREAM and MFMT are only advertised when the backend can do them.

use oxftp_proto::reply::Reply;

use crate::session::Session;

/// Every command and its syntax, for HELP.
const COMMANDS: &[(&str, &str)] = &[
    ("ABOR", "ABOR (abort the running transfer)"),
    ("ACCT", "ACCT <account> (not needed)"),
    ("ALLO", "ALLO <bytes> (not needed)"),
    ("APPE", "APPE <path> (append to a file)"),
    ("AUTH", "AUTH TLS (start TLS on the control connection)"),
    ("CCC", "CCC (clear the control channel, when allowed)"),
    ("CDUP", "CDUP (go to the parent directory)"),
    ("CLNT", "CLNT <client name>"),
    ("CWD", "CWD <path> (change directory)"),
    ("DELE", "DELE <path> (delete a file)"),
    ("EPRT", "EPRT |proto|address|port| (active data connection)"),
    ("EPSV", "EPSV [1|2|ALL] (extended passive mode)"),
    ("FEAT", "FEAT (list extensions)"),
    ("HELP", "HELP [command]"),
    ("HOST", "HOST <hostname> (virtual host, before login)"),
    ("LIST", "LIST [-flags] [path] (long listing)"),
    ("MDTM", "MDTM <path> (modification time)"),
    ("MFMT", "MFMT YYYYMMDDHHMMSS <path> (set modification time)"),
    ("MKD", "MKD <path> (make a directory)"),
    ("MLSD", "MLSD [path] (machine listing of a directory)"),
    ("MLST", "MLST [path] (machine facts of one path)"),
    ("MODE", "MODE S (stream only)"),
    ("NLST", "NLST [-flags] [path|pattern] (name list)"),
    ("NOOP", "NOOP"),
    ("OPTS", "OPTS UTF8 ON | OPTS MLST facts"),
    ("PASS", "PASS <password>"),
    ("PASV", "PASV (passive mode)"),
    ("PBSZ", "PBSZ 0 (protection buffer size, after AUTH)"),
    ("PORT", "PORT h1,h2,h3,h4,p1,p2 (active mode)"),
    ("PROT", "PROT C|P (data connection protection)"),
    ("PWD", "PWD (print working directory)"),
    ("QUIT", "QUIT"),
    ("REIN", "REIN (reset the session)"),
    ("REST", "REST <offset> (restart a transfer)"),
    ("RETR", "RETR <path> (download)"),
    ("RMD", "RMD <path> (remove a directory)"),
    ("RNFR", "RNFR <path> (rename from)"),
    ("RNTO", "RNTO <path> (rename to)"),
    ("SITE", "SITE CHMOD <mode> <path> | SITE HELP"),
    ("SIZE", "SIZE <path>"),
    ("STAT", "STAT [path]"),
    ("STOR", "STOR <path> (upload)"),
    ("STOU", "STOU [name] (upload under a unique name)"),
    ("STRU", "STRU F (file structure only)"),
    ("SYST", "SYST"),
    ("TYPE", "TYPE A | TYPE I | TYPE L 8"),
    ("USER", "USER <name>"),
    ("XCUP", "XCUP (same as CDUP)"),
    ("XCWD", "XCWD <path> (same as CWD)"),
    ("XMKD", "XMKD <path> (same as MKD)"),
    ("XPWD", "XPWD (same as PWD)"),
    ("XRMD", "XRMD <path> (same as RMD)"),
];

/// Extensions always offered (RFC 2389 feature lines, without the leading space).
const FEATURES: &[&str] = &[
    "CLNT",
    "EPRT",
    "EPSV",
    "HOST",
    "MDTM",
    "MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;",
    "SIZE",
    "TVFS",
    "UTF8",
];

impl Session {
    pub(crate) async fn cmd_help(&mut self, topic: Option<&str>) {
        match topic {
            None => {
                let mut lines = vec![b"The following commands are recognized:".to_vec()];
                for chunk in COMMANDS.chunks(8) {
                    let row: Vec<String> = chunk.iter().map(|(name, _)| format!("{name:<5}")).collect();
                    lines.push(format!(" {}", row.join(" ")).into_bytes());
                }
                lines.push(b"Help OK.".to_vec());
                self.send(&Reply::multi(214, lines)).await;
            }
            Some(topic) => {
                let topic = topic.trim().to_ascii_uppercase();
                match COMMANDS.iter().find(|(name, _)| *name == topic) {
                    Some((_, syntax)) => self.reply(214, format!("Syntax: {syntax}")).await,
                    None => self.reply(502, format!("Unknown command {topic}.")).await,
                }
            }
        }
    }

    pub(crate) async fn cmd_feat(&mut self) {
        let caps = self.shared.storage.capabilities();
        let mut features: Vec<&str> = FEATURES.to_vec();
        if caps.set_mtime {
            features.push("MFMT");
        }
        if caps.read_at_offset {
            features.push("REST STREAM");
        }
        if self.tls.is_some() {
            // RFC 4217 §6: AUTH with its mechanisms, PBSZ and PROT.
            features.extend(["AUTH TLS", "AUTH SSL", "PBSZ", "PROT"]);
        }
        features.sort_unstable();
        let mut lines = vec![b"Features:".to_vec()];
        lines.extend(features.iter().map(|f| format!(" {f}").into_bytes()));
        lines.push(b"End".to_vec());
        self.send(&Reply::multi(211, lines)).await;
    }
}
