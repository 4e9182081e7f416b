//! SITE (RFC 959 4.1.3): SITE CHMOD and SITE HELP (which lists
//! oxftp-proto's `SITE_COMMANDS`, the one list of SITE subcommands).
//!
//! The setuid, setgid and sticky bits are left out (the 200 says so) unless
//! [`Options::chmod_special_bits`](crate::server::Options::chmod_special_bits)
//! allows them: files belong to the user the daemon runs as, so a guest could
//! otherwise make a setuid-root program. This is done here, before any
//! backend is asked, so it holds for every backend.

use oxftp_proto::command::{SITE_COMMANDS, SiteCommand};
use oxftp_proto::reply::Reply;

use crate::conn::{Answered, Conn, LoggedIn};

/// `SITE CHMOD <octal> <path>` → `200` (saying so when the setuid, setgid or
/// sticky bits were left out) · `550` · `502` when the storage
/// cannot change modes · `SITE HELP [command]` → `214` every SITE command
/// (or one's syntax) · other SITE commands → `502`
/// (RFC 959 4.1.3 leaves SITE to the server).
pub(crate) async fn site(conn: &mut Conn, user: &LoggedIn, site: SiteCommand) -> Answered {
    match site {
        SiteCommand::Chmod { mode, path } => {
            if !conn.ctx.stack.capabilities().set_mode {
                return Err(conn.reply(502, "SITE CHMOD is not supported by this storage.").await);
            }
            let path = user.resolve(conn, &path).await?;
            let allowed = if conn.ctx.options.chmod_special_bits { 0o7777 } else { 0o777 };
            let kept = mode & allowed;
            match user.storage.set_mode(&path, kept).await {
                Ok(()) if kept == mode => Ok(conn.reply(200, "SITE CHMOD command successful.").await),
                Ok(()) => {
                    let text = format!(
                        "SITE CHMOD command successful: mode {kept:o}; setuid, setgid and sticky bits are not allowed."
                    );
                    Ok(conn.reply(200, text).await)
                }
                Err(e) => Err(conn.storage_failed(&e).await),
            }
        }
        SiteCommand::Help { topic: None } => {
            let mut lines = vec![b"SITE commands:".to_vec()];
            for (name, syntax, about) in SITE_COMMANDS {
                lines.push(format!(" {name} {syntax} ({about})").into_bytes());
            }
            lines.push(b"End".to_vec());
            Ok(conn.send(&Reply::multi(214, lines)).await)
        }
        SiteCommand::Help { topic: Some(topic) } => {
            let topic = topic.to_ascii_uppercase();
            match SITE_COMMANDS.iter().find(|(name, ..)| *name == topic) {
                Some((name, syntax, about)) => {
                    Ok(conn.reply(214, format!("Syntax: SITE {name} {syntax} ({about})")).await)
                }
                None => Err(conn.reply(502, format!("Unknown SITE command {topic}.")).await),
            }
        }
        SiteCommand::Other { name, .. } => Err(conn.reply(502, format!("Unknown SITE command {name}.")).await),
    }
}
