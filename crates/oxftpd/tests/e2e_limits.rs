//! End-to-end tests of the daemon's limits and lifecycle settings: idle and
//! login timeouts, the session limit, the failed-login delay, the greeting,
//! and graceful shutdown on SIGTERM with a transfer in flight.

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Control, Daemon, DaemonConfig, PASSWORD, pattern_bytes, read, require_tool, run, write};

fn daemon_with(server: &[&str]) -> Daemon {
    Daemon::start_with(DaemonConfig {
        server_extra: server.iter().map(|s| s.to_string()).collect(),
        ..DaemonConfig::default()
    })
}

fn connect(d: &Daemon) -> Control {
    Control::connect(d.port(), Duration::from_secs(15)).expect("connect to oxftpd")
}

#[test]
fn greeting_comes_from_the_config() {
    let d = daemon_with(&["greeting = \"welcome to the e2e tests\""]);
    let mut c = connect(&d);
    let greeting = c.reply().unwrap().expect("a greeting");
    assert_eq!(greeting.code, 220);
    assert!(greeting.lines.join("\n").contains("welcome to the e2e tests"), "{greeting:?}");
}

#[test]
fn idle_session_gets_421_and_is_closed() {
    let d = daemon_with(&["idle_timeout = 2"]);
    let mut c = connect(&d);
    c.login("alice", PASSWORD);
    let started = Instant::now();
    let reply = c.reply().unwrap().expect("a 421 before the connection closes");
    assert_eq!(reply.code, 421, "{reply:?}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500), "closed after {waited:?}, before the idle timeout");
    assert!(waited < Duration::from_secs(10), "idle timeout took {waited:?}");
    assert_eq!(c.reply().unwrap(), None, "the connection stays open after 421");
}

#[test]
fn activity_keeps_a_session_alive() {
    let d = daemon_with(&["idle_timeout = 2"]);
    let mut c = connect(&d);
    c.login("alice", PASSWORD);
    for _ in 0..4 {
        thread::sleep(Duration::from_millis(800));
        c.expect("NOOP", 200);
    }
}

#[test]
fn login_timeout_closes_sessions_that_never_log_in() {
    let d = daemon_with(&["login_timeout = 2"]);
    let mut c = connect(&d);
    assert_eq!(c.reply().unwrap().map(|r| r.code), Some(220));
    c.expect("USER alice", 331);
    let reply = c.reply().unwrap().expect("a 421 before the connection closes");
    assert_eq!(reply.code, 421, "{reply:?}");
    assert_eq!(c.reply().unwrap(), None);
}

#[test]
fn session_limit_refuses_extra_connections_with_421() {
    let d = daemon_with(&["max_sessions = 2"]);
    let mut first = connect(&d);
    first.login("alice", PASSWORD);
    let mut second = connect(&d);
    assert_eq!(second.reply().unwrap().map(|r| r.code), Some(220));
    let mut third = connect(&d);
    let reply = third.reply().unwrap().expect("a 421 greeting");
    assert_eq!(reply.code, 421, "{reply:?}");
    assert_eq!(third.reply().unwrap(), None, "the refused connection stays open");
    // Existing sessions are unaffected.
    first.expect("NOOP", 200);
    // Once a session ends its slot is free again (allow the server a moment
    // to notice the close).
    first.expect("QUIT", 221);
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = connect(&d);
        match next.reply().unwrap() {
            Some(r) if r.code == 220 => break,
            other if Instant::now() >= deadline => panic!("slot never freed: {other:?}"),
            _ => thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn failed_login_is_delayed() {
    let d = daemon_with(&["failed_login_delay_ms = 1500"]);
    let mut c = connect(&d);
    assert_eq!(c.reply().unwrap().map(|r| r.code), Some(220));
    c.expect("USER alice", 331);
    let started = Instant::now();
    c.expect("PASS wrong", 530);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1400), "530 came after {waited:?}, expected a 1.5 s delay");
    // A correct password is not delayed by the setting.
    c.expect("USER alice", 331);
    let started = Instant::now();
    c.expect(&format!("PASS {PASSWORD}"), 230);
    assert!(started.elapsed() < Duration::from_millis(1400), "a good login was delayed");
}

#[test]
fn sigterm_lets_a_running_transfer_finish_then_exits_zero() {
    require_tool("curl");
    let mut d = daemon_with(&["shutdown_timeout = 20"]);
    let data = pattern_bytes(6 * 1024 * 1024, 31);
    write(d.disk("alice/slow.bin"), &data);
    let local = d.scratch("shutdown").join("slow.bin");
    let url = d.url("/slow.bin");
    let user = format!("alice:{PASSWORD}");
    let local_arg = local.to_str().unwrap().to_string();
    let home = d.dir().to_path_buf();
    // ~3 s of transfer at 2 MB/s.
    let download = thread::spawn(move || {
        let mut cmd = Command::new("curl");
        cmd.args(["-q", "-sS", "--max-time", "60", "--limit-rate", "2M", "-u", &user, "-o", &local_arg, &url])
            .env("HOME", home);
        run(&mut cmd, Duration::from_secs(90))
    });
    // Wait until the transfer is under way, then ask the daemon to stop.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&local).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the download never started");
        thread::sleep(Duration::from_millis(20));
    }
    d.send_sigterm();
    // New connections are no longer served (refused, or closed without a 220).
    thread::sleep(Duration::from_millis(300));
    if let Ok(mut late) = Control::connect(d.port(), Duration::from_secs(5)) {
        let reply = late.reply();
        assert!(
            !matches!(reply, Ok(Some(ref r)) if r.code == 220),
            "a new session was accepted after SIGTERM: {reply:?}"
        );
    }
    let out = download.join().expect("download thread");
    out.assert_success("download across SIGTERM");
    assert!(read(&local) == data, "the transfer in flight did not complete intact");
    let status = d.wait_exit(Duration::from_secs(25)).expect("oxftpd did not exit after SIGTERM");
    assert!(status.success(), "oxftpd exited with {status:?} after SIGTERM\n{}", d.log());
}
