//! oxftp's pure FTP protocol layer: command parser, replies, virtual paths,
//! glob matching, the ASCII (CRLF) codec and listing formats. No I/O, no runtime.

pub mod listing;
pub mod path;
