//! Directory listings read lazily from an open directory handle, one page of
//! at most [`PAGE_SIZE`] entries per blocking call, so a huge directory never
//! sits in memory at once.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::fs::{Dir, ReadDir};
use oxftp_core::storage::{DirEntry, DirLister, StorageError};

use crate::meta::file_info;
use crate::upload::is_temp_upload_name;

/// Most entries in one page.
pub(crate) const PAGE_SIZE: usize = 1000;

/// A listing in progress: the directory stream plus what is needed to follow
/// symlinks found in it.
pub(crate) struct LocalLister {
    /// `None` once the directory is exhausted or failed.
    state: Option<ListState>,
}

/// What travels to the blocking pool and back for each page.
struct ListState {
    /// The storage root: symlinks are followed from here, so a link to
    /// `../sibling` that stays inside the root resolves, while one leaving the
    /// root does not.
    root: Arc<Dir>,
    /// The listed directory relative to `root`.
    dir: PathBuf,
    entries: ReadDir,
}

impl LocalLister {
    /// A lister over `entries`, the stream of `dir` (relative to `root`).
    pub(crate) fn new(root: Arc<Dir>, dir: PathBuf, entries: ReadDir) -> Self {
        LocalLister { state: Some(ListState { root, dir, entries }) }
    }
}

#[async_trait]
impl DirLister for LocalLister {
    async fn next_page(&mut self) -> Result<Option<Vec<DirEntry>>, StorageError> {
        let Some(state) = self.state.take() else {
            return Ok(None);
        };
        let (state, page) = crate::blocking::blocking(move || read_page(state)).await?;
        self.state = state;
        // A directory whose size is a multiple of the page size ends with an
        // empty read: that is the end, not an empty page.
        if page.is_empty() && self.state.is_none() { Ok(None) } else { Ok(Some(page)) }
    }
}

/// Read up to `PAGE_SIZE` entries. Gives the state back while the stream may
/// hold more. A read error ends the listing: the stream cannot be trusted to
/// resume after one.
fn read_page(mut state: ListState) -> Result<(Option<ListState>, Vec<DirEntry>), StorageError> {
    let mut page = Vec::new();
    while page.len() < PAGE_SIZE {
        match state.entries.next() {
            None => return Ok((None, page)),
            Some(Err(e)) => return Err(StorageError::from(e)),
            Some(Ok(entry)) => {
                if let Some(entry) = describe(&state, &entry) {
                    page.push(entry);
                }
            }
        }
    }
    Ok((Some(state), page))
}

/// The listing entry for `entry`, or `None` for entries to leave out: our own
/// uploads in progress, and entries that vanished between readdir and stat.
fn describe(state: &ListState, entry: &cap_std::fs::DirEntry) -> Option<DirEntry> {
    let name = entry.file_name();
    let bytes = name.as_bytes();
    if is_temp_upload_name(bytes) {
        return None;
    }
    let own = entry.metadata().ok()?;
    let info = if own.file_type().is_symlink() {
        // Show what the link points at when that is inside the root and
        // exists; a dangling or escaping link is shown as the link itself.
        match state.root.metadata(state.dir.join(&name)) {
            Ok(target) => file_info(&target),
            Err(_) => file_info(&own),
        }
    } else {
        file_info(&own)
    };
    Some(DirEntry { name: bytes.to_vec(), info })
}
