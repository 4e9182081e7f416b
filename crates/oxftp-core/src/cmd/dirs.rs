//! Directories: CWD/XCWD, CDUP/XCUP, PWD/XPWD, MKD/XMKD, RMD/XRMD (RFC 959
//! 4.1.1, 4.1.3; the X forms from RFC 775).

use crate::conn::{Answered, Conn, LoggedIn};
use crate::events::EventKind;

/// `CWD <path>` (RFC 959 4.1.1; `CDUP` is `CWD ..`) → `250` · `550` when
/// it is not a directory or cannot be reached.
pub(crate) async fn cwd(conn: &mut Conn, user: &mut LoggedIn, arg: &[u8]) -> Answered {
    let path = user.resolve(conn, arg).await?;
    match user.storage.metadata(&path).await {
        Ok(info) if info.is_dir() => {
            user.cwd = path;
            Ok(conn.reply(250, "Directory successfully changed.").await)
        }
        Ok(_) => Err(conn.reply(550, "Not a directory.").await),
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}

/// `PWD` (RFC 959 4.1.3) → `257 "<path>" is the current directory.` (quotes
/// in the path doubled).
pub(crate) async fn pwd(conn: &mut Conn, user: &LoggedIn) -> Answered {
    let mut text = user.cwd.quoted();
    text.extend_from_slice(b" is the current directory.");
    Ok(conn.reply(257, text).await)
}

/// `MKD <path>` (RFC 959 4.1.3) → `257 "<path>" directory created.` · `550` ·
/// `450` when an event sink is full and refuses.
pub(crate) async fn mkd(conn: &mut Conn, user: &LoggedIn, arg: &[u8]) -> Answered {
    let path = user.resolve(conn, arg).await?;
    if path.is_root() {
        return Err(conn.reply(550, "File exists.").await);
    }
    conn.admit(EventKind::Mkdir, 450).await?;
    match user.storage.mkdir(&path).await {
        Ok(()) => {
            if conn.events_on() {
                conn.record(user.event(conn, EventKind::Mkdir, &path)).await;
            }
            let mut text = path.quoted();
            text.extend_from_slice(b" directory created.");
            Ok(conn.reply(257, text).await)
        }
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}

/// `RMD <path>` (RFC 959 4.1.3) → `250` · `550` when missing, not empty, or
/// the current directory or one of its parents · `450` when an event sink
/// is full and refuses.
pub(crate) async fn rmd(conn: &mut Conn, user: &LoggedIn, arg: &[u8]) -> Answered {
    let path = user.resolve(conn, arg).await?;
    if path.is_root() || user.cwd.starts_with(&path) {
        return Err(conn.reply(550, "Cannot remove the current directory or one of its parents.").await);
    }
    conn.admit(EventKind::Rmdir, 450).await?;
    match user.storage.rmdir(&path).await {
        Ok(()) => {
            if conn.events_on() {
                conn.record(user.event(conn, EventKind::Rmdir, &path)).await;
            }
            Ok(conn.reply(250, "Directory removed.").await)
        }
        Err(e) => Err(conn.storage_failed(&e).await),
    }
}
