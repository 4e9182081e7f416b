//! Where a session is in the login dance, and what a login brings.

use std::sync::Arc;

use oxftp_proto::path::VPath;
use slog::Logger;

use super::{Conn, Replied};
use crate::admission::AccountPass;
use crate::auth::Identity;
use crate::metrics::UserMetrics;
use crate::storage::Storage;

/// Where a session is in the login dance.
#[derive(Default)]
pub(crate) enum Login {
    /// Nothing yet (or after REIN).
    #[default]
    Fresh,
    /// USER given, waiting for PASS.
    AwaitingPass { user: String },
    /// Logged in.
    LoggedIn(Box<LoggedIn>),
}

impl Login {
    pub(crate) fn is_logged_in(&self) -> bool {
        matches!(self, Login::LoggedIn(_))
    }

    /// The logged-in user, if any.
    pub(crate) fn user(&self) -> Option<&LoggedIn> {
        match self {
            Login::LoggedIn(user) => Some(user),
            _ => None,
        }
    }

    pub(crate) fn user_mut(&mut self) -> Option<&mut LoggedIn> {
        match self {
            Login::LoggedIn(user) => Some(user),
            _ => None,
        }
    }

    /// Who is logged in, if anyone.
    pub(crate) fn identity(&self) -> Option<&Identity> {
        self.user().map(|u| &u.identity)
    }

    /// Forget a pending RNFR (any command but RNTO does).
    pub(crate) fn forget_rename(&mut self) {
        if let Login::LoggedIn(user) = self {
            user.rename_from = None;
        }
    }
}

/// A logged-in session: who, on which storage, where.
pub(crate) struct LoggedIn {
    pub identity: Identity,
    /// The identity's storage with its policy layers.
    pub storage: Arc<dyn Storage>,
    pub cwd: VPath,
    /// RNFR's path, until the RNTO that must follow it.
    pub rename_from: Option<VPath>,
    /// The connection's logger with the user added.
    pub logger: Logger,
    /// This session's place in its account's session count.
    _slot: AccountPass,
    /// The account's own transfer series (per-user metrics on).
    pub metrics: Option<Arc<UserMetrics>>,
}

impl LoggedIn {
    pub(crate) fn new(identity: Identity, storage: Arc<dyn Storage>, logger: Logger, slot: AccountPass) -> Self {
        // A user starts in its home; a guest's home is its root.
        let cwd = identity.start_dir();
        LoggedIn { identity, storage, cwd, rename_from: None, logger, _slot: slot, metrics: None }
    }

    /// Resolve a client path against the current directory; 501 on a bad path.
    pub(crate) async fn resolve(&self, conn: &mut Conn, arg: &[u8]) -> Result<VPath, Replied> {
        match self.cwd.resolve(arg) {
            Ok(path) => Ok(path),
            Err(e) => Err(conn.reply(501, format!("Invalid path: {e}")).await),
        }
    }
}
