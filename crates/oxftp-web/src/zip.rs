//! Folders and selections downloaded as one ZIP archive, streamed.
//!
//! The tree is walked first (names and kinds only, within [`MAX_ENTRIES`]
//! and [`MAX_DEPTH`]); then one task writes the archive with `async_zip`
//! into a small in-memory pipe whose other end is the HTTP body, copying
//! each file from its RETR data connection in [`CHUNK`]-sized pieces. The
//! archive is never held whole: memory is the walk's name list, the pipe and
//! one buffer, whatever the files' sizes. A slow browser slows the RETR
//! (the pipe is full); a browser that goes away ends the task.
//!
//! Entries are stored (not deflated): files on an FTP server are often
//! compressed already, and the gateway's CPU is better spent moving bytes.
//! Entries the upstream lists as symbolic links or special files are left
//! out, never followed (so a walk cannot loop or leave the tree it was given).

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipDateTimeBuilder, ZipEntryBuilder};
use axum::body::Body;
use futures::AsyncWriteExt as _;
use tokio::io::AsyncReadExt;

use crate::error::WebError;
use crate::listing::{Kind, list};
use crate::paths::join;
use crate::pool::Lease;

/// Most entries (files and folders) one archive may hold.
pub const MAX_ENTRIES: usize = 50_000;
/// Deepest folder nesting walked into.
pub const MAX_DEPTH: usize = 32;
/// Bytes copied at a time, and the size of the pipe to the HTTP body.
const CHUNK: usize = 64 * 1024;

/// One thing to put in the archive.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Its path on the upstream.
    pub path: String,
    /// Its name inside the archive (`/`-separated, no leading `/`).
    pub name: String,
    /// A folder (stored as an empty `name/` entry).
    pub dir: bool,
    /// Modification time, Unix seconds.
    pub mtime: Option<i64>,
}

/// Walk `roots` (an upstream path, its name in the archive, whether it is a
/// folder, its time) into the list of archive entries.
pub(crate) async fn plan(lease: &mut Lease, roots: Vec<Item>) -> Result<Vec<Item>, WebError> {
    let mut items = Vec::new();
    // (index into items, depth) of folders still to list.
    let mut pending: Vec<(usize, usize)> = Vec::new();
    for root in roots {
        if root.dir {
            pending.push((items.len(), 0));
        }
        items.push(root);
    }
    let mut next = 0;
    while let Some(&(index, depth)) = pending.get(next) {
        next += 1;
        let (dir_path, dir_name) = match items.get(index) {
            Some(i) => (i.path.clone(), i.name.clone()),
            None => continue,
        };
        let listing = list(lease, &dir_path).await?;
        if listing.truncated {
            return Err(WebError::Unavailable("a folder is too large to put in a ZIP".into()));
        }
        for e in listing.entries {
            if e.name.contains(['/', '\\', '\r', '\n']) || e.name == "." || e.name == ".." {
                continue;
            }
            let dir = match e.kind {
                Kind::Dir => true,
                Kind::File => false,
                // Links and special files are not followed.
                Kind::Link | Kind::Other => continue,
            };
            if items.len() >= MAX_ENTRIES {
                return Err(WebError::Unavailable(format!("more than {MAX_ENTRIES} entries; too many for one ZIP")));
            }
            if dir {
                if depth + 1 > MAX_DEPTH {
                    return Err(WebError::Unavailable(format!("folders nested deeper than {MAX_DEPTH} levels")));
                }
                pending.push((items.len(), depth + 1));
            }
            items.push(Item {
                path: join(&dir_path, &e.name),
                name: format!("{dir_name}/{}", e.name),
                dir,
                mtime: e.mtime,
            });
        }
    }
    Ok(items)
}

/// The archive of `items` as an HTTP body, written by a task that owns `lease`.
pub(crate) fn stream(lease: Lease, items: Vec<Item>) -> Body {
    let (writer, reader) = tokio::io::duplex(CHUNK);
    tokio::spawn(async move {
        let mut lease = lease;
        if write(&mut lease, items, writer).await.is_err() {
            lease.mark_broken();
        }
    });
    Body::from_stream(tokio_util::io::ReaderStream::with_capacity(reader, CHUNK))
}

/// An archive entry's header for `item`.
fn entry(item: &Item) -> ZipEntryBuilder {
    let name = if item.dir { format!("{}/", item.name) } else { item.name.clone() };
    let mut builder =
        ZipEntryBuilder::new(name.into(), Compression::Stored).unix_permissions(if item.dir { 0o755 } else { 0o644 });
    if let Some(t) = item.mtime {
        let (y, mo, d, h, mi, s) = oxftp_proto::time::civil_from_unix(t);
        let date = ZipDateTimeBuilder::new()
            .year(i32::try_from(y).unwrap_or(1980).clamp(1980, 2107))
            .month(mo)
            .day(d)
            .hour(h)
            .minute(mi)
            .second(s)
            .build();
        builder = builder.last_modification_date(date);
    }
    builder
}

/// Write the archive into `out`. A file the upstream refuses to send (gone
/// since the walk, no permission) is left out; a broken connection or a
/// browser that went away ends the archive.
async fn write(lease: &mut Lease, items: Vec<Item>, out: tokio::io::DuplexStream) -> Result<(), WebError> {
    let broken = |e: async_zip::error::ZipError| WebError::Upstream(format!("writing the ZIP: {e}"));
    let mut zip = ZipFileWriter::with_tokio(out);
    let mut buf = vec![0u8; CHUNK];
    for item in &items {
        if item.dir {
            zip.write_entry_whole(entry(item), &[]).await.map_err(broken)?;
            continue;
        }
        let opened = lease.ftp()?.retr_as_stream(item.path.as_str()).await.map_err(WebError::from);
        let mut source = match lease.check(opened) {
            Ok(s) => s,
            Err(WebError::Ftp { .. }) => continue,
            Err(e) => return Err(e),
        };
        let mut writer = zip.write_entry_stream(entry(item)).await.map_err(broken)?;
        loop {
            let n = source.read(&mut buf).await.map_err(|e| WebError::Upstream(format!("reading a file: {e}")))?;
            if n == 0 {
                break;
            }
            let piece = buf.get(..n).unwrap_or_default();
            writer.write_all(piece).await.map_err(|e| WebError::Upstream(format!("browser went away: {e}")))?;
        }
        writer.close().await.map_err(broken)?;
        let finished = source.finish().await.map_err(WebError::from);
        lease.check(finished)?;
    }
    let mut out = zip.close().await.map_err(broken)?;
    let _ = tokio::io::AsyncWriteExt::shutdown(out.get_mut()).await;
    Ok(())
}

/// A file name for an archive of `name` (`download.zip` when empty).
pub(crate) fn archive_name(name: &str) -> String {
    if name.is_empty() { "download.zip".into() } else { format!("{name}.zip") }
}
