//! Command handlers, one file per command or small family (like mini-redis's
//! `cmd/`). Each handler is a function that takes only the state it needs:
//! the connection ([`Conn`](crate::conn::Conn)), the logged-in user
//! ([`LoggedIn`](crate::conn::LoggedIn): identity, storage, directory) when
//! the command works on files, transfer parameters when it uses them. Each
//! says in its doc comment which RFC defines the command and what goes over
//! the wire, and returns [`Answered`](crate::conn::Answered), the proof that
//! it replied. `crate::session` parses and dispatches to them.

pub(crate) mod abor;
pub(crate) mod client;
pub(crate) mod dirs;
pub(crate) mod files;
pub(crate) mod hash;
pub(crate) mod help;
pub(crate) mod info;
pub(crate) mod list;
pub(crate) mod login;
pub(crate) mod mlst;
pub(crate) mod params;
pub(crate) mod ports;
pub(crate) mod rename;
pub(crate) mod site;
pub(crate) mod stat;
pub(crate) mod tls;
pub(crate) mod transfer;
