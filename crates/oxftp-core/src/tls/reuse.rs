//! Which data connections may resume which TLS sessions: the rule behind
//! `require_session_reuse`, in three modes ([`SessionReuse`]).
//!
//! Why reuse at all: a passive data port is open to anyone for a moment. The
//! engine already refuses a data connection from any address but the control
//! connection's; TLS session reuse closes the rest of the gap (another user
//! behind the same NAT address): a data connection must resume a TLS session
//! that only the rightful client can hold.
//!
//! How it is enforced: every control connection gets a random 128-bit token,
//! its *issuer* name. Every TLS session the server issues on it (TLS 1.2
//! session IDs and tickets, TLS 1.3 tickets) carries that token inside the
//! server's own protection: tickets are encrypted and authenticated with the
//! server's ticket key ([`BoundTickets`]), session IDs keep it in the
//! server's cache ([`BoundSessions`]). A client can neither read nor forge
//! it. When a data connection presents a session, the server looks at its
//! issuer and decides with [`SessionBinding::may_resume`]; a session it will
//! not resume leads to a full handshake, which the data connection then
//! refuses (522) unless the mode is `Off`.
//!
//! `Account` in particular: a session counts when its issuer is a control
//! connection of this server on which the *same account* logged in *from the
//! same client address*. A pooling client may open a data connection with
//! the session of a control connection that is still logging in (rclone
//! does): such a session resumes, but the data connection is held until that
//! connection has logged in as the same account, and refused if it has not
//! within a few seconds ([`SessionAcceptors::confirm`](super::SessionAcceptors)). A thief must first own such a session, that is, must
//! have logged in as the victim from the victim's address: with the victim's
//! password it has no need to steal a data connection. Anonymous logins are
//! one account shared by strangers, so for them `Account` means `Connection`.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};

/// How a data connection's TLS session must relate to its control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionReuse {
    /// Any TLS handshake is accepted on data connections (they must still
    /// come from the control connection's address). For clients that never
    /// resume, such as Apache Commons Net's `FTPSClient`; best given to one
    /// account or one listener, not to a whole server.
    Off,
    /// A data connection must resume a session issued on its own control
    /// connection (vsftpd's `require_ssl_reuse`). Clients that pool control
    /// connections and share one session cache across them (rclone, Go's
    /// TLS) fail with it.
    Connection,
    /// A data connection must resume a session issued on a control connection
    /// logged in as the same account from the same address (see the module
    /// docs for why that is as safe). Anonymous sessions get `Connection`.
    Account,
}

impl SessionReuse {
    /// The name used in config files: `off`, `connection` or `account`.
    pub fn name(self) -> &'static str {
        match self {
            SessionReuse::Off => "off",
            SessionReuse::Connection => "connection",
            SessionReuse::Account => "account",
        }
    }

    /// The mode a config name stands for.
    pub fn from_name(name: &str) -> Option<SessionReuse> {
        match name {
            "off" => Some(SessionReuse::Off),
            "connection" => Some(SessionReuse::Connection),
            "account" => Some(SessionReuse::Account),
            _ => None,
        }
    }
}

impl fmt::Display for SessionReuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A control connection's name inside the sessions issued on it.
type Token = [u8; 16];

/// Control connections remembered for `Account` reuse. A pooling client may
/// resume a session of a control connection it has already closed, so
/// entries outlive their connections; beyond this many the older half goes.
const MAX_OWNERS: usize = 16_384;

/// Who is logged in on each control connection, by token: what `Account`
/// reuse compares. Shared by every session of one server.
#[derive(Debug, Default)]
pub(crate) struct SessionOwners {
    owners: Mutex<HashMap<Token, Owner>>,
}

#[derive(Debug, Clone)]
struct Owner {
    ip: IpAddr,
    /// The account logged in (never an anonymous one); `None` before login.
    account: Option<String>,
    /// Live and not logged in (after a REIN, or an anonymous login, it is
    /// not waited for).
    logging_in: bool,
    since: Instant,
}

impl SessionOwners {
    fn lock(&self) -> MutexGuard<'_, HashMap<Token, Owner>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.owners.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records who is on the connection named `token` now.
    fn set(&self, token: Token, ip: IpAddr, account: Option<String>, logging_in: bool) {
        let mut owners = self.lock();
        if owners.len() >= MAX_OWNERS && !owners.contains_key(&token) {
            forget_older_half(&mut owners);
        }
        owners.insert(token, Owner { ip, account, logging_in, since: Instant::now() });
    }

    /// Where the connection named `token` stands towards `account` from `ip`.
    fn standing(&self, token: &Token, ip: IpAddr, account: &str) -> Standing {
        match self.lock().get(token) {
            Some(o) if o.ip != ip => Standing::Other,
            Some(o) => match o.account.as_deref() {
                Some(a) if a == account => Standing::Same,
                Some(_) => Standing::Other,
                None if o.logging_in => Standing::NotYet,
                None => Standing::Other,
            },
            None => Standing::Other,
        }
    }

    /// The connection named `token` is gone: if nobody logged in on it, its
    /// sessions never will count.
    fn closed(&self, token: &Token) {
        if let Some(owner) = self.lock().get_mut(token) {
            owner.logging_in = false;
        }
    }
}

/// Where a session's issuer stands towards an account, for `Account` reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Logged in as that account, from the same address.
    Same,
    /// From the same address, live, and not logged in yet.
    NotYet,
    /// Anything else.
    Other,
}

/// Drops the entries older than the median age (at least one).
fn forget_older_half(owners: &mut HashMap<Token, Owner>) {
    let mut ages: Vec<Instant> = owners.values().map(|o| o.since).collect();
    if ages.is_empty() {
        return;
    }
    let middle = ages.len() / 2;
    let (_, median, _) = ages.select_nth_unstable(middle);
    let median = *median;
    owners.retain(|_, o| o.since > median);
}

/// One control connection's side of the rule: its token, its client's
/// address, and the mode and account in force now (set at login).
#[derive(Debug)]
pub(crate) struct SessionBinding {
    /// The issuer a data handshake resumed on the condition that it logs in
    /// as this connection's account (see [`SessionBinding::confirm`]).
    pending: Mutex<Option<Token>>,
    token: Token,
    ip: IpAddr,
    owners: Arc<SessionOwners>,
    /// The listener's (or server's) mode, for when nobody is logged in.
    default_mode: SessionReuse,
    state: Mutex<BindingState>,
}

#[derive(Debug, Clone)]
struct BindingState {
    mode: SessionReuse,
    /// The account logged in (`None` before login and for anonymous).
    account: Option<String>,
}

impl SessionBinding {
    pub(crate) fn new(owners: Arc<SessionOwners>, ip: IpAddr, mode: SessionReuse) -> SessionBinding {
        let mut token = [0u8; 16];
        rand::fill(&mut token);
        let ip = ip.to_canonical();
        owners.set(token, ip, None, true);
        SessionBinding {
            pending: Mutex::new(None),
            token,
            ip,
            owners,
            default_mode: mode,
            state: Mutex::new(BindingState { mode, account: None }),
        }
    }

    fn state(&self) -> MutexGuard<'_, BindingState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The mode data connections are held to now.
    pub(crate) fn mode(&self) -> SessionReuse {
        self.state().mode
    }

    /// A login: `account` (anonymous ones are never shared between
    /// connections) with the mode its account asks for, if any.
    pub(crate) fn log_in(&self, account: &str, anonymous: bool, mode: Option<SessionReuse>) {
        let mode = mode.unwrap_or(self.default_mode);
        let (mode, account) = match (mode, anonymous) {
            (SessionReuse::Account, true) => (SessionReuse::Connection, None),
            (mode, true) => (mode, None),
            (mode, false) => (mode, Some(account.to_string())),
        };
        self.owners.set(self.token, self.ip, account.clone(), false);
        *self.state() = BindingState { mode, account };
    }

    /// REIN: nobody is logged in any more.
    pub(crate) fn log_out(&self) {
        self.owners.set(self.token, self.ip, None, false);
        *self.state() = BindingState { mode: self.default_mode, account: None };
    }

    /// The control connection closed.
    pub(crate) fn closed(&self) {
        self.owners.closed(&self.token);
    }

    /// Whether a data connection of this control connection may resume a
    /// session issued on the control connection named `issuer`. A session of
    /// a connection from the same address that has not logged in yet resumes
    /// on condition (noted in `pending`, settled by [`confirm`](Self::confirm)).
    fn may_resume(&self, issuer: &Token) -> bool {
        let state = self.state().clone();
        match state.mode {
            SessionReuse::Off => true,
            SessionReuse::Connection => *issuer == self.token,
            SessionReuse::Account if *issuer == self.token => true,
            SessionReuse::Account => {
                let Some(account) = state.account.as_deref() else { return false };
                match self.owners.standing(issuer, self.ip, account) {
                    Standing::Same => true,
                    Standing::NotYet => {
                        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(*issuer);
                        true
                    }
                    Standing::Other => false,
                }
            }
        }
    }

    /// Forget a condition from an earlier handshake (call before one starts).
    pub(crate) fn clear_pending(&self) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// After a data handshake: true when it resumed unconditionally, or its
    /// issuer has logged in as this connection's account from this address
    /// within `wait`.
    pub(crate) async fn confirm(&self, wait: std::time::Duration) -> bool {
        let Some(issuer) = self.pending.lock().unwrap_or_else(|p| p.into_inner()).take() else { return true };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let account = self.state().account.clone();
            let standing = match account.as_deref() {
                Some(account) => self.owners.standing(&issuer, self.ip, account),
                None => Standing::Other,
            };
            match standing {
                Standing::Same => return true,
                Standing::Other => return false,
                Standing::NotYet if tokio::time::Instant::now() >= deadline => return false,
                Standing::NotYet => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    }

    /// Whether a session named `issuer` resumes on this connection's
    /// `data` (or control) acceptor. The control connection only ever
    /// resumes its own (after CCC and a new AUTH): its rights come from
    /// the login that follows, not from a session.
    fn accepts(&self, issuer: &Token, data: bool) -> bool {
        if data { self.may_resume(issuer) } else { *issuer == self.token }
    }

    /// `token ++ value`.
    fn stamp(&self, value: &[u8]) -> Vec<u8> {
        let mut stamped = Vec::with_capacity(self.token.len() + value.len());
        stamped.extend_from_slice(&self.token);
        stamped.extend_from_slice(value);
        stamped
    }

    /// The value of a stamped session when its issuer is accepted.
    fn unstamp(&self, stamped: Vec<u8>, data: bool) -> Option<Vec<u8>> {
        let issuer: Token = stamped.get(..16)?.try_into().ok()?;
        self.accepts(&issuer, data).then(|| stamped[16..].to_vec())
    }
}

/// The server's ticket key, with the issuing connection's token sealed into
/// each ticket and checked when a ticket comes back.
#[derive(Debug)]
pub(crate) struct BoundTickets {
    pub(crate) key: Arc<dyn ProducesTickets>,
    pub(crate) binding: Arc<SessionBinding>,
    /// On a data connection's acceptor (else the control connection's).
    pub(crate) data: bool,
}

impl ProducesTickets for BoundTickets {
    fn enabled(&self) -> bool {
        self.key.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.key.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.key.encrypt(&self.binding.stamp(plain))
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.binding.unstamp(self.key.decrypt(cipher)?, self.data)
    }
}

/// The server's session-ID cache, with each session's issuer kept beside it.
///
/// Sessions are never taken out on use: rustls takes a TLS 1.3 session out
/// of the cache as a defence against replay across clients, but 0-RTT is off
/// and every data connection of a control connection may resume the same
/// session, which FTPS clients do.
#[derive(Debug)]
pub(crate) struct BoundSessions {
    pub(crate) cache: Arc<ServerSessionMemoryCache>,
    pub(crate) binding: Arc<SessionBinding>,
    pub(crate) data: bool,
}

impl StoresServerSessions for BoundSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.cache.put(key, self.binding.stamp(&value))
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.binding.unstamp(self.cache.get(key)?, self.data)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_mode_decides_as_documented() {
        let owners = Arc::new(SessionOwners::default());
        let a = SessionBinding::new(owners.clone(), ip("192.0.2.1"), SessionReuse::Account);
        let b = SessionBinding::new(owners.clone(), ip("::ffff:192.0.2.1"), SessionReuse::Account);
        let elsewhere = SessionBinding::new(owners.clone(), ip("192.0.2.2"), SessionReuse::Account);
        a.log_in("alice", false, None);
        elsewhere.log_in("alice", false, None);
        // Before b logs in, nothing but its own sessions resumes.
        assert!(!b.may_resume(&a.token) && b.may_resume(&b.token));
        b.log_in("alice", false, None);
        assert!(b.may_resume(&a.token), "same account, same address");
        assert!(b.pending.lock().unwrap().is_none());
        assert!(!b.may_resume(&elsewhere.token), "same account, another address");
        b.log_out();
        b.log_in("bob", false, None);
        assert!(!b.may_resume(&a.token), "another account");
        b.log_in("alice", false, Some(SessionReuse::Connection));
        assert!(!b.may_resume(&a.token) && b.may_resume(&b.token), "the account asks for connection");
        b.log_in("alice", false, Some(SessionReuse::Off));
        assert!(b.may_resume(&elsewhere.token) && b.mode() == SessionReuse::Off);
        // Anonymous: one account for strangers, so only the connection's own.
        a.log_in("anonymous", true, None);
        b.log_in("anonymous", true, None);
        assert_eq!(b.mode(), SessionReuse::Connection);
        assert!(!b.may_resume(&a.token));
        // The control acceptor resumes only its own sessions.
        assert!(!b.accepts(&a.token, false) && b.accepts(&b.token, false));
    }

    #[tokio::test]
    async fn a_session_of_a_connection_still_logging_in_waits_for_its_login() {
        let owners = Arc::new(SessionOwners::default());
        let data_side = SessionBinding::new(owners.clone(), ip("127.0.0.1"), SessionReuse::Account);
        data_side.log_in("alice", false, None);
        let wait = std::time::Duration::from_millis(300);
        // Its issuer logs in as the same account meanwhile: confirmed.
        let issuer = Arc::new(SessionBinding::new(owners.clone(), ip("127.0.0.1"), SessionReuse::Account));
        assert!(data_side.may_resume(&issuer.token));
        let later = Arc::clone(&issuer);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            later.log_in("alice", false, None);
        });
        assert!(data_side.confirm(wait).await);
        // Another account: refused.
        let other = SessionBinding::new(owners.clone(), ip("127.0.0.1"), SessionReuse::Account);
        assert!(data_side.may_resume(&other.token));
        other.log_in("bob", false, None);
        assert!(!data_side.confirm(wait).await);
        // Nobody ever logs in: refused once the wait is over.
        let idle = SessionBinding::new(owners.clone(), ip("127.0.0.1"), SessionReuse::Account);
        assert!(data_side.may_resume(&idle.token));
        assert!(!data_side.confirm(wait).await);
        // A closed connection is not waited for; another address never resumes.
        let gone = SessionBinding::new(owners.clone(), ip("127.0.0.1"), SessionReuse::Account);
        gone.closed();
        assert!(!data_side.may_resume(&gone.token));
        let far = SessionBinding::new(owners, ip("127.0.0.9"), SessionReuse::Account);
        assert!(!data_side.may_resume(&far.token));
        assert!(data_side.confirm(wait).await, "nothing pending");
    }

    #[test]
    fn stamps_round_trip_and_short_values_are_refused() {
        let owners = Arc::new(SessionOwners::default());
        let a = SessionBinding::new(owners, ip("127.0.0.1"), SessionReuse::Connection);
        assert_eq!(a.unstamp(a.stamp(b"session"), true).as_deref(), Some(&b"session"[..]));
        assert_eq!(a.unstamp(vec![1, 2, 3], true), None);
        let mut foreign = a.stamp(b"x");
        foreign[0] ^= 1;
        assert_eq!(a.unstamp(foreign, true), None);
    }

    #[test]
    fn the_registry_stays_bounded() {
        let owners = SessionOwners::default();
        for i in 0..(MAX_OWNERS + 10) {
            let mut token = [0u8; 16];
            token[..8].copy_from_slice(&(i as u64).to_le_bytes());
            owners.set(token, ip("127.0.0.1"), Some("a".into()), false);
        }
        let len = owners.lock().len();
        assert!(len <= MAX_OWNERS && len > 0, "{len}");
    }
}
