//! A minimal raw FTP control connection for the Rust-side tests that need
//! exact replies and timing (limits, timeouts, shutdown), where driving a
//! full client would hide what the server actually sent.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One reply: its code and its lines (without CRLF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

/// A control connection to 127.0.0.1:port.
pub struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Control {
    /// Connects with a read timeout, so a missing reply fails the test.
    pub fn connect(port: u16, timeout: Duration) -> std::io::Result<Control> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(timeout))?;
        let writer = stream.try_clone()?;
        Ok(Control { reader: BufReader::new(stream), writer })
    }

    /// Changes how long `reply` waits.
    pub fn set_timeout(&self, timeout: Duration) {
        let _ = self.writer.set_read_timeout(Some(timeout));
    }

    /// Reads one (possibly multi-line) reply. `Ok(None)` means the server
    /// closed the connection.
    pub fn reply(&mut self) -> std::io::Result<Option<Reply>> {
        let Some(first) = self.line()? else { return Ok(None) };
        let code: u16 = first.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut lines = vec![first.clone()];
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                let Some(line) = self.line()? else { return Ok(None) };
                let done = line.starts_with(&end);
                lines.push(line);
                if done {
                    break;
                }
            }
        }
        Ok(Some(Reply { code, lines }))
    }

    fn line(&mut self) -> std::io::Result<Option<String>> {
        let mut buf = Vec::new();
        let n = self.reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    /// Sends a command line and reads its reply.
    pub fn cmd(&mut self, line: &str) -> std::io::Result<Option<Reply>> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// Sends a command and panics unless the reply has `code`.
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        match self.cmd(line) {
            Ok(Some(reply)) if reply.code == code => reply,
            other => panic!("{line:?}: expected {code}, got {other:?}"),
        }
    }

    /// Reads the greeting and logs in.
    /// `EPSV` (229), then a connection to the data port it names on 127.0.0.1.
    #[allow(dead_code)] // (not every test binary opens data connections this way)
    pub fn epsv(&mut self) -> TcpStream {
        let reply = self.expect("EPSV", 229);
        let port: u16 = reply.lines[0]
            .split("|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .and_then(|p| p.parse().ok())
            .expect("EPSV port");
        TcpStream::connect(("127.0.0.1", port)).expect("data connection")
    }

    pub fn login(&mut self, user: &str, password: &str) {
        match self.reply() {
            Ok(Some(reply)) if reply.code == 220 => {}
            other => panic!("expected a 220 greeting, got {other:?}"),
        }
        self.expect(&format!("USER {user}"), 331);
        self.expect(&format!("PASS {password}"), 230);
    }
}
