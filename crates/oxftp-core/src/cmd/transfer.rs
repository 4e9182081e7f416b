//! File transfers: RETR, STOR, APPE, STOU, REST, ALLO (RFC 959 4.1.3; RFC
//! 3659 §5 for REST STREAM; RFC 1123 4.1.2.9 for STOU's reply).
//!
//! The 150 goes out before the data connection is made, and the transfer (with
//! its connect) runs in its own task, so the control connection stays
//! responsive; a failed connect ends with 425, as RFC 959 allows after 1yz.
//!
//! REST in TYPE A: the client's offset counts network bytes (CRLF) while the
//! stored file has LF, so no offset is meaningful; like ProFTPD we refuse a
//! restart in ASCII mode (550) rather than corrupt a file.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use oxftp_proto::command::TransferType;
use oxftp_proto::path::VPath;
use rand::Rng;

use crate::conn::{Answered, Conn, LoggedIn, Replied, Running, Transfer, TransferCommand};
use crate::data::ActiveConnect;
use crate::events::EventKind;
use crate::hashing::{Digest, Hashing};
use crate::storage::{ErrorKind, WriteHandle, WriteMode};
use crate::transfer::{Connect, Job, commit_gate, run};

/// STOR replaces, APPE appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upload {
    Store,
    Append,
}

/// `REST <offset>` (RFC 959 4.1.3, RFC 3659 §5 STREAM mode) → `350`; the
/// next RETR or STOR starts there · `502` when the storage cannot read from
/// an offset.
pub(crate) async fn rest(conn: &mut Conn, transfer: &mut Transfer, offset: u64) -> Answered {
    if offset > 0 && !conn.ctx.stack.capabilities().read_at_offset {
        return Err(conn.reply(502, "REST is not supported by this storage.").await);
    }
    transfer.rest = offset;
    Ok(conn.reply(350, format!("Restarting at {offset}. Send STOR or RETR to start the transfer.")).await)
}

/// `ALLO <bytes>` (RFC 959 4.1.3) → `202`: storage grows on demand.
pub(crate) async fn allo(conn: &mut Conn) -> Answered {
    Ok(conn.reply(202, "ALLO not needed: storage grows on demand.").await)
}

/// Take the REST offset for a transfer, refusing it in ASCII mode (`550`).
async fn take_rest(conn: &mut Conn, transfer: &mut Transfer) -> Result<u64, Replied> {
    let rest = std::mem::take(&mut transfer.rest);
    if rest > 0 && transfer.ty == TransferType::Ascii {
        return Err(conn.reply(550, "REST is not allowed in ASCII mode; use TYPE I.").await);
    }
    Ok(rest)
}

/// `425` when no PASV/EPSV/PORT/EPRT came first.
async fn require_data_setup(conn: &mut Conn, transfer: &Transfer) -> Result<(), Replied> {
    if transfer.data.is_none() {
        return Err(conn.reply(425, "Use PORT, EPRT, PASV or EPSV first.").await);
    }
    Ok(())
}

/// What RETR, STOR and APPE check first, in RFC order: the path (`501`), a
/// data channel (`425`), the REST offset (`550` in ASCII mode).
async fn prelude(
    conn: &mut Conn,
    user: &LoggedIn,
    transfer: &mut Transfer,
    arg: &[u8],
) -> Result<(VPath, u64), Replied> {
    let path = user.resolve(conn, arg).await?;
    require_data_setup(conn, transfer).await?;
    let offset = take_rest(conn, transfer).await?;
    Ok((path, offset))
}

/// `RETR <path>` (RFC 959 4.1.3) → `150`, then `226` · `425` no data
/// connection · `426` aborted · `451`/`550` storage · `450` when an event
/// sink is full and refuses.
pub(crate) async fn retr(
    conn: &mut Conn,
    user: &LoggedIn,
    transfer: &mut Transfer,
    arg: &[u8],
) -> Result<Running, Replied> {
    let (path, offset) = prelude(conn, user, transfer, arg).await?;
    conn.admit(EventKind::Download, 450).await?;
    let source = match user.storage.open_read(&path, offset).await {
        Ok(source) => source,
        Err(e) => return Err(conn.storage_failed(&e).await),
    };
    let ascii = transfer.ty == TransferType::Ascii;
    let mode = if ascii { "ASCII" } else { "BINARY" };
    let preliminary = format!("Opening {mode} mode data connection.");
    let announce = Announce::new(TransferCommand::Retr, path, preliminary);
    start(conn, user, transfer, Job::Send { source, ascii }, announce).await
}

/// `STOR <path>` / `APPE <path>` (RFC 959 4.1.3) → `150`, then `226` · `502`
/// when the storage cannot append or resume · `552` over quota · `425`,
/// `426`, `451`, `550` as for RETR; `451` too when an event sink is full and
/// refuses (nothing is written).
pub(crate) async fn stor(
    conn: &mut Conn,
    user: &LoggedIn,
    transfer: &mut Transfer,
    arg: &[u8],
    kind: Upload,
) -> Result<Running, Replied> {
    let (path, offset) = prelude(conn, user, transfer, arg).await?;
    let caps = conn.ctx.stack.capabilities();
    let mode = match kind {
        Upload::Append if !caps.append => {
            return Err(conn.reply(502, "APPE is not supported by this storage.").await);
        }
        Upload::Append => WriteMode::Append,
        Upload::Store if offset > 0 && !caps.write_at_offset => {
            return Err(conn.reply(502, "Resuming an upload is not supported by this storage.").await);
        }
        Upload::Store if offset > 0 => WriteMode::At(offset),
        Upload::Store => WriteMode::Create { exclusive: false },
    };
    conn.admit(EventKind::Upload, 451).await?;
    let sink = match user.storage.open_write(&path, mode).await {
        Ok(sink) => sink,
        Err(e) => return Err(conn.storage_failed(&e).await),
    };
    let (sink, sha256) = hashed(conn, sink, mode);
    let ascii = transfer.ty == TransferType::Ascii;
    let command = if kind == Upload::Append { TransferCommand::Appe } else { TransferCommand::Stor };
    let announce = Announce { sha256, ..Announce::new(command, path, "Ok to send data.") };
    start(conn, user, transfer, Job::Receive { sink, ascii }, announce).await
}

/// The upload hashed as it streams when an event sink wants the SHA-256
/// of uploads, and the cell its digest appears in. Only for uploads that
/// write a whole file: the digest of an appended or resumed part would be
/// taken for the file's.
fn hashed(conn: &Conn, sink: Box<dyn WriteHandle>, mode: WriteMode) -> (Box<dyn WriteHandle>, Option<Digest>) {
    let whole_file = matches!(mode, WriteMode::Create { .. } | WriteMode::At(0));
    if whole_file && conn.ctx.options.event_sinks.iter().any(|sink| sink.wants_sha256()) {
        let (sink, digest) = Hashing::wrap(sink);
        (sink, Some(digest))
    } else {
        (sink, None)
    }
}

/// `STOU [<base>]` (RFC 959 4.1.3; reply form from RFC 1123 4.1.2.9) → `150
/// FILE: <name>`, then `226 Transfer complete (unique file name: <name>).`;
/// the name is `<base>.<8 random characters>` in the base's directory.
pub(crate) async fn stou(
    conn: &mut Conn,
    user: &LoggedIn,
    transfer: &mut Transfer,
    base: Option<Vec<u8>>,
) -> Result<Running, Replied> {
    require_data_setup(conn, transfer).await?;
    transfer.rest = 0;
    let base = base.unwrap_or_else(|| b"ftp".to_vec());
    let base_path = user.resolve(conn, &base).await?;
    let Some(dir) = base_path.parent() else {
        return Err(conn.reply(553, "STOU needs a file name.").await);
    };
    let stem = base_path.file_name().unwrap_or(b"ftp").to_vec();
    conn.admit(EventKind::Upload, 451).await?;
    let mut attempt = 0;
    let (path, sink) = loop {
        attempt += 1;
        let mut name = stem.clone();
        name.push(b'.');
        name.extend_from_slice(random_suffix().as_bytes());
        let Ok(path) = dir.join(&name) else {
            return Err(conn.reply(553, "File name not allowed.").await);
        };
        match user.storage.open_write(&path, WriteMode::Create { exclusive: true }).await {
            Ok(sink) => break (path, sink),
            Err(e) if e.kind == ErrorKind::AlreadyExists && attempt < 10 => continue,
            Err(e) => return Err(conn.storage_failed(&e).await),
        }
    };
    let name = path.file_name().map(|n| n.to_vec()).unwrap_or_default();
    let mut preliminary = b"FILE: ".to_vec();
    preliminary.extend_from_slice(&name);
    let mut done = b"Transfer complete (unique file name: ".to_vec();
    done.extend_from_slice(&name);
    done.extend_from_slice(b").");
    let ascii = transfer.ty == TransferType::Ascii;
    let (sink, sha256) = hashed(conn, sink, WriteMode::Create { exclusive: true });
    let announce =
        Announce { success_text: Some(done), sha256, ..Announce::new(TransferCommand::Stou, path, preliminary) };
    start(conn, user, transfer, Job::Receive { sink, ascii }, announce).await
}

/// What a transfer says about itself: the command it serves, its path, the
/// text of its 150 and (for STOU) of its 226.
pub(crate) struct Announce {
    pub command: TransferCommand,
    pub path: VPath,
    pub preliminary: Vec<u8>,
    pub success_text: Option<Vec<u8>>,
    /// Where an upload's SHA-256 appears (hashed for an event sink).
    pub sha256: Option<Digest>,
}

impl Announce {
    pub(crate) fn new(command: TransferCommand, path: VPath, preliminary: impl Into<Vec<u8>>) -> Self {
        Announce { command, path, preliminary: preliminary.into(), success_text: None, sha256: None }
    }
}

/// Send the 150 and start the transfer task (which opens the data
/// connection): `521` when data connections must be protected and PROT P
/// was not given (RFC 4217 §9), `425` without a data connection set up.
pub(crate) async fn start(
    conn: &mut Conn,
    user: &LoggedIn,
    transfer: &mut Transfer,
    job: Job,
    announce: Announce,
) -> Result<Running, Replied> {
    let Announce { command, path, preliminary, success_text, sha256 } = announce;
    if conn.data_tls_required(Some(&user.identity)) && !conn.protection.private {
        transfer.data = None;
        return Err(conn.reply(521, "Data connections must be protected: send PBSZ 0 and PROT P first.").await);
    }
    let Some(setup) = transfer.data.take() else {
        return Err(conn.reply(425, "Use PORT, EPRT, PASV or EPSV first.").await);
    };
    let options = &conn.ctx.options;
    let connect = Connect {
        setup,
        active: ActiveConnect { control_local: conn.local.ip(), source_port_20: options.active_source_port_20 },
        timeout: options.data_timeout,
        tls: conn.data_tls(),
    };
    let _ = conn.reply(150, preliminary).await;
    let progress = Arc::new(AtomicU64::new(0));
    let (gate, keeper) = match job {
        Job::Receive { .. } => {
            let (gate, keeper) = commit_gate();
            (Some(gate), Some(keeper))
        }
        Job::Send { .. } | Job::List { .. } => (None, None),
    };
    let task = tokio::spawn(run(job, connect, progress.clone(), gate));
    Ok(Running {
        task,
        gate: keeper,
        progress,
        command,
        path,
        started: Instant::now(),
        ty: transfer.ty,
        success_text,
        logger: user.logger.clone(),
        sha256,
        user_metrics: user.metrics.clone(),
    })
}

fn random_suffix() -> String {
    let mut rng = rand::rng();
    (0..8).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)])).collect()
}
