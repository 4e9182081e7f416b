//! Command handlers, one file per command or small family, each with its RFC
//! and wire format. `dispatch` checks login state, then calls the handler.

mod abor;
mod auth;
mod dirs;
mod files;
mod help;
mod info;
mod list;
mod login;
mod mlst;
mod params;
mod ports;
mod rename;
mod site;
mod stat;
mod transfer;

use oxftp_proto::command::Command;
use oxftp_proto::path::VPath;

use crate::session::{Flow, Session};
use crate::storage::StorageError;

impl Session {
    /// Resolve a client path against the current directory (501 on a bad path).
    pub(crate) async fn resolve(&mut self, arg: &[u8]) -> Option<VPath> {
        match self.cwd.resolve(arg) {
            Ok(p) => Some(p),
            Err(e) => {
                self.reply(501, format!("Invalid path: {e}")).await;
                None
            }
        }
    }

    /// Reply to a storage failure with its code and text.
    pub(crate) async fn storage_failed(&mut self, e: &StorageError) {
        self.send(&e.reply()).await;
    }

    pub(crate) async fn dispatch(&mut self, command: Command, rename_from: Option<VPath>) -> Flow {
        use Command as C;
        let needs_login = command.needs_login();
        if needs_login && !self.logged_in() {
            self.reply(530, "Please login with USER and PASS.").await;
            return Flow::Continue;
        }
        match command {
            C::User { name } => return self.cmd_user(name).await,
            C::Pass { password } => return self.cmd_pass(password).await,
            C::Acct { .. } => self.cmd_acct().await,
            C::Rein => self.cmd_rein().await,
            C::Quit => {
                self.reply(221, "Goodbye.").await;
                return Flow::Close;
            }
            C::Cwd { path } => self.cmd_cwd(&path).await,
            C::Cdup => self.cmd_cwd(b"..").await,
            C::Pwd => self.cmd_pwd().await,
            C::Mkd { path } => self.cmd_mkd(&path).await,
            C::Rmd { path } => self.cmd_rmd(&path).await,
            C::Dele { path } => self.cmd_dele(&path).await,
            C::Rnfr { path } => self.cmd_rnfr(&path).await,
            C::Rnto { path } => self.cmd_rnto(&path, rename_from).await,
            C::Retr { path } => self.cmd_retr(&path).await,
            C::Stor { path } => self.cmd_stor(&path, transfer::Upload::Store).await,
            C::Appe { path } => self.cmd_stor(&path, transfer::Upload::Append).await,
            C::Stou { path } => self.cmd_stou(path).await,
            C::Rest { offset } => self.cmd_rest(offset).await,
            C::Allo => self.reply(202, "ALLO not needed: storage grows on demand.").await,
            C::Abor => return self.cmd_abor().await,
            C::Type(t) => self.cmd_type(t).await,
            C::Mode => self.reply(200, "Mode set to S.").await,
            C::Stru => self.reply(200, "Structure set to F.").await,
            C::Pasv => self.cmd_pasv().await,
            C::Epsv(arg) => self.cmd_epsv(arg).await,
            C::Port(addr) => self.cmd_port(std::net::SocketAddr::V4(addr)).await,
            C::Eprt(addr) => self.cmd_port(addr).await,
            C::List { args } => self.cmd_list(&args, list::Kind::List).await,
            C::Nlst { args } => self.cmd_list(&args, list::Kind::Nlst).await,
            C::Mlsd { path } => self.cmd_mlsd(path.as_deref()).await,
            C::Mlst { path } => self.cmd_mlst(path.as_deref()).await,
            C::Size { path } => self.cmd_size(&path).await,
            C::Mdtm { path } => self.cmd_mdtm(&path).await,
            C::Mfmt { unix_secs, path } => self.cmd_mfmt(unix_secs, &path).await,
            C::Stat { path } => return self.cmd_stat(path.as_deref()).await,
            C::Help { topic } => self.cmd_help(topic.as_deref()).await,
            C::Syst => self.reply(215, "UNIX Type: L8").await,
            C::Noop => self.reply(200, "NOOP ok.").await,
            C::Feat => self.cmd_feat().await,
            C::Opts { option, value } => self.cmd_opts(&option, &value).await,
            C::Site(site) => self.cmd_site(site).await,
            C::Host { host } => self.cmd_host(&host).await,
            C::Clnt { client } => {
                self.client_name = Some(client);
                self.reply(200, "Noted.").await;
            }
            C::Auth(mechanism) => return self.cmd_auth(&mechanism).await,
            C::Pbsz(_) => self.cmd_pbsz().await,
            C::Prot(level) => self.cmd_prot(&level).await,
            C::Ccc => return self.cmd_ccc().await,
        }
        Flow::Continue
    }
}
