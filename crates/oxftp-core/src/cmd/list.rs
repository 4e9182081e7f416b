//! Directory listings over the data connection: LIST and NLST (RFC 959 4.1.3).
//!
//! Flags as `ls` takes them (`-a`, `-l`, `-la`, `-CF`…): `-a` shows dot files,
//! `-F` marks directories with `/`, `-d` lists a directory itself, and
//! `NLST -l` gives long lines. `LIST -R` (wget, ncftp and GUI clients send
//! it) lists the subdirectories too, as `ls -lR` does, streamed, at most
//! 16 levels deep and 50,000 entries in all (like ProFTPD's ListOptions
//! limits); subdirectories that cannot be listed are skipped. A pattern (`*.txt`, `data/?.csv`, `[ab]*`)
//! in the last component is matched by oxftp-proto's linear-time glob, capped
//! at `MAX_GLOB_MATCHES` names, so `mget`/`mdelete` work and no pattern can
//! exhaust the server.

use oxftp_proto::glob::{Glob, has_glob_chars};
use oxftp_proto::listing::parse_list_args;
use oxftp_proto::path::VPath;

use super::transfer::{Announce, start};
use crate::conn::{Conn, LoggedIn, Replied, Running, Transfer, TransferCommand};
use crate::listing::{ListSpec, MAX_GLOB_MATCHES, MAX_RECURSIVE_ENTRIES, PermView, Style};
use crate::storage::DirEntry;
use crate::transfer::Job;

/// Which command asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    List,
    Nlst,
}

/// Work out what a LIST/NLST/STAT argument names; replies on error.
pub(crate) async fn list_spec(
    conn: &mut Conn,
    user: &LoggedIn,
    args: &[u8],
    style: Style,
) -> Result<ListSpec, Replied> {
    let (opts, arg) = parse_list_args(args);
    let style = if style == Style::Names && opts.long { Style::Long } else { style };
    let mut spec = ListSpec {
        lister: None,
        dir: user.cwd.clone(),
        single: None,
        filter: None,
        style,
        show_hidden: opts.all,
        classify: opts.classify,
        prefix: Vec::new(),
        perms: std::sync::Arc::new(PermView::of(&user.identity)),
        max_entries: usize::MAX,
        recursive: false,
    };
    let Some(arg) = arg else {
        spec.recurse_if(opts.recursive);
        return Ok(spec);
    };
    let (dir_part, last) = match arg.iter().rposition(|&b| b == b'/') {
        Some(i) => (&arg[..=i], &arg[i + 1..]),
        None => (&b""[..], &arg[..]),
    };
    if has_glob_chars(last) {
        let glob = match Glob::new(last) {
            Ok(g) => g,
            Err(e) => return Err(conn.reply(501, format!("Bad pattern: {e}")).await),
        };
        spec.dir = user.resolve(conn, if dir_part.is_empty() { b"." } else { dir_part }).await?;
        spec.filter = Some(glob);
        spec.prefix = dir_part.to_vec();
        spec.max_entries = MAX_GLOB_MATCHES;
        return Ok(spec);
    }
    let path = user.resolve(conn, &arg).await?;
    match user.storage.metadata(&path).await {
        Ok(info) if info.is_dir() && !opts.directory => {
            spec.dir = path;
            spec.recurse_if(opts.recursive);
            Ok(spec)
        }
        Ok(info) => {
            let name = if style == Style::Names { arg.clone() } else { display_name(&path) };
            spec.single = Some(DirEntry { name, info });
            Ok(spec)
        }
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}

/// `LIST [-flags] [path|pattern]` (RFC 959 4.1.3) → `150`, `ls -l` lines,
/// `226` · `NLST [-flags] [path|pattern]` → `150`, one name per line, `226`
/// · `425` without a data connection set up · `550` (before any 150) when
/// the directory cannot be listed.
pub(crate) async fn list(
    conn: &mut Conn,
    user: &LoggedIn,
    transfer: &mut Transfer,
    args: &[u8],
    kind: Kind,
) -> Result<Running, Replied> {
    if transfer.data.is_none() {
        return Err(conn.reply(425, "Use PORT, EPRT, PASV or EPSV first.").await);
    }
    let style = if kind == Kind::List { Style::Long } else { Style::Names };
    let mut spec = list_spec(conn, user, args, style).await?;
    if let Err(e) = spec.open(user.storage.as_ref()).await {
        return Err(conn.storage_failed(&e).await);
    }
    let path = spec.dir.clone();
    let command = if kind == Kind::List { TransferCommand::List } else { TransferCommand::Nlst };
    let job = Job::List { storage: user.storage.clone(), spec: Box::new(spec) };
    start(conn, user, transfer, job, Announce::new(command, path, "Here comes the directory listing.")).await
}

impl ListSpec {
    /// `LIST -R` of a directory: recursive, within its limits (NLST and
    /// machine listings stay flat).
    fn recurse_if(&mut self, recursive: bool) {
        if recursive && self.style == Style::Long {
            self.recursive = true;
            self.max_entries = self.max_entries.min(MAX_RECURSIVE_ENTRIES);
        }
    }
}

/// The last component of a path, or `/` for the root.
pub(crate) fn display_name(path: &VPath) -> Vec<u8> {
    path.file_name().map(|n| n.to_vec()).unwrap_or_else(|| b"/".to_vec())
}
