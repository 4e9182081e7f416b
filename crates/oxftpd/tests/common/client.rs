//! Running external programs (FTP clients, python3) with a hard time limit.
//!
//! A client that hangs — waiting for a reply the server never sends, say —
//! must fail its test with what it printed so far, never stall CI. Each
//! program runs in its own process group so the whole group can be killed.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What a finished (or killed) program did.
#[derive(Debug)]
pub struct Outcome {
    /// A short description of the command line, for failure messages.
    pub command: String,
    /// `None` when the program was killed for running too long.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
}

impl Outcome {
    /// Exit code, if the program exited normally.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// True when it exited with status 0 in time.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    /// Stdout as text (lossy: clients print server replies verbatim).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Stdout and stderr together, for searching client transcripts that
    /// split replies and messages across the two.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout_str(), self.stderr_str())
    }

    /// A full dump for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "command: {}\nstatus: {:?} (timed out: {})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status,
            self.timed_out,
            self.stdout_str(),
            self.stderr_str()
        )
    }

    /// Panics with the transcript unless the program succeeded.
    pub fn assert_success(&self, what: &str) {
        assert!(self.success(), "{what} failed\n{}", self.dump());
    }

    /// Panics unless `needle` appears in stdout or stderr.
    pub fn assert_output_contains(&self, needle: &str) {
        assert!(self.all_output().contains(needle), "expected {needle:?} in the output\n{}", self.dump());
    }
}

/// Runs `cmd` with no stdin, killing it after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Outcome {
    run_inner(cmd, None, timeout)
}

/// Runs `cmd` feeding it `stdin` (then EOF), killing it after `timeout`.
pub fn run_with_stdin(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> Outcome {
    run_inner(cmd, Some(stdin.to_vec()), timeout)
}

fn run_inner(cmd: &mut Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Outcome {
    let command = describe(cmd);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => panic!("cannot start {command}: {e}"),
    };

    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A client that stops reading its script must not block us.
        thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());

    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {command}: {e}"),
        }
    };
    // Helpers the client forked could still hold the pipes open; take what
    // is there after a short grace period rather than waiting forever. (The
    // group is only killed while our child is unreaped, so its id cannot
    // have been reused by an unrelated process.)
    let grace = Duration::from_secs(3);
    Outcome {
        command,
        status,
        stdout: stdout.recv_timeout(grace).unwrap_or_default(),
        stderr: stderr.recv_timeout(grace).unwrap_or_default(),
        timed_out,
    }
}

/// Reads a pipe to its end on a thread; the result arrives on the channel.
fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

/// SIGKILL the process group led by `pid` (our child, spawned with
/// `process_group(0)`), so forked helpers die too. Uses kill(1) to stay free
/// of unsafe code.
fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Panics with a helpful message unless `tool` is on `PATH`. The end-to-end
/// tests never skip silently: `scripts/test` installs every client they use.
pub fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed; run scripts/test, which installs the FTP clients the end-to-end tests drive"
    );
}
