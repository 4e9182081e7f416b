//! Running the Python `unittest` files in `tests/py/` against a daemon.
//!
//! Python's ftplib and raw sockets make byte-exact protocol checks short to
//! write; this runner gives them a live server and turns their verdict into
//! a Rust test result.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::client::{require_tool, run};
use super::daemon::{Daemon, PASSWORD};

/// Upper bound for one Python test file.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The directory holding the Python test files.
pub fn py_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("py")
}

/// Runs `python3 -m unittest -v NAME` against `daemon`, with `extra_env`
/// added, and fails the Rust test with the whole transcript unless every
/// Python test passed. `NAME` is a file in `tests/py/` without `.py`,
/// optionally followed by `.Class` to run one test class.
pub fn run_unittest(daemon: &Daemon, module: &str, extra_env: &[(&str, String)]) {
    require_tool("python3");
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "unittest", "-v", module])
        .current_dir(py_dir())
        .env("OXFTP_PORT", daemon.port().to_string())
        .env("OXFTP_ROOT", daemon.root())
        .env("OXFTP_PASSWORD", PASSWORD)
        // Keep the source tree clean of __pycache__.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    for (key, value) in extra_env {
        cmd.env(key, value);
    }
    let out = run(&mut cmd, TIMEOUT);
    assert!(out.success(), "python tests {module} failed\n{}", out.dump());
    // unittest prints "OK" (possibly with skips) as its verdict on stderr.
    let verdict = out.stderr_str();
    assert!(verdict.lines().any(|l| l.starts_with("OK")), "no OK verdict from unittest\n{}", out.dump());
    assert!(!verdict.contains("Ran 0 tests"), "{module} ran no tests\n{}", out.dump());
}
