//! Byte-exact protocol tests written with Python's ftplib and raw sockets
//! (`tests/py/test_*.py`), each file run against its own daemon.

mod common;

use common::{Daemon, DaemonConfig, run_unittest};

#[test]
fn login_replies() {
    let d = Daemon::start();
    run_unittest(&d, "test_login", &[]);
}

#[test]
fn command_replies() {
    // A configured passive range: the test checks PASV/EPSV stay inside it.
    // The range is derived from the process id so parallel test runs on one
    // machine are unlikely to collide, and wide enough for a few transfers.
    let lo = 40000 + (std::process::id() % 200) as u16 * 40;
    let hi = lo + 39;
    let d = Daemon::start_with(DaemonConfig { passive_range: Some((lo, hi)), ..DaemonConfig::default() });
    run_unittest(&d, "test_replies", &[("OXFTP_PASV_LO", lo.to_string()), ("OXFTP_PASV_HI", hi.to_string())]);
}

#[test]
fn robustness() {
    let d = Daemon::start();
    run_unittest(&d, "test_robustness", &[]);
}

#[test]
fn file_commands() {
    let d = Daemon::start();
    run_unittest(&d, "test_files", &[]);
}

#[test]
fn abort_interrupts_transfers() {
    let d = Daemon::start();
    run_unittest(&d, "test_abort.AbortTest", &[]);
}

#[test]
fn abort_with_urgent_data() {
    let d = Daemon::start();
    run_unittest(&d, "test_abort.UrgentAbortTest", &[]);
}
