//! Directories: CWD/XCWD, CDUP/XCUP, PWD/XPWD, MKD/XMKD, RMD/XRMD (RFC 959 4.1.1, 4.1.3; RFC 775).
//!
//! Wire format: `CWD <path>` → 250 or 550 · `CDUP` → 250 (same as `CWD ..`) ·
//! `PWD` → 257 "<path>" (quotes in the path doubled) · `MKD <path>` → 257
//! "<path>" created · `RMD <path>` → 250, or 550 when missing or not empty.

use crate::session::Session;

impl Session {
    pub(crate) async fn cmd_cwd(&mut self, arg: &[u8]) {
        let Some(path) = self.resolve(arg).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        match storage.metadata(&path).await {
            Ok(info) if info.is_dir() => {
                self.cwd = path;
                self.reply(250, "Directory successfully changed.").await;
            }
            Ok(_) => self.reply(550, "Not a directory.").await,
            Err(e) => self.storage_failed(&e).await,
        }
    }

    pub(crate) async fn cmd_pwd(&mut self) {
        let mut text = self.cwd.quoted();
        text.extend_from_slice(b" is the current directory.");
        self.reply(257, text).await;
    }

    pub(crate) async fn cmd_mkd(&mut self, arg: &[u8]) {
        let Some(path) = self.resolve(arg).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        if path.is_root() {
            self.reply(550, "File exists.").await;
            return;
        }
        match storage.mkdir(&path).await {
            Ok(()) => {
                let mut text = path.quoted();
                text.extend_from_slice(b" directory created.");
                self.reply(257, text).await;
            }
            Err(e) => self.storage_failed(&e).await,
        }
    }

    pub(crate) async fn cmd_rmd(&mut self, arg: &[u8]) {
        let Some(path) = self.resolve(arg).await else {
            return;
        };
        let Some(storage) = self.storage.clone() else {
            return;
        };
        if path.is_root() || self.cwd.starts_with(&path) {
            self.reply(550, "Cannot remove the current directory or one of its parents.").await;
            return;
        }
        match storage.rmdir(&path).await {
            Ok(()) => self.reply(250, "Directory removed.").await,
            Err(e) => self.storage_failed(&e).await,
        }
    }
}
