//! Telling systemd how the service is doing (`Type=notify`): `READY=1` once
//! every listener is bound (and privileges are dropped), `RELOADING=1` then
//! `READY=1` around a SIGHUP reload, `STOPPING=1` at shutdown.
//!
//! Without `NOTIFY_SOCKET` in the environment (not started by systemd) every
//! call does nothing. A failed notification is only logged: the server runs
//! the same either way, and systemd reports a missing READY=1 itself.

use slog::{Logger, warn};

use sd_notify::NotifyState;

/// Listeners bound: the service is up. `status` is shown by `systemctl status`.
pub fn ready(logger: &Logger, status: &str) {
    send(logger, &[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A SIGHUP reload begins (systemd wants the monotonic clock with it).
pub fn reloading(logger: &Logger) {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(logger, &[NotifyState::Reloading, now]),
        Err(_) => send(logger, &[NotifyState::Reloading]),
    }
}

/// A reload is over (whatever it kept or replaced).
pub fn reloaded(logger: &Logger) {
    send(logger, &[NotifyState::Ready]);
}

/// Shutting down: no new connections.
pub fn stopping(logger: &Logger) {
    send(logger, &[NotifyState::Stopping]);
}

fn send(logger: &Logger, state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        warn!(logger, "cannot notify the service manager"; "error" => %e);
    }
}
