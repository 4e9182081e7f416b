//! Machine-readable listings: MLSD and MLST (RFC 3659 §7). Facts: type,
//! size, modify, perm, unique, UNIX.mode.

use oxftp_proto::listing::mlsx_line;
use oxftp_proto::reply::Reply;

use super::transfer::{Announce, start};
use crate::conn::{Answered, Conn, LoggedIn, Replied, Running, Transfer, TransferCommand};
use crate::listing::{ListSpec, PermView, Style};
use crate::transfer::Job;

/// `MLSD [dir]` (RFC 3659 §7) → `150`, one `facts; name` line per entry,
/// `226` · `425` without a data connection set up · `501` for a file (use
/// MLST) · `550`.
pub(crate) async fn mlsd(
    conn: &mut Conn,
    user: &LoggedIn,
    transfer: &mut Transfer,
    arg: Option<&[u8]>,
) -> Result<Running, Replied> {
    if transfer.data.is_none() {
        return Err(conn.reply(425, "Use PORT, EPRT, PASV or EPSV first.").await);
    }
    let path = user.resolve(conn, arg.unwrap_or(b".")).await?;
    match user.storage.metadata(&path).await {
        Ok(info) if info.is_dir() => {}
        Ok(_) => return Err(conn.reply(501, "MLSD needs a directory; use MLST for a file.").await),
        Err(e) => return Err(conn.storage_failed(&e).await),
    }
    let mut spec = ListSpec {
        lister: None,
        dir: path.clone(),
        single: None,
        filter: None,
        style: Style::Facts,
        show_hidden: true,
        classify: false,
        prefix: Vec::new(),
        perms: std::sync::Arc::new(PermView::of(&user.identity)),
        max_entries: usize::MAX,
        recursive: false,
    };
    if let Err(e) = spec.open(user.storage.as_ref()).await {
        return Err(conn.storage_failed(&e).await);
    }
    let job = Job::List { storage: user.storage.clone(), spec: Box::new(spec) };
    let announce = Announce::new(TransferCommand::Mlsd, path, "Here comes the directory listing.");
    start(conn, user, transfer, job, announce).await
}

/// `MLST [path]` (RFC 3659 §7) → `250-Listing path`, one line ` facts;
/// path`, `250 End` · `550`.
pub(crate) async fn mlst(conn: &mut Conn, user: &LoggedIn, arg: Option<&[u8]>) -> Answered {
    let path = user.resolve(conn, arg.unwrap_or(b".")).await?;
    match user.storage.metadata(&path).await {
        Ok(info) => {
            let mut line = vec![b' '];
            let perm = PermView::of(&user.identity).fact(&path, &info);
            mlsx_line(path.as_bytes(), &info, &perm, None, &mut line);
            // mlsx_line ends its line with CRLF; the reply adds its own.
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            let mut first = b"Listing ".to_vec();
            first.extend_from_slice(path.as_bytes());
            Ok(conn.send(&Reply::multi(250, vec![first, line, b"End".to_vec()])).await)
        }
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}
