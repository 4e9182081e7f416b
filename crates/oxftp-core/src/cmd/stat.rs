//! STAT (RFC 959 4.1.3): status over the control connection.

use oxftp_proto::command::TransferType;
use oxftp_proto::reply::Reply;

use crate::conn::{Answered, Conn, LoggedIn, Running, State};
use crate::listing::{ListError, Style, produce};
use crate::transfer::ReplySink;

/// Most entries a `STAT path` reply carries (it is held in memory).
const STAT_MAX_ENTRIES: usize = 2000;

/// `STAT` (RFC 959 4.1.3) → `211-` multi-line server and session status
/// (during a transfer: what is moving and how many bytes so far) `211 End of
/// status.` Answered in any state, and while a transfer runs.
pub(crate) async fn status(conn: &mut Conn, state: &State, running: Option<&Running>) -> Answered {
    let mut lines: Vec<Vec<u8>> = vec![b"oxftp status:".to_vec()];
    lines.push(format!("Connected to {}", conn.reached).into_bytes());
    lines.push(format!("Connected from {}", conn.peer).into_bytes());
    if let Some(proxy) = conn.proxy {
        lines.push(format!("Through proxy {proxy}").into_bytes());
    }
    match state.login.identity() {
        Some(id) => lines.push(format!("Logged in as {} ({})", id.user, id.class).into_bytes()),
        None => lines.push(b"Not logged in".to_vec()),
    }
    let ty = if state.transfer.ty == TransferType::Ascii { "ASCII" } else { "BINARY" };
    lines.push(format!("TYPE: {ty}; STRUcture: File; transfer MODE: Stream").into_bytes());
    if let Some(running) = running {
        let mut line = format!("{} in progress: ", running.command.name()).into_bytes();
        line.extend_from_slice(running.path.as_bytes());
        line.extend_from_slice(format!(", {} bytes so far", running.bytes()).as_bytes());
        lines.push(line);
    } else if state.transfer.data.is_some() {
        lines.push(b"Data connection prepared; no transfer running".to_vec());
    } else {
        lines.push(b"No data connection".to_vec());
    }
    lines.push(b"End of status.".to_vec());
    Ok(conn.send(&Reply::multi(211, lines)).await)
}

/// `STAT <path>` (RFC 959 4.1.3) → `213-Status of <path>:`, `ls -l` lines,
/// `213 End of status.`: a listing without a data connection, capped at
/// `STAT_MAX_ENTRIES` entries.
pub(crate) async fn path_status(conn: &mut Conn, user: &LoggedIn, arg: &[u8]) -> Answered {
    let mut spec = super::list::list_spec(conn, user, arg, Style::Long).await?;
    spec.max_entries = spec.max_entries.min(STAT_MAX_ENTRIES);
    let mut sink = ReplySink::default();
    if let Err(ListError::Storage(e)) = produce(user.storage.as_ref(), &mut spec, &mut sink).await {
        return Err(conn.storage_failed(&e).await);
    }
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut first = b"Status of ".to_vec();
    first.extend_from_slice(arg);
    first.push(b':');
    lines.push(first);
    for line in sink.bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            lines.push(line.to_vec());
        }
    }
    lines.push(b"End of status.".to_vec());
    Ok(conn.send(&Reply::multi(213, lines)).await)
}
