//! A real `redis-server` on a free loopback port, stopped when dropped.
//!
//! Skips (with a message) when `redis-server` is not installed, unless
//! `OXFTP_REQUIRE_REDIS=1`, which makes a missing Redis a failure
//! (`scripts/test` installs it and sets that).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// Start one, or `None` (test skipped) when Redis is not installed.
    pub fn start() -> Option<RedisServer> {
        if Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_err() {
            if std::env::var("OXFTP_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!("OXFTP_REQUIRE_REDIS=1 but redis-server is not installed (apt-get install redis-server)");
            }
            eprintln!("SKIPPED: redis-server is not installed");
            return None;
        }
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let mut server = RedisServer { child: None, port };
            if server.spawn() {
                return Some(server);
            }
        }
        panic!("redis-server did not start on any of 5 ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Start (again) on this server's port; whether it answers PING.
    pub fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let ping = Command::new("redis-cli").args(["-p", &self.port.to_string(), "ping"]).output();
            if ping.is_ok_and(|o| o.stdout.starts_with(b"PONG")) {
                return true;
            }
            if let Some(child) = self.child.as_mut()
                && child.try_wait().ok().flatten().is_some()
            {
                self.child = None;
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        false
    }

    /// Kill it (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
