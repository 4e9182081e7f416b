//! File operations built from several FTP commands: recursive delete and copy.

use tokio::io::{AsyncWriteExt, BufReader};

use crate::error::WebError;
use crate::listing::{Kind, list};
use crate::paths::join;
use crate::pool::{Lease, Pool};

/// Deepest directory nesting a recursive delete walks into.
pub const MAX_DEPTH: usize = 32;
/// Most entries a recursive delete removes in one request.
pub const MAX_WALK: usize = 10_000;

/// Delete the directory `root` and everything in it.
///
/// The whole tree is walked first, within [`MAX_DEPTH`] and [`MAX_WALK`], and
/// only then deleted (files, then directories deepest first), so a tree too big
/// to delete is refused untouched rather than half-removed.
pub(crate) async fn delete_tree(lease: &mut Lease, root: &str) -> Result<usize, WebError> {
    let mut files = Vec::new();
    let mut dirs = vec![(root.to_string(), 0usize)];
    let mut next = 0;
    while let Some((dir, depth)) = dirs.get(next).cloned() {
        next += 1;
        let listing = list(lease, &dir).await?;
        if listing.truncated {
            return Err(WebError::Unavailable("directory too large to delete recursively".into()));
        }
        for e in listing.entries {
            if files.len() + dirs.len() >= MAX_WALK {
                return Err(WebError::Unavailable(format!("more than {MAX_WALK} entries; not deleting")));
            }
            if e.name.contains(['/', '\r', '\n']) {
                return Err(WebError::Upstream("server listed an unusable file name".into()));
            }
            let child = join(&dir, &e.name);
            if e.kind == Kind::Dir {
                if depth + 1 > MAX_DEPTH {
                    return Err(WebError::Unavailable(format!("deeper than {MAX_DEPTH} levels; not deleting")));
                }
                dirs.push((child, depth + 1));
            } else {
                files.push(child);
            }
        }
    }
    let count = files.len() + dirs.len();
    for f in &files {
        let r = lease.ftp()?.rm(f.as_str()).await.map_err(WebError::from);
        lease.check(r)?;
    }
    // Breadth-first order reversed is deepest first.
    for (d, _) in dirs.iter().rev() {
        let r = lease.ftp()?.rmdir(d.as_str()).await.map_err(WebError::from);
        lease.check(r)?;
    }
    Ok(count)
}

/// Delete `path`: as a file, else as an empty folder, else (when
/// `recursive`) as a folder with everything in it. Returns the entries removed.
pub(crate) async fn delete_any(lease: &mut Lease, path: &str, recursive: bool) -> Result<usize, WebError> {
    if path == "/" {
        return Err(WebError::BadRequest("cannot delete the root".into()));
    }
    let as_file = lease.ftp()?.rm(path).await.map_err(WebError::from);
    let first = match lease.check(as_file) {
        Ok(()) => return Ok(1),
        Err(e @ WebError::Ftp { .. }) => e,
        Err(e) => return Err(e),
    };
    let as_dir = lease.ftp()?.rmdir(path).await.map_err(WebError::from);
    match lease.check(as_dir) {
        Ok(()) => Ok(1),
        Err(WebError::Ftp { .. }) if recursive => delete_tree(lease, path).await,
        // Not a file, and rmdir refused: most likely a non-empty directory.
        Err(WebError::Ftp { code: 550, text }) => Err(WebError::Ftp { code: 550, text }),
        Err(_) => Err(first),
    }
}

/// Copy the file `from` to `to` by streaming RETR on one connection into
/// STOR on another; nothing is held in memory beyond one buffer.
pub(crate) async fn copy(pool: &std::sync::Arc<Pool>, from: &str, to: &str) -> Result<u64, WebError> {
    let (mut src, mut dst) = pool.acquire_two().await?;
    let reading = src.ftp()?.retr_as_stream(from).await.map_err(WebError::from);
    let reader = src.check(reading)?;
    let writing = dst.ftp()?.put_with_stream(to).await.map_err(WebError::from);
    let mut writer = match dst.check(writing) {
        Ok(w) => w,
        Err(e) => {
            src.mark_broken();
            return Err(e);
        }
    };
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let copied = tokio::io::copy_buf(&mut reader, &mut writer).await;
    let copied = match copied {
        Ok(n) => n,
        Err(e) => {
            src.mark_broken();
            dst.mark_broken();
            dst.abort(writer).await;
            return Err(WebError::Upstream(format!("copy interrupted: {e}")));
        }
    };
    let _ = writer.flush().await;
    let stored = writer.finish().await.map_err(WebError::from);
    dst.check(stored)?;
    let read = reader.into_inner().finish().await.map_err(WebError::from);
    src.check(read)?;
    Ok(copied)
}
