//! Directory listings streamed from OpenDAL's lister, one page at a time.
//!
//! OpenDAL fetches the listing from the store page by page (S3: 1000 keys a
//! request) and hands out entries as a stream; this lister gathers at most
//! `page_size` of them per [`DirLister::next_page`], so a prefix with a
//! million keys never sits in memory at once.

use async_trait::async_trait;
use futures::StreamExt;
use oxftp_core::storage::{DirEntry, DirLister, StorageError};
use oxftp_proto::listing::{FileInfo, FileKind};

use crate::error::map_error;
use crate::keys::entry_name;

/// A [`DirLister`] over an OpenDAL [`opendal::Lister`] of one prefix.
pub struct ObjectLister {
    /// A page already fetched (the first one, by [`ObjectLister::prefetch`]).
    ready: Option<Vec<DirEntry>>,
    inner: Option<opendal::Lister>,
    prefix: String,
    page_size: usize,
}

impl ObjectLister {
    /// Entries directly under `prefix` (`a/b/`, or `/` for the root), `page_size` a page.
    pub fn new(inner: opendal::Lister, prefix: String, page_size: usize) -> Self {
        ObjectLister { ready: None, inner: Some(inner), prefix, page_size: page_size.max(1) }
    }
}

impl ObjectLister {
    /// Fetch the first page now, so an unreachable store fails the LIST
    /// before the engine answers 150, not halfway through the transfer.
    pub async fn prefetch(&mut self) -> Result<(), StorageError> {
        if self.ready.is_none() {
            self.ready = self.fetch().await?;
        }
        Ok(())
    }

    async fn fetch(&mut self) -> Result<Option<Vec<DirEntry>>, StorageError> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(None);
        };
        let mut page = Vec::with_capacity(self.page_size.min(1024));
        while page.len() < self.page_size {
            match inner.next().await {
                Some(Ok(entry)) => {
                    if let Some(name) = entry_name(&self.prefix, entry.path()) {
                        page.push(DirEntry { name: name.as_bytes().to_vec(), info: file_info(entry.metadata()) });
                    }
                }
                Some(Err(e)) => {
                    // A failed page ends the listing: a retry would repeat entries.
                    self.inner = None;
                    return Err(map_error("list", &e));
                }
                None => {
                    self.inner = None;
                    break;
                }
            }
        }
        if page.is_empty() && self.inner.is_none() {
            return Ok(None);
        }
        Ok(Some(page))
    }
}

#[async_trait]
impl DirLister for ObjectLister {
    async fn next_page(&mut self) -> Result<Option<Vec<DirEntry>>, StorageError> {
        if let Some(page) = self.ready.take() {
            return Ok(Some(page));
        }
        self.fetch().await
    }
}

/// FTP facts from OpenDAL metadata: kind, size (content length), mtime (Last-Modified).
pub fn file_info(meta: &opendal::Metadata) -> FileInfo {
    let kind = if meta.is_dir() { FileKind::Dir } else { FileKind::File };
    FileInfo {
        kind,
        size: if kind == FileKind::File { meta.content_length() } else { 0 },
        mtime: meta.last_modified().map(|t| t.into_inner().as_second()),
        mode: None,
        nlink: 1,
        owner: None,
        group: None,
        unique: None,
    }
}
