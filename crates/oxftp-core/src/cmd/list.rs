//! Directory listings over the data connection: LIST and NLST (RFC 959 4.1.3).
//!
//! Wire format: `LIST [-flags] [path|pattern]` → 150, `ls -l` lines, 226 ·
//! `NLST [-flags] [path|pattern]` → 150, one name per line, 226.
//! Flags as `ls` takes them (`-a`, `-l`, `-la`, `-CF`…): `-a` shows dot files,
//! `-F` marks directories with `/`, `-d` lists a directory itself, and
//! `NLST -l` gives long lines. A pattern (`*.txt`, `data/?.csv`, `[ab]*`)
//! in the last component is matched by oxftp-proto's linear-time glob, capped
//! at `MAX_GLOB_MATCHES` names, so `mget`/`mdelete` work and no pattern can
//! exhaust the server.

use oxftp_proto::glob::{Glob, has_glob_chars};
use oxftp_proto::listing::parse_list_args;
use oxftp_proto::path::VPath;

use crate::auth::AccessClass;
use crate::listing::{ListSpec, MAX_GLOB_MATCHES, Style};
use crate::session::Session;
use crate::storage::DirEntry;
use crate::transfer::Job;

/// Which command asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    List,
    Nlst,
}

impl Session {
    /// Whether this session may write at all (for MLSx `perm`).
    pub(crate) fn writable(&self) -> bool {
        self.identity.as_ref().is_some_and(|i| !i.read_only && i.class != AccessClass::Anonymous)
    }

    /// Work out what a LIST/NLST/STAT argument names. Replies and returns None on error.
    pub(crate) async fn list_spec(&mut self, args: &[u8], style: Style) -> Option<ListSpec> {
        let storage = self.storage.clone()?;
        let (opts, arg) = parse_list_args(args);
        let style = if style == Style::Names && opts.long { Style::Long } else { style };
        let mut spec = ListSpec {
            lister: None,
            dir: self.cwd.clone(),
            single: None,
            filter: None,
            style,
            show_hidden: opts.all,
            classify: opts.classify,
            prefix: Vec::new(),
            writable: self.writable(),
            max_entries: usize::MAX,
        };
        let Some(arg) = arg else { return Some(spec) };
        let (dir_part, last) = match arg.iter().rposition(|&b| b == b'/') {
            Some(i) => (&arg[..=i], &arg[i + 1..]),
            None => (&b""[..], &arg[..]),
        };
        if has_glob_chars(last) {
            let glob = match Glob::new(last) {
                Ok(g) => g,
                Err(e) => {
                    self.reply(501, format!("Bad pattern: {e}")).await;
                    return None;
                }
            };
            spec.dir = self.resolve(if dir_part.is_empty() { b"." } else { dir_part }).await?;
            spec.filter = Some(glob);
            spec.prefix = dir_part.to_vec();
            spec.max_entries = MAX_GLOB_MATCHES;
            return Some(spec);
        }
        let path = self.resolve(&arg).await?;
        match storage.metadata(&path).await {
            Ok(info) if info.is_dir() && !opts.directory => {
                spec.dir = path;
                Some(spec)
            }
            Ok(info) => {
                let name = if style == Style::Names { arg.clone() } else { display_name(&path) };
                spec.single = Some(DirEntry { name, info });
                Some(spec)
            }
            Err(e) => {
                self.storage_failed(&e).await;
                None
            }
        }
    }

    pub(crate) async fn cmd_list(&mut self, args: &[u8], kind: Kind) {
        if self.data.is_none() {
            return self.reply(425, "Use PORT, EPRT, PASV or EPSV first.").await;
        }
        let style = if kind == Kind::List { Style::Long } else { Style::Names };
        let Some(mut spec) = self.list_spec(args, style).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        if let Err(e) = spec.open(storage.as_ref()).await {
            return self.storage_failed(&e).await;
        }
        let path = spec.dir.clone();
        let what = if kind == Kind::List { "LIST" } else { "NLST" };
        self.start(Job::List { storage, spec: Box::new(spec) }, what, path, "Here comes the directory listing.", None)
            .await;
    }
}

/// The last component of a path, or `/` for the root.
pub(crate) fn display_name(path: &VPath) -> Vec<u8> {
    path.file_name().map(|n| n.to_vec()).unwrap_or_else(|| b"/".to_vec())
}
