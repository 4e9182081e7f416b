//! Machine-readable listings: MLSD and MLST (RFC 3659 §7), and OPTS MLST.
//!
//! Wire format: `MLSD [dir]` → 150, one `facts; name` line per entry, 226 ·
//! `MLST [path]` → `250-Listing path`, one line ` facts; path`, `250 End`.
//! Facts: type, size, modify, perm, unique, UNIX.mode.

use oxftp_proto::listing::mlsx_line;
use oxftp_proto::reply::Reply;

use crate::listing::{ListSpec, Style, perm_fact};
use crate::session::Session;
use crate::transfer::Job;

impl Session {
    pub(crate) async fn cmd_mlsd(&mut self, arg: Option<&[u8]>) {
        if self.data.is_none() {
            return self.reply(425, "Use PORT, EPRT, PASV or EPSV first.").await;
        }
        let Some(path) = self.resolve(arg.unwrap_or(b".")).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        match storage.metadata(&path).await {
            Ok(info) if info.is_dir() => {}
            Ok(_) => {
                return self.reply(501, "MLSD needs a directory; use MLST for a file.").await;
            }
            Err(e) => return self.storage_failed(&e).await,
        }
        let mut spec = ListSpec {
            lister: None,
            dir: path.clone(),
            single: None,
            filter: None,
            style: Style::Facts,
            show_hidden: true,
            classify: false,
            prefix: Vec::new(),
            writable: self.writable(),
            max_entries: usize::MAX,
        };
        if let Err(e) = spec.open(storage.as_ref()).await {
            return self.storage_failed(&e).await;
        }
        self.start(
            Job::List { storage, spec: Box::new(spec) },
            "MLSD",
            path,
            "Here comes the directory listing.",
            None,
        )
        .await;
    }

    pub(crate) async fn cmd_mlst(&mut self, arg: Option<&[u8]>) {
        let Some(path) = self.resolve(arg.unwrap_or(b".")).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        match storage.metadata(&path).await {
            Ok(info) => {
                let mut line = vec![b' '];
                mlsx_line(path.as_bytes(), &info, perm_fact(&info, self.writable()), None, &mut line);
                // mlsx_line ends its line with CRLF; the reply adds its own.
                while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    line.pop();
                }
                let mut first = b"Listing ".to_vec();
                first.extend_from_slice(path.as_bytes());
                let reply = Reply::multi(250, vec![first, line, b"End".to_vec()]);
                self.send(&reply).await;
            }
            Err(e) => self.storage_failed(&e).await,
        }
    }
}
