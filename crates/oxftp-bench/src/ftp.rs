//! A small FTP client over tokio sockets: just enough protocol to drive load
//! (login, passive data connections, RETR, STOR, LIST, NOOP, QUIT).
//!
//! It speaks to the server only through the wire protocol, so it measures any
//! FTP server the same way. Both control and data sockets get TCP_NODELAY, so
//! a client-side Nagle/delayed-ACK stall never shows up as server latency.
//! Every read and connect has a timeout, so a stuck server fails a run
//! instead of hanging the benchmark.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::reply::{ReplyAssembler, epsv_port, pasv_addr};

/// Longest reply line accepted; a server sending more is broken, and this
/// bounds what one connection can make the client buffer.
pub const MAX_LINE: usize = 8192;

/// Capacity of the control connection's read buffer. Replies are short, and
/// the idle workload holds 10,000 of these at once.
const CONTROL_BUFFER: usize = 1024;

/// Which command asks the server for a passive data port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Passive {
    /// RFC 2428 `EPSV`: port only, the address is the control peer's.
    Epsv,
    /// RFC 959 `PASV`: address and port, IPv4 only.
    Pasv,
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Server control address.
    pub addr: SocketAddr,
    /// Login name.
    pub user: String,
    /// Password.
    pub pass: String,
    /// How to open data connections.
    pub passive: Passive,
    /// Limit for each connect and each read from the server.
    pub timeout: Duration,
}

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the control connection in the middle of a reply.
    #[error("server closed the control connection")]
    Closed,
    /// A reply line exceeded [`MAX_LINE`].
    #[error("reply line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// The server answered with a code the step does not accept.
    #[error("{step}: unexpected reply {code} {text}")]
    Unexpected {
        /// The command (or phase) that got the reply.
        step: String,
        /// The reply code.
        code: u16,
        /// The last line of the reply text.
        text: String,
    },
    /// A 227/229 reply whose address could not be read.
    #[error("cannot parse passive reply: {0}")]
    BadPassive(String),
    /// A connect or read took longer than [`Endpoint::timeout`]; says what
    /// was awaited ("greeting", "reply to PASS", "data read", ...), so a
    /// burst's errors show which step of the session the server left hanging.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// A complete reply: its code and its last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The last line, lossily decoded (only used in error messages and for
    /// passive addresses, which are ASCII).
    pub text: String,
}

/// Runs `fut` under `limit`, mapping expiry to [`FtpError::Timeout`].
async fn timed<T>(limit: Duration, what: &str, fut: impl Future<Output = Result<T, FtpError>>) -> Result<T, FtpError> {
    tokio::time::timeout(limit, fut).await.map_err(|_| FtpError::Timeout(what.to_owned()))?
}

/// Opens a TCP connection with TCP_NODELAY set.
async fn dial(addr: SocketAddr, limit: Duration) -> Result<TcpStream, FtpError> {
    let stream = timed(limit, "the TCP connection", async { Ok(TcpStream::connect(addr).await?) }).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// An open control connection.
#[derive(Debug)]
pub struct Control {
    stream: BufReader<TcpStream>,
    peer: IpAddr,
    passive: Passive,
    timeout: Duration,
    line: Vec<u8>,
}

impl Control {
    /// Connects and reads the greeting (expects 220).
    pub async fn connect(ep: &Endpoint) -> Result<Self, FtpError> {
        let stream = dial(ep.addr, ep.timeout).await?;
        let mut control = Control {
            peer: stream.peer_addr()?.ip(),
            stream: BufReader::with_capacity(CONTROL_BUFFER, stream),
            passive: ep.passive,
            timeout: ep.timeout,
            line: Vec::new(),
        };
        let greeting = control.read_reply("greeting").await?;
        check("greeting", &greeting, |c| c == 220)?;
        Ok(control)
    }

    /// Connects, logs in and switches to binary mode: a session ready to transfer.
    pub async fn open(ep: &Endpoint) -> Result<Self, FtpError> {
        let mut control = Self::connect(ep).await?;
        control.login(&ep.user, &ep.pass).await?;
        control.expect("TYPE I", |c| c == 200).await?;
        Ok(control)
    }

    /// `USER` then (unless the server needs no password) `PASS`; expects 230.
    pub async fn login(&mut self, user: &str, pass: &str) -> Result<(), FtpError> {
        let reply = self.command(&format!("USER {user}")).await?;
        match reply.code {
            230 => Ok(()),
            331 => self.expect(&format!("PASS {pass}"), |c| c == 230).await.map(drop),
            _ => Err(unexpected("USER", reply)),
        }
    }

    /// Sends one command line and reads its reply, whatever the code.
    pub async fn command(&mut self, cmd: &str) -> Result<Reply, FtpError> {
        self.send(cmd).await?;
        self.read_reply(&format!("reply to {}", verb(cmd))).await
    }

    /// Sends one command line and fails unless `ok` accepts the reply code.
    pub async fn expect(&mut self, cmd: &str, ok: impl Fn(u16) -> bool) -> Result<Reply, FtpError> {
        let reply = self.command(cmd).await?;
        check(verb(cmd), &reply, ok)?;
        Ok(reply)
    }

    /// Writes `cmd` and CRLF in one write (one segment with NODELAY).
    async fn send(&mut self, cmd: &str) -> Result<(), FtpError> {
        let mut wire = Vec::with_capacity(cmd.len() + 2);
        wire.extend_from_slice(cmd.as_bytes());
        wire.extend_from_slice(b"\r\n");
        self.stream.get_mut().write_all(&wire).await?;
        Ok(())
    }

    /// Reads one complete (possibly multi-line) reply; `awaited` names it
    /// in a timeout error.
    pub async fn read_reply(&mut self, awaited: &str) -> Result<Reply, FtpError> {
        let limit = self.timeout;
        timed(limit, awaited, async {
            let mut assembler = ReplyAssembler::default();
            loop {
                self.read_line().await?;
                if let Some(code) = assembler.push(&self.line) {
                    let text = String::from_utf8_lossy(self.line.get(4..).unwrap_or_default()).into_owned();
                    return Ok(Reply { code, text });
                }
            }
        })
        .await
    }

    /// Reads one line into `self.line` without its CRLF or LF, refusing
    /// lines longer than [`MAX_LINE`].
    async fn read_line(&mut self) -> Result<(), FtpError> {
        self.line.clear();
        loop {
            let available = self.stream.fill_buf().await?;
            if available.is_empty() {
                return Err(FtpError::Closed);
            }
            let (take, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            if self.line.len() + take > MAX_LINE + 2 {
                return Err(FtpError::LineTooLong);
            }
            self.line.extend_from_slice(available.get(..take).unwrap_or_default());
            self.stream.consume(take);
            if done {
                while matches!(self.line.last(), Some(b'\n' | b'\r')) {
                    self.line.pop();
                }
                return Ok(());
            }
        }
    }

    /// Asks for a passive port and connects to it.
    pub async fn data_connection(&mut self) -> Result<TcpStream, FtpError> {
        let addr = match self.passive {
            Passive::Epsv => {
                let reply = self.expect("EPSV", |c| c == 229).await?;
                let port = epsv_port(&reply.text).ok_or(FtpError::BadPassive(reply.text))?;
                SocketAddr::new(self.peer, port)
            }
            Passive::Pasv => {
                let reply = self.expect("PASV", |c| c == 227).await?;
                pasv_addr(&reply.text).ok_or(FtpError::BadPassive(reply.text))?
            }
        };
        dial(addr, self.timeout).await
    }

    /// Starts a transfer command on a fresh data connection: returns the data
    /// socket once the server has answered 125/150.
    async fn start_transfer(&mut self, cmd: &str) -> Result<TcpStream, FtpError> {
        let data = self.data_connection().await?;
        self.expect(cmd, |c| c == 125 || c == 150).await?;
        Ok(data)
    }

    /// Reads the reply that ends a transfer; expects 226 (or 250).
    async fn finish_transfer(&mut self, step: &str) -> Result<(), FtpError> {
        let reply = self.read_reply(&format!("end of {step}")).await?;
        check(step, &reply, |c| c == 226 || c == 250)
    }

    /// Downloads `path`, discarding the bytes; returns how many arrived.
    /// `buf` is the read buffer (its size is the read size).
    pub async fn retr(&mut self, path: &str, buf: &mut [u8]) -> Result<u64, FtpError> {
        let data = self.start_transfer(&format!("RETR {path}")).await?;
        let bytes = self.drain(data, buf).await?;
        self.finish_transfer("RETR").await?;
        Ok(bytes)
    }

    /// Lists `path` (LIST), discarding the listing; returns its size in bytes.
    pub async fn list(&mut self, path: &str, buf: &mut [u8]) -> Result<u64, FtpError> {
        let data = self.start_transfer(&format!("LIST {path}")).await?;
        let bytes = self.drain(data, buf).await?;
        self.finish_transfer("LIST").await?;
        Ok(bytes)
    }

    /// Reads `data` to end of stream.
    async fn drain(&mut self, mut data: TcpStream, buf: &mut [u8]) -> Result<u64, FtpError> {
        let mut total = 0u64;
        loop {
            let n = timed(self.timeout, "data to read", async { Ok(data.read(buf).await?) }).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    }

    /// Uploads `size` bytes to `path`, repeating `chunk` (which must not be empty).
    pub async fn stor(&mut self, path: &str, size: u64, chunk: &[u8]) -> Result<(), FtpError> {
        let mut data = self.start_transfer(&format!("STOR {path}")).await?;
        let mut left = size;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
            let Some(piece) = chunk.get(..n) else { break };
            if piece.is_empty() {
                break;
            }
            timed(self.timeout, "room to write data", async { Ok(data.write_all(piece).await?) }).await?;
            left -= n as u64;
        }
        // End of file is the data connection's FIN.
        data.shutdown().await?;
        drop(data);
        self.finish_transfer("STOR").await
    }

    /// `QUIT`; accepts 221 and also a server that just closes.
    pub async fn quit(mut self) -> Result<(), FtpError> {
        match self.command("QUIT").await {
            Ok(reply) => check("QUIT", &reply, |c| c == 221),
            Err(FtpError::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The command verb of a command line, for error messages (never the
/// password).
fn verb(cmd: &str) -> &str {
    cmd.split(' ').next().unwrap_or(cmd)
}

/// Fails with [`FtpError::Unexpected`] unless `ok` accepts the code.
fn check(step: &str, reply: &Reply, ok: impl Fn(u16) -> bool) -> Result<(), FtpError> {
    if ok(reply.code) { Ok(()) } else { Err(unexpected(step, reply.clone())) }
}

fn unexpected(step: &str, reply: Reply) -> FtpError {
    FtpError::Unexpected { step: step.to_owned(), code: reply.code, text: reply.text }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpListener;

    use super::*;

    /// A listener for a scripted fake server and an endpoint pointing at it,
    /// to exercise the client over a real socket.
    async fn fake() -> (Endpoint, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ep = Endpoint {
            addr: listener.local_addr().unwrap(),
            user: "u".into(),
            pass: "p".into(),
            passive: Passive::Epsv,
            timeout: Duration::from_secs(5),
        };
        (ep, listener)
    }

    #[tokio::test]
    async fn reads_multi_line_greeting_and_logs_in() {
        let (ep, listener) = fake().await;
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"220-Welcome\r\n220-more\r\n220 ready\r\n").await.unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            assert_eq!(line, "USER u\r\n");
            r.get_mut().write_all(b"331 pass\r\n").await.unwrap();
            line.clear();
            r.read_line(&mut line).await.unwrap();
            assert_eq!(line, "PASS p\r\n");
            r.get_mut().write_all(b"230 ok\r\n").await.unwrap();
            line.clear();
            r.read_line(&mut line).await.unwrap();
            assert_eq!(line, "QUIT\r\n");
            r.get_mut().write_all(b"221 bye\r\n").await.unwrap();
        });
        let mut c = Control::connect(&ep).await.unwrap();
        c.login("u", "p").await.unwrap();
        c.quit().await.unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn refused_login_is_an_error_with_the_code() {
        let (ep, listener) = fake().await;
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"220 ready\r\n331 pass\r\n530 no\r\n").await.unwrap();
            let mut sink = [0u8; 64];
            while s.read(&mut sink).await.unwrap_or(0) > 0 {}
        });
        let mut c = Control::connect(&ep).await.unwrap();
        match c.login("u", "p").await {
            Err(FtpError::Unexpected { step, code: 530, .. }) => assert_eq!(step, "PASS"),
            other => panic!("want 530, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn overlong_line_and_close_are_errors() {
        let (ep, listener) = fake().await;
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let long = vec![b'x'; MAX_LINE * 2];
            let _ = s.write_all(&long).await;
        });
        assert!(matches!(Control::connect(&ep).await, Err(FtpError::LineTooLong)));

        let (ep, listener) = fake().await;
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let _ = s.write_all(b"220-half").await;
        });
        assert!(matches!(Control::connect(&ep).await, Err(FtpError::Closed)));
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let (mut ep, listener) = fake().await;
        ep.timeout = Duration::from_millis(100);
        let _keep = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        assert!(matches!(Control::connect(&ep).await, Err(FtpError::Timeout(what)) if what == "greeting"));
    }

    /// A minimal FTP server for one session: EPSV/PASV, RETR (sends
    /// `content`), STOR (counts bytes and replies with the count), LIST, QUIT.
    async fn serve_one(listener: TcpListener, content: Vec<u8>) -> u64 {
        let (s, _) = listener.accept().await.unwrap();
        let mut ctl = BufReader::new(s);
        ctl.get_mut().write_all(b"220 fake\r\n").await.unwrap();
        let mut data_listener: Option<TcpListener> = None;
        let mut stored = 0u64;
        let mut line = String::new();
        loop {
            line.clear();
            if ctl.read_line(&mut line).await.unwrap() == 0 {
                return stored;
            }
            let cmd = line.trim_end().to_owned();
            let verb = cmd.split(' ').next().unwrap_or("");
            let reply: Vec<u8> = match verb {
                "USER" => b"331 pass\r\n".to_vec(),
                "PASS" => b"230 in\r\n".to_vec(),
                "TYPE" => b"200 binary\r\n".to_vec(),
                "EPSV" | "PASV" => {
                    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let port = l.local_addr().unwrap().port();
                    data_listener = Some(l);
                    if verb == "EPSV" {
                        format!("229 Entering Extended Passive Mode (|||{port}|)\r\n").into_bytes()
                    } else {
                        format!("227 Entering Passive Mode (127,0,0,1,{},{})\r\n", port >> 8, port & 0xff).into_bytes()
                    }
                }
                "RETR" | "LIST" | "STOR" => {
                    let (mut data, _) = data_listener.take().unwrap().accept().await.unwrap();
                    ctl.get_mut().write_all(b"150 go\r\n").await.unwrap();
                    if verb == "STOR" {
                        let mut sink = vec![0u8; 65536];
                        loop {
                            let n = data.read(&mut sink).await.unwrap();
                            if n == 0 {
                                break;
                            }
                            stored += n as u64;
                        }
                    } else {
                        data.write_all(&content).await.unwrap();
                    }
                    drop(data);
                    b"226 done\r\n".to_vec()
                }
                "QUIT" => {
                    ctl.get_mut().write_all(b"221 bye\r\n").await.unwrap();
                    return stored;
                }
                _ => b"502 no\r\n".to_vec(),
            };
            ctl.get_mut().write_all(&reply).await.unwrap();
        }
    }

    #[tokio::test]
    async fn transfers_over_epsv_and_pasv() {
        for passive in [Passive::Epsv, Passive::Pasv] {
            let (mut ep, listener) = fake().await;
            ep.passive = passive;
            let content: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
            let server = tokio::spawn(serve_one(listener, content));
            let mut c = Control::open(&ep).await.unwrap();
            let mut buf = vec![0u8; 4096];
            assert_eq!(c.retr("/f", &mut buf).await.unwrap(), 300_000);
            assert_eq!(c.list("/", &mut buf).await.unwrap(), 300_000);
            // Size not a multiple of the chunk: the last write is partial.
            c.stor("/g", 10_001, &[7u8; 4096]).await.unwrap();
            c.stor("/h", 0, &[7u8; 4096]).await.unwrap();
            c.quit().await.unwrap();
            assert_eq!(server.await.unwrap(), 10_001, "{passive:?}");
        }
    }

    #[tokio::test]
    async fn refused_command_names_the_step() {
        let (ep, listener) = fake().await;
        tokio::spawn(serve_one(listener, Vec::new()));
        let mut c = Control::open(&ep).await.unwrap();
        match c.expect("MDTM /x", |code| code == 213).await {
            Err(FtpError::Unexpected { step, code: 502, .. }) => assert_eq!(step, "MDTM"),
            other => panic!("want 502, got {other:?}"),
        }
    }

    #[test]
    fn verb_hides_arguments() {
        assert_eq!(verb("PASS secret"), "PASS");
        assert_eq!(verb("NOOP"), "NOOP");
    }
}
