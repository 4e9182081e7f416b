//! From a parsed [`Command`] to its handler in `crate::cmd`, each handler
//! given only the state it needs.

use oxftp_proto::command::{Command, Verb};

use super::Session;
use crate::cmd;
use crate::conn::{Answered, Flow, Running};

/// The logged-in user, for a handler that needs one. The verb table's login
/// check in [`Session::dispatch`] has already answered 530 for the commands
/// it marks; a handler that needs a user for a command the table does not
/// mark fails closed here, with the same 530.
macro_rules! user {
    ($conn:expr, $login:expr) => {
        match $login.user_mut() {
            Some(user) => user,
            None => {
                let _ = $conn.not_logged_in().await;
                return Flow::Continue;
            }
        }
    };
}

/// A handler answered; the session goes on.
fn done(_: Answered) -> Flow {
    Flow::Continue
}

/// A transfer handler answered: with the 150 of a started transfer, which
/// the session now watches, or with a refusal.
fn started(running: &mut Option<Running>, result: Result<Running, crate::conn::Replied>) -> Flow {
    if let Ok(transfer) = result {
        *running = Some(transfer);
    }
    Flow::Continue
}

impl Session {
    pub(super) async fn dispatch(&mut self, command: Command) -> Flow {
        if command.needs_login() && !self.state.login.is_logged_in() {
            let _ = self.conn.not_logged_in().await;
            return Flow::Continue;
        }
        // RNTO must follow RNFR immediately: any other command forgets it.
        if command.verb() != Verb::Rnto {
            self.state.login.forget_rename();
        }
        let Session { conn, state, running } = self;
        use Command as C;
        match command {
            // Any state.
            C::User { name } => cmd::login::user(conn, state, name).await,
            C::Pass { password } => cmd::login::pass(conn, state, password).await,
            C::Acct { .. } => done(cmd::login::acct(conn).await),
            C::Rein => done(cmd::login::rein(conn, state).await),
            C::Quit => cmd::login::quit(conn, state).await,
            C::Abor => done(cmd::abor::abor(conn, state, running).await),
            C::Stat { path: None } => done(cmd::stat::status(conn, state, running.as_ref()).await),
            C::Help { topic } => done(cmd::help::help(conn, topic.as_deref()).await),
            C::Feat => done(cmd::help::feat(conn).await),
            C::Syst => done(cmd::info::syst(conn).await),
            C::Noop => done(cmd::info::noop(conn).await),
            C::Opts { option, value } => done(cmd::client::opts(conn, &option, &value).await),
            C::Host { host } => done(cmd::client::host(conn, &state.login, &host).await),
            C::Clnt { client } => done(cmd::client::clnt(conn, client).await),
            C::Auth(mechanism) => cmd::tls::auth(conn, &mechanism).await,
            C::Pbsz(_) => done(cmd::tls::pbsz(conn).await),
            C::Prot(level) => done(cmd::tls::prot(conn, state.login.identity(), &level).await),
            C::Ccc => cmd::tls::ccc(conn, state.login.identity()).await,

            // Logged in, transfer parameters.
            C::Type(ty) => done(cmd::params::type_(conn, &mut state.transfer, ty).await),
            C::Mode => done(cmd::params::mode(conn).await),
            C::Stru => done(cmd::params::stru(conn).await),
            C::Pasv => done(cmd::ports::pasv(conn, &mut state.transfer).await),
            C::Epsv(arg) => done(cmd::ports::epsv(conn, &mut state.transfer, arg).await),
            C::Port(addr) => done(cmd::ports::port(conn, &mut state.transfer, std::net::SocketAddr::V4(addr)).await),
            C::Eprt(addr) => done(cmd::ports::port(conn, &mut state.transfer, addr).await),
            C::Rest { offset } => done(cmd::transfer::rest(conn, &mut state.transfer, offset).await),
            C::Allo => done(cmd::transfer::allo(conn).await),

            // Logged in, on the user's storage.
            C::Cwd { path } => {
                let user = user!(conn, state.login);
                done(cmd::dirs::cwd(conn, user, &path).await)
            }
            C::Cdup => {
                let user = user!(conn, state.login);
                done(cmd::dirs::cwd(conn, user, b"..").await)
            }
            C::Pwd => {
                let user = user!(conn, state.login);
                done(cmd::dirs::pwd(conn, user).await)
            }
            C::Mkd { path } => {
                let user = user!(conn, state.login);
                done(cmd::dirs::mkd(conn, user, &path).await)
            }
            C::Rmd { path } => {
                let user = user!(conn, state.login);
                done(cmd::dirs::rmd(conn, user, &path).await)
            }
            C::Dele { path } => {
                let user = user!(conn, state.login);
                done(cmd::files::dele(conn, user, &path).await)
            }
            C::Size { path } => {
                let user = user!(conn, state.login);
                done(cmd::files::size(conn, user, state.transfer.ty, &path).await)
            }
            C::Mdtm { path } => {
                let user = user!(conn, state.login);
                done(cmd::files::mdtm(conn, user, &path).await)
            }
            C::Mfmt { unix_secs, path } => {
                let user = user!(conn, state.login);
                done(cmd::files::mfmt(conn, user, unix_secs, &path).await)
            }
            C::Rnfr { path } => {
                let user = user!(conn, state.login);
                done(cmd::rename::rnfr(conn, user, &path).await)
            }
            C::Rnto { path } => {
                let user = user!(conn, state.login);
                done(cmd::rename::rnto(conn, user, &path).await)
            }
            C::Site(site) => {
                let user = user!(conn, state.login);
                done(cmd::site::site(conn, user, site).await)
            }
            C::Mlst { path } => {
                let user = user!(conn, state.login);
                done(cmd::mlst::mlst(conn, user, path.as_deref()).await)
            }
            C::Hash { path } => {
                let user = user!(conn, state.login);
                done(cmd::hash::hash(conn, user, &path).await)
            }
            C::Digest { verb, path } => {
                let user = user!(conn, state.login);
                done(cmd::hash::digest_command(conn, user, verb, &path).await)
            }
            C::Stat { path: Some(path) } => {
                let user = user!(conn, state.login);
                done(cmd::stat::path_status(conn, user, &path).await)
            }

            // Logged in, transfers over a data connection.
            C::Retr { path } => {
                let user = user!(conn, state.login);
                started(running, cmd::transfer::retr(conn, user, &mut state.transfer, &path).await)
            }
            C::Stor { path } => {
                let user = user!(conn, state.login);
                let upload = cmd::transfer::Upload::Store;
                started(running, cmd::transfer::stor(conn, user, &mut state.transfer, &path, upload).await)
            }
            C::Appe { path } => {
                let user = user!(conn, state.login);
                let upload = cmd::transfer::Upload::Append;
                started(running, cmd::transfer::stor(conn, user, &mut state.transfer, &path, upload).await)
            }
            C::Stou { path } => {
                let user = user!(conn, state.login);
                started(running, cmd::transfer::stou(conn, user, &mut state.transfer, path).await)
            }
            C::List { args } => {
                let user = user!(conn, state.login);
                let kind = cmd::list::Kind::List;
                started(running, cmd::list::list(conn, user, &mut state.transfer, &args, kind).await)
            }
            C::Nlst { args } => {
                let user = user!(conn, state.login);
                let kind = cmd::list::Kind::Nlst;
                started(running, cmd::list::list(conn, user, &mut state.transfer, &args, kind).await)
            }
            C::Mlsd { path } => {
                let user = user!(conn, state.login);
                started(running, cmd::mlst::mlsd(conn, user, &mut state.transfer, path.as_deref()).await)
            }
        }
    }
}
