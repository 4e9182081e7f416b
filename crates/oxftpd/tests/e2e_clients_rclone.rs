//! rclone (Debian's, built on Go's TLS) against oxftpd on its defaults: it
//! pools several control connections and shares one TLS session cache
//! across them, resumes TLS 1.2 sessions only by ticket, sets each upload's
//! time with MFMT and lists with MLSD. Each mode copies a tree up, checks
//! it by content, and syncs it back down; the trees are compared byte for
//! byte on both sides.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, DaemonConfig, PASSWORD, TlsOptions, assert_same_tree, pattern_bytes, require_tool, run, write};

const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Explicit,
    Implicit,
}

/// A tree with enough files that rclone opens several connections at once.
fn local_tree(dir: &Path) {
    for i in 0..12u64 {
        let size = [0, 1, 4096, 100_000, 1 << 20][i as usize % 5] + i as usize;
        write(dir.join(format!("f{i:02}.bin")), pattern_bytes(size, i));
    }
    write(dir.join("sub/deeper/notes.txt"), b"notes\n");
    write(dir.join("sub/big.bin"), pattern_bytes(3 << 20, 99));
}

/// `rclone ARGS` with remote `X:` described in the environment (no config
/// file), failing fast instead of retrying, so a refused transfer fails the test.
fn rclone(d: &Daemon, mode: Mode, home: &Path, args: &[&str]) -> common::Outcome {
    let obscured = run(Command::new("rclone").args(["obscure", PASSWORD]), TIMEOUT);
    obscured.assert_success("rclone obscure");
    let port = if mode == Mode::Implicit { d.implicit_port() } else { d.port() };
    let mut cmd = Command::new("rclone");
    cmd.env("HOME", home)
        .env("RCLONE_CONFIG", home.join("rclone.conf"))
        .env("RCLONE_CONFIG_X_TYPE", "ftp")
        .env("RCLONE_CONFIG_X_HOST", "127.0.0.1")
        .env("RCLONE_CONFIG_X_PORT", port.to_string())
        .env("RCLONE_CONFIG_X_USER", "alice")
        .env("RCLONE_CONFIG_X_PASS", obscured.stdout_str().trim());
    match mode {
        Mode::Plain => {}
        Mode::Explicit => {
            cmd.env("RCLONE_CONFIG_X_EXPLICIT_TLS", "true").env("RCLONE_CONFIG_X_NO_CHECK_CERTIFICATE", "true");
        }
        Mode::Implicit => {
            cmd.env("RCLONE_CONFIG_X_TLS", "true").env("RCLONE_CONFIG_X_NO_CHECK_CERTIFICATE", "true");
        }
    }
    cmd.args(["--retries", "1", "--low-level-retries", "1", "--contimeout", "10s", "--timeout", "30s"]).args(args);
    run(&mut cmd, TIMEOUT)
}

fn round_trip(mode: Mode) {
    require_tool("rclone");
    let tls = (mode != Mode::Plain).then(|| TlsOptions { implicit: mode == Mode::Implicit, ..TlsOptions::default() });
    let d = Daemon::start_with(DaemonConfig { tls, ..DaemonConfig::default() });
    let home = d.scratch("rclone-home");
    let up = d.scratch("up");
    local_tree(&up);
    let remote = format!("X:rc-{mode:?}");
    rclone(&d, mode, &home, &["copy", up.to_str().unwrap(), &remote]).assert_success("rclone copy");
    assert_same_tree(&up, &d.disk(&format!("alice/rc-{mode:?}")));
    rclone(&d, mode, &home, &["check", "--download", up.to_str().unwrap(), &remote]).assert_success("rclone check");
    let down = d.scratch("down");
    rclone(&d, mode, &home, &["sync", &remote, down.to_str().unwrap()]).assert_success("rclone sync");
    assert_same_tree(&up, &down);
    let log = d.log();
    assert!(!log.contains("522 TLS session"), "a data connection was refused:\n{log}");
}

#[test]
fn rclone_plain_ftp_round_trip() {
    round_trip(Mode::Plain);
}

#[test]
fn rclone_explicit_ftps_round_trip_on_the_defaults() {
    round_trip(Mode::Explicit);
}

#[test]
fn rclone_implicit_ftps_round_trip_on_the_defaults() {
    round_trip(Mode::Implicit);
}
