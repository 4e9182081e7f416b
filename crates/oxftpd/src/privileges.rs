//! Running as an unprivileged user: started as root, oxftpd binds its
//! listeners (ports below 1024 included) and then becomes `server.run_as`
//! for good, as vsftpd and ProFTPD do.
//!
//! The switch sets the supplementary groups (initgroups: the user's groups
//! from the group database, plus the primary group), then the real, effective
//! and saved group and user ids, and checks that root cannot be regained.
//! glibc applies each of these calls to every thread of the process, so the
//! runtime's threads (already running when the listeners are bound) change
//! with it. Leaving uid 0 clears every capability, so nothing opened later
//! (storage, the users file on SIGHUP, TLS files on reload, the reopened
//! xferlog) is reached with root's rights.
//!
//! Without `run_as`, a start as root is refused unless `server.allow_root`
//! says it is meant; the refusal is one line that says what to do.

use std::ffi::CString;
use std::path::Path;

use anyhow::{Context as _, bail};
use nix::unistd::{Gid, Group, Uid, User};

use crate::config::{Config, StorageConfig};

/// An unprivileged account to run as, resolved when the config is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// `server.run_as`.
    pub user: String,
    /// Its uid.
    pub uid: u32,
    /// The primary group: `server.run_as_group`, or the user's own.
    pub gid: u32,
}

/// Looks up `user` (and `group`, replacing the user's primary group) in the
/// system's databases. The error says what is wrong, for the config key.
pub fn lookup(user: &str, group: Option<&str>) -> Result<RunAs, LookupError> {
    let account = match User::from_name(user) {
        Ok(Some(account)) => account,
        Ok(None) => {
            return Err(LookupError::User(format!(
                "no user {user:?} on this system; create it (useradd --system {user}) or name an existing one"
            )));
        }
        Err(e) => return Err(LookupError::User(format!("cannot look up user {user:?}: {e}"))),
    };
    if account.uid.is_root() {
        return Err(LookupError::User(format!(
            "{user:?} is root (uid 0); expected an unprivileged user such as \"oxftpd\""
        )));
    }
    let gid = match group {
        None => account.gid,
        Some(name) => match Group::from_name(name) {
            Ok(Some(group)) => group.gid,
            Ok(None) => return Err(LookupError::Group(format!("no group {name:?} on this system"))),
            Err(e) => return Err(LookupError::Group(format!("cannot look up group {name:?}: {e}"))),
        },
    };
    if gid.as_raw() == 0 {
        return Err(LookupError::Group(format!(
            "the group of {user:?} would be root's (gid 0); expected an unprivileged group"
        )));
    }
    Ok(RunAs { user: user.to_string(), uid: account.uid.as_raw(), gid: gid.as_raw() })
}

/// Which of the two keys a lookup problem is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// `server.run_as`.
    User(String),
    /// `server.run_as_group`.
    Group(String),
}

/// What to do about privileges, decided before anything is bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Not root: run as we are.
    Stay,
    /// Root with `run_as`: bind, then become this account.
    DropTo(RunAs),
    /// Root with `allow_root = true`: stay root (and say so in the log).
    KeepRoot,
    /// Root without a config: the quick start serves one directory read-only
    /// to anonymous users, so it stays root rather than fail the README's
    /// first command (and says so in the log). A config must choose.
    QuickStartAsRoot,
}

/// Decides whether oxftpd may start as the user it is, and what it becomes.
/// `configured` is false for the no-config quick start. The error is one
/// line meant for stderr as it is.
pub fn plan(config: &Config, configured: bool) -> anyhow::Result<Plan> {
    plan_for(Uid::effective().as_raw(), config, configured)
}

fn plan_for(euid: u32, config: &Config, configured: bool) -> anyhow::Result<Plan> {
    let server = &config.server;
    if euid == 0 {
        return match (&server.run_as, server.allow_root) {
            (Some(run_as), _) => Ok(Plan::DropTo(run_as.clone())),
            (None, true) => Ok(Plan::KeepRoot),
            (None, false) if configured => bail!(
                "refusing to run as root: set server.run_as = \"USER\" (oxftpd binds its ports, then switches to that user), \
                 or server.allow_root = true to keep root on purpose"
            ),
            (None, false) => Ok(Plan::QuickStartAsRoot),
        };
    }
    match &server.run_as {
        Some(run_as) if run_as.uid != euid => bail!(
            "server.run_as = {:?} (uid {}): switching users needs oxftpd to start as root, but it runs as uid {euid}; \
             start it as root, or as that user and without run_as",
            run_as.user,
            run_as.uid
        ),
        _ => Ok(Plan::Stay),
    }
}

/// Becomes `run_as` for good: supplementary groups, then group ids, then
/// user ids; fails unless the switch took and root cannot be regained.
pub fn drop_to(run_as: &RunAs) -> anyhow::Result<()> {
    let name = CString::new(run_as.user.as_str()).context("server.run_as contains a NUL byte")?;
    let (uid, gid) = (Uid::from_raw(run_as.uid), Gid::from_raw(run_as.gid));
    nix::unistd::initgroups(&name, gid)
        .with_context(|| format!("cannot set the supplementary groups of {:?}", run_as.user))?;
    nix::unistd::setresgid(gid, gid, gid).with_context(|| format!("cannot switch to group id {gid}"))?;
    nix::unistd::setresuid(uid, uid, uid).with_context(|| format!("cannot switch to user {:?}", run_as.user))?;
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() || Uid::effective().is_root() || Gid::effective().as_raw() == 0 {
        bail!("switched to {:?} but root could be regained; refusing to go on", run_as.user);
    }
    Ok(())
}

/// After the switch: the storage root must be readable by the new user (or
/// every session would fail); files re-read later (users file, TLS pair) and
/// the xferlog's directory only warn, as they matter at the next SIGHUP.
/// Returns the warnings.
pub fn check_access(config: &Config) -> anyhow::Result<Vec<String>> {
    let who = config.server.run_as.as_ref().map_or_else(String::new, |r| r.user.clone());
    if let StorageConfig::Fs(fs) = &config.storage {
        std::fs::read_dir(&fs.root).with_context(|| {
            format!(
                "server.run_as = {who:?} cannot read storage.root {}; give that user access (e.g. chown -R {who} {})",
                fs.root.display(),
                fs.root.display()
            )
        })?;
    }
    let mut warnings = Vec::new();
    let mut readable = |path: &Path, key: &str| {
        if let Err(e) = std::fs::File::open(path) {
            warnings.push(format!(
                "{key} {}: {e} as {who:?}; SIGHUP cannot re-read it until that user can",
                path.display()
            ));
        }
    };
    if let Some(users) = &config.users {
        readable(&users.file, "users.file");
    }
    if let Some(tls) = &config.tls {
        let tls = tls.tls.config();
        readable(&tls.cert_file, "tls.cert_file");
        readable(&tls.key_file, "tls.key_file");
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn config(server: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        Config::from_toml(&format!("[server]\n{server}\n[storage]\nroot = \".\"\n"), dir.path(), &Overrides::default())
            .unwrap()
    }

    #[test]
    fn root_needs_run_as_or_allow_root() {
        let plain = config("");
        let err = plan_for(0, &plain, true).unwrap_err().to_string();
        assert!(err.contains("server.run_as") && err.contains("server.allow_root"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        assert_eq!(plan_for(0, &plain, false).unwrap(), Plan::QuickStartAsRoot);
        assert_eq!(plan_for(0, &config("allow_root = true"), true).unwrap(), Plan::KeepRoot);
        assert_eq!(plan_for(1000, &plain, true).unwrap(), Plan::Stay);
        assert_eq!(plan_for(1000, &plain, false).unwrap(), Plan::Stay);
    }

    #[test]
    fn run_as_is_resolved_and_used_only_from_root() {
        // "nobody" exists on every Debian system.
        let with = config("run_as = \"nobody\"");
        let run_as = with.server.run_as.clone().expect("resolved");
        assert_eq!(run_as.user, "nobody");
        assert_ne!(run_as.uid, 0);
        assert_eq!(plan_for(0, &with, true).unwrap(), Plan::DropTo(run_as.clone()));
        // Already that user (systemd's User=): nothing to do.
        assert_eq!(plan_for(run_as.uid, &with, true).unwrap(), Plan::Stay);
        // Another unprivileged user cannot switch.
        let err = plan_for(run_as.uid + 1, &with, true).unwrap_err().to_string();
        assert!(err.contains("needs oxftpd to start as root"), "{err}");
    }

    #[test]
    fn lookups_name_what_is_missing() {
        assert!(matches!(lookup("no-such-user-oxftpd", None), Err(LookupError::User(m)) if m.contains("no user")));
        assert!(matches!(lookup("root", None), Err(LookupError::User(m)) if m.contains("uid 0")));
        assert!(
            matches!(lookup("nobody", Some("no-such-group-oxftpd")), Err(LookupError::Group(m)) if m.contains("no group"))
        );
        assert!(matches!(lookup("nobody", Some("root")), Err(LookupError::Group(m)) if m.contains("gid 0")));
        let nogroup = lookup("nobody", Some("nogroup")).unwrap();
        assert_eq!(nogroup.gid, Group::from_name("nogroup").unwrap().unwrap().gid.as_raw());
    }
}
