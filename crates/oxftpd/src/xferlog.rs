//! The transfer log (`log.xferlog`): one line per finished download or
//! upload in the wu-ftpd/ProFTPD xferlog(5) format, for the analyzers that
//! read it (awstats `LogType=F`, webalizer, xferstats):
//!
//! ```text
//! Mon Jan  6 09:14:02 2025 1 192.0.2.7 1048576 /pub/file.iso b _ o a anonymous ftp 0 * c
//! ```
//!
//! current-time (local, `DDD MMM dd hh:mm:ss YYYY` with the day padded by a
//! space, as ctime(3) writes it), transfer-time (whole seconds, rounded),
//! remote-host (the client's IP: no reverse DNS), file-size (bytes on the
//! data connection), filename (the path as the session sees it), transfer
//! type (`a` ASCII, `b` binary), special-action (`_`: none), direction (`o`
//! download, `i` upload), access mode (`a` anonymous, `g` guest, `r` user),
//! username, service (`ftp`), authentication method (`0`: none) and user id
//! (`*`: none), completion (`c` complete, `i` incomplete). As ProFTPD does,
//! every space or control character in a file or user name is written as `_`,
//! so each line splits on single spaces into exactly 18 fields (the date
//! takes five; a day below 10 adds one empty field between month and day,
//! as in every ctime-style xferlog). Listings are not logged (ProFTPD does
//! not log them either); neither are deletes (ProFTPD's direction `d`: the
//! engine has no delete event yet).
//!
//! Writing never blocks a session: lines go through a bounded queue to a
//! thread of their own that writes them through a buffer and flushes whenever
//! the queue runs empty. When the disk cannot keep up and the queue is full,
//! new lines are dropped and counted, a warning goes to the daemon log at the
//! first drop, and a second one with the count once the writer catches up:
//! sessions never wait for the disk. SIGHUP reopens the file by name, so
//! `logrotate` can rename it away and the next lines start a new file
//! (lines queued before the reopen go to the old one, none are lost).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use oxftp_core::auth::AccessClass;
use oxftp_core::events::{TransferEvent, TransferKind, TransferListener};
use slog::{Logger, info, warn};
use tokio::sync::{mpsc, oneshot};

/// Lines queued for the writer before new ones are dropped (a few MiB at
/// most; tens of seconds of a very busy server).
const QUEUE_LEN: usize = 16 * 1024;

/// The writer's buffer: lines reach the disk in blocks this large, or
/// whenever the queue is empty.
const BUFFER: usize = 64 * 1024;

/// How long shutdown waits for queued lines to be written.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the writer thread is asked to do.
enum Msg {
    /// Append one line (ending in `\n`).
    Line(Vec<u8>),
    /// Flush, then open the file again by name (after logrotate).
    Reopen(oneshot::Sender<Result<(), String>>),
    /// Flush and stop.
    Close,
}

/// Counters shared by the listener and the writer.
#[derive(Debug, Default)]
struct Drops {
    /// Lines dropped since the writer last reported.
    count: AtomicU64,
    /// Set at the first drop of a burst (one warning per burst).
    dropping: AtomicBool,
}

/// The [`TransferListener`] the engine calls: formats the line and queues
/// it, never waiting.
#[derive(Debug)]
pub struct XferLog {
    tx: mpsc::Sender<Msg>,
    drops: Arc<Drops>,
    logger: Logger,
}

/// The writer side, before the file is opened: [`Pending::start`] opens it
/// (after privileges are dropped, so the file belongs to `server.run_as`).
pub struct Pending {
    rx: mpsc::Receiver<Msg>,
    tx: mpsc::Sender<Msg>,
    path: PathBuf,
    drops: Arc<Drops>,
    logger: Logger,
}

/// The running writer: reopen on SIGHUP, close at shutdown.
#[derive(Debug)]
pub struct Handle {
    tx: mpsc::Sender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A transfer log writing to `path`; nothing is opened until [`Pending::start`].
pub fn new(path: &Path, logger: Logger) -> (Arc<XferLog>, Pending) {
    let (tx, rx) = mpsc::channel(QUEUE_LEN);
    let drops = Arc::new(Drops::default());
    let listener = Arc::new(XferLog { tx: tx.clone(), drops: drops.clone(), logger: logger.clone() });
    (listener, Pending { rx, tx, path: path.to_path_buf(), drops, logger })
}

impl TransferListener for XferLog {
    fn transfer_finished(&self, event: &TransferEvent) {
        let Some(line) = line(event, chrono::Local::now()) else { return };
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.drops.count.fetch_add(1, Ordering::Relaxed);
                if !self.drops.dropping.swap(true, Ordering::Relaxed) {
                    warn!(self.logger, "xferlog: the disk is not keeping up; dropping transfer log lines until it does";
                        "queued" => QUEUE_LEN);
                }
            }
            // The writer has stopped (shutdown): nothing left to log to.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl Pending {
    /// Opens (creating, mode 0640) the file for appending and starts the
    /// writer thread.
    pub fn start(self) -> anyhow::Result<Handle> {
        let file = open(&self.path).with_context(|| format!("log.xferlog: cannot open {}", self.path.display()))?;
        let Pending { rx, tx, path, drops, logger } = self;
        let thread = std::thread::Builder::new()
            .name("oxftpd-xferlog".into())
            .spawn(move || write_lines(rx, file, &path, &drops, &logger))
            .context("cannot start the xferlog writer thread")?;
        Ok(Handle { tx, thread: Some(thread) })
    }
}

/// Asks the writer to reopen the file (SIGHUP).
#[derive(Debug, Clone)]
pub struct Reopener {
    tx: mpsc::Sender<Msg>,
}

impl Reopener {
    /// Reopens the file by name once every line queued before this call is
    /// written (after logrotate renamed it). On error the old file stays
    /// open and keeps receiving lines.
    pub async fn reopen(&self) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Msg::Reopen(ack)).await.map_err(|_| "the xferlog writer has stopped".to_string())?;
        done.await.map_err(|_| "the xferlog writer has stopped".to_string())?
    }
}

impl Handle {
    /// What SIGHUP uses to reopen the file.
    pub fn reopener(&self) -> Reopener {
        Reopener { tx: self.tx.clone() }
    }

    /// Writes what is queued and stops the writer (bounded wait).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.tx.send(Msg::Close)).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, tokio::task::spawn_blocking(move || thread.join())).await;
        }
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().append(true).create(true).mode(0o640).open(path)
}

/// The writer thread: lines in order, a flush whenever the queue is empty.
fn write_lines(mut rx: mpsc::Receiver<Msg>, file: File, path: &Path, drops: &Drops, logger: &Logger) {
    let mut out = BufWriter::with_capacity(BUFFER, file);
    // One warning per run of failed writes (a full disk would repeat it for every line).
    let mut failing = false;
    let report = |result: std::io::Result<()>, failing: &mut bool| match result {
        Ok(()) if *failing => {
            *failing = false;
            info!(logger, "xferlog: writing again"; "file" => %path.display());
        }
        Ok(()) => {}
        Err(e) if !*failing => {
            *failing = true;
            warn!(logger, "xferlog: cannot write; transfer log lines are lost until this clears"; "file" => %path.display(), "error" => %e);
        }
        Err(_) => {}
    };
    // After each batch: flush, and say how many lines were dropped meanwhile.
    let finish = |out: &mut BufWriter<File>, failing: &mut bool| {
        report(out.flush(), failing);
        let dropped = drops.count.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            drops.dropping.store(false, Ordering::Relaxed);
            warn!(logger, "xferlog: lines were dropped while the disk was slow"; "dropped" => dropped);
        }
    };
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Line(line) => {
                    let result = out.write_all(&line);
                    report(result, &mut failing);
                }
                Msg::Reopen(ack) => {
                    let flushed = out.flush();
                    report(flushed, &mut failing);
                    let result = match open(path) {
                        Ok(file) => {
                            // The old file's buffer is already flushed.
                            out = BufWriter::with_capacity(BUFFER, file);
                            Ok(())
                        }
                        Err(e) => Err(format!("cannot reopen {}: {e}; still writing to the old file", path.display())),
                    };
                    let _ = ack.send(result);
                }
                Msg::Close => {
                    finish(&mut out, &mut failing);
                    return;
                }
            }
            next = rx.try_recv().ok();
        }
        finish(&mut out, &mut failing);
    }
    finish(&mut out, &mut failing);
}

/// The xferlog line for `event` finished at `now`; `None` for listings.
fn line<Tz: chrono::TimeZone>(event: &TransferEvent, now: chrono::DateTime<Tz>) -> Option<Vec<u8>>
where
    Tz::Offset: std::fmt::Display,
{
    let direction = match event.kind {
        TransferKind::Download => 'o',
        TransferKind::Upload => 'i',
        TransferKind::Listing => return None,
    };
    let access = match event.class {
        AccessClass::Anonymous => 'a',
        AccessClass::Guest => 'g',
        AccessClass::User => 'r',
    };
    let seconds = (event.elapsed.as_millis() + 500) / 1000;
    let mut out =
        format!("{} {seconds} {} {} ", now.format("%a %b %e %H:%M:%S %Y"), event.peer.ip().to_canonical(), event.bytes)
            .into_bytes();
    push_field(&mut out, event.path.as_bytes());
    let kind = if event.ascii { 'a' } else { 'b' };
    out.extend_from_slice(format!(" {kind} _ {direction} {access} ").as_bytes());
    push_field(&mut out, event.user.as_bytes());
    let status = if event.completed { 'c' } else { 'i' };
    out.extend_from_slice(format!(" ftp 0 * {status}\n").as_bytes());
    Some(out)
}

/// Appends a name as one field: spaces and control characters become `_`
/// (what ProFTPD writes), other bytes go as they are (paths are bytes).
fn push_field(out: &mut Vec<u8>, name: &[u8]) {
    if name.is_empty() {
        out.push(b'_');
        return;
    }
    out.extend(name.iter().map(|&b| if b == b' ' || b.is_ascii_control() { b'_' } else { b }));
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use oxftp_proto::path::VPath;

    use super::*;

    fn event(kind: TransferKind, path: &[u8]) -> TransferEvent {
        let peer = "[::ffff:192.0.2.7]:40000".parse().unwrap();
        let mut event = TransferEvent::new("alice", peer, kind, "RETR", VPath::parse(path).unwrap());
        event.bytes = 1234;
        event.elapsed = Duration::from_millis(2600);
        event.completed = true;
        event.class = AccessClass::User;
        event.ascii = false;
        event
    }

    fn at(day: u32) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(2025, 1, day, 9, 4, 2).unwrap()
    }

    #[test]
    fn a_download_has_every_field() {
        let line = line(&event(TransferKind::Download, b"/pub/a.iso"), at(16)).unwrap();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "Thu Jan 16 09:04:02 2025 3 192.0.2.7 1234 /pub/a.iso b _ o r alice ftp 0 * c\n"
        );
    }

    #[test]
    fn uploads_ascii_guests_anonymous_and_incomplete() {
        let mut e = event(TransferKind::Upload, b"/in/notes.txt");
        e.ascii = true;
        e.class = AccessClass::Guest;
        e.completed = false;
        e.elapsed = Duration::from_millis(10);
        let text = String::from_utf8(line(&e, at(6)).unwrap()).unwrap();
        // A day below 10 is space-padded, as ctime(3) writes it.
        assert_eq!(text, "Mon Jan  6 09:04:02 2025 0 192.0.2.7 1234 /in/notes.txt a _ i g alice ftp 0 * i\n");
        e.class = AccessClass::Anonymous;
        e.user = "anonymous".into();
        let text = String::from_utf8(line(&e, at(6)).unwrap()).unwrap();
        assert!(text.ends_with(" a _ i a anonymous ftp 0 * i\n"), "{text}");
        assert!(line(&event(TransferKind::Listing, b"/"), at(6)).is_none());
    }

    #[test]
    fn spaces_and_control_characters_become_underscores() {
        let mut e = event(TransferKind::Download, b"/my file\tv2.txt");
        e.user = "bob smith".into();
        let text = String::from_utf8(line(&e, at(16)).unwrap()).unwrap();
        assert!(text.contains(" /my_file_v2.txt b _ o r bob_smith ftp "), "{text}");
        assert_eq!(text.trim_end().split(' ').count(), 18);
        // Non-UTF-8 bytes are kept as they are.
        let raw = line(&event(TransferKind::Download, b"/caf\xe9"), at(16)).unwrap();
        assert!(raw.windows(5).any(|w| w == b"/caf\xe9"));
    }

    #[test]
    fn lines_are_written_in_order_and_reopen_starts_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xferlog");
        let logger = Logger::root(slog::Discard, slog::o!());
        let (listener, pending) = new(&path, logger);
        let handle = pending.start().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for i in 0..3 {
            listener.transfer_finished(&event(TransferKind::Download, format!("/f{i}").as_bytes()));
        }
        std::fs::rename(&path, dir.path().join("xferlog.1")).unwrap();
        runtime.block_on(handle.reopener().reopen()).unwrap();
        listener.transfer_finished(&event(TransferKind::Upload, b"/after"));
        runtime.block_on(handle.close());
        let old = std::fs::read_to_string(dir.path().join("xferlog.1")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        let names =
            |text: &str| text.lines().map(|l| l.split_whitespace().nth(8).unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(names(&old), ["/f0", "/f1", "/f2"]);
        assert_eq!(names(&new), ["/after"]);
    }

    #[test]
    fn a_full_queue_drops_lines_instead_of_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let (listener, pending) = new(&dir.path().join("xferlog"), Logger::root(slog::Discard, slog::o!()));
        // The writer is not started: nothing drains the queue.
        for _ in 0..QUEUE_LEN + 10 {
            listener.transfer_finished(&event(TransferKind::Download, b"/x"));
        }
        assert_eq!(listener.drops.count.load(Ordering::Relaxed), 10);
        assert!(listener.drops.dropping.load(Ordering::Relaxed));
        // Once it runs it writes what was queued and resets the count.
        let path = pending.path.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(pending.start().unwrap().close());
        assert_eq!(std::fs::read_to_string(path).unwrap().lines().count(), QUEUE_LEN);
        assert_eq!(listener.drops.count.load(Ordering::Relaxed), 0);
    }
}
